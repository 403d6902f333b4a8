//! SDP media section → RTP caps description, and back.
//!
//! This is pure data: the GStreamer element turns an [`RtpCaps`] into an
//! `application/x-rtp` `gst::Caps`. The field names and value types follow
//! what GStreamer's own `rtspsrc` gets from `gst_sdp_media_get_caps_from_media`
//! plus `gst_sdp_{message,media}_attributes_to_caps`, so the stock
//! depayloaders (`rtph264depay`, `rtph265depay`, `rtpmp4gdepay`,
//! `rtpmp4adepay`, `rtpopusdepay`, `rtppcmudepay`, `rtpjpegdepay`,
//! `rtpmp2tdepay`, `rtpL16depay`, `rtpg722depay`, ONVIF metadata) accept them:
//!
//! * `media`, `payload` (int), `clock-rate` (int), `encoding-name`
//!   (uppercased), `encoding-params` (lowercased, only from an rtpmap or the
//!   static table for L16);
//! * every `a=fmtp` parameter for the payload type, key lowercased, value a
//!   trimmed string (`key` without `=` becomes `key=1`, like GStreamer);
//! * `a-framesize` from `a=framesize:<pt> <w>-<h>`;
//! * other session- and media-level attributes as `a-<name>` strings
//!   (`x-<name>` attributes keep their name, like GStreamer), media level
//!   overriding session level;
//! * `extmap-<id>` for the simple `a=extmap:<id> <uri>` form;
//! * `ssrc` (uint) when the media announces exactly one SSRC (RFC 5576).
//!
//! Deliberate differences from GStreamer, all in the direction of surviving
//! real cameras (docs/QUIRKS.md, "SDP"): garbage `a=framerate` values are dropped,
//! invalid H.264 `profile-level-id` is dropped, `sprop-*` parameter sets are
//! cleaned (invalid base64 and Annex-B start codes removed), fields whose name
//! would not be a valid GStreamer field name are skipped, value-less
//! attributes (`a=recvonly`) do not become caps fields, several `a=fmtp`
//! lines for one payload type are merged, `rtcp-fb` is not mapped (no
//! boolean [`CapsValue`]), and the H.264 `level-asymmetry-allowed` →
//! `profile` rewrite is not done. Output is bounded by the `MAX_*` constants
//! below (excess payload types, attribute fields and fmtp parameters are
//! dropped, never an error).

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use std::collections::{HashMap, HashSet};

use crate::sdp::{Attribute, Connection, Media, SessionDescription};
use crate::srtp::{Profile, mikey_from_attribute};

// Bounds on the caps built from one description. A description may hold
// 64 media × 1024 attributes (see `sdp`), and session-level attributes are
// copied into every caps; without these caps a hostile server could make us
// build gigabytes of caps. Real cameras stay far below all of them.

/// Most payload types kept per stream (the first usable ones, m= line order).
pub const MAX_PAYLOADS_PER_STREAM: usize = 16;
/// Most fields taken from `a=` lines (`a-*`, `x-*`, `extmap-*`) into one
/// caps; media-level attributes get the budget first.
pub const MAX_ATTRIBUTE_FIELDS: usize = 32;
/// Attribute values longer than this (bytes) are not copied into caps.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 1024;
/// Most distinct fmtp parameters taken into one caps.
pub const MAX_FMTP_PARAMS: usize = 64;

/// A typed caps field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapsValue {
    Str(String),
    Int(i32),
    UInt(u32),
}

impl CapsValue {
    /// Integer view of `Int`/`UInt` values.
    fn as_i64(&self) -> Option<i64> {
        match self {
            CapsValue::Int(i) => Some(i64::from(*i)),
            CapsValue::UInt(u) => Some(i64::from(*u)),
            CapsValue::Str(_) => None,
        }
    }
}

/// An `application/x-rtp` caps structure: ordered fields, unique names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpCaps {
    /// Fields in insertion order. Names are unique when built through
    /// [`RtpCaps::set`].
    pub fields: Vec<(String, CapsValue)>,
}

impl RtpCaps {
    /// The media type every [`RtpCaps`] stands for.
    pub const MEDIA_TYPE: &'static str = "application/x-rtp";

    /// Field by exact (case-sensitive, like GStreamer) name.
    pub fn get(&self, name: &str) -> Option<&CapsValue> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// String field by name; `None` if absent or not a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            CapsValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Set a field, replacing an existing one in place (keeping its position)
    /// or appending a new one.
    pub fn set(&mut self, name: &str, v: CapsValue) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => *old = v,
            None => self.fields.push((name.to_string(), v)),
        }
    }

    /// Remove a field; returns its value if it existed.
    pub fn remove(&mut self, name: &str) -> Option<CapsValue> {
        let idx = self.fields.iter().position(|(n, _)| n == name)?;
        Some(self.fields.remove(idx).1)
    }

    /// The `payload` field if it is a valid RTP payload type (0..=127).
    pub fn payload(&self) -> Option<u8> {
        self.get("payload")?
            .as_i64()
            .and_then(|p| u8::try_from(p).ok())
            .filter(|p| *p <= 127)
    }

    /// The `clock-rate` field if positive.
    pub fn clock_rate(&self) -> Option<u32> {
        self.get("clock-rate")?
            .as_i64()
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| *r > 0)
    }

    /// GStreamer caps-string rendering, e.g.
    /// `application/x-rtp, media=(string)video, payload=(int)96`.
    /// String values are quoted and escaped the way `gst_value_serialize`
    /// does when they contain anything beyond `[A-Za-z0-9_+-/:.]`, so the
    /// result also parses with `gst_caps_from_string`.
    pub fn to_caps_string(&self) -> String {
        let mut out = String::from(Self::MEDIA_TYPE);
        for (name, value) in &self.fields {
            out.push_str(", ");
            out.push_str(name);
            match value {
                CapsValue::Int(i) => out.push_str(&format!("=(int){i}")),
                CapsValue::UInt(u) => out.push_str(&format!("=(uint){u}")),
                CapsValue::Str(s) => {
                    out.push_str("=(string)");
                    push_serialized_string(&mut out, s);
                }
            }
        }
        out
    }
}

/// One usable media section of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// Index in [`SessionDescription::media`].
    pub media_index: usize,
    /// `video`, `audio`, `application`, ...
    pub media: String,
    /// Raw `a=control` value (joined with the base URL elsewhere).
    pub control: Option<String>,
    /// One caps per usable payload type, in m= line order; the first is the
    /// preferred one.
    pub payloads: Vec<RtpCaps>,
    /// Effective connection: media `c=`, else session `c=` (multicast).
    pub connection: Option<Connection>,
    pub port: u16,
    /// `sendonly`/`recvonly`/`sendrecv`/`inactive` (lowercased), media level
    /// first, else session level (RFC 8866 §6.7).
    pub direction: Option<String>,
    /// The m= line's profile has RTCP feedback, RTP/AVPF or RTP/SAVPF
    /// (RFC 4585, 5124: early NACKs for retransmission, RFC 4588): SETUP
    /// must ask for it, and gst-rtsp-server only describes RTX payloads in
    /// such sections.
    pub avpf: bool,
    /// The m= line's profile is SRTP, RTP/SAVP or RTP/SAVPF (RFC 3711,
    /// 5124): SETUP must ask for it and the media arrive encrypted.
    pub secure: bool,
    /// The MIKEY data of the section's `a=key-mgmt:mikey` (RFC 4567 §3.2),
    /// else the session's; base64 as sent.
    pub key_mgmt: Option<String>,
    /// The `b=` lines that size the stream's RTCP.
    pub bandwidth: Bandwidth,
}

/// What a description says about a stream's bandwidth, from which RTCP
/// takes its share (RFC 3550 §6.2: 5 % of the session bandwidth unless
/// RFC 3556 gives it directly). Each value comes from the media section,
/// else from the session level (RFC 8866 §5.8: there, an upper limit for
/// the whole session, which the stream's share cannot exceed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bandwidth {
    /// `b=AS` (RFC 8866 §5.8), kilobits per second.
    pub application_kbps: Option<u32>,
    /// `b=RS` (RFC 3556 §2), RTCP bandwidth of the data senders, bits per
    /// second.
    pub rtcp_senders_bps: Option<u32>,
    /// `b=RR` (RFC 3556 §2), RTCP bandwidth of the other participants
    /// (receivers like this client), bits per second.
    pub rtcp_receivers_bps: Option<u32>,
}

impl Bandwidth {
    fn of(sdp: &SessionDescription, media: &Media) -> Bandwidth {
        let find = |kind: &str| {
            let first = |lines: &[(String, u32)]| {
                lines
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(kind))
                    .map(|(_, value)| *value)
            };
            first(&media.bandwidths).or_else(|| first(&sdp.bandwidths))
        };
        Bandwidth {
            application_kbps: find("AS"),
            rtcp_senders_bps: find("RS"),
            rtcp_receivers_bps: find("RR"),
        }
    }
}

/// All usable streams of a description.
///
/// A media section is usable if its proto is an RTP profile (RTP/AVP,
/// RTP/AVPF, RTP/SAVP, RTP/SAVPF in any case, optionally with a `/TCP` or
/// `/UDP` suffix or a `TCP/`, `UDP/TLS/` prefix) and at least one payload type
/// has a known encoding (an rtpmap, or a static payload type). Port 0 is
/// fine (RTSP servers put it in m= lines routinely, RFC 2326 C.1.1). Unusable
/// sections are skipped, not an error; the caller fails DESCRIBE only if the
/// result is empty (docs/QUIRKS.md, "Unusable media sections").
pub fn streams_from_sdp(sdp: &SessionDescription) -> Vec<StreamDescription> {
    sdp.media
        .iter()
        .enumerate()
        .filter_map(|(media_index, media)| {
            if !is_rtp_profile(&media.proto) {
                return None;
            }
            // Duplicate payload types on an m= line are listed once; this also
            // bounds the work to 128 caps per section.
            let mut seen = [false; 128];
            let index = MediaIndex::new(sdp, media);
            let payloads: Vec<RtpCaps> = media
                .formats
                .iter()
                .filter_map(|f| parse_payload_type(f))
                .filter(|pt| {
                    seen.get_mut(usize::from(*pt))
                        .is_some_and(|s| !std::mem::replace(s, true))
                })
                .filter_map(|pt| index.caps(media, pt))
                .take(MAX_PAYLOADS_PER_STREAM)
                .collect();
            if payloads.is_empty() {
                return None;
            }
            Some(StreamDescription {
                media_index,
                media: media.media.to_ascii_lowercase(),
                control: media.control().map(str::to_string),
                payloads,
                connection: media.connection.clone().or_else(|| sdp.connection.clone()),
                port: media.port,
                direction: direction(&media.attributes).or_else(|| direction(&sdp.attributes)),
                avpf: is_avpf(&media.proto),
                secure: Profile::from_proto(&media.proto).is_some_and(|p| p.secure),
                key_mgmt: media
                    .attributes_named("key-mgmt")
                    .chain(sdp.attributes_named("key-mgmt"))
                    .find_map(mikey_from_attribute)
                    .map(str::to_string),
                bandwidth: Bandwidth::of(sdp, media),
            })
        })
        .collect()
}

/// RTP caps for one payload type of a media section, `None` if its encoding
/// is unknown (dynamic type without usable rtpmap, unassigned static type,
/// no clock rate) or `pt` is not an RTP payload type.
pub fn caps_for_payload(sdp: &SessionDescription, media: &Media, pt: u8) -> Option<RtpCaps> {
    if pt > 127 {
        return None;
    }
    MediaIndex::new(sdp, media).caps(media, pt)
}

/// Everything caps need from one media section, gathered in a single pass
/// over its attributes so that building caps for many payload types stays
/// linear in the size of the description.
struct MediaIndex<'a> {
    /// First parsable rtpmap per payload type.
    rtpmap: Vec<Option<RtpMap>>,
    /// All fmtp parameter strings per payload type, in order.
    fmtp: Vec<Vec<&'a str>>,
    /// First framesize per payload type.
    framesize: Vec<Option<&'a str>>,
    /// `a-*`/`x-*`/`extmap-*` fields (session and media merged).
    attribute_fields: Vec<(String, String)>,
    ssrc: Option<u32>,
}

impl<'a> MediaIndex<'a> {
    fn new(sdp: &'a SessionDescription, media: &'a Media) -> Self {
        let mut index = MediaIndex {
            rtpmap: (0..128).map(|_| None).collect(),
            fmtp: vec![Vec::new(); 128],
            framesize: vec![None; 128],
            attribute_fields: attribute_fields(&sdp.attributes, &media.attributes),
            ssrc: single_ssrc(media),
        };
        for a in &media.attributes {
            let Some(value) = a.value.as_deref() else {
                continue;
            };
            let name = a.name.as_str();
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if !(is("rtpmap") || is("fmtp") || is("framesize")) {
                continue;
            }
            let Some((pt, rest)) = split_pt(value) else {
                continue;
            };
            let slot = usize::from(pt);
            if is("rtpmap") {
                if let Some(entry @ None) = index.rtpmap.get_mut(slot) {
                    *entry = parse_rtpmap(rest);
                }
            } else if is("fmtp") {
                if let Some(list) = index.fmtp.get_mut(slot) {
                    list.push(rest);
                }
            } else if let Some(entry @ None) = index.framesize.get_mut(slot) {
                *entry = Some(rest);
            }
        }
        index
    }

    fn caps(&self, media: &Media, pt: u8) -> Option<RtpCaps> {
        let slot = usize::from(pt);
        let static_pt = static_payload(pt);
        // RFC 3551 §6: static types need no rtpmap, but an rtpmap overrides
        // the table (some servers remap, e.g. PT 14 with another rate).
        let (encoding_name, clock_rate, encoding_params) =
            match self.rtpmap.get(slot).and_then(Option::as_ref) {
                Some(map) => {
                    let rate = map
                        .rate
                        .or_else(|| static_pt.map(|s| s.rate))
                        .or_else(|| default_rate_for_name(&map.name))?;
                    (map.name.to_ascii_uppercase(), rate, map.params.clone())
                }
                None => {
                    let s = static_pt?;
                    (s.name.to_string(), s.rate, s.channels.map(str::to_string))
                }
            };

        let mut caps = RtpCaps::default();
        caps.set("media", CapsValue::Str(media.media.to_ascii_lowercase()));
        caps.set("payload", CapsValue::Int(i32::from(pt)));
        caps.set("clock-rate", CapsValue::Int(clock_rate));
        caps.set("encoding-name", CapsValue::Str(encoding_name.clone()));
        if let Some(params) = encoding_params {
            caps.set("encoding-params", CapsValue::Str(params));
        }

        // GStreamer only reads the first matching a=fmtp; merging all of them
        // (later values win) also survives a bare `a=fmtp:96` followed by the
        // real parameters on a second line.
        let mut fmtp_added = 0;
        for fmtp in self.fmtp.get(slot).into_iter().flatten() {
            add_fmtp(&mut caps, &encoding_name, fmtp, &mut fmtp_added);
        }

        if let Some(size) = self
            .framesize
            .get(slot)
            .copied()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            caps.set("a-framesize", CapsValue::Str(size.to_string()));
        }

        for (name, value) in &self.attribute_fields {
            caps.set(name, CapsValue::Str(value.clone()));
        }

        if let Some(ssrc) = self.ssrc {
            caps.set("ssrc", CapsValue::UInt(ssrc));
        }
        Some(caps)
    }
}

/// Build an SDP media section from RTP caps (publishing, `rtspsink`).
///
/// Produces `m=<media> 0 RTP/AVP <pt>`, `a=rtpmap:<pt> <ENC>/<rate>[/<params>]`,
/// `a=fmtp:<pt> k=v;...` from the string fields that are not standard RTP caps
/// fields, `a=<name>:<value>` for `a-<name>` fields (`a-framesize` gets the
/// payload type prefix), `a=x-...` for `x-` fields (except `x-gst-*`),
/// `a=extmap:<id> <uri>` for `extmap-<id>` string fields, and
/// `a=control:<control>` last (omitted if `control` is empty).
///
/// Fallbacks: missing `media` → `application`; missing/invalid `payload` →
/// 96; missing `encoding-name`/`clock-rate` come from the RFC 3551 static
/// table, else from a small per-codec default; without a rate the rtpmap is
/// written as `<pt> <ENC>`. Fields that would break the fmtp syntax (names or
/// values with `;`, `=` in the name, whitespace in the name) are skipped.
pub fn media_from_caps(caps: &RtpCaps, control: &str) -> Media {
    let media_type = caps
        .get_str("media")
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty() && !m.contains(char::is_whitespace))
        .unwrap_or_else(|| "application".to_string());
    let pt = caps.payload().unwrap_or(96);
    let static_pt = static_payload(pt);

    let encoding_name = caps
        .get_str("encoding-name")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .or_else(|| static_pt.map(|s| s.name.to_string()));
    let clock_rate = caps
        .clock_rate()
        .and_then(|r| i32::try_from(r).ok())
        .or_else(|| static_pt.map(|s| s.rate))
        .or_else(|| encoding_name.as_deref().and_then(default_rate_for_name));
    let encoding_params = match caps.get("encoding-params") {
        Some(CapsValue::Str(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(v @ (CapsValue::Int(_) | CapsValue::UInt(_))) => v.as_i64().map(|i| i.to_string()),
        _ if caps.get_str("encoding-name").is_none() => {
            static_pt.and_then(|s| s.channels).map(str::to_string)
        }
        _ => None,
    };

    let mut attributes = Vec::new();
    if let Some(enc) = &encoding_name {
        let mut map = format!("{pt} {enc}");
        if let Some(rate) = clock_rate {
            map.push_str(&format!("/{rate}"));
            if let Some(params) = &encoding_params {
                map.push_str(&format!("/{params}"));
            }
        }
        attributes.push(attr("rtpmap", Some(map)));
    }

    let is_h264 = encoding_name
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("H264"));
    let mut fmtp = Vec::new();
    let mut extra = Vec::new();
    for (name, value) in &caps.fields {
        let name = name.as_str();
        if let Some(attr_name) = name.strip_prefix("a-") {
            let Some(value) = value_as_string(value) else {
                continue;
            };
            // The name must survive a reparse as an attribute name.
            if attr_name.is_empty() || attr_name.contains(|c: char| c == ':' || c.is_whitespace()) {
                continue;
            }
            if attr_name == "framesize" {
                extra.push(attr("framesize", Some(format!("{pt} {value}"))));
            } else {
                extra.push(attr(attr_name, Some(value).filter(|v| !v.is_empty())));
            }
            continue;
        }
        if name.starts_with("x-") {
            // x-gst-* are GStreamer-internal (rtsp-server rtx time etc.).
            if !name.starts_with("x-gst-")
                && let Some(value) = value_as_string(value)
            {
                extra.push(attr(name, Some(value).filter(|v| !v.is_empty())));
            }
            continue;
        }
        if let Some(id) = name.strip_prefix("extmap-") {
            if let (Ok(id), CapsValue::Str(uri)) = (id.parse::<u16>(), value)
                && id != 0
                && !uri.trim().is_empty()
            {
                extra.push(attr("extmap", Some(format!("{id} {}", uri.trim()))));
            }
            continue;
        }
        if is_reserved_field(name) {
            continue;
        }
        let CapsValue::Str(value) = value else {
            continue;
        };
        let value = value.trim();
        if name.is_empty()
            || value.is_empty()
            || name.contains(|c: char| c == ';' || c == '=' || c.is_whitespace())
            || value.contains(';')
        {
            continue;
        }
        // GStreamer stores `level-asymmetry-allowed=1` as a `profile` field
        // for H.264 (gst_sdp_media_caps_adjust_h264); write it back the
        // same way gst_sdp_media_set_media_from_caps does.
        if is_h264 && name == "profile" {
            fmtp.push("level-asymmetry-allowed=1".to_string());
        } else {
            fmtp.push(format!("{name}={value}"));
        }
    }
    if !fmtp.is_empty() {
        attributes.push(attr("fmtp", Some(format!("{pt} {}", fmtp.join(";")))));
    }
    attributes.extend(extra);
    let control = control.trim();
    if !control.is_empty() {
        attributes.push(attr("control", Some(control.to_string())));
    }

    Media {
        media: media_type,
        port: 0,
        num_ports: None,
        proto: "RTP/AVP".to_string(),
        formats: vec![pt.to_string()],
        connection: None,
        bandwidths: Vec::new(),
        attributes,
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One row of RFC 3551 tables 4 and 5.
#[derive(Debug, Clone, Copy)]
struct StaticPayload {
    name: &'static str,
    rate: i32,
    /// Channel count for `encoding-params`; only given where it differs by
    /// payload type (L16 stereo/mono), like the rtpmap would say.
    channels: Option<&'static str>,
}

/// RFC 3551 §6, tables 4 (audio) and 5 (video): statically assigned payload
/// types. Encoding names uppercased as GStreamer expects.
fn static_payload(pt: u8) -> Option<StaticPayload> {
    let (name, rate, channels) = match pt {
        0 => ("PCMU", 8000, None),
        3 => ("GSM", 8000, None),
        4 => ("G723", 8000, None),
        5 => ("DVI4", 8000, None),
        6 => ("DVI4", 16000, None),
        7 => ("LPC", 8000, None),
        8 => ("PCMA", 8000, None),
        // G.722's RTP clock is 8000 although it samples at 16 kHz (§4.5.2).
        9 => ("G722", 8000, None),
        10 => ("L16", 44100, Some("2")),
        11 => ("L16", 44100, Some("1")),
        12 => ("QCELP", 8000, None),
        13 => ("CN", 8000, None),
        14 => ("MPA", 90000, None),
        15 => ("G728", 8000, None),
        16 => ("DVI4", 11025, None),
        17 => ("DVI4", 22050, None),
        18 => ("G729", 8000, None),
        25 => ("CELB", 90000, None),
        26 => ("JPEG", 90000, None),
        28 => ("NV", 90000, None),
        31 => ("H261", 90000, None),
        32 => ("MPV", 90000, None),
        33 => ("MP2T", 90000, None),
        34 => ("H263", 90000, None),
        _ => return None,
    };
    Some(StaticPayload {
        name,
        rate,
        channels,
    })
}

/// Clock rate for an rtpmap that names a codec but gives no rate (RealMedia
/// style `a=rtpmap:96 H264`), from the codecs' RTP payload RFCs.
fn default_rate_for_name(name: &str) -> Option<i32> {
    const RATES: &[(&str, i32)] = &[
        ("H264", 90000),
        ("H265", 90000),
        ("H263-1998", 90000),
        ("H263-2000", 90000),
        ("MP4V-ES", 90000),
        ("JPEG", 90000),
        ("MP2T", 90000),
        ("MPV", 90000),
        ("MPA", 90000),
        ("VP8", 90000),
        ("VP9", 90000),
        ("AV1", 90000),
        ("RAW", 90000),
        ("VND.ONVIF.METADATA", 90000),
        ("OPUS", 48000),
        ("PCMU", 8000),
        ("PCMA", 8000),
        ("G722", 8000),
        ("AMR", 8000),
        ("AMR-WB", 16000),
    ];
    RATES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, r)| *r)
}

/// RTP profiles we can depayload (RFC 3551, 4585, 3711, 5124), in any case.
/// Also accepted: `RTP/AVP/TCP` and `RTP/AVP/UDP` (RTSP servers use these in
/// m= lines although they are Transport header syntax), and the RFC 4571 /
/// RFC 5764 `TCP/` and `UDP/TLS/` prefixes.
fn is_rtp_profile(proto: &str) -> bool {
    let upper = proto.trim().to_ascii_uppercase();
    let mut p = upper.as_str();
    for prefix in ["UDP/TLS/", "TCP/TLS/", "TCP/"] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = rest;
            break;
        }
    }
    for suffix in ["/TCP", "/UDP"] {
        if let Some(rest) = p.strip_suffix(suffix) {
            p = rest;
            break;
        }
    }
    matches!(p, "RTP/AVP" | "RTP/AVPF" | "RTP/SAVP" | "RTP/SAVPF")
}

/// RTP/AVPF or RTP/SAVPF with or without a lower transport
/// (`RTP/AVPF/TCP`).
fn is_avpf(proto: &str) -> bool {
    Profile::from_proto(proto).is_some_and(|p| p.feedback)
}

/// A format token from the m= line as an RTP payload type.
fn parse_payload_type(format: &str) -> Option<u8> {
    format.trim().parse::<u8>().ok().filter(|pt| *pt <= 127)
}

/// Split `<pt> <rest>` attribute values (rtpmap, fmtp, framesize; RFC 8866
/// §6.6, §6.15) into the payload type (0..=127) and the rest. Tolerates extra
/// spaces and a `;` right after the number (`a=fmtp:96;packetization-mode=1`),
/// and nothing at all after it (`a=fmtp:96`; docs/QUIRKS.md, "fmtp
/// parameters").
fn split_pt(value: &str) -> Option<(u8, &str)> {
    let v = value.trim_start();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let (num, rest) = v.split_at_checked(digits)?;
    let pt = num.parse::<u8>().ok().filter(|pt| *pt <= 127)?;
    match rest.chars().next() {
        None => Some((pt, "")),
        Some(c) if c.is_whitespace() || c == ';' => Some((
            pt,
            rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';'),
        )),
        Some(_) => None,
    }
}

struct RtpMap {
    name: String,
    rate: Option<i32>,
    params: Option<String>,
}

/// `<encoding name>/<clock rate>[/<encoding parameters>]` (RFC 8866 §6.6).
/// The rate is read like `atoi` (leading digits), so `90000;` still works;
/// a missing or zero rate yields `None` for the caller to fill in.
fn parse_rtpmap(rest: &str) -> Option<RtpMap> {
    let mut parts = rest.trim().splitn(3, '/');
    let name = parts.next()?.split_whitespace().next()?;
    if name.is_empty() {
        return None;
    }
    let rate = parts.next().and_then(|r| {
        let r = r.trim();
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        r.get(..digits)?.parse::<i32>().ok().filter(|r| *r > 0)
    });
    let params = parts
        .next()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty());
    Some(RtpMap {
        name: name.to_string(),
        rate,
        params,
    })
}

/// Fields the caps already carry or that rtspsrc/the element set
/// themselves; an fmtp parameter of that name would clash (and a string
/// `clock-rate` would make the caps unusable, as GStreamer notes).
fn is_reserved_field(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "media",
        "payload",
        "clock-rate",
        "encoding-name",
        "encoding-params",
        "ssrc",
        "timestamp-offset",
        "seqnum-offset",
        "clock-base",
        "seqnum-base",
    ];
    const RESERVED_PREFIXES: &[&str] = &["rtcp-fb-", "npt-", "play-", "srtp-", "srtcp-", "rid-"];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
        || RESERVED_PREFIXES.iter().any(|p| {
            name.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        })
}

/// GStreamer field names must start with a letter and contain only
/// letters, digits and `/-_.:+` (gst_structure_validate_field_name); other
/// names would make the element's caps construction fail.
fn is_valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "/-_.:+".contains(c))
}

/// Add the parameters of `a=fmtp:<pt> <params>` (RFC 8866 §6.15):
/// `;`-separated `key=value` pairs.
/// `added` counts new fields across all fmtp lines of one payload type,
/// bounded by [`MAX_FMTP_PARAMS`].
fn add_fmtp(caps: &mut RtpCaps, encoding_name: &str, params: &str, added: &mut usize) {
    let is_h264 = encoding_name.starts_with("H264");
    for param in params.split(';') {
        let param = param.trim();
        // Quirk: empty parameters (`config=1408; profile=1;`).
        if param.is_empty() {
            continue;
        }
        // A bare `key` means `key=1` (GStreamer convention); the value may
        // contain '=' itself (base64 padding), so split at the first one.
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (param, "1"),
        };
        if key.is_empty() || value.is_empty() {
            continue;
        }
        // Quirk: keys in mixed case (`SizeLength=13`); depayloaders look up
        // lowercase names.
        let key = key.to_ascii_lowercase();
        if is_reserved_field(&key) || !is_valid_field_name(&key) {
            continue;
        }
        let value = match key.as_str() {
            // Quirk: sprop-parameter-sets empty, invalid or with Annex-B start
            // codes inside: keep what is valid, never fail the stream.
            // RFC 7798 §7.1: the H.265 sprop-vps/sps/pps have the same form.
            "sprop-parameter-sets" | "sprop-vps" | "sprop-sps" | "sprop-pps" => {
                match clean_parameter_sets(value) {
                    Some(v) => v,
                    None => continue,
                }
            }
            // Quirk: profile-level-id too short or not hex (RFC 6184 §8.1
            // requires exactly 3 bytes in hex): rtph264depay would choke on it.
            "profile-level-id" if is_h264 => {
                if value.len() == 6 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    value.to_string()
                } else {
                    continue;
                }
            }
            _ => value.to_string(),
        };
        if caps.get(&key).is_none() {
            if *added >= MAX_FMTP_PARAMS {
                continue;
            }
            *added += 1;
        }
        caps.set(&key, CapsValue::Str(value));
    }
}

/// Lenient base64: padding optional, non-zero trailing bits accepted, since
/// camera firmware base64 encoders are not always canonical.
const LENIENT_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT_CONFIG);
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT_CONFIG);

/// Most NAL units kept from one sprop parameter (real streams have 2-3).
const MAX_PARAMETER_SETS: usize = 32;

/// Clean a comma-separated list of base64 NAL units (RFC 6184 §8.1
/// sprop-parameter-sets, RFC 7798 §7.1 sprop-vps/sps/pps). Entries that are
/// empty or not base64 are dropped; decoded entries are split at Annex-B
/// start codes (some encoders put `00 00 00 01` in front of, or between,
/// NAL units) and every non-empty NAL with a clear forbidden_zero_bit is
/// re-encoded as canonical padded base64. `None` if nothing valid is left.
fn clean_parameter_sets(value: &str) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in value.split(',') {
        let entry = entry.trim().trim_matches('"');
        if entry.is_empty() {
            continue;
        }
        let Ok(bytes) = LENIENT
            .decode(entry)
            .or_else(|_| LENIENT_URL_SAFE.decode(entry))
        else {
            continue;
        };
        for nal in split_annexb(&bytes) {
            if out.len() >= MAX_PARAMETER_SETS {
                break;
            }
            out.push(STANDARD.encode(nal));
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join(","))
    }
}

/// Split at `00 00 01` start codes. Zero bytes right before a start code
/// belong to the byte stream (the leading zero of a 4-byte `00 00 00 01`,
/// or trailing_zero_8bits, H.264 Annex B.1) and are trimmed from the unit
/// before it; the last unit is kept as-is. Emulation prevention guarantees
/// `00 00 01` never occurs inside a real NAL unit, so splitting there is
/// always safe.
fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(window) = data.get(i..i + 3) {
        if window == [0, 0, 1] {
            let unit = data.get(start..i).unwrap_or_default();
            let end = unit.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            units.push(unit.get(..end).unwrap_or_default());
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    units.push(data.get(start..).unwrap_or_default());
    // Drops empty units too. forbidden_zero_bit (H.264 §7.4.1, H.265
    // §7.4.2.2) must be 0 in any NAL unit header.
    units.retain(|u| u.first().is_some_and(|b| b & 0x80 == 0));
    units
}

/// Attributes that are consumed elsewhere or meaningless as caps (RFC 8866
/// §6, RFC 3605 rtcp, RFC 4145 setup/connection, RFC 4567 key-mgmt,
/// RFC 4568 crypto, RFC 4585 rtcp-fb, RFC 5576 ssrc, RFC 8285 extmap,
/// RFC 8851 rid, RFC 7826 range).
fn is_excluded_attribute(name: &str) -> bool {
    const EXCLUDED: &[&str] = &[
        "rtpmap",
        "fmtp",
        "control",
        "range",
        "framesize",
        "ssrc",
        "ssrc-group",
        "rid",
        "rtcp",
        "rtcp-mux",
        "rtcp-fb",
        "sendonly",
        "recvonly",
        "sendrecv",
        "inactive",
        "setup",
        "connection",
        "key-mgmt",
        "crypto",
        "extmap",
    ];
    EXCLUDED.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// Caps fields from session- and media-level attributes: session first,
/// then media, a media-level value replacing a session-level one of the same
/// name (as rtspsrc merges them). At most [`MAX_ATTRIBUTE_FIELDS`], media
/// level served first. Linear in the number of attributes.
fn attribute_fields(session: &[Attribute], media: &[Attribute]) -> Vec<(String, String)> {
    let media_fields = collect_attribute_fields(media, MAX_ATTRIBUTE_FIELDS, &HashSet::new());
    let taken: HashSet<String> = media_fields.iter().map(|(n, _)| n.clone()).collect();
    let session_fields = collect_attribute_fields(
        session,
        MAX_ATTRIBUTE_FIELDS.saturating_sub(media_fields.len()),
        &taken,
    );
    session_fields.into_iter().chain(media_fields).collect()
}

/// Distinct fields from `attrs` (a later attribute with the same field name
/// replaces the value), at most `limit`, skipping names in `exclude`.
fn collect_attribute_fields(
    attrs: &[Attribute],
    limit: usize,
    exclude: &HashSet<String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for a in attrs {
        let Some((name, value)) = attribute_field(a) else {
            continue;
        };
        if exclude.contains(&name) {
            continue;
        }
        match index.get(&name) {
            Some(&i) => {
                if let Some(slot) = out.get_mut(i) {
                    slot.1 = value;
                }
            }
            None if out.len() < limit => {
                index.insert(name.clone(), out.len());
                out.push((name, value));
            }
            None => {}
        }
    }
    out
}

/// The caps field for one attribute, if it makes one: `a-<name>` (or the
/// name itself for `x-` attributes, like GStreamer) with the value as string,
/// or `extmap-<id>` for RFC 8285 header extensions.
fn attribute_field(a: &Attribute) -> Option<(String, String)> {
    let name = a.name.as_str();
    // Value-less properties (`a=recvonly`, `a=rtcp-mux`) carry no caps
    // information (GStreamer would add an empty string).
    let value = a.value.as_deref().filter(|v| !v.is_empty())?;
    if value.len() > MAX_ATTRIBUTE_VALUE_LEN {
        return None;
    }
    if name.eq_ignore_ascii_case("extmap") {
        return extmap_field(value);
    }
    if is_excluded_attribute(name) {
        return None;
    }
    // Quirk: `a=framerate:0S` and similar garbage: ignore the attribute.
    if name.eq_ignore_ascii_case("framerate") && !is_valid_framerate(value) {
        return None;
    }
    let field = if name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-")) {
        name.to_string()
    } else {
        format!("a-{name}")
    };
    if !is_valid_field_name(&field) || is_reserved_field(&field) {
        return None;
    }
    Some((field, value.to_string()))
}

/// RFC 8866 §6.12: `a=framerate:<frame rate>`, a positive decimal number.
/// Also accepts `num/den` which some encoders write.
fn is_valid_framerate(value: &str) -> bool {
    let positive = |s: &str| {
        s.trim()
            .parse::<f64>()
            .is_ok_and(|f| f.is_finite() && f > 0.0)
    };
    match value.split_once('/') {
        Some((n, d)) => positive(n) && positive(d),
        None => positive(value),
    }
}

/// `a=extmap:<id> <uri>` (RFC 8285 §7) → `extmap-<id>` = uri, like
/// GStreamer. The forms with a direction or extension attributes map to an
/// array in GStreamer, which [`CapsValue`] cannot express; they are skipped.
fn extmap_field(value: &str) -> Option<(String, String)> {
    let mut tokens = value.split_whitespace();
    let (Some(id), Some(uri), None) = (tokens.next(), tokens.next(), tokens.next()) else {
        return None;
    };
    // One-byte header ids 1..=14, two-byte up to 255; 15 is reserved.
    let id = id.parse::<u8>().ok().filter(|id| *id != 0 && *id != 15)?;
    Some((format!("extmap-{id}"), uri.to_string()))
}

/// The SSRC if `a=ssrc:<id> <attr>` lines (RFC 5576 §4.1) name exactly one
/// source; with several (simulcast, FEC) none is picked.
fn single_ssrc(media: &Media) -> Option<u32> {
    let mut found: Option<u32> = None;
    for value in media.attributes_named("ssrc") {
        let token = value.split_whitespace().next().unwrap_or_default();
        let Ok(ssrc) = token.parse::<u32>() else {
            continue;
        };
        match found {
            None => found = Some(ssrc),
            Some(f) if f == ssrc => {}
            Some(_) => return None,
        }
    }
    found
}

/// Media direction attribute (RFC 8866 §6.7), lowercased.
fn direction(attrs: &[Attribute]) -> Option<String> {
    attrs
        .iter()
        .find(|a| {
            ["sendonly", "recvonly", "sendrecv", "inactive"]
                .iter()
                .any(|d| a.name.eq_ignore_ascii_case(d))
        })
        .map(|a| a.name.to_ascii_lowercase())
}

fn attr(name: &str, value: Option<String>) -> Attribute {
    Attribute {
        name: name.to_string(),
        value,
    }
}

fn value_as_string(value: &CapsValue) -> Option<String> {
    match value {
        CapsValue::Str(s) => Some(s.trim().to_string()),
        CapsValue::Int(i) => Some(i.to_string()),
        CapsValue::UInt(u) => Some(u.to_string()),
    }
}

/// Serialize a string the way `gst_value_serialize` does: bare if it only
/// holds "simple" characters, else double-quoted with `\` before other
/// printable ASCII and octal escapes for control and non-ASCII bytes.
fn push_serialized_string(out: &mut String, s: &str) {
    let simple = |b: u8| b.is_ascii_alphanumeric() || b"_-+/:.".contains(&b);
    if !s.is_empty() && s.bytes().all(simple) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for b in s.bytes() {
        if simple(b) {
            out.push(char::from(b));
        } else if !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\{b:03o}"));
        } else {
            out.push('\\');
            out.push(char::from(b));
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SessionDescription {
        SessionDescription::parse(s.as_bytes()).expect("valid SDP")
    }

    fn streams(s: &str) -> Vec<StreamDescription> {
        streams_from_sdp(&parse(s))
    }

    fn s(caps: &RtpCaps, name: &str) -> Option<String> {
        caps.get_str(name).map(str::to_string)
    }

    fn int(caps: &RtpCaps, name: &str) -> Option<i32> {
        match caps.get(name)? {
            CapsValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Caps built from a single-media SDP body, for the payload type given.
    fn caps_of(sdp: &str, pt: u8) -> RtpCaps {
        let sdp = parse(sdp);
        caps_for_payload(&sdp, &sdp.media[0], pt).expect("caps")
    }

    const LIVE555_H264: &str = "v=0\r\n\
        o=- 1700000000123456 1 IN IP4 192.168.1.10\r\n\
        s=H.264 Video, streamed by the LIVE555 Media Server\r\n\
        i=test.264\r\n\
        t=0 0\r\n\
        a=tool:LIVE555 Streaming Media v2023.01.19\r\n\
        a=type:broadcast\r\n\
        a=control:*\r\n\
        a=range:npt=0-\r\n\
        a=x-qt-text-nam:H.264 Video, streamed by the LIVE555 Media Server\r\n\
        a=x-qt-text-inf:test.264\r\n\
        m=video 0 RTP/AVP 96\r\n\
        c=IN IP4 0.0.0.0\r\n\
        b=AS:500\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=42C01E;sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==\r\n\
        a=control:track1\r\n";

    #[test]
    fn live555_h264() {
        let st = streams(LIVE555_H264);
        assert_eq!(st.len(), 1);
        let st0 = &st[0];
        assert_eq!(st0.media_index, 0);
        assert_eq!(st0.media, "video");
        assert_eq!(st0.control.as_deref(), Some("track1"));
        assert_eq!(st0.port, 0);
        assert_eq!(st0.direction, None);
        assert_eq!(st0.connection.as_ref().unwrap().address, "0.0.0.0");
        assert_eq!(st0.payloads.len(), 1);
        let c = &st0.payloads[0];
        assert_eq!(c.payload(), Some(96));
        assert_eq!(c.clock_rate(), Some(90000));
        assert_eq!(
            c.to_caps_string(),
            "application/x-rtp, media=(string)video, payload=(int)96, clock-rate=(int)90000, \
             encoding-name=(string)H264, packetization-mode=(string)1, \
             profile-level-id=(string)42C01E, \
             sprop-parameter-sets=(string)\"Z0LAHtkDxWhAAAADAEAAAAwDxYuS\\,aMuMsg\\=\\=\", \
             a-tool=(string)\"LIVE555\\ Streaming\\ Media\\ v2023.01.19\", \
             a-type=(string)broadcast, \
             x-qt-text-nam=(string)\"H.264\\ Video\\,\\ streamed\\ by\\ the\\ LIVE555\\ Media\\ Server\", \
             x-qt-text-inf=(string)test.264"
        );
        // control and range are not caps material.
        assert!(c.get("a-control").is_none());
        assert!(c.get("a-range").is_none());
    }

    // Hikvision: `; ` separated fmtp, a=Media_header with a long value,
    // a=appversion, a=x-dimensions, absolute control URLs.
    const HIKVISION: &str = "v=0\r\n\
        o=- 1109162014219182 1109162014219192 IN IP4 x.y.z.w\r\n\
        s=Media Presentation\r\n\
        e=NONE\r\n\
        b=AS:5050\r\n\
        t=0 0\r\n\
        a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast\r\n\
        m=video 0 RTP/AVP 96\r\n\
        c=IN IP4 0.0.0.0\r\n\
        b=AS:5000\r\n\
        a=recvonly\r\n\
        a=x-dimensions:1920,1080\r\n\
        a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z00AKpY1QPAET8s3AQEBAg==,aO48gA==\r\n\
        a=Media_header:MEDIAINFO=494D4B48010200000400000100000000000000000000000000000000000000000000000000000000;\r\n\
        a=appversion:1.0\r\n";

    #[test]
    fn hikvision_h264() {
        let sdp = parse(HIKVISION);
        assert_eq!(
            sdp.control(),
            Some("rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast")
        );
        let st = streams_from_sdp(&sdp);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].direction.as_deref(), Some("recvonly"));
        assert_eq!(
            st[0].control.as_deref(),
            Some("rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast")
        );
        let c = &st[0].payloads[0];
        assert_eq!(s(c, "encoding-name").as_deref(), Some("H264"));
        assert_eq!(s(c, "profile-level-id").as_deref(), Some("420029"));
        assert_eq!(s(c, "packetization-mode").as_deref(), Some("1"));
        assert_eq!(
            s(c, "sprop-parameter-sets").as_deref(),
            Some("Z00AKpY1QPAET8s3AQEBAg==,aO48gA==")
        );
        assert_eq!(s(c, "x-dimensions").as_deref(), Some("1920,1080"));
        assert!(
            s(c, "a-Media_header")
                .unwrap()
                .starts_with("MEDIAINFO=494D4B48")
        );
        assert_eq!(s(c, "a-appversion").as_deref(), Some("1.0"));
        assert!(c.get("a-recvonly").is_none());
    }

    // Axis: H.264 plus AAC (mpeg4-generic) with `; `-separated, mixed-case
    // fmtp keys and a trailing `;`, a=framerate with decimals.
    const AXIS: &str = "v=0\r\n\
        o=- 12404139853372475432 1 IN IP4 192.168.0.90\r\n\
        s=Session streamed with GStreamer\r\n\
        i=rtsp-server\r\n\
        t=0 0\r\n\
        a=tool:GStreamer\r\n\
        a=type:broadcast\r\n\
        a=range:npt=now-\r\n\
        a=control:rtsp://192.168.0.90/axis-media/media.amp?videocodec=h264&audio=1\r\n\
        m=video 0 RTP/AVP 96\r\n\
        c=IN IP4 0.0.0.0\r\n\
        b=AS:50000\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=4d0029;sprop-parameter-sets=Z00AKeKQCgC3YC3AQEBpB4kRUA==,aO48gA==\r\n\
        a=control:rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=h264&audio=1\r\n\
        a=framerate:30.000000\r\n\
        a=transform:1,0,0;0,1,0;0,0,1\r\n\
        m=audio 0 RTP/AVP 97\r\n\
        c=IN IP4 0.0.0.0\r\n\
        b=AS:32\r\n\
        a=rtpmap:97 MPEG4-GENERIC/16000/1\r\n\
        a=fmtp:97 streamtype=5; profile-level-id=15; mode=AAC-hbr; config=1408; sizeLength=13; indexLength=3; indexDeltaLength=3; profile=1; bitrate=32000;\r\n\
        a=control:rtsp://192.168.0.90/axis-media/media.amp/stream=1?videocodec=h264&audio=1\r\n";

    #[test]
    fn axis_h264_and_aac() {
        let st = streams(AXIS);
        assert_eq!(st.len(), 2);
        let v = &st[0].payloads[0];
        assert_eq!(s(v, "profile-level-id").as_deref(), Some("4d0029"));
        assert_eq!(s(v, "a-framerate").as_deref(), Some("30.000000"));
        assert_eq!(s(v, "a-transform").as_deref(), Some("1,0,0;0,1,0;0,0,1"));
        assert_eq!(s(v, "a-tool").as_deref(), Some("GStreamer"));
        let a = &st[1].payloads[0];
        assert_eq!(st[1].media, "audio");
        assert_eq!(st[1].media_index, 1);
        assert_eq!(s(a, "encoding-name").as_deref(), Some("MPEG4-GENERIC"));
        assert_eq!(a.clock_rate(), Some(16000));
        assert_eq!(s(a, "encoding-params").as_deref(), Some("1"));
        assert_eq!(s(a, "streamtype").as_deref(), Some("5"));
        // profile-level-id is only checked for H.264; AAC's is decimal.
        assert_eq!(s(a, "profile-level-id").as_deref(), Some("15"));
        assert_eq!(s(a, "mode").as_deref(), Some("AAC-hbr"));
        assert_eq!(s(a, "config").as_deref(), Some("1408"));
        assert_eq!(s(a, "sizelength").as_deref(), Some("13"));
        assert_eq!(s(a, "indexlength").as_deref(), Some("3"));
        assert_eq!(s(a, "indexdeltalength").as_deref(), Some("3"));
        assert_eq!(s(a, "profile").as_deref(), Some("1"));
        assert_eq!(s(a, "bitrate").as_deref(), Some("32000"));
        assert!(a.get("a-framerate").is_none());
    }

    const GST_RTSP_SERVER: &str = "v=0\r\n\
        o=- 1188340656180883 1 IN IP4 127.0.0.1\r\n\
        s=Session streamed with GStreamer\r\n\
        i=rtsp-server\r\n\
        t=0 0\r\n\
        a=tool:GStreamer\r\n\
        a=type:broadcast\r\n\
        a=range:npt=now-\r\n\
        a=control:rtsp://127.0.0.1:8554/test\r\n\
        m=video 0 RTP/AVP 96\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=framerate:30\r\n\
        a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAH6zZQFAFuhAAAAMAEAAAAwPI8YMZYA==,aOvjyyLA;profile-level-id=64001f;level-asymmetry-allowed=1\r\n\
        a=control:rtsp://127.0.0.1:8554/test/stream=0\r\n\
        a=ts-refclk:local\r\n\
        a=mediaclk:sender\r\n\
        m=audio 0 RTP/AVP 97\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=rtpmap:97 MP4A-LATM/44100/2\r\n\
        a=fmtp:97 cpresent=0;config=40002420adca00\r\n\
        a=control:rtsp://127.0.0.1:8554/test/stream=1\r\n\
        a=ts-refclk:local\r\n\
        a=mediaclk:sender\r\n\
        m=audio 0 RTP/AVP 98\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=rtpmap:98 MPEG4-GENERIC/48000/2\r\n\
        a=fmtp:98 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
        a=control:rtsp://127.0.0.1:8554/test/stream=2\r\n";

    #[test]
    fn gst_rtsp_server_h264_latm_aac() {
        let st = streams(GST_RTSP_SERVER);
        assert_eq!(st.len(), 3);
        let v = &st[0].payloads[0];
        assert_eq!(
            s(v, "sprop-parameter-sets").as_deref(),
            // Unpadded entry re-encoded with canonical padding.
            Some("Z2QAH6zZQFAFuhAAAAMAEAAAAwPI8YMZYA==,aOvjyyLA")
        );
        assert_eq!(s(v, "profile-level-id").as_deref(), Some("64001f"));
        assert_eq!(s(v, "level-asymmetry-allowed").as_deref(), Some("1"));
        assert_eq!(s(v, "a-framerate").as_deref(), Some("30"));
        assert_eq!(s(v, "a-ts-refclk").as_deref(), Some("local"));
        assert_eq!(s(v, "a-mediaclk").as_deref(), Some("sender"));
        let latm = &st[1].payloads[0];
        assert_eq!(s(latm, "encoding-name").as_deref(), Some("MP4A-LATM"));
        assert_eq!(latm.clock_rate(), Some(44100));
        assert_eq!(s(latm, "encoding-params").as_deref(), Some("2"));
        assert_eq!(s(latm, "cpresent").as_deref(), Some("0"));
        assert_eq!(s(latm, "config").as_deref(), Some("40002420adca00"));
        let aac = &st[2].payloads[0];
        assert_eq!(aac.payload(), Some(98));
        assert_eq!(s(aac, "encoding-name").as_deref(), Some("MPEG4-GENERIC"));
        assert_eq!(s(aac, "profile-level-id").as_deref(), Some("2"));
        assert_eq!(s(aac, "config").as_deref(), Some("1190"));
        assert_eq!(
            st[2].control.as_deref(),
            Some("rtsp://127.0.0.1:8554/test/stream=2")
        );
    }

    #[test]
    fn h265() {
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n\
             a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAgAAAAwAAAwBdrAk=; \
             sprop-sps=QgEBAWAAAAMAgAAAAwAAAwBdoAKAgC0WNrkky/AIAAADAAgAAAMAyEA=; \
             sprop-pps=RAHA8vA8kAA=\r\n",
            96,
        );
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("H265"));
        assert_eq!(
            s(&c, "sprop-vps").as_deref(),
            Some("QAEMAf//AWAAAAMAgAAAAwAAAwBdrAk=")
        );
        assert_eq!(
            s(&c, "sprop-sps").as_deref(),
            Some("QgEBAWAAAAMAgAAAAwAAAwBdoAKAgC0WNrkky/AIAAADAAgAAAMAyEA=")
        );
        // A trailing zero byte in the last NAL is left alone.
        assert_eq!(s(&c, "sprop-pps").as_deref(), Some("RAHA8vA8kAA="));
    }

    #[test]
    fn h265_sprop_with_start_code_and_garbage() {
        // Annex-B start code in front of the VPS; invalid SPS; empty PPS.
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n\
             a=fmtp:96 sprop-vps=AAAAAUABDAH//wFgAAADAIAAAAMAAAMAXawJ;sprop-sps=%%%;sprop-pps=\r\n",
            96,
        );
        assert_eq!(
            s(&c, "sprop-vps").as_deref(),
            Some("QAEMAf//AWAAAAMAgAAAAwAAAwBdrAk=")
        );
        assert!(c.get("sprop-sps").is_none());
        assert!(c.get("sprop-pps").is_none());
    }

    #[test]
    fn mjpeg_static_26() {
        let st = streams("v=0\r\nm=video 0 RTP/AVP 26\r\na=control:trackID=0\r\n");
        let c = &st[0].payloads[0];
        assert_eq!(
            c.to_caps_string(),
            "application/x-rtp, media=(string)video, payload=(int)26, clock-rate=(int)90000, \
             encoding-name=(string)JPEG"
        );
    }

    #[test]
    fn pcmu_static_0() {
        let st = streams("v=0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=1\r\n");
        let c = &st[0].payloads[0];
        assert_eq!(c.payload(), Some(0));
        assert_eq!(c.clock_rate(), Some(8000));
        assert_eq!(s(c, "encoding-name").as_deref(), Some("PCMU"));
        assert!(c.get("encoding-params").is_none());
    }

    #[test]
    fn static_table_entries() {
        for (pt, name, rate) in [
            (3, "GSM", 8000),
            (4, "G723", 8000),
            (8, "PCMA", 8000),
            (9, "G722", 8000),
            (14, "MPA", 90000),
            (15, "G728", 8000),
            (18, "G729", 8000),
            (31, "H261", 90000),
            (32, "MPV", 90000),
            (33, "MP2T", 90000),
            (34, "H263", 90000),
        ] {
            let c = caps_of(&format!("v=0\r\nm=audio 0 RTP/AVP {pt}\r\n"), pt);
            assert_eq!(s(&c, "encoding-name").as_deref(), Some(name), "pt {pt}");
            assert_eq!(c.clock_rate(), Some(rate), "pt {pt}");
        }
        let sdp = parse("v=0\r\nm=audio 0 RTP/AVP 2 19 35 95\r\n");
        for pt in [2, 19, 35, 95] {
            assert!(
                caps_for_payload(&sdp, &sdp.media[0], pt).is_none(),
                "pt {pt}"
            );
        }
        assert!(streams_from_sdp(&sdp).is_empty());
    }

    #[test]
    fn l16_stereo_static_and_dynamic() {
        let c = caps_of("v=0\r\nm=audio 0 RTP/AVP 10\r\n", 10);
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("L16"));
        assert_eq!(c.clock_rate(), Some(44100));
        assert_eq!(s(&c, "encoding-params").as_deref(), Some("2"));
        let c = caps_of("v=0\r\nm=audio 0 RTP/AVP 11\r\n", 11);
        assert_eq!(s(&c, "encoding-params").as_deref(), Some("1"));
        let c = caps_of(
            "v=0\r\nm=audio 0 RTP/AVP 98\r\na=rtpmap:98 L16/48000/2\r\n",
            98,
        );
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("L16"));
        assert_eq!(c.clock_rate(), Some(48000));
        assert_eq!(s(&c, "encoding-params").as_deref(), Some("2"));
    }

    #[test]
    fn opus() {
        let c = caps_of(
            "v=0\r\nm=audio 0 RTP/AVP 100\r\na=rtpmap:100 opus/48000/2\r\n\
             a=fmtp:100 sprop-stereo=1; useinbandfec=1\r\n",
            100,
        );
        assert_eq!(
            c.to_caps_string(),
            "application/x-rtp, media=(string)audio, payload=(int)100, clock-rate=(int)48000, \
             encoding-name=(string)OPUS, encoding-params=(string)2, sprop-stereo=(string)1, \
             useinbandfec=(string)1"
        );
    }

    #[test]
    fn mp2t_static_33() {
        let st = streams("v=0\r\nm=video 0 RTP/AVP 33\r\na=control:*\r\n");
        assert_eq!(
            s(&st[0].payloads[0], "encoding-name").as_deref(),
            Some("MP2T")
        );
        assert_eq!(st[0].control.as_deref(), Some("*"));
    }

    #[test]
    fn g722_with_rtpmap() {
        let c = caps_of(
            "v=0\r\nm=audio 0 RTP/AVP 9\r\na=rtpmap:9 G722/8000/1\r\n",
            9,
        );
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("G722"));
        assert_eq!(s(&c, "encoding-params").as_deref(), Some("1"));
    }

    #[test]
    fn onvif_metadata() {
        let st = streams(
            "v=0\r\n\
             m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:video\r\n\
             m=application 0 RTP/AVP 107\r\n\
             a=rtpmap:107 vnd.onvif.metadata/90000\r\n\
             a=control:metadata\r\n\
             a=recvonly\r\n",
        );
        assert_eq!(st.len(), 2);
        assert_eq!(st[1].media, "application");
        assert_eq!(st[1].control.as_deref(), Some("metadata"));
        let c = &st[1].payloads[0];
        assert_eq!(s(c, "media").as_deref(), Some("application"));
        assert_eq!(s(c, "encoding-name").as_deref(), Some("VND.ONVIF.METADATA"));
        assert_eq!(c.clock_rate(), Some(90000));
        assert_eq!(c.payload(), Some(107));
    }

    // Quirk: several payload types on one m= line.
    #[test]
    fn quirk_multi_payload_audio_line() {
        let st = streams(
            "v=0\r\n\
             m=audio 0 RTP/AVP 0 8 101\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n\
             a=ptime:20\r\n\
             a=control:trackID=2\r\n",
        );
        assert_eq!(st.len(), 1);
        let p = &st[0].payloads;
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].payload(), Some(0));
        assert_eq!(s(&p[0], "encoding-name").as_deref(), Some("PCMU"));
        assert_eq!(p[1].payload(), Some(8));
        assert_eq!(s(&p[1], "encoding-name").as_deref(), Some("PCMA"));
        assert_eq!(p[2].payload(), Some(101));
        assert_eq!(
            s(&p[2], "encoding-name").as_deref(),
            Some("TELEPHONE-EVENT")
        );
        assert_eq!(p[2].clock_rate(), Some(8000));
        // `0-15` is not a valid caps field name: skipped, not an error.
        assert!(p[2].get("0-15").is_none());
        // fmtp applies only to its own payload type.
        assert_eq!(p[0].fields.len(), p[1].fields.len());
        assert_eq!(s(&p[0], "a-ptime").as_deref(), Some("20"));
    }

    #[test]
    fn duplicate_and_unusable_payload_types_on_line() {
        let st =
            streams("v=0\r\nm=video 0 RTP/AVP 96 96 97 abc 300 26\r\na=rtpmap:96 H264/90000\r\n");
        let pts: Vec<_> = st[0]
            .payloads
            .iter()
            .map(|c| c.payload().unwrap())
            .collect();
        assert_eq!(pts, vec![96, 26]);
    }

    // Quirk: media sections the client does not understand are skipped;
    // only an empty result is a failure (for the caller).
    #[test]
    fn quirk_unknown_media_sections_skipped() {
        let sdp = parse(
            "v=0\r\n\
             m=application 0 TCP/MSRP *\r\n\
             m=video 0 udp 31\r\n\
             m=audio 0 RTP/AVP 96\r\n\
             m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
             m=data 0 RTP/AVP 120\r\na=rtpmap:120 x-private/1000\r\n",
        );
        let st = streams_from_sdp(&sdp);
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].media_index, 3);
        assert_eq!(st[1].media_index, 4);
        assert_eq!(
            s(&st[1].payloads[0], "encoding-name").as_deref(),
            Some("X-PRIVATE")
        );
        assert!(streams("v=0\r\nm=audio 0 RTP/AVP 96\r\n").is_empty());
        assert!(streams("v=0\r\n").is_empty());
    }

    #[test]
    fn rtp_profile_variants() {
        for proto in [
            "RTP/AVP",
            "rtp/avp",
            "RTP/AVPF",
            "RTP/SAVP",
            "RTP/SAVPF",
            "RTP/AVP/TCP",
            "RTP/AVP/UDP",
            "TCP/RTP/AVP",
            "UDP/TLS/RTP/SAVPF",
        ] {
            assert!(is_rtp_profile(proto), "{proto}");
        }
        for proto in [
            "",
            "udp",
            "RTP",
            "RTP/AVPX",
            "TCP/MSRP",
            "RAW/RAW/UDP",
            "MP2T/H2221/UDP",
        ] {
            assert!(!is_rtp_profile(proto), "{proto}");
        }
    }

    #[test]
    fn port_zero_not_skipped_and_port_reported() {
        let st = streams("v=0\r\nm=video 0 RTP/AVP 26\r\nm=audio 5004 RTP/AVP 0\r\n");
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].port, 0);
        assert_eq!(st[1].port, 5004);
    }

    #[test]
    fn multicast_connection_effective() {
        let st = streams(
            "v=0\r\nc=IN IP4 239.0.0.1/32\r\n\
             m=video 5000 RTP/AVP 26\r\n\
             m=audio 5002 RTP/AVP 0\r\nc=IN IP4 239.0.0.2/16\r\n",
        );
        let c0 = st[0].connection.as_ref().unwrap();
        assert_eq!((c0.address.as_str(), c0.ttl), ("239.0.0.1", Some(32)));
        let c1 = st[1].connection.as_ref().unwrap();
        assert_eq!((c1.address.as_str(), c1.ttl), ("239.0.0.2", Some(16)));
        assert!(
            streams("v=0\r\nm=video 0 RTP/AVP 26\r\n")[0]
                .connection
                .is_none()
        );
    }

    #[test]
    fn direction_media_then_session() {
        let st = streams(
            "v=0\r\na=sendonly\r\n\
             m=video 0 RTP/AVP 26\r\n\
             m=audio 0 RTP/AVP 0\r\na=Inactive\r\n",
        );
        assert_eq!(st[0].direction.as_deref(), Some("sendonly"));
        assert_eq!(st[1].direction.as_deref(), Some("inactive"));
    }

    // Quirk: lines in the wrong order, no t=, no o=.
    #[test]
    fn quirk_wrong_order_sdp_still_yields_streams() {
        let st = streams(
            "a=tool:IPCam\r\n\
             m=video 0 RTP/AVP 96\r\n\
             a=control:track1\r\n\
             a=fmtp:96 packetization-mode=1\r\n\
             a=rtpmap:96 H264/90000\r\n",
        );
        assert_eq!(st.len(), 1);
        let c = &st[0].payloads[0];
        assert_eq!(s(c, "packetization-mode").as_deref(), Some("1"));
        // a=tool came before any m= line, so it is session level.
        assert_eq!(s(c, "a-tool").as_deref(), Some("IPCam"));
    }

    // Quirk: trailing spaces/tabs after rtpmap and m= lines, trailing blank line.
    #[test]
    fn quirk_trailing_whitespace_in_rtpmap_and_mline() {
        let st = streams(
            "v=0\r\nm=audio 0 RTP/AVP 8 \r\na=rtpmap:8 PCMA/8000 \t\r\n\
             m=video 0 RTP/AVP 96\t\r\na=rtpmap:96 H264/90000 \r\n\
             a=fmtp:96 packetization-mode=1 \r\n\r\n",
        );
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].payloads[0].clock_rate(), Some(8000));
        let v = &st[1].payloads[0];
        assert_eq!(s(v, "encoding-name").as_deref(), Some("H264"));
        assert_eq!(v.clock_rate(), Some(90000));
        assert_eq!(s(v, "packetization-mode").as_deref(), Some("1"));
    }

    /// gst-rtsp-server with a retransmission time and the AVPF profile
    /// (rtsp-sdp.c): the RTX payload type follows the media's on the m=
    /// line, `rtx/<rate>` with `apt` and `rtx-time` (ms) in its fmtp. It
    /// must stay in the stream's payloads: rtspsrc2 maps it to rtprtxreceive
    /// and lets its packets through to rtpbin.
    #[test]
    fn gst_rtsp_server_rtx_payload_is_kept() {
        let st = streams(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
             m=video 0 RTP/AVPF 96 97\r\nc=IN IP4 0.0.0.0\r\n\
             a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n\
             a=control:stream=0\r\na=rtpmap:97 rtx/90000\r\n\
             a=fmtp:97 apt=96;rtx-time=1000\r\na=ssrc:1234 cname:user@host\r\n\
             m=audio 0 RTP/AVP 0\r\na=control:stream=1\r\n",
        );
        assert_eq!(st.len(), 2);
        assert!(st[0].avpf);
        assert!(!st[1].avpf);
        assert_eq!(st[0].payloads.len(), 2);
        let rtx = &st[0].payloads[1];
        assert_eq!(rtx.payload(), Some(97));
        assert_eq!(s(rtx, "encoding-name").as_deref(), Some("RTX"));
        assert_eq!(rtx.clock_rate(), Some(90000));
        assert_eq!(s(rtx, "apt").as_deref(), Some("96"));
        assert_eq!(s(rtx, "rtx-time").as_deref(), Some("1000"));
        assert_eq!(st[0].payloads[0].payload(), Some(96));
        assert_eq!(st[0].bandwidth, Bandwidth::default());
        assert!(is_avpf("rtp/avpf/tcp"));
        assert!(is_avpf("RTP/SAVPF"));
        assert!(!is_avpf("RTP/SAVP"));
    }

    /// `b=AS`, `b=RS` and `b=RR` per stream: the media section's, else
    /// the session's; other types and a stream's neighbours do not count.
    #[test]
    fn bandwidths_media_level_first() {
        let st = streams(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nb=AS:2000\r\nb=RR:800\r\n\
             m=video 0 RTP/AVPF 96\r\nb=AS:1536\r\nb=TIAS:1500000\r\nb=rs:400\r\n\
             a=rtpmap:96 H264/90000\r\na=control:stream=0\r\n\
             m=audio 0 RTP/AVP 0\r\na=control:stream=1\r\n\
             m=audio 0 RTP/AVP 8\r\nb=RR:0\r\nb=RS:0\r\na=control:stream=2\r\n",
        );
        assert_eq!(
            st[0].bandwidth,
            Bandwidth {
                application_kbps: Some(1536),
                rtcp_senders_bps: Some(400),
                rtcp_receivers_bps: Some(800),
            }
        );
        assert_eq!(
            st[1].bandwidth,
            Bandwidth {
                application_kbps: Some(2000),
                rtcp_senders_bps: None,
                rtcp_receivers_bps: Some(800),
            }
        );
        assert_eq!(st[2].bandwidth.rtcp_receivers_bps, Some(0));
        assert_eq!(st[2].bandwidth.rtcp_senders_bps, Some(0));
    }

    // Quirk: `a=fmtp:96` with nothing after it.
    #[test]
    fn quirk_empty_fmtp() {
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96\r\n",
            96,
        );
        assert_eq!(c.fields.len(), 4);
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96   \r\n",
            96,
        );
        assert_eq!(c.fields.len(), 4);
    }

    // Quirk: keys in mixed case (`SizeLength=13`), empty parameters
    // (`config=1408; profile=1;`).
    #[test]
    fn quirk_mixed_case_keys_and_empty_params() {
        let c = caps_of(
            "v=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/8000/1\r\n\
             a=fmtp:97 StreamType=5;;Mode=AAC-hbr; SizeLength=13;IndexLength=3;\
             IndexDeltaLength=3; config=1408; profile=1; ;empty=;=noval\r\n",
            97,
        );
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("MPEG4-GENERIC"));
        assert_eq!(s(&c, "streamtype").as_deref(), Some("5"));
        assert_eq!(s(&c, "mode").as_deref(), Some("AAC-hbr"));
        assert_eq!(s(&c, "sizelength").as_deref(), Some("13"));
        assert_eq!(s(&c, "indexlength").as_deref(), Some("3"));
        assert_eq!(s(&c, "indexdeltalength").as_deref(), Some("3"));
        assert_eq!(s(&c, "config").as_deref(), Some("1408"));
        assert_eq!(s(&c, "profile").as_deref(), Some("1"));
        assert!(c.get("empty").is_none());
        assert!(c.get("SizeLength").is_none());
        assert_eq!(c.fields.len(), 5 + 7);
    }

    // Quirk: `a=framerate:0S` and other garbage attribute values: ignore.
    #[test]
    fn quirk_garbage_framerate_ignored() {
        for bad in ["0S", "0", "-25", "abc", "", "NaN", "inf", "25/0"] {
            let c = caps_of(
                &format!("v=0\r\nm=video 0 RTP/AVP 26\r\na=framerate:{bad}\r\n"),
                26,
            );
            assert!(c.get("a-framerate").is_none(), "{bad}");
        }
        for good in ["25", "29.97", "30000/1001", " 15 "] {
            let c = caps_of(
                &format!("v=0\r\nm=video 0 RTP/AVP 26\r\na=framerate:{good}\r\n"),
                26,
            );
            assert_eq!(s(&c, "a-framerate").as_deref(), Some(good.trim()), "{good}");
        }
    }

    // Quirk: profile-level-id too short or not hex: ignore it, don't crash.
    #[test]
    fn quirk_bad_profile_level_id() {
        for bad in [
            "4200", "42e01", "42e01fa", "zz0000", "", "0x42e0", "42 e01f", "é2e01f",
        ] {
            let c = caps_of(
                &format!(
                    "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                     a=fmtp:96 packetization-mode=1;profile-level-id={bad}\r\n"
                ),
                96,
            );
            assert!(c.get("profile-level-id").is_none(), "{bad}");
            assert_eq!(s(&c, "packetization-mode").as_deref(), Some("1"));
        }
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42E01F\r\n",
            96,
        );
        assert_eq!(s(&c, "profile-level-id").as_deref(), Some("42E01F"));
    }

    fn h264_sprop(value: &str) -> Option<String> {
        let c = caps_of(
            &format!(
                "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                 a=fmtp:96 packetization-mode=1;sprop-parameter-sets={value}\r\n"
            ),
            96,
        );
        assert_eq!(s(&c, "packetization-mode").as_deref(), Some("1"));
        s(&c, "sprop-parameter-sets")
    }

    // Quirk: sprop-parameter-sets empty, invalid or with Annex-B start codes
    // inside: pass what is valid, never fail the stream.
    #[test]
    fn quirk_sprop_empty() {
        assert_eq!(h264_sprop(""), None);
        assert_eq!(h264_sprop(","), None);
        assert_eq!(h264_sprop(" , ,"), None);
    }

    #[test]
    fn quirk_sprop_invalid_entries_dropped() {
        assert_eq!(h264_sprop("%%%%,aO48gA=="), Some("aO48gA==".into()));
        assert_eq!(
            h264_sprop("Z00AKpY1QPAET8s3AQEBAg==,,!!"),
            Some("Z00AKpY1QPAET8s3AQEBAg==".into())
        );
        assert_eq!(h264_sprop("not base64!"), None);
        // Decodes, but the forbidden_zero_bit is set: not a NAL unit.
        assert_eq!(h264_sprop("/w=="), None);
    }

    #[test]
    fn quirk_sprop_annexb_start_codes() {
        // 4-byte start code in front of the SPS.
        assert_eq!(h264_sprop("AAAAAWdkACis2UA="), Some("Z2QAKKzZQA==".into()));
        // SPS and PPS glued into one entry with start codes.
        assert_eq!(
            h264_sprop("AAAAAWdkACis2UAAAAABaOvjyyLA"),
            Some("Z2QAKKzZQA==,aOvjyyLA".into())
        );
        // 3-byte start code only.
        let only_start = STANDARD.encode([0u8, 0, 1]);
        assert_eq!(h264_sprop(&only_start), None);
        let three = STANDARD.encode([0u8, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        assert_eq!(h264_sprop(&three), Some("aM48gA==".into()));
    }

    #[test]
    fn quirk_sprop_unpadded_and_urlsafe_base64() {
        assert_eq!(h264_sprop("aO48gA"), Some("aO48gA==".into()));
        let urlsafe = base64::engine::general_purpose::URL_SAFE.encode([0x67u8, 0xff, 0xfe, 0x01]);
        assert!(urlsafe.contains('_') || urlsafe.contains('-'));
        assert_eq!(
            h264_sprop(&urlsafe),
            Some(STANDARD.encode([0x67u8, 0xff, 0xfe, 0x01]))
        );
    }

    #[test]
    fn sprop_bounded() {
        let many = vec!["aO48gA=="; 100].join(",");
        let out = h264_sprop(&many).unwrap();
        assert_eq!(out.split(',').count(), MAX_PARAMETER_SETS);
    }

    #[test]
    fn fmtp_value_keeps_equals_and_spaces_trimmed() {
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
             a=fmtp:96  sprop-parameter-sets = Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg== ; x-opt=a=b\r\n",
            96,
        );
        assert_eq!(
            s(&c, "sprop-parameter-sets").as_deref(),
            Some("Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==")
        );
        assert_eq!(s(&c, "x-opt").as_deref(), Some("a=b"));
    }

    #[test]
    fn fmtp_bare_key_is_one_and_reserved_keys_skipped() {
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 98\r\na=rtpmap:98 VP8/90000\r\n\
             a=fmtp:98 flag;clock-rate=1000;Encoding-Name=foo;payload=3;media=x;ssrc=5;\
             seqnum-base=1;npt-start=0;bad key=1\r\n",
            98,
        );
        assert_eq!(s(&c, "flag").as_deref(), Some("1"));
        assert_eq!(int(&c, "clock-rate"), Some(90000));
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("VP8"));
        assert_eq!(int(&c, "payload"), Some(98));
        assert_eq!(s(&c, "media").as_deref(), Some("video"));
        assert!(c.get("ssrc").is_none());
        assert!(c.get("seqnum-base").is_none());
        assert!(c.get("npt-start").is_none());
        assert!(c.get("bad key").is_none());
        assert_eq!(c.fields.len(), 5);
    }

    #[test]
    fn fmtp_for_other_payload_ignored_and_semicolon_after_pt() {
        let sdp = parse(
            "v=0\r\nm=video 0 RTP/AVP 96 97\r\n\
             a=rtpmap:96 H264/90000\r\na=rtpmap:97 H264/90000\r\n\
             a=fmtp:960 a=1\r\na=fmtp:97 b=2\r\na=fmtp:96;packetization-mode=1\r\na=fmtp:96 c=3\r\n",
        );
        let c96 = caps_for_payload(&sdp, &sdp.media[0], 96).unwrap();
        assert_eq!(s(&c96, "packetization-mode").as_deref(), Some("1"));
        assert!(c96.get("a").is_none() && c96.get("b").is_none());
        // Several a=fmtp lines for one payload type are merged.
        assert_eq!(s(&c96, "c").as_deref(), Some("3"));
        let c97 = caps_for_payload(&sdp, &sdp.media[0], 97).unwrap();
        assert_eq!(s(&c97, "b").as_deref(), Some("2"));
    }

    #[test]
    fn rtpmap_variants() {
        // Static payload type remapped by rtpmap: the rtpmap wins.
        let c = caps_of(
            "v=0\r\nm=audio 0 RTP/AVP 14\r\na=rtpmap:14 mpa/44100/2\r\n",
            14,
        );
        assert_eq!(c.clock_rate(), Some(44100));
        assert_eq!(s(&c, "encoding-params").as_deref(), Some("2"));
        // Rate missing: from the static table, then from the codec name.
        let c = caps_of("v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", 0);
        assert_eq!(c.clock_rate(), Some(8000));
        let c = caps_of("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264\r\n", 96);
        assert_eq!(c.clock_rate(), Some(90000));
        // Rate with junk after the digits, empty params, extra spaces.
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96   h264/90000;/\r\n",
            96,
        );
        assert_eq!(c.clock_rate(), Some(90000));
        assert!(c.get("encoding-params").is_none());
        // Unknown dynamic codec without rate: unusable.
        let sdp = parse("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 FOO\r\n");
        assert!(caps_for_payload(&sdp, &sdp.media[0], 96).is_none());
        let sdp = parse("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 FOO/0\r\n");
        assert!(caps_for_payload(&sdp, &sdp.media[0], 96).is_none());
        let sdp = parse("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 FOO/99999999999\r\n");
        assert!(caps_for_payload(&sdp, &sdp.media[0], 96).is_none());
        // Broken rtpmap for a static type falls back to the table.
        let c = caps_of("v=0\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 \r\n", 8);
        assert_eq!(s(&c, "encoding-name").as_deref(), Some("PCMA"));
        // Params lowercased like GStreamer does.
        let c = caps_of(
            "v=0\r\nm=audio 0 RTP/AVP 96\r\na=rtpmap:96 X/8000/ABC\r\n",
            96,
        );
        assert_eq!(s(&c, "encoding-params").as_deref(), Some("abc"));
    }

    #[test]
    fn payload_type_out_of_range() {
        let sdp = parse("v=0\r\nm=audio 0 RTP/AVP 0\r\n");
        assert!(caps_for_payload(&sdp, &sdp.media[0], 128).is_none());
        assert!(caps_for_payload(&sdp, &sdp.media[0], 255).is_none());
    }

    #[test]
    fn session_and_media_attributes_merge() {
        let c = caps_of(
            "v=0\r\na=tool:server\r\na=type:broadcast\r\na=x-copyright:me\r\na=charset:UTF-8\r\n\
             a=range:npt=0-10\r\na=control:*\r\na=recvonly\r\n\
             m=video 0 RTP/AVP 26\r\na=type:override\r\na=mid:v0\r\na=setup:passive\r\n\
             a=rtcp:5001\r\na=rtcp-mux\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:xyz\r\n\
             a=key-mgmt:mikey abc\r\na=connection:new\r\na=rid:1 send\r\na=weird name:1\r\n\
             a=empty:\r\n",
            26,
        );
        assert_eq!(s(&c, "a-tool").as_deref(), Some("server"));
        assert_eq!(s(&c, "a-type").as_deref(), Some("override"));
        assert_eq!(s(&c, "x-copyright").as_deref(), Some("me"));
        assert_eq!(s(&c, "a-charset").as_deref(), Some("UTF-8"));
        assert_eq!(s(&c, "a-mid").as_deref(), Some("v0"));
        for absent in [
            "a-range",
            "a-control",
            "a-recvonly",
            "a-setup",
            "a-rtcp",
            "a-rtcp-mux",
            "a-crypto",
            "a-key-mgmt",
            "a-connection",
            "a-rid",
            "a-weird name",
            "a-empty",
        ] {
            assert!(c.get(absent).is_none(), "{absent}");
        }
        // Session-level fields first, then media-level ones (which replaced
        // the session-level a-type).
        let names: Vec<_> = c.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "media",
                "payload",
                "clock-rate",
                "encoding-name",
                "a-tool",
                "x-copyright",
                "a-charset",
                "a-type",
                "a-mid"
            ]
        );
    }

    #[test]
    fn framesize_for_payload() {
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 97 96\r\na=rtpmap:96 H263-2000/90000\r\n\
             a=rtpmap:97 H263-2000/90000\r\na=framesize:96 352-288\r\na=framesize:97 176-144\r\n",
            97,
        );
        assert_eq!(s(&c, "a-framesize").as_deref(), Some("176-144"));
    }

    #[test]
    fn ssrc_single_and_multiple() {
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 26\r\na=ssrc:3735928559 cname:cam\r\n\
             a=ssrc:3735928559 msid:x\r\n",
            26,
        );
        assert_eq!(c.get("ssrc"), Some(&CapsValue::UInt(3_735_928_559)));
        assert!(c.get("a-ssrc").is_none());
        let c = caps_of(
            "v=0\r\nm=video 0 RTP/AVP 26\r\na=ssrc:1 cname:a\r\na=ssrc:2 cname:b\r\n",
            26,
        );
        assert!(c.get("ssrc").is_none());
        let c = caps_of("v=0\r\nm=video 0 RTP/AVP 26\r\na=ssrc:0x12 cname:a\r\n", 26);
        assert!(c.get("ssrc").is_none());
    }

    #[test]
    fn extmap_simple_form_only() {
        let c = caps_of(
            "v=0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ntp-64\r\n\
             m=video 0 RTP/AVP 26\r\n\
             a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
             a=extmap:4/recvonly urn:x\r\na=extmap:5 urn:y attr\r\na=extmap:15 urn:z\r\na=extmap:0 urn:z\r\n",
            26,
        );
        assert_eq!(
            s(&c, "extmap-1").as_deref(),
            Some("urn:ietf:params:rtp-hdrext:ntp-64")
        );
        assert_eq!(
            s(&c, "extmap-3").as_deref(),
            Some("urn:ietf:params:rtp-hdrext:sdes:mid")
        );
        for absent in ["extmap-4", "extmap-5", "extmap-15", "extmap-0", "a-extmap"] {
            assert!(c.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn rtp_caps_accessors() {
        let mut c = RtpCaps::default();
        c.set("media", CapsValue::Str("audio".into()));
        c.set("payload", CapsValue::Int(0));
        c.set("clock-rate", CapsValue::UInt(8000));
        c.set("media", CapsValue::Str("video".into()));
        assert_eq!(c.fields.len(), 3);
        assert_eq!(c.fields[0].0, "media");
        assert_eq!(c.get_str("media"), Some("video"));
        assert_eq!(c.get_str("payload"), None);
        assert_eq!(c.get("missing"), None);
        assert_eq!(c.get("Media"), None);
        assert_eq!(c.payload(), Some(0));
        assert_eq!(c.clock_rate(), Some(8000));
        c.set("payload", CapsValue::Int(128));
        assert_eq!(c.payload(), None);
        c.set("payload", CapsValue::Int(-1));
        assert_eq!(c.payload(), None);
        c.set("payload", CapsValue::Str("96".into()));
        assert_eq!(c.payload(), None);
        assert_eq!(c.remove("payload"), Some(CapsValue::Str("96".into())));
        assert_eq!(c.remove("payload"), None);
        c.set("clock-rate", CapsValue::Int(0));
        assert_eq!(c.clock_rate(), None);
    }

    #[test]
    fn caps_string_escaping() {
        let mut c = RtpCaps::default();
        c.set("a", CapsValue::Str(String::new()));
        c.set("b", CapsValue::Str("x\"y\\z".into()));
        c.set("c", CapsValue::Str("tab\there".into()));
        c.set("d", CapsValue::Str("é".into()));
        c.set("e", CapsValue::Str("simple_+-/:.1".into()));
        c.set("f", CapsValue::Int(-5));
        c.set("g", CapsValue::UInt(4_000_000_000));
        assert_eq!(
            c.to_caps_string(),
            "application/x-rtp, a=(string)\"\", b=(string)\"x\\\"y\\\\z\", \
             c=(string)\"tab\\011here\", d=(string)\"\\303\\251\", e=(string)simple_+-/:.1, \
             f=(int)-5, g=(uint)4000000000"
        );
        assert_eq!(RtpCaps::default().to_caps_string(), "application/x-rtp");
    }

    #[test]
    fn split_pt_variants() {
        assert_eq!(split_pt("96 a=1"), Some((96, "a=1")));
        assert_eq!(split_pt("  96\ta=1"), Some((96, "a=1")));
        assert_eq!(split_pt("96"), Some((96, "")));
        assert_eq!(split_pt("96;a"), Some((96, "a")));
        assert_eq!(split_pt("096 x"), Some((96, "x")));
        assert_eq!(split_pt("960 x"), None);
        assert_eq!(split_pt("9600 x"), None);
        assert_eq!(split_pt("96x"), None);
        assert_eq!(split_pt(""), None);
        assert_eq!(split_pt("x 96"), None);
        assert_eq!(split_pt("999 x"), None);
        assert_eq!(split_pt("128 x"), None);
        assert_eq!(split_pt("127"), Some((127, "")));
    }

    // --- media_from_caps -------------------------------------------------

    /// caps → media → SDP text → parse → caps_for_payload.
    fn round_trip(caps: &RtpCaps, control: &str) -> (SessionDescription, RtpCaps) {
        let media = media_from_caps(caps, control);
        let sdp = SessionDescription {
            media: vec![media],
            ..Default::default()
        };
        let text = sdp.to_sdp_string();
        let parsed = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.media, sdp.media, "{text}");
        let pt = caps.payload().unwrap_or(96);
        let back = caps_for_payload(&parsed, &parsed.media[0], pt).expect("caps back");
        (parsed, back)
    }

    fn caps(fields: &[(&str, CapsValue)]) -> RtpCaps {
        let mut c = RtpCaps::default();
        for (n, v) in fields {
            c.set(n, v.clone());
        }
        c
    }

    fn str_(v: &str) -> CapsValue {
        CapsValue::Str(v.to_string())
    }

    #[test]
    fn media_from_caps_h264() {
        let c = caps(&[
            ("media", str_("video")),
            ("clock-rate", CapsValue::Int(90000)),
            ("encoding-name", str_("H264")),
            ("packetization-mode", str_("1")),
            ("profile-level-id", str_("64001f")),
            (
                "sprop-parameter-sets",
                str_("Z2QAH6zZQFAFuhAAAAMAEAAAAwPI8YMZYA==,aOvjyyLA"),
            ),
            ("payload", CapsValue::Int(96)),
            ("ssrc", CapsValue::UInt(1234)),
            ("timestamp-offset", CapsValue::UInt(5)),
            ("seqnum-offset", CapsValue::UInt(7)),
            ("a-framerate", str_("30")),
        ]);
        let m = media_from_caps(&c, "stream=0");
        assert_eq!(m.media, "video");
        assert_eq!(m.port, 0);
        assert_eq!(m.proto, "RTP/AVP");
        assert_eq!(m.formats, vec!["96"]);
        assert_eq!(m.attribute("rtpmap"), Some("96 H264/90000"));
        assert_eq!(
            m.attribute("fmtp"),
            Some(
                "96 packetization-mode=1;profile-level-id=64001f;\
                 sprop-parameter-sets=Z2QAH6zZQFAFuhAAAAMAEAAAAwPI8YMZYA==,aOvjyyLA"
            )
        );
        assert_eq!(m.attribute("framerate"), Some("30"));
        assert_eq!(m.control(), Some("stream=0"));
        assert_eq!(m.attributes.last().unwrap().name, "control");

        let (parsed, back) = round_trip(&c, "stream=0");
        assert_eq!(parsed.media[0].control(), Some("stream=0"));
        for f in [
            "media",
            "payload",
            "clock-rate",
            "encoding-name",
            "packetization-mode",
            "profile-level-id",
            "sprop-parameter-sets",
            "a-framerate",
        ] {
            assert_eq!(back.get(f), c.get(f), "{f}");
        }
        assert!(back.get("ssrc").is_none());
    }

    #[test]
    fn media_from_caps_round_trips() {
        let cases = vec![
            caps(&[
                ("media", str_("audio")),
                ("payload", CapsValue::Int(96)),
                ("clock-rate", CapsValue::Int(48000)),
                ("encoding-name", str_("MPEG4-GENERIC")),
                ("encoding-params", str_("2")),
                ("streamtype", str_("5")),
                ("profile-level-id", str_("2")),
                ("mode", str_("AAC-hbr")),
                ("config", str_("1190")),
                ("sizelength", str_("13")),
                ("indexlength", str_("3")),
                ("indexdeltalength", str_("3")),
            ]),
            caps(&[
                ("media", str_("audio")),
                ("payload", CapsValue::Int(97)),
                ("clock-rate", CapsValue::Int(44100)),
                ("encoding-name", str_("MP4A-LATM")),
                ("encoding-params", str_("2")),
                ("cpresent", str_("0")),
                ("config", str_("40002420adca00")),
            ]),
            caps(&[
                ("media", str_("audio")),
                ("payload", CapsValue::Int(96)),
                ("clock-rate", CapsValue::Int(48000)),
                ("encoding-name", str_("OPUS")),
                ("encoding-params", str_("2")),
                ("sprop-stereo", str_("1")),
            ]),
            caps(&[
                ("media", str_("video")),
                ("payload", CapsValue::Int(96)),
                ("clock-rate", CapsValue::Int(90000)),
                ("encoding-name", str_("H265")),
                ("sprop-vps", str_("QAEMAf//AWAAAAMAgAAAAwAAAwBdrAk=")),
                (
                    "sprop-sps",
                    str_("QgEBAWAAAAMAgAAAAwAAAwBdoAKAgC0WNrkky/AIAAADAAgAAAMAyEA="),
                ),
                ("sprop-pps", str_("RAHA8vA8kAA=")),
            ]),
            caps(&[
                ("media", str_("audio")),
                ("payload", CapsValue::Int(0)),
                ("clock-rate", CapsValue::Int(8000)),
                ("encoding-name", str_("PCMU")),
            ]),
            caps(&[
                ("media", str_("audio")),
                ("payload", CapsValue::Int(96)),
                ("clock-rate", CapsValue::Int(48000)),
                ("encoding-name", str_("L16")),
                ("encoding-params", str_("2")),
            ]),
            caps(&[
                ("media", str_("video")),
                ("payload", CapsValue::Int(26)),
                ("clock-rate", CapsValue::Int(90000)),
                ("encoding-name", str_("JPEG")),
            ]),
            caps(&[
                ("media", str_("video")),
                ("payload", CapsValue::Int(33)),
                ("clock-rate", CapsValue::Int(90000)),
                ("encoding-name", str_("MP2T")),
            ]),
            caps(&[
                ("media", str_("application")),
                ("payload", CapsValue::Int(107)),
                ("clock-rate", CapsValue::Int(90000)),
                ("encoding-name", str_("VND.ONVIF.METADATA")),
            ]),
            caps(&[
                ("media", str_("audio")),
                ("payload", CapsValue::Int(9)),
                ("clock-rate", CapsValue::Int(8000)),
                ("encoding-name", str_("G722")),
                ("encoding-params", str_("1")),
            ]),
        ];
        for c in cases {
            let (_, back) = round_trip(&c, "stream=1");
            for (name, value) in &c.fields {
                assert_eq!(
                    back.get(name),
                    Some(value),
                    "{name} in {}",
                    c.to_caps_string()
                );
            }
        }
    }

    #[test]
    fn media_from_caps_excludes_non_fmtp_fields() {
        let c = caps(&[
            ("media", str_("video")),
            ("payload", CapsValue::Int(96)),
            ("clock-rate", CapsValue::Int(90000)),
            ("encoding-name", str_("VP8")),
            ("ssrc", CapsValue::UInt(1)),
            ("timestamp-offset", CapsValue::UInt(2)),
            ("seqnum-offset", CapsValue::UInt(3)),
            ("clock-base", CapsValue::UInt(4)),
            ("seqnum-base", CapsValue::UInt(5)),
            ("npt-start", str_("0")),
            ("play-speed", str_("1")),
            ("rtcp-fb-nack", str_("1")),
            ("srtp-cipher", str_("aes-128-icm")),
            ("x-gst-rtsp-server-rtx-time", str_("500")),
            ("x-dimensions", str_("640,480")),
            ("extmap-3", str_("urn:ietf:params:rtp-hdrext:sdes:mid")),
            ("extmap-x", str_("bad")),
            ("a-tool", str_("rtspsink")),
            ("a-recvonly", str_("")),
            ("a-bad:name", str_("x")),
            ("a-framesize", str_("640-480")),
            ("max-fs", CapsValue::Int(3600)),
            ("bad;name", str_("x")),
            ("semi", str_("a;b")),
            ("blank", str_("  ")),
            ("max-fr", str_("30")),
        ]);
        let m = media_from_caps(&c, "");
        let attrs: Vec<String> = m
            .attributes
            .iter()
            .map(|a| match &a.value {
                Some(v) => format!("{}:{v}", a.name),
                None => a.name.clone(),
            })
            .collect();
        assert_eq!(
            attrs,
            vec![
                "rtpmap:96 VP8/90000",
                "fmtp:96 max-fr=30",
                "x-dimensions:640,480",
                "extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
                "tool:rtspsink",
                "recvonly",
                "framesize:96 640-480",
            ]
        );
        assert_eq!(m.control(), None);
    }

    #[test]
    fn media_from_caps_defaults_and_h264_profile() {
        // No media, no payload, no clock-rate: application, 96, name default.
        let m = media_from_caps(&caps(&[("encoding-name", str_("H264"))]), " track ");
        assert_eq!(m.media, "application");
        assert_eq!(m.formats, vec!["96"]);
        assert_eq!(m.attribute("rtpmap"), Some("96 H264/90000"));
        assert_eq!(m.control(), Some("track"));
        // Static PT without encoding-name: table gives name, rate, channels.
        let m = media_from_caps(
            &caps(&[("media", str_("audio")), ("payload", CapsValue::Int(10))]),
            "",
        );
        assert_eq!(m.attribute("rtpmap"), Some("10 L16/44100/2"));
        // Unknown codec without rate: rtpmap without rate.
        let m = media_from_caps(&caps(&[("encoding-name", str_("FOO"))]), "");
        assert_eq!(m.attribute("rtpmap"), Some("96 FOO"));
        // Nothing known: no rtpmap.
        let m = media_from_caps(&RtpCaps::default(), "");
        assert_eq!(m.attribute("rtpmap"), None);
        assert!(m.attributes.is_empty());
        // Integer encoding-params.
        let m = media_from_caps(
            &caps(&[
                ("encoding-name", str_("L16")),
                ("clock-rate", CapsValue::Int(8000)),
                ("encoding-params", CapsValue::Int(1)),
            ]),
            "",
        );
        assert_eq!(m.attribute("rtpmap"), Some("96 L16/8000/1"));
        // GStreamer's H.264 `profile` field maps back to level-asymmetry-allowed.
        let m = media_from_caps(
            &caps(&[
                ("encoding-name", str_("H264")),
                ("clock-rate", CapsValue::Int(90000)),
                ("profile", str_("high")),
            ]),
            "",
        );
        assert_eq!(m.attribute("fmtp"), Some("96 level-asymmetry-allowed=1"));
    }

    /// A description at every parser limit (64 media × 128 payload types ×
    /// 1024 attributes, session attributes copied into every caps) must give
    /// bounded output; before the per-media index and the caps bounds this
    /// took 36 s and would have produced gigabytes of caps.
    #[test]
    fn worst_case_description_is_bounded() {
        use crate::sdp::{MAX_ATTRIBUTES, MAX_MEDIA};
        let long = "v".repeat(MAX_ATTRIBUTE_VALUE_LEN + 1);
        let mut text = String::from("v=0\r\n");
        for i in 0..MAX_ATTRIBUTES {
            text.push_str(&format!("a=s{i}:v\r\n"));
        }
        let mut mline = String::from("m=audio 0 RTP/AVP");
        for pt in 0..128 {
            mline.push_str(&format!(" {pt}"));
        }
        mline.push_str("\r\n");
        for _ in 0..MAX_MEDIA {
            text.push_str(&mline);
            text.push_str(&format!("a=long:{long}\r\n"));
            for pt in 0..128 {
                text.push_str(&format!("a=rtpmap:{pt} X/8000\r\na=fmtp:{pt} a=1;b=2\r\n"));
            }
            for i in 0..(MAX_ATTRIBUTES - 257) {
                text.push_str(&format!("a=m{i}:v\r\n"));
            }
        }
        let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
        let st = streams_from_sdp(&sdp);
        assert_eq!(st.len(), MAX_MEDIA);
        for stream in &st {
            assert_eq!(stream.payloads.len(), MAX_PAYLOADS_PER_STREAM);
            for c in &stream.payloads {
                // 4 base fields, 2 fmtp, the attribute budget (all media level).
                assert_eq!(c.fields.len(), 4 + 2 + MAX_ATTRIBUTE_FIELDS);
                assert!(c.get("a-long").is_none());
                assert!(c.get("a-m0").is_some() && c.get("a-s0").is_none());
            }
        }
        // Many fmtp parameters are bounded too.
        let params: Vec<String> = (0..200).map(|i| format!("p{i}={i}")).collect();
        let c = caps_of(
            &format!(
                "v=0\r\nm=video 0 RTP/AVP 26\r\na=fmtp:26 {}\r\na=fmtp:26 q=1;p0=new\r\n",
                params.join(";")
            ),
            26,
        );
        assert_eq!(c.fields.len(), 4 + MAX_FMTP_PARAMS);
        assert!(c.get("q").is_none());
        assert_eq!(s(&c, "p0").as_deref(), Some("new"));
    }

    #[test]
    fn streams_never_panic_on_mutated_input() {
        let corpora = [LIVE555_H264, HIKVISION, AXIS, GST_RTSP_SERVER];
        for base in corpora {
            let base = base.as_bytes();
            for i in (0..base.len()).step_by(3) {
                for mutation in [0x00u8, b' ', b';', b'/', b'=', b',', b'\n', 0xff, b'9'] {
                    let mut v = base.to_vec();
                    v[i] = mutation;
                    if let Ok(sdp) = SessionDescription::parse(&v) {
                        for st in streams_from_sdp(&sdp) {
                            for c in &st.payloads {
                                let _ = c.to_caps_string();
                                let m = media_from_caps(c, st.control.as_deref().unwrap_or(""));
                                let _ = SessionDescription {
                                    media: vec![m],
                                    ..Default::default()
                                }
                                .to_sdp_string();
                            }
                        }
                    }
                }
            }
        }
    }
}
