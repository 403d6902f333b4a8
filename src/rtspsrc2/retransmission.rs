//! RFC 4588 retransmission for `rtspsrc2` (`do-retransmission`), the way
//! C `rtspsrc` does it: the SDP's `rtx` payload types (`apt=` the payload
//! they repair) become the `payload-type-map` of an `rtprtxreceive` that
//! `rtpbin` puts in front of the session's demuxer (`request-aux-receiver`),
//! the session's `rtpjitterbuffer` asks for missing packets and the session
//! sends them as RTCP NACKs with the early feedback of RTP/AVPF.
//!
//! Only streams whose description offers RTX get any of this: a NACK to a
//! server that cannot answer it only costs RTCP bandwidth, and the light
//! jitterbuffer stays for the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gst::glib;
use gst::prelude::*;

use super::imp::CAT;

/// The retransmission state of one element, shared with `rtpbin`'s signal
/// handlers (which run on streaming threads and while the element's state
/// is locked: they must not take that lock).
#[derive(Default)]
pub struct Retransmission {
    /// `do-retransmission` as it was when the element started.
    enabled: Mutex<bool>,
    /// Session (stream index) → original payload type → RTX payload type,
    /// as the `application/x-rtp-pt-map` structure rtprtxreceive takes.
    maps: Mutex<HashMap<u32, gst::Structure>>,
    /// The receivers made, to update their map when a restarted session
    /// describes other payload types.
    receivers: Mutex<HashMap<u32, gst::Element>>,
}

impl Retransmission {
    /// Forget the last session's streams; `enabled` for the next one.
    pub fn reset(&self, enabled: bool) {
        *self.enabled.lock().unwrap() = enabled;
        self.maps.lock().unwrap().clear();
        self.receivers.lock().unwrap().clear();
    }

    /// Record stream `session`'s payloads before rtpbin creates its
    /// session (which asks for the aux receiver at once).
    pub fn set_payloads(&self, session: usize, payloads: &[gst::Caps]) {
        let session = session as u32;
        let map = (*self.enabled.lock().unwrap())
            .then(|| pt_map(payloads))
            .flatten();
        if let (Some(map), Some(receiver)) = (&map, self.receivers.lock().unwrap().get(&session)) {
            receiver.set_property("payload-type-map", map);
        }
        let mut maps = self.maps.lock().unwrap();
        match map {
            Some(map) => maps.insert(session, map),
            None => maps.remove(&session),
        };
    }

    /// Whether stream `session` retransmits (so it needs rtpjitterbuffer).
    pub fn active(&self, session: u32) -> bool {
        self.maps.lock().unwrap().contains_key(&session)
    }

    /// Connect the handlers to a new `rtpbin`.
    pub fn connect(self: &Arc<Self>, rtpbin: &gst::Element) {
        let this = self.clone();
        // The answer must be a GstElement value even when there is none
        // (glib-rs panics on a bare None, and the panic aborts).
        rtpbin.connect("request-aux-receiver", false, move |args| {
            let receiver = args
                .get(1)
                .and_then(|v| v.get::<u32>().ok())
                .and_then(|session| this.aux_receiver(session));
            Some(receiver.to_value())
        });
        let this = self.clone();
        rtpbin.connect("new-jitterbuffer", false, move |args| {
            let jitterbuffer = args.get(1)?.get::<gst::Element>().ok()?;
            let session = args.get(2)?.get::<u32>().ok()?;
            if this.active(session) && jitterbuffer.find_property("do-retransmission").is_some() {
                gst::debug!(
                    CAT,
                    "Session {session}: jitterbuffer asks for retransmissions"
                );
                jitterbuffer.set_property("do-retransmission", true);
            }
            None
        });
    }

    /// Early feedback (RFC 4585) for the sessions that retransmit: with the
    /// plain AVP profile rtpsession sends NACKs only with its regular
    /// reports, seconds apart, long after the jitterbuffer gave up.
    pub fn configure_session(&self, rtpbin: &gst::Element, session: usize) {
        if !self.active(session as u32) {
            return;
        }
        if let Some(element) =
            rtpbin.emit_by_name::<Option<gst::Element>>("get-session", &[&(session as u32)])
        {
            element.set_property_from_str("rtp-profile", "avpf");
        }
    }

    /// `rtprtxreceive` in a bin with the pads rtpbin links by name.
    fn aux_receiver(&self, session: u32) -> Option<gst::Element> {
        let map = self.maps.lock().unwrap().get(&session).cloned()?;
        let make = || -> Result<gst::Element, glib::BoolError> {
            let receiver = gst::ElementFactory::make("rtprtxreceive")
                .property("payload-type-map", &map)
                .build()?;
            let bin = gst::Bin::new();
            bin.add(&receiver)?;
            for (direction, pad) in [("src", "src"), ("sink", "sink")] {
                let target = receiver
                    .static_pad(pad)
                    .ok_or_else(|| glib::bool_error!("rtprtxreceive without {pad} pad"))?;
                let ghost = gst::GhostPad::builder_with_target(&target)?
                    .name(format!("{direction}_{session}"))
                    .build();
                bin.add_pad(&ghost)?;
            }
            self.receivers
                .lock()
                .unwrap()
                .insert(session, receiver.clone());
            Ok(bin.upcast())
        };
        match make() {
            Ok(bin) => {
                gst::info!(CAT, "Session {session}: retransmission with {map}");
                Some(bin)
            }
            Err(err) => {
                gst::warning!(CAT, "Session {session}: no retransmission: {err}");
                None
            }
        }
    }

    /// Retransmitted packets that arrived per session, from the receivers.
    pub fn received(&self, session: u32) -> Option<u32> {
        let receivers = self.receivers.lock().unwrap();
        Some(receivers.get(&session)?.property::<u32>("num-rtx-packets"))
    }
}

/// The map rtprtxreceive takes from the RTX payloads among `payloads`:
/// field `<apt>` = (uint) `<rtx pt>`; None without any usable one.
pub fn pt_map(payloads: &[gst::Caps]) -> Option<gst::Structure> {
    let mut map = gst::Structure::new_empty("application/x-rtp-pt-map");
    for caps in payloads {
        let Some(s) = caps.structure(0) else { continue };
        let is_rtx = s
            .get::<&str>("encoding-name")
            .is_ok_and(|name| name.eq_ignore_ascii_case("rtx"));
        let rtx = s
            .get::<i32>("payload")
            .ok()
            .and_then(|p| u8::try_from(p).ok());
        // apt is an fmtp parameter: a string in the caps.
        let apt = s
            .get::<&str>("apt")
            .ok()
            .and_then(|a| a.trim().parse::<u8>().ok());
        if let (true, Some(rtx), Some(apt)) = (is_rtx, rtx, apt)
            && apt < 128
            && rtx < 128
        {
            map.set(apt.to_string(), u32::from(rtx));
        }
    }
    (map.n_fields() > 0).then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_from_rtx_payloads() {
        gst::init().unwrap();
        let h264 = gst::Caps::builder("application/x-rtp")
            .field("payload", 96i32)
            .field("encoding-name", "H264")
            .build();
        let rtx = gst::Caps::builder("application/x-rtp")
            .field("payload", 97i32)
            .field("encoding-name", "RTX")
            .field("apt", "96")
            .field("rtx-time", "500")
            .build();
        let map = pt_map(&[h264.clone(), rtx]).unwrap();
        assert_eq!(map.get::<u32>("96").unwrap(), 97);
        assert_eq!(map.n_fields(), 1);
        assert!(pt_map(&[h264]).is_none());
        let broken = gst::Caps::builder("application/x-rtp")
            .field("payload", 97i32)
            .field("encoding-name", "RTX")
            .field("apt", "x")
            .build();
        assert!(pt_map(&[broken]).is_none());
    }
}
