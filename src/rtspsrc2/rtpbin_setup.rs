//! The `rtpbin` an `rtspsrc2` start makes: its settings (jitterbuffer
//! choice, timing and synchronisation properties) and the signals through
//! which it asks the element for payload caps, jitterbuffers, and tells of
//! new pads and RTCP BYE.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::RtspSrc2;
use super::settings::{BufferMode, Jitterbuffer, Settings};

impl RtspSrc2 {
    pub(super) fn make_rtpbin(&self) -> Result<gst::Element, gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        let rtpbin = gst::ElementFactory::make("rtpbin")
            .name("rtpbin")
            .property("latency", settings.latency_ms)
            .property("drop-on-latency", settings.drop_on_latency)
            .property("ntp-sync", settings.ntp_sync)
            .build()
            .map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ["rtpbin not found: install gst-plugins-good"]
                );
                gst::StateChangeError
            })?;
        rtpbin.set_property_from_str("buffer-mode", BufferMode::rtpbin_nick(settings.buffer_mode));
        configure_timing(&rtpbin, &settings);
        if !settings.is_live && settings.effective_jitterbuffer() == Jitterbuffer::Standard {
            // Not refused: the application may preroll otherwise (or not
            // at all), but a pipeline waiting for PAUSED would wait forever
            // without saying why. rtpjitterbuffer blocks its output from
            // READY→PAUSED until PLAYING (tested: no preroll).
            gst::element_imp_warning!(
                self,
                gst::CoreError::StateChange,
                [
                    "is-live=false with rtpjitterbuffer: it holds every buffer until PLAYING, so the pipeline cannot preroll; use jitterbuffer=light without rfc7273-sync, add-reference-timestamp-meta, max-ts-offset-adjustment and buffer-mode buffer/synced"
                ]
            );
        }
        if settings.effective_jitterbuffer() == Jitterbuffer::Light {
            // rtpbin sets latency, mode, drop-on-latency on it and links
            // its RTCP for lip-sync, as with its own rtpjitterbuffer.
            // Made through its factory (registered by this plugin) so that
            // applications see what it is; None would fall back to
            // rtpjitterbuffer.
            // The handler must answer with a value of the signal's type,
            // GstElement, even when it has none: glib-rs panics on a bare
            // None, and a panic in a signal handler aborts the process.
            // Streams that retransmit get rtpjitterbuffer (None): the
            // light one does not ask for missing packets.
            let weak = self.obj().downgrade();
            let rtx = self.rtx.clone();
            rtpbin.connect("request-jitterbuffer", false, move |args| {
                let session = args[1].get::<u32>();
                if session.as_ref().is_ok_and(|s| rtx.active(*s)) {
                    return Some(None::<gst::Element>.to_value());
                }
                let Ok(jitterbuffer) = gst::ElementFactory::make("rtplightjitterbuffer").build()
                else {
                    return Some(None::<gst::Element>.to_value());
                };
                if let (Some(element), Ok(session)) = (weak.upgrade(), session) {
                    element
                        .imp()
                        .attach_jitterbuffer(session as usize, &jitterbuffer);
                }
                Some(jitterbuffer.to_value())
            });
        }

        self.rtx.reset(settings.do_retransmission);
        self.rtx.connect(&rtpbin);
        self.srtp.clear();
        self.srtp.connect(&rtpbin, false);

        let weak = self.obj().downgrade();
        rtpbin.connect("on-bye-ssrc", false, move |args| {
            if let (Some(element), Some(Ok(session))) =
                (weak.upgrade(), args.get(1).map(|a| a.get::<u32>()))
            {
                element.imp().on_bye(session);
            }
            None
        });
        let weak = self.obj().downgrade();
        rtpbin.connect_pad_added(move |_rtpbin, pad| {
            if let Some(element) = weak.upgrade() {
                element.imp().rtpbin_pad_added(pad);
            }
        });
        // rtpbin asks for the caps of every payload type it sees, from
        // its sessions and jitterbuffers, on the thread that received the
        // packet. The answer must be a GstCaps value even when there are
        // none (glib-rs panics on a bare None, and the panic aborts the
        // process): NULL caps make rtpbin drop the packet.
        let weak = self.obj().downgrade();
        rtpbin.connect("request-pt-map", false, move |args| {
            let caps = weak.upgrade().and_then(|element| {
                let session = args.get(1)?.get::<u32>().ok()?;
                let pt = args.get(2)?.get::<u32>().ok()?;
                element.imp().caps_for_pt(session as usize, pt)
            });
            Some(caps.to_value())
        });
        Ok(rtpbin)
    }
}

/// The timing properties, on rtpbin as C `rtspsrc` sets them: rtpbin
/// passes them on to its sessions (`ntp-time-source`, `use-pipeline-clock`,
/// `sdes`) and jitterbuffers (`rfc7273-sync`,
/// `add-reference-timestamp-meta`, `max-ts-offset-adjustment`,
/// `max-rtcp-rtp-time-diff`), including those it makes later.
fn configure_timing(rtpbin: &gst::Element, settings: &Settings) {
    rtpbin.set_property_from_str("ntp-time-source", settings.common.ntp_time_source.nick());
    rtpbin.set_property("rfc7273-sync", settings.rfc7273_sync);
    rtpbin.set_property(
        "add-reference-timestamp-meta",
        settings.add_reference_timestamp_meta,
    );
    rtpbin.set_property("use-pipeline-clock", settings.use_pipeline_clock);
    // Only when set: rtpbin's default follows ntp-sync (no limit then).
    if settings.max_ts_offset_set {
        rtpbin.set_property("max-ts-offset", settings.max_ts_offset_ns);
    }
    rtpbin.set_property(
        "max-ts-offset-adjustment",
        settings.max_ts_offset_adjustment_ns,
    );
    rtpbin.set_property("max-rtcp-rtp-time-diff", settings.max_rtcp_rtp_time_diff_ms);
    if let Some(sdes) = &settings.sdes {
        rtpbin.set_property("sdes", sdes);
    }
}
