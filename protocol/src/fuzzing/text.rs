//! Fuzz targets for the text parsers: `headers`, `transport`, `rtp_info`
//! and `sdp_to_caps`. Inputs are read as UTF-8 (lossily: header values
//! reach the parsers as text).

use crate::caps::{caps_for_payload, media_from_caps, streams_from_sdp};
use crate::headers::{Range, SessionHeader, format_npt_range, parse_public, parse_range};
use crate::headers::{RtpInfo, parse_rtp_info};
use crate::sdp::SessionDescription;
use crate::transport::Transport;

/// `Session`, `Public` and `Range` values.
///
/// Checks: a session id is non-empty without whitespace and a timeout is
/// never 0, and `id;timeout=N` parses back the same; `Public` gives
/// distinct upper-case names that parse back the same; NPT bounds are
/// finite and non-negative, and a range formatted for PLAY parses back.
pub fn headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(session) = SessionHeader::parse(&text) {
        assert!(!session.id.is_empty());
        // Split at the separators the parser knows (SP, HT, CR, LF, `;`).
        assert!(!session.id.contains([' ', '\t', '\r', '\n', ';']));
        assert_ne!(session.timeout_secs, Some(0));
        let value = match session.timeout_secs {
            Some(t) => format!("{};timeout={t}", session.id),
            None => session.id.clone(),
        };
        assert_eq!(SessionHeader::parse(&value).as_ref(), Some(&session));
    }

    let methods = parse_public(&text);
    for (i, m) in methods.iter().enumerate() {
        assert!(!m.is_empty() && !m.contains(',') && !m.bytes().any(|b| b.is_ascii_lowercase()));
        assert!(!methods[..i].contains(m), "duplicate method {m}");
    }
    assert_eq!(parse_public(&methods.join(", ")), methods);

    if let Some(Range::Npt { start, end }) = parse_range(&text) {
        for t in [start, end].into_iter().flatten() {
            assert!(t.is_finite() && t >= 0.0, "bad NPT time {t}");
        }
        let formatted = format_npt_range(start.unwrap_or(0.0), end);
        match parse_range(&formatted) {
            Some(Range::Npt { start: Some(s), .. }) => assert!(s.is_finite()),
            other => panic!("{formatted:?} parsed as {other:?}"),
        }
    }
}

/// `Transport` values (one alternative, and a list).
///
/// Checks: every parsed alternative, serialised with
/// [`Transport::to_header_value`], is one line that parses back equal.
pub fn transport(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let single = Transport::parse(&text).ok();
    for t in single.iter().chain(&Transport::parse_list(&text)) {
        let value = t.to_header_value();
        assert!(!value.contains(['\r', '\n']));
        match Transport::parse(&value) {
            Ok(back) => assert_eq!(&back, t, "{value:?} parsed back differently"),
            Err(e) => panic!("{value:?} does not parse back: {e}"),
        }
    }
}

/// `RTP-Info` values.
///
/// Checks: each entry has a trimmed URL or a field; written again in the
/// RTSP 2.0 style (quoted URL, `0x` SSRC) it parses back the same, alone
/// and, when every entry has a URL, as a whole list.
pub fn rtp_info(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let entries = parse_rtp_info(&text);
    for info in &entries {
        assert_eq!(info.url.trim_matches([' ', '\t', '\r', '\n']), info.url);
        assert!(
            !info.url.is_empty()
                || info.seq.is_some()
                || info.rtptime.is_some()
                || info.ssrc.is_some()
        );
    }
    // A URL holding a quote cannot be written quoted.
    if entries.iter().any(|i| i.url.contains('"')) {
        return;
    }
    for info in &entries {
        let value = format_rtp_info(info);
        assert_eq!(
            parse_rtp_info(&value),
            std::slice::from_ref(info),
            "{value:?}"
        );
    }
    if entries.iter().all(|i| !i.url.is_empty()) {
        let list: Vec<String> = entries.iter().map(format_rtp_info).collect();
        assert_eq!(parse_rtp_info(&list.join(",")), entries);
    }
}

fn format_rtp_info(info: &RtpInfo) -> String {
    let mut parts = Vec::new();
    if !info.url.is_empty() {
        parts.push(format!("url=\"{}\"", info.url));
    }
    if let Some(seq) = info.seq {
        parts.push(format!("seq={seq}"));
    }
    if let Some(rtptime) = info.rtptime {
        parts.push(format!("rtptime={rtptime}"));
    }
    if let Some(ssrc) = info.ssrc {
        parts.push(format!("ssrc=0x{ssrc:08X}"));
    }
    parts.join(";")
}

/// An SDP body turned into the streams' RTP caps, as DESCRIBE does.
///
/// Checks: every stream has 1..=16 payloads, each with a payload type below
/// 128, a clock rate and a one-line caps string, the same caps
/// [`caps_for_payload`] gives; the description written with
/// [`SessionDescription::to_sdp_string`] gives the same streams; and an
/// SDP made from the caps (as `rtspsink` does) describes the same payload.
pub fn sdp_to_caps(data: &[u8]) {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let streams = streams_from_sdp(&sdp);
    for stream in &streams {
        let media = &sdp.media[stream.media_index];
        assert!((1..=crate::caps::MAX_PAYLOADS_PER_STREAM).contains(&stream.payloads.len()));
        for caps in &stream.payloads {
            let pt = caps.payload().expect("payload type");
            assert!(caps.clock_rate().is_some(), "no clock rate in {caps:?}");
            assert!(!caps.to_caps_string().contains(['\r', '\n', '\0']));
            assert_eq!(caps_for_payload(&sdp, media, pt).as_ref(), Some(caps));
        }
    }

    let written = sdp.to_sdp_string();
    let back = SessionDescription::parse(written.as_bytes()).expect("written SDP parses");
    assert_eq!(streams_from_sdp(&back), streams, "{written}");

    for caps in streams.iter().flat_map(|s| s.payloads.first()) {
        let mut one = SessionDescription::default();
        one.media.push(media_from_caps(caps, "stream=0"));
        let again = streams_from_sdp(&one);
        let first = again.first().and_then(|s| s.payloads.first());
        let first = first.unwrap_or_else(|| panic!("no stream from {caps:?}"));
        assert_eq!(first.payload(), caps.payload());
        assert_eq!(first.clock_rate(), caps.clock_rate());
        assert_eq!(
            first.get_str("encoding-name"),
            caps.get_str("encoding-name")
        );
    }
}
