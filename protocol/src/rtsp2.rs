//! RTSP 2.0 (RFC 7826) pieces that differ from RTSP 1.0: the version to
//! fall back to, the feature tag a player announces, and the headers a
//! 2.0 server adds to its answers (`Media-Properties`, `Media-Range`,
//! `Accept-Ranges`) or requests (`PLAY_NOTIFY` with `Notify-Reason`), and
//! `Seek-Style` on a ranged PLAY.

use crate::headers::{Range, parse_range};
use crate::message::{Response, Version};
use crate::text::trim;

/// The feature tag of a player of on-demand and live media (RFC 7826
/// §11.1, registered in §22.5); gst-rtsp-server and other 2.0 servers
/// expect it in the `Supported` header of the first request.
pub const PLAY_BASIC: &str = "play.basic";

/// The method a 2.0 server uses to tell a player about the session
/// (RFC 7826 §13.5).
pub const PLAY_NOTIFY: &str = "PLAY_NOTIFY";

/// Whether the answer to the first request sent as `asked` says the
/// server does not speak that version, so the session goes on in 1.0:
/// `505 RTSP Version Not Supported` (RFC 7826 §17.5.6), or a status line
/// of a lower version (a 1.0 server answering in its own version, RFC
/// 7826 §4.1: "the response MUST use the same version as the request"
/// only binds servers that speak it).
pub fn falls_back_to_1_0(asked: Version, response: &Response) -> bool {
    asked == Version::Rtsp20 && (response.status == 505 || response.version == Version::Rtsp10)
}

/// Whether an ANNOUNCE sent in RTSP/2.0 and answered `status` is to be
/// sent again in RTSP/1.0. RFC 7826 §13 has no ANNOUNCE or RECORD
/// (publishing was left out of 2.0), so a 2.0 server refuses them:
/// gst-rtsp-server 1.22 answers 400 ("invalid command for version"),
/// others 405, 501, 505 or 551 (Option not supported). Publishing then
/// goes on in 1.0, which defines it (RFC 2326 §10.3, §10.11).
pub fn publish_in_1_0(asked: Version, status: u16) -> bool {
    asked == Version::Rtsp20 && matches!(status, 400 | 405 | 501 | 505 | 551)
}

/// How a server may answer a PLAY with a `Range` (RFC 7826 §18.47).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeekStyle {
    /// Start at the random access point (key frame) before the position,
    /// the default of this client: what is played after a seek decodes.
    #[default]
    Rap,
    /// Start at the nearest random access point before, and send what is
    /// needed to decode from the exact position.
    CoRap,
    /// Start with the first unit at or before the position.
    FirstPrior,
    /// Start with the first unit after the position.
    Next,
}

impl SeekStyle {
    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SeekStyle::Rap => "RAP",
            SeekStyle::CoRap => "CoRAP",
            SeekStyle::FirstPrior => "First-Prior",
            SeekStyle::Next => "Next",
        }
    }

    /// Parses a header value, case-insensitively.
    pub fn parse(value: &str) -> Option<Self> {
        let value = trim(value);
        [
            SeekStyle::Rap,
            SeekStyle::CoRap,
            SeekStyle::FirstPrior,
            SeekStyle::Next,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(value))
    }
}

/// Whether and how a medium can be positioned, from `Media-Properties`
/// (RFC 7826 §18.29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomAccess {
    /// `Random-Access`, optionally with the maximum distance in seconds
    /// between random access points.
    Anywhere(Option<u32>),
    /// `Beginning-Only`: PLAY from the start only.
    BeginningOnly,
    /// `No-Seeking`: no Range at all (live).
    NoSeeking,
}

/// A `Media-Properties` header (RFC 7826 §18.29).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaProperties {
    /// Random access property, if given.
    pub random_access: Option<RandomAccess>,
    /// `Immutable`, `Dynamic`, `Time-Progressing` or `Unlimited`, as given.
    pub content: Vec<String>,
    /// `Time-Duration=<seconds>`: how long a time-progressing medium
    /// stays available.
    pub time_duration: Option<f64>,
    /// `Scales="..."`: the scales the server supports, as given.
    pub scales: Option<String>,
    /// Properties not understood, as given.
    pub other: Vec<String>,
}

impl MediaProperties {
    /// Parses the comma-separated property list, tolerantly: unknown or
    /// malformed entries go to [`MediaProperties::other`].
    pub fn parse(value: &str) -> Self {
        let mut props = MediaProperties::default();
        for entry in split_outside_quotes(value) {
            let entry = trim(entry);
            if entry.is_empty() {
                continue;
            }
            let (name, arg) = match entry.split_once('=') {
                Some((n, a)) => (trim(n), Some(trim(a).trim_matches('"'))),
                None => (entry, None),
            };
            let lname = name.to_ascii_lowercase();
            match (lname.as_str(), arg) {
                ("random-access", None) => {
                    props.random_access = Some(RandomAccess::Anywhere(None));
                }
                ("random-access", Some(a)) => match a.parse::<f64>() {
                    Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                        props.random_access = Some(RandomAccess::Anywhere(Some(
                            secs.min(u32::MAX as f64) as u32,
                        )))
                    }
                    _ => props.other.push(entry.to_owned()),
                },
                ("beginning-only", None) => props.random_access = Some(RandomAccess::BeginningOnly),
                ("no-seeking", None) => props.random_access = Some(RandomAccess::NoSeeking),
                ("immutable" | "dynamic" | "time-progressing" | "unlimited", None) => {
                    props.content.push(name.to_owned())
                }
                ("time-duration", Some(a)) => match a.parse::<f64>() {
                    Ok(secs) if secs.is_finite() && secs >= 0.0 => props.time_duration = Some(secs),
                    _ => props.other.push(entry.to_owned()),
                },
                ("scales", Some(a)) => props.scales = Some(a.to_owned()),
                _ => props.other.push(entry.to_owned()),
            }
        }
        props
    }

    /// Whether the server says a PLAY may carry a Range other than the
    /// start: `None` when it did not say.
    pub fn seekable(&self) -> Option<bool> {
        self.random_access
            .map(|r| matches!(r, RandomAccess::Anywhere(_)))
    }
}

/// `Media-Range` (RFC 7826 §18.30): the range of the medium as it is now
/// (it grows for a recording in progress); same syntax as `Range`. The
/// first range given is taken (a server may list one per format).
pub fn parse_media_range(value: &str) -> Option<Range> {
    value.split(',').find_map(parse_range)
}

/// `Accept-Ranges` (RFC 7826 §18.5): the range formats a server takes in
/// PLAY, lower-cased (`npt`, `smpte`, `clock`).
pub fn parse_accept_ranges(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|unit| trim(unit).to_ascii_lowercase())
        .filter(|unit| !unit.is_empty())
        .collect()
}

/// Why a server sent `PLAY_NOTIFY` (RFC 7826 §18.32, §13.5.1–13.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyReason {
    /// `end-of-stream`: all media of the session were sent; the
    /// `Range` header says where it ended.
    EndOfStream,
    /// `media-properties-update`: new `Media-Properties`/`Media-Range`.
    MediaPropertiesUpdate,
    /// `scale-change`: the server plays at another `Scale` now.
    ScaleChange,
    /// Anything else, as given.
    Other(String),
}

impl NotifyReason {
    /// Parses a `Notify-Reason` value, case-insensitively.
    pub fn parse(value: &str) -> Self {
        let value = trim(value);
        match value.to_ascii_lowercase().as_str() {
            "end-of-stream" => NotifyReason::EndOfStream,
            "media-properties-update" => NotifyReason::MediaPropertiesUpdate,
            "scale-change" => NotifyReason::ScaleChange,
            _ => NotifyReason::Other(value.to_owned()),
        }
    }
}

/// Splits at commas that are not inside double quotes (`Scales="1, 2"`).
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status_line: &str) -> Response {
        let bytes = format!("{status_line}\r\nCSeq: 1\r\n\r\n");
        let mut framer = crate::message::Framer::default();
        framer.push(bytes.as_bytes());
        match framer.next_message() {
            Ok(Some(crate::message::Message::Response(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fallback_on_505_or_a_1_0_answer() {
        let ok20 = response("RTSP/2.0 200 OK");
        let r505 = response("RTSP/2.0 505 RTSP Version Not Supported");
        let r505_10 = response("RTSP/1.0 505 RTSP Version Not Supported");
        let ok10 = response("RTSP/1.0 200 OK");
        assert!(!falls_back_to_1_0(Version::Rtsp20, &ok20));
        assert!(falls_back_to_1_0(Version::Rtsp20, &r505));
        assert!(falls_back_to_1_0(Version::Rtsp20, &r505_10));
        assert!(falls_back_to_1_0(Version::Rtsp20, &ok10));
        // Asked in 1.0, nothing to fall back from.
        assert!(!falls_back_to_1_0(Version::Rtsp10, &r505_10));
        assert!(!falls_back_to_1_0(Version::Rtsp10, &ok20));
    }

    #[test]
    fn publishing_refused_in_2_0_goes_on_in_1_0() {
        for status in [400, 405, 501, 505, 551] {
            assert!(publish_in_1_0(Version::Rtsp20, status), "{status}");
            assert!(!publish_in_1_0(Version::Rtsp10, status), "{status}");
        }
        for status in [200, 401, 404, 454, 500] {
            assert!(!publish_in_1_0(Version::Rtsp20, status), "{status}");
        }
    }

    #[test]
    fn seek_style() {
        assert_eq!(SeekStyle::default().as_str(), "RAP");
        assert_eq!(SeekStyle::parse(" corap "), Some(SeekStyle::CoRap));
        assert_eq!(SeekStyle::parse("First-Prior"), Some(SeekStyle::FirstPrior));
        assert_eq!(SeekStyle::parse("next"), Some(SeekStyle::Next));
        assert_eq!(SeekStyle::parse("exact"), None);
    }

    #[test]
    fn media_properties_of_gst_rtsp_server() {
        // What gst-rtsp-server 1.22 answers SETUP in 2.0, live and VOD.
        let live = MediaProperties::parse("No-Seeking,Time-Progressing,Time-Duration=0.0");
        assert_eq!(live.random_access, Some(RandomAccess::NoSeeking));
        assert_eq!(live.content, vec!["Time-Progressing".to_owned()]);
        assert_eq!(live.time_duration, Some(0.0));
        assert_eq!(live.seekable(), Some(false));
        let vod = MediaProperties::parse("Random-Access");
        assert_eq!(vod.random_access, Some(RandomAccess::Anywhere(None)));
        assert_eq!(vod.seekable(), Some(true));
    }

    #[test]
    fn media_properties_rfc_example_and_junk() {
        // RFC 7826 §18.29 example.
        let p = MediaProperties::parse(
            "Random-Access=2.5, Unlimited, Immutable, Scales=\"-20, -10, -4, 0.5:1.5, 4, 8, 10, 15, 20\"",
        );
        assert_eq!(p.random_access, Some(RandomAccess::Anywhere(Some(2))));
        assert_eq!(
            p.content,
            vec!["Unlimited".to_owned(), "Immutable".to_owned()]
        );
        assert_eq!(
            p.scales.as_deref(),
            Some("-20, -10, -4, 0.5:1.5, 4, 8, 10, 15, 20")
        );
        assert!(p.other.is_empty());
        let junk = MediaProperties::parse("Beginning-Only, Random-Access=x, ,Foo=1");
        assert_eq!(junk.random_access, Some(RandomAccess::BeginningOnly));
        assert_eq!(junk.seekable(), Some(false));
        assert_eq!(
            junk.other,
            vec!["Random-Access=x".to_owned(), "Foo=1".to_owned()]
        );
        assert_eq!(MediaProperties::parse("").seekable(), None);
    }

    #[test]
    fn media_range_and_accept_ranges() {
        assert_eq!(
            parse_media_range("npt=0-34.567, clock=19961108T142300Z-"),
            Some(Range::Npt {
                start: Some(0.0),
                end: Some(34.567)
            })
        );
        assert_eq!(parse_media_range(""), None);
        assert_eq!(
            parse_accept_ranges("NPT, smpte ,,clock"),
            vec!["npt", "smpte", "clock"]
        );
    }

    #[test]
    fn notify_reason() {
        assert_eq!(
            NotifyReason::parse(" End-of-Stream"),
            NotifyReason::EndOfStream
        );
        assert_eq!(
            NotifyReason::parse("media-properties-update"),
            NotifyReason::MediaPropertiesUpdate
        );
        assert_eq!(
            NotifyReason::parse("scale-change"),
            NotifyReason::ScaleChange
        );
        assert_eq!(
            NotifyReason::parse("x-vendor"),
            NotifyReason::Other("x-vendor".into())
        );
    }
}
