//! A stream's side of a flushing seek and of a VOD pause: packets held
//! while the position changes or the element is not PLAYING, and let go
//! again in order (see [`super::PadState`]).

use std::sync::atomic::Ordering;

use gst::prelude::*;

use super::{PadState, StreamOutput};

impl StreamOutput {
    /// A flushing seek: flush rtpbin (its jitterbuffer forgets the old
    /// position) and everything downstream, then hold the packets until
    /// the PLAY with the new `Range` is answered ([`Self::end_seek`]).
    pub fn begin_seek(&self, seqnum: gst::Seqnum) {
        self.timeline.on_seek(seqnum);
        // First, without the lock: it ends a push in progress.
        self.rtp_pad
            .push_event(gst::event::FlushStart::builder().seqnum(seqnum).build());
        let mut state = self.rtp_state.lock().unwrap();
        state.hold = true;
        state.held.clear();
        self.rtp_pad
            .push_event(gst::event::FlushStop::builder(true).seqnum(seqnum).build());
        if !state.need_events {
            state.need_segment = Some(seqnum);
        }
    }

    /// The PLAY after a seek was answered (or failed): packets flow again
    /// from RTP-Info's `seq` on (`first_seq`), with the new position.
    /// `check_anchor`: a VOD stream, whose first packet checks RTP-Info.
    pub fn end_seek(&self, first_seq: Option<u16>, check_anchor: bool) {
        self.timeline.forget_bye();
        let mut state = self.rtp_state.lock().unwrap();
        state.hold = false;
        state.first_seq = first_seq;
        state.check_anchor = check_anchor;
        self.release_locked(&mut state);
    }

    /// The element is PLAYING again: what a VOD stream kept goes on.
    pub fn release_held(&self) {
        let mut state = self.rtp_state.lock().unwrap();
        if !state.hold {
            self.release_locked(&mut state);
        }
    }

    fn release_locked(&self, state: &mut PadState) {
        let Some(now) = self.timing.running_time() else {
            return;
        };
        let held = std::mem::take(&mut state.held);
        if !held.is_empty() && self.accept.load(Ordering::Acquire) {
            let caps = || self.wire_caps(self.caps());
            self.push_locked(&self.rtp_pad, state, caps, held.into_iter(), now);
        }
    }
}
