//! The `Transport` header (RFC 2326 section 12.39, RFC 7826 section 18.54).
//!
//! A value is a comma-separated list of alternatives; each alternative is
//! `protocol/profile[/lower-transport]` followed by `;`-separated
//! parameters. Servers answer SETUP with the one they chose.
//!
//! Parsing is tolerant (see `docs/QUIRKS.md`, "Transport header"):
//! parameters in any order and any case, spaces around `;` and `=`, quoted
//! values, single ports instead of ranges, short hex SSRCs.
//! Unknown parameters are kept in [`Transport::other`]; a known parameter
//! with a value that cannot be parsed is kept there too rather than failing
//! the whole header.

use crate::text::{trim, unquote};
use std::fmt;

mod answer;

pub use answer::check_answer;

/// Lower transport of an RTP transport spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerTransport {
    /// UDP (the default when the spec has no lower part).
    Udp,
    /// TCP, i.e. RTP interleaved on the RTSP connection.
    Tcp,
}

/// Unicast or multicast delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `unicast`
    Unicast,
    /// `multicast`
    Multicast,
}

/// One parsed `Transport` alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// `protocol/profile`, uppercased: `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`...
    pub profile: String,
    /// Lower transport; UDP when not given.
    pub lower: LowerTransport,
    /// `unicast` or `multicast`, if given.
    pub delivery: Option<Delivery>,
    /// `destination=` address.
    pub destination: Option<String>,
    /// `source=` address.
    pub source: Option<String>,
    /// `client_port=` RTP port and optional RTCP port.
    pub client_port: Option<(u16, Option<u16>)>,
    /// `server_port=` RTP port and optional RTCP port.
    pub server_port: Option<(u16, Option<u16>)>,
    /// `port=` (multicast) RTP port and optional RTCP port.
    pub port: Option<(u16, Option<u16>)>,
    /// `interleaved=` RTP channel and optional RTCP channel.
    pub interleaved: Option<(u8, Option<u8>)>,
    /// `ttl=` (multicast).
    pub ttl: Option<u8>,
    /// `ssrc=` of the stream the server sends.
    pub ssrc: Option<u32>,
    /// `mode=`, unquoted and uppercased (`PLAY`, `RECORD`).
    pub mode: Option<String>,
    /// RTSP 2.0 `dest_addr=` (RFC 7826 §18.54): where media goes, one
    /// `"host:port"` (host optional: `":5000"`) per RTP and RTCP.
    pub dest_addr: Vec<String>,
    /// RTSP 2.0 `src_addr=` (RFC 7826 §18.54): where the sender sends
    /// from, as `dest_addr`.
    pub src_addr: Vec<String>,
    /// Written for an RTSP 2.0 request (RFC 7826 §18.54): the lower
    /// transport is always named (`RTP/AVP/UDP`) and client ports also go
    /// as `dest_addr` (see [`Transport::to_header_value`]). Never set by
    /// parsing.
    pub rtsp2: bool,
    /// Parameters not understood (or with unusable values), as
    /// `(name, value)` in the order received.
    pub other: Vec<(String, Option<String>)>,
}

/// Why a `Transport` alternative could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Transport: {}", self.0)
    }
}

impl std::error::Error for TransportError {}

/// Splits on `sep` outside double quotes (RFC 7826 allows
/// `mode="PLAY,RECORD"`, whose comma must not split alternatives). A quote
/// left open would swallow every parameter after it (found by fuzzing:
/// `mode="PLAY;ssrc=...`), so with an odd number of quotes they are not
/// honoured at all.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let honour_quotes = s.matches('"').count().is_multiple_of(2);
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        if c == '"' && honour_quotes {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            parts.push(s.get(start..i).unwrap_or_default());
            start = i + c.len_utf8();
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts
}

/// Parses `a` or `a-b` (spaces allowed around `-`; `a-` accepted as `a`).
fn parse_range<T: std::str::FromStr>(value: &str) -> Option<(T, Option<T>)> {
    let value = unquote(value);
    match value.split_once('-') {
        Some((first, second)) => {
            let first = trim(first).parse().ok()?;
            let second = trim(second);
            if second.is_empty() {
                Some((first, None))
            } else {
                Some((first, Some(second.parse().ok()?)))
            }
        }
        None => Some((value.parse().ok()?, None)),
    }
}

/// Parses a Transport `ssrc`. RFC 2326 section 12.39 writes it as 8 hex
/// digits, but cameras drop leading zeros and pad with spaces
/// (docs/QUIRKS.md, "Transport header": `ssrc= d6d6627`), so up to 8 hex
/// digits are read as hex. A longer all-decimal value cannot be hex for a
/// 32-bit SSRC and is read as decimal (some servers print the SSRC with
/// `%u`). RFC 7826 allows several SSRCs
/// separated by `/`; the first is taken.
fn parse_ssrc(value: &str) -> Option<u32> {
    let value = unquote(value);
    let first = trim(value.split('/').next().unwrap_or(value));
    let digits = first
        .strip_prefix("0x")
        .or_else(|| first.strip_prefix("0X"))
        .unwrap_or(first);
    if digits.is_empty() {
        return None;
    }
    if digits.len() <= 8 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u32::from_str_radix(digits, 16).ok();
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse().ok();
    }
    None
}

/// Characters allowed in a transport spec part (`RTP`, `AVP`, `TCP`...).
fn is_spec_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A parameter name or value as kept: without its quotes, and without
/// stray quotes inside (a transport value cannot escape a quote, so one
/// inside a value could not be written back; found by fuzzing).
fn clean(s: &str) -> String {
    let s = unquote(s);
    if s.contains('"') {
        trim(&s.replace('"', "")).to_owned()
    } else {
        s.to_owned()
    }
}

/// Writes a name or value [`clean`] gave, quoted if it holds a separator
/// (`mode="PLAY,RECORD"`), so that it reads back as one.
fn push_text(out: &mut String, s: &str) {
    if s.contains([';', ',']) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Parses a 2.0 address list as [`clean`] leaves it (quotes gone):
/// `:5000/:5001`, `192.0.2.1:5000/192.0.2.1:5001`, `[::1]:5000`. `None`
/// when an entry is empty or holds a character that could not be written
/// back inside quotes.
fn parse_addr_list(value: &str) -> Option<Vec<String>> {
    let list: Vec<String> = value.split('/').map(|a| trim(a).to_owned()).collect();
    let writable = |a: &String| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b';' | b',' | b'/'))
    };
    list.iter().all(writable).then_some(list)
}

/// The port of a `host:port` or `:port` address (`[v6]:port` too).
fn addr_port(addr: &str) -> Option<u16> {
    let (_, port) = addr.rsplit_once(':')?;
    port.parse().ok()
}

/// The RTP and RTCP ports of a 2.0 address list.
fn addr_ports(list: &[String]) -> Option<(u16, Option<u16>)> {
    let rtp = addr_port(list.first()?)?;
    Some((rtp, list.get(1).and_then(|a| addr_port(a))))
}

fn write_addr_list(out: &mut String, name: &str, list: &[String]) {
    out.push(';');
    out.push_str(name);
    out.push('=');
    for (i, addr) in list.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push('"');
        out.push_str(addr);
        out.push('"');
    }
}

fn write_pair<T: fmt::Display>(out: &mut String, name: &str, (first, second): &(T, Option<T>)) {
    out.push(';');
    out.push_str(name);
    out.push('=');
    out.push_str(&first.to_string());
    if let Some(second) = second {
        out.push('-');
        out.push_str(&second.to_string());
    }
}

impl Transport {
    /// A `RTP/AVP` transport with the given lower transport and delivery and
    /// no parameters.
    pub fn new(lower: LowerTransport, delivery: Delivery) -> Self {
        Self {
            profile: "RTP/AVP".to_owned(),
            lower,
            delivery: Some(delivery),
            destination: None,
            source: None,
            client_port: None,
            server_port: None,
            port: None,
            interleaved: None,
            ttl: None,
            ssrc: None,
            mode: None,
            dest_addr: Vec::new(),
            src_addr: Vec::new(),
            rtsp2: false,
            other: Vec::new(),
        }
    }

    /// Parses one transport alternative, e.g.
    /// `RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1A2B3C4D;mode="PLAY"`.
    ///
    /// Fails only if the spec is unusable: empty, malformed, or with a lower
    /// transport other than UDP or TCP.
    pub fn parse(value: &str) -> Result<Self, TransportError> {
        // A CR or LF inside a value (the framer keeps a lone CR) is dropped,
        // as `to_header_value` drops it, so that what is parsed is what
        // would be sent back (found by fuzzing).
        let cleaned;
        let value = if value.contains(['\r', '\n']) {
            cleaned = value.replace(['\r', '\n'], "");
            cleaned.as_str()
        } else {
            value
        };
        let value = trim(value);
        if value.is_empty() {
            return Err(TransportError("empty value".to_owned()));
        }
        let mut segments = split_outside_quotes(value, ';').into_iter();
        let first = trim(segments.next().unwrap_or_default());

        let mut transport = Transport::new(LowerTransport::Udp, Delivery::Unicast);
        transport.delivery = None;
        let mut lower_given = false;
        let mut params: Vec<&str> = Vec::new();
        if first.contains('/') && !first.contains('=') {
            let parts: Vec<String> = first
                .split('/')
                .map(|p| trim(p).to_ascii_uppercase())
                .collect();
            let (protocol, profile, lower) = match parts.as_slice() {
                [protocol, profile] => (protocol, profile, None),
                [protocol, profile, lower] => (protocol, profile, Some(lower)),
                _ => return Err(TransportError(format!("bad transport spec {first:?}"))),
            };
            if !is_spec_part(protocol) || !is_spec_part(profile) {
                return Err(TransportError(format!("bad transport spec {first:?}")));
            }
            transport.profile = format!("{protocol}/{profile}");
            transport.lower = match lower.map(String::as_str) {
                None | Some("UDP") => LowerTransport::Udp,
                Some("TCP") => LowerTransport::Tcp,
                Some(other) => {
                    return Err(TransportError(format!(
                        "unsupported lower transport {other:?}"
                    )));
                }
            };
            lower_given = lower.is_some();
        } else {
            // No spec at all (`unicast;client_port=...`): assume RTP/AVP as
            // the only profile RTSP 1.0 servers use, and read the segment as
            // a parameter.
            params.push(first);
        }
        params.extend(segments);

        for param in params {
            let (name, value) = match param.split_once('=') {
                Some((name, value)) => (clean(name), Some(clean(value))),
                None => (clean(param), None),
            };
            if name.is_empty() {
                continue;
            }
            if !transport.apply_param(&name, value.as_deref()) {
                transport.other.push((name, value));
            }
        }

        // RFC 2326 section 12.39: interleaved "is used with TCP"; a server
        // answering `RTP/AVP;unicast;interleaved=0-1` to a TCP request means
        // TCP, so do not fall back to the UDP default in that case.
        if !lower_given && transport.interleaved.is_some() && transport.client_port.is_none() {
            transport.lower = LowerTransport::Tcp;
        }
        Ok(transport)
    }

    /// Applies a known parameter. Returns false if the name is unknown or
    /// the value unusable, so the caller keeps it in `other`.
    fn apply_param(&mut self, name: &str, value: Option<&str>) -> bool {
        let lname = name.to_ascii_lowercase();
        match (lname.as_str(), value) {
            ("unicast", _) => self.delivery = Some(Delivery::Unicast),
            ("multicast", _) => self.delivery = Some(Delivery::Multicast),
            ("destination", Some(v)) => self.destination = Some(v.to_owned()),
            ("source", Some(v)) => self.source = Some(v.to_owned()),
            ("client_port", Some(v)) => match parse_range(v) {
                Some(range) => self.client_port = Some(range),
                None => return false,
            },
            // docs/QUIRKS.md, "Transport header": a single `server_port=N`
            // instead of a range.
            ("server_port", Some(v)) => match parse_range(v) {
                Some(range) => self.server_port = Some(range),
                None => return false,
            },
            ("port", Some(v)) => match parse_range(v) {
                Some(range) => self.port = Some(range),
                None => return false,
            },
            ("interleaved", Some(v)) => match parse_range(v) {
                Some(range) => self.interleaved = Some(range),
                None => return false,
            },
            ("ttl", Some(v)) => match v.parse() {
                Ok(ttl) => self.ttl = Some(ttl),
                Err(_) => return false,
            },
            ("ssrc", Some(v)) => match parse_ssrc(v) {
                Some(ssrc) => self.ssrc = Some(ssrc),
                None => return false,
            },
            ("dest_addr", Some(v)) => match parse_addr_list(v) {
                Some(list) => self.dest_addr = list,
                None => return false,
            },
            ("src_addr", Some(v)) => match parse_addr_list(v) {
                Some(list) => self.src_addr = list,
                None => return false,
            },
            ("mode", Some(v)) => {
                let mode = v;
                if mode.is_empty() {
                    return false;
                }
                self.mode = Some(mode.to_ascii_uppercase());
            }
            _ => return false,
        }
        true
    }

    /// Parses a comma-separated list of alternatives, skipping those that
    /// cannot be parsed.
    pub fn parse_list(value: &str) -> Vec<Self> {
        split_outside_quotes(value, ',')
            .into_iter()
            .filter(|alt| !trim(alt).is_empty())
            .filter_map(|alt| Self::parse(alt).ok())
            .collect()
    }

    /// Formats for a request, e.g. `RTP/AVP/TCP;unicast;interleaved=0-1` or
    /// `RTP/AVP;unicast;client_port=5000-5001`.
    ///
    /// UDP is written without `/UDP`, as live555, ffmpeg and GStreamer
    /// clients do. `ssrc` is written as 8 hex digits (RFC 2326 section
    /// 12.39) and `mode` unquoted in lower case (`mode=record`, as ffmpeg
    /// sends it and servers accept case-insensitively).
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(64);
        out.push_str(if self.profile.is_empty() {
            "RTP/AVP"
        } else {
            &self.profile
        });
        match self.lower {
            LowerTransport::Tcp => out.push_str("/TCP"),
            // RFC 7826 §18.54: in 2.0 the lower transport is not optional.
            LowerTransport::Udp if self.rtsp2 => out.push_str("/UDP"),
            // `interleaved` without a lower transport or client ports is
            // read as TCP (see `parse`): UDP must be named then.
            LowerTransport::Udp if self.interleaved.is_some() && self.client_port.is_none() => {
                out.push_str("/UDP")
            }
            LowerTransport::Udp => {}
        }
        match self.delivery {
            Some(Delivery::Unicast) => out.push_str(";unicast"),
            Some(Delivery::Multicast) => out.push_str(";multicast"),
            None => {}
        }
        if let Some(destination) = &self.destination {
            out.push_str(";destination=");
            push_text(&mut out, destination);
        }
        if let Some(source) = &self.source {
            out.push_str(";source=");
            push_text(&mut out, source);
        }
        if let Some(interleaved) = &self.interleaved {
            write_pair(&mut out, "interleaved", interleaved);
        }
        if !self.dest_addr.is_empty() {
            write_addr_list(&mut out, "dest_addr", &self.dest_addr);
        } else if self.rtsp2
            && let Some((rtp, rtcp)) = self.rtp_rtcp_ports_client()
        {
            // RFC 7826 §18.54: a 2.0 server reads the client's ports from
            // dest_addr (host left out: the address the request came
            // from). client_port stays too: gst-rtsp-server 1.22 speaks
            // 2.0 but knows only client_port (docs/QUIRKS.md).
            write_addr_list(
                &mut out,
                "dest_addr",
                &[format!(":{rtp}"), format!(":{rtcp}")],
            );
        }
        if !self.src_addr.is_empty() {
            write_addr_list(&mut out, "src_addr", &self.src_addr);
        }
        if let Some(ports) = &self.client_port {
            write_pair(&mut out, "client_port", ports);
        }
        if let Some(ports) = &self.server_port {
            write_pair(&mut out, "server_port", ports);
        }
        if let Some(ports) = &self.port {
            write_pair(&mut out, "port", ports);
        }
        if let Some(ttl) = self.ttl {
            out.push_str(&format!(";ttl={ttl}"));
        }
        if let Some(ssrc) = self.ssrc {
            out.push_str(&format!(";ssrc={ssrc:08X}"));
        }
        if let Some(mode) = &self.mode {
            out.push_str(";mode=");
            push_text(&mut out, &mode.to_ascii_lowercase());
        }
        for (name, value) in &self.other {
            out.push(';');
            push_text(&mut out, name);
            if let Some(value) = value {
                out.push('=');
                push_text(&mut out, value);
            }
        }
        // A header value must stay on one line whatever the fields hold.
        out.retain(|c| c != '\r' && c != '\n');
        out
    }

    /// Server RTP and RTCP ports. A single `server_port=N` means RTCP on
    /// N+1 (RFC 3550 section 11); `None` if there is no server port or
    /// N is 65535.
    /// A 2.0 server names its ports in `src_addr` instead (RFC 7826
    /// §18.54); they are read when there is no `server_port`.
    pub fn rtp_rtcp_ports_server(&self) -> Option<(u16, u16)> {
        let (rtp, rtcp) = self.server_port.or_else(|| addr_ports(&self.src_addr))?;
        Some((rtp, rtcp.or_else(|| rtp.checked_add(1))?))
    }

    /// Client RTP and RTCP ports, with the same single-port rule as
    /// [`Transport::rtp_rtcp_ports_server`].
    /// `dest_addr` ports count when there is no `client_port` (2.0).
    pub fn rtp_rtcp_ports_client(&self) -> Option<(u16, u16)> {
        let (rtp, rtcp) = self.client_port.or_else(|| addr_ports(&self.dest_addr))?;
        Some((rtp, rtcp.or_else(|| rtp.checked_add(1))?))
    }

    /// Interleaved RTP and RTCP channels. A single `interleaved=N` means
    /// RTCP on N+1 (RFC 2326 section 12.39 examples use consecutive
    /// channels); `None` if not interleaved or N is 255.
    pub fn interleaved_channels(&self) -> Option<(u8, u8)> {
        let (rtp, rtcp) = self.interleaved?;
        Some((rtp, rtcp.or_else(|| rtp.checked_add(1))?))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp2_request_names_udp_and_dest_addr() {
        let mut t = Transport::new(LowerTransport::Udp, Delivery::Unicast);
        t.client_port = Some((5000, Some(5001)));
        t.rtsp2 = true;
        assert_eq!(
            t.to_header_value(),
            "RTP/AVP/UDP;unicast;dest_addr=\":5000\"/\":5001\";client_port=5000-5001"
        );
        let mut tcp = Transport::new(LowerTransport::Tcp, Delivery::Unicast);
        tcp.interleaved = Some((0, Some(1)));
        tcp.rtsp2 = true;
        assert_eq!(tcp.to_header_value(), "RTP/AVP/TCP;unicast;interleaved=0-1");
        // Read back as a 1.0 transport would be, with the same ports.
        let back = Transport::parse(&t.to_header_value()).unwrap();
        assert_eq!(back.dest_addr, vec![":5000".to_owned(), ":5001".to_owned()]);
        assert_eq!(back.rtp_rtcp_ports_client(), Some((5000, 5001)));
    }

    #[test]
    fn rtsp2_answer_with_src_addr_only() {
        // RFC 7826 §18.54 style answer: no server_port.
        let t = Transport::parse(
            "RTP/AVP/UDP;unicast;dest_addr=\"192.0.2.5:3456\"/\"192.0.2.5:3457\";src_addr=\"192.0.2.224:6256\"/\"192.0.2.224:6257\";ssrc=2A3F93ED",
        )
        .unwrap();
        assert_eq!(t.rtp_rtcp_ports_server(), Some((6256, 6257)));
        assert_eq!(t.rtp_rtcp_ports_client(), Some((3456, 3457)));
        let v6 = Transport::parse("RTP/AVP/UDP;unicast;src_addr=\"[2001:db8::1]:7000\"").unwrap();
        assert_eq!(v6.rtp_rtcp_ports_server(), Some((7000, 7001)));
        // server_port wins when both are given; junk addresses are kept aside.
        let both =
            Transport::parse("RTP/AVP;unicast;server_port=9000-9001;src_addr=\":1\"").unwrap();
        assert_eq!(both.rtp_rtcp_ports_server(), Some((9000, 9001)));
        let junk = Transport::parse("RTP/AVP;unicast;src_addr=/").unwrap();
        assert!(junk.src_addr.is_empty());
        assert_eq!(junk.rtp_rtcp_ports_server(), None);
        assert_eq!(Transport::parse(&junk.to_header_value()).unwrap(), junk);
    }

    #[test]
    fn parse_tcp_interleaved() {
        let t = Transport::parse("RTP/AVP/TCP;unicast;interleaved=0-1").unwrap();
        assert_eq!(t.profile, "RTP/AVP");
        assert_eq!(t.lower, LowerTransport::Tcp);
        assert_eq!(t.delivery, Some(Delivery::Unicast));
        assert_eq!(t.interleaved, Some((0, Some(1))));
        assert_eq!(t.interleaved_channels(), Some((0, 1)));
        assert!(t.other.is_empty());
    }

    #[test]
    fn parse_udp_unicast_live555_setup_response() {
        // Recorded-style live555 SETUP answer.
        let t = Transport::parse(
            "RTP/AVP;unicast;destination=192.168.1.20;source=192.168.1.10;client_port=50000-50001;server_port=6970-6971",
        )
        .unwrap();
        assert_eq!(t.lower, LowerTransport::Udp);
        assert_eq!(t.destination.as_deref(), Some("192.168.1.20"));
        assert_eq!(t.source.as_deref(), Some("192.168.1.10"));
        assert_eq!(t.client_port, Some((50000, Some(50001))));
        assert_eq!(t.server_port, Some((6970, Some(6971))));
        assert_eq!(t.rtp_rtcp_ports_server(), Some((6970, 6971)));
        assert_eq!(t.rtp_rtcp_ports_client(), Some((50000, 50001)));
    }

    #[test]
    fn parse_hikvision_style_setup_response() {
        // Recorded-style Hikvision SETUP answer over UDP.
        let t = Transport::parse(
            "RTP/AVP;unicast;client_port=51372-51373;server_port=8216-8217;ssrc=7bf26d1a;mode=\"play\"",
        )
        .unwrap();
        assert_eq!(t.ssrc, Some(0x7bf26d1a));
        assert_eq!(t.mode.as_deref(), Some("PLAY"));
        assert_eq!(t.rtp_rtcp_ports_server(), Some((8216, 8217)));
    }

    #[test]
    fn parse_explicit_udp_and_profiles() {
        let t = Transport::parse("rtp/avp/udp;unicast;client_port=5000-5001").unwrap();
        assert_eq!(t.profile, "RTP/AVP");
        assert_eq!(t.lower, LowerTransport::Udp);
        let t = Transport::parse("RTP/SAVPF/TCP;interleaved=2-3").unwrap();
        assert_eq!(t.profile, "RTP/SAVPF");
        assert_eq!(t.lower, LowerTransport::Tcp);
        let t = Transport::parse("RTP/AVPF").unwrap();
        assert_eq!(t.profile, "RTP/AVPF");
        assert_eq!(t.delivery, None);
    }

    #[test]
    fn parse_multicast() {
        let t = Transport::parse("RTP/AVP;multicast;destination=224.2.0.1;port=3456-3457;ttl=16")
            .unwrap();
        assert_eq!(t.delivery, Some(Delivery::Multicast));
        assert_eq!(t.destination.as_deref(), Some("224.2.0.1"));
        assert_eq!(t.port, Some((3456, Some(3457))));
        assert_eq!(t.ttl, Some(16));
    }

    #[test]
    fn quirk_params_in_any_order_and_case() {
        // docs/QUIRKS.md, "Transport header": parameters in any order.
        let t = Transport::parse(
            "RTP/AVP ; server_port = 6970-6971 ;Client_Port=5000-5001; SSRC=0000ABCD ;UNICAST",
        )
        .unwrap();
        assert_eq!(t.delivery, Some(Delivery::Unicast));
        assert_eq!(t.client_port, Some((5000, Some(5001))));
        assert_eq!(t.server_port, Some((6970, Some(6971))));
        assert_eq!(t.ssrc, Some(0xABCD));
        let a = Transport::parse("RTP/AVP/TCP;interleaved=0-1;unicast;mode=PLAY").unwrap();
        let b = Transport::parse("RTP/AVP/TCP;mode=PLAY;unicast;interleaved=0-1").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn quirk_ssrc_leading_space_short_hex() {
        // docs/QUIRKS.md, "Transport header": `ssrc= d6d6627` (leading
        // space, fewer than 8 hex digits).
        let t = Transport::parse("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= d6d6627;mode=\"play\"")
            .unwrap();
        assert_eq!(t.ssrc, Some(0x0d6d6627));
        assert_eq!(t.interleaved, Some((0, Some(1))));
    }

    #[test]
    fn quirk_mode_quoted() {
        // docs/QUIRKS.md, "Transport header": `mode="play"` quoted.
        let t = Transport::parse("RTP/AVP;unicast;mode=\"play\"").unwrap();
        assert_eq!(t.mode.as_deref(), Some("PLAY"));
        let t = Transport::parse("RTP/AVP;unicast;mode= \"PLAY,RECORD\" ").unwrap();
        assert_eq!(t.mode.as_deref(), Some("PLAY,RECORD"));
        let t = Transport::parse("RTP/AVP;unicast;mode=record").unwrap();
        assert_eq!(t.mode.as_deref(), Some("RECORD"));
    }

    #[test]
    fn quirk_single_server_port() {
        // docs/QUIRKS.md, "Transport header": a single `server_port=N`
        // instead of a range.
        let t = Transport::parse("RTP/AVP;unicast;client_port=5000-5001;server_port=6970").unwrap();
        assert_eq!(t.server_port, Some((6970, None)));
        assert_eq!(t.rtp_rtcp_ports_server(), Some((6970, 6971)));
        let t = Transport::parse("RTP/AVP;unicast;server_port=65535").unwrap();
        assert_eq!(t.rtp_rtcp_ports_server(), None);
        let t = Transport::parse("RTP/AVP;unicast;server_port= 7000 - 7001").unwrap();
        assert_eq!(t.rtp_rtcp_ports_server(), Some((7000, 7001)));
        let t = Transport::parse("RTP/AVP;unicast").unwrap();
        assert_eq!(t.rtp_rtcp_ports_server(), None);
    }

    #[test]
    fn single_interleaved_channel() {
        let t = Transport::parse("RTP/AVP/TCP;interleaved=0").unwrap();
        assert_eq!(t.interleaved, Some((0, None)));
        assert_eq!(t.interleaved_channels(), Some((0, 1)));
        let t = Transport::parse("RTP/AVP/TCP;interleaved=255").unwrap();
        assert_eq!(t.interleaved_channels(), None);
    }

    #[test]
    fn interleaved_without_lower_means_tcp() {
        let t = Transport::parse("RTP/AVP;unicast;interleaved=0-1").unwrap();
        assert_eq!(t.lower, LowerTransport::Tcp);
        let t = Transport::parse("RTP/AVP/UDP;unicast;interleaved=0-1").unwrap();
        assert_eq!(t.lower, LowerTransport::Udp);
    }

    #[test]
    fn ssrc_forms() {
        for (v, want) in [
            ("12345678", Some(0x12345678)),
            ("DEADBEEF", Some(0xDEADBEEF)),
            ("0x1f", Some(0x1f)),
            ("\"0A13C760\"", Some(0x0A13C760)),
            ("0A13C760/9A9DE123", Some(0x0A13C760)),
            ("3735928559", Some(3735928559)),
            ("99999999999", None),
            ("xyz", None),
            ("", None),
        ] {
            assert_eq!(parse_ssrc(v), want, "{v}");
        }
        let t = Transport::parse("RTP/AVP;ssrc=xyz").unwrap();
        assert_eq!(t.ssrc, None);
        assert_eq!(t.other, vec![("ssrc".to_owned(), Some("xyz".to_owned()))]);
    }

    #[test]
    fn unknown_and_bad_params_preserved() {
        let t = Transport::parse("RTP/AVP;unicast;append;layers=2;client_port=abc;X-Foo=\"b;c\"")
            .unwrap();
        assert_eq!(
            t.other,
            vec![
                ("append".to_owned(), None),
                ("layers".to_owned(), Some("2".to_owned())),
                ("client_port".to_owned(), Some("abc".to_owned())),
                // Kept unquoted, quoted again when written.
                ("X-Foo".to_owned(), Some("b;c".to_owned())),
            ]
        );
        assert_eq!(t.client_port, None);
        assert_eq!(
            t.to_header_value(),
            "RTP/AVP;unicast;append;layers=2;client_port=abc;X-Foo=\"b;c\""
        );
    }

    #[test]
    fn parse_errors() {
        assert!(Transport::parse("").is_err());
        assert!(Transport::parse("   ").is_err());
        assert!(Transport::parse("RTP/AVP/SCTP;unicast").is_err());
        assert!(Transport::parse("RTP/AVP/TCP/X").is_err());
        assert!(Transport::parse("RTP/").is_err());
        assert!(Transport::parse("/AVP").is_err());
        assert!(Transport::parse("RTP AVP/x y").is_err());
        let e = Transport::parse("RTP/AVP/QUIC").unwrap_err();
        assert!(e.to_string().contains("QUIC"));
    }

    #[test]
    fn missing_spec_assumes_rtp_avp() {
        let t = Transport::parse("unicast;client_port=5000-5001").unwrap();
        assert_eq!(t.profile, "RTP/AVP");
        assert_eq!(t.lower, LowerTransport::Udp);
        assert_eq!(t.delivery, Some(Delivery::Unicast));
        assert_eq!(t.client_port, Some((5000, Some(5001))));
    }

    #[test]
    fn parse_list_alternatives() {
        let list = Transport::parse_list(
            "RTP/AVP/TCP;unicast;interleaved=0-1, RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/SCTP;unicast, ,RTP/AVP;multicast;mode=\"PLAY,RECORD\"",
        );
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].lower, LowerTransport::Tcp);
        assert_eq!(list[1].client_port, Some((5000, Some(5001))));
        assert_eq!(list[2].delivery, Some(Delivery::Multicast));
        assert_eq!(list[2].mode.as_deref(), Some("PLAY,RECORD"));
        assert!(Transport::parse_list("").is_empty());
        assert!(Transport::parse_list(",,").is_empty());
    }

    #[test]
    fn format_requests() {
        let mut t = Transport::new(LowerTransport::Tcp, Delivery::Unicast);
        t.interleaved = Some((0, Some(1)));
        assert_eq!(t.to_header_value(), "RTP/AVP/TCP;unicast;interleaved=0-1");
        let mut t = Transport::new(LowerTransport::Udp, Delivery::Unicast);
        t.client_port = Some((5000, Some(5001)));
        assert_eq!(t.to_header_value(), "RTP/AVP;unicast;client_port=5000-5001");
        let mut t = Transport::new(LowerTransport::Udp, Delivery::Multicast);
        t.mode = Some("RECORD".into());
        assert_eq!(t.to_header_value(), "RTP/AVP;multicast;mode=record");
        assert_eq!(t.to_string(), "RTP/AVP;multicast;mode=record");
        let mut t = Transport::new(LowerTransport::Udp, Delivery::Multicast);
        t.destination = Some("224.2.0.1".into());
        t.port = Some((3456, Some(3457)));
        t.ttl = Some(16);
        t.ssrc = Some(0xABCD);
        t.server_port = Some((1, None));
        assert_eq!(
            t.to_header_value(),
            "RTP/AVP;multicast;destination=224.2.0.1;server_port=1;port=3456-3457;ttl=16;ssrc=0000ABCD"
        );
        let mut t = Transport::new(LowerTransport::Udp, Delivery::Unicast);
        t.destination = Some("a\r\nEvil: x".into());
        assert!(!t.to_header_value().contains('\n'));
    }

    #[test]
    fn roundtrip() {
        for v in [
            "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0D6D6627;mode=play",
            "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971",
            "RTP/SAVPF;multicast;destination=239.1.1.1;port=5004-5005;ttl=4",
        ] {
            let t = Transport::parse(v).unwrap();
            assert_eq!(t.to_header_value(), v);
            assert_eq!(Transport::parse(&t.to_header_value()).unwrap(), t);
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for v in [
            "\"",
            ";;;;",
            "=",
            "RTP/AVP;=;==;a=b=c",
            "RTP/AVP;client_port=-",
            "RTP/AVP;client_port=70000-1",
            "é/ü;ssrc=é",
            "RTP/AVP;interleaved=1-2-3",
            "RTP/AVP;ttl=300",
            "RTP/AVP;mode=\"\"",
            "\"RTP/AVP,x\";a",
        ] {
            let _ = Transport::parse(v);
            let _ = Transport::parse_list(v);
        }
        let t = Transport::parse("RTP/AVP;ttl=300;interleaved=1-2-3").unwrap();
        assert_eq!(t.ttl, None);
        assert_eq!(t.interleaved, None);
        assert_eq!(t.other.len(), 2);
    }

    /// Found by fuzzing: an unclosed quote made the rest of the header one
    /// parameter, which then serialised to something else.
    #[test]
    fn unclosed_quote_does_not_swallow_parameters() {
        let t = Transport::parse("RTP/AVP;unicast;mode=\"PLAY;ssrc=1A2B3C4D").unwrap();
        assert_eq!(t.mode.as_deref(), Some("PLAY"));
        assert_eq!(t.ssrc, Some(0x1A2B_3C4D));
        assert_eq!(Transport::parse(&t.to_header_value()).unwrap(), t);
        // Balanced quotes still protect separators.
        let t = Transport::parse("RTP/AVP;mode=\"PLAY;RECORD\"").unwrap();
        assert_eq!(t.mode.as_deref(), Some("PLAY;RECORD"));
    }

    /// Found by fuzzing: CR/LF inside a value were dropped on serialising
    /// only, so a parsed transport did not survive a round trip.
    #[test]
    fn line_breaks_inside_values_are_dropped() {
        let t = Transport::parse("RTP/AVP;unicast;x-foo=a\rb;source=1.2\n.3.4").unwrap();
        assert_eq!(t.other, [("x-foo".to_owned(), Some("ab".to_owned()))]);
        assert_eq!(t.source.as_deref(), Some("1.2.3.4"));
        assert_eq!(Transport::parse(&t.to_header_value()).unwrap(), t);
    }

    /// UDP with `interleaved` and no client ports would read back as TCP
    /// unless `/UDP` is written.
    #[test]
    fn udp_with_interleaved_names_its_lower_transport() {
        let t = Transport::parse("RTP/AVP/UDP;unicast;interleaved=0-1").unwrap();
        assert_eq!(t.lower, LowerTransport::Udp);
        assert_eq!(t.to_header_value(), "RTP/AVP/UDP;unicast;interleaved=0-1");
        assert_eq!(Transport::parse(&t.to_header_value()).unwrap(), t);
    }
}
