//! Where an on-demand stream's output is in the presentation: the
//! segment each stream pad gets after PLAY and after every seek.
//!
//! Packets are stamped with their arrival running time (the element is a
//! live source, as C `rtspsrc`), and the jitterbuffer keeps that time base;
//! running time is therefore left as it is. What a VOD stream needs on top
//! is stream time: the position in the presentation (normal play time,
//! RFC 2326 §3.6), which players show and seek in. The PLAY answer says it
//! (`Range` start and the RTP-Info `rtptime` of that instant, RFC 2326
//! §12.33), so the first buffer after PLAY or a seek tells the offset
//! between its running time and its NPT: the segment sent before it has
//! `start` = `base` = its timestamp (running time unchanged) and `time` =
//! its NPT. For VOD streams it follows each of the jitterbuffer's own
//! segments (start 0); live streams keep only those.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gst::prelude::*;
use rtspclient_protocol::play_control::{Anchor, npt_nanos};

const NO_TIMESTAMP: u64 = u64::MAX;

#[derive(Default)]
struct Position {
    /// RTP time ↔ NPT of the last PLAY answer.
    anchor: Option<Anchor>,
    /// NPT of the first packet when the answer had no `rtptime`.
    start_npt: f64,
    /// Seconds of media per second of arrival (`Scale`), for the
    /// segment's applied rate; 0 until a PLAY with a `Range` said it.
    media_rate: f64,
    /// The next buffer out gets a new segment.
    segment_pending: bool,
    /// Seqnum of the seek the next segment answers.
    seqnum: Option<gst::Seqnum>,
}

/// One stream's presentation position, shared by the receive path, the
/// play task and the probe on the stream's output.
#[derive(Default)]
pub struct Timeline {
    vod: AtomicBool,
    position: Mutex<Position>,
    /// Our own segment is on its way through the probe.
    own_segment: AtomicBool,
    /// RTP timestamp of the last packet received, for the end of range.
    last_timestamp: AtomicU64,
    /// EOS was sent (RTCP BYE, end of range); a seek clears it.
    ended: AtomicBool,
    /// The server said RTCP BYE; EOS follows once the data settled.
    bye: AtomicBool,
    /// NPT (f64 bits) of the last buffer that left the element.
    last_output_npt: AtomicU64,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            last_timestamp: AtomicU64::new(NO_TIMESTAMP),
            last_output_npt: AtomicU64::new(NO_TIMESTAMP),
            ..Timeline::default()
        }
    }

    pub fn set_vod(&self, vod: bool) {
        self.vod.store(vod, Ordering::Release);
    }

    pub fn is_vod(&self) -> bool {
        self.vod.load(Ordering::Acquire)
    }

    /// A PLAY with a `Range` was answered: the next buffer out starts a
    /// segment at the NPT `anchor` gives it (or `start_npt`), whose stream
    /// time advances at `media_rate`.
    pub fn set_anchor(&self, anchor: Option<Anchor>, start_npt: f64, media_rate: f64) {
        let mut position = self.position.lock().unwrap();
        position.anchor = anchor;
        position.start_npt = start_npt;
        position.media_rate = media_rate;
        position.segment_pending = true;
        self.last_timestamp.store(NO_TIMESTAMP, Ordering::Relaxed);
    }

    /// The first packet after a PLAY with a `Range`: if RTP-Info's
    /// rtptime puts it far from the `Range` start, the anchor moves to it
    /// (see `Anchor::corrected_by_first`); returns the new clock-base.
    pub fn check_first(&self, timestamp: u32) -> Option<u32> {
        let mut position = self.position.lock().unwrap();
        let fixed = position.anchor?.corrected_by_first(timestamp)?;
        gst::info!(
            super::imp::CAT,
            "RTP-Info rtptime {} puts the first packet {:.3} s from the range start: using its own",
            position.anchor?.rtptime,
            position.anchor?.npt_of(timestamp) - fixed.npt
        );
        position.anchor = Some(fixed);
        Some(timestamp)
    }

    /// A flushing seek started: the segment after it carries its seqnum.
    pub fn on_seek(&self, seqnum: gst::Seqnum) {
        let mut position = self.position.lock().unwrap();
        position.seqnum = Some(seqnum);
        position.segment_pending = true;
        self.ended.store(false, Ordering::Release);
        self.bye.store(false, Ordering::Release);
    }

    pub fn note_timestamp(&self, timestamp: u32) {
        self.last_timestamp
            .store(timestamp as u64, Ordering::Relaxed);
    }

    /// NPT of the last packet received, if it can be told.
    pub fn last_npt(&self) -> Option<f64> {
        let timestamp = self.last_timestamp.load(Ordering::Relaxed);
        if timestamp == NO_TIMESTAMP {
            return None;
        }
        let anchor = self.position.lock().unwrap().anchor?;
        Some(anchor.npt_of(timestamp as u32))
    }

    /// NPT of the last buffer that left the element: where a VOD goes on
    /// after a reconnection (what left is downstream and gets played).
    pub fn last_output_npt(&self) -> Option<f64> {
        let bits = self.last_output_npt.load(Ordering::Relaxed);
        (bits != NO_TIMESTAMP).then(|| f64::from_bits(bits))
    }

    /// The NPT of a buffer that left through another output (reverse
    /// playback, see super::replay_output).
    pub fn note_output_npt(&self, npt: f64) {
        self.last_output_npt.store(npt.to_bits(), Ordering::Relaxed);
    }

    /// RTCP BYE (RFC 3550 §6.6) arrived for this stream.
    pub fn on_bye(&self) {
        self.bye.store(true, Ordering::Release);
    }

    /// Forget a BYE: one that arrived during a seek was the old
    /// position's.
    pub fn forget_bye(&self) {
        self.bye.store(false, Ordering::Release);
    }

    /// BYE arrived and no EOS was sent yet.
    pub fn bye_pending(&self) -> bool {
        self.bye.load(Ordering::Acquire) && !self.ended()
    }

    /// Mark the stream ended; false if it already was.
    pub fn end(&self) -> bool {
        !self.ended.swap(true, Ordering::AcqRel)
    }

    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Probe on the stream's output (rtpbin's source pad): replace the
    /// segment of a VOD stream as the module documentation says.
    pub fn on_output(&self, pad: &gst::Pad, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        if !self.is_vod() {
            return gst::PadProbeReturn::Ok;
        }
        match &info.data {
            Some(gst::PadProbeData::Event(event)) if event.type_() == gst::EventType::Segment => {
                if self.own_segment.load(Ordering::Acquire) {
                    return gst::PadProbeReturn::Ok;
                }
                // It passes (dropping a sticky event in a probe upsets
                // GStreamer 1.22's sticky bookkeeping); ours follows it
                // before the first buffer and replaces it downstream.
                self.position.lock().unwrap().segment_pending = true;
                gst::PadProbeReturn::Ok
            }
            Some(gst::PadProbeData::Buffer(buffer)) => {
                self.segment_before(pad, buffer);
                gst::PadProbeReturn::Ok
            }
            Some(gst::PadProbeData::BufferList(list)) => {
                if let Some(buffer) = list.get(0) {
                    self.segment_before(pad, buffer);
                }
                gst::PadProbeReturn::Ok
            }
            _ => gst::PadProbeReturn::Ok,
        }
    }

    fn segment_before(&self, pad: &gst::Pad, buffer: &gst::BufferRef) {
        let (npt, seqnum, media_rate) = {
            let mut position = self.position.lock().unwrap();
            let npt = match (position.anchor, rtp_timestamp(buffer)) {
                (Some(anchor), Some(timestamp)) => anchor.npt_of(timestamp),
                _ => position.start_npt,
            };
            self.last_output_npt.store(npt.to_bits(), Ordering::Relaxed);
            if !position.segment_pending {
                return;
            }
            position.segment_pending = false;
            (npt, position.seqnum, position.media_rate)
        };
        let Some(pts) = buffer.pts() else {
            return;
        };
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(pts);
        segment.set_base(pts);
        segment.set_position(pts);
        segment.set_time(gst::ClockTime::from_nseconds(npt_nanos(npt)));
        if media_rate > 0.0 {
            segment.set_applied_rate(media_rate);
        }
        let mut event = gst::event::Segment::builder(&segment);
        if let Some(seqnum) = seqnum {
            event = event.seqnum(seqnum);
        }
        gst::debug!(
            super::imp::CAT,
            obj = pad,
            "First buffer at {pts} is NPT {npt:.3}: new segment"
        );
        self.own_segment.store(true, Ordering::Release);
        pad.push_event(event.build());
        self.own_segment.store(false, Ordering::Release);
    }
}

/// The RTP timestamp of a packet (RFC 3550 §5.1, bytes 4–7).
pub fn rtp_timestamp(buffer: &gst::BufferRef) -> Option<u32> {
    let mut bytes = [0u8; 8];
    (buffer.copy_to_slice(0, &mut bytes).is_ok())
        .then(|| u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]))
}

/// The RTP sequence number of a packet (bytes 2–3).
pub fn rtp_seq(data: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(2)?, *data.get(3)?]))
}
