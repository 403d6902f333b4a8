//! One stream's output during ONVIF replay (`onvif-mode`): every buffer
//! gets the absolute time of its access unit from the replay RTP header
//! extension (ONVIF Streaming Specification §6.3), and the segment is in
//! that time, as C `rtspsrc` in ONVIF mode followed by `rtponvifparse`
//! gives it:
//!
//! - PTS = the absolute time (nanoseconds since 1900-01-01, what
//!   `rtponvifparse` writes), DTS unset; the same time goes on the buffer
//!   as a `GstReferenceTimestampMeta` with caps `timestamp/x-ntp` (the
//!   caps `rtpjitterbuffer` and the RTP depayloaders use for NTP times), so
//!   it survives elements that retimestamp. Packets without the extension
//!   (rtponviftimestamp marks only the first packet of an access unit)
//!   take the time of the packet before them when they share its RTP
//!   timestamp; others have no time (PTS unset, no meta), unless no
//!   absolute time came yet: then they keep the jitterbuffer's PTS and its
//!   running-time segment (a server that sends no extension plays as
//!   without `onvif-mode`).
//! - D (discontinuity) sets DISCONT; C (clean point) clears DELTA_UNIT;
//!   T (terminal: the last access unit of the range) ends the stream with
//!   EOS once it went out (the play task's watchdog sends it), as
//!   `rtponvifparse` does.
//! - After each replay PLAY, the segment has the rate the server answered
//!   (`Speed`, else `Scale`; negative for reverse playback), start and stop
//!   from the range (lower and upper bound), time = start, the trick mode
//!   flags of the seek, and a base that puts the first buffer at the
//!   running time the jitterbuffer gave it, so a synchronising sink plays
//!   it now. Reverse playback: the server sends the groups of pictures
//!   from the latest back, each in decoding order, so times go down from
//!   group to group; decoders reverse each group (segment rate < 0).
//!
//! The stream caps get `onvif-mode=true` (as C `rtspsrc` sets them), so
//! the RTP depayloaders pass this segment on instead of making their own
//! from `npt-start`.
//!
//! Reverse playback of a plain on-demand stream (a PLAY answered with a
//! negative rate) is output the same way, the NPT of each packet (from
//! its RTP time, the answer's `Range` and RTP-Info, scaled by the
//! negative rate) standing in for the absolute time, since arrival times
//! cannot order what the server sends: each group of pictures in
//! decoding order, the groups from the latest back (measured with
//! gst-rtsp-server 1.22: RTP time runs backwards inside each group).
//! There is no extension: a packet whose time is below the start of its
//! group starts the next one (DISCONT, which the decoders' reverse
//! playback needs to find the groups), and one at or above the start of
//! the group before is dropped (gst-rtsp-server sends the first key frame of
//! the range once more after the range's end, docs/QUIRKS.md "Reverse
//! playback on gst-rtsp-server").

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gst::prelude::*;
use rtspclient_protocol::onvif::{ReplayExtension, replay_extension};
use rtspclient_protocol::play_control::{Anchor, npt_nanos};

use super::timeline::rtp_timestamp;

/// What a replay PLAY answered, for the segment that follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaySegment {
    pub rate: f64,
    /// Nanoseconds since 1900.
    pub lower_ns: Option<u64>,
    pub upper_ns: Option<u64>,
    pub flags: gst::SegmentFlags,
}

impl Default for PlaySegment {
    fn default() -> Self {
        PlaySegment {
            rate: 1.0,
            lower_ns: None,
            upper_ns: None,
            flags: gst::SegmentFlags::empty(),
        }
    }
}

#[derive(Default)]
struct State {
    play: PlaySegment,
    /// The next buffer out gets a new segment.
    segment_pending: bool,
    seqnum: Option<gst::Seqnum>,
    /// RTP timestamp and absolute time of the last packet with a time.
    last: Option<(u32, u64)>,
    /// Our absolute-time segment is the one in effect downstream (not the
    /// jitterbuffer's running-time one).
    in_absolute: bool,
    /// Earliest and latest absolute time since the last PLAY.
    span: Option<(u64, u64)>,
    /// The largest step between the times of consecutive access units
    /// since the last PLAY: a frame, or with `Frames: intra` the distance
    /// of key frames, which the last one can be from the range's end.
    largest_step: u64,
    /// Reverse playback of a plain VOD stream: times come from this
    /// anchor instead of the ONVIF extension.
    reverse_anchor: Option<Anchor>,
    /// How the anchor moves to the first packet.
    first_packet: FirstPacket,
    /// Reverse VOD: the time of the first packet of the current group
    /// and of the group before it.
    group_start: Option<u64>,
    previous_group_start: Option<u64>,
    /// Reverse VOD: the largest distance between group starts (ns of
    /// media), and whether it grew since the last look.
    largest_group: u64,
    group_grew: bool,
}

/// What the first packet after a reverse VOD PLAY answer does to its
/// anchor.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub enum FirstPacket {
    /// Nothing: RTP-Info's `rtptime` is that of the `Range` start.
    #[default]
    Keeps,
    /// gst-rtsp-server's RTP-Info, extrapolated forward from it
    /// (`Anchor::reverse_from_first`).
    Extrapolated,
    /// No `rtptime` came: the first packet is at the `Range` start.
    AtRangeStart,
}

/// A reverse group starts where the time falls this far below the
/// current group's start (ns): less is a leading B-frame of an open
/// group of pictures, a few frames before its key frame.
const MIN_GROUP_FALL_NS: u64 = 200_000_000;

/// What becomes of one packet.
#[derive(Debug, PartialEq)]
enum Stamp {
    /// It goes on with this time (none: see the module documentation).
    Time(Option<u64>),
    /// A reverse VOD packet out of place: dropped.
    Drop,
}

const NO_NPT: u64 = u64::MAX;

/// Per-stream replay state, shared by the play task (after each PLAY) and
/// the probe on the stream's output.
#[derive(Default)]
pub struct ReplayOutput {
    active: AtomicBool,
    /// A plain VOD stream plays in reverse (see the module documentation).
    reverse_vod: AtomicBool,
    /// Reverse VOD: the NPT (f64 bits) of the last packet stamped.
    last_reverse: AtomicU64,
    state: Mutex<State>,
    /// Our own segment is on its way through the probe.
    own_segment: AtomicBool,
    /// A packet with the T flag (end of the range) went out.
    terminal: AtomicBool,
}

/// `timestamp/x-ntp`: reference timestamps in nanoseconds since 1900.
pub fn ntp_reference_caps() -> gst::Caps {
    gst::Caps::new_empty_simple("timestamp/x-ntp")
}

impl ReplayOutput {
    /// The element plays in ONVIF mode: this stream's output is handled
    /// here instead of by the VOD timeline.
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire) || self.reverse_vod.load(Ordering::Acquire)
    }

    /// Whether the element plays in ONVIF mode (not only a reverse VOD).
    pub fn is_onvif(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Reverse VOD: how far apart in arrival time the groups come (ns),
    /// if that grew since the last call (see super::reverse_latency).
    pub fn take_group_distance(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        if state.reverse_anchor.is_none() || !std::mem::take(&mut state.group_grew) {
            return None;
        }
        let rate = state.play.rate.abs().max(f64::MIN_POSITIVE);
        Some((state.largest_group as f64 / rate) as u64)
    }

    /// Reverse VOD: the NPT of the last packet that got one.
    pub fn last_reverse_npt(&self) -> Option<f64> {
        let bits = self.last_reverse.load(Ordering::Relaxed);
        (self.is_reverse_vod() && bits != NO_NPT).then(|| f64::from_bits(bits))
    }

    /// Whether a plain VOD stream plays in reverse.
    pub fn is_reverse_vod(&self) -> bool {
        self.reverse_vod.load(Ordering::Acquire)
    }

    /// A PLAY of a plain VOD stream was answered: in reverse (`anchor`
    /// with a negative scale, `play` its range, `first` what the first
    /// packet does to the anchor) this output takes over from the
    /// timeline; forward (`None`) it hands back.
    pub fn set_reverse_vod(&self, reverse: Option<(Anchor, PlaySegment)>, first: FirstPacket) {
        let mut state = self.state.lock().unwrap();
        state.reverse_anchor = reverse.map(|(anchor, _)| anchor);
        state.first_packet = first;
        state.largest_group = 0;
        state.group_grew = false;
        self.last_reverse.store(NO_NPT, Ordering::Relaxed);
        state.last = None;
        state.group_start = None;
        state.previous_group_start = None;
        if let Some((_, play)) = reverse {
            state.play = play;
            state.segment_pending = true;
            state.span = None;
            state.largest_step = 0;
        }
        self.reverse_vod.store(reverse.is_some(), Ordering::Release);
    }

    /// A replay seek flushed the stream: the segment after it carries its
    /// seqnum.
    pub fn on_seek(&self, seqnum: gst::Seqnum) {
        let mut state = self.state.lock().unwrap();
        state.seqnum = Some(seqnum);
        state.segment_pending = true;
        state.last = None;
        state.span = None;
        state.largest_step = 0;
        self.terminal.store(false, Ordering::Release);
    }

    /// Whether a packet with the T flag went out since the last call.
    pub fn take_terminal(&self) -> bool {
        self.terminal.swap(false, Ordering::AcqRel)
    }

    /// A replay PLAY was answered: the next buffer starts `play`'s segment.
    pub fn on_play(&self, play: PlaySegment) {
        let mut state = self.state.lock().unwrap();
        state.play = play;
        state.segment_pending = true;
        state.span = None;
        state.largest_step = 0;
    }

    /// Earliest and latest absolute time out since the last PLAY.
    pub fn span(&self) -> Option<(u64, u64)> {
        self.state.lock().unwrap().span
    }

    /// Whether the data reached the end of the PLAY's range: its upper
    /// bound forward, its lower bound in reverse (within `tolerance` ns,
    /// or the largest step between access units if that is larger). False
    /// for an open range.
    pub fn at_range_end(&self, tolerance: u64) -> bool {
        let state = self.state.lock().unwrap();
        // Reverse VOD data comes a group at a time: the step between
        // packets spans groups, but the last group starts at the bound.
        let tolerance = match state.reverse_anchor {
            Some(_) => tolerance,
            None => tolerance.max(state.largest_step),
        };
        let Some((earliest, latest)) = state.span else {
            return false;
        };
        if state.play.rate < 0.0 {
            state
                .play
                .lower_ns
                .is_some_and(|lower| earliest <= lower.saturating_add(tolerance))
        } else {
            state
                .play
                .upper_ns
                .is_some_and(|upper| latest.saturating_add(tolerance) >= upper)
        }
    }

    /// Probe on the stream's output (rtpbin's source pad).
    pub fn on_output(&self, pad: &gst::Pad, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        match &mut info.data {
            // The jitterbuffer's own (running time) segment passes, as in
            // super::timeline; ours follows before the next buffer.
            Some(gst::PadProbeData::Event(event))
                if event.type_() == gst::EventType::Segment
                    && !self.own_segment.load(Ordering::Acquire) =>
            {
                let mut state = self.state.lock().unwrap();
                state.segment_pending = true;
                state.in_absolute = false;
            }
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let running = buffer.pts();
                let buffer = buffer.make_mut();
                match self.stamp(buffer) {
                    Stamp::Time(time) => self.segment_before(pad, time, running),
                    Stamp::Drop => return gst::PadProbeReturn::Drop,
                }
            }
            Some(gst::PadProbeData::BufferList(list)) => {
                let running = list.get(0).and_then(|b| b.pts());
                let mut first_time = None;
                let mut first_kept = true;
                list.make_mut()
                    .foreach_mut(|mut buffer, _| match self.stamp(buffer.make_mut()) {
                        Stamp::Time(time) => {
                            // The segment goes with the first buffer out.
                            if first_kept {
                                first_time = time;
                                first_kept = false;
                            }
                            std::ops::ControlFlow::Continue(Some(buffer))
                        }
                        Stamp::Drop => std::ops::ControlFlow::Continue(None),
                    });
                if list.is_empty() {
                    return gst::PadProbeReturn::Drop;
                }
                self.segment_before(pad, first_time, running);
            }
            _ => {}
        }
        gst::PadProbeReturn::Ok
    }

    /// Give one packet its absolute time (see the module documentation).
    fn stamp(&self, buffer: &mut gst::BufferRef) -> Stamp {
        let (extension, timestamp) = {
            let Ok(map) = buffer.map_readable() else {
                return Stamp::Time(None);
            };
            (replay_extension(&map), rtp_timestamp(buffer))
        };
        let (time, in_absolute) = {
            let mut state = self.state.lock().unwrap();
            let time = if let Some(anchor) = state.reverse_anchor {
                let Some(ts) = timestamp else {
                    return Stamp::Time(None);
                };
                let anchor = match (state.last.is_none(), state.first_packet) {
                    (false, _) | (true, FirstPacket::Keeps) => anchor,
                    (true, FirstPacket::Extrapolated) => anchor.reverse_from_first(ts),
                    (true, FirstPacket::AtRangeStart) => Anchor {
                        rtptime: ts,
                        ..anchor
                    },
                };
                state.reverse_anchor = Some(anchor);
                let npt = anchor.npt_of(ts);
                let time = npt_nanos(npt);
                match reverse_order(&mut state, time) {
                    Some(true) => buffer.set_flags(gst::BufferFlags::DISCONT),
                    Some(false) => {}
                    None => return Stamp::Drop,
                }
                note_time(&mut state, ts, time);
                self.last_reverse.store(npt.to_bits(), Ordering::Relaxed);
                Some(time)
            } else {
                match (extension.and_then(|e| e.time_ns), timestamp) {
                    (Some(time), Some(ts)) => {
                        note_time(&mut state, ts, time);
                        Some(time)
                    }
                    (Some(time), None) => Some(time),
                    (None, Some(ts)) => state.last.filter(|(t, _)| *t == ts).map(|(_, time)| time),
                    (None, None) => None,
                }
            };
            (time, state.in_absolute)
        };
        apply_flags(buffer, extension);
        if extension.is_some_and(|e| e.terminal) {
            self.terminal.store(true, Ordering::Release);
        }
        if time.is_none() && !in_absolute {
            // No absolute time yet (a server without the extension): the
            // running-time segment is in effect, and so stays the PTS.
            return Stamp::Time(None);
        }
        buffer.set_dts(gst::ClockTime::NONE);
        match time {
            Some(time) => {
                let time = gst::ClockTime::from_nseconds(time);
                buffer.set_pts(time);
                if self.is_onvif() {
                    gst::ReferenceTimestampMeta::add(
                        buffer,
                        &ntp_reference_caps(),
                        time,
                        gst::ClockTime::NONE,
                    );
                }
            }
            None => buffer.set_pts(gst::ClockTime::NONE),
        }
        Stamp::Time(time)
    }

    /// Push the pending segment before the first buffer with a time.
    fn segment_before(&self, pad: &gst::Pad, time: Option<u64>, running: Option<gst::ClockTime>) {
        let (Some(first), Some(running)) = (time, running) else {
            return;
        };
        let (play, seqnum) = {
            let mut state = self.state.lock().unwrap();
            if !state.segment_pending {
                return;
            }
            state.segment_pending = false;
            state.in_absolute = true;
            (state.play, state.seqnum)
        };
        let segment = replay_segment(&play, first, running.nseconds());
        gst::debug!(
            super::imp::CAT,
            obj = pad,
            "First replay buffer at {} (running time {running}): {segment:?}",
            gst::ClockTime::from_nseconds(first)
        );
        let mut event = gst::event::Segment::builder(&segment);
        if let Some(seqnum) = seqnum {
            event = event.seqnum(seqnum);
        }
        self.own_segment.store(true, Ordering::Release);
        pad.push_event(event.build());
        self.own_segment.store(false, Ordering::Release);
    }
}

/// Record the time of a packet with its own time.
fn note_time(state: &mut State, ts: u32, time: u64) {
    if let Some((_, previous)) = state.last {
        state.largest_step = state.largest_step.max(previous.abs_diff(time));
    }
    state.last = Some((ts, time));
    state.span = Some(match state.span {
        Some((earliest, latest)) => (earliest.min(time), latest.max(time)),
        None => (time, time),
    });
}

/// Where a packet of a reverse VOD stream stands among the groups of
/// pictures (see the module documentation): `Some(true)` it starts a
/// group, `Some(false)` it goes on the current one, `None` it is at or
/// above the start of the group before (out of place: dropped).
fn reverse_order(state: &mut State, time: u64) -> Option<bool> {
    if state
        .previous_group_start
        .is_some_and(|floor| time >= floor)
    {
        return None;
    }
    // Well below the group's first time, not just below the packet
    // before: B-frames go down inside a group, and an open group's
    // leading ones are a little below its key frame.
    let starts_group = state
        .group_start
        .is_none_or(|start| time.saturating_add(MIN_GROUP_FALL_NS) < start);
    if starts_group {
        if let Some(start) = state.group_start
            && start - time > state.largest_group
        {
            state.largest_group = start - time;
            state.group_grew = true;
        }
        state.previous_group_start = state.group_start;
        state.group_start = Some(time);
    }
    Some(starts_group)
}

/// The flags `rtponvifparse` sets from the extension.
fn apply_flags(buffer: &mut gst::BufferRef, extension: Option<ReplayExtension>) {
    let Some(extension) = extension else {
        return;
    };
    if extension.discontinuity {
        buffer.set_flags(gst::BufferFlags::DISCONT);
    }
    if extension.clean_point {
        buffer.unset_flags(gst::BufferFlags::DELTA_UNIT);
    } else {
        buffer.set_flags(gst::BufferFlags::DELTA_UNIT);
    }
}

/// The segment of a replay whose first buffer is at absolute time `first`
/// and running time `running` (see the module documentation). The range
/// widens to take in `first` (servers start at the key frame before the
/// requested start; in reverse the first group may end after the upper
/// bound).
pub fn replay_segment(
    play: &PlaySegment,
    first: u64,
    running: u64,
) -> gst::FormattedSegment<gst::ClockTime> {
    let rate = if play.rate.is_finite() && play.rate != 0.0 {
        play.rate
    } else {
        1.0
    };
    let start = play.lower_ns.map_or(first, |l| l.min(first));
    let stop = play.upper_ns.map(|u| u.max(first));
    // Running time of `first` = base + distance from the segment's origin
    // (start forward, stop in reverse) / |rate|.
    let distance = if rate > 0.0 {
        first - start
    } else {
        stop.map_or(0, |s| s - first)
    };
    let base = running.saturating_sub((distance as f64 / rate.abs()) as u64);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_rate(rate);
    segment.set_flags(play.flags);
    segment.set_start(gst::ClockTime::from_nseconds(start));
    segment.set_stop(stop.map(gst::ClockTime::from_nseconds));
    segment.set_time(gst::ClockTime::from_nseconds(start));
    segment.set_position(gst::ClockTime::from_nseconds(first));
    segment.set_base(gst::ClockTime::from_nseconds(base));
    segment
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn forward_segment_puts_the_first_buffer_at_its_running_time() {
        gst::init().unwrap();
        let play = PlaySegment {
            lower_ns: Some(3605 * S),
            upper_ns: Some(3608 * S),
            ..PlaySegment::default()
        };
        // The server started at the key frame at 3605 s.
        let segment = replay_segment(&play, 3605 * S, 2 * S);
        assert_eq!(segment.start(), Some(gst::ClockTime::from_seconds(3605)));
        assert_eq!(segment.stop(), Some(gst::ClockTime::from_seconds(3608)));
        assert_eq!(
            segment.to_running_time(gst::ClockTime::from_seconds(3606)),
            Some(gst::ClockTime::from_seconds(3))
        );
        // A key frame before the requested start widens the segment.
        let play = PlaySegment {
            lower_ns: Some(3605 * S + S / 2),
            ..play
        };
        let segment = replay_segment(&play, 3605 * S, 2 * S);
        assert_eq!(segment.start(), Some(gst::ClockTime::from_seconds(3605)));
        assert_eq!(
            segment.to_running_time(gst::ClockTime::from_seconds(3605)),
            Some(gst::ClockTime::from_seconds(2))
        );
    }

    /// An RTP packet with the replay extension (time in ns, flags byte)
    /// or without it.
    fn packet(rtp_timestamp: u32, extension: Option<(u64, u8)>) -> gst::Buffer {
        let mut bytes = vec![0x80, 96, 0, 1];
        bytes.extend_from_slice(&rtp_timestamp.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 7]);
        if let Some((time, flags)) = extension {
            bytes[0] |= 0x10;
            bytes.extend_from_slice(&[0xAB, 0xAC, 0, 3]);
            let ntp = ((time / S) << 32) | (((time % S) << 32) / S);
            bytes.extend_from_slice(&ntp.to_be_bytes());
            bytes.extend_from_slice(&[flags, 1, 0, 0]);
        }
        bytes.extend_from_slice(&[0x65, 1, 2, 3]);
        gst::Buffer::from_mut_slice(bytes)
    }

    fn meta_time(buffer: &gst::BufferRef) -> Option<u64> {
        let ntp = ntp_reference_caps();
        buffer
            .iter_meta::<gst::ReferenceTimestampMeta>()
            .find(|m| m.reference().is_subset(&ntp))
            .map(|m| m.timestamp().nseconds())
    }

    #[test]
    fn packets_get_their_access_unit_time_and_flags() {
        gst::init().unwrap();
        let output = ReplayOutput::default();
        output.activate();
        output.on_play(PlaySegment {
            lower_ns: Some(3600 * S),
            upper_ns: Some(3602 * S),
            ..PlaySegment::default()
        });
        // Before any absolute time, a packet without the extension keeps
        // the jitterbuffer's running time (its segment is in effect).
        let mut early = packet(6000, None);
        early.make_mut().set_pts(gst::ClockTime::from_seconds(5));
        assert_eq!(output.stamp(early.make_mut()), Stamp::Time(None));
        assert_eq!(early.pts(), Some(gst::ClockTime::from_seconds(5)));
        // A key frame (C) after a gap (D), in two packets.
        let mut first = packet(9000, Some((3600 * S + S / 4, 0xA0)));
        let mut second = packet(9000, None);
        let time = Some(3600 * S + S / 4);
        assert_eq!(output.stamp(first.make_mut()), Stamp::Time(time));
        assert_eq!(output.stamp(second.make_mut()), Stamp::Time(time));
        for buffer in [&first, &second] {
            assert_eq!(buffer.pts().map(|t| t.nseconds()), time);
            assert_eq!(meta_time(buffer), time);
            assert_eq!(buffer.dts(), None);
        }
        assert!(first.flags().contains(gst::BufferFlags::DISCONT));
        assert!(!first.flags().contains(gst::BufferFlags::DELTA_UNIT));
        // Once the absolute segment went out, a packet of another access
        // unit without the extension has no time.
        output.state.lock().unwrap().in_absolute = true;
        let mut stray = packet(12000, None);
        stray.make_mut().set_pts(gst::ClockTime::from_seconds(6));
        assert_eq!(output.stamp(stray.make_mut()), Stamp::Time(None));
        assert_eq!(stray.pts(), None);
        assert_eq!(meta_time(&stray), None);
        assert!(!output.take_terminal());
        assert!(!output.at_range_end(S / 2));
        // The last access unit of the range (T), a delta frame.
        let mut last = packet(15000, Some((3601 * S + S * 9 / 10, 0x10)));
        output.stamp(last.make_mut());
        assert!(last.flags().contains(gst::BufferFlags::DELTA_UNIT));
        assert!(output.take_terminal());
        assert!(!output.take_terminal());
        assert!(output.at_range_end(S / 2));
    }

    #[test]
    fn reverse_segment_runs_down_from_the_upper_bound() {
        gst::init().unwrap();
        let play = PlaySegment {
            rate: -1.0,
            lower_ns: Some(3600 * S),
            upper_ns: Some(3605 * S),
            flags: gst::SegmentFlags::TRICKMODE_KEY_UNITS,
        };
        // First group of pictures: the one starting at 3604 s.
        let segment = replay_segment(&play, 3604 * S, 10 * S);
        assert_eq!(segment.rate(), -1.0);
        assert_eq!(segment.flags(), gst::SegmentFlags::TRICKMODE_KEY_UNITS);
        assert_eq!(
            segment.to_running_time(gst::ClockTime::from_seconds(3604)),
            Some(gst::ClockTime::from_seconds(10))
        );
        // The group before it plays a second later.
        assert_eq!(
            segment.to_running_time(gst::ClockTime::from_seconds(3603)),
            Some(gst::ClockTime::from_seconds(11))
        );
    }

    #[test]
    fn reverse_vod_packets_get_their_npt_and_groups_their_discont() {
        gst::init().unwrap();
        let output = ReplayOutput::default();
        // gst-rtsp-server: Range 5.9733, rtptime 1000; its first packet
        // (the key frame at 6 s) is 2400 ticks later.
        let anchor = Anchor {
            npt: 5.973_333_333,
            rtptime: 1000,
            clock_rate: 90_000,
            scale: -1.0,
        };
        let play = PlaySegment {
            rate: -1.0,
            lower_ns: Some(0),
            upper_ns: Some(5_973_333_333),
            flags: gst::SegmentFlags::empty(),
        };
        output.set_reverse_vod(Some((anchor, play)), FirstPacket::Extrapolated);
        assert!(output.is_active() && output.is_reverse_vod() && !output.is_onvif());
        // (ms, DISCONT) of a packet; None: dropped. No reference meta.
        let stamp = |ts: u32| {
            let mut buffer = packet(ts, None);
            let stamp = output.stamp(buffer.make_mut());
            assert_eq!(meta_time(&buffer), None);
            let discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
            match stamp {
                Stamp::Time(Some(ns)) => Some(((ns as f64 / 1e6).round() as u64, discont)),
                Stamp::Time(None) => panic!("no time"),
                Stamp::Drop => None,
            }
        };
        // The key frame at 6 s, then the group from 5 s in decoding
        // order (RTP time runs back 90000 per second of media), with a
        // B-frame below the frame before it.
        assert_eq!(stamp(3400), Some((6000, true)));
        assert_eq!(stamp(3400 + 90_000), Some((5000, true)));
        assert_eq!(stamp(3400 + 90_000 - 9000), Some((5100, false)));
        assert_eq!(stamp(3400 + 90_000 - 3000), Some((5033, false)));
        // The group from 4 s; then gst-rtsp-server's stray key frame of
        // the range start, above the group before: dropped.
        assert_eq!(output.take_group_distance(), Some(1_000_000_000));
        assert_eq!(output.take_group_distance(), None);
        assert_eq!(stamp(3400 + 180_000), Some((4000, true)));
        assert_eq!(stamp(3400 + 180_000 - 3000), Some((4033, false)));
        assert_eq!(stamp(1000 + 1441), None);
        assert_eq!(stamp(3400 + 180_000 - 6000), Some((4067, false)));
        assert_eq!(
            output.last_reverse_npt().map(|n| (n * 1e3).round()),
            Some(4067.0)
        );
        // An open group from 3 s: its leading B-frames are below the key
        // frame, in the group, not a group of their own.
        assert_eq!(stamp(3400 + 270_000), Some((3000, true)));
        assert_eq!(stamp(3400 + 270_000 + 6000), Some((2933, false)));
        assert_eq!(stamp(3400 + 270_000 - 3000), Some((3033, false)));
        assert!(output.at_range_end(3_000_000_000));
        assert!(!output.at_range_end(2_800_000_000));
        // A forward PLAY hands back to the timeline.
        output.set_reverse_vod(None, FirstPacket::Keeps);
        assert!(!output.is_active());
    }
}
