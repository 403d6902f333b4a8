//! The SDP `rtspsink` announces: one media section per stream, built from
//! the caps of its first buffer, with control `stream=N`; dynamic payload
//! types made unique across streams.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rtspclient_protocol::caps::{CapsValue, RtpCaps, media_from_caps};
use rtspclient_protocol::sdp::{Attribute, Connection, SessionDescription};

/// The SDP for ANNOUNCE: one media section per stream with control
/// `stream=N`, and the payload type each stream must be rewritten to
/// (`Some`) when its dynamic type is already taken by an earlier stream.
pub fn build_sdp(streams: &[RtpCaps], local: IpAddr, peer: IpAddr) -> (String, Vec<Option<u8>>) {
    let original: Vec<u8> = streams.iter().map(|c| c.payload().unwrap_or(96)).collect();
    let mut used: Vec<u8> = Vec::new();
    let mut rewrites = Vec::with_capacity(streams.len());
    let mut media = Vec::with_capacity(streams.len());
    for (index, caps) in streams.iter().enumerate() {
        let mut caps = caps.clone();
        let mut pt = original[index];
        let mut rewrite = None;
        if pt >= 96 && used.contains(&pt) {
            // Prefer a type no later stream uses either, so one collision
            // does not cause another.
            if let Some(free) = (96u8..=127).find(|p| !used.contains(p) && !original.contains(p)) {
                pt = free;
                rewrite = Some(free);
                caps.set("payload", CapsValue::Int(free as i32));
            }
        }
        used.push(pt);
        rewrites.push(rewrite);
        media.push(media_from_caps(&caps, &format!("stream={index}")));
    }
    let ip_kind = |ip: &IpAddr| if ip.is_ipv6() { "IP6" } else { "IP4" };
    let session_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let sdp = SessionDescription {
        version: Some(0),
        origin: Some(format!("- {session_id} 1 IN {} {local}", ip_kind(&local))),
        session_name: Some("Session streamed by GStreamer rtspsink".into()),
        connection: Connection::parse(&format!("IN {} {peer}", ip_kind(&peer))),
        bandwidths: Vec::new(),
        attributes: vec![Attribute {
            name: "tool".into(),
            value: Some(format!("GStreamer rtspsink {}", env!("CARGO_PKG_VERSION"))),
        }],
        media,
    };
    (sdp.to_sdp_string(), rewrites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(fields: &[(&str, CapsValue)]) -> RtpCaps {
        let mut caps = RtpCaps::default();
        for (name, value) in fields {
            caps.set(name, value.clone());
        }
        caps
    }

    fn h264(pt: i32) -> RtpCaps {
        caps(&[
            ("media", CapsValue::Str("video".into())),
            ("clock-rate", CapsValue::Int(90000)),
            ("encoding-name", CapsValue::Str("H264".into())),
            ("payload", CapsValue::Int(pt)),
            ("packetization-mode", CapsValue::Str("1".into())),
            ("ssrc", CapsValue::UInt(1234)),
        ])
    }

    fn opus(pt: i32) -> RtpCaps {
        caps(&[
            ("media", CapsValue::Str("audio".into())),
            ("clock-rate", CapsValue::Int(48000)),
            ("encoding-name", CapsValue::Str("OPUS".into())),
            ("encoding-params", CapsValue::Str("2".into())),
            ("payload", CapsValue::Int(pt)),
        ])
    }

    #[test]
    fn sdp_has_one_section_per_stream_with_controls() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let (sdp, rewrites) = build_sdp(&[h264(96), opus(97)], local, local);
        assert_eq!(rewrites, vec![None, None]);
        let parsed = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(parsed.media.len(), 2);
        assert_eq!(parsed.media[0].media, "video");
        assert_eq!(parsed.media[0].control(), Some("stream=0"));
        assert_eq!(parsed.media[0].attribute("rtpmap"), Some("96 H264/90000"));
        assert_eq!(
            parsed.media[0].attribute("fmtp"),
            Some("96 packetization-mode=1")
        );
        assert_eq!(parsed.media[1].attribute("rtpmap"), Some("97 OPUS/48000/2"));
        assert_eq!(parsed.media[1].control(), Some("stream=1"));
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(!sdp.contains("ssrc"));
    }

    #[test]
    fn duplicate_dynamic_payload_types_are_made_unique() {
        let local: IpAddr = "::1".parse().unwrap();
        let (sdp, rewrites) = build_sdp(&[h264(96), opus(96), opus(97)], local, local);
        // The second stream may not take 97: the third one uses it.
        assert_eq!(rewrites, vec![None, Some(98), None]);
        let parsed = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(parsed.media[1].formats, vec!["98".to_string()]);
        assert_eq!(parsed.media[1].attribute("rtpmap"), Some("98 OPUS/48000/2"));
        assert!(sdp.contains("c=IN IP6 ::1\r\n"));
    }

    #[test]
    fn static_payload_types_are_kept() {
        let pcmu = caps(&[
            ("media", CapsValue::Str("audio".into())),
            ("payload", CapsValue::Int(0)),
            ("clock-rate", CapsValue::Int(8000)),
            ("encoding-name", CapsValue::Str("PCMU".into())),
        ]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let (_, rewrites) = build_sdp(&[pcmu.clone(), pcmu], local, local);
        assert_eq!(rewrites, vec![None, None]);
    }
}
