//! Playing an on-demand presentation faster or slower, and how exactly a
//! seek lands: what a PLAY asks for and what its answer means.
//!
//! - `Scale` (RFC 2326 §12.34, RFC 7826 §18.46) asks the server to play
//!   the media at another rate: two seconds of media per second of RTP
//!   time for 2.0. `Speed` (RFC 2326 §12.35, RFC 7826 §18.50) asks it to
//!   deliver faster or slower than real time while RTP time stays media
//!   time. The answer carries the values the server chose.
//! - `Seek-Style` (RFC 7826 §18.47) says how a `Range` start may be
//!   moved to a point where decoding can begin.

/// Which header carries a rate other than 1.0 (the `rate-header`
/// property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateHeader {
    #[default]
    Scale,
    Speed,
}

/// The fastest and slowest rates asked of a server: beyond them a player
/// shows nothing useful, and a server's answer beyond them is nonsense.
pub const MAX_RATE: f64 = 64.0;
pub const MIN_RATE: f64 = 1.0 / 64.0;

/// Whether a forward rate may be asked for.
pub fn valid_rate(rate: f64) -> bool {
    rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate)
}

/// A rate as a header value: up to three decimals, as servers print them
/// (`2.0`, `0.5`, `-1.0`, `1.25`).
pub fn format_rate(rate: f64) -> String {
    let mut value = format!("{rate:.3}");
    while value.ends_with('0') && !value.ends_with(".0") {
        value.pop();
    }
    value
}

/// The headers to add to a PLAY for `rate` (none for 1.0). `Speed` is
/// positive by definition (RFC 2326 §12.35, RFC 7826 §18.50): with
/// `header` = Speed a negative rate goes as `Scale: -1.0` (reverse) and
/// its magnitude as `Speed`, as ONVIF replay asks for it too.
pub fn rate_headers(rate: f64, header: RateHeader) -> Vec<(&'static str, String)> {
    if rate == 1.0 || !valid_rate(rate.abs()) {
        return Vec::new();
    }
    match header {
        RateHeader::Scale => vec![("Scale", format_rate(rate))],
        RateHeader::Speed if rate > 0.0 => vec![("Speed", format_rate(rate))],
        RateHeader::Speed if rate == -1.0 => vec![("Scale", format_rate(-1.0))],
        RateHeader::Speed => vec![
            ("Scale", format_rate(-1.0)),
            ("Speed", format_rate(rate.abs())),
        ],
    }
}

/// How a seek's position may move (from the GStreamer seek flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeekPrecision {
    /// No preference: the server's default (a key frame before the
    /// position for most servers; gst-rtsp-server's too).
    #[default]
    Server,
    /// Start at a key frame near the position.
    KeyUnit,
    /// Start exactly at the position.
    Accurate,
}

impl SeekPrecision {
    /// The `Seek-Style` header for this precision, if any. GStreamer's own
    /// client and server (C `rtspsrc` and gst-rtsp-server 1.22) pair
    /// `RAP` with an accurate seek and `CoRAP` with a key-unit one, in
    /// RTSP 1.0 as in 2.0 (docs/QUIRKS.md "Seek-Style"); this client does
    /// the same, which RFC 7826 allows: with `RAP` the server sends from
    /// the random access point before the position, which the client
    /// needs to decode from the exact position. In RTSP 1.0 the header is
    /// sent only for an accurate seek: a 1.0 server ignores a header it
    /// does not know (RFC 2326 §12) and snaps to a key frame by default.
    pub fn seek_style(self, rtsp_2_0: bool) -> Option<&'static str> {
        match self {
            SeekPrecision::Server => None,
            SeekPrecision::Accurate => Some("RAP"),
            SeekPrecision::KeyUnit => rtsp_2_0.then_some("CoRAP"),
        }
    }
}

/// What a PLAY answer says of the rate the media comes at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayRates {
    /// Seconds of media per second of arrival: the segment's applied
    /// rate (stream time advances this much per running time).
    pub media_rate: f64,
    /// Seconds of media per second of RTP time: how an RTP timestamp
    /// difference becomes a normal play time difference.
    pub rtp_scale: f64,
    /// gst-rtsp-server: in reverse its RTP-Info is extrapolated forward
    /// from its first packet (`Anchor::reverse_from_first`).
    pub gstreamer_server: bool,
}

impl PlayRates {
    pub const NORMAL: PlayRates = PlayRates {
        media_rate: 1.0,
        rtp_scale: 1.0,
        gstreamer_server: false,
    };
}

/// A `Scale` or `Speed` value; negative is reverse (gst-rtsp-server
/// answers a reverse PLAY with a negative `Speed`, see below).
fn rate_value(value: Option<&str>) -> Option<f64> {
    let rate: f64 = value?.trim().parse().ok()?;
    valid_rate(rate.abs()).then_some(rate)
}

/// The rates a PLAY answer's `Scale` and `Speed` headers (absent:
/// 1.0) stand for. `server` is the answer's `Server` header.
///
/// A `Scale` server sends `scale` seconds of media per second of RTP
/// time, in real time; a `Speed` server sends RTP time as media time,
/// `speed` times faster than real time. Either way the media arrives at
/// `scale × speed` of real time.
///
/// gst-rtsp-server (1.22, `Server: GStreamer RTSP server`) answers a
/// `Scale: 2` with `Scale: 1.000` and `Speed: 2.000`, the rates of its own
/// pipeline's segment, while its RTP time runs in real time with twice the
/// media in it (measured: 442 video packets and 3.0 s of RTP time in 3 s,
/// against 252 at 1.0), and a `Speed: 2` the same way: its media always
/// arrives scaled (docs/QUIRKS.md "Scale and Speed of gst-rtsp-server").
pub fn answered_rates(scale: Option<&str>, speed: Option<&str>, server: Option<&str>) -> PlayRates {
    let scale = rate_value(scale).unwrap_or(1.0);
    let speed = rate_value(speed).unwrap_or(1.0);
    let product = scale * speed;
    let media_rate = product.abs().clamp(MIN_RATE, MAX_RATE).copysign(product);
    let gstreamer = server.is_some_and(|s| s.trim_start().starts_with("GStreamer RTSP server"));
    PlayRates {
        media_rate,
        rtp_scale: if gstreamer { media_rate } else { scale },
        gstreamer_server: gstreamer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_for_rates() {
        assert_eq!(rate_headers(1.0, RateHeader::Scale), vec![]);
        assert_eq!(
            rate_headers(2.0, RateHeader::Scale),
            vec![("Scale", "2.0".into())]
        );
        assert_eq!(
            rate_headers(0.5, RateHeader::Speed),
            vec![("Speed", "0.5".into())]
        );
        assert_eq!(
            rate_headers(1.25, RateHeader::Scale),
            vec![("Scale", "1.25".into())]
        );
        assert_eq!(
            rate_headers(-2.0, RateHeader::Scale),
            vec![("Scale", "-2.0".into())]
        );
        assert_eq!(
            rate_headers(-1.0, RateHeader::Speed),
            vec![("Scale", "-1.0".into())]
        );
        assert_eq!(
            rate_headers(-2.0, RateHeader::Speed),
            vec![("Scale", "-1.0".into()), ("Speed", "2.0".into())]
        );
        assert_eq!(rate_headers(f64::NAN, RateHeader::Scale), vec![]);
        assert_eq!(rate_headers(1000.0, RateHeader::Scale), vec![]);
        assert_eq!(rate_headers(-1000.0, RateHeader::Scale), vec![]);
        assert_eq!(format_rate(-1.0), "-1.0");
        assert_eq!(format_rate(0.30000000000000004), "0.3");
        assert_eq!(format_rate(1e-7), "0.0");
        assert!(!valid_rate(-1.0));
        assert!(!valid_rate(0.0));
        assert!(valid_rate(MAX_RATE));
    }

    #[test]
    fn seek_styles() {
        assert_eq!(SeekPrecision::Server.seek_style(true), None);
        assert_eq!(SeekPrecision::Accurate.seek_style(false), Some("RAP"));
        assert_eq!(SeekPrecision::Accurate.seek_style(true), Some("RAP"));
        assert_eq!(SeekPrecision::KeyUnit.seek_style(false), None);
        assert_eq!(SeekPrecision::KeyUnit.seek_style(true), Some("CoRAP"));
    }

    #[test]
    fn answers_of_a_scale_server() {
        let rates = answered_rates(Some("2.0"), None, Some("Camera/1.0"));
        assert_eq!(rates.media_rate, 2.0);
        assert_eq!(rates.rtp_scale, 2.0);
        // Scale refused (no header): normal play.
        assert_eq!(answered_rates(None, None, None), PlayRates::NORMAL);
    }

    #[test]
    fn answers_of_a_speed_server() {
        let rates = answered_rates(None, Some("2"), Some("Other"));
        assert_eq!(rates.media_rate, 2.0);
        assert_eq!(rates.rtp_scale, 1.0);
    }

    #[test]
    fn gst_rtsp_server_answers_its_pipeline_rates() {
        let server = Some("GStreamer RTSP server");
        let rates = answered_rates(Some("1.000"), Some("2.000"), server);
        assert_eq!(rates.media_rate, 2.0);
        assert_eq!(rates.rtp_scale, 2.0);
        let rates = answered_rates(Some("1.000"), Some("0.500"), server);
        assert_eq!(rates.media_rate, 0.5);
        assert_eq!(rates.rtp_scale, 0.5);
    }

    #[test]
    fn reverse_answers() {
        // gst-rtsp-server answers `Scale: -1` with its pipeline's rates.
        let server = Some("GStreamer RTSP server");
        let rates = answered_rates(Some("1.000"), Some("-2.000"), server);
        assert_eq!(rates.media_rate, -2.0);
        assert_eq!(rates.rtp_scale, -2.0);
        let rates = answered_rates(Some("-1.0"), None, Some("Camera"));
        assert_eq!(rates.media_rate, -1.0);
        assert_eq!(rates.rtp_scale, -1.0);
        let rates = answered_rates(Some("-1.0"), Some("4"), Some("Camera"));
        assert_eq!(rates.media_rate, -4.0);
        assert_eq!(rates.rtp_scale, -1.0);
    }

    #[test]
    fn nonsense_answers_are_normal_play() {
        let rates = answered_rates(Some("fast"), Some("0"), None);
        assert_eq!(rates, PlayRates::NORMAL);
        let rates = answered_rates(Some("1e300"), Some("NaN"), None);
        assert_eq!(rates, PlayRates::NORMAL);
    }
}
