//! The state `rtspsink`'s element, its streams' pads and the record task
//! share: where the record task is ([`Phase`]), the run's settings, the
//! pipeline clock, and the wake-ups between them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use gst::prelude::*;
use tokio::sync::Notify;

use super::{Reporter, StreamSender};
use crate::driver::error::ClientError;
use crate::rtspsink::settings::Backpressure;

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

pub struct ControlState {
    pub phase: Phase,
    pub run: Option<RunConfig>,
    /// Pipeline clock and base time while PLAYING.
    pub(super) clock: Option<(gst::Clock, gst::ClockTime)>,
    /// Running time when the pipeline last paused.
    pub(super) paused_at: gst::ClockTime,
    pub(super) latency: gst::ClockTime,
    /// Every stream of the element, in pad order.
    pub streams: Vec<Arc<StreamSender>>,
    /// ANNOUNCE sent: the set of streams is fixed.
    pub announced: bool,
}

impl ControlState {
    /// The pipeline's running time now (PLAYING), or where it paused.
    pub(super) fn running_time_now(&self) -> gst::ClockTime {
        match &self.clock {
            Some((clock, base)) => clock.time().saturating_sub(*base),
            None => self.paused_at,
        }
    }
}

/// State shared by the element, its streams' pads and the record task.
pub struct Control {
    state: Mutex<ControlState>,
    /// Wakes streaming threads waiting for RECORD or for PLAYING.
    pub(super) cond: Condvar,
    /// Wakes the record task when a stream got its first buffer or EOS.
    pub changed: Notify,
    pub dropped: AtomicU64,
    /// Announcements of this run that fell back from RTP/AVPF with RTX to
    /// plain RTP/AVP because the server refused them.
    pub avp_fallbacks: AtomicU32,
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
            avp_fallbacks: AtomicU32::new(0),
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
        self.avp_fallbacks.store(0, Ordering::Relaxed);
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

    pub(super) fn count_drops(&self, stream: usize, packets: usize) {
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
