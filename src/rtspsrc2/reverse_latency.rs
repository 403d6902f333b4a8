//! Latency of reverse playback of a plain VOD stream: a decoder playing
//! in reverse shows a group of pictures only once the next group starts
//! (its DISCONT ends the group it gathers), and the server sends a group
//! when its display begins (docs/QUIRKS.md "Reverse playback on
//! gst-rtsp-server"). Every frame therefore reaches the sink up to one
//! group's distance in arrival time (the group length over |rate|) after
//! its running time. The element adds that distance, as soon as a stream
//! shows it, to the latency its pads answer and posts LATENCY so that the
//! pipeline takes it: synchronising sinks then play the groups in time
//! instead of dropping them. A forward seek takes it away again.

use std::sync::atomic::{AtomicU64, Ordering};

/// Time for decoding and handing on a group, on top of the distance.
const MARGIN_NS: u64 = 150_000_000;

#[derive(Default)]
pub struct ReverseLatency {
    extra_ns: AtomicU64,
}

impl ReverseLatency {
    /// A stream's groups arrive `distance_ns` apart: raise the extra
    /// latency to cover it. True if it grew (LATENCY must be posted).
    pub fn cover(&self, distance_ns: u64) -> bool {
        let wanted = distance_ns.saturating_add(MARGIN_NS);
        self.extra_ns.fetch_max(wanted, Ordering::AcqRel) < wanted
    }

    /// Forward playback: no extra latency. True if there was some.
    pub fn clear(&self) -> bool {
        self.extra_ns.swap(0, Ordering::AcqRel) != 0
    }

    /// Add the extra latency to an answered latency query.
    pub fn add_to(&self, query: &mut gst::QueryRef) {
        let extra = gst::ClockTime::from_nseconds(self.extra_ns.load(Ordering::Acquire));
        if extra.is_zero() {
            return;
        }
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let (live, min, max) = q.result();
            q.set(live, min + extra, max.map(|max| max + extra));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_largest_distance_and_clears() {
        gst::init().unwrap();
        let latency = ReverseLatency::default();
        assert!(latency.cover(1_000_000_000));
        assert!(!latency.cover(500_000_000));
        let mut query = gst::query::Latency::new();
        query.set(
            true,
            gst::ClockTime::from_mseconds(200),
            gst::ClockTime::from_seconds(2),
        );
        latency.add_to(&mut query);
        assert_eq!(
            query.result(),
            (
                true,
                gst::ClockTime::from_mseconds(1350),
                Some(gst::ClockTime::from_mseconds(3150))
            )
        );
        assert!(latency.clear());
        assert!(!latency.clear());
    }
}
