//! Element glue of `rtplightjitterbuffer`: pads, properties, signals and
//! output. The sink pad's chain function (the thread that pushes into
//! `rtpbin`, for `rtspsrc2` the shared I/O runtime) only orders and
//! timestamps packets in [`Reorder`] and queues what can leave; the
//! process-wide [`output_pool`] pushes each stream's queue downstream in
//! one go, and loss deadlines are timers on the shared runtime.
//! No thread belongs to a stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::Mode;
use super::output_pool::{self, Job};
use crate::runtime;
use rtspclient_protocol::jitter::clock_map::TimestampMode;
use rtspclient_protocol::jitter::reorder::{Limits, Released, Reorder, Stats};
use rtspclient_protocol::{rtcp, rtp};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtplightjitterbuffer",
        gst::DebugColorFlags::empty(),
        Some("Light RTP jitterbuffer"),
    )
});

const DEFAULT_LATENCY_MS: u32 = 200;
const DEFAULT_DROP_ON_LATENCY: bool = false;
const DEFAULT_DO_LOST: bool = false;
const DEFAULT_MODE: Mode = Mode::Slave;
const DEFAULT_TS_OFFSET: i64 = 0;
const DEFAULT_MAX_RTCP_RTP_TIME_DIFF_MS: i32 = 1000;

/// While no clock is known (not PLAYING yet) a pending loss deadline is
/// looked at again this often.
const NO_CLOCK_RECHECK: Duration = Duration::from_millis(50);
/// Below this latency output is pushed at once rather than with the
/// pool's next tick (which may add up to [`output_pool::TICK`]).
const BATCHING_MIN_LATENCY_MS: u32 = 100;
/// Output that downstream does not take in time is dropped rather than
/// queued without bound (a consumer slower than the stream): packets that
/// waited longer than this or twice the latency, whichever is more, and
/// anything beyond [`MAX_OUTPUT_QUEUE`] packets. They would be late for a
/// synchronising sink anyway.
const MIN_OUTPUT_AGE_LIMIT_NS: u64 = 1_000_000_000;
const MAX_OUTPUT_QUEUE: usize = 65_536;
/// Deactivation waits at most this long for a push in progress.
const DEACTIVATE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Settings {
    latency_ms: u32,
    drop_on_latency: bool,
    do_lost: bool,
    mode: Mode,
    ts_offset: i64,
    max_rtcp_rtp_time_diff_ms: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            latency_ms: DEFAULT_LATENCY_MS,
            drop_on_latency: DEFAULT_DROP_ON_LATENCY,
            do_lost: DEFAULT_DO_LOST,
            mode: DEFAULT_MODE,
            ts_offset: DEFAULT_TS_OFFSET,
            max_rtcp_rtp_time_diff_ms: DEFAULT_MAX_RTCP_RTP_TIME_DIFF_MS,
        }
    }
}

enum Output {
    /// A packet and the running time it arrived at.
    Buffer(gst::Buffer, u64),
    Event(gst::Event),
}

struct Shared {
    reorder: Option<Reorder<gst::Buffer>>,
    queue: VecDeque<Output>,
    released: Vec<Released<gst::Buffer>>,
    /// Queued in the output pool or being pushed by one of its workers.
    scheduled: bool,
    /// A pool worker is pushing our output right now.
    pushing: bool,
    /// Push every output at once (low latency), no batching.
    immediate: bool,
    /// The loss deadline a runtime timer is set for.
    deadline_armed: Option<u64>,
    flushing: bool,
    /// Last downstream flow result, returned to upstream.
    flow: Result<gst::FlowSuccess, gst::FlowError>,
    /// From the caps, or from `request-pt-map`.
    clock_rate: Option<u32>,
    clock_base: Option<u32>,
    payload_type: Option<u8>,
    ssrc: Option<u32>,
    warned_no_clock_rate: bool,
    /// Output dropped because downstream did not take it in time.
    dropped: u64,
    discont_after_drop: bool,
    /// Copies of settings used on the data path (no second lock there).
    latency_ns: u64,
    do_lost: bool,
    ts_offset: i64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            reorder: None,
            queue: VecDeque::new(),
            released: Vec::new(),
            scheduled: false,
            pushing: false,
            immediate: false,
            deadline_armed: None,
            flushing: true,
            flow: Ok(gst::FlowSuccess::Ok),
            clock_rate: None,
            clock_base: None,
            payload_type: None,
            ssrc: None,
            warned_no_clock_rate: false,
            dropped: 0,
            discont_after_drop: false,
            latency_ns: DEFAULT_LATENCY_MS as u64 * 1_000_000,
            do_lost: DEFAULT_DO_LOST,
            ts_offset: DEFAULT_TS_OFFSET,
        }
    }
}

impl Shared {
    /// Forget the stream (flush, restart); keeps the caps' clock rate.
    fn reset(&mut self) {
        self.reorder = None;
        self.queue.clear();
        self.released.clear();
        self.flow = Ok(gst::FlowSuccess::Ok);
        self.ssrc = None;
        self.deadline_armed = None;
    }

    /// Turn what the reorder logic released into pushable items. Returns
    /// whether any of it is urgent (a stream's first packet, a
    /// discontinuity, a loss).
    fn queue_released(&mut self) -> bool {
        let mut urgent = false;
        let mut latest = 0;
        let mut released = std::mem::take(&mut self.released);
        for released in released.drain(..) {
            match released {
                Released::Packet {
                    item: mut buffer,
                    pts,
                    arrival,
                    discont,
                    ..
                } => {
                    urgent |= discont;
                    let b = buffer.make_mut();
                    b.set_pts(with_offset(pts, self.ts_offset));
                    // RTP time is a presentation time; the decode time is
                    // not known here. The arrival time the packet came
                    // with is no decode time either: all but the least
                    // delayed packets arrive after their PTS (B-frames by
                    // frames), and a DTS after the PTS (GStreamer wants
                    // DTS <= PTS) made parsers and decoders downstream
                    // re-time or drop frames. rtpjitterbuffer's output
                    // reaches depayloaders without a DTS as well.
                    b.set_dts(gst::ClockTime::NONE);
                    if discont {
                        b.set_flags(gst::BufferFlags::DISCONT);
                    }
                    self.queue.push_back(Output::Buffer(buffer, arrival));
                    latest = latest.max(arrival);
                }
                Released::Lost {
                    seq,
                    count,
                    pts,
                    duration,
                } => {
                    if !self.do_lost {
                        continue;
                    }
                    // The event rtpjitterbuffer sends and depayloaders
                    // understand (one per gap here, spanning all of it).
                    let s = gst::Structure::builder("GstRTPPacketLost")
                        .field("seqnum", seq as u32)
                        .field("timestamp", with_offset(pts, self.ts_offset).nseconds())
                        .field("duration", duration)
                        .field("retry", 0u32)
                        .field("might-have-been-fec", false)
                        .field("count", count)
                        .build();
                    self.queue
                        .push_back(Output::Event(gst::event::CustomDownstream::new(s)));
                    urgent = true;
                }
            }
        }
        self.released = released;
        self.drop_stale_output(latest);
        urgent
    }
}

impl Shared {
    /// Bound the output queue (see [`MAX_OUTPUT_QUEUE`]); events stay.
    /// A batch a worker has already taken (`run_output` swaps the whole
    /// queue out) is pushed as it is: it was within these bounds when
    /// taken, so at most one more bounded queue is held while downstream
    /// stalls.
    fn drop_stale_output(&mut self, now: u64) {
        let age_limit = (2 * self.latency_ns).max(MIN_OUTPUT_AGE_LIMIT_NS);
        while let Some(Output::Buffer(_, arrival)) = self.queue.front() {
            if self.queue.len() <= MAX_OUTPUT_QUEUE && arrival.saturating_add(age_limit) >= now {
                break;
            }
            self.queue.pop_front();
            self.dropped += 1;
            self.discont_after_drop = true;
        }
    }
}

/// What the output pool runs for one element.
struct StreamJob {
    element: glib::WeakRef<super::LightJitterBuffer>,
}

impl Job for StreamJob {
    fn run(&self) -> bool {
        match self.element.upgrade() {
            Some(element) => element.imp().run_output(),
            None => false,
        }
    }
}

fn with_offset(time: u64, offset: i64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(time.saturating_add_signed(offset))
}

pub struct LightJitterBuffer {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    shared: Mutex<Shared>,
    /// Signalled when a push by a pool worker ends.
    push_done: Condvar,
    /// The pool worker's second queue, swapped with the shared one.
    spare: Mutex<VecDeque<Output>>,
    /// Length of the output queue the last time it changed, for readers
    /// that must not take the lock (see [`Self::backlog`]).
    backlog: AtomicUsize,
    job: OnceLock<Arc<dyn Job>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LightJitterBuffer {
    const NAME: &'static str = "GstRtpLightJitterBuffer";
    type Type = super::LightJitterBuffer;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.receive(std::iter::once(buffer)),
                )
            })
            .chain_list_function(|_pad, parent, mut list| {
                // Take the buffers out of the list rather than sharing
                // them with it: setting their timestamps would copy each
                // one while the list still holds a reference.
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.receive(list.make_mut().drain(..)),
                )
            })
            .event_function(|pad, parent, event| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad, query),
                )
            })
            .iterate_internal_links_function(|_pad, parent| {
                // Only src: the default would also pair sink_rtcp with src,
                // and proxied caps queries would intersect RTP with RTCP.
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || gst::Iterator::from_vec(vec![]),
                    |imp| gst::Iterator::from_vec(vec![imp.srcpad.clone()]),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap())
            .activatemode_function(|pad, parent, mode, active| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic in activation")),
                    |imp| imp.src_activate(pad, mode, active),
                )
            })
            .event_function(|_pad, parent, event| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sinkpad.push_event(event),
                )
            })
            .query_function(|pad, parent, query| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .iterate_internal_links_function(|_pad, parent| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || gst::Iterator::from_vec(vec![]),
                    |imp| gst::Iterator::from_vec(vec![imp.sinkpad.clone()]),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        LightJitterBuffer {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            shared: Mutex::new(Shared::default()),
            push_done: Condvar::new(),
            spare: Mutex::new(VecDeque::new()),
            backlog: AtomicUsize::new(0),
            job: OnceLock::new(),
        }
    }
}

impl LightJitterBuffer {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap()
    }

    fn latency_ns(&self) -> u64 {
        self.settings.lock().unwrap().latency_ms as u64 * 1_000_000
    }

    fn running_time_now(&self) -> Option<u64> {
        self.obj().current_running_time().map(|t| t.nseconds())
    }

    /// The clock rate of payload type `pt`: from the caps, else asked
    /// from `rtpbin` with `request-pt-map` (without holding our lock).
    fn ensure_clock_rate<'a>(
        &'a self,
        mut shared: MutexGuard<'a, Shared>,
        pt: u8,
    ) -> MutexGuard<'a, Shared> {
        if shared.clock_rate.is_some() && shared.payload_type.is_none_or(|p| p == pt) {
            shared.payload_type = Some(pt);
            return shared;
        }
        if shared.payload_type.is_some_and(|p| p != pt) {
            // A payload type change may change the clock rate: start over.
            shared.clock_rate = None;
            shared.reorder = None;
        }
        drop(shared);
        let caps = self
            .obj()
            .emit_by_name::<Option<gst::Caps>>("request-pt-map", &[&(pt as u32)]);
        let rate = caps.as_ref().and_then(|c| {
            let s = c.structure(0)?;
            s.get::<i32>("clock-rate")
                .ok()
                .filter(|r| *r > 0)
                .map(|r| r as u32)
        });
        let mut shared = self.lock();
        shared.payload_type = Some(pt);
        if rate.is_some() {
            shared.clock_rate = rate;
        }
        shared
    }

    fn new_reorder(&self, clock_rate: u32) -> Reorder<gst::Buffer> {
        let settings = self.settings.lock().unwrap().clone();
        let mode = match settings.mode {
            Mode::Slave | Mode::Buffer => TimestampMode::Slave,
            Mode::None | Mode::Synced => TimestampMode::RtpOnly,
        };
        let limits = Limits {
            latency: settings.latency_ms as u64 * 1_000_000,
            ..Limits::default()
        };
        Reorder::new(limits, mode, clock_rate)
    }

    /// Chain function for buffers and lists.
    fn receive(
        &self,
        buffers: impl Iterator<Item = gst::Buffer>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut now = None;
        let mut shared = self.lock();
        if shared.flushing {
            return Err(gst::FlowError::Flushing);
        }
        for buffer in buffers {
            let mut header = [0u8; 12];
            let Some(rtp) = buffer
                .copy_to_slice(0, &mut header)
                .ok()
                .and_then(|()| rtp::parse_header(&header))
            else {
                gst::debug!(CAT, imp = self, "Dropping a buffer that is not RTP");
                continue;
            };
            if shared.reorder.is_none() || shared.payload_type != Some(rtp.payload_type) {
                shared = self.ensure_clock_rate(shared, rtp.payload_type);
                if shared.flushing {
                    return Err(gst::FlowError::Flushing);
                }
                let Some(rate) = shared.clock_rate else {
                    if !std::mem::replace(&mut shared.warned_no_clock_rate, true) {
                        gst::element_imp_warning!(
                            self,
                            gst::StreamError::Decode,
                            [
                                "No clock-rate for payload type {}: dropping its packets",
                                rtp.payload_type
                            ]
                        );
                    }
                    continue;
                };
                if shared.reorder.is_none() {
                    shared.reorder = Some(self.new_reorder(rate));
                }
            }
            shared.ssrc = Some(rtp.ssrc);
            let arrival = match buffer.dts().or(buffer.pts()) {
                Some(t) => t.nseconds(),
                None => *now.get_or_insert_with(|| self.running_time_now().unwrap_or(0)),
            };
            let Shared {
                reorder, released, ..
            } = &mut *shared;
            let reorder = reorder.as_mut().expect("created above");
            reorder.push(rtp.seq, rtp.rtptime, arrival, buffer, released);
        }
        let urgent = shared.queue_released();
        self.schedule_output(&mut shared, urgent);
        self.arm_deadline(&mut shared);
        shared.flow
    }

    /// Output waiting for the pool worker. A receive path that can slow
    /// its sender (TCP) reads less while this is high, so a consumer that
    /// cannot keep up slows the server down instead of its packets being
    /// dropped here after a second in the queue.
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::FlushStart(_) => {
                let forwarded = self.srcpad.push_event(event);
                self.lock().flushing = true;
                forwarded
            }
            EventView::FlushStop(_) => {
                let forwarded = self.srcpad.push_event(event);
                let mut shared = self.lock();
                shared.reset();
                shared.flushing = false;
                forwarded
            }
            EventView::Caps(caps) => {
                let s = caps.caps().structure(0);
                let rate = s
                    .and_then(|s| s.get::<i32>("clock-rate").ok())
                    .filter(|r| *r > 0)
                    .map(|r| r as u32);
                let base = s.and_then(|s| s.get::<u32>("clock-base").ok());
                let mut shared = self.lock();
                if rate.is_some() && rate != shared.clock_rate {
                    if shared.clock_rate.is_some() {
                        shared.reorder = None;
                    }
                    shared.clock_rate = rate;
                }
                shared.clock_base = base;
                self.enqueue_event(shared, event)
            }
            EventView::Eos(_) => {
                let mut shared = self.lock();
                let Shared {
                    reorder, released, ..
                } = &mut *shared;
                if let Some(reorder) = reorder.as_mut() {
                    reorder.drain(released);
                }
                shared.queue_released();
                self.enqueue_event(shared, event)
            }
            _ if event.is_serialized() => {
                let shared = self.lock();
                self.enqueue_event(shared, event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    /// Serialized events go out in order with the packets.
    fn enqueue_event(&self, mut shared: MutexGuard<'_, Shared>, event: gst::Event) -> bool {
        if shared.flushing {
            return false;
        }
        shared.queue.push_back(Output::Event(event));
        self.schedule_output(&mut shared, true);
        true
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            // Our latency comes on top of what is upstream, as with
            // rtpjitterbuffer: sinks then wait long enough for a packet
            // that was held back behind a gap.
            let mut upstream = gst::query::Latency::new();
            if !self.sinkpad.peer_query(&mut upstream) {
                return false;
            }
            let (live, min, max) = upstream.result();
            let ours = gst::ClockTime::from_nseconds(self.latency_ns());
            q.set(live, min + ours, max.map(|m| m + ours));
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn src_activate(
        &self,
        _pad: &gst::Pad,
        mode: gst::PadMode,
        active: bool,
    ) -> Result<(), gst::LoggableError> {
        if mode != gst::PadMode::Push {
            return Err(gst::loggable_error!(CAT, "only push mode"));
        }
        let mut shared = self.lock();
        if active {
            shared.reset();
            shared.flushing = false;
            return Ok(());
        }
        // Nothing is pushed after deactivation: wait (bounded) for a push
        // in progress, which downstream's flushing ends quickly.
        shared.flushing = true;
        let deadline = Instant::now() + DEACTIVATE_WAIT;
        while shared.pushing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                gst::warning!(CAT, imp = self, "A push did not end on deactivation");
                break;
            }
            shared = self.push_done.wait_timeout(shared, left).unwrap().0;
        }
        Ok(())
    }

    /// Hand our queue to the output pool unless it is there already.
    /// Every path that queues output comes through here, so this is also
    /// where the lock-free [`Self::backlog`] is brought up to date.
    fn schedule_output(&self, shared: &mut Shared, urgent: bool) {
        self.backlog.store(shared.queue.len(), Ordering::Relaxed);
        if shared.queue.is_empty() || shared.scheduled || shared.flushing {
            return;
        }
        let Some(job) = self.job.get() else { return };
        shared.scheduled = true;
        output_pool::pool().schedule(job.clone(), urgent || shared.immediate);
    }

    /// A timer on the shared runtime for the next loss deadline, if any.
    fn arm_deadline(&self, shared: &mut Shared) {
        let Some(deadline) = shared.reorder.as_ref().and_then(|r| r.next_deadline()) else {
            return;
        };
        if shared.deadline_armed.is_some_and(|armed| armed <= deadline) {
            return;
        }
        shared.deadline_armed = Some(deadline);
        let delay = match self.running_time_now() {
            Some(now) => Duration::from_nanos(deadline.saturating_sub(now)),
            None => NO_CLOCK_RECHECK,
        };
        let weak = self.obj().downgrade();
        runtime::spawn_here(async move {
            tokio::time::sleep(delay).await;
            if let Some(element) = weak.upgrade() {
                element.imp().expire_due(deadline);
            }
        });
    }

    /// A loss deadline's timer fired: give up what waited too long.
    fn expire_due(&self, armed_for: u64) {
        let mut shared = self.lock();
        if shared.deadline_armed == Some(armed_for) {
            shared.deadline_armed = None;
        }
        if shared.flushing {
            return;
        }
        if let Some(now) = self.running_time_now() {
            let Shared {
                reorder, released, ..
            } = &mut *shared;
            if let Some(reorder) = reorder.as_mut() {
                reorder.expire(now, released);
            }
        }
        let urgent = shared.queue_released();
        self.schedule_output(&mut shared, urgent);
        self.arm_deadline(&mut shared);
    }

    /// Run by an output pool worker: push everything queued. Returns true
    /// when more was queued meanwhile.
    fn run_output(&self) -> bool {
        let mut spare = self.spare.lock().unwrap();
        let discont = {
            let mut shared = self.lock();
            if shared.flushing || shared.queue.is_empty() || shared.flow.is_err() {
                shared.scheduled = false;
                return false;
            }
            std::mem::swap(&mut shared.queue, &mut *spare);
            self.backlog.store(0, Ordering::Relaxed);
            shared.pushing = true;
            std::mem::take(&mut shared.discont_after_drop)
        };
        let result = self.push_all(&mut spare, discont);
        spare.clear();
        drop(spare);
        let mut shared = self.lock();
        shared.pushing = false;
        // Only deactivation waits for a push, and it sets `flushing` under
        // this lock first. std's condvar makes a system call for every
        // notify, waiter or not: at 256 streams that was 17k futex calls a
        // second.
        if shared.flushing {
            self.push_done.notify_all();
        }
        if let Err(err) = result {
            shared.flow = Err(err);
            shared.scheduled = false;
            drop(shared);
            gst::debug!(CAT, imp = self, "Output stopped: {err:?}");
            if !matches!(
                err,
                gst::FlowError::Eos | gst::FlowError::Flushing | gst::FlowError::NotLinked
            ) {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Internal data stream error."),
                    ["streaming stopped, reason {err:?}"]
                );
            }
            return false;
        }
        if shared.flushing || shared.queue.is_empty() {
            shared.scheduled = false;
            return false;
        }
        true
    }

    /// Push items in order, one buffer at a time. Not as buffer lists:
    /// GStreamer 1.22's depayloaders (rtpbasedepayload's list path) then
    /// leave some outputs without a PTS (mp4mux: "Buffer has no PTS"; 3 of
    /// 8 loaded runs of `eos_event_finishes_an_mp4_recording`, 0 of 8 with
    /// single buffers).
    /// `discont`: output before these was dropped.
    fn push_all(
        &self,
        items: &mut VecDeque<Output>,
        mut discont: bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        for item in items.drain(..) {
            match item {
                Output::Buffer(mut buffer, _) => {
                    if std::mem::take(&mut discont) {
                        buffer.make_mut().set_flags(gst::BufferFlags::DISCONT);
                    }
                    self.srcpad.push(buffer)?;
                }
                Output::Event(event) => {
                    let eos = event.type_() == gst::EventType::Eos;
                    self.srcpad.push_event(event);
                    if eos {
                        return Err(gst::FlowError::Eos);
                    }
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// `sink_rtcp`: sender reports of our SSRC become `handle-sync`, from
    /// which `rtpbin` computes the `ts-offset` that aligns streams.
    fn receive_rtcp(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(report) = buffer
            .map_readable()
            .ok()
            .and_then(|map| rtcp::find_sender_report(&map))
        else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let max_diff_ms = self.settings.lock().unwrap().max_rtcp_rtp_time_diff_ms;
        let sync = {
            let shared = self.lock();
            let Some(reorder) = shared.reorder.as_ref() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if shared.ssrc != Some(report.ssrc) {
                return Ok(gst::FlowSuccess::Ok);
            }
            let Some(point) = reorder.sync_point() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            let rate = reorder.clock_rate();
            let sr_ext = reorder.extend_report_rtptime(report.rtptime);
            if max_diff_ms >= 0
                && let Some(last) = reorder.last_rtptime()
                && sr_ext.abs_diff(last) > rate as u64 * max_diff_ms as u64 / 1000
            {
                gst::debug!(
                    CAT,
                    imp = self,
                    "Ignoring a sender report {} ticks away from the packets",
                    sr_ext.abs_diff(last)
                );
                return Ok(gst::FlowSuccess::Ok);
            }
            let clock_base = shared
                .clock_base
                .map_or(u64::MAX, |b| reorder.extend_report_rtptime(b));
            gst::Structure::builder("application/x-rtp-sync")
                .field("base-rtptime", point.base_rtptime)
                .field("base-time", point.base_time)
                .field("clock-rate", rate)
                .field("clock-base", clock_base)
                .field("sr-ext-rtptime", sr_ext)
                .field("sr-buffer", buffer)
                .build()
        };
        self.obj().emit_by_name::<()>("handle-sync", &[&sync]);
        Ok(gst::FlowSuccess::Ok)
    }

    fn stats(&self) -> gst::Structure {
        let shared = self.lock();
        let stats = shared
            .reorder
            .as_ref()
            .map(|r| r.stats())
            .unwrap_or_default();
        let Stats {
            pushed,
            lost,
            late,
            duplicates,
            resyncs,
        } = stats;
        gst::Structure::builder("application/x-rtp-jitterbuffer-stats")
            .field("num-pushed", pushed)
            .field("num-lost", lost)
            .field("num-late", late)
            .field("num-duplicates", duplicates)
            .field("num-resyncs", resyncs)
            .field("num-dropped", shared.dropped)
            .field(
                "num-held",
                shared.reorder.as_ref().map_or(0, |r| r.held()) as u64,
            )
            .build()
    }
}

impl ObjectImpl for LightJitterBuffer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("latency")
                    .nick("Latency (ms)")
                    .blurb("How long a missing packet is waited for before it counts as lost; added to the pipeline latency")
                    .default_value(DEFAULT_LATENCY_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("drop-on-latency")
                    .nick("Drop on latency")
                    .blurb("Accepted for rtpbin compatibility: this jitterbuffer never holds more than latency's worth of packets anyway")
                    .default_value(DEFAULT_DROP_ON_LATENCY)
                    .build(),
                glib::ParamSpecBoolean::builder("do-lost")
                    .nick("Do lost")
                    .blurb("Send a GstRTPPacketLost event downstream for each gap given up")
                    .default_value(DEFAULT_DO_LOST)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", DEFAULT_MODE)
                    .nick("Mode")
                    .blurb("Timestamping: none uses RTP times from the first arrival on, slave follows the sender's clock drift (buffer acts as slave, synced as none)")
                    .build(),
                glib::ParamSpecInt64::builder("ts-offset")
                    .nick("Timestamp offset (ns)")
                    .blurb("Added to outgoing timestamps; rtpbin sets it for lip-sync between streams")
                    .default_value(DEFAULT_TS_OFFSET)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt::builder("max-rtcp-rtp-time-diff")
                    .nick("Max RTCP RTP time difference (ms)")
                    .blurb("Ignore sender reports whose RTP time is further than this from the packets' (-1 = never ignore)")
                    .minimum(-1)
                    .default_value(DEFAULT_MAX_RTCP_RTP_TIME_DIFF_MS)
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("num-pushed, num-lost, num-late, num-duplicates, num-resyncs, num-held")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                // Asked when the caps carry no clock-rate; rtpbin answers.
                glib::subclass::Signal::builder("request-pt-map")
                    .param_types([u32::static_type()])
                    .return_type::<Option<gst::Caps>>()
                    .build(),
                // A sender report of our SSRC with the current RTP to
                // running-time relation; rtpbin's lip-sync listens.
                glib::subclass::Signal::builder("handle-sync")
                    .param_types([gst::Structure::static_type()])
                    .build(),
                glib::subclass::Signal::builder("clear-pt-map")
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::LightJitterBuffer>().expect("self");
                        let mut shared = element.imp().lock();
                        shared.clock_rate = None;
                        shared.payload_type = None;
                        None
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "latency" => {
                settings.latency_ms = value.get().expect("type checked upstream");
                let latency = settings.latency_ms as u64 * 1_000_000;
                drop(settings);
                let mut shared = self.lock();
                shared.latency_ns = latency;
                shared.immediate = latency < BATCHING_MIN_LATENCY_MS as u64 * 1_000_000;
                if let Some(reorder) = shared.reorder.as_mut() {
                    reorder.set_latency(latency);
                }
                drop(shared);
                let _ = self
                    .obj()
                    .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
            }
            "drop-on-latency" => settings.drop_on_latency = value.get().expect("type checked"),
            "do-lost" => {
                settings.do_lost = value.get().expect("type checked");
                let do_lost = settings.do_lost;
                drop(settings);
                self.lock().do_lost = do_lost;
            }
            "mode" => settings.mode = value.get().expect("type checked"),
            "ts-offset" => {
                settings.ts_offset = value.get().expect("type checked");
                let offset = settings.ts_offset;
                drop(settings);
                self.lock().ts_offset = offset;
            }
            "max-rtcp-rtp-time-diff" => {
                settings.max_rtcp_rtp_time_diff_ms = value.get().expect("type checked")
            }
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap().clone();
        match pspec.name() {
            "latency" => settings.latency_ms.to_value(),
            "drop-on-latency" => settings.drop_on_latency.to_value(),
            "do-lost" => settings.do_lost.to_value(),
            "mode" => settings.mode.to_value(),
            "ts-offset" => settings.ts_offset.to_value(),
            "max-rtcp-rtp-time-diff" => settings.max_rtcp_rtp_time_diff_ms.to_value(),
            "stats" => self.stats().to_value(),
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let job: Arc<dyn Job> = Arc::new(StreamJob {
            element: self.obj().downgrade(),
        });
        let _ = self.job.set(job);
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("fresh pad");
        obj.add_pad(&self.srcpad).expect("fresh pad");
    }
}

impl GstObjectImpl for LightJitterBuffer {}

impl ElementImpl for LightJitterBuffer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Light RTP jitterbuffer",
                "Filter/Network/RTP",
                "Reorders RTP packets within the latency, timestamps them from the sender's clock and reports losses, with one thread per stream (used by rtspsrc2 inside rtpbin)",
                "rtspclient developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let rtp = gst::Caps::new_empty_simple("application/x-rtp");
            let rtcp = gst::Caps::new_empty_simple("application/x-rtcp");
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &rtp,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &rtp,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "sink_rtcp",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &rtcp,
                )
                .expect("valid template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        if templ.name_template() != "sink_rtcp" || self.obj().static_pad("sink_rtcp").is_some() {
            return None;
        }
        let pad = gst::Pad::builder_from_template(templ)
            .name("sink_rtcp")
            .chain_function(|_pad, parent, buffer| {
                LightJitterBuffer::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.receive_rtcp(buffer),
                )
            })
            // RTCP's stream-start, caps, segment and EOS stop here.
            .event_function(|_pad, _parent, _event| true)
            .build();
        pad.set_active(true).ok()?;
        self.obj().add_pad(&pad).ok()?;
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let _ = pad.set_active(false);
        let _ = self.obj().remove_pad(pad);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            let (do_lost, ts_offset, latency_ms) = {
                let s = self.settings.lock().unwrap();
                (s.do_lost, s.ts_offset, s.latency_ms)
            };
            let mut shared = self.lock();
            shared.reset();
            shared.do_lost = do_lost;
            shared.ts_offset = ts_offset;
            shared.immediate = latency_ms < BATCHING_MIN_LATENCY_MS;
            shared.latency_ns = latency_ms as u64 * 1_000_000;
        }
        let result = self.parent_change_state(transition)?;
        // Like rtpjitterbuffer: a live element, it cannot preroll.
        match transition {
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                Ok(gst::StateChangeSuccess::NoPreroll)
            }
            _ => Ok(result),
        }
    }
}
