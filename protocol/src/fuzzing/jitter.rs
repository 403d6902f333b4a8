//! Fuzz target `jitter_reorder`: the jitterbuffer's reorder core fed
//! arbitrary sequence numbers, RTP times and arrival times.

use super::Bytes;
use crate::jitter::clock_map::TimestampMode;
use crate::jitter::reorder::{Limits, Released, Reorder, Verdict};

const MS: u64 = 1_000_000;

/// Input: limits, mode and clock rate, then 9-byte operations: kind,
/// sequence number, RTP time, milliseconds since the previous operation.
/// Kinds: push a packet (most), expire at the current time, drain.
///
/// Checks: every accepted packet leaves exactly once (at the latest when
/// drained), late and duplicate ones never; what leaves is a gapless
/// sequence where every hole is reported lost, broken only by a sender
/// restart; the first packet after a loss is marked discont; at most
/// `max_held` packets wait; after `expire(now)` no deadline is due.
pub fn jitter_reorder(data: &[u8]) {
    let mut input = Bytes::new(data);
    let b = input.u8();
    let limits = Limits {
        latency: u64::from(input.u8()) * 4 * MS,
        max_held: usize::from(b & 0x3f),
        max_dropout: u64::from(input.u16()),
        max_misorder: u64::from(input.u8()),
    };
    let mode = if b & 0x40 == 0 {
        TimestampMode::Slave
    } else {
        TimestampMode::RtpOnly
    };
    let mut check = Checker {
        reorder: Reorder::new(limits, mode, input.u32()),
        limits,
        seqs: Vec::new(),
        waiting: Vec::new(),
        expect: None,
        released: 0,
    };
    let mut now = 0u64;
    while !input.is_empty() && check.seqs.len() < 4096 {
        let kind = input.u8();
        let (seq, rtptime) = (input.u16(), input.u32());
        now = now.saturating_add(u64::from(input.u16()) * MS / 8);
        match kind {
            0..=239 => check.push(seq, rtptime, now),
            240..=254 => check.expire(now),
            255 => check.drain(),
        }
    }
    check.drain();
    assert!(
        check.waiting.is_empty(),
        "accepted but never released: {:?}",
        check.waiting
    );
    assert_eq!(check.reorder.stats().pushed, check.released);
}

struct Checker {
    reorder: Reorder<usize>,
    limits: Limits,
    /// Sequence number of each pushed packet, by item index.
    seqs: Vec<u16>,
    /// Accepted packets not released yet.
    waiting: Vec<usize>,
    /// The sequence number the next release must have.
    expect: Option<u16>,
    released: u64,
}

impl Checker {
    fn push(&mut self, seq: u16, rtptime: u32, now: u64) {
        let item = self.seqs.len();
        self.seqs.push(seq);
        let resyncs = self.reorder.stats().resyncs;
        let mut out = Vec::new();
        let verdict = self.reorder.push(seq, rtptime, now, item, &mut out);
        if verdict == Verdict::Accepted {
            self.waiting.push(item);
        }
        // A restart (counted in `resyncs`) may start a new sequence.
        let breaks = self.reorder.stats().resyncs - resyncs;
        self.check(out, breaks);
        assert!(self.reorder.held() <= self.limits.max_held, "held too many");
        if verdict != Verdict::Accepted {
            assert!(!self.waiting.contains(&item));
        }
    }

    fn expire(&mut self, now: u64) {
        let mut out = Vec::new();
        self.reorder.expire(now, &mut out);
        self.check(out, 0);
        if let Some(deadline) = self.reorder.next_deadline() {
            assert!(deadline > now, "deadline {deadline} still due at {now}");
        }
    }

    fn drain(&mut self) {
        let mut out = Vec::new();
        self.reorder.drain(&mut out);
        self.check(out, 0);
        assert_eq!(self.reorder.held(), 0);
        assert_eq!(self.reorder.next_deadline(), None);
    }

    fn check(&mut self, out: Vec<Released<usize>>, mut breaks: u64) {
        let mut after_loss = false;
        for released in out {
            let (first, next) = match released {
                Released::Packet { item, discont, .. } => {
                    let at = self.waiting.iter().position(|&w| w == item);
                    let at =
                        at.unwrap_or_else(|| panic!("packet {item} released twice or unaccepted"));
                    self.waiting.swap_remove(at);
                    self.released += 1;
                    assert!(discont || !after_loss, "no discont after a loss");
                    after_loss = false;
                    let seq = self.seqs[item];
                    (seq, seq.wrapping_add(1))
                }
                Released::Lost { seq, count, .. } => {
                    assert!(count > 0, "empty loss");
                    after_loss = true;
                    (seq, seq.wrapping_add(count as u16))
                }
            };
            if self.expect.is_some_and(|e| e != first) {
                assert!(breaks > 0, "expected {:?}, released {first}", self.expect);
                breaks -= 1;
            }
            self.expect = Some(next);
        }
    }
}
