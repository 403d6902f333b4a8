//! `rtspsink`: the element glue. Properties, the URI handler, the
//! `sink_%u` request pads (with payloader insertion), `rtpbin`, the pacing
//! clock and state changes. The RTSP conversation runs in
//! [`super::session`] on the shared runtime and the packets leave through
//! [`super::sender`]; nothing in here waits on the network.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use tokio::sync::watch;

use super::payloader;
use super::retransmission::{self, Retransmission};
use super::sdp::MediaClock;
use super::sender::{Control, Reporter, RunConfig, StreamSender};
use super::session::{self, RecordConfig, RecordHost};
use super::settings::{self, PublishClockMode, Settings};
use crate::driver::error::ClientError;
use crate::element_config::URI_PROTOCOLS;
use crate::element_error::post_client_error_sink;
use crate::runtime;
use crate::session::messages::{ReconnectCounters, SessionElement};
use crate::settings::{CommonSettings, CommonSettingsOwner};
use crate::srtp::{self, StreamKeys};
use rtspclient_protocol::srtp::sink_profile;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtspsink",
        gst::DebugColorFlags::empty(),
        Some("RTSP sink (ANNOUNCE/RECORD)"),
    )
});

/// One `sink_%u` pad and what hangs behind it.
struct PadEntry {
    ghost: super::RtspSinkPad,
    sender: Arc<StreamSender>,
    /// rtpbin's `send_rtp_sink_<index>`.
    rtpbin_sink: gst::Pad,
    /// The payloader inserted for encoded input.
    payloader: Option<gst::Element>,
    /// The ghost pad has its target (payloader or rtpbin).
    configured: bool,
}

#[derive(Default)]
struct State {
    rtpbin: Option<gst::Element>,
    pads: BTreeMap<usize, PadEntry>,
    task: Option<watch::Sender<bool>>,
}

#[derive(Default)]
pub struct RtspSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    control: Arc<Control>,
    reconnects: Arc<ReconnectCounters>,
    rtx: Arc<Retransmission>,
    srtp: Arc<srtp::Sessions>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtspSink {
    const NAME: &'static str = "GstRtspSink";
    type Type = super::RtspSink;
    type ParentType = gst::Bin;
    type Interfaces = (gst::URIHandler,);
}

impl ObjectImpl for RtspSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = CommonSettings::properties(&settings::FLAVOUR);
            properties.extend([
                glib::ParamSpecBoolean::builder("sync")
                    .nick("Sync")
                    .blurb("Send each packet at its running time on the pipeline clock (non-live sources are published in real time)")
                    .default_value(settings::DEFAULT_SYNC)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("backpressure", settings::DEFAULT_BACKPRESSURE)
                    .nick("Backpressure")
                    .blurb("When the server or the link cannot take the data: block upstream, or drop packets (counted in 'dropped')")
                    .build(),
                glib::ParamSpecUInt64::builder("dropped")
                    .nick("Dropped")
                    .blurb("RTP packets dropped because the write queue was full (backpressure=drop), the connection broke under them, or arrived while reconnecting with backpressure=drop")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("dropped, connection-losses, reconnections, and per stream: index, packets and bytes handed to the connection (RTX included), retransmission-requests (packets the server's NACKs asked for) and packets-retransmitted (RTX packets sent, with rtx-time); avp-fallbacks: announcements the server refused as RTP/AVPF with RTX and that went again as plain RTP/AVP")
                    .read_only()
                    .build(),
                retransmission::param_spec(),
                glib::ParamSpecFlags::builder::<gst_rtsp::RTSPProfile>("profiles")
                    .nick("Profiles")
                    .blurb("RTP profiles to publish with, as C rtspclientsink: avp (default), savp or savpf for SRTP (RFC 3711: RTP and RTCP encrypted with a random key of ours, announced with MIKEY in the SDP and the SETUP KeyMgmt header), avpf. rtx-time adds feedback (AVPF, SAVPF). Set before requesting pads")
                    .default_value(settings::DEFAULT_PROFILES)
                    .build(),
                glib::ParamSpecUInt::builder("rtp-blocksize")
                    .nick("RTP Blocksize")
                    .blurb("RTP package size to suggest to server (0 = disabled): as C rtspclientsink, the mtu of the payloaders the element creates for encoded input (pads that take RTP, or have a payloader set by the application, keep their packet size). Set before the caps come")
                    .maximum(65536)
                    .default_value(settings::DEFAULT_RTP_BLOCKSIZE)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("publish-clock-mode", settings::DEFAULT_PUBLISH_CLOCK_MODE)
                    .nick("Publish Clock Mode")
                    .blurb("Clock publishing mode according to RFC7273: as C rtspclientsink, when the pipeline clock is a network clock (GstNtpClock or GstPtpClock) each media of the ANNOUNCE SDP gets a=ts-refclk naming it (clock), and a=mediaclk:direct=<RTP time at the clock's epoch> (clock-and-offset); with other clocks, or none, nothing is added. The element does not provide a clock: the application sets the network clock on the pipeline")
                    .build(),
            ]);
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        const CHECKED: &str = "type checked upstream";
        if self.set_common_property(pspec.name(), value) {
            return;
        }
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "sync" => settings.sync = value.get().expect(CHECKED),
            "backpressure" => settings.backpressure = value.get().expect(CHECKED),
            "rtx-time" => self.rtx.set_time_ms(value.get().expect(CHECKED)),
            "profiles" => settings.profiles = value.get().expect(CHECKED),
            "rtp-blocksize" => settings.rtp_blocksize = value.get().expect(CHECKED),
            "publish-clock-mode" => settings.publish_clock_mode = value.get().expect(CHECKED),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(value) = self.common_property(pspec.name()) {
            return value;
        }
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "sync" => settings.sync.to_value(),
            "backpressure" => settings.backpressure.to_value(),
            "dropped" => self
                .control
                .dropped
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_value(),
            "stats" => self.stats().to_value(),
            "rtx-time" => self.rtx.time_ms().to_value(),
            "profiles" => settings.profiles.to_value(),
            "rtp-blocksize" => settings.rtp_blocksize.to_value(),
            "publish-clock-mode" => settings.publish_clock_mode.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_suppressed_flags(gst::ElementFlags::SOURCE | gst::ElementFlags::SINK);
        obj.set_element_flags(gst::ElementFlags::SINK);
        match gst::ElementFactory::make("rtpbin").name("rtpbin").build() {
            Ok(rtpbin) => {
                self.rtx.connect(&rtpbin);
                self.srtp.connect(&rtpbin, true);
                if obj.add(&rtpbin).is_ok() {
                    self.state.lock().unwrap().rtpbin = Some(rtpbin);
                }
            }
            Err(_) => gst::error!(
                CAT,
                imp = self,
                "rtpbin not found: install gst-plugins-good"
            ),
        }
    }

    fn dispose(&self) {
        // Streams hold the control weakly, the control holds the streams.
        self.control.lock().streams.clear();
    }
}

impl GstObjectImpl for RtspSink {}

impl ElementImpl for RtspSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTSP sink",
                "Sink/Network",
                "Publishes streams to an RTSP server with ANNOUNCE and RECORD (RTP or encoded media, TCP or UDP)",
                "rtspclient developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::builder(
                    "sink_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &gst::Caps::new_any(),
                )
                .gtype(super::RtspSinkPad::static_type())
                .build()
                .expect("valid template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let mut state = self.state.lock().unwrap();
        if self.control.lock().announced {
            gst::warning!(
                CAT,
                imp = self,
                "Streams cannot be added once the SDP was announced"
            );
            return None;
        }
        let index = match name {
            Some(name) => {
                let index = name
                    .strip_prefix("sink_")
                    .and_then(|n| n.parse::<usize>().ok())?;
                if state.pads.contains_key(&index) {
                    gst::warning!(CAT, imp = self, "Pad {name} exists already");
                    return None;
                }
                index
            }
            None => (0..).find(|i| !state.pads.contains_key(i))?,
        };
        let rtpbin = state.rtpbin.clone()?;
        let profiles = self.settings.lock().unwrap().profiles.bits();
        // Without retransmission's feedback: the stream adds it while it
        // announces RTX (`StreamSender::profile`), which TCP and a server
        // without AVPF do not get.
        let profile = sink_profile(profiles, false);
        let keys = if profile.secure {
            // Before rtpbin makes the session: it asks for the encoder
            // and decoder at once.
            match StreamKeys::new(index as u32, None) {
                Ok(keys) => {
                    self.srtp.insert(keys.clone());
                    Some(keys)
                }
                Err(err) => {
                    gst::error!(CAT, imp = self, "No SRTP key for stream {index}: {err}");
                    return None;
                }
            }
        } else {
            None
        };
        let Some(rtpbin_sink) = rtpbin.request_pad_simple(&format!("send_rtp_sink_{index}")) else {
            self.srtp.remove(index as u32);
            return None;
        };
        let sender = match StreamSender::new(&rtpbin, index, &self.control, &format!("{:p}", self))
        {
            Ok(sender) => sender,
            Err(err) => {
                gst::error!(CAT, imp = self, "Cannot set up stream {index}: {err}");
                rtpbin.release_request_pad(&rtpbin_sink);
                self.rtx.forget(index);
                self.srtp.remove(index as u32);
                return None;
            }
        };
        sender.set_retransmission(self.rtx.take(&rtpbin, index));
        sender.set_security(profile, keys);
        let ghost = gst::PadBuilder::<super::RtspSinkPad>::from_template(templ)
            .name(format!("sink_{index}"))
            .event_function(|pad, parent, event| {
                RtspSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                RtspSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad, query),
                )
            })
            .build();
        {
            let mut control = self.control.lock();
            if control.phase != super::sender::Phase::Stopped {
                sender.set_active(true);
            }
            let position = control
                .streams
                .iter()
                .position(|s| s.index > index)
                .unwrap_or(control.streams.len());
            control.streams.insert(position, sender.clone());
        }
        state.pads.insert(
            index,
            PadEntry {
                ghost: ghost.clone(),
                sender,
                rtpbin_sink,
                payloader: None,
                configured: false,
            },
        );
        drop(state);
        if self.obj().add_pad(&ghost).is_err() {
            gst::error!(CAT, imp = self, "Cannot add pad sink_{index}");
            self.release_index(index);
            return None;
        }
        gst::debug!(CAT, imp = self, "Requested sink_{index}");
        Some(ghost.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let Some(index) = pad
            .name()
            .strip_prefix("sink_")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        self.release_index(index);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => self.start()?,
            gst::StateChange::PausedToPlaying => {
                let obj = self.obj();
                if let (Some(clock), Some(base)) = (obj.clock(), obj.base_time()) {
                    self.control.set_playing(Some((clock, base)));
                }
            }
            gst::StateChange::PlayingToPaused => self.control.set_playing(None),
            // Before the pads are deactivated: deactivation waits for the
            // streaming threads, which may be waiting for us.
            gst::StateChange::PausedToReady => self.stop(),
            _ => {}
        }
        let result = self.parent_change_state(transition);
        if result.is_err() && transition == gst::StateChange::ReadyToPaused {
            self.stop();
        }
        result
    }

    fn send_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Latency(latency) = event.view() {
            gst::debug!(CAT, imp = self, "Pipeline latency {}", latency.latency());
            self.control.set_latency(latency.latency());
            for sender in self.control.streams() {
                sender.push_latency(&event);
            }
            return true;
        }
        if event.is_upstream() {
            // Seeks and the like go upstream through every input, as a
            // basesink does; GstBin would look for sink children and find
            // none.
            let pads = self.ghost_pads();
            let mut handled = !pads.is_empty();
            for pad in pads {
                handled &= pad.push_event(event.clone());
            }
            return handled;
        }
        self.parent_send_event(event)
    }

    fn query(&self, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Latency(q) => self.latency_query(q),
            // Position, duration, seeking: what upstream says.
            gst::QueryViewMut::Position(_)
            | gst::QueryViewMut::Duration(_)
            | gst::QueryViewMut::Seeking(_) => {
                self.ghost_pads().iter().any(|pad| pad.peer_query(query))
            }
            _ => self.parent_query(query),
        }
    }
}

impl BinImpl for RtspSink {}

crate::settings::common_settings_glue!(RtspSink, gst::URIType::Sink);

impl RtspSink {
    /// The `stats` property.
    fn stats(&self) -> gst::Structure {
        use std::sync::atomic::Ordering::Relaxed;
        let streams: Vec<glib::SendValue> = self
            .control
            .streams()
            .iter()
            .map(|stream| {
                let (requests, retransmitted) =
                    stream.retransmission().map_or((0, 0), |rtx| rtx.counts());
                gst::Structure::builder("stream")
                    .field("index", stream.index as u32)
                    .field("packets", stream.packets.load(Relaxed))
                    .field("bytes", stream.bytes.load(Relaxed))
                    .field("retransmission-requests", requests)
                    .field("packets-retransmitted", retransmitted)
                    .build()
                    .to_send_value()
            })
            .collect();
        let stats = gst::Structure::builder("application/x-rtspsink-stats")
            .field("dropped", self.control.dropped.load(Relaxed))
            .field("avp-fallbacks", self.control.avp_fallbacks.load(Relaxed));
        self.reconnects
            .add_to(stats)
            .field("streams", gst::Array::from_values(streams))
            .build()
    }

    fn record_config(&self, settings: &Settings) -> Result<RecordConfig, gst::ErrorMessage> {
        Ok(RecordConfig {
            session: settings.common.session_config()?,
            udp_send_buffer: settings.common.udp_buffer_size.max(0) as usize,
        })
    }

    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        let config = match self.record_config(&settings) {
            Ok(config) => config,
            Err(err) => {
                self.post_error_message(err);
                return Err(gst::StateChangeError);
            }
        };
        if let Some(rtpbin) = self.state.lock().unwrap().rtpbin.as_ref() {
            // The NTP time of our sender reports, as C rtspclientsink.
            rtpbin.set_property_from_str("ntp-time-source", settings.common.ntp_time_source.nick());
        }
        let url = config.session.url.redacted();
        let mut host = None;
        let epoch = self.control.start(|epoch| {
            let made = Arc::new(Host {
                element: self.obj().downgrade(),
                epoch,
                url: url.clone(),
            });
            host = Some(made.clone());
            RunConfig {
                epoch,
                sync: settings.sync,
                backpressure: settings.backpressure,
                // Other streams' first buffers (tcp-timeout) plus
                // ANNOUNCE..RECORD (tcp-timeout); the record task reports
                // either first, this only guards against a lost wake-up.
                record_wait: settings.common.tcp_timeout * 2 + Duration::from_secs(1),
                reconnect: settings.common.reconnect,
                reporter: made,
            }
        });
        let host = host.expect("set by start");
        for sender in self.control.streams() {
            sender.set_active(true);
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        self.state.lock().unwrap().task = Some(stop_tx);
        gst::debug!(CAT, imp = self, "Starting session with {url}");
        runtime::spawn(session::run(
            config,
            self.control.clone(),
            epoch,
            host,
            stop_rx,
        ));
        Ok(())
    }

    /// Release every waiting streaming thread, tell the record task to
    /// stop (it sends TEARDOWN on its own, bounded) and deactivate the
    /// stream pads. Never waits on the network.
    fn stop(&self) {
        self.control.stop();
        if let Some(task) = self.state.lock().unwrap().task.take() {
            let _ = task.send(true);
        }
        for sender in self.control.streams() {
            sender.set_active(false);
        }
    }

    fn release_index(&self, index: usize) {
        let mut state = self.state.lock().unwrap();
        let Some(entry) = state.pads.remove(&index) else {
            return;
        };
        let rtpbin = state.rtpbin.clone();
        drop(state);
        self.control
            .lock()
            .streams
            .retain(|s| !Arc::ptr_eq(s, &entry.sender));
        entry.sender.interrupt();
        let obj = self.obj();
        let _ = entry.ghost.set_target(None::<&gst::Pad>);
        let _ = entry.ghost.set_active(false);
        let _ = obj.remove_pad(&entry.ghost);
        if let Some(payloader) = entry.payloader {
            let _ = payloader.set_state(gst::State::Null);
            // Bin disposal may have removed it already.
            if payloader.parent().as_ref() == Some(obj.upcast_ref::<gst::Object>()) {
                let _ = obj.remove(&payloader);
            }
        }
        self.rtx.forget(index);
        self.srtp.remove(index as u32);
        if let Some(rtpbin) = rtpbin {
            entry.sender.unlink(&rtpbin);
            rtpbin.release_request_pad(&entry.rtpbin_sink);
        }
        gst::debug!(CAT, imp = self, "Released sink_{index}");
    }

    fn pad_index(pad: &super::RtspSinkPad) -> Option<usize> {
        pad.name()
            .strip_prefix("sink_")
            .and_then(|n| n.parse::<usize>().ok())
    }

    fn sink_event(&self, pad: &super::RtspSinkPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(caps) = event.view()
            && let Err(err) = self.configure_pad(pad, caps.caps())
        {
            gst::element_imp_error!(self, gst::StreamError::CodecNotFound, ["{err}"]);
            return false;
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn sink_query(&self, pad: &super::RtspSinkPad, query: &mut gst::QueryRef) -> bool {
        if pad.target().is_none() {
            let custom = pad.imp().payloader();
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let filter = q.filter_owned();
                    let caps = custom
                        .and_then(|p| p.static_pad("sink"))
                        .map(|sink| sink.query_caps(filter.as_ref()))
                        .or(filter)
                        .unwrap_or_else(gst::Caps::new_any);
                    q.set_result(&caps);
                    return true;
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let caps = q.caps();
                    let ok = payloader::is_rtp(caps)
                        || match &custom {
                            Some(p) => payloader::element_accepts(p, caps),
                            None => payloader::find_factory(caps).is_some(),
                        };
                    q.set_result(ok);
                    return true;
                }
                _ => {}
            }
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    /// First caps on `sink_N`: point the ghost pad at rtpbin for RTP, or
    /// insert a payloader for encoded media.
    fn configure_pad(&self, pad: &super::RtspSinkPad, caps: &gst::CapsRef) -> Result<(), String> {
        let index = Self::pad_index(pad).ok_or("unknown pad")?;
        let (rtpbin_sink, pt) = {
            let state = self.state.lock().unwrap();
            let entry = state.pads.get(&index).ok_or("pad was released")?;
            if entry.configured {
                return Ok(());
            }
            let used: Vec<u8> = state
                .pads
                .values()
                .filter_map(|e| e.payloader.as_ref().and_then(payloader::payload_type))
                .collect();
            let pt = (96u8..=127).find(|p| !used.contains(p)).unwrap_or(96);
            (entry.rtpbin_sink.clone(), pt)
        };
        let mut inserted = None;
        if payloader::is_rtp(caps) {
            pad.set_target(Some(&rtpbin_sink))
                .map_err(|err| format!("Cannot link sink_{index} to rtpbin: {err}"))?;
            gst::debug!(CAT, imp = self, "sink_{index} takes RTP: {caps}");
        } else {
            let element = match pad.imp().payloader() {
                Some(custom) => {
                    if !payloader::element_accepts(&custom, caps) {
                        return Err(format!(
                            "The payloader {} set on sink_{index} does not accept {caps}",
                            custom.name()
                        ));
                    }
                    custom
                }
                None => {
                    let factory = payloader::find_factory(caps)
                        .ok_or_else(|| format!("No RTP payloader accepts {caps} (sink_{index})"))?;
                    let element = factory
                        .create()
                        .name(format!("pay{index}"))
                        .build()
                        .map_err(|err| format!("Cannot create {}: {err}", factory.name()))?;
                    let blocksize = self.settings.lock().unwrap().rtp_blocksize;
                    payloader::configure(&element, pt, blocksize);
                    element
                }
            };
            let obj = self.obj();
            obj.add(&element)
                .map_err(|err| format!("Cannot add payloader: {err}"))?;
            let linked = element
                .static_pad("src")
                .ok_or_else(|| "payloader without src pad".to_string())
                .and_then(|src| {
                    src.link(&rtpbin_sink)
                        .map(|_| ())
                        .map_err(|err| format!("Cannot link payloader to rtpbin: {err:?}"))
                })
                .and_then(|_| {
                    element
                        .sync_state_with_parent()
                        .map_err(|err| format!("Cannot start payloader: {err}"))
                })
                .and_then(|_| {
                    let sink = element
                        .static_pad("sink")
                        .ok_or_else(|| "payloader without sink pad".to_string())?;
                    pad.set_target(Some(&sink))
                        .map_err(|err| format!("Cannot link sink_{index} to payloader: {err}"))
                });
            if let Err(err) = linked {
                let _ = element.set_state(gst::State::Null);
                let _ = obj.remove(&element);
                return Err(err);
            }
            gst::info!(
                CAT,
                imp = self,
                "sink_{index}: {} payloads {caps}",
                element
                    .factory()
                    .map(|f| f.name().to_string())
                    .unwrap_or_default()
            );
            inserted = Some(element);
        }
        let mut state = self.state.lock().unwrap();
        if let Some(entry) = state.pads.get_mut(&index) {
            entry.configured = true;
            entry.payloader = inserted;
        }
        Ok(())
    }

    fn ghost_pads(&self) -> Vec<super::RtspSinkPad> {
        self.state
            .lock()
            .unwrap()
            .pads
            .values()
            .map(|e| e.ghost.clone())
            .collect()
    }

    /// Like a `basesink`: with `sync`, the upstream latency (live or not)
    /// is what the pipeline must account for; without, we are not live.
    fn latency_query(&self, q: &mut gst::query::Latency) -> bool {
        let sync = self.settings.lock().unwrap().sync;
        let pads = self.ghost_pads();
        let mut live = false;
        let mut min = gst::ClockTime::ZERO;
        let mut max: Option<gst::ClockTime> = None;
        for pad in pads {
            let mut upstream = gst::query::Latency::new();
            if pad.peer_query(&mut upstream) {
                let (l, mn, mx) = upstream.result();
                if l {
                    live = true;
                    min = min.max(mn);
                    max = match (max, mx) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
        if sync && live {
            q.set(true, min, max);
        } else {
            q.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE);
        }
        true
    }
}

/// The element as the record task and the data path see it.
struct Host {
    element: glib::WeakRef<super::RtspSink>,
    epoch: u64,
    url: String,
}

impl Host {
    /// The element, if it still exists and this run is still current.
    fn element(&self) -> Option<super::RtspSink> {
        let element = self.element.upgrade()?;
        (element.imp().control.epoch() == self.epoch).then_some(element)
    }
}

impl Reporter for Host {
    fn error(&self, error: &ClientError) {
        if let Some(element) = self.element() {
            gst::error!(CAT, obj = element, "{error}");
            post_client_error_sink(element.upcast_ref(), error, &self.url);
        }
    }

    fn warning(&self, text: &str) {
        if let Some(element) = self.element() {
            gst::warning!(CAT, obj = element, "{text}");
            let _ = element.post_message(
                gst::message::Warning::builder(gst::ResourceError::Write, text)
                    .src(&element)
                    .build(),
            );
        }
    }
}

impl SessionElement for Host {
    fn current(&self) -> Option<(gst::Element, Arc<ReconnectCounters>)> {
        let element = self.element()?;
        let counters = element.imp().reconnects.clone();
        Some((element.upcast(), counters))
    }
}

impl RecordHost for Host {
    fn end_of_stream(&self, seqnum: Option<gst::Seqnum>) {
        if let Some(element) = self.element() {
            gst::info!(CAT, obj = element, "All data published, posting EOS");
            let mut builder = gst::message::Eos::builder().src(&element);
            if let Some(seqnum) = seqnum {
                builder = builder.seqnum(seqnum);
            }
            let _ = element.post_message(builder.build());
        }
    }

    fn media_clock(&self) -> Option<MediaClock> {
        let element = self.element()?;
        let mode = element.imp().settings.lock().unwrap().publish_clock_mode;
        if mode == PublishClockMode::None {
            return None;
        }
        // The clock the element runs on (PLAYING), else the one its
        // pipeline will use; the base time only with the first.
        let (clock, base_time) = match (element.clock(), element.base_time()) {
            (Some(clock), Some(base)) => (clock, Some(base)),
            _ => (pipeline_clock(element.upcast_ref())?, None),
        };
        let ts_refclk = ts_refclk(&clock)?;
        gst::debug!(CAT, obj = element, "Announcing a=ts-refclk:{ts_refclk}");
        Some(MediaClock {
            ts_refclk,
            base_time: base_time.map_or(0, |b| b.nseconds()),
            // Without a base time there is no clock time for a packet.
            with_offset: mode == PublishClockMode::ClockAndOffset && base_time.is_some(),
        })
    }
}

/// The clock the top-level pipeline of `element` uses or will use.
fn pipeline_clock(element: &gst::Element) -> Option<gst::Clock> {
    let mut top = element.clone().upcast::<gst::Object>();
    while let Some(parent) = top.parent() {
        top = parent;
    }
    top.downcast_ref::<gst::Pipeline>()
        .map(|pipeline| pipeline.pipeline_clock())
}

/// RFC 7273 §4.8 `a=ts-refclk` value of a network clock, as C
/// `rtspclientsink` (gst-rtsp-server's SDP code) writes it: NTP with the
/// server's address (and port unless 123), PTP with the grandmaster's
/// EUI-64 (and domain unless 0). Other clocks have none. By type name: the
/// types exist once libgstnet is loaded, which an application that made
/// such a clock has done.
fn ts_refclk(clock: &gst::Clock) -> Option<String> {
    let is = |name: &str| glib::Type::from_name(name).is_some_and(|t| clock.type_().is_a(t));
    if is("GstNtpClock") {
        let address = clock.property::<Option<String>>("address")?;
        let port = clock.property::<i32>("port");
        Some(if port == 123 {
            format!("ntp={address}")
        } else {
            format!("ntp={address}:{port}")
        })
    } else if is("GstPtpClock") {
        let id = clock.property::<u64>("grandmaster-clock-id");
        let domain = clock.property::<u32>("domain");
        let eui: Vec<String> = id
            .to_be_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let mut value = format!("ptp=IEEE1588-2008:{}", eui.join("-"));
        if domain != 0 {
            value.push_str(&format!(":{domain}"));
        }
        Some(value)
    } else {
        None
    }
}

/// `sink_%u`: a ghost pad with a `payloader` property.
#[derive(Default)]
pub struct RtspSinkPad {
    payloader: Mutex<Option<gst::Element>>,
}

impl RtspSinkPad {
    fn payloader(&self) -> Option<gst::Element> {
        self.payloader.lock().unwrap().clone()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtspSinkPad {
    const NAME: &'static str = "GstRtspSinkPad";
    type Type = super::RtspSinkPad;
    type ParentType = gst::GhostPad;
}

impl ObjectImpl for RtspSinkPad {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecObject::builder::<gst::Element>("payloader")
                    .nick("Payloader")
                    .blurb("RTP payloader for this pad's encoded input, set before caps arrive (default: the highest-ranked payloader that accepts the caps; unused for application/x-rtp)")
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "payloader" => {
                if self.obj().target().is_some() {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "The payloader can only be set before the pad gets caps"
                    );
                    return;
                }
                *self.payloader.lock().unwrap() = value.get().expect("type checked upstream");
            }
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "payloader" => self.payloader().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for RtspSinkPad {}
impl PadImpl for RtspSinkPad {}
impl ProxyPadImpl for RtspSinkPad {}
impl GhostPadImpl for RtspSinkPad {}
