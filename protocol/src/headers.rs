//! Typed parsing of RTSP header values: `Session`, `Public`, `RTP-Info` and
//! `Range`.
//!
//! All functions are pure and take the header value as received (already
//! trimmed by [`crate::message::Headers`], but they trim again so they can be
//! used on any string). They follow the principle of `docs/QUIRKS.md`:
//! trim, compare case-insensitively, skip what is not understood, and return
//! `None` or an empty list only when nothing usable is left. None of them
//! panics on any input.

use crate::text::{is_lws, split_param, trim, unquote};

/// Session timeout assumed when the server gives none (RFC 2326 section
/// 12.37: "the default is 60 seconds").
pub const DEFAULT_SESSION_TIMEOUT_SECS: u64 = 60;

/// `Session` header (RFC 2326 section 12.37, RFC 7826 section 18.49).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHeader {
    /// Session identifier, to be echoed verbatim in later requests.
    pub id: String,
    /// Timeout the server announced, if any and if usable (non-zero).
    pub timeout_secs: Option<u64>,
}

impl SessionHeader {
    /// Parses a `Session` value such as `9a90de54; timeout=60`.
    ///
    /// Tolerated: spaces anywhere (docs/QUIRKS.md, "Session header":
    /// `9a90de54; timeout=60`, Hikvision pads the value with many spaces),
    /// any case for `timeout`, a quoted timeout, unknown parameters. A
    /// missing, garbage or zero timeout gives `timeout_secs: None` (a zero
    /// timeout would make keep-alives spin; the default applies instead).
    /// Returns `None` only if there is no session id.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let first = trim(parts.next().unwrap_or_default());
        // Session ids cannot contain whitespace (RFC 2326 section 3.4,
        // `1*( ALPHA | DIGIT | safe )`); if a server separated a parameter
        // with a space instead of `;`, treat the rest as parameters.
        let mut words = first.split(|c: char| is_lws(c));
        let id = words.next().unwrap_or_default();
        if id.is_empty() {
            return None;
        }
        let mut timeout_secs = None;
        for param in words.chain(parts) {
            let (name, value) = split_param(param);
            if name.eq_ignore_ascii_case("timeout") && timeout_secs.is_none() {
                timeout_secs = value
                    .map(unquote)
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&t| t > 0);
            }
        }
        Some(Self {
            id: id.to_owned(),
            timeout_secs,
        })
    }

    /// The announced timeout, or [`DEFAULT_SESSION_TIMEOUT_SECS`]
    /// (docs/QUIRKS.md, "Session header").
    pub fn timeout_or_default(&self) -> u64 {
        self.timeout_secs.unwrap_or(DEFAULT_SESSION_TIMEOUT_SECS)
    }
}

/// Parses a `Public` header value (RFC 2326 section 12.28) into upper-case
/// method names, in order and without duplicates.
///
/// Tolerated: spaces around commas (`OPTIONS, DESCRIBE,SETUP ,PLAY`),
/// methods separated by spaces only, empty entries, lower-case names. When
/// a server sends several `Public` headers, join their values with `,`
/// before calling this.
pub fn parse_public(value: &str) -> Vec<String> {
    let mut methods: Vec<String> = Vec::new();
    for method in value.split(|c: char| c == ',' || is_lws(c)) {
        if method.is_empty() {
            continue;
        }
        let method = method.to_ascii_uppercase();
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    methods
}

/// One entry of an `RTP-Info` header (RFC 2326 section 12.33, RFC 7826
/// section 18.45).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpInfo {
    /// Stream URL as given (may be relative or absolute; empty if the
    /// server left it out).
    pub url: String,
    /// Sequence number of the first packet after PLAY.
    pub seq: Option<u16>,
    /// RTP timestamp corresponding to the start of the `Range`.
    pub rtptime: Option<u32>,
    /// SSRC, only in RTSP 2.0 style or from servers that add it.
    pub ssrc: Option<u32>,
}

/// Parameters that may follow the URL in an `RTP-Info` entry. Used to find
/// where an unquoted URL ends, since URLs may themselves contain `;`.
const RTP_INFO_PARAMS: [&str; 3] = ["seq", "rtptime", "ssrc"];

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// If `s` (leading whitespace ignored) is `key` followed by optional spaces
/// and `=`, returns what follows the `=`. Keys compare case-insensitively.
fn strip_key<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let s = s.trim_start_matches(is_lws);
    if !starts_with_ignore_case(s, key) {
        return None;
    }
    s.get(key.len()..)?
        .trim_start_matches(is_lws)
        .strip_prefix('=')
}

fn starts_with_rtp_info_param(s: &str) -> bool {
    RTP_INFO_PARAMS
        .iter()
        .any(|key| strip_key(s, key).is_some())
}

/// Parses an SSRC written in hexadecimal or decimal.
///
/// RFC 7826 writes SSRCs as 8 hex digits, RFC 2326 section 12.39 too, but
/// servers drop leading zeros (docs/QUIRKS.md, "RTP-Info") and a few write
/// decimal. Rule: `0x` prefix, any hex letter, or at most 8 digits with
/// `prefer_hex` → hex; otherwise all-decimal values are decimal. With
/// `prefer_hex == false` only exactly 8 digits or hex letters mean hex.
fn parse_ssrc(value: &str, prefer_hex: bool) -> Option<u32> {
    let v = unquote(value);
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let all_decimal = v.bytes().all(|b| b.is_ascii_digit());
    let hex = !all_decimal || v.len() == 8 || (prefer_hex && v.len() <= 8);
    if hex {
        u32::from_str_radix(v, 16).ok()
    } else {
        v.parse().ok()
    }
}

/// Splits an `RTP-Info` value into entries. Entries are separated by a
/// comma followed (after optional spaces) by `url=`; commas anywhere else
/// belong to a URL, and commas inside double quotes (RTSP 2.0 quotes the
/// URL) never split.
fn split_rtp_info_entries(value: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                let after = value.get(i + 1..).unwrap_or_default();
                if strip_key(after, "url").is_some() {
                    entries.push(value.get(start..i).unwrap_or_default());
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    entries.push(value.get(start..).unwrap_or_default());
    entries
}

/// Parses one `RTP-Info` entry.
fn parse_rtp_info_entry(entry: &str) -> Option<RtpInfo> {
    let entry = trim(entry);
    if entry.is_empty() {
        return None;
    }
    let mut info = RtpInfo::default();
    let mut rtsp2_style = false;
    let params: &str = if let Some(rest) = strip_key(entry, "url") {
        let rest = trim(rest);
        if let Some(quoted) = rest.strip_prefix('"') {
            // RTSP 2.0: url="rtsp://..." ssrc=0A13C760:seq=1;rtptime=2
            rtsp2_style = true;
            let (url, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            info.url = trim(url).to_owned();
            after
        } else {
            // Unquoted URL: it ends at the first `;` or space that is
            // followed by a known parameter, so a URL containing `;`
            // (e.g. `.../track1;foo`) stays whole.
            let end = rest
                .char_indices()
                .filter(|&(_, c)| c == ';' || is_lws(c))
                .map(|(i, _)| i)
                .find(|&i| {
                    let after = rest.get(i + 1..).unwrap_or_default();
                    starts_with_rtp_info_param(after.trim_start_matches(|c| c == ';' || is_lws(c)))
                })
                .unwrap_or(rest.len());
            info.url = trim(rest.get(..end).unwrap_or(rest)).to_owned();
            rest.get(end..).unwrap_or_default()
        }
    } else {
        // No url= at all (seen on some NVRs for single-stream
        // presentations): keep the parameters with an empty URL.
        entry
    };
    // Parameters are separated by `;` (RFC 2326) and, in RTSP 2.0, by `:`
    // after the ssrc; spaces around `=` are trimmed by `split_param`.
    for param in params.split([';', ':']) {
        let (name, value) = split_param(param);
        let Some(value) = value else { continue };
        if name.eq_ignore_ascii_case("seq") {
            info.seq = value.parse().ok();
        } else if name.eq_ignore_ascii_case("rtptime") {
            info.rtptime = value.parse().ok();
        } else if name.eq_ignore_ascii_case("ssrc") {
            info.ssrc = parse_ssrc(value, rtsp2_style);
        }
    }
    if info.url.is_empty() && info.seq.is_none() && info.rtptime.is_none() && info.ssrc.is_none() {
        return None;
    }
    Some(info)
}

/// Parses an `RTP-Info` header (RFC 2326 section 12.33; RTSP 2.0 form of
/// RFC 7826 section 18.45 also accepted).
///
/// Example: `url=rtsp://h/a/track1;seq=45102;rtptime=12345678,url=rtsp://h/a/track2;seq=1;rtptime=0`.
///
/// Tolerated: spaces around separators, unknown parameters (ignored),
/// garbage numbers (that field becomes `None`), URLs containing `,` or `;`,
/// quoted URLs, SSRC in hex or decimal (docs/QUIRKS.md, "RTP-Info").
/// Entries are returned for every URL, including streams that
/// were not set up; the caller matches them against its streams and skips
/// the rest. `seq`/`rtptime` are reported as given, even when
/// they look suspicious (`seq=0`): deciding whether to trust them is the
/// caller's job.
pub fn parse_rtp_info(value: &str) -> Vec<RtpInfo> {
    split_rtp_info_entries(value)
        .into_iter()
        .filter_map(parse_rtp_info_entry)
        .collect()
}

/// A `Range` header value (RFC 2326 section 12.29, 3.5–3.7).
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    /// Normal play time in seconds; `None` for `now` or an omitted or
    /// unparseable bound (an open range such as `npt=0-` has `end: None`).
    Npt {
        /// Start in seconds.
        start: Option<f64>,
        /// End in seconds.
        end: Option<f64>,
    },
    /// Absolute UTC time (`clock=19961108T142300Z-`), kept as text.
    Clock {
        /// Start time as given.
        start: String,
        /// End time as given.
        end: Option<String>,
    },
    /// SMPTE time code (`smpte`, `smpte-30-drop`, `smpte-25`), kept as text.
    Smpte {
        /// Start time code as given.
        start: String,
        /// End time code as given.
        end: Option<String>,
    },
    /// Any other unit: the value without a `;time=` suffix, trimmed.
    Other(String),
}

/// Parses an NPT time: `now` → `None`, seconds (`10.5`), or
/// `h:mm:ss[.frac]` (RFC 2326 section 3.6). Negative or non-finite values
/// are rejected.
fn parse_npt_time(s: &str) -> Option<f64> {
    let s = trim(s);
    if s.is_empty() || s.eq_ignore_ascii_case("now") {
        return None;
    }
    let valid_number =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let seconds = if s.contains(':') {
        let parts: Vec<&str> = s.split(':').map(trim).collect();
        let &[h, m, sec] = parts.as_slice() else {
            return None;
        };
        if !valid_number(h) || !valid_number(m) || !valid_number(sec) {
            return None;
        }
        let h: f64 = h.parse().ok()?;
        let m: f64 = m.parse().ok()?;
        let sec: f64 = sec.parse().ok()?;
        h * 3600.0 + m * 60.0 + sec
    } else {
        if !valid_number(s) {
            return None;
        }
        s.parse().ok()?
    };
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds)
}

/// Splits `start-end` of a range. The first `-` separates the bounds; for
/// SMPTE and clock formats the bounds contain no `-` either.
fn split_bounds(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('-') {
        Some((start, end)) => {
            let end = trim(end);
            (trim(start), (!end.is_empty()).then_some(end))
        }
        None => (trim(spec), None),
    }
}

/// Parses a `Range` value such as `npt=0-`, `npt=now-`, `npt=10.5-20`,
/// `npt=00:01:02.5-`, `clock=20200101T000000Z-` or
/// `smpte=10:07:00-10:07:33:05.01`. A `;time=...` suffix is ignored.
/// Returns `None` for an empty value or a unit without `=`.
pub fn parse_range(value: &str) -> Option<Range> {
    let value = trim(value);
    // RFC 2326 section 12.29: `Range: npt=0-;time=19970123T153600Z`.
    let spec = trim(value.split(';').next().unwrap_or_default());
    if spec.is_empty() {
        return None;
    }
    let (unit, bounds) = spec.split_once('=')?;
    let unit = trim(unit);
    let (start, end) = split_bounds(bounds);
    if unit.eq_ignore_ascii_case("npt") {
        Some(Range::Npt {
            start: parse_npt_time(start),
            end: end.and_then(parse_npt_time),
        })
    } else if unit.eq_ignore_ascii_case("clock") {
        Some(Range::Clock {
            start: start.to_owned(),
            end: end.map(str::to_owned),
        })
    } else if starts_with_ignore_case(unit, "smpte") {
        Some(Range::Smpte {
            start: start.to_owned(),
            end: end.map(str::to_owned),
        })
    } else {
        Some(Range::Other(spec.to_owned()))
    }
}

/// Formats an NPT range for a PLAY request: `npt=1.500-` or
/// `npt=1.500-20.000`. A negative or non-finite start is sent as 0; an end
/// that is non-finite or before the start is dropped, giving an open range
/// (always valid, unlike a reversed one, RFC 2326 section 3.6).
pub fn format_npt_range(start_secs: f64, end_secs: Option<f64>) -> String {
    let start = if start_secs.is_finite() && start_secs > 0.0 {
        start_secs
    } else {
        0.0
    };
    match end_secs.filter(|&end| end.is_finite() && end >= start) {
        Some(end) => format!("npt={start:.3}-{end:.3}"),
        None => format!("npt={start:.3}-"),
    }
}

/// Formats the NPT range of a reverse PLAY (negative `Scale` or `Speed`):
/// `npt=8.000-2.000` plays from 8 s down to 2 s, the way round the media
/// is sent (gst-rtsp-server reads it so). Values clamp as in
/// [`format_npt_range`]; without a lower bound above 0 the range is open
/// (`npt=8.000-`: down to the beginning).
pub fn format_reverse_npt_range(from_secs: f64, down_to_secs: Option<f64>) -> String {
    let from = if from_secs.is_finite() && from_secs > 0.0 {
        from_secs
    } else {
        0.0
    };
    match down_to_secs.filter(|&to| to.is_finite() && to > 0.0 && to < from) {
        Some(to) => format!("npt={from:.3}-{to:.3}"),
        None => format!("npt={from:.3}-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_ranges_run_down() {
        assert_eq!(format_reverse_npt_range(8.0, Some(2.0)), "npt=8.000-2.000");
        assert_eq!(format_reverse_npt_range(8.0, Some(0.0)), "npt=8.000-");
        assert_eq!(format_reverse_npt_range(8.0, None), "npt=8.000-");
        assert_eq!(format_reverse_npt_range(2.0, Some(8.0)), "npt=2.000-");
        assert_eq!(format_reverse_npt_range(f64::NAN, Some(1.0)), "npt=0.000-");
    }

    #[test]
    fn session_basic() {
        assert_eq!(
            SessionHeader::parse("12345678"),
            Some(SessionHeader {
                id: "12345678".into(),
                timeout_secs: None
            })
        );
        let s = SessionHeader::parse("708345999;timeout=60").unwrap();
        assert_eq!(s.id, "708345999");
        assert_eq!(s.timeout_secs, Some(60));
        assert_eq!(s.timeout_or_default(), 60);
        let s = SessionHeader::parse("abc;timeout=30").unwrap();
        assert_eq!(s.timeout_or_default(), 30);
    }

    #[test]
    fn quirk_session_with_spaces() {
        // docs/QUIRKS.md, "Session header": `9a90de54; timeout=60` with
        // spaces, and Hikvision's `Session:        708345999;timeout=60`.
        let s = SessionHeader::parse("9a90de54; timeout=60").unwrap();
        assert_eq!(s.id, "9a90de54");
        assert_eq!(s.timeout_secs, Some(60));
        let s = SessionHeader::parse("       708345999;timeout=60").unwrap();
        assert_eq!(s.id, "708345999");
        assert_eq!(s.timeout_secs, Some(60));
        let s = SessionHeader::parse(" 9a90de54 ;\ttimeout = 65 ; foo=bar ").unwrap();
        assert_eq!(s.id, "9a90de54");
        assert_eq!(s.timeout_secs, Some(65));
        let s = SessionHeader::parse("9a90de54 timeout=20").unwrap();
        assert_eq!(s.id, "9a90de54");
        assert_eq!(s.timeout_secs, Some(20));
    }

    #[test]
    fn quirk_session_without_timeout_defaults_to_60() {
        // docs/QUIRKS.md, "Session header": no `timeout` means 60 s.
        let s = SessionHeader::parse("1273222592").unwrap();
        assert_eq!(s.timeout_secs, None);
        assert_eq!(s.timeout_or_default(), DEFAULT_SESSION_TIMEOUT_SECS);
    }

    #[test]
    fn session_garbage_timeouts() {
        for v in [
            "a;timeout=",
            "a;timeout=abc",
            "a;timeout=0",
            "a;timeout=-5",
            "a;timeout",
        ] {
            let s = SessionHeader::parse(v).unwrap();
            assert_eq!(s.id, "a");
            assert_eq!(s.timeout_secs, None, "{v}");
            assert_eq!(s.timeout_or_default(), 60);
        }
        assert_eq!(
            SessionHeader::parse("a;TIMEOUT=\"15\"")
                .unwrap()
                .timeout_secs,
            Some(15)
        );
        assert_eq!(SessionHeader::parse(""), None);
        assert_eq!(SessionHeader::parse("   "), None);
        assert_eq!(SessionHeader::parse(";timeout=60"), None);
    }

    #[test]
    fn public_methods() {
        assert_eq!(
            parse_public("OPTIONS, DESCRIBE,SETUP ,PLAY"),
            vec!["OPTIONS", "DESCRIBE", "SETUP", "PLAY"]
        );
        assert_eq!(
            parse_public("options,  teardown,,get_parameter , set_parameter,\tPAUSE"),
            vec![
                "OPTIONS",
                "TEARDOWN",
                "GET_PARAMETER",
                "SET_PARAMETER",
                "PAUSE"
            ]
        );
        // Several Public headers joined by the caller, with a duplicate.
        assert_eq!(
            parse_public("OPTIONS, DESCRIBE,SETUP, PLAY"),
            parse_public("OPTIONS, DESCRIBE,SETUP , PLAY, options")
        );
        assert_eq!(
            parse_public("OPTIONS DESCRIBE"),
            vec!["OPTIONS", "DESCRIBE"]
        );
        assert!(parse_public("").is_empty());
        assert!(parse_public(" , ,").is_empty());
    }

    #[test]
    fn quirk_only_methods_listed_in_public() {
        // docs/QUIRKS.md, "Methods not in Public": some servers drop the
        // connection on an unknown method, so only listed methods are used.
        // Recorded-style live555 OPTIONS answer.
        let public = parse_public(
            "OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER",
        );
        assert!(public.iter().any(|m| m == "GET_PARAMETER"));
        let hik = parse_public(
            "OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER",
        );
        assert_eq!(hik.len(), 8);
        let minimal = parse_public("DESCRIBE,SETUP,TEARDOWN,PLAY");
        assert!(!minimal.iter().any(|m| m == "GET_PARAMETER"));
    }

    #[test]
    fn rtp_info_rfc2326_example() {
        let v = "url=rtsp://foo.com/bar.avi/streamid=0;seq=45102, url=rtsp://foo.com/bar.avi/streamid=1;seq=30211";
        let infos = parse_rtp_info(v);
        assert_eq!(
            infos,
            vec![
                RtpInfo {
                    url: "rtsp://foo.com/bar.avi/streamid=0".into(),
                    seq: Some(45102),
                    rtptime: None,
                    ssrc: None
                },
                RtpInfo {
                    url: "rtsp://foo.com/bar.avi/streamid=1".into(),
                    seq: Some(30211),
                    rtptime: None,
                    ssrc: None
                },
            ]
        );
    }

    #[test]
    fn rtp_info_live555_style() {
        let v = "url=rtsp://h/a/track1;seq=45102;rtptime=12345678,url=rtsp://h/a/track2;seq=1;rtptime=0";
        let infos = parse_rtp_info(v);
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].url, "rtsp://h/a/track1");
        assert_eq!(infos[0].seq, Some(45102));
        assert_eq!(infos[0].rtptime, Some(12345678));
        assert_eq!(infos[1].url, "rtsp://h/a/track2");
        assert_eq!(infos[1].seq, Some(1));
        assert_eq!(infos[1].rtptime, Some(0));
    }

    #[test]
    fn rtp_info_hikvision_style_query_in_url() {
        let v = "url=rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast;seq=25418;rtptime=2867235632";
        let infos = parse_rtp_info(v);
        assert_eq!(infos.len(), 1);
        assert_eq!(
            infos[0].url,
            "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast"
        );
        assert_eq!(infos[0].seq, Some(25418));
        assert_eq!(infos[0].rtptime, Some(2867235632));
    }

    #[test]
    fn rtp_info_urls_with_comma_and_semicolon() {
        let v = "url=rtsp://h/a,b/track1;x=1;seq=7;rtptime=9 , url=rtsp://h/a,b/track2;seq=8";
        let infos = parse_rtp_info(v);
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].url, "rtsp://h/a,b/track1;x=1");
        assert_eq!(infos[0].seq, Some(7));
        assert_eq!(infos[0].rtptime, Some(9));
        assert_eq!(infos[1].url, "rtsp://h/a,b/track2");
        assert_eq!(infos[1].seq, Some(8));
    }

    #[test]
    fn rtp_info_spaces_case_unknown_and_garbage() {
        let v = " URL = rtsp://h/s/trackID=0 ; SEQ = 12 ; RtpTime= 99 ; foo=bar;x ,url=rtsp://h/s/trackID=1;seq=70000;rtptime=abc";
        let infos = parse_rtp_info(v);
        assert_eq!(infos.len(), 2, "{infos:?}");
        assert_eq!(infos[0].url, "rtsp://h/s/trackID=0");
        assert_eq!(infos[0].seq, Some(12));
        assert_eq!(infos[0].rtptime, Some(99));
        let v = "url=rtsp://h/s/trackID=0 ; SEQ = 12 ; RtpTime= 99 ; foo=bar;x ,url=rtsp://h/s/trackID=1;seq=70000;rtptime=abc";
        let infos = parse_rtp_info(v);
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].url, "rtsp://h/s/trackID=0");
        assert_eq!(infos[0].seq, Some(12));
        assert_eq!(infos[0].rtptime, Some(99));
        assert_eq!(infos[1].url, "rtsp://h/s/trackID=1");
        assert_eq!(infos[1].seq, None, "70000 does not fit in u16");
        assert_eq!(infos[1].rtptime, None);
    }

    #[test]
    fn rtp_info_rtsp2_form() {
        let v = "url=\"rtsp://example.com/foo/audio\" ssrc=0A13C760:seq=45102;rtptime=12345678, url=\"rtsp://example.com/foo/video\" ssrc=9A9DE123:seq=30211;rtptime=29567112";
        let infos = parse_rtp_info(v);
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].url, "rtsp://example.com/foo/audio");
        assert_eq!(infos[0].ssrc, Some(0x0A13C760));
        assert_eq!(infos[0].seq, Some(45102));
        assert_eq!(infos[0].rtptime, Some(12345678));
        assert_eq!(infos[1].url, "rtsp://example.com/foo/video");
        assert_eq!(infos[1].ssrc, Some(0x9A9DE123));
        assert_eq!(infos[1].rtptime, Some(29567112));
    }

    #[test]
    fn quirk_ssrc_only_in_rtp_info() {
        // docs/QUIRKS.md, "RTP-Info": the SSRC only in `RTP-Info`, not in
        // `Transport`, in hex or decimal.
        let infos = parse_rtp_info("url=rtsp://h/t1;seq=1;rtptime=2;ssrc=d6d6627");
        assert_eq!(infos[0].ssrc, Some(0x0d6d6627));
        let infos = parse_rtp_info("url=rtsp://h/t1;seq=1;rtptime=2;ssrc=3735928559");
        assert_eq!(infos[0].ssrc, Some(3735928559));
        let infos = parse_rtp_info("url=rtsp://h/t1;ssrc=DEADBEEF;seq=1");
        assert_eq!(infos[0].ssrc, Some(0xDEADBEEF));
        assert_eq!(infos[0].seq, Some(1));
        let infos = parse_rtp_info("url=rtsp://h/t1;ssrc=0x1234");
        assert_eq!(infos[0].ssrc, Some(0x1234));
        let infos = parse_rtp_info("url=rtsp://h/t1;ssrc=zz");
        assert_eq!(infos[0].ssrc, None);
    }

    #[test]
    fn quirk_rtp_info_for_streams_not_set_up() {
        // docs/QUIRKS.md, "RTP-Info": entries for streams that were not set
        // up are skipped: the parser returns all of them; the caller matches by
        // URL. Recorded-style: audio was not set up but is listed.
        let infos = parse_rtp_info(
            "url=rtsp://10.0.0.5/live/track0;seq=100;rtptime=1000,url=rtsp://10.0.0.5/live/track1;seq=200;rtptime=2000",
        );
        assert_eq!(infos.len(), 2);
        let set_up = ["rtsp://10.0.0.5/live/track0"];
        let matched: Vec<_> = infos
            .iter()
            .filter(|i| set_up.contains(&i.url.as_str()))
            .collect();
        assert_eq!(matched.len(), 1);
        assert_eq!(matched[0].seq, Some(100));
    }

    #[test]
    fn quirk_rtp_info_suspicious_seq_is_reported_as_given() {
        // docs/QUIRKS.md, "RTP-Info": `seq=0` or `seq=1` that do not match
        // the packets: the parser reports them; the depayloader decides.
        let infos = parse_rtp_info("url=rtsp://h/a;seq=0;rtptime=0");
        assert_eq!(infos[0].seq, Some(0));
        assert_eq!(infos[0].rtptime, Some(0));
    }

    #[test]
    fn rtp_info_degenerate_inputs() {
        assert!(parse_rtp_info("").is_empty());
        assert!(parse_rtp_info(" , ,").is_empty());
        assert!(parse_rtp_info("garbage").is_empty());
        // No url at all.
        let infos = parse_rtp_info("seq=5;rtptime=6");
        assert_eq!(
            infos,
            vec![RtpInfo {
                url: String::new(),
                seq: Some(5),
                rtptime: Some(6),
                ssrc: None
            }]
        );
        // URL only.
        let infos = parse_rtp_info("url=rtsp://h/a/");
        assert_eq!(infos[0].url, "rtsp://h/a/");
        assert_eq!(infos[0].seq, None);
        // Unterminated quote, non-ASCII.
        let infos = parse_rtp_info("url=\"rtsp://h/é;seq=1");
        assert_eq!(infos.len(), 1);
        let _ = parse_rtp_info("url=ü,url=;;;==,é=é");
    }

    #[test]
    fn range_npt() {
        assert_eq!(
            parse_range("npt=0-"),
            Some(Range::Npt {
                start: Some(0.0),
                end: None
            })
        );
        assert_eq!(
            parse_range("npt=now-"),
            Some(Range::Npt {
                start: None,
                end: None
            })
        );
        assert_eq!(
            parse_range("npt=10.5-20"),
            Some(Range::Npt {
                start: Some(10.5),
                end: Some(20.0)
            })
        );
        assert_eq!(
            parse_range("npt=00:01:02.5-"),
            Some(Range::Npt {
                start: Some(62.5),
                end: None
            })
        );
        assert_eq!(
            parse_range(" NPT = 1:00:00 - 1:00:10.25 ;time=19970123T153600Z"),
            Some(Range::Npt {
                start: Some(3600.0),
                end: Some(3610.25)
            })
        );
        assert_eq!(
            parse_range("npt=0.000-"),
            Some(Range::Npt {
                start: Some(0.0),
                end: None
            })
        );
        assert_eq!(
            parse_range("npt=-20"),
            Some(Range::Npt {
                start: None,
                end: Some(20.0)
            })
        );
        assert_eq!(
            parse_range("npt=abc-inf"),
            Some(Range::Npt {
                start: None,
                end: None
            })
        );
        assert_eq!(
            parse_range("npt=1:2-NaN"),
            Some(Range::Npt {
                start: None,
                end: None
            })
        );
    }

    #[test]
    fn range_clock_smpte_other() {
        assert_eq!(
            parse_range("clock=20200101T000000Z-"),
            Some(Range::Clock {
                start: "20200101T000000Z".into(),
                end: None
            })
        );
        assert_eq!(
            parse_range("clock=19961108T142300Z-19961108T143520Z"),
            Some(Range::Clock {
                start: "19961108T142300Z".into(),
                end: Some("19961108T143520Z".into())
            })
        );
        assert_eq!(
            parse_range("smpte=10:07:00-10:07:33:05.01"),
            Some(Range::Smpte {
                start: "10:07:00".into(),
                end: Some("10:07:33:05.01".into())
            })
        );
        assert_eq!(
            parse_range("smpte-25=10:07:00-"),
            Some(Range::Smpte {
                start: "10:07:00".into(),
                end: None
            })
        );
        assert_eq!(
            parse_range("bytes=0-100"),
            Some(Range::Other("bytes=0-100".into()))
        );
        assert_eq!(parse_range(""), None);
        assert_eq!(parse_range("  ;time=1"), None);
        assert_eq!(parse_range("npt"), None);
    }

    #[test]
    fn npt_format() {
        assert_eq!(format_npt_range(1.5, None), "npt=1.500-");
        assert_eq!(format_npt_range(0.0, Some(20.0)), "npt=0.000-20.000");
        assert_eq!(format_npt_range(-3.0, None), "npt=0.000-");
        assert_eq!(
            format_npt_range(f64::NAN, Some(f64::INFINITY)),
            "npt=0.000-"
        );
        assert_eq!(format_npt_range(-1.0, Some(0.0)), "npt=0.000-0.000");
        assert_eq!(format_npt_range(10.0, Some(5.0)), "npt=10.000-");
        // Round trip.
        assert_eq!(
            parse_range(&format_npt_range(62.25, Some(70.0))),
            Some(Range::Npt {
                start: Some(62.25),
                end: Some(70.0)
            })
        );
    }
}
