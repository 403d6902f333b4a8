//! Mapping RTP time to the receiver's running time.
//!
//! A packet's presentation time is `base_time + (rtptime - base_rtptime) /
//! clock_rate`, plus (in slave mode) a skew term that follows the sender's
//! clock drift. The skew is the smallest transit delay seen over a sliding
//! window: the least delayed packets show the clocks' relation best (the
//! same idea as `rtpjitterbuffer`'s skew estimation, after Fober, Orlarey
//! and Letz, "Real Time Clock Skew Estimation over Network Delays").
//! Packets delayed by jitter get the timestamp they would have had without
//! it, so frames leave evenly spaced.

use std::collections::VecDeque;

pub const SECOND: i64 = 1_000_000_000;

/// How far back the minimum delay is taken from.
const WINDOW: i64 = 2 * SECOND;
/// Time constant with which the skew follows the window's minimum, from
/// the first packet on: slow enough that one quiet period on the network
/// does not move frames, fast enough for drifting cameras. Never at once,
/// not even at the start: a server that sends ahead of real time (a file
/// served over TCP sends its first frames in a burst, up to its own
/// latency ahead of the first one) would otherwise move every frame after
/// the first hundreds of milliseconds earlier at one go, so the second
/// frame got the first one's timestamp and B-frames came before it
/// (`h264parse` then drops the repeated timestamp, `mp4mux` fails with
/// "Buffer has no PTS", and decoders and sinks take the frames for late).
const SMOOTHING: i64 = 4 * SECOND;
/// A packet a second later than the mapping says (the network stalled,
/// or RTP time went back), or a second earlier than the window's least
/// delayed packet at one step (RTP time jumped forward: the sender
/// restarted), starts the mapping over, as `rtpjitterbuffer` does at one
/// second. A sender that runs ahead gradually (a burst) is followed.
const RESYNC: i64 = SECOND;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampMode {
    /// Only RTP timestamps from the first packet's arrival on.
    RtpOnly,
    /// Follow the sender's clock drift (skew estimation).
    Slave,
}

#[derive(Debug, Clone)]
pub struct ClockMap {
    mode: TimestampMode,
    clock_rate: u32,
    base: Option<Base>,
    /// Ascending minima of (arrival, delay) over the window.
    minima: VecDeque<(i64, i64)>,
    skew: i64,
    last_update: i64,
    last_out: Option<(u64, i64)>,
}

#[derive(Debug, Clone, Copy)]
struct Base {
    rtptime: u64,
    arrival: i64,
}

/// The relation the mapping currently uses, for RTCP lip-sync
/// (`rtpbin`'s `handle-sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPoint {
    pub base_rtptime: u64,
    pub base_time: u64,
}

/// Result of timestamping one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub pts: u64,
    /// The mapping restarted at this packet.
    pub resynced: bool,
}

impl ClockMap {
    pub fn new(mode: TimestampMode, clock_rate: u32) -> Self {
        ClockMap {
            mode,
            clock_rate: clock_rate.max(1),
            base: None,
            minima: VecDeque::new(),
            skew: 0,
            last_update: 0,
            last_out: None,
        }
    }

    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    fn rtp_to_ns(&self, rtp_delta: i64) -> i64 {
        let ns = rtp_delta as i128 * SECOND as i128 / self.clock_rate as i128;
        ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// Timestamp a packet with extended RTP time `rtptime` that arrived at
    /// running time `arrival` (ns).
    pub fn stamp(&mut self, rtptime: u64, arrival: u64) -> Stamp {
        let arrival = arrival as i64;
        let mut resynced = false;
        let base = match self.base {
            Some(base) => base,
            None => self.restart(rtptime, arrival),
        };
        // Saturating: RTP times are the sender's to choose, and a sender
        // that jumps far ahead over and over (or a clock-rate of 1 in the
        // SDP) takes these sums past i64 (a panic with overflow checks).
        let mut send = self.rtp_to_ns((rtptime as i64).saturating_sub(base.rtptime as i64));
        let mut delay = arrival.saturating_sub(base.arrival).saturating_sub(send);
        if self.mode == TimestampMode::Slave && self.jumped(delay) {
            let base = self.restart(rtptime, arrival);
            send = 0;
            delay = arrival - base.arrival;
            resynced = true;
        }
        if self.mode == TimestampMode::Slave {
            self.track_skew(arrival, delay);
        }
        let base = self.base.expect("set above");
        let mut pts = base
            .arrival
            .saturating_add(send)
            .saturating_add(self.skew)
            .max(0);
        // Frames whose RTP time does not go back never get an earlier
        // timestamp than the previous one (the skew may have just dropped).
        if let Some((last_rtp, last_pts)) = self.last_out
            && rtptime >= last_rtp
            && pts < last_pts
            && !resynced
        {
            pts = last_pts;
        }
        self.last_out = Some((rtptime, pts));
        Stamp {
            pts: pts as u64,
            resynced,
        }
    }

    fn restart(&mut self, rtptime: u64, arrival: i64) -> Base {
        let base = Base { rtptime, arrival };
        self.base = Some(base);
        self.minima.clear();
        self.skew = 0;
        self.last_update = arrival;
        self.last_out = None;
        base
    }

    /// See [`RESYNC`].
    fn jumped(&self, delay: i64) -> bool {
        let floor = self.minima.front().map_or(self.skew, |&(_, d)| d);
        delay.saturating_sub(self.skew) > RESYNC || floor.saturating_sub(delay) > RESYNC
    }

    fn track_skew(&mut self, arrival: i64, delay: i64) {
        while self.minima.back().is_some_and(|&(_, d)| d >= delay) {
            self.minima.pop_back();
        }
        self.minima.push_back((arrival, delay));
        while self
            .minima
            .front()
            .is_some_and(|&(t, _)| t < arrival - WINDOW)
        {
            self.minima.pop_front();
        }
        let window_min = self.minima.front().map_or(delay, |&(_, d)| d);
        // Packets of one burst arrive at about the same time: the skew
        // moves with time, not per packet (see SMOOTHING).
        let elapsed = (arrival - self.last_update).clamp(0, SMOOTHING);
        self.last_update = arrival;
        let step =
            ((window_min as i128 - self.skew as i128) * elapsed as i128 / SMOOTHING as i128) as i64;
        self.skew += step;
    }

    /// The current RTP-to-running-time relation (without any ts-offset).
    pub fn sync_point(&self) -> Option<SyncPoint> {
        let base = self.base?;
        Some(SyncPoint {
            base_rtptime: base.rtptime,
            base_time: (base.arrival + self.skew).max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ticks(ms: u64) -> u64 {
        ms * 90
    }

    /// RTP times are the sender's: one far enough ahead (here with a
    /// clock-rate of 1 from the SDP) saturates the timestamp instead of
    /// wrapping it or, with overflow checks, panicking. This jump is
    /// 2^63 - 512 ns once multiplied out and cut to 64 bits, which with
    /// the base's arrival time left the i64 range.
    #[test]
    fn far_jumps_saturate() {
        let mut map = ClockMap::new(TimestampMode::RtpOnly, 1);
        let base_rtp = 1 << 32;
        map.stamp(base_rtp, 1_000 * MS);
        let stamp = map.stamp(base_rtp + 33_831_688_342_692_755, 2_000 * MS);
        assert_eq!(stamp.pts, i64::MAX as u64);
        let mut map = ClockMap::new(TimestampMode::Slave, 1);
        map.stamp(base_rtp, 1_000 * MS);
        let stamp = map.stamp(base_rtp + 33_831_688_342_692_755, 2_000 * MS);
        assert!(stamp.resynced);
        assert_eq!(stamp.pts, 2_000 * MS);
    }

    #[test]
    fn even_arrivals_map_to_rtp_spacing() {
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        let base_rtp = 1 << 32;
        for i in 0..100u64 {
            let stamp = map.stamp(base_rtp + ticks(40 * i), 1_000 * MS + 40 * i * MS);
            assert_eq!(stamp.pts, 1_000 * MS + 40 * i * MS, "frame {i}");
        }
    }

    #[test]
    fn jitter_is_removed() {
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        let base_rtp = 1 << 32;
        let mut pts = Vec::new();
        for i in 0..200u64 {
            // Every other frame arrives 15 ms late.
            let jitter = if i % 2 == 1 { 15 * MS } else { 0 };
            pts.push(
                map.stamp(base_rtp + ticks(40 * i), 40 * i * MS + jitter)
                    .pts,
            );
        }
        for w in pts.windows(2).skip(1) {
            assert_eq!(w[1] - w[0], 40 * MS);
        }
    }

    #[test]
    fn follows_a_drifting_sender() {
        // The sender's clock runs 0.1 % slow: frames arrive 40.04 ms apart
        // although RTP says 40 ms.
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        let base_rtp = 1u64 << 32;
        let mut last = (0, 0);
        for i in 0..3000u64 {
            let arrival = i * 40_040_000;
            last = (arrival, map.stamp(base_rtp + ticks(40 * i), arrival).pts);
        }
        // After two minutes the drift (120 ms) is followed to within 10 ms.
        assert!(last.0.abs_diff(last.1) < 10 * MS, "{last:?}");
    }

    #[test]
    fn rtp_only_mode_ignores_arrival_jitter() {
        let mut map = ClockMap::new(TimestampMode::RtpOnly, 8000);
        let a = map.stamp(1 << 32, 500 * MS).pts;
        let b = map.stamp((1 << 32) + 8000, 1_800 * MS).pts;
        assert_eq!(a, 500 * MS);
        assert_eq!(b, 1_500 * MS);
    }

    #[test]
    fn a_jump_in_rtp_time_restarts_the_mapping() {
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        map.stamp(1 << 32, 0);
        map.stamp((1 << 32) + ticks(40), 40 * MS);
        // The camera restarted its RTP clock: 10 s ahead.
        let stamp = map.stamp((1 << 32) + ticks(10_080), 80 * MS);
        assert!(stamp.resynced);
        assert_eq!(stamp.pts, 80 * MS);
        assert_eq!(
            map.sync_point(),
            Some(SyncPoint {
                base_rtptime: (1 << 32) + ticks(10_080),
                base_time: 80 * MS
            })
        );
    }

    #[test]
    fn b_frames_keep_their_earlier_timestamps() {
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        let base = 1u64 << 32;
        map.stamp(base, 0);
        // Decode order I P B: P's RTP time is ahead of B's.
        let p = map.stamp(base + ticks(80), 40 * MS).pts;
        let b = map.stamp(base + ticks(40), 80 * MS).pts;
        // 40 ms apart, give or take the skew's move in between.
        assert!((p - b).abs_diff(40 * MS) < MS, "{}", p - b);
    }

    #[test]
    fn a_sender_running_ahead_at_the_start_keeps_frame_spacing() {
        // A file served over TCP: the first frame comes at PLAY, the next
        // ones 200 ms ahead of it, then at the frame rate (33 ms).
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        let base = 1u64 << 32;
        let mut pts = vec![map.stamp(base, 0).pts];
        for i in 1..90u64 {
            let arrival = (33 * i).saturating_sub(200) * MS;
            pts.push(map.stamp(base + ticks(33 * i), arrival.max(MS)).pts);
        }
        for (i, w) in pts.windows(2).enumerate() {
            let gap = w[1] as i64 - w[0] as i64;
            assert!(
                (gap - 33 * MS as i64).abs() < 3 * MS as i64,
                "frame {i}: {gap}"
            );
        }
    }

    #[test]
    fn a_burst_ahead_by_more_than_a_second_is_no_restart() {
        let mut map = ClockMap::new(TimestampMode::Slave, 90_000);
        let base = 1u64 << 32;
        map.stamp(base, 0);
        // Three seconds of frames within 100 ms.
        for i in 1..90u64 {
            assert!(!map.stamp(base + ticks(33 * i), 100 * MS * i / 90).resynced);
        }
    }
}
