//! ONVIF replay (ONVIF Streaming Specification, "Playback"): the request
//! headers a replay client adds to RTSP and the RTP header extension a
//! replay server puts on its packets.
//!
//! - §6.3 (feature tag): SETUP and PLAY carry `Require: onvif-replay`.
//! - §6.4/§6.5 (PLAY): absolute positions as `Range: clock=…` (RFC 2326
//!   §3.7, UTC); reverse playback with `Scale` < 0, the range then starting
//!   at the later time; `Rate-Control: no` asks for data as fast as the
//!   server can send it; `Frames: intra[/<ms>]` or `predicted` for key
//!   frames only (at most one per interval) or no B-frames.
//! - §6.3 (RTP header extension, profile 0xABAC, 3 words): the NTP time of
//!   the access unit (64-bit, seconds since 1900 and a 32-bit fraction),
//!   then the flags C (clean point), E (end of a contiguous section),
//!   D (discontinuity), T (terminal: last packet of the range) and the
//!   low byte of the PLAY's CSeq.
//!
//! Times are nanoseconds since the NTP prime epoch (1900-01-01T00:00:00Z),
//! which is what C `rtspsrc` takes in its ONVIF seeks and what GStreamer's
//! `timestamp/x-ntp` reference timestamps hold.

use crate::rtp::FIXED_HEADER;

/// The feature tag of ONVIF replay (§6.3).
pub const REPLAY_FEATURE: &str = "onvif-replay";

/// Profile id of the replay header extension (§6.3).
pub const EXTENSION_PROFILE: u16 = 0xABAC;
/// Its length in 32-bit words.
pub const EXTENSION_WORDS: u16 = 3;

const NANOS: u64 = 1_000_000_000;
const DAY: u64 = 86_400;

/// The latest time written or read: the last whole second whose
/// nanoseconds since 1900 fit a u64 (in the year 2484); later times, which
/// a `YYYYMMDD` form can still write, are taken as this one.
const MAX_SECONDS: u64 = u64::MAX / NANOS - 1;

/// Days from 1900-01-01 to the given date of the proleptic Gregorian
/// calendar (the count of "civil days" of H. Hinnant's algorithm, shifted
/// to the NTP epoch).
const fn days_from_1900(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 693_901: days from 0000-03-01 to 1900-01-01.
    era * 146_097 + doe - 693_901
}

/// The date (year, month, day) of a day count from 1900-01-01.
fn date_of(days: u64) -> (u64, u64, u64) {
    let z = days + 693_901;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A UTC time (nanoseconds since 1900) as RFC 2326 §3.7 writes it:
/// `YYYYMMDDThhmmss.fffZ` (milliseconds; the server's resolution is
/// coarser or equal: gst-rtsp-server keeps hundredths).
pub fn format_clock(ns: u64) -> String {
    let seconds = (ns / NANOS).min(MAX_SECONDS);
    let millis = (ns % NANOS) / 1_000_000;
    let (year, month, day) = date_of(seconds / DAY);
    let in_day = seconds % DAY;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// A UTC time (`YYYYMMDDThhmmss[.fraction]Z`) as nanoseconds since 1900;
/// None when it is no such time or outside 1900–9999.
pub fn parse_clock(text: &str) -> Option<u64> {
    let text = text.trim();
    // The byte slicing below needs one byte per character.
    if !text.is_ascii() {
        return None;
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once(['T', 't'])?;
    let (whole, fraction) = match time.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (time, None),
    };
    if date.len() != 8 || whole.len() != 6 {
        return None;
    }
    let digits = |s: &str| -> Option<u64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (
        digits(&date[..4])?,
        digits(&date[4..6])?,
        digits(&date[6..])?,
    );
    let (hour, minute, second) = (
        digits(&whole[..2])?,
        digits(&whole[2..4])?,
        digits(&whole[4..])?,
    );
    if !(1900..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let nanos = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Nine digits at most count; the rest is below a nanosecond.
            let kept = &f[..f.len().min(9)];
            kept.parse::<u64>().ok()? * 10u64.pow(9 - kept.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    let seconds = days_from_1900(year, month, day) * DAY + hour * 3600 + minute * 60 + second;
    Some(seconds.min(MAX_SECONDS) * NANOS + nanos)
}

/// The `Range` of an ONVIF PLAY (§6.5): `clock=<from>-[<to>]`. Forward
/// playback goes from `lower` to `upper`; reverse playback (§6.4: Scale
/// below 0) from `upper` back to `lower`, so the range starts at the
/// later time. None when the direction's start is missing.
pub fn clock_range(lower: Option<u64>, upper: Option<u64>, reverse: bool) -> Option<String> {
    let (from, to) = if reverse {
        (upper?, lower)
    } else {
        (lower?, upper)
    };
    Some(match to {
        Some(to) => format!("clock={}-{}", format_clock(from), format_clock(to)),
        None => format!("clock={}-", format_clock(from)),
    })
}

/// The two times of a `clock=` range as (earlier, later), whichever order
/// they were written in (a reverse range is written later first). None
/// for other units or an unreadable start.
pub fn parse_clock_range(value: &str) -> Option<(u64, Option<u64>)> {
    let value = value.split(';').next()?.trim();
    let (unit, times) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("clock") {
        return None;
    }
    let (from, to) = times.split_once('-')?;
    let from = parse_clock(from)?;
    let to = Some(to.trim()).filter(|t| !t.is_empty()).map(parse_clock);
    match to {
        Some(None) => None,
        Some(Some(to)) => Some((from.min(to), Some(from.max(to)))),
        None => Some((from, None)),
    }
}

/// Which frames a replay asks for (§6.5 `Frames`), from a seek's trick
/// mode flags as C `rtspsrc` maps them: key units → `intra` (with the
/// seek's trick mode interval in milliseconds when it has one), forward
/// predicted → `predicted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Frames {
    #[default]
    All,
    Intra {
        interval_ms: u64,
    },
    Predicted,
}

impl Frames {
    pub fn from_trick_mode(key_units: bool, forward_predicted: bool, interval_ns: u64) -> Frames {
        if key_units {
            Frames::Intra {
                interval_ms: interval_ns / 1_000_000,
            }
        } else if forward_predicted {
            Frames::Predicted
        } else {
            Frames::All
        }
    }

    /// The `Frames` header value; None: no header (all frames).
    pub fn header(self) -> Option<String> {
        match self {
            Frames::All => None,
            Frames::Intra { interval_ms: 0 } => Some("intra".into()),
            Frames::Intra { interval_ms } => Some(format!("intra/{interval_ms}")),
            Frames::Predicted => Some("predicted".into()),
        }
    }
}

/// `Scale` and `Speed` of a replay PLAY at `rate`, as C `rtspsrc` sends
/// them: none at 1.0; with a trick mode seek the server does the rate
/// (`Scale: rate`); otherwise reverse is `Scale: -1.0` (plus `Speed` for
/// the magnitude) and forward is `Speed: rate` (RFC 2326 §12.34, §12.35).
pub fn scale_and_speed(rate: f64, server_trick_mode: bool) -> (Option<String>, Option<String>) {
    let number = crate::play_rate::format_rate;
    if rate == 1.0 || !crate::play_rate::valid_rate(rate.abs()) {
        (None, None)
    } else if server_trick_mode {
        (Some(number(rate)), None)
    } else if rate < 0.0 {
        let speed = (rate != -1.0).then(|| number(rate.abs()));
        (Some(number(-1.0)), speed)
    } else {
        (None, Some(number(rate)))
    }
}

/// The playback rate a PLAY answer states, as C `rtspsrc` reads it:
/// `Speed` first, else `Scale`; None when neither is a usable number.
pub fn answered_rate(speed: Option<&str>, scale: Option<&str>) -> Option<f64> {
    let read = |v: Option<&str>| {
        v.and_then(|v| v.trim().replace(',', ".").parse::<f64>().ok())
            .filter(|r| crate::play_rate::valid_rate(r.abs()))
    };
    read(speed).or_else(|| read(scale))
}

/// What one replay PLAY asks for: the range (nanoseconds since 1900,
/// lower and upper bound whatever the direction), the rate and the
/// frames. Kept for the PLAYs that resume after a PAUSE, which repeat
/// `Scale`, `Speed` and `Frames` so that the server keeps the mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayRequest {
    pub lower_ns: Option<u64>,
    pub upper_ns: Option<u64>,
    pub rate: f64,
    pub frames: Frames,
    /// The seek had a trick mode flag: the server applies the rate itself
    /// (`Scale: rate`, see [`scale_and_speed`]).
    pub server_trick_mode: bool,
}

impl Default for ReplayRequest {
    /// Forward at 1.0, every frame, no range: a replay from where the
    /// server's recording starts.
    fn default() -> Self {
        ReplayRequest {
            lower_ns: None,
            upper_ns: None,
            rate: 1.0,
            frames: Frames::default(),
            server_trick_mode: false,
        }
    }
}

impl ReplayRequest {
    pub fn reverse(&self) -> bool {
        self.rate < 0.0
    }

    /// The `Range` header value, None when the direction's start is
    /// missing.
    pub fn range(&self) -> Option<String> {
        clock_range(self.lower_ns, self.upper_ns, self.reverse())
    }

    /// `Scale`, `Speed` and `Frames` of every PLAY of this replay, and
    /// `Rate-Control: no` when `rate_control` is off (C `rtspsrc` sends
    /// `Rate-Control: yes` otherwise, the server's default).
    pub fn mode_headers(&self, rate_control: bool) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        let (scale, speed) = scale_and_speed(self.rate, self.server_trick_mode);
        if let Some(scale) = scale {
            headers.push(("Scale", scale));
        }
        if let Some(speed) = speed {
            headers.push(("Speed", speed));
        }
        if let Some(frames) = self.frames.header() {
            headers.push(("Frames", frames));
        }
        headers.push((
            "Rate-Control",
            if rate_control { "yes" } else { "no" }.into(),
        ));
        headers
    }
}

/// The replay header extension of one RTP packet (§6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayExtension {
    /// Nanoseconds since 1900; None for the "no time" value (all ones).
    pub time_ns: Option<u64>,
    /// C: the packet starts a clean point (a key frame).
    pub clean_point: bool,
    /// E: the last access unit before a gap in the recording.
    pub end_of_section: bool,
    /// D: a discontinuity before this access unit (a gap, or the jump back
    /// of reverse playback).
    pub discontinuity: bool,
    /// T: the last access unit of the requested range.
    pub terminal: bool,
    /// Low byte of the CSeq of the PLAY that started this data.
    pub cseq: u8,
}

/// The replay extension of an RTP packet, if it has one (profile 0xABAC
/// with at least 3 words); None for packets without it, other profiles,
/// or headers that run past the packet.
pub fn replay_extension(packet: &[u8]) -> Option<ReplayExtension> {
    if packet.len() < FIXED_HEADER || packet[0] >> 6 != 2 || packet[0] & 0x10 == 0 {
        return None;
    }
    let at = FIXED_HEADER + 4 * (packet[0] & 0x0f) as usize;
    let head = packet.get(at..at + 4)?;
    let profile = u16::from_be_bytes([head[0], head[1]]);
    let words = u16::from_be_bytes([head[2], head[3]]);
    if profile != EXTENSION_PROFILE || words < EXTENSION_WORDS {
        return None;
    }
    let data = packet.get(at + 4..at + 4 + 4 * words as usize)?;
    let ntp = u64::from_be_bytes(data[..8].try_into().ok()?);
    let flags = data[8];
    Some(ReplayExtension {
        time_ns: ntp_to_ns(ntp),
        clean_point: flags & 0x80 != 0,
        end_of_section: flags & 0x40 != 0,
        discontinuity: flags & 0x20 != 0,
        terminal: flags & 0x10 != 0,
        cseq: data[9],
    })
}

/// A 64-bit NTP timestamp (RFC 5905 §6: seconds since 1900, 32-bit
/// fraction) as nanoseconds since 1900; the all-ones value means no time
/// (rtponviftimestamp writes it for buffers without one).
pub fn ntp_to_ns(ntp: u64) -> Option<u64> {
    if ntp == u64::MAX {
        return None;
    }
    let seconds = ntp >> 32;
    let fraction = ntp & 0xffff_ffff;
    Some(seconds * NANOS + ((fraction * NANOS) >> 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NANOS;

    #[test]
    fn clock_times_round_trip() {
        assert_eq!(format_clock(0), "19000101T000000.000Z");
        assert_eq!(format_clock(3600 * S + 5 * S / 10), "19000101T010000.500Z");
        // 2026-12-03T17:55:59Z is 4_005_309_359 s after 1900 (Unix time
        // 1_796_320_559 + 2_208_988_800).
        let t = 4_005_309_359 * S + 250_000_000;
        assert_eq!(format_clock(t), "20261203T175559.250Z");
        assert_eq!(parse_clock("20261203T175559.250Z"), Some(t));
        assert_eq!(parse_clock("20261203T175559.25Z"), Some(t));
        assert_eq!(parse_clock("19000101T000005Z"), Some(5 * S));
        // 2000 is a leap year, 1900 and 2100 are not.
        assert_eq!(
            parse_clock("20000301T000000Z").unwrap() - parse_clock("20000228T000000Z").unwrap(),
            2 * DAY * S
        );
        assert_eq!(
            parse_clock("19000301T000000Z").unwrap() - parse_clock("19000228T000000Z").unwrap(),
            DAY * S
        );
        for days in [0, 59, 60, 365, 36_524, 40_000, 80_000] {
            let t = days * DAY * S;
            assert_eq!(parse_clock(&format_clock(t)), Some(t), "day {days}");
        }
    }

    #[test]
    fn bad_clock_times_are_refused() {
        for bad in [
            "",
            "2026-12-03T17:55:59Z",
            "20261303T000000Z",
            "20261200T000000Z",
            "18991231T235959Z",
            "20261203T250000Z",
            "20261203T000000.xZ",
            "20261203T00000Z",
            "2026120aT000000Z",
            // Not ASCII: a byte count of 8 that is not 8 characters.
            "202\u{FFFD}10T000000Z",
            "20261203T00\u{e9}00Z",
        ] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
    }

    #[test]
    fn far_times_are_clamped_not_overflowed() {
        let last = parse_clock("99991231T235959.999Z").unwrap();
        assert_eq!(last, MAX_SECONDS * NANOS + 999_000_000);
        assert_eq!(parse_clock("24850101T000000Z"), Some(MAX_SECONDS * NANOS));
        assert!(format_clock(u64::MAX).starts_with("2484"));
        assert!(parse_clock(&format_clock(u64::MAX)).is_some());
    }

    #[test]
    fn ranges_for_both_directions() {
        let (a, b) = (3600 * S, 3610 * S);
        assert_eq!(
            clock_range(Some(a), Some(b), false).unwrap(),
            "clock=19000101T010000.000Z-19000101T010010.000Z"
        );
        assert_eq!(
            clock_range(Some(a), None, false).unwrap(),
            "clock=19000101T010000.000Z-"
        );
        assert_eq!(
            clock_range(Some(a), Some(b), true).unwrap(),
            "clock=19000101T010010.000Z-19000101T010000.000Z"
        );
        assert_eq!(
            clock_range(None, Some(b), true).unwrap(),
            "clock=19000101T010010.000Z-"
        );
        assert_eq!(clock_range(Some(a), None, true), None);
        assert_eq!(clock_range(None, Some(b), false), None);
        assert_eq!(
            parse_clock_range("clock=19000101T010010Z-19000101T010000.00Z"),
            Some((a, Some(b)))
        );
        assert_eq!(
            parse_clock_range("clock=19000101T010000Z-"),
            Some((a, None))
        );
        assert_eq!(parse_clock_range("npt=0-10"), None);
        assert_eq!(parse_clock_range("clock=19000101T010000Z-junk"), None);
    }

    #[test]
    fn frames_and_rates() {
        assert_eq!(Frames::from_trick_mode(false, false, 0).header(), None);
        assert_eq!(
            Frames::from_trick_mode(true, false, 0).header().as_deref(),
            Some("intra")
        );
        assert_eq!(
            Frames::from_trick_mode(true, true, 2_500_000_000)
                .header()
                .as_deref(),
            Some("intra/2500")
        );
        assert_eq!(
            Frames::from_trick_mode(false, true, 0).header().as_deref(),
            Some("predicted")
        );
        assert_eq!(scale_and_speed(1.0, false), (None, None));
        assert_eq!(scale_and_speed(-1.0, false), (Some("-1.0".into()), None));
        assert_eq!(
            scale_and_speed(-2.0, false),
            (Some("-1.0".into()), Some("2.0".into()))
        );
        assert_eq!(scale_and_speed(2.0, false), (None, Some("2.0".into())));
        assert_eq!(scale_and_speed(-2.0, true), (Some("-2.0".into()), None));
        assert_eq!(answered_rate(None, Some("-1.000")), Some(-1.0));
        assert_eq!(answered_rate(Some("2"), Some("-1")), Some(2.0));
        assert_eq!(answered_rate(Some("x"), None), None);
        assert_eq!(answered_rate(None, Some("0")), None);
    }

    #[test]
    fn a_reverse_intra_request() {
        let request = ReplayRequest {
            lower_ns: Some(3600 * S),
            upper_ns: Some(3605 * S),
            rate: -1.0,
            frames: Frames::Intra { interval_ms: 0 },
            server_trick_mode: false,
        };
        assert_eq!(
            request.range().unwrap(),
            "clock=19000101T010005.000Z-19000101T010000.000Z"
        );
        let headers = request.mode_headers(false);
        assert_eq!(
            headers,
            vec![
                ("Scale", "-1.0".to_string()),
                ("Frames", "intra".to_string()),
                ("Rate-Control", "no".to_string())
            ]
        );
        let forward = ReplayRequest {
            rate: 1.0,
            frames: Frames::All,
            ..request
        };
        assert_eq!(
            forward.mode_headers(true),
            vec![("Rate-Control", "yes".to_string())]
        );
    }

    fn packet_with(profile: u16, words: u16, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x90, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7];
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&words.to_be_bytes());
        p.extend_from_slice(data);
        p.extend_from_slice(&[1, 2, 3]);
        p
    }

    #[test]
    fn extension_is_read() {
        // 3600.5 s after 1900, C and D set, CSeq 5.
        let ntp: u64 = (3600u64 << 32) | 0x8000_0000;
        let mut data = ntp.to_be_bytes().to_vec();
        data.extend_from_slice(&[0xA0, 5, 0, 0]);
        let ext = replay_extension(&packet_with(0xABAC, 3, &data)).unwrap();
        assert_eq!(ext.time_ns, Some(3600 * S + S / 2));
        assert!(ext.clean_point && ext.discontinuity);
        assert!(!ext.end_of_section && !ext.terminal);
        assert_eq!(ext.cseq, 5);
        // Terminal and end flags.
        data[8] = 0x50;
        let ext = replay_extension(&packet_with(0xABAC, 3, &data)).unwrap();
        assert!(ext.terminal && ext.end_of_section && !ext.clean_point);
        // No time.
        let mut none = u64::MAX.to_be_bytes().to_vec();
        none.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            replay_extension(&packet_with(0xABAC, 3, &none))
                .unwrap()
                .time_ns,
            None
        );
    }

    #[test]
    fn other_or_broken_extensions_are_ignored() {
        let data = [0u8; 12];
        assert_eq!(replay_extension(&packet_with(0xBEDE, 3, &data)), None);
        assert_eq!(replay_extension(&packet_with(0xABAC, 2, &data[..8])), None);
        // Length past the end.
        let mut short = packet_with(0xABAC, 3, &data);
        short.truncate(20);
        assert_eq!(replay_extension(&short), None);
        // No X bit.
        let mut plain = packet_with(0xABAC, 3, &data);
        plain[0] = 0x80;
        assert_eq!(replay_extension(&plain), None);
        assert_eq!(replay_extension(&[0x90, 96]), None);
    }
}
