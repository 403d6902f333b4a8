//! RTP packets that reach a stream before the server answered RECORD.
//!
//! They wait here and the streaming thread goes back upstream, instead of
//! the thread waiting in the sink until RECORD. The reason is the
//! application's EOS: `gst_element_send_event(pipeline, EOS)` holds the
//! pipeline's state lock while a push-mode `basesrc` takes its own
//! streaming thread's stream lock, i.e. waits until the push of its
//! current buffer returns (gstbasesrc.c, `gst_base_src_send_event`). A
//! thread parked in the sink until a silent server's SETUP timed out
//! (tcp-timeout, 20 s by default) held the application's EOS call and
//! every state change after it, NULL included, for that long.
//!
//! The packets are copied: a payloader's output shares memory with its
//! input, and an encoder with a fixed pool of output buffers would stall
//! while we hold them. Bounded by [`LIMIT_BYTES`] per stream: a source
//! faster than real time (non-live with `sync=false`) fills it at once and
//! its thread then waits for RECORD as before (bounded by the record wait,
//! ended by any state change).

use std::sync::atomic::Ordering;

use super::{Control, MAX_HELD, Phase, Route, RunConfig, StreamSender, held_batch};
use crate::rtspsink::parameter_sets::Kept;
use crate::rtspsink::settings::Backpressure;

/// Bytes kept per stream before RECORD: 16 MiB is tcp-timeout's default
/// 20 s of a 6 Mbit/s stream.
pub const LIMIT_BYTES: usize = 16 << 20;

/// Packets kept until RECORD, in arrival order, with the sequence number
/// to write into each (see `parameter_sets`).
#[derive(Default)]
pub struct PreRecord {
    packets: Vec<(gst::Buffer, Option<u16>)>,
    bytes: usize,
}

impl PreRecord {
    /// Keep copies of `packets`, all or (past [`LIMIT_BYTES`], or when a
    /// copy fails) none; returns whether they were kept.
    pub fn push(&mut self, packets: &[Kept<'_>]) -> bool {
        let size: usize = packets.iter().map(|p| p.outgoing().buffer.size()).sum();
        if self.bytes + size > LIMIT_BYTES {
            return false;
        }
        let copies: Option<Vec<(gst::Buffer, Option<u16>)>> = packets
            .iter()
            .map(|p| {
                let outgoing = p.outgoing();
                let copy = outgoing.buffer.copy_deep().ok()?;
                Some((copy, outgoing.seq))
            })
            .collect();
        let Some(copies) = copies else {
            return false;
        };
        self.packets.extend(copies);
        self.bytes += size;
        true
    }

    /// Everything kept, in order; empties the queue.
    pub fn take(&mut self) -> Vec<(gst::Buffer, Option<u16>)> {
        self.bytes = 0;
        std::mem::take(&mut self.packets)
    }

    /// Forget everything (flush or stop).
    pub fn clear(&mut self) {
        self.take();
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

impl StreamSender {
    /// Before RECORD: wait for the packets' time like any other (with
    /// `sync`), then keep them. While reconnecting with `backpressure=drop`:
    /// drop them (counted in `dropped`). Returns whether they were taken
    /// care of; `false` while recording, failed, reconnecting with
    /// `backpressure=block`, or when the queue is full. One look at the
    /// phase per buffer, on the streaming thread.
    pub(super) fn keep_before_record(
        &self,
        control: &Control,
        running_time: Option<gst::ClockTime>,
        packets: &[Kept<'_>],
    ) -> Result<bool, gst::FlowError> {
        let sync = {
            let state = control.lock();
            match (&state.phase, &state.run) {
                (Phase::Starting, Some(run)) => run.sync,
                (Phase::Reconnecting, Some(run)) if run.backpressure == Backpressure::Drop => {
                    drop(state);
                    control.count_drops(self.index, packets.len());
                    return Ok(true);
                }
                _ => return Ok(false),
            }
        };
        if sync && let Some(running_time) = running_time {
            self.wait_clock(control, running_time)?;
        }
        let mut state = self.state.lock().unwrap();
        // A flush or stop clears the queue under this lock after setting
        // the flag: nothing is kept past it.
        if self.flushing.load(Ordering::SeqCst) {
            return Err(gst::FlowError::Flushing);
        }
        Ok(state.pre_record.push(packets))
    }

    /// Once recording: send what was kept before RECORD, in slices of
    /// [`MAX_HELD`] packets so that each goes through the write queue and
    /// `backpressure` like a payloader's buffer list.
    pub(super) fn send_pre_record(
        &self,
        control: &Control,
        run: &RunConfig,
        route: &Route,
        pt_rewrite: Option<u8>,
    ) -> Result<(), gst::FlowError> {
        let kept = self.state.lock().unwrap().pre_record.take();
        for slice in kept.chunks(MAX_HELD) {
            self.send(control, run, route, pt_rewrite, &held_batch(slice))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(size: usize, first: u8) -> gst::Buffer {
        let mut data = vec![0u8; size];
        data[0] = first;
        gst::Buffer::from_mut_slice(data)
    }

    fn kept<'a>(packets: &[&'a gst::Buffer]) -> Vec<Kept<'a>> {
        packets
            .iter()
            .map(|&p| Kept::Original(p.as_ref(), None))
            .collect()
    }

    #[test]
    fn keeps_copies_in_order() {
        gst::init().unwrap();
        let original = packet(100, 1);
        let mut queue = PreRecord::default();
        assert!(queue.is_empty());
        assert!(queue.push(&kept(&[&original])));
        let (b, c) = (packet(50, 2), packet(60, 3));
        let two = kept(&[&b, &c]);
        assert!(queue.push(&two));
        let taken = queue.take();
        assert!(queue.is_empty());
        let firsts: Vec<u8> = taken
            .iter()
            .map(|(b, _)| b.map_readable().unwrap()[0])
            .collect();
        assert_eq!(firsts, [1, 2, 3]);
        // A copy, not a reference to upstream's memory.
        let (a, b) = (
            taken[0].0.map_readable().unwrap().as_ptr(),
            original.map_readable().unwrap().as_ptr(),
        );
        assert_ne!(a, b);
    }

    #[test]
    fn refuses_what_passes_the_limit_whole() {
        gst::init().unwrap();
        let mut queue = PreRecord::default();
        let big = packet(LIMIT_BYTES / 2, 0);
        let two = kept(&[&big, &big]);
        assert!(queue.push(&kept(&[&big])));
        // Two more halves: neither of them is kept.
        assert!(!queue.push(&two));
        assert_eq!(queue.take().len(), 1);
        // Taking makes room again.
        assert!(queue.push(&two));
        queue.clear();
        assert!(queue.is_empty());
        assert!(queue.push(&kept(&[&big])));
    }
}
