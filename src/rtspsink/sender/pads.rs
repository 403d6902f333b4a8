//! A stream's pads: created and linked to `rtpbin` session N, their
//! events and queries, and what the element asks of them (activation,
//! latency, a key frame).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gst::prelude::*;
use tokio::sync::watch;

use rtspclient_protocol::srtp::Profile;

use super::{Control, Phase, StreamSender, StreamState};
use crate::rtspsink::imp::CAT;
use crate::rtspsink::wire::Packets;

impl StreamSender {
    /// Create the pads of stream `index` and link them to `rtpbin`, whose
    /// `send_rtp_sink_<index>` must have been requested already.
    pub fn new(
        rtpbin: &gst::Element,
        index: usize,
        control: &Arc<Control>,
        stream_id_prefix: &str,
    ) -> Result<Arc<StreamSender>, gst::glib::BoolError> {
        let sender = Arc::new_cyclic(|weak: &Weak<StreamSender>| {
            let (w1, w2, w3, w4) = (weak.clone(), weak.clone(), weak.clone(), weak.clone());
            let rtp_pad = gst::Pad::builder(gst::PadDirection::Sink)
                .name(format!("rtp_out_{index}"))
                .chain_function(move |_pad, _parent, buffer| match w1.upgrade() {
                    Some(sender) => sender.chain_rtp(Packets::One(&buffer)),
                    None => Err(gst::FlowError::Flushing),
                })
                // Payloaders push a frame's packets as one list (rtph264pay's
                // FU-A fragments, rtpvrawpay's lines): one clock wait and,
                // over TCP, one system call for all of them.
                .chain_list_function(move |_pad, _parent, list| match w2.upgrade() {
                    Some(sender) => sender.chain_rtp(Packets::List(&list)),
                    None => Err(gst::FlowError::Flushing),
                })
                .event_function(move |pad, _parent, event| match w3.upgrade() {
                    Some(sender) => sender.rtp_event(pad, event),
                    None => false,
                })
                .query_function(|pad, parent, query| {
                    accept_any(pad, parent, query, "application/x-rtp")
                })
                .build();
            let rtcp_pad = gst::Pad::builder(gst::PadDirection::Sink)
                .name(format!("rtcp_out_{index}"))
                .chain_function(move |_pad, _parent, buffer| {
                    if let Some(sender) = w4.upgrade() {
                        sender.send_rtcp(&buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .event_function({
                    let weak = weak.clone();
                    move |_pad, _parent, event| {
                        if let (Some(sender), gst::EventView::Eos(_)) =
                            (weak.upgrade(), event.view())
                        {
                            sender.state.lock().unwrap().rtcp_eos = true;
                            if let Some(control) = sender.control.upgrade() {
                                control.changed.notify_one();
                            }
                        }
                        true
                    }
                })
                .query_function(|pad, parent, query| {
                    accept_any(pad, parent, query, "application/x-rtcp")
                })
                .build();
            let rtcp_in = gst::Pad::builder(gst::PadDirection::Src)
                .name(format!("rtcp_in_{index}"))
                .build();
            StreamSender {
                index,
                control: Arc::downgrade(control),
                rtp_pad,
                rtcp_pad,
                rtcp_in,
                state: Mutex::new(StreamState::new()),
                flushing: AtomicBool::new(false),
                interrupt: watch::channel(false).0,
                stream_id: format!("{stream_id_prefix}/rtcp-in/{index}"),
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                rtx: Mutex::new(None),
                security: Mutex::new((Profile::AVP, None)),
                key_mgmt: Mutex::new(None),
                stated_bitrate: AtomicU32::new(0),
            }
        });

        let send_src = rtpbin
            .static_pad(&format!("send_rtp_src_{index}"))
            .ok_or_else(|| gst::glib::bool_error!("rtpbin has no send_rtp_src_{index}"))?;
        send_src
            .link(&sender.rtp_pad)
            .map_err(|e| gst::glib::bool_error!("cannot link RTP sender: {e:?}"))?;
        let rtcp_src = rtpbin
            .request_pad_simple(&format!("send_rtcp_src_{index}"))
            .ok_or_else(|| gst::glib::bool_error!("rtpbin refused send_rtcp_src_{index}"))?;
        rtcp_src
            .link(&sender.rtcp_pad)
            .map_err(|e| gst::glib::bool_error!("cannot link RTCP sender: {e:?}"))?;
        let rtcp_sink = rtpbin
            .request_pad_simple(&format!("recv_rtcp_sink_{index}"))
            .ok_or_else(|| gst::glib::bool_error!("rtpbin refused recv_rtcp_sink_{index}"))?;
        sender
            .rtcp_in
            .link(&rtcp_sink)
            .map_err(|e| gst::glib::bool_error!("cannot link RTCP receiver: {e:?}"))?;
        Ok(sender)
    }

    /// Give back the rtpbin pads (pad released by the application).
    pub fn unlink(&self, rtpbin: &gst::Element) {
        self.set_active(false);
        for pad in [&self.rtp_pad, &self.rtcp_pad] {
            if let Some(peer) = pad.peer() {
                let _ = peer.unlink(pad);
                if peer.name().starts_with("send_rtcp_src_") {
                    rtpbin.release_request_pad(&peer);
                }
            }
        }
        if let Some(peer) = self.rtcp_in.peer() {
            let _ = self.rtcp_in.unlink(&peer);
            rtpbin.release_request_pad(&peer);
        }
    }

    pub fn set_active(&self, active: bool) {
        for pad in [&self.rtp_pad, &self.rtcp_pad, &self.rtcp_in] {
            if let Err(err) = pad.set_active(active) {
                gst::warning!(CAT, obj = pad, "Cannot (de)activate: {err}");
            }
        }
    }

    /// Ask upstream (the encoder, through rtpbin and the payloader) for a
    /// key frame with its headers: the `GstForceKeyUnit` upstream event of
    /// the video library, which encoders answer.
    pub fn request_key_frame(&self) {
        let event = gst::event::CustomUpstream::new(
            gst::Structure::builder("GstForceKeyUnit")
                .field("all-headers", true)
                .build(),
        );
        if !self.rtp_pad.push_event(event) {
            gst::debug!(CAT, obj = self.rtp_pad, "Nobody upstream makes key frames");
        }
    }

    /// Tell rtpbin (and upstream) the pipeline latency, as a `basesink`
    /// does: rtpsession needs it to map running time to send time for its
    /// sender reports.
    pub fn push_latency(&self, event: &gst::Event) {
        let _ = self.rtp_pad.push_event(event.clone());
    }

    /// The bitrate upstream stated in its tags (encoders state theirs:
    /// x264enc its `bitrate`, opusenc, avenc_aac), if any.
    pub fn stated_bitrate(&self) -> Option<u32> {
        Some(self.stated_bitrate.load(Ordering::Relaxed)).filter(|bps| *bps > 0)
    }

    fn rtp_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Tag(tag) => {
                let tags = tag.tag();
                let bps = tags
                    .get::<gst::tags::NominalBitrate>()
                    .map(|v| v.get())
                    .or_else(|| tags.get::<gst::tags::Bitrate>().map(|v| v.get()))
                    .or_else(|| tags.get::<gst::tags::MaximumBitrate>().map(|v| v.get()));
                if let Some(bps) = bps.filter(|bps| *bps > 0) {
                    self.stated_bitrate.store(bps, Ordering::Relaxed);
                }
            }
            gst::EventView::Segment(segment) => {
                if let Ok(segment) = segment.segment().clone().downcast::<gst::ClockTime>() {
                    self.state.lock().unwrap().segment = segment;
                }
            }
            gst::EventView::Eos(_) => {
                gst::debug!(
                    CAT,
                    obj = pad,
                    "EOS after {} packets",
                    self.packets.load(Ordering::Relaxed)
                );
                // A held frame that never got its last packet goes now:
                // everything accepted is sent before EOS.
                self.send_held();
                self.state.lock().unwrap().eos = Some(event.seqnum());
                if let Some(control) = self.control.upgrade() {
                    control.changed.notify_one();
                }
            }
            gst::EventView::FlushStart(_) => {
                self.interrupt();
                if let Some(control) = self.control.upgrade() {
                    // Take the lock so a thread between its flag check and
                    // its wait cannot miss the wake-up.
                    drop(control.lock());
                    control.cond.notify_all();
                }
            }
            gst::EventView::FlushStop(flush) => {
                let offset = match (flush.resets_time(), self.control.upgrade()) {
                    (true, Some(control)) => Some(control.lock().running_time_now()),
                    _ => None,
                };
                let mut state = self.state.lock().unwrap();
                if let Some(offset) = offset {
                    state.time_offset = offset;
                }
                state.eos = None;
                state.segment = gst::FormattedSegment::new();
                drop(state);
                // A stop in progress keeps the streams interrupted.
                let stopped = self
                    .control
                    .upgrade()
                    .is_none_or(|c| c.lock().phase == Phase::Stopped);
                if !stopped {
                    self.flushing.store(false, Ordering::SeqCst);
                    self.interrupt.send_replace(false);
                }
            }
            _ => {}
        }
        // Nothing downstream of this pad: the events end here.
        true
    }
}

/// Queries on our end pads: any caps of `media_type` (payloaders
/// renegotiate, e.g. rtph264pay when it sees new parameter sets), the
/// defaults for the rest.
fn accept_any(
    pad: &gst::Pad,
    parent: Option<&gst::Object>,
    query: &mut gst::QueryRef,
    media_type: &str,
) -> bool {
    // With SRTP the packets come from rtpbin's srtpenc as
    // application/x-srtp (-srtcp).
    let secure = media_type.replacen("application/x-", "application/x-s", 1);
    match query.view_mut() {
        gst::QueryViewMut::Caps(q) => {
            let any = gst::Caps::builder_full()
                .structure(gst::Structure::new_empty(media_type))
                .structure(gst::Structure::new_empty(secure.as_str()))
                .build();
            let caps = match q.filter() {
                Some(filter) => filter.intersect_with_mode(&any, gst::CapsIntersectMode::First),
                None => any,
            };
            q.set_result(&caps);
            true
        }
        gst::QueryViewMut::AcceptCaps(q) => {
            let ok = q
                .caps()
                .structure(0)
                .is_some_and(|s| s.name() == media_type || s.name() == secure.as_str());
            q.set_result(ok);
            true
        }
        _ => gst::Pad::query_default(pad, parent, query),
    }
}
