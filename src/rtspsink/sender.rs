//! The data path of `rtspsink`: from `rtpbin`'s send pads to the server.
//!
//! Each stream has three free-standing pads linked to `rtpbin` session N:
//! a sink pad on `send_rtp_src_N` (the published RTP), a sink pad on
//! `send_rtcp_src_N` (sender reports, BYE) and a source pad into
//! `recv_rtcp_sink_N` (the server's receiver reports). The RTP chain
//! function runs in the upstream streaming thread and
//!
//! 1. on the first buffer, records the stream's caps for the SDP; until
//!    the record task has done ANNOUNCE/SETUP/RECORD, keeps the packets
//!    (see `prerecord`) and returns, so nothing is dropped before the
//!    server is ready and no thread waits on the server;
//! 2. with `sync=true`, waits on the pipeline clock until the buffer's
//!    running time (plus the pipeline latency), like a `basesink`, so
//!    non-live sources go out in real time;
//! 3. sends the packet, or the whole buffer list, from this thread with
//!    one non-blocking system call straight from the buffers' memories
//!    (see `wire`): over TCP as interleaved frames, over UDP as datagrams.
//!    Only what the TCP socket cannot take at once goes to the
//!    connection's bounded write queue (see `driver::connection`); when
//!    that is full, or the UDP socket buffer is, the `backpressure`
//!    property decides between blocking and dropping.
//!
//! Every wait is interruptible: flushes and state changes set a flag,
//! unschedule the clock entry, wake the condition variable and the
//! watch channel the async sends select on.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gst::prelude::*;
use rtspclient_protocol::h26x::ParameterSetGuard;
use rtspclient_protocol::message::encode_interleaved;
use rtspclient_protocol::{rtcp, rtp};
use tokio::sync::{Notify, watch};

use super::imp::CAT;
use super::parameter_sets::{self, Kept};
use super::settings::Backpressure;
use super::wire::{MappedPackets, Outgoing, Packets, send_when_writable};
use crate::driver::connection::{SendError, Writer};
use crate::driver::datagrams::{Segmentation, send_datagrams};
use crate::driver::error::{ClientError, ErrorKind};
use crate::runtime;

mod prerecord;
use prerecord::PreRecord;

/// What the element reports through; implemented by the element glue.
pub trait Reporter: Send + Sync + 'static {
    /// Post an element error (the RTSP status goes into the details).
    fn error(&self, error: &ClientError);
    /// Post a warning.
    fn warning(&self, text: &str);
}

/// Where the record task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started (NULL/READY) or stopping.
    Stopped,
    /// Connecting, waiting for every stream's first buffer, negotiating.
    Starting,
    /// RECORD answered: packets flow.
    Recording,
    /// The session was lost and is being set up again: packets wait
    /// (`backpressure=block`) or are dropped (`drop`) until RECORD.
    Reconnecting,
    /// An error is being posted: streaming threads hold on, so that the
    /// application sees our error before the upstream "data stream error".
    Failing,
    /// An error was posted; streaming returns errors.
    Failed,
}

/// Per-run values the data path needs.
#[derive(Clone)]
pub struct RunConfig {
    pub epoch: u64,
    pub sync: bool,
    pub backpressure: Backpressure,
    /// Bound on a streaming thread's wait for RECORD (see `prerecord`).
    pub record_wait: Duration,
    /// A lost connection is recovered by the record task: a failed write
    /// is not an error of its own then.
    pub reconnect: bool,
    pub reporter: Arc<dyn Reporter>,
}

impl ControlState {
    /// The pipeline's running time now (PLAYING), or where it paused.
    fn running_time_now(&self) -> gst::ClockTime {
        match &self.clock {
            Some((clock, base)) => clock.time().saturating_sub(*base),
            None => self.paused_at,
        }
    }
}

pub struct ControlState {
    pub phase: Phase,
    pub run: Option<RunConfig>,
    /// Pipeline clock and base time while PLAYING.
    clock: Option<(gst::Clock, gst::ClockTime)>,
    /// Running time when the pipeline last paused.
    paused_at: gst::ClockTime,
    latency: gst::ClockTime,
    /// Every stream of the element, in pad order.
    pub streams: Vec<Arc<StreamSender>>,
    /// ANNOUNCE sent: the set of streams is fixed.
    pub announced: bool,
}

/// State shared by the element, its streams' pads and the record task.
pub struct Control {
    state: Mutex<ControlState>,
    /// Wakes streaming threads waiting for RECORD or for PLAYING.
    cond: Condvar,
    /// Wakes the record task when a stream got its first buffer or EOS.
    pub changed: Notify,
    pub dropped: AtomicU64,
    drop_warned: AtomicBool,
    epoch: AtomicU64,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            state: Mutex::new(ControlState {
                phase: Phase::Stopped,
                run: None,
                clock: None,
                paused_at: gst::ClockTime::ZERO,
                latency: gst::ClockTime::ZERO,
                streams: Vec::new(),
                announced: false,
            }),
            cond: Condvar::new(),
            changed: Notify::new(),
            dropped: AtomicU64::new(0),
            drop_warned: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }
}

impl Control {
    pub fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().unwrap()
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// A new run (READY→PAUSED). Returns its epoch.
    pub fn start(&self, make_run: impl FnOnce(u64) -> RunConfig) -> u64 {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let mut state = self.lock();
        state.phase = Phase::Starting;
        state.run = Some(make_run(epoch));
        state.announced = false;
        self.dropped.store(0, Ordering::Relaxed);
        self.drop_warned.store(false, Ordering::Relaxed);
        for stream in &state.streams {
            stream.reset();
        }
        epoch
    }

    /// Stop the run: every waiting streaming thread returns FLUSHING.
    pub fn stop(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let streams = {
            let mut state = self.lock();
            state.phase = Phase::Stopped;
            state.run = None;
            state.clock = None;
            state.paused_at = gst::ClockTime::ZERO;
            state.streams.clone()
        };
        for stream in &streams {
            stream.interrupt();
        }
        self.cond.notify_all();
    }

    /// Every stream of the element, in pad order.
    pub fn streams(&self) -> Vec<Arc<StreamSender>> {
        self.lock().streams.clone()
    }

    pub fn set_playing(&self, clock: Option<(gst::Clock, gst::ClockTime)>) {
        {
            let mut state = self.lock();
            if clock.is_none() {
                state.paused_at = state.running_time_now();
            }
            state.clock = clock;
            // Waits scheduled against the old clock snapshot end now.
            for stream in &state.streams {
                stream.unschedule();
            }
        }
        self.cond.notify_all();
    }

    pub fn set_latency(&self, latency: gst::ClockTime) {
        self.lock().latency = latency;
    }

    /// RECORD is done: let the streaming threads go.
    pub fn set_recording(&self, epoch: u64) -> bool {
        let mut state = self.lock();
        if self.epoch() != epoch || !matches!(state.phase, Phase::Starting | Phase::Reconnecting) {
            return false;
        }
        state.phase = Phase::Recording;
        drop(state);
        self.cond.notify_all();
        true
    }

    /// The session was lost: streams stop using its routes until the next
    /// RECORD (see [`Phase::Reconnecting`]).
    pub fn set_reconnecting(&self, epoch: u64) {
        let streams = {
            let mut state = self.lock();
            if self.epoch() != epoch || state.phase != Phase::Recording {
                return;
            }
            state.phase = Phase::Reconnecting;
            state.streams.clone()
        };
        for stream in streams {
            stream.set_route(None, None);
        }
        self.cond.notify_all();
    }

    /// With `backpressure=drop`, what arrives while reconnecting is
    /// dropped (counted in `dropped`); true if `packets` were.
    fn dropped_while_reconnecting(&self, stream: usize, packets: usize) -> bool {
        let state = self.lock();
        let dropping = state.phase == Phase::Reconnecting
            && state
                .run
                .as_ref()
                .is_some_and(|run| run.backpressure == Backpressure::Drop);
        drop(state);
        if dropping {
            self.count_drops(stream, packets);
        }
        dropping
    }

    /// Post `error` once per run and make streaming fail from now on.
    /// `epoch` None: the current run (streaming threads).
    pub fn fail(&self, epoch: Option<u64>, error: &ClientError) {
        let reporter = {
            let mut state = self.lock();
            if epoch.is_some_and(|e| e != self.epoch()) {
                return;
            }
            if matches!(state.phase, Phase::Stopped | Phase::Failing | Phase::Failed) {
                return;
            }
            state.phase = Phase::Failing;
            state.run.as_ref().map(|r| r.reporter.clone())
        };
        // Posted without the lock held: a bus sync handler may well stop
        // the pipeline, which takes it.
        if let Some(reporter) = reporter {
            reporter.error(error);
        }
        {
            let mut state = self.lock();
            if state.phase == Phase::Failing {
                state.phase = Phase::Failed;
            }
        }
        self.cond.notify_all();
        self.changed.notify_one();
    }

    fn count_drops(&self, stream: usize, packets: usize) {
        self.dropped.fetch_add(packets as u64, Ordering::Relaxed);
        if !self.drop_warned.swap(true, Ordering::Relaxed) {
            let reporter = self.lock().run.as_ref().map(|r| r.reporter.clone());
            if let Some(reporter) = reporter {
                reporter.warning(&format!(
                    "The connection to the server cannot keep up: dropping packets \
                     (first on stream {stream}); see the 'dropped' property"
                ));
            }
        }
    }
}

/// How one stream's packets reach the server, set once SETUP answered.
#[derive(Clone)]
pub enum Route {
    Interleaved { writer: Writer, rtp: u8, rtcp: u8 },
    Udp(Arc<UdpRoute>),
}

/// A stream's UDP sockets and the server's ports.
///
/// The RTP socket is deliberately *not* registered with the runtime's
/// reactor: a registered UDP socket gets an `EPOLLOUT` edge each time a
/// sent datagram frees its buffer space, i.e. a wake-up of an I/O thread
/// per packet for nothing. Nothing is expected on it from the server
/// either. Sends are non-blocking system calls from the streaming thread;
/// only a sender blocked by a full socket buffer registers (a duplicate
/// of) it, for the duration of that wait.
pub struct UdpRoute {
    pub rtp_socket: std::net::UdpSocket,
    /// Receives the server's receiver reports (a task on the runtime).
    pub rtcp_socket: Arc<tokio::net::UdpSocket>,
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
    /// Whether RTP may go out as segmented messages (see
    /// `driver::datagrams`).
    pub segmentation: Segmentation,
}

/// Where a stream is before RECORD, as the record task sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// No buffer yet.
    Waiting,
    /// First buffer arrived (or EOS after caps): these caps go in the SDP.
    Ready(gst::Caps),
    /// EOS without caps: nothing to announce.
    Empty,
}

struct StreamState {
    segment: gst::FormattedSegment<gst::ClockTime>,
    /// Caps as of the first buffer, for the SDP.
    first_caps: Option<gst::Caps>,
    eos: Option<gst::Seqnum>,
    rtcp_eos: bool,
    route: Option<Route>,
    /// Payload type to write into every packet when the SDP had to give
    /// this stream another one than its payloader uses.
    pt_rewrite: Option<u8>,
    clock_id: Option<gst::SingleShotClockId>,
    /// Added to buffer running times: a flush that resets the running
    /// time restarts it at 0, but the pipeline keeps its base time (no
    /// sink child of ours loses state), so the restart is placed at the
    /// pipeline's running time of the flush, as a `basesink` with a new
    /// base time would.
    time_offset: gst::ClockTime,
    rtcp_in_started: bool,
    /// The stream is video (`media=video`): an RTP marker bit ends a frame.
    video: bool,
    /// Packets of the current video frame held back until its last packet
    /// (see [`StreamSender::chain_rtp`]) with the sequence number to write
    /// into each, and their timestamp.
    held: Vec<(gst::Buffer, Option<u16>)>,
    held_pts: Option<gst::ClockTime>,
    /// H.264/H.265: removes parameter sets between the slices of a picture.
    parameter_sets: Option<ParameterSetGuard>,
    /// Packets that came before RECORD (see `prerecord`).
    pre_record: PreRecord,
}

impl StreamState {
    fn new() -> Self {
        StreamState {
            segment: gst::FormattedSegment::new(),
            first_caps: None,
            eos: None,
            rtcp_eos: false,
            route: None,
            pt_rewrite: None,
            clock_id: None,
            time_offset: gst::ClockTime::ZERO,
            rtcp_in_started: false,
            video: false,
            held: Vec::new(),
            held_pts: None,
            parameter_sets: None,
            pre_record: PreRecord::default(),
        }
    }
}

/// One published stream (`sink_N`, rtpbin session N).
pub struct StreamSender {
    pub index: usize,
    control: Weak<Control>,
    rtp_pad: gst::Pad,
    rtcp_pad: gst::Pad,
    rtcp_in: gst::Pad,
    state: Mutex<StreamState>,
    flushing: AtomicBool,
    interrupt: watch::Sender<bool>,
    stream_id: String,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

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

    /// Stop every wait of the streaming thread (flush or stop).
    pub fn interrupt(&self) {
        self.flushing.store(true, Ordering::SeqCst);
        self.interrupt.send_replace(true);
        self.unschedule();
    }

    /// Unschedule the clock wait; also forget held packets (flush or stop:
    /// the chain function puts back what it took only while not flushing).
    fn unschedule(&self) {
        let mut state = self.state.lock().unwrap();
        if self.flushing.load(Ordering::SeqCst) {
            state.held.clear();
            state.pre_record.clear();
        }
        if let Some(id) = state.clock_id.as_ref() {
            id.unschedule();
        }
    }

    /// Tell rtpbin (and upstream) the pipeline latency, as a `basesink`
    /// does: rtpsession needs it to map running time to send time for its
    /// sender reports.
    pub fn push_latency(&self, event: &gst::Event) {
        let _ = self.rtp_pad.push_event(event.clone());
    }

    /// Forget the previous run (new READY→PAUSED).
    fn reset(&self) {
        let mut state = self.state.lock().unwrap();
        let segment = state.segment.clone();
        *state = StreamState::new();
        state.segment = segment;
        self.flushing.store(false, Ordering::SeqCst);
        self.interrupt.send_replace(false);
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
    }

    pub fn readiness(&self) -> Readiness {
        let state = self.state.lock().unwrap();
        match (&state.first_caps, state.eos) {
            (Some(caps), _) => Readiness::Ready(caps.clone()),
            (None, Some(_)) => match self.rtp_pad.current_caps() {
                Some(caps) => Readiness::Ready(caps),
                None => Readiness::Empty,
            },
            (None, None) => Readiness::Waiting,
        }
    }

    /// EOS reached the end of the RTP path (with its seqnum).
    pub fn eos(&self) -> Option<gst::Seqnum> {
        self.state.lock().unwrap().eos
    }

    /// rtpbin sent BYE (or ended the RTCP path).
    pub fn rtcp_eos(&self) -> bool {
        self.state.lock().unwrap().rtcp_eos
    }

    pub fn route(&self) -> Option<Route> {
        self.state.lock().unwrap().route.clone()
    }

    /// Set where packets go (after SETUP) and the payload type to write.
    pub fn set_route(&self, route: Option<Route>, pt_rewrite: Option<u8>) {
        let mut state = self.state.lock().unwrap();
        state.route = route;
        state.pt_rewrite = pt_rewrite;
    }

    fn rtp_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
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

    /// Publish RTP packets (one buffer, or a buffer list from a payloader).
    ///
    /// A video payloader pushes a frame as several buffers or lists (one
    /// per NAL unit for H.264: parameter sets, each slice), back to back
    /// and with one timestamp; only the frame's last packet has the RTP
    /// marker bit. Sent one by one, each would cost a system call and, over
    /// TCP, a segment that wakes the server (at 0.3 Mbit/s, 3–4 per frame
    /// for one). So packets of a video frame are held (as buffer
    /// references, at most [`MAX_HELD`]) until the packet with the marker,
    /// and the frame leaves in one system call. The frame was due already
    /// (it passed the clock wait) and a payloader pushes its parts back to
    /// back, so this delays nothing by more than microseconds; RTP relayed
    /// with `sync=false` may leave up to the frame's arrival spread later.
    /// A frame whose marker never comes goes with the next packet of
    /// another timestamp, or at EOS; a flush or stop drops it.
    fn chain_rtp(&self, packets: Packets<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (Some(first), Some(last)) = (packets.first(), packets.last()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let control = self.control.upgrade().ok_or(gst::FlowError::Flushing)?;
        if self.flushing.load(Ordering::SeqCst) {
            return Err(gst::FlowError::Flushing);
        }
        let (running_time, video, mut held, held_pts, kept) = {
            let mut state = self.state.lock().unwrap();
            if state.first_caps.is_none() {
                let caps = self
                    .rtp_pad
                    .current_caps()
                    .ok_or(gst::FlowError::NotNegotiated)?;
                state.video = caps
                    .structure(0)
                    .and_then(|s| s.get::<&str>("media").ok())
                    .is_some_and(|media| media.eq_ignore_ascii_case("video"));
                state.parameter_sets = parameter_sets::guard_for(&caps);
                state.first_caps = Some(caps);
                gst::debug!(CAT, obj = self.rtp_pad, "First buffer: stream ready");
                control.changed.notify_one();
            }
            let running_time = first
                .dts_or_pts()
                .and_then(|ts| state.segment.to_running_time(ts))
                .map(|rt| rt + state.time_offset);
            let guard = state.parameter_sets.as_mut();
            let removed_before = guard.as_ref().map_or(0, |g| g.removed);
            let kept = parameter_sets::filter(guard, packets);
            if let Some(guard) = &state.parameter_sets
                && guard.removed > removed_before
            {
                gst::debug!(
                    CAT,
                    obj = self.rtp_pad,
                    "Removed parameter sets between the slices of a picture ({} so far)",
                    guard.removed
                );
            }
            let held = std::mem::take(&mut state.held);
            (running_time, state.video, held, state.held_pts.take(), kept)
        };
        if self.keep_before_record(&control, running_time, &kept)?
            || control.dropped_while_reconnecting(self.index, kept.len())
        {
            return Ok(gst::FlowSuccess::Ok);
        }
        // Returns at once while recording.
        let (route, pt_rewrite, run) = self.wait_for_record(&control)?;
        self.send_pre_record(&control, &run, &route, pt_rewrite)?;
        let pts = first.pts();
        if !held.is_empty() && (pts.is_none() || pts != held_pts) {
            // The held frame never got its marker: it goes now, before
            // this packet's clock wait.
            self.send(&control, &run, &route, pt_rewrite, &held_batch(&held))?;
            held.clear();
        }
        if run.sync
            && let Some(running_time) = running_time
        {
            self.wait_clock(&control, running_time)?;
        }
        if video && pts.is_some() && !ends_frame(last) && held.len() + kept.len() <= MAX_HELD {
            held.extend(kept.iter().map(Kept::to_held));
            let mut state = self.state.lock().unwrap();
            // A flush or stop that came in the meantime drops them.
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            state.held = held;
            state.held_pts = pts;
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut batch = held_batch(&held);
        batch.extend(kept.iter().map(Kept::outgoing));
        self.send(&control, &run, &route, pt_rewrite, &batch)?;
        Ok(gst::FlowSuccess::Ok)
    }

    /// Send what [`StreamSender::chain_rtp`] held back (at EOS).
    fn send_held(&self) {
        let (held, early) = {
            let state = &mut *self.state.lock().unwrap();
            (
                std::mem::take(&mut state.held),
                !state.pre_record.is_empty(),
            )
        };
        if held.is_empty() && !early {
            return;
        }
        let Some(control) = self.control.upgrade() else {
            return;
        };
        // Returns at once while recording; packets kept before RECORD wait
        // for it here (bounded, ended by state changes), so that EOS
        // follows them. The application's EOS call has returned by now.
        if let Ok((route, pt_rewrite, run)) = self.wait_for_record(&control)
            && self
                .send_pre_record(&control, &run, &route, pt_rewrite)
                .is_ok()
        {
            let _ = self.send(&control, &run, &route, pt_rewrite, &held_batch(&held));
        }
    }

    fn send(
        &self,
        control: &Control,
        run: &RunConfig,
        route: &Route,
        pt_rewrite: Option<u8>,
        packets: &[Outgoing<'_>],
    ) -> Result<(), gst::FlowError> {
        match route {
            Route::Interleaved { writer, rtp, .. } => {
                self.send_interleaved(control, run, writer, *rtp, pt_rewrite, packets)
            }
            Route::Udp(udp) => self.send_udp(control, run, udp, pt_rewrite, packets),
        }
    }

    /// Block until RECORD is done (bounded), the run failed or stopped.
    fn wait_for_record(
        &self,
        control: &Control,
    ) -> Result<(Route, Option<u8>, RunConfig), gst::FlowError> {
        let started = Instant::now();
        let mut state = control.lock();
        let bound = state
            .run
            .as_ref()
            .map(|r| r.record_wait)
            .unwrap_or(Duration::ZERO);
        loop {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            match state.phase {
                Phase::Recording => {
                    let run = state.run.clone().ok_or(gst::FlowError::Flushing)?;
                    drop(state);
                    let stream = self.state.lock().unwrap();
                    return match &stream.route {
                        Some(route) => Ok((route.clone(), stream.pt_rewrite, run)),
                        None => {
                            // A pad requested after ANNOUNCE: not in the SDP.
                            drop(stream);
                            control.fail(
                                None,
                                &ClientError::new(
                                    ErrorKind::NoUsableStream,
                                    format!(
                                        "Stream {} was added after recording started",
                                        self.index
                                    ),
                                ),
                            );
                            Err(gst::FlowError::Error)
                        }
                    };
                }
                Phase::Failed => return Err(gst::FlowError::Error),
                Phase::Stopped => return Err(gst::FlowError::Flushing),
                Phase::Starting | Phase::Failing => {}
                // Until the record task is back or gives up (it bounds its
                // attempts), woken by every phase change.
                Phase::Reconnecting => {
                    state = control.cond.wait(state).unwrap();
                    continue;
                }
            }
            let waited = started.elapsed();
            if waited >= bound {
                drop(state);
                control.fail(
                    None,
                    &ClientError::new(
                        ErrorKind::Timeout,
                        format!("Recording did not start within {bound:?}"),
                    ),
                );
                return Err(gst::FlowError::Error);
            }
            state = control.cond.wait_timeout(state, bound - waited).unwrap().0;
        }
    }

    /// Wait on the pipeline clock until `running_time` (+ latency).
    fn wait_clock(
        &self,
        control: &Control,
        running_time: gst::ClockTime,
    ) -> Result<(), gst::FlowError> {
        loop {
            let mut cstate = control.lock();
            // Not PLAYING: hold the buffer like a prerolled sink does.
            let (clock, base_time) = loop {
                if self.flushing.load(Ordering::SeqCst) || cstate.phase == Phase::Stopped {
                    return Err(gst::FlowError::Flushing);
                }
                if let Some((clock, base)) = &cstate.clock {
                    break (clock.clone(), *base);
                }
                cstate = control.cond.wait(cstate).unwrap();
            };
            let target = base_time + running_time + cstate.latency;
            if clock.time() >= target {
                // Due already (the rest of a frame): no clock entry needed.
                return Ok(());
            }
            let id = clock.new_single_shot_id(target);
            {
                let mut state = self.state.lock().unwrap();
                if self.flushing.load(Ordering::SeqCst) {
                    return Err(gst::FlowError::Flushing);
                }
                state.clock_id = Some(id.clone());
            }
            drop(cstate);
            let (result, _jitter) = id.wait();
            self.state.lock().unwrap().clock_id = None;
            match result {
                Err(gst::ClockError::Unscheduled) => {
                    // Flush, stop, or PLAYING→PAUSED: check again.
                    continue;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Send `packets` as interleaved frames (RFC 2326 10.12) in one
    /// vectored write. Over loopback, handing each packet to the runtime's
    /// writer task cost more than the write itself (a wake-up and a
    /// context switch per packet); this writes on the streaming thread, as
    /// C's `rtspclientsink` does, and the connection queues only what the
    /// socket cannot take at once.
    fn send_interleaved(
        &self,
        control: &Control,
        run: &RunConfig,
        writer: &Writer,
        channel: u8,
        pt_rewrite: Option<u8>,
        packets: &[Outgoing<'_>],
    ) -> Result<(), gst::FlowError> {
        let mapped = MappedPackets::map(&self.rtp_pad, packets, Some(channel), pt_rewrite)?;
        if mapped.is_empty() {
            return Ok(());
        }
        self.count(&mapped);
        let (slices, _) = mapped.slices();
        let result = match writer.try_send_vectored(&slices) {
            Err(SendError::Full) => match run.backpressure {
                Backpressure::Drop => {
                    control.count_drops(self.index, mapped.len());
                    return Ok(());
                }
                Backpressure::Block => {
                    // The queue is full: wait for room, or for a flush or
                    // state change to interrupt us.
                    let mut interrupt = self.interrupt.subscribe();
                    let slices = &slices;
                    match block_on(async move {
                        tokio::select! {
                            result = writer.send_vectored(slices) => Some(result),
                            _ = interrupt.wait_for(|i| *i) => None,
                        }
                    }) {
                        Some(result) => result,
                        None => return Err(gst::FlowError::Flushing),
                    }
                }
            },
            other => other,
        };
        match result {
            Ok(()) => Ok(()),
            Err(_) => {
                if self.flushing.load(Ordering::SeqCst) {
                    return Err(gst::FlowError::Flushing);
                }
                if run.reconnect {
                    // The record task sees the connection go too and
                    // reconnects, or reports why it cannot.
                    control.count_drops(self.index, mapped.len());
                    return Ok(());
                }
                control.fail(
                    Some(run.epoch),
                    &ClientError::new(
                        ErrorKind::Closed,
                        "The server closed the connection while publishing",
                    ),
                );
                Err(gst::FlowError::Error)
            }
        }
    }

    /// Send `packets` as datagrams, a buffer list with one non-blocking
    /// system call. When the socket buffer is full, `backpressure`
    /// decides, datagram by datagram.
    fn send_udp(
        &self,
        control: &Control,
        run: &RunConfig,
        udp: &UdpRoute,
        pt_rewrite: Option<u8>,
        packets: &[Outgoing<'_>],
    ) -> Result<(), gst::FlowError> {
        let mapped = MappedPackets::map(&self.rtp_pad, packets, None, pt_rewrite)?;
        if mapped.is_empty() {
            return Ok(());
        }
        self.count(&mapped);
        let (slices, datagrams) = mapped.slices();
        let dest = socket2::SockAddr::from(udp.rtp);
        let mut next = 0;
        while next < datagrams.len() {
            let sent = send_datagrams(
                &udp.rtp_socket,
                &dest,
                &slices,
                &datagrams[next..],
                &udp.segmentation,
            );
            if let Some(refusal) = &sent.segmentation_refused {
                gst::info!(
                    CAT,
                    obj = self.rtp_pad,
                    "UDP segmentation refused ({refusal}); sending datagrams one by one"
                );
            }
            next += sent.count;
            let Some(err) = sent.error else { break };
            let datagram = &slices[datagrams[next].clone()];
            next += 1;
            if err.kind() != io::ErrorKind::WouldBlock {
                // ICMP errors of earlier datagrams and the like: UDP gives
                // no delivery promise anyway.
                gst::debug!(CAT, obj = self.rtp_pad, "UDP send failed: {err}");
                continue;
            }
            match run.backpressure {
                Backpressure::Drop => control.count_drops(self.index, 1),
                Backpressure::Block => {
                    let mut interrupt = self.interrupt.subscribe();
                    let (socket, dest) = (&udp.rtp_socket, &dest);
                    block_on(async move {
                        tokio::select! {
                            _ = send_when_writable(socket, datagram, dest) => Ok(()),
                            _ = interrupt.wait_for(|i| *i) => Err(gst::FlowError::Flushing),
                        }
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Count packets about to be sent in the statistics.
    fn count(&self, mapped: &MappedPackets<'_>) {
        self.packets
            .fetch_add(mapped.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(mapped.bytes, Ordering::Relaxed);
    }

    /// RTCP from rtpbin (sender reports, BYE): never blocks the RTCP
    /// thread; a report that does not fit is dropped, the next follows.
    fn send_rtcp(&self, buffer: &gst::BufferRef) {
        let route = self.state.lock().unwrap().route.clone();
        let (Some(route), Ok(map)) = (route, buffer.map_readable()) else {
            return;
        };
        let bye = rtcp::contains_bye(&map);
        if bye {
            // rtpbin sends BYE right after EOS; its RTCP EOS event does not
            // always follow, so the BYE itself marks the stream done. Marked
            // before it goes out: ffmpeg's listen mode closes the connection
            // as soon as the BYE arrives, and the session task must know
            // by then that the close is the normal end (a fresh-clone CI
            // run lost that race once, with this thread preempted between
            // the send and the mark).
            self.state.lock().unwrap().rtcp_eos = true;
        }
        match route {
            Route::Interleaved { writer, rtcp, .. } => {
                let mut frame = Vec::with_capacity(map.len() + 4);
                if encode_interleaved(rtcp, &map, &mut frame).is_ok() {
                    let _ = writer.try_send(Bytes::from(frame));
                }
            }
            Route::Udp(udp) => {
                let _ = udp.rtcp_socket.try_send_to(&map, udp.rtcp);
            }
        }
        if bye {
            gst::debug!(CAT, obj = self.rtcp_pad, "BYE sent");
            if let Some(control) = self.control.upgrade() {
                control.changed.notify_one();
            }
        }
    }

    /// RTCP from the server (receiver reports) into rtpbin.
    pub fn push_rtcp(&self, data: Bytes) {
        if self.flushing.load(Ordering::SeqCst) {
            return;
        }
        {
            let mut state = self.state.lock().unwrap();
            if !state.rtcp_in_started {
                state.rtcp_in_started = true;
                self.rtcp_in
                    .push_event(gst::event::StreamStart::builder(&self.stream_id).build());
                self.rtcp_in
                    .push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple(
                        "application/x-rtcp",
                    )));
                self.rtcp_in
                    .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
            }
        }
        // Flushing / not-linked while shutting down is nobody's error.
        let _ = self.rtcp_in.push(gst::Buffer::from_slice(data));
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
    match query.view_mut() {
        gst::QueryViewMut::Caps(q) => {
            let any = gst::Caps::new_empty_simple(media_type);
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
                .is_some_and(|s| s.name() == media_type);
            q.set_result(ok);
            true
        }
        _ => gst::Pad::query_default(pad, parent, query),
    }
}

/// Run `future` to completion from a streaming thread. Streaming threads
/// are normally GStreamer's own; if one is a worker of a multi-threaded
/// tokio runtime (a source pushing from it), step out of the worker first.
fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Ok(_) => {
            // A current-thread runtime cannot be blocked in; run the future
            // on a helper thread instead.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| runtime::handle().block_on(future))
                    .join()
                    .expect("send thread panicked")
            })
        }
        Err(_) => runtime::handle().block_on(future),
    }
}

/// The held packets, ready for [`StreamSender::send`].
fn held_batch(held: &[(gst::Buffer, Option<u16>)]) -> Vec<Outgoing<'_>> {
    held.iter()
        .map(|(buffer, seq)| Outgoing { buffer, seq: *seq })
        .collect()
}

/// Video packets held back at most, waiting for their frame's last one.
const MAX_HELD: usize = 64;

/// Whether an RTP packet has the marker bit: for video, the last packet of
/// a frame. Only its first two bytes are copied (mapping the buffer whole
/// would merge its memories, see `wire`); unreadable counts as the end.
fn ends_frame(packet: &gst::BufferRef) -> bool {
    let mut start = [0u8; 2];
    if packet.copy_to_slice(0, &mut start).is_err() {
        return true;
    }
    rtp::marker(&start).unwrap_or(true)
}
