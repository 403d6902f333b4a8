//! The jitterbuffer's logic without GStreamer: put packets back in
//! sequence order, give them presentation times, and decide when a missing
//! packet is lost. Sans-IO: the caller passes arrival times and "now", and
//! asks when it next has to wake up.
//!
//! Packets that arrive in order leave at once (as `rtpjitterbuffer` does);
//! only a gap makes later packets wait, for at most `latency` after the
//! first packet behind the gap arrived. Then the gap is declared lost and
//! everything behind it leaves.

use std::collections::BTreeMap;

use super::clock_map::{ClockMap, Stamp, SyncPoint, TimestampMode};
use super::wrap::{SeqExtender, TimestampExtender};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a gap may hold back the packets behind it (ns).
    pub latency: u64,
    /// At most this many packets wait behind gaps; beyond it the oldest
    /// gap is given up at once (bounded memory whatever the sender does).
    pub max_held: usize,
    /// A jump forward by more than this many sequence numbers is a new
    /// start, not a gap to wait for (RFC 3550 A.1 `MAX_DROPOUT`).
    pub max_dropout: u64,
    /// A packet further back than this is not late but from a restarted
    /// sender (RFC 3550 A.1 `MAX_MISORDER`), once a few in a row say so.
    pub max_misorder: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            latency: 200_000_000,
            max_held: 16_384,
            max_dropout: 3000,
            max_misorder: 100,
        }
    }
}

/// Consecutive packets from far behind that make a sender restart.
const RESTART_RUN: u32 = 3;

/// What the caller pushes downstream, in this order.
#[derive(Debug, PartialEq, Eq)]
pub enum Released<T> {
    Packet {
        item: T,
        pts: u64,
        /// Running time it arrived at.
        arrival: u64,
        /// First packet after a gap, a restart or the start.
        discont: bool,
    },
    /// `count` packets from `seq` on never came.
    Lost {
        seq: u16,
        count: u64,
        pts: u64,
        duration: u64,
    },
}

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Its place in the sequence was already passed.
    Late,
    Duplicate,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub pushed: u64,
    pub lost: u64,
    pub late: u64,
    pub duplicates: u64,
    pub resyncs: u64,
}

struct Held<T> {
    item: T,
    pts: u64,
    arrival: u64,
}

pub struct Reorder<T> {
    limits: Limits,
    seqs: SeqExtender,
    times: TimestampExtender,
    clock: ClockMap,
    /// Extended sequence number of the next packet to release.
    next: Option<u64>,
    held: BTreeMap<u64, Held<T>>,
    discont: bool,
    last_pts: Option<u64>,
    last_rtptime: Option<u64>,
    /// Far-behind packets in a row (a restarted sender), and the last one.
    restart_run: (u32, Option<u64>),
    stats: Stats,
}

impl<T> Reorder<T> {
    pub fn new(limits: Limits, mode: TimestampMode, clock_rate: u32) -> Self {
        Reorder {
            limits,
            seqs: SeqExtender::default(),
            times: TimestampExtender::default(),
            clock: ClockMap::new(mode, clock_rate),
            next: None,
            held: BTreeMap::new(),
            discont: true,
            last_pts: None,
            last_rtptime: None,
            restart_run: (0, None),
            stats: Stats::default(),
        }
    }

    pub fn set_latency(&mut self, latency: u64) {
        self.limits.latency = latency;
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn clock_rate(&self) -> u32 {
        self.clock.clock_rate()
    }

    /// Queue a packet that arrived at running time `arrival` and release
    /// whatever can go now into `out`.
    pub fn push(
        &mut self,
        seq: u16,
        rtptime: u32,
        arrival: u64,
        item: T,
        out: &mut Vec<Released<T>>,
    ) -> Verdict {
        let ext_rtp = self.times.extend(rtptime);
        let Stamp { pts, resynced } = self.clock.stamp(ext_rtp, arrival);
        if resynced {
            self.stats.resyncs += 1;
            self.discont = true;
        }
        self.last_rtptime = Some(ext_rtp);
        let mut ext = self.seqs.extend(seq);
        let next = *self.next.get_or_insert(ext);

        if ext < next {
            if next - ext <= self.limits.max_misorder {
                self.restart_run = (0, None);
                self.stats.late += 1;
                return Verdict::Late;
            }
            let run = match self.restart_run {
                (n, Some(last)) if last + 1 == ext => n + 1,
                _ => 1,
            };
            self.restart_run = (run, Some(ext));
            if run < RESTART_RUN {
                self.stats.late += 1;
                return Verdict::Late;
            }
            // The sender restarted its sequence: give up what waits and
            // follow the new numbers from here.
            self.restart(out);
            self.seqs.reset();
            ext = self.seqs.extend(seq);
            self.next = Some(ext);
        } else if ext - next > self.limits.max_dropout {
            self.restart(out);
            self.next = Some(ext);
        }
        self.restart_run = (0, None);

        let held = Held { item, pts, arrival };
        if ext == next && self.held.is_empty() {
            // The common case, in order with nothing waiting: straight
            // out, without a round trip through the map.
            self.seqs.advance(ext);
            self.next = Some(ext + 1);
            self.emit(held, out);
            return Verdict::Accepted;
        }
        if self.held.contains_key(&ext) {
            self.stats.duplicates += 1;
            return Verdict::Duplicate;
        }
        self.seqs.advance(ext);
        self.held.insert(ext, held);
        self.release_ready(out);
        while self.held.len() > self.limits.max_held {
            self.give_up_first_gap(out);
        }
        self.expire(arrival, out);
        Verdict::Accepted
    }

    /// Release everything waiting behind gaps whose time is up at running
    /// time `now`.
    pub fn expire(&mut self, now: u64, out: &mut Vec<Released<T>>) {
        while let Some(deadline) = self.next_deadline() {
            if deadline > now {
                break;
            }
            self.give_up_first_gap(out);
        }
    }

    /// When [`Reorder::expire`] has something to do next, if ever.
    pub fn next_deadline(&self) -> Option<u64> {
        let (_, first) = self.held.first_key_value()?;
        Some(first.arrival.saturating_add(self.limits.latency))
    }

    /// Release everything (end of stream): remaining gaps are lost.
    pub fn drain(&mut self, out: &mut Vec<Released<T>>) {
        while !self.held.is_empty() {
            self.give_up_first_gap(out);
        }
    }

    /// The RTP-to-running-time relation and the extension of an RTCP
    /// sender report's RTP time on the same timeline.
    pub fn sync_point(&self) -> Option<SyncPoint> {
        self.clock.sync_point()
    }

    pub fn extend_report_rtptime(&self, rtptime: u32) -> u64 {
        self.times.peek(rtptime)
    }

    pub fn last_rtptime(&self) -> Option<u64> {
        self.last_rtptime
    }

    fn restart(&mut self, out: &mut Vec<Released<T>>) {
        self.drain(out);
        self.stats.resyncs += 1;
        self.discont = true;
    }

    fn release_ready(&mut self, out: &mut Vec<Released<T>>) {
        let Some(mut next) = self.next else { return };
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != next {
                break;
            }
            let held = entry.remove();
            self.emit(held, out);
            next += 1;
        }
        self.next = Some(next);
    }

    fn emit(&mut self, held: Held<T>, out: &mut Vec<Released<T>>) {
        self.stats.pushed += 1;
        self.last_pts = Some(held.pts);
        out.push(Released::Packet {
            item: held.item,
            pts: held.pts,
            arrival: held.arrival,
            discont: std::mem::take(&mut self.discont),
        });
    }

    fn give_up_first_gap(&mut self, out: &mut Vec<Released<T>>) {
        let Some((&first, held)) = self.held.first_key_value() else {
            return;
        };
        let next = self.next.unwrap_or(first);
        if first > next {
            let count = first - next;
            let pts = self.last_pts.unwrap_or(held.pts).min(held.pts);
            self.stats.lost += count;
            out.push(Released::Lost {
                seq: (next & 0xffff) as u16,
                count,
                pts,
                duration: held.pts - pts,
            });
            self.discont = true;
        }
        self.next = Some(first);
        self.release_ready(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn reorder() -> Reorder<u16> {
        Reorder::new(Limits::default(), TimestampMode::Slave, 90_000)
    }

    /// Push packet `seq` of a 25 fps stream (one packet per frame) at
    /// `arrival_ms`; returns the released sequence numbers, lost ones as
    /// negative counts.
    fn push(r: &mut Reorder<u16>, seq: u16, arrival_ms: u64) -> Vec<String> {
        let mut out = Vec::new();
        // RTP time follows the sequence (shifted so that it does not jump
        // where the sequence number wraps).
        let rtptime = seq.wrapping_add(1000) as u32 * 3600;
        r.push(seq, rtptime, arrival_ms * MS, seq, &mut out);
        describe(out)
    }

    fn describe(out: Vec<Released<u16>>) -> Vec<String> {
        out.into_iter()
            .map(|r| match r {
                Released::Packet {
                    item,
                    discont: true,
                    ..
                } => format!("{item}!"),
                Released::Packet { item, .. } => item.to_string(),
                Released::Lost { seq, count, .. } => format!("lost {seq}+{count}"),
            })
            .collect()
    }

    #[test]
    fn in_order_packets_leave_at_once() {
        let mut r = reorder();
        assert_eq!(push(&mut r, 10, 0), ["10!"]);
        assert_eq!(push(&mut r, 11, 40), ["11"]);
        assert_eq!(push(&mut r, 12, 80), ["12"]);
        assert_eq!(r.next_deadline(), None);
        assert_eq!(r.stats().pushed, 3);
    }

    #[test]
    fn a_swapped_pair_is_put_back_in_order() {
        let mut r = reorder();
        push(&mut r, 1, 0);
        assert!(push(&mut r, 3, 80).is_empty());
        assert_eq!(r.next_deadline(), Some(280 * MS));
        assert_eq!(push(&mut r, 2, 85), ["2", "3"]);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn a_gap_is_lost_after_the_latency() {
        let mut r = reorder();
        push(&mut r, 1, 0);
        assert!(push(&mut r, 4, 120).is_empty());
        let mut out = Vec::new();
        r.expire(319 * MS, &mut out);
        assert!(out.is_empty());
        r.expire(320 * MS, &mut out);
        assert_eq!(describe(out), ["lost 2+2", "4!"]);
        assert_eq!(r.stats().lost, 2);
        // The missing packet arriving now is late.
        let mut out = Vec::new();
        assert_eq!(r.push(2, 1002 * 3600, 330 * MS, 2, &mut out), Verdict::Late);
        assert!(out.is_empty());
    }

    #[test]
    fn later_packets_expire_an_old_gap_without_a_timer() {
        let mut r = reorder();
        push(&mut r, 1, 0);
        push(&mut r, 3, 80);
        push(&mut r, 4, 120);
        assert_eq!(push(&mut r, 5, 300), ["lost 2+1", "3!", "4", "5"]);
    }

    #[test]
    fn lost_packet_timing_spans_the_gap() {
        let mut r = reorder();
        let mut out = Vec::new();
        r.push(1, 3600, 0, 1, &mut out);
        r.push(4, 4 * 3600, 120 * MS, 4, &mut out);
        out.clear();
        r.drain(&mut out);
        match &out[0] {
            Released::Lost {
                seq,
                count,
                pts,
                duration,
            } => {
                assert_eq!((*seq, *count), (2, 2));
                assert_eq!(*pts, 0);
                assert_eq!(*duration, 120 * MS);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicates_are_dropped() {
        let mut r = reorder();
        push(&mut r, 1, 0);
        push(&mut r, 3, 80);
        let mut out = Vec::new();
        assert_eq!(
            r.push(3, 1003 * 3600, 81 * MS, 3, &mut out),
            Verdict::Duplicate
        );
        assert_eq!(r.push(1, 1001 * 3600, 82 * MS, 1, &mut out), Verdict::Late);
        assert_eq!(r.stats().duplicates, 1);
        assert_eq!(r.stats().late, 1);
    }

    #[test]
    fn sequence_wraps_around() {
        let mut r = reorder();
        push(&mut r, 65534, 0);
        assert!(push(&mut r, 0, 80).is_empty());
        assert_eq!(push(&mut r, 65535, 81), ["65535", "0"]);
        assert_eq!(push(&mut r, 1, 120), ["1"]);
    }

    #[test]
    fn a_big_jump_restarts_instead_of_waiting() {
        let mut r = reorder();
        push(&mut r, 100, 0);
        assert_eq!(push(&mut r, 20_000, 40), ["20000!"]);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn a_restarted_sender_is_followed_after_a_few_packets() {
        let mut r = reorder();
        for (i, seq) in (5000..5010).enumerate() {
            push(&mut r, seq, i as u64 * 40);
        }
        assert!(push(&mut r, 10, 400).is_empty());
        assert!(push(&mut r, 11, 440).is_empty());
        assert_eq!(push(&mut r, 12, 480), ["12!"]);
        assert_eq!(push(&mut r, 13, 520), ["13"]);
    }

    #[test]
    fn held_packets_are_bounded() {
        let limits = Limits {
            max_held: 4,
            ..Limits::default()
        };
        let mut r: Reorder<u16> = Reorder::new(limits, TimestampMode::Slave, 90_000);
        push(&mut r, 1, 0);
        for seq in 3..7 {
            assert!(push(&mut r, seq, 10).is_empty());
        }
        assert_eq!(push(&mut r, 8, 11), ["lost 2+1", "3!", "4", "5", "6"]);
        assert_eq!(r.held(), 1);
    }

    #[test]
    fn drain_releases_everything_in_order() {
        let mut r = reorder();
        push(&mut r, 1, 0);
        push(&mut r, 5, 10);
        push(&mut r, 3, 11);
        let mut out = Vec::new();
        r.drain(&mut out);
        assert_eq!(describe(out), ["lost 2+1", "3!", "lost 4+1", "5!"]);
        assert_eq!(r.next_deadline(), None);
    }

    /// Whatever sequence numbers and RTP times a sender chooses (random,
    /// or jumping half the timestamp range ahead or back on every packet,
    /// with any clock rate the SDP may give), nothing panics: with
    /// overflow checks the timestamping's sums used to.
    #[test]
    fn hostile_numbers_never_panic() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut rand = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        };
        for mode in [TimestampMode::Slave, TimestampMode::RtpOnly] {
            for rate in [1, 90_000, i32::MAX as u32] {
                for style in 0..3 {
                    let mut r: Reorder<u32> = Reorder::new(Limits::default(), mode, rate);
                    let mut out = Vec::new();
                    let (mut seq, mut ts, mut arrival) = (0u16, 0u32, 0u64);
                    for i in 0..20_000 {
                        match style {
                            0 => (seq, ts) = (rand() as u16, rand() as u32),
                            1 => (seq, ts) = (seq.wrapping_add(1), ts.wrapping_add(0x7fff_ffff)),
                            _ => (seq, ts) = (seq.wrapping_add(1), ts.wrapping_sub(0x7fff_ffff)),
                        }
                        arrival += rand() % (100 * MS);
                        r.push(seq, ts, arrival, i, &mut out);
                        r.expire(arrival, &mut out);
                        let _ = (r.sync_point(), r.extend_report_rtptime(rand() as u32));
                        out.clear();
                    }
                    r.drain(&mut out);
                }
            }
        }
    }
}
