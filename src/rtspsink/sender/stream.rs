//! A stream's RTP path in the streaming thread: the chain function
//! (caps for the SDP, parameter sets, a video frame held until its last
//! packet), the waits for RECORD and for the pipeline clock, and the
//! stream's state as the element and the record task see it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gst::prelude::*;
use rtspclient_protocol::rtp;

use super::{
    Control, MAX_HELD, Phase, Readiness, Route, RunConfig, StreamSender, StreamState, held_batch,
};
use crate::driver::error::{ClientError, ErrorKind};
use crate::rtspsink::imp::CAT;
use crate::rtspsink::parameter_sets::{self, Kept};
use crate::rtspsink::retransmission::{self, RtxSender};
use crate::rtspsink::wire::{Outgoing, Packets};
use crate::srtp::StreamKeys;
use rtspclient_protocol::srtp::Profile;

impl StreamSender {
    /// Stop every wait of the streaming thread (flush or stop).
    pub fn interrupt(&self) {
        self.flushing.store(true, Ordering::SeqCst);
        self.interrupt.send_replace(true);
        self.unschedule();
    }

    /// Unschedule the clock wait; also forget held packets (flush or stop:
    /// the chain function puts back what it took only while not flushing).
    pub(super) fn unschedule(&self) {
        let mut state = self.state.lock().unwrap();
        if self.flushing.load(Ordering::SeqCst) {
            state.held.clear();
            state.pre_record.clear();
        }
        if let Some(id) = state.clock_id.as_ref() {
            id.unschedule();
        }
    }

    /// Forget the previous run (new READY→PAUSED).
    pub(super) fn reset(&self) {
        let mut state = self.state.lock().unwrap();
        let segment = state.segment.clone();
        *state = StreamState::new();
        state.segment = segment;
        self.flushing.store(false, Ordering::SeqCst);
        self.interrupt.send_replace(false);
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        if let Some(rtx) = self.retransmission() {
            rtx.reset();
        }
    }

    pub fn readiness(&self) -> Readiness {
        let state = self.state.lock().unwrap();
        match (&state.first_caps, state.eos) {
            (Some(caps), _) => Readiness::Ready(caps.clone()),
            (None, Some(_)) => match self.rtp_pad.current_caps() {
                Some(caps) => Readiness::Ready(caps),
                None => Readiness::Empty,
            },
            (None, None) => Readiness::Waiting,
        }
    }

    /// The first packet's RTP timestamp and running time (ns), once one
    /// came with a time.
    pub fn first_rtp(&self) -> Option<(u32, u64)> {
        self.state.lock().unwrap().first_rtp
    }

    /// EOS reached the end of the RTP path (with its seqnum).
    pub fn eos(&self) -> Option<gst::Seqnum> {
        self.state.lock().unwrap().eos
    }

    /// rtpbin sent BYE (or ended the RTCP path).
    pub fn rtcp_eos(&self) -> bool {
        self.state.lock().unwrap().rtcp_eos
    }

    pub fn route(&self) -> Option<Route> {
        self.state.lock().unwrap().route.clone()
    }

    /// Set where packets go (after SETUP) and the payload type to write.
    pub fn set_route(&self, route: Option<Route>, pt_rewrite: Option<u8>) {
        let mut state = self.state.lock().unwrap();
        state.route = route;
        state.pt_rewrite = pt_rewrite;
    }

    /// Publish RTP packets (one buffer, or a buffer list from a payloader).
    ///
    /// A video payloader pushes a frame as several buffers or lists (one
    /// per NAL unit for H.264: parameter sets, each slice), back to back
    /// and with one timestamp; only the frame's last packet has the RTP
    /// marker bit. Sent one by one, each would cost a system call and, over
    /// TCP, a segment that wakes the server (at 0.3 Mbit/s, 3–4 per frame
    /// for one). So packets of a video frame are held (as buffer
    /// references, at most [`MAX_HELD`]) until the packet with the marker,
    /// and the frame leaves in one system call. The frame was due already
    /// (it passed the clock wait) and a payloader pushes its parts back to
    /// back, so this delays nothing by more than microseconds; RTP relayed
    /// with `sync=false` may leave up to the frame's arrival spread later.
    /// A frame whose marker never comes goes with the next packet of
    /// another timestamp, or at EOS; a flush or stop drops it.
    pub(super) fn chain_rtp(
        &self,
        packets: Packets<'_>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (Some(first), Some(last)) = (packets.first(), packets.last()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let control = self.control.upgrade().ok_or(gst::FlowError::Flushing)?;
        if self.flushing.load(Ordering::SeqCst) {
            return Err(gst::FlowError::Flushing);
        }
        if self.is_retransmission(first) {
            return self.send_retransmission(&control, packets);
        }
        let (running_time, video, mut held, held_pts, kept) = {
            let mut state = self.state.lock().unwrap();
            if state.first_caps.is_none() {
                let caps = self
                    .rtp_pad
                    .current_caps()
                    .ok_or(gst::FlowError::NotNegotiated)?;
                state.video = caps
                    .structure(0)
                    .and_then(|s| s.get::<&str>("media").ok())
                    .is_some_and(|media| media.eq_ignore_ascii_case("video"));
                // SRTP payloads are encrypted (and authenticated: no
                // rewriting either); srtpenc calls them application/x-srtp.
                let secure = caps
                    .structure(0)
                    .is_some_and(|s| s.name() == "application/x-srtp");
                // A stream that retransmits has its guard in front of
                // rtprtxsend already (see `retransmission`).
                state.parameter_sets = if secure || self.rtx.lock().unwrap().is_some() {
                    None
                } else {
                    parameter_sets::guard_for(&caps)
                };
                if let (Some(keys), Ok(ssrc)) = (self.srtp(), ssrc_of(first)) {
                    // The SSRC our MIKEY announces (RFC 3830 §6.1.1).
                    keys.set_ssrc(ssrc);
                }
                state.first_caps = Some(caps);
                gst::debug!(CAT, obj = self.rtp_pad, "First buffer: stream ready");
                control.changed.notify_one();
            }
            let running_time = first
                .dts_or_pts()
                .and_then(|ts| state.segment.to_running_time(ts))
                .map(|rt| rt + state.time_offset);
            if state.first_rtp.is_none()
                && let (Some(running_time), Ok(rtptime)) = (running_time, rtp_timestamp_of(first))
            {
                state.first_rtp = Some((rtptime, running_time.nseconds()));
            }
            let guard = state.parameter_sets.as_mut();
            let removed_before = guard.as_ref().map_or(0, |g| g.removed);
            let kept = parameter_sets::filter(guard, packets);
            if let Some(guard) = &state.parameter_sets
                && guard.removed > removed_before
            {
                gst::debug!(
                    CAT,
                    obj = self.rtp_pad,
                    "Removed parameter sets between the slices of a picture ({} so far)",
                    guard.removed
                );
            }
            let held = std::mem::take(&mut state.held);
            (running_time, state.video, held, state.held_pts.take(), kept)
        };
        if self.keep_before_record(&control, running_time, &kept)? {
            return Ok(gst::FlowSuccess::Ok);
        }
        // Returns at once while recording.
        let (route, pt_rewrite, run) = self.wait_for_record(&control)?;
        self.send_pre_record(&control, &run, &route, pt_rewrite)?;
        let pts = first.pts();
        if !held.is_empty() && (pts.is_none() || pts != held_pts) {
            // The held frame never got its marker: it goes now, before
            // this packet's clock wait.
            self.send(&control, &run, &route, pt_rewrite, &held_batch(&held))?;
            held.clear();
        }
        if run.sync
            && let Some(running_time) = running_time
        {
            self.wait_clock(&control, running_time)?;
        }
        if video && pts.is_some() && !ends_frame(last) && held.len() + kept.len() <= MAX_HELD {
            held.extend(kept.iter().map(Kept::to_held));
            let mut state = self.state.lock().unwrap();
            // A flush or stop that came in the meantime drops them.
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            state.held = held;
            state.held_pts = pts;
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut batch = held_batch(&held);
        batch.extend(kept.iter().map(Kept::outgoing));
        self.send(&control, &run, &route, pt_rewrite, &batch)?;
        Ok(gst::FlowSuccess::Ok)
    }

    /// The stream's retransmission, if it has one.
    pub fn retransmission(&self) -> Option<Arc<RtxSender>> {
        self.rtx.lock().unwrap().clone()
    }

    pub fn set_retransmission(&self, rtx: Option<Arc<RtxSender>>) {
        *self.rtx.lock().unwrap() = rtx;
    }

    /// The profile `profiles` chose at the pad request, and the SRTP keys
    /// of a secure one.
    pub fn set_security(&self, profile: Profile, keys: Option<Arc<StreamKeys>>) {
        *self.security.lock().unwrap() = (profile, keys);
    }

    /// The profile `profiles` chose, without retransmission's feedback.
    pub fn chosen_profile(&self) -> Profile {
        self.security.lock().unwrap().0
    }

    pub fn srtp(&self) -> Option<Arc<StreamKeys>> {
        self.security.lock().unwrap().1.clone()
    }

    /// The profile this stream is announced and set up with: the chosen
    /// one, with feedback when it retransmits (NACKs need AVPF's early
    /// feedback, RFC 4585).
    pub fn profile(&self) -> Profile {
        let mut profile = self.security.lock().unwrap().0;
        profile.feedback |= self
            .retransmission()
            .is_some_and(|rtx| rtx.rtx_pt().is_some());
        profile
    }

    pub fn set_key_mgmt(&self, data: Option<String>) {
        *self.key_mgmt.lock().unwrap() = data;
    }

    pub fn key_mgmt(&self) -> Option<String> {
        self.key_mgmt.lock().unwrap().clone()
    }

    /// An RTX packet from the stream's `rtprtxsend` (it pushes them from
    /// its own thread, between the stream's packets).
    fn is_retransmission(&self, packet: &gst::BufferRef) -> bool {
        let rtx_pt = self.rtx.lock().unwrap().as_ref().and_then(|r| r.rtx_pt());
        rtx_pt.is_some() && retransmission::payload_type(packet) == rtx_pt
    }

    /// Send RTX packets as they are, at once: they answer a NACK, their
    /// payload type is their own and their sequence numbers are the RTX
    /// stream's; the time they were due has passed long ago.
    fn send_retransmission(
        &self,
        control: &Control,
        packets: Packets<'_>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (route, _, run) = self.wait_for_record(control)?;
        let batch: Vec<_> = packets.iter().map(Outgoing::unchanged).collect();
        self.send(control, &run, &route, None, &batch)?;
        Ok(gst::FlowSuccess::Ok)
    }

    /// Send what [`StreamSender::chain_rtp`] held back (at EOS).
    pub(super) fn send_held(&self) {
        let (held, early) = {
            let state = &mut *self.state.lock().unwrap();
            (
                std::mem::take(&mut state.held),
                !state.pre_record.is_empty(),
            )
        };
        if held.is_empty() && !early {
            return;
        }
        let Some(control) = self.control.upgrade() else {
            return;
        };
        // Returns at once while recording; packets kept before RECORD wait
        // for it here (bounded, ended by state changes), so that EOS
        // follows them. The application's EOS call has returned by now.
        if let Ok((route, pt_rewrite, run)) = self.wait_for_record(&control)
            && self
                .send_pre_record(&control, &run, &route, pt_rewrite)
                .is_ok()
        {
            let _ = self.send(&control, &run, &route, pt_rewrite, &held_batch(&held));
        }
    }

    /// Block until RECORD is done (bounded), the run failed or stopped.
    pub(super) fn wait_for_record(
        &self,
        control: &Control,
    ) -> Result<(Route, Option<u8>, RunConfig), gst::FlowError> {
        let started = Instant::now();
        let mut state = control.lock();
        let bound = state
            .run
            .as_ref()
            .map(|r| r.record_wait)
            .unwrap_or(Duration::ZERO);
        loop {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            match state.phase {
                Phase::Recording => {
                    let run = state.run.clone().ok_or(gst::FlowError::Flushing)?;
                    drop(state);
                    let stream = self.state.lock().unwrap();
                    return match &stream.route {
                        Some(route) => Ok((route.clone(), stream.pt_rewrite, run)),
                        None => {
                            // A pad requested after ANNOUNCE: not in the SDP.
                            drop(stream);
                            control.fail(
                                None,
                                &ClientError::new(
                                    ErrorKind::NoUsableStream,
                                    format!(
                                        "Stream {} was added after recording started",
                                        self.index
                                    ),
                                ),
                            );
                            Err(gst::FlowError::Error)
                        }
                    };
                }
                Phase::Failed => return Err(gst::FlowError::Error),
                Phase::Stopped => return Err(gst::FlowError::Flushing),
                Phase::Starting | Phase::Failing => {}
                // Until the record task is back or gives up (it bounds its
                // attempts), woken by every phase change.
                Phase::Reconnecting => {
                    state = control.cond.wait(state).unwrap();
                    continue;
                }
            }
            let waited = started.elapsed();
            if waited >= bound {
                drop(state);
                control.fail(
                    None,
                    &ClientError::new(
                        ErrorKind::Timeout,
                        format!("Recording did not start within {bound:?}"),
                    ),
                );
                return Err(gst::FlowError::Error);
            }
            state = control.cond.wait_timeout(state, bound - waited).unwrap().0;
        }
    }

    /// Wait on the pipeline clock until `running_time` (+ latency).
    pub(super) fn wait_clock(
        &self,
        control: &Control,
        running_time: gst::ClockTime,
    ) -> Result<(), gst::FlowError> {
        loop {
            let mut cstate = control.lock();
            // Not PLAYING: hold the buffer like a prerolled sink does.
            let (clock, base_time) = loop {
                if self.flushing.load(Ordering::SeqCst) || cstate.phase == Phase::Stopped {
                    return Err(gst::FlowError::Flushing);
                }
                if let Some((clock, base)) = &cstate.clock {
                    break (clock.clone(), *base);
                }
                cstate = control.cond.wait(cstate).unwrap();
            };
            let target = base_time + running_time + cstate.latency;
            if clock.time() >= target {
                // Due already (the rest of a frame): no clock entry needed.
                return Ok(());
            }
            let id = clock.new_single_shot_id(target);
            {
                let mut state = self.state.lock().unwrap();
                if self.flushing.load(Ordering::SeqCst) {
                    return Err(gst::FlowError::Flushing);
                }
                state.clock_id = Some(id.clone());
            }
            drop(cstate);
            let (result, _jitter) = id.wait();
            self.state.lock().unwrap().clock_id = None;
            match result {
                Err(gst::ClockError::Unscheduled) => {
                    // Flush, stop, or PLAYING→PAUSED: check again.
                    continue;
                }
                _ => return Ok(()),
            }
        }
    }
}

/// The SSRC of an RTP packet (in the clear in SRTP, RFC 3711 §3.1).
fn ssrc_of(packet: &gst::BufferRef) -> Result<u32, ()> {
    let mut header = [0u8; rtp::FIXED_HEADER];
    packet.copy_to_slice(0, &mut header).map_err(|_| ())?;
    rtp::parse_header(&header).map(|h| h.ssrc).ok_or(())
}

/// The RTP timestamp of a packet (in the clear in SRTP too).
fn rtp_timestamp_of(packet: &gst::BufferRef) -> Result<u32, ()> {
    let mut header = [0u8; rtp::FIXED_HEADER];
    packet.copy_to_slice(0, &mut header).map_err(|_| ())?;
    rtp::parse_header(&header).map(|h| h.rtptime).ok_or(())
}

/// Whether an RTP packet has the marker bit: for video, the last packet of
/// a frame. Only its first two bytes are copied (mapping the buffer whole
/// would merge its memories, see `wire`); unreadable counts as the end.
fn ends_frame(packet: &gst::BufferRef) -> bool {
    let mut start = [0u8; 2];
    if packet.copy_to_slice(0, &mut start).is_err() {
        return true;
    }
    rtp::marker(&start).unwrap_or(true)
}
