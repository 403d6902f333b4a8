//! Extending RTP's wrapping 16-bit sequence numbers and 32-bit timestamps
//! to monotonic 64-bit values (RFC 3550 appendix A.1 idea: pick the
//! extension closest to the previous value).

/// Extends 16-bit sequence numbers. The first value maps to 2^32 + seq so
/// that packets from "before" the first one (reordering at start-up) do
/// not underflow.
#[derive(Debug, Default, Clone)]
pub struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    /// The extended value of `seq`, nearest to the last one. Does not
    /// move the reference: call [`SeqExtender::advance`] for packets that
    /// were accepted.
    pub fn extend(&self, seq: u16) -> u64 {
        match self.last {
            None => (1u64 << 32) + seq as u64,
            Some(last) => nearest(last, seq as u64, 1 << 16),
        }
    }

    pub fn advance(&mut self, ext: u64) {
        if self.last.is_none_or(|last| ext > last) {
            self.last = Some(ext);
        }
    }

    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Extends 32-bit RTP timestamps. Unlike sequence numbers they may go
/// back (B-frames), so the reference follows every value.
#[derive(Debug, Default, Clone)]
pub struct TimestampExtender {
    last: Option<u64>,
}

impl TimestampExtender {
    pub fn extend(&mut self, ts: u32) -> u64 {
        let ext = self.peek(ts);
        self.last = Some(ext);
        ext
    }

    /// The extension of `ts` without moving the reference (for RTCP SR
    /// times, which must not disturb the packet timeline).
    pub fn peek(&self, ts: u32) -> u64 {
        match self.last {
            None => (1u64 << 32) + ts as u64,
            Some(last) => nearest(last, ts as u64, 1 << 32),
        }
    }
}

/// The value congruent to `value` modulo `period` that is nearest to
/// `reference`.
fn nearest(reference: u64, value: u64, period: u64) -> u64 {
    let base = reference - reference % period;
    let candidates = [
        base.checked_sub(period).map(|b| b + value),
        Some(base + value),
        Some(base + period + value),
    ];
    candidates
        .into_iter()
        .flatten()
        .min_by_key(|c| c.abs_diff(reference))
        .expect("at least one candidate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_wrap_forward_and_tolerate_reordering() {
        let mut ext = SeqExtender::default();
        let first = ext.extend(65534);
        ext.advance(first);
        let a = ext.extend(65535);
        ext.advance(a);
        let b = ext.extend(0);
        ext.advance(b);
        let c = ext.extend(1);
        assert_eq!(a, first + 1);
        assert_eq!(b, first + 2);
        assert_eq!(c, first + 3);
        // A late packet from before the wrap stays before it.
        assert_eq!(ext.extend(65533), first - 1);
    }

    #[test]
    fn first_packet_leaves_room_below() {
        let ext = SeqExtender::default();
        assert_eq!(ext.extend(0), 1 << 32);
    }

    #[test]
    fn timestamps_wrap_and_go_back_for_b_frames() {
        let mut ext = TimestampExtender::default();
        let a = ext.extend(u32::MAX - 3000);
        let b = ext.extend(2000);
        assert_eq!(b - a, 5001);
        let c = ext.extend(u32::MAX - 1000);
        assert_eq!(c, a + 2000);
        assert_eq!(ext.peek(5000), b + 3000);
    }
}
