//! ONVIF replay (`onvif-mode`, ONVIF Streaming Specification §6): seeks
//! in absolute time, the headers of SETUP and PLAY, and what a PLAY answer
//! means for the streams' segments ([`super::replay_output`] stamps the
//! buffers).
//!
//! As C `rtspsrc` in ONVIF mode: a seek's start and stop are nanoseconds
//! since the NTP prime epoch (1900-01-01) and become `Range: clock=…`; a
//! negative rate is reverse playback (`Scale: -1.0`, `Speed` for the
//! magnitude; with a trick mode flag `Scale: <rate>`), trick mode key
//! units become `Frames: intra` (`intra/<ms>` with the seek's trick mode
//! interval) and forward predicted `Frames: predicted`; `onvif-rate-control`
//! FALSE sends `Rate-Control: no`. Only TCP is offered in SETUP (C
//! `rtspsrc` does the same in ONVIF mode: replay servers send as fast as
//! the client reads with `Rate-Control: no`, which UDP cannot pace).

use rtspclient_protocol::message::{Headers, Response};
use rtspclient_protocol::onvif::{
    Frames, REPLAY_FEATURE, ReplayRequest, answered_rate, parse_clock_range,
};
use rtspclient_protocol::play_control::SeekTarget;

use std::sync::Arc;

use super::control::StreamRef;
use super::imp::CAT;
use super::replay_output::PlaySegment;
use super::streams::StreamOutput;

/// What the play task needs of `onvif-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayConfig {
    /// `onvif-rate-control`.
    pub rate_control: bool,
}

/// §6.3: the feature tag goes on SETUP and PLAY.
pub fn require(headers: &mut Headers) {
    headers.append("Require", REPLAY_FEATURE);
}

/// The headers of a replay PLAY: the feature tag, the mode of `request`
/// (the seek being sent, or the last one for a PLAY that resumes) and its
/// `Range` when `with_range` (a seek).
pub fn play_headers(
    headers: &mut Headers,
    config: ReplayConfig,
    request: Option<&ReplayRequest>,
    with_range: bool,
) {
    require(headers);
    let forward = ReplayRequest::default();
    let request = request.unwrap_or(&forward);
    if with_range && let Some(range) = request.range() {
        headers.set("Range", range);
    }
    for (name, value) in request.mode_headers(config.rate_control) {
        headers.set(name, value);
    }
}

/// After a replay PLAY: each stream's next segment (rate and range as the
/// server answered them, else as asked).
pub fn after_play(streams: &[StreamRef], response: &Response, request: Option<&ReplayRequest>) {
    let headers = &response.headers;
    let answered = headers.get("Range").and_then(parse_clock_range);
    let rate = answered_rate(headers.get("Speed"), headers.get("Scale"))
        .or(request.map(|r| r.rate))
        .unwrap_or(1.0);
    let (lower_ns, upper_ns) = match (answered, request) {
        (Some((lower, upper)), _) => (Some(lower), upper),
        (None, Some(request)) => (request.lower_ns, request.upper_ns),
        (None, None) => (None, None),
    };
    let flags = match request.map(|r| r.frames) {
        Some(Frames::Intra { .. }) => gst::SegmentFlags::TRICKMODE_KEY_UNITS,
        Some(Frames::Predicted) => gst::SegmentFlags::TRICKMODE_FORWARD_PREDICTED,
        _ => gst::SegmentFlags::empty(),
    };
    gst::info!(
        CAT,
        "Replay PLAY answered: Range {:?}, Scale {:?}, Speed {:?}, Rate-Control {:?}",
        headers.get("Range"),
        headers.get("Scale"),
        headers.get("Speed"),
        headers.get("Rate-Control")
    );
    for stream in streams {
        stream.output.replay.on_play(PlaySegment {
            rate,
            lower_ns,
            upper_ns,
            flags,
        });
    }
}

/// EOS on the streams whose last packet carried the T flag (§6.3: the
/// last access unit of the requested range), as `rtponvifparse` does.
pub fn end_terminated(outputs: &[Arc<StreamOutput>]) {
    for (index, output) in outputs.iter().enumerate() {
        if output.replay.take_terminal() && !output.timeline.ended() {
            gst::info!(CAT, "Stream {index}: end of the replay range (T flag): EOS");
            output.push_eos();
        }
    }
}

/// The replay a PLAY that resumes after a PAUSE asks for: the rest of the
/// last one's range from where the output got to (forward: the latest
/// time out of the stream that is behind; reverse: the earliest), in the
/// same mode. gst-rtsp-server 1.22 fails a PLAY that has `Frames` or a
/// `Scale` but no `Range` (docs/QUIRKS.md, "Replay resumed without a
/// Range"); it snaps the new start to a key frame, so up to a group of
/// pictures comes again. Without any output yet: the last request as it
/// was.
pub fn resume_request(
    last: Option<&ReplayRequest>,
    outputs: &[Arc<StreamOutput>],
) -> Option<ReplayRequest> {
    let base = last.copied().unwrap_or_default();
    let spans: Vec<(u64, u64)> = outputs.iter().filter_map(|o| o.replay.span()).collect();
    let request = if base.reverse() {
        let at = spans.iter().map(|s| s.0).max();
        ReplayRequest {
            upper_ns: at.or(base.upper_ns),
            ..base
        }
    } else {
        let at = spans.iter().map(|s| s.1).min();
        ReplayRequest {
            lower_ns: at.or(base.lower_ns),
            ..base
        }
    };
    (last.is_some() || !spans.is_empty()).then_some(request)
}

/// Every stream reached the end of the range its last replay PLAY asked
/// for (within `tolerance` seconds): the end a server that sends no T flag
/// stops at. Its RTCP BYE can come before the PLAY answer when it sends
/// without rate control, and is then taken for the old range's (see
/// docs/QUIRKS.md, "BYE before the PLAY answer").
pub fn replay_at_end(outputs: &[Arc<StreamOutput>], tolerance: f64) -> bool {
    let tolerance = (tolerance * 1e9) as u64;
    !outputs.is_empty() && outputs.iter().all(|o| o.replay.at_range_end(tolerance))
}

/// Mark a stream's caps for ONVIF mode (see [`super::replay_output`]).
pub fn mark_caps(caps: &mut gst::Caps) {
    caps.make_mut().set("onvif-mode", true);
}

fn nanos(kind: gst::SeekType, value: gst::GenericFormattedValue) -> Option<u64> {
    match (kind, value) {
        (gst::SeekType::Set, gst::GenericFormattedValue::Time(Some(t))) => Some(t.nseconds()),
        _ => None,
    }
}

/// Why a replay seek is refused (the seek event returns FALSE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Only flushing seeks, as for VOD (the old data must not follow).
    NotFlushing,
    /// A rate of 0, NaN or infinity.
    Rate,
    /// The direction's start is missing: forward needs a start, reverse
    /// a stop (the range starts there, §6.5).
    NoStart,
    /// Segment seeks (no `SEGMENT_DONE` support), as C `rtspsrc`.
    Segment,
}

/// The replay a seek asks for.
fn plan(event: &gst::event::Seek) -> Result<ReplayRequest, Refusal> {
    let (rate, flags, start_type, start, stop_type, stop) = event.get();
    if !flags.contains(gst::SeekFlags::FLUSH) {
        return Err(Refusal::NotFlushing);
    }
    if flags.contains(gst::SeekFlags::SEGMENT) {
        return Err(Refusal::Segment);
    }
    // Either direction, within the rates any server is asked for.
    if !rtspclient_protocol::play_rate::valid_rate(rate.abs()) {
        return Err(Refusal::Rate);
    }
    let interval = event
        .trickmode_interval()
        .map_or(0, gst::ClockTime::nseconds);
    let request = ReplayRequest {
        lower_ns: nanos(start_type, start),
        upper_ns: nanos(stop_type, stop)
            .filter(|&s| nanos(start_type, start).is_none_or(|l| s > l)),
        rate,
        frames: Frames::from_trick_mode(
            flags.contains(gst::SeekFlags::TRICKMODE_KEY_UNITS),
            flags.contains(gst::SeekFlags::TRICKMODE_FORWARD_PREDICTED),
            interval,
        ),
        server_trick_mode: flags.contains(gst::SeekFlags::TRICKMODE),
    };
    request.range().ok_or(Refusal::NoStart)?;
    Ok(request)
}

/// A seek in ONVIF mode as the play task's target (generation still 0):
/// absolute times, any direction and rate (the server decides what it can
/// do), sent as the next PLAY's `Range`.
pub fn seek_target(seek: &gst::event::Seek) -> Result<SeekTarget, Refusal> {
    let request = plan(seek)?;
    let seconds = |ns: u64| ns as f64 / 1e9;
    Ok(SeekTarget {
        generation: 0,
        start: request.lower_ns.map_or(0.0, seconds),
        end: request.upper_ns.map(seconds),
        // The replay request carries the rate and the frames; these are
        // for plain VOD seeks.
        rate: request.rate,
        precision: Default::default(),
        replay: Some(request),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn seek(rate: f64, flags: gst::SeekFlags, start: Option<u64>, stop: Option<u64>) -> gst::Event {
        let kind = |t: Option<u64>| match t {
            Some(_) => gst::SeekType::Set,
            None => gst::SeekType::None,
        };
        gst::event::Seek::new(
            rate,
            flags,
            kind(start),
            start.map(gst::ClockTime::from_nseconds),
            kind(stop),
            stop.map(gst::ClockTime::from_nseconds),
        )
    }

    fn plan_of(event: &gst::Event) -> Result<ReplayRequest, Refusal> {
        match event.view() {
            gst::EventView::Seek(s) => plan(s),
            _ => unreachable!(),
        }
    }

    #[test]
    fn seeks_become_replay_requests() {
        gst::init().unwrap();
        let flush = gst::SeekFlags::FLUSH;
        let forward = plan_of(&seek(1.0, flush, Some(3600 * S), Some(3605 * S))).unwrap();
        assert_eq!(
            forward.range().unwrap(),
            "clock=19000101T010000.000Z-19000101T010005.000Z"
        );
        let reverse = plan_of(&seek(
            -1.0,
            flush | gst::SeekFlags::TRICKMODE_KEY_UNITS,
            Some(3600 * S),
            Some(3605 * S),
        ))
        .unwrap();
        assert_eq!(
            reverse.range().unwrap(),
            "clock=19000101T010005.000Z-19000101T010000.000Z"
        );
        assert_eq!(reverse.frames, Frames::Intra { interval_ms: 0 });
        let with_interval = gst::event::Seek::builder(
            1.0,
            flush | gst::SeekFlags::TRICKMODE_KEY_UNITS,
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(3600),
            gst::SeekType::None,
            gst::ClockTime::NONE,
        )
        .trickmode_interval(gst::ClockTime::from_mseconds(500))
        .build();
        assert_eq!(
            plan_of(&with_interval).unwrap().frames,
            Frames::Intra { interval_ms: 500 }
        );
        assert_eq!(
            plan_of(&seek(-1.0, flush, Some(3600 * S), None)),
            Err(Refusal::NoStart)
        );
        assert_eq!(
            plan_of(&seek(1.0, gst::SeekFlags::empty(), Some(S), None)),
            Err(Refusal::NotFlushing)
        );
    }
}
