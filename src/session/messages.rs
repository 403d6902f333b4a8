//! The bus messages a session posts through its element, and the counters
//! behind the reconnection fields of `stats`, the same for both elements.
//!
//! `rtspclient-reconnect` (element message): the session was lost;
//! fields `reason` (string, never with credentials), `attempt` (uint, 1
//! for the first attempt after a loss) and `delay-ms` (uint64, the wait
//! before that attempt). `rtspclient-reconnected`: the session plays or
//! records again; fields `attempts` (uint) and `outage-ms` (uint64).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;

use super::Events;

/// An element that runs sessions: its events go on its bus. Every
/// [`SessionElement`] is an [`Events`].
pub trait SessionElement: Send + Sync + 'static {
    /// The element and its counters, while this session is still its
    /// current one (a stopped element's late events are dropped).
    fn current(&self) -> Option<(gst::Element, Arc<ReconnectCounters>)>;
}

impl<T: SessionElement> Events for T {
    fn progress(&self, kind: gst::ProgressType, code: &str, text: &str) {
        if let Some((element, _)) = self.current() {
            post_progress(&element, kind, code, text);
        }
    }

    fn reconnecting(&self, reason: &str, attempt: u32, delay: Duration) {
        if let Some((element, counters)) = self.current() {
            post_reconnecting(&element, &counters, reason, attempt, delay);
        }
    }

    fn reconnected(&self, attempts: u32, outage: Duration) {
        if let Some((element, counters)) = self.current() {
            post_reconnected(&element, &counters, attempts, outage);
        }
    }
}

#[derive(Debug, Default)]
pub struct ReconnectCounters {
    losses: AtomicU64,
    recoveries: AtomicU64,
}

impl ReconnectCounters {
    /// `connection-losses` and `reconnections` for `stats`.
    pub fn add_to(&self, stats: gst::structure::Builder) -> gst::structure::Builder {
        stats
            .field("connection-losses", self.losses.load(Ordering::Relaxed))
            .field("reconnections", self.recoveries.load(Ordering::Relaxed))
    }
}

fn post_progress(element: &gst::Element, kind: gst::ProgressType, code: &str, text: &str) {
    gst::debug!(super::CAT, obj = element, "{text}");
    let _ = element.post_message(
        gst::message::Progress::builder(kind, code, text)
            .src(element)
            .build(),
    );
}

fn post_reconnecting(
    element: &gst::Element,
    counters: &ReconnectCounters,
    reason: &str,
    attempt: u32,
    delay: Duration,
) {
    if attempt == 1 {
        counters.losses.fetch_add(1, Ordering::Relaxed);
    }
    gst::warning!(
        super::CAT,
        obj = element,
        "Session lost ({reason}); reconnection attempt {attempt} in {delay:?}"
    );
    let structure = gst::Structure::builder("rtspclient-reconnect")
        .field("reason", reason)
        .field("attempt", attempt)
        .field("delay-ms", delay.as_millis() as u64)
        .build();
    let _ = element.post_message(
        gst::message::Element::builder(structure)
            .src(element)
            .build(),
    );
}

fn post_reconnected(
    element: &gst::Element,
    counters: &ReconnectCounters,
    attempts: u32,
    outage: Duration,
) {
    counters.recoveries.fetch_add(1, Ordering::Relaxed);
    gst::info!(
        super::CAT,
        obj = element,
        "Session recovered after {attempts} attempts and {outage:?}"
    );
    let structure = gst::Structure::builder("rtspclient-reconnected")
        .field("attempts", attempts)
        .field("outage-ms", outage.as_millis() as u64)
        .build();
    let _ = element.post_message(
        gst::message::Element::builder(structure)
            .src(element)
            .build(),
    );
}
