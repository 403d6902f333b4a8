//! Glue between received packets and `rtpbin`.
//!
//! Each stream gets two free-standing source pads linked to `rtpbin`'s
//! `recv_rtp_sink_%u` / `recv_rtcp_sink_%u`, and packets are pushed on them
//! straight from the I/O runtime's worker threads: no `appsrc` and so no
//! helper thread per stream. `rtpbin`'s chain functions only queue into the
//! jitterbuffer, so a push never blocks the runtime for long. RTCP that
//! `rtpbin` produces (receiver reports) leaves through a free-standing sink
//! pad whose chain function hands it to the UDP socket or the interleaved
//! writer without blocking ([`PacketRoute`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use rtspclient_protocol::play_control::stale_before;

use super::packet_pool;

mod seek;
use super::rtp_check::{self, PayloadTypes, Verdict};
use super::timeline::{Timeline, rtp_seq, rtp_timestamp};
use crate::driver::packet_route::PacketRoute;
use crate::jitterbuffer::LightJitterBuffer;

/// The clock snapshot taken when the element goes to PLAYING; packets are
/// stamped with the running time of their arrival, like `udpsrc`
/// `do-timestamp` does, which `rtpjitterbuffer` needs.
#[derive(Default)]
pub struct Timing {
    clock: Mutex<Option<(gst::Clock, gst::ClockTime)>>,
}

impl Timing {
    pub fn start(&self, clock: gst::Clock, base_time: gst::ClockTime) {
        *self.clock.lock().unwrap() = Some((clock, base_time));
    }

    pub fn stop(&self) {
        *self.clock.lock().unwrap() = None;
    }

    /// Go on with `clock` from the running time reached (`is-live=false`:
    /// stamping started in PAUSED on the system clock; from PLAYING on the
    /// pipeline's clock, without a jump in the packets' times).
    pub fn continue_with(&self, clock: gst::Clock) {
        let mut guard = self.clock.lock().unwrap();
        let running = guard
            .as_ref()
            .and_then(|(old, base)| old.time().checked_sub(*base))
            .unwrap_or(gst::ClockTime::ZERO);
        let now = clock.time();
        let base = now.checked_sub(running).unwrap_or(gst::ClockTime::ZERO);
        *guard = Some((clock, base));
    }

    /// A flushing seek resets the pipeline's running time: the pipeline
    /// gives itself a new base time once the sinks have prerolled the new
    /// position, but the packets that preroll them come before that. They
    /// are stamped from now on, which runs ahead of the pipeline's new
    /// running time by the preroll delay (a few tens of milliseconds,
    /// rendered that much later) instead of by the whole time played.
    pub fn rebase(&self) {
        let mut guard = self.clock.lock().unwrap();
        if let Some((clock, base)) = guard.as_mut() {
            *base = clock.time();
        }
    }

    /// Running time now, or None while not PLAYING (packets are dropped
    /// then, as a live source does).
    pub fn running_time(&self) -> Option<gst::ClockTime> {
        let guard = self.clock.lock().unwrap();
        let (clock, base) = guard.as_ref()?;
        clock.time().checked_sub(*base)
    }
}

/// Queries from `rtpbin` on our free-standing pads. The latency query is
/// answered as a live network source does (`udpsrc`: live, no latency of
/// its own): the jitterbuffer adds its latency on top, and without this
/// answer the pipeline would configure no latency at all and synchronising
/// sinks would drop every frame as late.
fn answer_as_live_source(
    pad: &gst::Pad,
    parent: Option<&gst::Object>,
    query: &mut gst::QueryRef,
) -> bool {
    if let gst::QueryViewMut::Latency(q) = query.view_mut() {
        q.set(true, gst::ClockTime::ZERO, gst::ClockTime::NONE);
        return true;
    }
    gst::Pad::query_default(pad, parent, query)
}

struct PadState {
    /// stream-start/caps/segment not pushed yet.
    need_events: bool,
    /// Caps to announce before the next buffer (after RTP-Info updates).
    pending_caps: Option<gst::Caps>,
    /// A flush removed the segment: send one before the next buffer.
    need_segment: Option<gst::Seqnum>,
    /// Packets wait in `held` (a seek waits for its PLAY answer).
    hold: bool,
    /// Packets kept while holding, or while a VOD stream's element is not
    /// PLAYING: the server's data between our PAUSED and its PAUSE is the
    /// data to play on resume, not to drop.
    held: Vec<gst::Buffer>,
    /// After a seek: drop packets before RTP-Info's `seq` (of the old
    /// position) until one at or after it arrives.
    first_seq: Option<u16>,
    /// After a VOD PLAY with a `Range`: check RTP-Info against the first
    /// packet (`Timeline::check_first`).
    check_anchor: bool,
}

impl PadState {
    fn new() -> Self {
        PadState {
            need_events: true,
            pending_caps: None,
            need_segment: None,
            hold: false,
            held: Vec::new(),
            first_seq: None,
            check_anchor: false,
        }
    }
}

/// Packets a stream keeps while holding; beyond, newer ones are dropped
/// (over 1 s of a 10 Mbit/s stream).
const MAX_HELD: usize = 2048;

/// One RTSP stream's entry into `rtpbin`, shared with the network task.
pub struct StreamOutput {
    rtp_pad: gst::Pad,
    rtcp_pad: gst::Pad,
    rtp_state: Mutex<PadState>,
    rtcp_state: Mutex<PadState>,
    caps: Mutex<gst::Caps>,
    timing: Arc<Timing>,
    stream_id: String,
    group_id: gst::GroupId,
    rtcp_target: Arc<Mutex<Option<PacketRoute>>>,
    rtcp_sink: Option<gst::Pad>,
    accept: AtomicBool,
    /// The light jitterbuffer rtpbin made for this stream, if it uses one.
    jitterbuffer: Mutex<Option<LightJitterBuffer>>,
    /// Payload types the SDP announced; packets of others are dropped.
    payload_types: PayloadTypes,
    /// Position in an on-demand presentation.
    pub timeline: Timeline,
    /// Absolute times and segments in ONVIF replay (`onvif-mode`).
    pub replay: super::replay_output::ReplayOutput,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Dropped before `rtpbin`: payload types the SDP did not list.
    pub unknown_pt: AtomicU64,
    /// Dropped before `rtpbin`: not RTP (see `rtspclient_protocol::rtp::payload_len`).
    pub malformed: AtomicU64,
    /// Dropped on the way out of `rtpbin`: nothing left after the padding.
    pub no_payload: AtomicU64,
    /// SRTP (RTP/SAVP): packets go to rtpbin's `srtpdec` as
    /// `application/x-srtp` and `-srtcp`, and their padding and payload
    /// are encrypted, so only the header is checked here.
    secure: bool,
}

/// How a stream talks to the server besides its media.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// Send rtpbin's receiver reports.
    pub do_rtcp: bool,
    /// SRTP (see [`StreamOutput`]'s field).
    pub secure: bool,
}

impl StreamOutput {
    /// Request `rtpbin`'s pads for session `index` and link our pads to them.
    pub fn new(
        rtpbin: &gst::Element,
        index: usize,
        caps: gst::Caps,
        timing: Arc<Timing>,
        group_id: gst::GroupId,
        stream_id_prefix: &str,
        exchange: Exchange,
    ) -> Result<Arc<StreamOutput>, gst::glib::BoolError> {
        let Exchange { do_rtcp, secure } = exchange;
        let rtp_pad = gst::Pad::builder(gst::PadDirection::Src)
            .name(format!("rtp_src_{index}"))
            .query_function(answer_as_live_source)
            .build();
        let rtcp_pad = gst::Pad::builder(gst::PadDirection::Src)
            .name(format!("rtcp_src_{index}"))
            .query_function(answer_as_live_source)
            .build();
        let rtp_sink = rtpbin
            .request_pad_simple(&format!("recv_rtp_sink_{index}"))
            .ok_or_else(|| gst::glib::bool_error!("rtpbin refused recv_rtp_sink_{index}"))?;
        let rtcp_sink = rtpbin
            .request_pad_simple(&format!("recv_rtcp_sink_{index}"))
            .ok_or_else(|| gst::glib::bool_error!("rtpbin refused recv_rtcp_sink_{index}"))?;
        rtp_pad.set_active(true)?;
        rtcp_pad.set_active(true)?;
        rtp_pad
            .link(&rtp_sink)
            .map_err(|e| gst::glib::bool_error!("cannot link RTP pad: {e:?}"))?;
        rtcp_pad
            .link(&rtcp_sink)
            .map_err(|e| gst::glib::bool_error!("cannot link RTCP pad: {e:?}"))?;

        let rtcp_target: Arc<Mutex<Option<PacketRoute>>> = Arc::new(Mutex::new(None));
        let rtcp_out_sink = if do_rtcp {
            let target = rtcp_target.clone();
            let sink = gst::Pad::builder(gst::PadDirection::Sink)
                .name(format!("rtcp_sink_{index}"))
                .chain_function(move |_pad, _parent, buffer| {
                    if let Some(target) = target.lock().unwrap().as_ref()
                        && let Ok(map) = buffer.map_readable()
                    {
                        // A report the route cannot take now is dropped: the next
                        // one follows within seconds.
                        let _ = target.try_send(&map);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build();
            sink.set_active(true)?;
            if let Some(send_src) = rtpbin.request_pad_simple(&format!("send_rtcp_src_{index}")) {
                send_src
                    .link(&sink)
                    .map_err(|e| gst::glib::bool_error!("cannot link RTCP sender: {e:?}"))?;
            }
            Some(sink)
        } else {
            None
        };

        let fresh = || Mutex::new(PadState::new());
        Ok(Arc::new(StreamOutput {
            rtp_pad,
            rtcp_pad,
            rtp_state: fresh(),
            rtcp_state: fresh(),
            caps: Mutex::new(caps),
            timing,
            stream_id: format!("{stream_id_prefix}/{index}"),
            group_id,
            rtcp_target,
            rtcp_sink: rtcp_out_sink,
            accept: AtomicBool::new(true),
            jitterbuffer: Mutex::new(None),
            payload_types: PayloadTypes::default(),
            timeline: Timeline::new(),
            replay: Default::default(),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            unknown_pt: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            no_payload: AtomicU64::new(0),
            secure,
        }))
    }

    pub fn caps(&self) -> gst::Caps {
        self.caps.lock().unwrap().clone()
    }

    /// Replace the caps (e.g. with RTP-Info's seqnum-base/clock-base); they
    /// are announced before the next packet.
    pub fn update_caps(&self, caps: gst::Caps) {
        *self.caps.lock().unwrap() = caps.clone();
        let mut state = self.rtp_state.lock().unwrap();
        if !state.need_events {
            state.pending_caps = Some(self.wire_caps(caps));
        }
    }

    /// The caps of what this stream pushes into rtpbin: renamed to
    /// `application/x-srtp` (`-srtcp`) for SRTP, which srtpdec takes and
    /// turns back.
    fn wire_caps(&self, caps: gst::Caps) -> gst::Caps {
        if self.secure {
            crate::srtp::encrypted_caps(&caps)
        } else {
            caps
        }
    }

    /// The payload types the SDP announced (one caps per format); until
    /// they are set every packet counts as one of an unknown type.
    pub fn set_payload_types(&self, payloads: &[gst::Caps]) {
        self.payload_types.set(
            payloads
                .iter()
                .filter_map(|caps| caps.structure(0)?.get::<i32>("payload").ok())
                .filter_map(|pt| u8::try_from(pt).ok()),
        );
    }

    pub fn set_jitterbuffer(&self, jitterbuffer: LightJitterBuffer) {
        *self.jitterbuffer.lock().unwrap() = Some(jitterbuffer);
    }

    /// Packets waiting for the jitterbuffer's output worker (0 with
    /// `rtpjitterbuffer`, which queues on its own thread).
    pub fn output_backlog(&self) -> usize {
        self.jitterbuffer
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, LightJitterBuffer::backlog)
    }

    pub fn set_rtcp_target(&self, target: Option<PacketRoute>) {
        *self.rtcp_target.lock().unwrap() = target;
    }

    pub fn push_rtp(&self, data: &[u8]) {
        self.push_rtp_batch(std::iter::once(data));
    }

    /// Push packets that arrived together (one socket read), each in a
    /// buffer from the receiving thread's pool.
    pub fn push_rtp_batch<P: AsRef<[u8]>>(&self, packets: impl IntoIterator<Item = P>) {
        self.push_rtp_buffers(packets.into_iter().map(|p| self.packet_buffer(p.as_ref())));
    }

    /// A buffer for one received packet, from the receiving thread's pool:
    /// receive paths that copy out of a shared read buffer anyway copy into
    /// this.
    pub fn packet_buffer(&self, data: &[u8]) -> gst::Buffer {
        packet_pool::packet_buffer(data)
    }

    /// Like [`Self::push_rtp_batch`], for packets already in buffers.
    /// Only RTP of an announced payload type goes on to `rtpbin`: it asks
    /// the application for the caps of any other (`request-pt-map`) on
    /// every packet, and a stray payload type in the stream's sequence
    /// would restart the jitterbuffer. Such packets, and what is not RTP,
    /// are dropped and counted here.
    pub fn push_rtp_buffers(&self, packets: impl IntoIterator<Item = gst::Buffer>) {
        let mut bytes = 0;
        let mut count = 0;
        let mut muxed_rtcp = Vec::new();
        let packets = packets.into_iter().filter_map(|mut p| {
            let verdict = match p.map_readable() {
                Ok(map) => rtp_check::classify(&map, &self.payload_types, self.secure),
                Err(_) => Verdict::Malformed,
            };
            let dropped = match verdict {
                Verdict::Rtp { empty } => {
                    // Only a VOD's end of range needs it.
                    if self.timeline.is_vod()
                        && let Some(timestamp) = rtp_timestamp(&p)
                    {
                        self.timeline.note_timestamp(timestamp);
                    }
                    bytes += p.size() as u64;
                    count += 1;
                    if empty {
                        mark_empty(&mut p);
                    }
                    return Some(p);
                }
                Verdict::MuxedRtcp => {
                    muxed_rtcp.push(p);
                    return None;
                }
                Verdict::Malformed => &self.malformed,
                Verdict::UnknownPayloadType(_) => &self.unknown_pt,
            };
            dropped.fetch_add(1, Ordering::Relaxed);
            None
        });
        self.push(
            &self.rtp_pad,
            &self.rtp_state,
            || self.wire_caps(self.caps()),
            packets,
        );
        self.packets.fetch_add(count, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        for packet in muxed_rtcp {
            self.push_rtcp_buffer(packet);
        }
    }

    pub fn push_rtcp(&self, data: &[u8]) {
        self.push_rtcp_buffer(self.packet_buffer(data));
    }

    pub fn push_rtcp_buffer(&self, packet: gst::Buffer) {
        self.push(
            &self.rtcp_pad,
            &self.rtcp_state,
            || self.wire_caps(gst::Caps::new_empty_simple("application/x-rtcp")),
            std::iter::once(packet),
        );
    }

    /// Push packets, preceded by the sticky events the first time. `caps`
    /// is only called then: the data path does not touch the caps. All
    /// packets get the same arrival time: they came in one read. The pad's
    /// state stays locked during the push, so that a seek's flush and the
    /// release of held packets come strictly between two pushes.
    fn push(
        &self,
        pad: &gst::Pad,
        state: &Mutex<PadState>,
        caps: impl FnOnce() -> gst::Caps,
        packets: impl Iterator<Item = gst::Buffer>,
    ) {
        if !self.accept.load(Ordering::Acquire) {
            return;
        }
        let mut state = state.lock().unwrap();
        let now = self.timing.running_time();
        let is_rtp = pad == &self.rtp_pad;
        // Packets not pushed are still consumed: the receive path counts
        // them as they are taken, and the data watchdog looks at that
        // count (a live stream paused without PAUSE still receives).
        let mut packets = packets;
        if is_rtp && (state.hold || (now.is_none() && self.timeline.is_vod())) {
            let room = MAX_HELD.saturating_sub(state.held.len());
            state.held.extend(packets.by_ref().take(room));
            packets.for_each(drop);
            return;
        }
        let Some(now) = now else {
            packets.for_each(drop);
            return;
        };
        self.push_locked(pad, &mut state, caps, packets, now);
    }

    fn push_locked(
        &self,
        pad: &gst::Pad,
        state: &mut PadState,
        caps: impl FnOnce() -> gst::Caps,
        packets: impl Iterator<Item = gst::Buffer>,
        now: gst::ClockTime,
    ) {
        if state.need_events {
            state.need_events = false;
            state.pending_caps = None;
            state.need_segment = None;
            pad.push_event(
                gst::event::StreamStart::builder(&format!("{}/{}", self.stream_id, pad.name()))
                    .group_id(self.group_id)
                    .build(),
            );
            pad.push_event(gst::event::Caps::new(&caps()));
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            pad.push_event(gst::event::Segment::new(&segment));
        } else {
            if let Some(caps) = state.pending_caps.take() {
                pad.push_event(gst::event::Caps::new(&caps));
            }
            if let Some(seqnum) = state.need_segment.take() {
                let segment = gst::FormattedSegment::<gst::ClockTime>::new();
                pad.push_event(
                    gst::event::Segment::builder(&segment)
                        .seqnum(seqnum)
                        .build(),
                );
            }
        }
        let stamp = |mut buffer: gst::Buffer| {
            let b = buffer.make_mut();
            b.set_dts(now);
            b.set_pts(now);
            buffer
        };
        // One buffer at a time, not as a buffer list: inside rtpbin the
        // list is split into single buffers while it still holds a
        // reference to each, so the jitterbuffer's timestamping copied
        // every packet (GST_DEBUG showed a make_writable copy per buffer).
        // Flow errors (flushing, not-linked while the pipeline shuts down)
        // are not ours to report: rtpbin posts its own errors.
        for packet in packets {
            if let Some(first) = state.first_seq {
                let seq = packet.map_readable().ok().and_then(|m| rtp_seq(&m));
                match seq {
                    Some(seq) if stale_before(seq, first) => continue,
                    _ => state.first_seq = None,
                }
            }
            if state.check_anchor {
                state.check_anchor = false;
                if let Some(base) =
                    rtp_timestamp(&packet).and_then(|t| self.timeline.check_first(t))
                {
                    let mut caps = self.caps();
                    caps.make_mut().set("clock-base", base);
                    *self.caps.lock().unwrap() = caps.clone();
                    pad.push_event(gst::event::Caps::new(&self.wire_caps(caps)));
                }
            }
            if pad.push(stamp(packet)).is_err() {
                return;
            }
        }
    }

    /// Pad probe on rtpbin's output: drop (and count) RTP packets with
    /// no payload after the padding (RFC 3550 §5.1), which the receive
    /// path marked (see [`mark_empty`]). Some senders pad to a bitrate
    /// with such packets; depayloaders cannot all take them (GStreamer
    /// 1.22's rtph264depay loses track of a fragmented NAL unit around one
    /// and then crashes, docs/QUIRKS.md "Packets that are all padding").
    /// Dropped here rather than before rtpbin so that the jitterbuffer
    /// sees no gap to wait for; the depayloader sees one, which makes it
    /// start over cleanly.
    pub fn drop_empty_packets(&self, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        let empty = |buffer: &gst::BufferRef| buffer.flags().contains(EMPTY_PACKET);
        match &mut info.data {
            Some(gst::PadProbeData::Buffer(buffer)) if empty(buffer) => {
                self.no_payload.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Drop
            }
            Some(gst::PadProbeData::BufferList(list)) if list.iter().any(empty) => {
                list.make_mut().foreach_mut(|buffer, _| {
                    if empty(&buffer) {
                        self.no_payload.fetch_add(1, Ordering::Relaxed);
                        std::ops::ControlFlow::Continue(None)
                    } else {
                        std::ops::ControlFlow::Continue(Some(buffer))
                    }
                });
                if list.is_empty() {
                    gst::PadProbeReturn::Drop
                } else {
                    gst::PadProbeReturn::Ok
                }
            }
            _ => gst::PadProbeReturn::Ok,
        }
    }

    /// Send EOS into rtpbin so it reaches the stream's pad (server
    /// TEARDOWN, RTCP BYE or the end of a VOD range).
    pub fn push_eos(&self) {
        if !self.timeline.end() {
            return;
        }
        {
            let _state = self.rtp_state.lock().unwrap();
            self.rtp_pad.push_event(gst::event::Eos::new());
        }
        self.rtcp_pad.push_event(gst::event::Eos::new());
    }

    /// Stop pushing and unlink from rtpbin (element going to READY).
    pub fn shutdown(&self) {
        self.accept.store(false, Ordering::Release);
        self.set_rtcp_target(None);
        self.jitterbuffer.lock().unwrap().take();
        let _ = self.rtp_pad.set_active(false);
        let _ = self.rtcp_pad.set_active(false);
        if let Some(sink) = &self.rtcp_sink {
            let _ = sink.set_active(false);
        }
    }
}

/// The mark an RTP packet without payload carries through `rtpbin` to
/// [`StreamOutput::drop_empty_packets`], so that its bytes are read once,
/// on arrival. DROPPABLE says what it is (the stream is whole without it)
/// and `rtpbin`'s elements keep buffer flags.
const EMPTY_PACKET: gst::BufferFlags = gst::BufferFlags::DROPPABLE;

fn mark_empty(packet: &mut gst::Buffer) {
    packet.make_mut().set_flags(EMPTY_PACKET);
}
