//! Playback control of an RTSP presentation: whether it is on demand (VOD)
//! or live, what request moves the server's state towards what the player
//! wants (PAUSE, PLAY with or without a `Range`), and where in the
//! presentation (normal play time, NPT) an RTP packet is.
//!
//! RFC 2326 references: §3.6 (NPT), §10.5 (PLAY: a `Range` repositions,
//! a PLAY without one resumes where PAUSE stopped), §10.6 (PAUSE),
//! §12.33 (RTP-Info: `rtptime` is the RTP time of the `Range` start) and
//! appendix C.1.5 (`a=range` in the SDP: a finite range is a stored
//! presentation, `npt=now-` or an open range a live one).

use crate::headers::{Range, parse_range};
use crate::play_rate::{SeekPrecision, valid_rate};
use crate::sdp::SessionDescription;

/// The extent of an on-demand presentation, from its SDP `a=range`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VodRange {
    /// NPT seconds of the first instant.
    pub start: f64,
    /// NPT seconds of the end (the duration when `start` is 0).
    pub end: f64,
}

/// The on-demand range an SDP describes, or `None` for a live stream.
/// The session-level `a=range` applies to all media (RFC 2326 C.1.5);
/// without one, the media-level ranges must all be finite and the widest
/// is taken.
pub fn vod_range(sdp: &SessionDescription) -> Option<VodRange> {
    if let Some(value) = sdp.attribute("range") {
        return finite_npt(value);
    }
    let mut ranges = sdp.media.iter().map(|m| m.attribute("range"));
    let mut widest: Option<VodRange> = None;
    for range in ranges.by_ref() {
        let range = finite_npt(range?)?;
        widest = Some(match widest {
            Some(w) => VodRange {
                start: w.start.min(range.start),
                end: w.end.max(range.end),
            },
            None => range,
        });
    }
    widest
}

/// `npt=A-B` with a known start and an end after it; `npt=now-`,
/// `npt=0-` and other units (clock, smpte) are live or not seekable here.
fn finite_npt(value: &str) -> Option<VodRange> {
    finite_range(&parse_range(value)?)
}

/// A parsed range (`a=range`, RFC 7826 `Media-Range`) as an on-demand
/// extent, if it is a finite NPT one.
pub fn finite_range(range: &Range) -> Option<VodRange> {
    match *range {
        Range::Npt {
            start,
            end: Some(end),
        } => {
            let start = start?;
            (end > start && end <= MAX_NPT_SECONDS).then_some(VodRange { start, end })
        }
        _ => None,
    }
}

/// The longest NPT taken from a server (100 years): a range beyond it is
/// not a finite media, and its nanoseconds would not fit a clock time.
pub const MAX_NPT_SECONDS: f64 = 100.0 * 365.0 * 86_400.0;

/// An NPT in seconds as nanoseconds, clamped to 0..=[`MAX_NPT_SECONDS`]
/// (servers send any digits; `NaN` counts as 0).
pub fn npt_nanos(seconds: f64) -> u64 {
    let seconds = if seconds.is_nan() {
        0.0
    } else {
        seconds.clamp(0.0, MAX_NPT_SECONDS)
    };
    (seconds * 1e9).round() as u64
}

/// The NPT start a server answered a PLAY with (`Range: npt=5-10.048`).
/// gst-rtsp-server and others snap a seek to a key unit and say so here.
pub fn answered_start(range_header: Option<&str>) -> Option<f64> {
    match parse_range(range_header?)? {
        Range::Npt { start, .. } => start.filter(|s| *s <= MAX_NPT_SECONDS),
        _ => None,
    }
}

/// Where the server's RTSP state is (RFC 2326 appendix A.1, the part a
/// player moves between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Playing,
    Paused,
}

/// A seek the player asked for. `generation` grows with every seek, so a
/// newer one replaces an older one that was not sent yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeekTarget {
    pub generation: u64,
    /// NPT seconds (ONVIF replay: seconds since 1900, the range's lower
    /// and upper bound).
    pub start: f64,
    pub end: Option<f64>,
    /// Playback rate (1.0 normal; `Scale` or `Speed` otherwise).
    pub rate: f64,
    pub precision: SeekPrecision,
    /// An ONVIF replay seek (`onvif-mode`): its `clock=` range, rate and
    /// frames (see [`crate::onvif`]).
    pub replay: Option<crate::onvif::ReplayRequest>,
}

/// What the player wants: playing or paused, and the latest seek.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Target {
    pub playing: bool,
    pub seek: Option<SeekTarget>,
}

/// The next request to bring the server to the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Nothing,
    Pause,
    /// PLAY, with a `Range` for a seek not made yet.
    Play(Option<SeekTarget>),
}

/// The next request, one at a time: the answer to each changes
/// `server` (and `applied_seek`) before this is asked again.
///
/// `may_pause`: the server accepts PAUSE and the presentation may be
/// paused (on demand, or live with the `pause-live` choice). Without it
/// the server keeps playing while the player pauses, and a seek is a PLAY
/// with a `Range` straight away, which RFC 7826 §13.4 servers (and
/// gst-rtsp-server) take as a reposition; RFC 2326 §10.5 servers would
/// queue it, hence PAUSE first whenever possible.
pub fn next_step(server: ServerState, target: &Target, applied_seek: u64, may_pause: bool) -> Step {
    let pending_seek = target.seek.filter(|s| s.generation > applied_seek);
    match server {
        ServerState::Playing => match pending_seek {
            Some(_) if may_pause => Step::Pause,
            Some(seek) if target.playing => Step::Play(Some(seek)),
            // Without PAUSE, a seek made while paused waits for PLAYING:
            // sending it now would start the server again.
            Some(_) => Step::Nothing,
            None if !target.playing && may_pause => Step::Pause,
            None => Step::Nothing,
        },
        ServerState::Paused if target.playing => Step::Play(pending_seek),
        // A seek while paused waits for PLAYING, as in C rtspsrc: the
        // PLAY that carries its Range also starts the data.
        ServerState::Paused => Step::Nothing,
    }
}

/// Whether PAUSE may be sent: the server did not refuse it, and the
/// stream is on demand or the user wants live streams paused too.
pub fn may_pause(server_accepts_pause: bool, vod: bool, pause_live: bool) -> bool {
    server_accepts_pause && (vod || pause_live)
}

/// Why a seek is refused (the seek event then returns FALSE and nothing
/// changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekRefusal {
    /// A live stream, or nothing described yet.
    NotSeekable,
    /// A rate of 0, not a number, or beyond what a server is asked
    /// for ([`crate::play_rate::valid_rate`]).
    Rate,
    /// Only flushing seeks: the old position's data must not be played
    /// after the new one's.
    NotFlushing,
    /// No start position (`GST_SEEK_TYPE_NONE` or not in TIME).
    NoStart,
}

/// Where a seek goes in a presentation: where playback starts and where
/// it ends (if set), clamped into the VOD range. Forward, from the seek's
/// start to its end (dropped when not after the start). In reverse (rate
/// < 0, GStreamer's seek semantics) from the seek's stop (the end of the
/// presentation when unset) down to its start (the beginning when
/// unset); the server is asked for that range the other way round
/// (RFC 2326 §12.34: with a negative `Scale` the range runs backwards).
pub fn plan_seek(
    vod: Option<VodRange>,
    rate: f64,
    flush: bool,
    start: Option<f64>,
    end: Option<f64>,
) -> Result<(f64, Option<f64>), SeekRefusal> {
    let range = vod.ok_or(SeekRefusal::NotSeekable)?;
    if !valid_rate(rate.abs()) {
        return Err(SeekRefusal::Rate);
    }
    if !flush {
        return Err(SeekRefusal::NotFlushing);
    }
    if rate < 0.0 {
        let from = end.unwrap_or(range.end).clamp(range.start, range.end);
        let down_to = start.unwrap_or(range.start).clamp(range.start, range.end);
        return match down_to < from {
            true => Ok((from, Some(down_to))),
            false => Err(SeekRefusal::NoStart),
        };
    }
    let start = start
        .ok_or(SeekRefusal::NoStart)?
        .clamp(range.start, range.end);
    let end = end.map(|e| e.min(range.end)).filter(|&e| e > start);
    Ok((start, end))
}

/// An RTP timestamp and the NPT it stands for: the `Range` start and the
/// `rtptime` of the RTP-Info of the same PLAY answer (RFC 2326 §12.33).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub npt: f64,
    pub rtptime: u32,
    pub clock_rate: u32,
    /// Seconds of media per second of RTP time (`Scale`, see
    /// [`crate::play_rate::PlayRates`]).
    pub scale: f64,
}

impl Anchor {
    /// The NPT of a packet with RTP timestamp `timestamp`. The difference
    /// is taken modulo 2^32 as a signed 32-bit number (RFC 3550 §5.1:
    /// timestamps wrap), so packets just before the anchor (B-frames) come
    /// out slightly earlier; never before 0.
    pub fn npt_of(&self, timestamp: u32) -> f64 {
        let delta = timestamp.wrapping_sub(self.rtptime) as i32;
        let rate = self.clock_rate.max(1) as f64;
        (self.npt + delta as f64 / rate * self.scale).max(0.0)
    }
}

/// How far the first packet after a PLAY with a `Range` may be from the
/// `Range` start by its RTP-Info `rtptime` (a key frame snapped to is in
/// the answered start already) before that `rtptime` is taken as wrong.
pub const ANCHOR_TOLERANCE_S: f64 = 0.5;

impl Anchor {
    /// The anchor to use once the first packet after the PLAY answer is
    /// there, if this one is wrong: gst-rtsp-server 1.22 answers the first
    /// PLAY of a new media with a `Range` start that is not a key frame
    /// with the video `rtptime` of NPT 0 (its first packet is the range
    /// start later, docs/QUIRKS.md "RTP-Info of a first PLAY with a
    /// Range"). The first packet is then taken to be at the `Range` start.
    pub fn corrected_by_first(&self, timestamp: u32) -> Option<Anchor> {
        let off = self.npt_of(timestamp) - self.npt;
        (off.abs() > ANCHOR_TOLERANCE_S).then_some(Anchor {
            rtptime: timestamp,
            ..*self
        })
    }
}

impl Anchor {
    /// The anchor of a reverse PLAY answered by gst-rtsp-server 1.22 once
    /// its first packet is there: its `rtptime` is the `Range` start
    /// extrapolated forward from that packet, as if the media played
    /// forward (docs/QUIRKS.md "Reverse playback on gst-rtsp-server"), so
    /// the first packet is at the `Range` start plus its RTP time
    /// distance, and from there NPT runs down at the (negative) scale.
    /// A distance beyond [`ANCHOR_TOLERANCE_S`] is no extrapolation (the
    /// `rtptime` of NPT 0 of a first PLAY, see `corrected_by_first`): the
    /// first packet is then taken to be at the `Range` start.
    pub fn reverse_from_first(&self, timestamp: u32) -> Anchor {
        let delta = timestamp.wrapping_sub(self.rtptime) as i32;
        let seconds = delta as f64 / self.clock_rate.max(1) as f64;
        let seconds = if seconds.abs() > ANCHOR_TOLERANCE_S {
            0.0
        } else {
            seconds
        };
        Anchor {
            npt: (self.npt + seconds).max(0.0),
            rtptime: timestamp,
            ..*self
        }
    }
}

/// Packets just before RTP-Info's `seq` that may still be on their way
/// from before a seek; older ones than this are taken as a server whose
/// RTP-Info is off, not as stale data.
pub const STALE_WINDOW: u16 = 1024;

/// Whether a packet with sequence number `seq`, arriving after a PLAY
/// whose RTP-Info said `first`, belongs to the old position: up to
/// [`STALE_WINDOW`] before `first` in RFC 1982 serial arithmetic. After a
/// seek such packets were already on their way and are dropped.
pub fn stale_before(seq: u16, first: u16) -> bool {
    let behind = first.wrapping_sub(seq);
    behind != 0 && behind <= STALE_WINDOW
}

/// Whether a stream whose data stopped had reached the end of the range:
/// its last packet within `tolerance` seconds of `end`. Servers that send
/// no RTCP BYE at the end stop like this, and that is no outage.
pub fn reached_end(last_npt: Option<f64>, end: Option<f64>, tolerance: f64) -> bool {
    matches!((last_npt, end), (Some(last), Some(end)) if last + tolerance >= end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(text: &str) -> SessionDescription {
        SessionDescription::parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn vod_from_a_finite_range_only() {
        let head = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=x\nt=0 0\n";
        let media = "m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\n";
        let with = |range: &str| sdp(&format!("{head}{range}{media}"));
        assert_eq!(
            vod_range(&with("a=range:npt=0-10.048\n")),
            Some(VodRange {
                start: 0.0,
                end: 10.048
            })
        );
        assert_eq!(vod_range(&with("a=range:npt=now-\n")), None);
        assert_eq!(vod_range(&with("a=range:npt=0-\n")), None);
        assert_eq!(vod_range(&with("a=range:npt=5-5\n")), None);
        assert_eq!(vod_range(&with("a=range:clock=20200101T000000Z-\n")), None);
        assert_eq!(vod_range(&with("")), None);
        // Media-level ranges: all finite, widest wins; one live: live.
        let two = |a: &str, b: &str| {
            sdp(&format!(
                "{head}m=video 0 RTP/AVP 96\na=range:{a}\nm=audio 0 RTP/AVP 97\na=range:{b}\n"
            ))
        };
        assert_eq!(
            vod_range(&two("npt=0-9.5", "npt=0-10")),
            Some(VodRange {
                start: 0.0,
                end: 10.0
            })
        );
        assert_eq!(vod_range(&two("npt=0-9.5", "npt=now-")), None);
    }

    #[test]
    fn absurd_npt_values_are_bounded() {
        assert_eq!(answered_start(Some("npt=99999999999-")), None);
        assert_eq!(npt_nanos(99_999_999_999.0), (MAX_NPT_SECONDS * 1e9) as u64);
        assert!(npt_nanos(f64::INFINITY) < u64::MAX);
        assert_eq!(npt_nanos(f64::NAN), 0);
        assert_eq!(npt_nanos(-3.0), 0);
        assert_eq!(npt_nanos(1.5), 1_500_000_000);
    }

    #[test]
    fn answered_start_reads_the_snapped_position() {
        assert_eq!(answered_start(Some("npt=5-10.048")), Some(5.0));
        assert_eq!(
            answered_start(Some("npt=5.001053419-10.048")),
            Some(5.001053419)
        );
        assert_eq!(answered_start(Some("npt=now-")), None);
        assert_eq!(answered_start(Some("clock=20200101T000000Z-")), None);
        assert_eq!(answered_start(None), None);
    }

    fn seek(generation: u64, start: f64) -> Option<SeekTarget> {
        Some(SeekTarget {
            generation,
            start,
            end: None,
            rate: 1.0,
            precision: SeekPrecision::Server,
            replay: None,
        })
    }

    #[test]
    fn pause_and_resume() {
        use ServerState::*;
        let playing = Target {
            playing: true,
            seek: None,
        };
        let paused = Target {
            playing: false,
            seek: None,
        };
        assert_eq!(next_step(Playing, &playing, 0, true), Step::Nothing);
        assert_eq!(next_step(Playing, &paused, 0, true), Step::Pause);
        assert_eq!(next_step(Paused, &paused, 0, true), Step::Nothing);
        assert_eq!(next_step(Paused, &playing, 0, true), Step::Play(None));
        // A live stream with pause-live off: the server keeps playing.
        assert_eq!(next_step(Playing, &paused, 0, false), Step::Nothing);
    }

    #[test]
    fn seeks_pause_first_then_play_with_the_range() {
        use ServerState::*;
        let target = Target {
            playing: true,
            seek: seek(3, 5.5),
        };
        assert_eq!(next_step(Playing, &target, 2, true), Step::Pause);
        assert_eq!(
            next_step(Paused, &target, 2, true),
            Step::Play(seek(3, 5.5))
        );
        // Once applied, nothing more.
        assert_eq!(next_step(Playing, &target, 3, true), Step::Nothing);
        // No PAUSE possible: PLAY with the Range at once.
        assert_eq!(
            next_step(Playing, &target, 2, false),
            Step::Play(seek(3, 5.5))
        );
        // Seek while paused: waits for PLAYING, then goes with it.
        let paused = Target {
            playing: false,
            ..target
        };
        assert_eq!(next_step(Paused, &paused, 2, true), Step::Nothing);
        assert_eq!(next_step(Playing, &paused, 2, false), Step::Nothing);
    }

    #[test]
    fn seek_plans() {
        let vod = Some(VodRange {
            start: 0.0,
            end: 10.0,
        });
        assert_eq!(plan_seek(vod, 1.0, true, Some(5.0), None), Ok((5.0, None)));
        assert_eq!(
            plan_seek(vod, 1.0, true, Some(5.0), Some(7.0)),
            Ok((5.0, Some(7.0)))
        );
        assert_eq!(
            plan_seek(vod, 1.0, true, Some(12.0), None),
            Ok((10.0, None))
        );
        assert_eq!(
            plan_seek(vod, 1.0, true, Some(2.0), Some(20.0)),
            Ok((2.0, Some(10.0)))
        );
        assert_eq!(
            plan_seek(vod, 1.0, true, Some(5.0), Some(4.0)),
            Ok((5.0, None))
        );
        assert_eq!(
            plan_seek(None, 1.0, true, Some(5.0), None),
            Err(SeekRefusal::NotSeekable)
        );
        assert_eq!(plan_seek(vod, 2.0, true, Some(5.0), None), Ok((5.0, None)));
        // Reverse: from the stop (or the end) down to the start.
        assert_eq!(
            plan_seek(vod, -1.0, true, Some(2.0), Some(8.0)),
            Ok((8.0, Some(2.0)))
        );
        assert_eq!(
            plan_seek(vod, -2.0, true, None, None),
            Ok((10.0, Some(0.0)))
        );
        assert_eq!(
            plan_seek(vod, -1.0, true, Some(0.0), Some(30.0)),
            Ok((10.0, Some(0.0)))
        );
        assert_eq!(
            plan_seek(vod, -1.0, true, Some(6.0), Some(6.0)),
            Err(SeekRefusal::NoStart)
        );
        assert_eq!(
            plan_seek(vod, -100.0, true, None, Some(6.0)),
            Err(SeekRefusal::Rate)
        );
        assert_eq!(
            plan_seek(vod, 0.0, true, Some(5.0), None),
            Err(SeekRefusal::Rate)
        );
        assert_eq!(
            plan_seek(vod, f64::NAN, true, Some(5.0), None),
            Err(SeekRefusal::Rate)
        );
        assert_eq!(
            plan_seek(vod, 1.0, false, Some(5.0), None),
            Err(SeekRefusal::NotFlushing)
        );
        assert_eq!(
            plan_seek(vod, 1.0, true, None, None),
            Err(SeekRefusal::NoStart)
        );
    }

    #[test]
    fn pause_only_where_allowed() {
        assert!(may_pause(true, true, false));
        assert!(may_pause(true, false, true));
        assert!(!may_pause(true, false, false));
        assert!(!may_pause(false, true, true));
    }

    #[test]
    fn npt_from_rtp_time() {
        let anchor = Anchor {
            npt: 5.0,
            rtptime: 4_294_960_000,
            clock_rate: 90_000,
            scale: 1.0,
        };
        assert_eq!(anchor.npt_of(4_294_960_000), 5.0);
        // Across the 32-bit wrap.
        let later = 4_294_960_000u32.wrapping_add(90_000 * 2 + 45_000);
        assert!((anchor.npt_of(later) - 7.5).abs() < 1e-9);
        // A little before the anchor (reordered frames); never negative.
        assert!((anchor.npt_of(4_294_960_000 - 3000) - (5.0 - 3000.0 / 90000.0)).abs() < 1e-9);
        let at_zero = Anchor { npt: 0.0, ..anchor };
        assert_eq!(at_zero.npt_of(4_294_960_000 - 3000), 0.0);
        // Played at twice the rate: two seconds of media per RTP second.
        let scaled = Anchor {
            scale: 2.0,
            ..anchor
        };
        assert!((scaled.npt_of(later) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_wrong_rtptime_is_corrected_by_the_first_packet() {
        let anchor = Anchor {
            npt: 3.0,
            rtptime: 1_419_287_575,
            clock_rate: 90_000,
            scale: 1.0,
        };
        // Measured: first video packet 3 s after RTP-Info's rtptime.
        let fixed = anchor.corrected_by_first(1_419_557_575).unwrap();
        assert_eq!(fixed.rtptime, 1_419_557_575);
        assert_eq!(fixed.npt_of(1_419_557_575), 3.0);
        // A packet a frame or two off is the server being right.
        assert_eq!(anchor.corrected_by_first(1_419_287_575 + 3000), None);
        assert_eq!(anchor.corrected_by_first(1_419_287_575), None);
    }

    #[test]
    fn sequence_filter_after_a_seek() {
        assert!(!stale_before(100, 100));
        assert!(!stale_before(101, 100));
        assert!(stale_before(99, 100));
        assert!(!stale_before(3, 65530));
        assert!(stale_before(65530, 3));
        // Far behind: RTP-Info was wrong, not a stale packet.
        assert!(stale_before(100u16.wrapping_sub(STALE_WINDOW), 100));
        assert!(!stale_before(100u16.wrapping_sub(STALE_WINDOW + 1), 100));
    }

    #[test]
    fn end_of_range() {
        assert!(reached_end(Some(9.9), Some(10.048), 0.5));
        assert!(!reached_end(Some(6.0), Some(10.048), 0.5));
        assert!(!reached_end(None, Some(10.0), 0.5));
        assert!(!reached_end(Some(9.9), None, 0.5));
    }
}
