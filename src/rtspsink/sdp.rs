//! The SDP `rtspsink` announces: one media section per stream, built from
//! the caps of its first buffer, with control `stream=N`; dynamic payload
//! types made unique across streams; streams that retransmit are
//! `RTP/AVPF` sections with an RFC 4588 `rtx` payload; each section's
//! `b=AS` from what the stream's bitrate is known to be
//! ([`application_kbps`]).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rtspclient_protocol::caps::{CapsValue, RtpCaps, media_from_caps};
use rtspclient_protocol::sdp::{Attribute, Connection, Media, SessionDescription};

use rtspclient_protocol::srtp::Profile;

use super::retransmission::rtx_payload_types;

/// How one stream is announced besides its caps: its profile as chosen
/// (retransmission adds feedback) and, with SRTP, our MIKEY.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub profile: Profile,
    /// Base64 MIKEY data for `a=key-mgmt:mikey` (RFC 4567 §3.2).
    pub key_mgmt: Option<String>,
}

/// What ANNOUNCE describes, per stream.
pub struct Announcement {
    pub sdp: String,
    /// The payload type a stream must be rewritten to (`Some`) when its
    /// dynamic type is already taken by an earlier stream.
    pub rewrites: Vec<Option<u8>>,
    /// The RTX payload type of each stream that retransmits.
    pub rtx: Vec<Option<u8>>,
}

/// Per-packet overhead of IPv4, UDP and RTP headers (20 + 8 + 12 bytes).
const HEADER_BYTES: u64 = 40;

/// The `b=AS` of a stream (kbit/s, RFC 8866 §5.8; RFC 3556 §2): a
/// `bitrate` field of its caps (bit/s), else the bitrate its encoder
/// stated (`stated_bps`, from the stream's nominal/maximum bitrate tags),
/// else the rate fixed-rate audio formats define (G.711, G.722, linear
/// PCM). The session bandwidth RTCP is sized from includes the IP and
/// UDP headers (RFC 3550 §6.2): 5 % for those of full-sized packets, and
/// 40 bytes for each of 50 small packets a second (20 ms audio). None
/// when nothing is known: a guess would be as wrong as the receiver's own
/// default (too low delays its feedback, too high inflates its RTCP), and
/// before ANNOUNCE too little has been sent to measure.
pub fn application_kbps(caps: &RtpCaps, stated_bps: Option<u32>) -> Option<u32> {
    let from_caps = match caps.get("bitrate") {
        Some(CapsValue::Int(bps)) => u32::try_from(*bps).ok(),
        Some(CapsValue::UInt(bps)) => Some(*bps),
        _ => None,
    }
    .filter(|bps| *bps > 0);
    let fixed_rate = || {
        let name = caps.get_str("encoding-name")?.to_ascii_uppercase();
        let clock = u64::from(caps.clock_rate()?);
        let channels = caps
            .get_str("encoding-params")
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(1);
        let bits = match name.as_str() {
            "PCMU" | "PCMA" => 8,
            // RFC 3551 §4.5.2: 64 kbit/s, though its RTP clock says 8000.
            "G722" => return Some(64_000),
            "L8" => 8,
            "L16" => 16,
            "L24" => 24,
            _ => return None,
        };
        u32::try_from(clock * channels * bits).ok()
    };
    let bps = u64::from(
        from_caps
            .or(stated_bps.filter(|b| *b > 0))
            .or_else(fixed_rate)?,
    );
    let with_headers = bps + bps / 20 + 50 * HEADER_BYTES * 8;
    u32::try_from(with_headers.div_ceil(1000)).ok()
}

/// The SDP for ANNOUNCE: one media section per stream with control
/// `stream=N`; `rtx_time` (ms) per stream that retransmits; `security`
/// per stream (missing: RTP/AVP); `b=AS` (kbit/s) per stream where known;
/// `clock`: per stream, the RFC 7273 clock signalling (see
/// [`clock_signalling`]).
pub fn build_sdp(
    streams: &[RtpCaps],
    rtx_time: &[Option<u32>],
    security: &[Security],
    application_kbps: &[Option<u32>],
    clock: &[Vec<Attribute>],
    local: IpAddr,
    peer: IpAddr,
) -> Announcement {
    let original: Vec<u8> = streams.iter().map(|c| c.payload().unwrap_or(96)).collect();
    let mut used: Vec<u8> = Vec::new();
    let mut rewrites = Vec::with_capacity(streams.len());
    let mut media = Vec::with_capacity(streams.len());
    for (index, caps) in streams.iter().enumerate() {
        let mut caps = caps.clone();
        let mut pt = original[index];
        let mut rewrite = None;
        let secure = security.get(index).is_some_and(|s| s.profile.secure);
        // SRTP authenticates the header (RFC 3711 §4.2): its payload type
        // cannot be rewritten. Sections have payload types of their own
        // (RFC 8866 §5.14), so a repeated one stays.
        if pt >= 96 && used.contains(&pt) && !secure {
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
        let mut section = media_from_caps(&caps, &format!("stream={index}"));
        if let Some(kbps) = application_kbps.get(index).copied().flatten() {
            // So the server's RTP session sizes its RTCP, and with AVPF its
            // early NACKs (RFC 4585 §3.5.2), from the stream's rate rather
            // than from a default of 64 kbit/s.
            section.bandwidths.push(("AS".into(), kbps));
        }
        media.push(section);
    }
    let taken: Vec<u8> = used.iter().chain(&original).copied().collect();
    let wanted: Vec<bool> = (0..streams.len())
        .map(|i| rtx_time.get(i).copied().flatten().is_some())
        .collect();
    let rtx = rtx_payload_types(&taken, &wanted);
    for (index, section) in media.iter_mut().enumerate() {
        let mut profile = security.get(index).map(|s| s.profile).unwrap_or_default();
        if let (Some(rtx_pt), Some(Some(ms))) = (rtx[index], rtx_time.get(index)) {
            let clock = streams[index].clock_rate().unwrap_or(90000);
            add_rtx(section, used[index], rtx_pt, clock, *ms);
            profile.feedback = true;
        }
        section.proto = profile.name().into();
        if let Some(attributes) = clock.get(index) {
            section.attributes.extend(attributes.iter().cloned());
        }
        if let Some(data) = security.get(index).and_then(|s| s.key_mgmt.as_ref()) {
            section.attributes.push(Attribute {
                name: "key-mgmt".into(),
                value: Some(format!("mikey {data}")),
            });
        }
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
    Announcement {
        sdp: sdp.to_sdp_string(),
        rewrites,
        rtx,
    }
}

/// The reference clock of a published stream (RFC 7273), as C
/// `rtspclientsink` announces it with `publish-clock-mode`: `ts_refclk` is
/// the `a=ts-refclk` value naming the pipeline clock; `base_time` is the
/// pipeline's base time on that clock; `with_offset` asks for
/// `a=mediaclk:direct=`, the RTP time at the clock's epoch, too.
#[derive(Debug, Clone)]
pub struct MediaClock {
    pub ts_refclk: String,
    pub base_time: u64,
    pub with_offset: bool,
}

/// `a=ts-refclk` and, with an offset and a first packet (`rtp`: its RTP
/// timestamp and running time in ns), `a=mediaclk:direct=` for a stream
/// of `clock_rate`. The offset is the RTP time at the clock's epoch (RFC
/// 7273 §5.2): the packet's RTP time less its clock time in RTP units,
/// modulo 2^32. (C `rtspclientsink` computes one tick less, adding
/// 0xffffffff instead of 2^32; a tick is below a receiver's resolution.)
pub fn clock_signalling(
    clock: &MediaClock,
    clock_rate: Option<u32>,
    rtp: Option<(u32, u64)>,
) -> Vec<Attribute> {
    let mut attributes = vec![Attribute {
        name: "ts-refclk".into(),
        value: Some(clock.ts_refclk.clone()),
    }];
    if clock.with_offset
        && let (Some(rate), Some((rtptime, running_time))) = (clock_rate.filter(|r| *r > 0), rtp)
    {
        let clock_time = u128::from(running_time + clock.base_time);
        let ticks = (clock_time * u128::from(rate) / 1_000_000_000) as u32;
        attributes.push(Attribute {
            name: "mediaclk".into(),
            value: Some(format!("direct={}", rtptime.wrapping_sub(ticks))),
        });
    }
    attributes
}

/// Make `section` (payload type `pt`) offer NACK feedback and RFC 4588
/// retransmission as `rtx_pt`, the way C `rtspclientsink` describes it
/// (its profile gets feedback: RTP/AVPF or RTP/SAVPF).
fn add_rtx(section: &mut Media, pt: u8, rtx_pt: u8, clock: u32, ms: u32) {
    section.formats.push(rtx_pt.to_string());
    let attribute = |name: &str, value: String| Attribute {
        name: name.into(),
        value: Some(value),
    };
    section
        .attributes
        .push(attribute("rtcp-fb", format!("{pt} nack")));
    section
        .attributes
        .push(attribute("rtpmap", format!("{rtx_pt} rtx/{clock}")));
    section.attributes.push(attribute(
        "fmtp",
        format!("{rtx_pt} apt={pt};rtx-time={ms}"),
    ));
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
    fn clock_signalling_names_the_clock_and_the_rtp_time_at_its_epoch() {
        let clock = MediaClock {
            ts_refclk: "ntp=pool.ntp.org".into(),
            base_time: 10_000_000_000,
            with_offset: true,
        };
        // 90 kHz: clock time 11 s is 990000 ticks; the packet says 1000000.
        let attributes = clock_signalling(&clock, Some(90_000), Some((1_000_000, 1_000_000_000)));
        let values: Vec<_> = attributes
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_deref().unwrap()))
            .collect();
        assert_eq!(
            values,
            vec![
                ("ts-refclk", "ntp=pool.ntp.org"),
                ("mediaclk", "direct=10000")
            ]
        );
        // Wrapping: the RTP time is below the clock's ticks.
        let attributes = clock_signalling(&clock, Some(90_000), Some((0, 1_000_000_000)));
        assert_eq!(
            attributes[1].value.as_deref(),
            Some(format!("direct={}", u32::MAX - 990_000 + 1).as_str())
        );
        let no_offset = MediaClock {
            with_offset: false,
            ..clock
        };
        assert_eq!(
            clock_signalling(&no_offset, Some(90_000), Some((0, 0))).len(),
            1
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let announced = build_sdp(&[h264(96)], &[], &[], &[], &[attributes], local, local);
        assert!(announced.sdp.contains("a=ts-refclk:ntp=pool.ntp.org\r\n"));
        assert!(announced.sdp.contains("a=mediaclk:direct="));
    }

    #[test]
    fn sdp_has_one_section_per_stream_with_controls() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let Announcement { sdp, rewrites, rtx } =
            build_sdp(&[h264(96), opus(97)], &[], &[], &[], &[], local, local);
        assert_eq!(rtx, vec![None, None]);
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
        let Announcement { sdp, rewrites, .. } = build_sdp(
            &[h264(96), opus(96), opus(97)],
            &[],
            &[],
            &[],
            &[],
            local,
            local,
        );
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
        let announced = build_sdp(&[pcmu.clone(), pcmu], &[], &[], &[], &[], local, local);
        assert_eq!(announced.rewrites, vec![None, None]);
    }

    #[test]
    fn retransmitting_streams_are_avpf_with_an_rtx_payload() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        // The second stream is rewritten to 98 (97 is the third's): the
        // RTX types avoid 96, 97 and 98.
        let announced = build_sdp(
            &[h264(96), opus(96), opus(97)],
            &[Some(500), Some(200), None],
            &[],
            &[],
            &[],
            local,
            local,
        );
        assert_eq!(announced.rewrites, vec![None, Some(98), None]);
        assert_eq!(announced.rtx, vec![Some(99), Some(100), None]);
        let parsed = SessionDescription::parse(announced.sdp.as_bytes()).unwrap();
        let video = &parsed.media[0];
        assert_eq!(video.proto, "RTP/AVPF");
        assert_eq!(video.formats, vec!["96".to_string(), "99".to_string()]);
        let values = |m: &Media, name: &str| -> Vec<String> {
            m.attributes
                .iter()
                .filter(|a| a.name == name)
                .filter_map(|a| a.value.clone())
                .collect()
        };
        assert_eq!(
            values(video, "rtpmap"),
            vec!["96 H264/90000", "99 rtx/90000"]
        );
        assert_eq!(
            values(video, "fmtp"),
            vec!["96 packetization-mode=1", "99 apt=96;rtx-time=500"]
        );
        assert_eq!(values(video, "rtcp-fb"), vec!["96 nack"]);
        let audio = &parsed.media[1];
        assert_eq!(audio.formats, vec!["98".to_string(), "100".to_string()]);
        assert!(values(audio, "fmtp").contains(&"100 apt=98;rtx-time=200".to_string()));
        assert!(values(audio, "rtpmap").contains(&"100 rtx/48000".to_string()));
        assert_eq!(parsed.media[2].proto, "RTP/AVP");
    }

    #[test]
    fn sections_state_their_bandwidth_where_known() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let announced = build_sdp(
            &[h264(96), opus(97)],
            &[Some(500), None],
            &[],
            &[Some(1629), None],
            &[],
            local,
            local,
        );
        let parsed = SessionDescription::parse(announced.sdp.as_bytes()).unwrap();
        assert_eq!(parsed.media[0].bandwidths, vec![("AS".to_string(), 1629)]);
        assert!(parsed.media[1].bandwidths.is_empty());
        // RFC 8866 §5: b= comes before the attributes.
        let video = announced.sdp.split("m=").nth(1).unwrap();
        assert!(video.find("b=AS:1629").unwrap() < video.find("a=").unwrap());
    }

    #[test]
    fn application_bandwidth_from_caps_tags_or_the_format() {
        // x264enc bitrate=1500 states 1536000 bit/s: plus 5 % and 16 kbit/s
        // of headers.
        assert_eq!(application_kbps(&h264(96), Some(1_536_000)), Some(1629));
        assert_eq!(application_kbps(&h264(96), None), None);
        assert_eq!(application_kbps(&h264(96), Some(0)), None);
        // A bitrate in the caps wins over the tags.
        let mut with_bitrate = h264(96);
        with_bitrate.set("bitrate", CapsValue::Int(1_000_000));
        assert_eq!(application_kbps(&with_bitrate, Some(5_000_000)), Some(1066));
        let pcmu = caps(&[
            ("media", CapsValue::Str("audio".into())),
            ("payload", CapsValue::Int(0)),
            ("clock-rate", CapsValue::Int(8000)),
            ("encoding-name", CapsValue::Str("PCMU".into())),
        ]);
        assert_eq!(application_kbps(&pcmu, None), Some(84));
        let l16 = caps(&[
            ("clock-rate", CapsValue::Int(48000)),
            ("encoding-name", CapsValue::Str("L16".into())),
            ("encoding-params", CapsValue::Str("2".into())),
        ]);
        // 1536 kbit/s + 76.8 + 16.
        assert_eq!(application_kbps(&l16, None), Some(1629));
        assert_eq!(application_kbps(&opus(97), None), None);
        assert_eq!(application_kbps(&opus(97), Some(64_000)), Some(84));
    }

    #[test]
    fn srtp_streams_are_savp_with_our_mikey_and_keep_their_payload_type() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let savp = Profile {
            secure: true,
            feedback: false,
        };
        let security = [
            Security::default(),
            Security {
                profile: savp,
                key_mgmt: Some("AQAF".into()),
            },
            Security {
                profile: savp,
                key_mgmt: Some("AQAG".into()),
            },
        ];
        let announced = build_sdp(
            &[h264(96), opus(96), h264(97)],
            &[None, None, Some(300)],
            &security,
            &[],
            &[],
            local,
            local,
        );
        // The second stream keeps 96: SRTP authenticates the header.
        assert_eq!(announced.rewrites, vec![None, None, None]);
        let parsed = SessionDescription::parse(announced.sdp.as_bytes()).unwrap();
        assert_eq!(parsed.media[0].proto, "RTP/AVP");
        assert!(parsed.media[0].attribute("key-mgmt").is_none());
        assert_eq!(parsed.media[1].proto, "RTP/SAVP");
        assert_eq!(parsed.media[1].formats, vec!["96".to_string()]);
        assert_eq!(parsed.media[1].attribute("key-mgmt"), Some("mikey AQAF"));
        // Retransmission adds feedback: SAVPF.
        assert_eq!(parsed.media[2].proto, "RTP/SAVPF");
        assert_eq!(parsed.media[2].attribute("key-mgmt"), Some("mikey AQAG"));
        assert!(parsed.media[2].attribute("rtcp-fb").is_some());
    }
}
