//! The threads that push jitterbuffer output downstream, shared by every
//! `rtplightjitterbuffer` in the process.
//!
//! Pushing downstream may block (a synchronising sink, a full queue), so
//! it cannot run on the I/O runtime, and a thread per stream costs a
//! wake-up and a context switch per frame and stream, which on a VM was
//! the largest single cost with hundreds of streams. Here streams with
//! output ready are put in one queue that a few workers serve:
//!
//! - output that is not urgent waits for a short tick, so one wake-up
//!   serves every stream that became ready meanwhile (the first packet of
//!   a stream, discontinuities and events are urgent);
//! - a stream is run by one worker at a time, so its pushes stay in order;
//! - when work waits and no worker has started a job for [`STALL`] (all
//!   are blocked downstream), another worker is started, so one blocked
//!   pipeline never holds up the others; workers that are merely slow (a
//!   saturated machine) still make progress and get no company, which
//!   would only add threads competing for the same cores; workers idle for
//!   [`IDLE_EXIT`] end, down to [`MIN_WORKERS`].

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::runtime;

/// How long output that is not urgent may wait to be pushed with others.
pub const TICK: Duration = Duration::from_millis(5);
/// No worker starting a job for this long while work waits starts one.
const STALL: Duration = Duration::from_millis(20);
const IDLE_EXIT: Duration = Duration::from_secs(30);
const MIN_WORKERS: usize = 1;
/// A bound on threads whatever happens downstream.
const MAX_WORKERS: usize = 4096;

/// A stream with output to push.
pub trait Job: Send + Sync + 'static {
    /// Push what is queued. Returns true when more was queued meanwhile
    /// (the job goes to the back of the queue again).
    fn run(&self) -> bool;
}

struct Ready {
    since: Instant,
    job: Arc<dyn Job>,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Ready>,
    workers: usize,
    /// Workers waiting for work.
    idle: usize,
    tick_armed: bool,
    /// When a worker last took a job.
    last_progress: Option<Instant>,
}

pub struct OutputPool {
    state: Mutex<State>,
    work: Condvar,
}

static POOL: LazyLock<OutputPool> = LazyLock::new(|| OutputPool {
    state: Mutex::new(State::default()),
    work: Condvar::new(),
});

pub fn pool() -> &'static OutputPool {
    &POOL
}

impl OutputPool {
    /// Queue `job`. The caller guarantees a job is queued or running at
    /// most once at a time.
    pub fn schedule(&'static self, job: Arc<dyn Job>, urgent: bool) {
        let mut state = self.state.lock().unwrap();
        state.ready.push_back(Ready {
            since: Instant::now(),
            job,
        });
        let busy = state.workers - state.idle;
        if state.workers < MIN_WORKERS {
            self.start_worker(&mut state);
        } else if busy > 0 && busy >= state.ready.len() {
            // A busy worker takes it when done: no wake-up needed, unless
            // they are all stuck, which the tick checks.
            self.arm_tick(&mut state);
        } else if state.idle > 0 && urgent {
            self.work.notify_one();
        } else {
            self.arm_tick(&mut state);
        }
    }

    fn arm_tick(&'static self, state: &mut State) {
        if std::mem::replace(&mut state.tick_armed, true) {
            return;
        }
        runtime::spawn_here(async move {
            tokio::time::sleep(TICK).await;
            self.tick();
        });
    }

    /// Wake a worker for what waited, or start one if all are stuck.
    fn tick(&'static self) {
        let mut state = self.state.lock().unwrap();
        state.tick_armed = false;
        let Some(oldest) = state.ready.front().map(|r| r.since) else {
            return;
        };
        let stuck =
            oldest.elapsed() >= STALL && state.last_progress.is_none_or(|t| t.elapsed() >= STALL);
        if state.idle > 0 {
            self.work.notify_one();
        } else if stuck && state.workers < MAX_WORKERS {
            self.start_worker(&mut state);
        }
        if !state.ready.is_empty() {
            // Look again: either a worker picks it up meanwhile or the
            // stall check above starts one.
            self.arm_tick(&mut state);
        }
    }

    fn start_worker(&'static self, state: &mut State) {
        let index = state.workers;
        let started = std::thread::Builder::new()
            .name(format!("rtspclient-out-{index}"))
            .spawn(move || self.worker());
        if started.is_ok() {
            state.workers += 1;
        }
    }

    fn worker(&'static self) {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(Ready { job, .. }) = state.ready.pop_front() {
                state.last_progress = Some(Instant::now());
                drop(state);
                let again = job.run();
                state = self.state.lock().unwrap();
                if again {
                    state.ready.push_back(Ready {
                        since: Instant::now(),
                        job,
                    });
                }
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self.work.wait_timeout(state, IDLE_EXIT).unwrap();
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.ready.is_empty() && state.workers > MIN_WORKERS {
                state.workers -= 1;
                return;
            }
        }
    }
}
