//! RFC 4588 retransmission for `rtspsink` (`rtx-time`), the way C
//! `rtspclientsink` does it: `rtpbin` puts an `rtprtxsend` in front of
//! each session (`request-aux-sender`) that keeps the last `rtx-time`
//! milliseconds of packets; the server's NACKs (RTCP transport feedback,
//! which the session turns into retransmission requests upstream) make it
//! send the asked-for packets again as RTX packets, with a payload type
//! and SSRC of their own, on the same route as the stream.
//!
//! The ANNOUNCE SDP describes the RTX payload (`rtx/<clock>`, `apt=`,
//! `rtx-time=`) in an `RTP/AVPF` section and SETUP asks for RTP/AVPF, so
//! that the server's session sends its NACKs early (RFC 4585) instead of
//! with its regular reports, seconds apart, when the packets are long
//! gone; our session is switched to AVPF too.
//!
//! The aux sender exists only for pads requested while `rtx-time` was not
//! 0: rtpbin asks for it once, when the pad is requested.
//!
//! H.264/H.265 streams have the sink's parameter-set guard (docs/QUIRKS.md,
//! "Parameter sets between the slices of one picture"), which drops
//! packets and renumbers the ones after them. For a stream that
//! retransmits it runs here, on `rtprtxsend`'s sink pad, not in the sink's
//! chain function: `rtprtxsend` then stores the packets as they go on the
//! wire, so a NACK's sequence number (RFC 4585 §6.2.1) finds the packet
//! that had it, and the RTX packet carries it with that number as its OSN
//! (RFC 4588 §4) and with the rebuilt aggregation packet, not the one the
//! payloader made. The other way, translating the NACKs' wire numbers
//! back to the payloader's, would still retransmit the payloader's
//! packets with the payloader's numbers in their OSN (the server would
//! rebuild them with the wrong number) and the parameter sets the guard
//! took out of aggregation packets: it would need rewriting every RTX
//! packet as well. Renumbering first needs neither.
//!
//! Over TCP nothing is lost, so nothing is announced or kept there; and a
//! server that refuses the RTP/AVPF announcement gets plain RTP/AVP
//! without RTX (see `session`): both through [`RtxSender::set_active`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use gst::glib;
use gst::prelude::*;

use rtspclient_protocol::h26x::ParameterSetGuard;

use super::imp::CAT;
use super::parameter_sets;

/// As C `rtspclientsink`: off. Turning it on announces RTP/AVPF, which a
/// server must be configured to accept (gst-rtsp-server refuses it by
/// default, and then gets plain RTP/AVP after a refused round trip).
pub const DEFAULT_RTX_TIME: u32 = 0;

/// The `rtx-time` property.
pub fn param_spec() -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("rtx-time")
        .nick("Retransmission time")
        .blurb("Milliseconds of sent packets kept to answer the server's NACKs with RFC 4588 retransmissions; announces the streams as RTP/AVPF with an rtx payload over UDP (a server that refuses AVPF gets plain RTP/AVP without retransmission, with a warning; TCP-only sessions announce none) (0 = off). Set before requesting pads")
        .default_value(DEFAULT_RTX_TIME)
        .build()
}

/// One stream's retransmission: its `rtprtxsend` and, once announced,
/// the payload types.
pub struct RtxSender {
    element: gst::Element,
    /// `rtx-time` in ms, for the SDP.
    pub time_ms: u32,
    /// The RTX payload type announced, set at each ANNOUNCE.
    rtx_pt: AtomicU32,
    /// The parameter-set guard in front of `rtprtxsend` (shared with its
    /// pad probe).
    guard: Arc<Mutex<GuardSlot>>,
    /// The stream's RTP session, switched between AVPF and AVP.
    session: glib::WeakRef<gst::Element>,
}

/// The guard of a stream that retransmits, made from the caps of its
/// first packet.
#[derive(Default)]
struct GuardSlot {
    /// Caps seen: `guard` is what the codec needs (None: no guard).
    decided: bool,
    guard: Option<ParameterSetGuard>,
}

/// No RTX payload type announced (yet).
const NO_PT: u32 = u32::MAX;

/// A payload type no RTP packet has (7 bits: 0-127).
const NO_PACKET_PT: u32 = 255;

impl RtxSender {
    /// The RTX payload type of the current session, if announced.
    pub fn rtx_pt(&self) -> Option<u8> {
        u8::try_from(self.rtx_pt.load(Ordering::Acquire)).ok()
    }

    /// After ANNOUNCE: packets of `original` (the payload type the
    /// payloader writes) are repeated as `rtx`.
    pub fn set_payload_types(&self, original: u8, rtx: u8) {
        let map = gst::Structure::builder("application/x-rtp-pt-map")
            .field(original.to_string(), u32::from(rtx))
            .build();
        self.element.set_property("payload-type-map", &map);
        self.rtx_pt.store(u32::from(rtx), Ordering::Release);
    }

    /// The SSRC the RTX packets of `original` go out with: with SRTP the
    /// server decrypts only the SSRCs our MIKEY names (gst-rtsp-server
    /// looks keys up per SSRC), so it is chosen before ANNOUNCE. Set
    /// before [`set_payload_types`](Self::set_payload_types): rtprtxsend
    /// picks an SSRC when a packet of a mapped payload type first comes.
    pub fn set_ssrc_map(&self, original: u32, rtx: u32) {
        let map = gst::Structure::builder("application/x-rtp-ssrc-map")
            .field(original.to_string(), rtx)
            .build();
        self.element.set_property("ssrc-map", &map);
    }

    /// No RTX payload type could be announced, or none is wanted (TCP, a
    /// server without AVPF): nothing is retransmitted.
    pub fn clear(&self) {
        // Not an empty map: with none, rtprtxsend (GStreamer 1.22) stops
        // its task, and the EOS it queues for that task never leaves, so
        // the stream never ends. Payload types have 7 bits (RFC 3550
        // §5.1): no packet matches this one, none is stored, the task
        // runs and passes EOS on.
        let map = gst::Structure::builder("application/x-rtp-pt-map")
            .field(NO_PACKET_PT.to_string(), NO_PACKET_PT)
            .build();
        self.element.set_property("payload-type-map", &map);
        self.rtx_pt.store(NO_PT, Ordering::Release);
    }

    /// Whether this session announces RTX (RTP/AVPF): our RTP session
    /// follows, with RTP/AVPF's RTCP timing or RTP/AVP's (RFC 4585 §3.5:
    /// an AVPF entity in an AVP session keeps AVP's rules).
    pub fn set_active(&self, active: bool) {
        if !active {
            self.clear();
        }
        if let Some(session) = self.session.upgrade() {
            session.set_property_from_str("rtp-profile", if active { "avpf" } else { "avp" });
        }
    }

    /// A new run: the guard starts again from the next packet's caps.
    pub fn reset(&self) {
        *self.guard.lock().unwrap() = GuardSlot::default();
    }

    /// (retransmission requests received, RTX packets sent).
    pub fn counts(&self) -> (u32, u32) {
        (
            self.element.property::<u32>("num-rtx-requests"),
            self.element.property::<u32>("num-rtx-packets"),
        )
    }
}

/// The element's retransmission state, shared with rtpbin's signal
/// handler (which runs while rtpbin holds its lock: it must not call back
/// into rtpbin).
#[derive(Default)]
pub struct Retransmission {
    time_ms: AtomicU32,
    /// Aux senders made by rtpbin, until the pad's stream takes its own.
    made: Mutex<HashMap<u32, Arc<RtxSender>>>,
    /// Sessions rtpbin asked about, on or off: `rtx-time` changes later do
    /// not reach them.
    asked: Mutex<HashSet<u32>>,
}

impl Retransmission {
    pub fn time_ms(&self) -> u32 {
        self.time_ms.load(Ordering::Relaxed)
    }

    pub fn set_time_ms(&self, ms: u32) {
        let old = self.time_ms.swap(ms, Ordering::Relaxed);
        if (old == 0) != (ms == 0) && !self.asked.lock().unwrap().is_empty() {
            gst::warning!(
                CAT,
                "rtx-time turned {} after pads were requested: only pads requested from now on follow",
                if ms == 0 { "off" } else { "on" }
            );
        }
    }

    /// Connect the handler to `rtpbin` (once, when it is made).
    pub fn connect(self: &Arc<Self>, rtpbin: &gst::Element) {
        let this = self.clone();
        // The answer must be a GstElement value even when there is none
        // (glib-rs panics on a bare None, and the panic aborts).
        rtpbin.connect("request-aux-sender", false, move |args| {
            let sender = args
                .get(1)
                .and_then(|v| v.get::<u32>().ok())
                .and_then(|session| this.aux_sender(session));
            Some(sender.to_value())
        });
    }

    /// The stream of session `index` takes its aux sender, if rtpbin made
    /// one; its session then uses RTP/AVPF (early feedback).
    pub fn take(&self, rtpbin: &gst::Element, index: usize) -> Option<Arc<RtxSender>> {
        let session = index as u32;
        let sender = self.made.lock().unwrap().remove(&session)?;
        if let Some(element) =
            rtpbin.emit_by_name::<Option<gst::Element>>("get-session", &[&session])
        {
            sender.session.set(Some(&element));
        }
        sender.set_active(true);
        Some(sender)
    }

    /// The pad of session `index` was released.
    pub fn forget(&self, index: usize) {
        let session = index as u32;
        self.made.lock().unwrap().remove(&session);
        self.asked.lock().unwrap().remove(&session);
    }

    /// `rtprtxsend` in a bin with the pads rtpbin links by name. Its map
    /// stays empty (nothing is retransmitted) until ANNOUNCE chose the
    /// payload types.
    fn aux_sender(&self, session: u32) -> Option<gst::Element> {
        self.asked.lock().unwrap().insert(session);
        let time_ms = self.time_ms();
        if time_ms == 0 {
            return None;
        }
        let make = || -> Result<(gst::Element, gst::Element), glib::BoolError> {
            // Only the time bounds what is kept: the default 100 packets
            // hold less than 100 ms of a few Mbit/s.
            let element = gst::ElementFactory::make("rtprtxsend")
                .property("max-size-time", time_ms)
                .property("max-size-packets", 0u32)
                .build()?;
            let bin = gst::Bin::new();
            bin.add(&element)?;
            for pad in ["src", "sink"] {
                let target = element
                    .static_pad(pad)
                    .ok_or_else(|| glib::bool_error!("rtprtxsend without {pad} pad"))?;
                let ghost = gst::GhostPad::builder_with_target(&target)?
                    .name(format!("{pad}_{session}"))
                    .build();
                bin.add_pad(&ghost)?;
            }
            Ok((bin.upcast(), element))
        };
        match make() {
            Ok((bin, element)) => {
                gst::info!(CAT, "Session {session}: keeps {time_ms} ms to retransmit");
                let guard = Arc::new(Mutex::new(GuardSlot::default()));
                if let Some(sink) = element.static_pad("sink") {
                    let slot = guard.clone();
                    sink.add_probe(
                        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                        move |pad, info| guard_probe(pad, info, &slot),
                    );
                }
                let sender = RtxSender {
                    element,
                    time_ms,
                    rtx_pt: AtomicU32::new(NO_PT),
                    guard,
                    session: glib::WeakRef::new(),
                };
                self.made.lock().unwrap().insert(session, Arc::new(sender));
                Some(bin)
            }
            Err(err) => {
                gst::warning!(CAT, "Session {session}: no retransmission: {err}");
                None
            }
        }
    }
}

/// The parameter-set guard on `rtprtxsend`'s sink pad (see the module
/// documentation): packets are dropped, renumbered or rebuilt before
/// `rtprtxsend` stores them.
fn guard_probe(
    pad: &gst::Pad,
    info: &mut gst::PadProbeInfo,
    slot: &Mutex<GuardSlot>,
) -> gst::PadProbeReturn {
    let mut slot = slot.lock().unwrap();
    if !slot.decided {
        slot.decided = true;
        slot.guard = pad
            .current_caps()
            .and_then(|caps| parameter_sets::guard_for(&caps));
    }
    let (Some(guard), Some(data)) = (slot.guard.as_mut(), info.data.as_mut()) else {
        return gst::PadProbeReturn::Ok;
    };
    let removed = guard.removed;
    let kept = parameter_sets::apply(guard, data);
    if guard.removed > removed {
        gst::debug!(
            CAT,
            obj = pad,
            "Removed parameter sets between the slices of a picture ({} so far)",
            guard.removed
        );
    }
    if kept {
        gst::PadProbeReturn::Ok
    } else {
        gst::PadProbeReturn::Drop
    }
}

/// A dynamic payload type for each stream's RTX (`wanted`), unused by
/// every stream (`taken`: the announced payload types and the ones the
/// payloaders write) and by each other; None when none is left.
pub fn rtx_payload_types(taken: &[u8], wanted: &[bool]) -> Vec<Option<u8>> {
    let mut used: Vec<u8> = taken.to_vec();
    wanted
        .iter()
        .map(|&wanted| {
            if !wanted {
                return None;
            }
            let free = (96u8..=127).find(|p| !used.contains(p))?;
            used.push(free);
            Some(free)
        })
        .collect()
}

/// The payload type of an RTP packet.
pub fn payload_type(buffer: &gst::BufferRef) -> Option<u8> {
    let mut head = [0u8; 2];
    buffer.copy_to_slice(0, &mut head).ok()?;
    Some(head[1] & 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtx_types_avoid_every_stream() {
        assert_eq!(
            rtx_payload_types(&[96, 97, 98], &[true, false, true]),
            vec![Some(99), None, Some(100)]
        );
        let all: Vec<u8> = (96..=127).collect();
        assert_eq!(rtx_payload_types(&all, &[true]), vec![None]);
        assert_eq!(rtx_payload_types(&[0, 8], &[true]), vec![Some(96)]);
    }
}
