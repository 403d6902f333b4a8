//! Tolerant SDP parser (RFC 8866, which obsoletes RFC 4566) and a small writer.
//!
//! The parser is built for what RTSP servers and IP cameras actually send in
//! DESCRIBE responses, not for what the RFC allows (see
//! `docs/QUIRKS.md`, "SDP layout"):
//!
//! * lines may come in any order (`a=tool` before `t=`), `v=`, `o=`, `s=` and
//!   `t=` may be missing;
//! * lines may end in `\r\n`, a bare `\n` or a bare `\r`, and carry trailing
//!   spaces or tabs; blank lines are skipped;
//! * unknown line types, lines that are not `<letter>=<value>`, and lines with
//!   control characters in them are skipped instead of failing the whole
//!   description;
//! * invalid UTF-8 is replaced (lossy), a UTF-8 BOM and NUL terminators are
//!   dropped;
//! * attribute names are compared case-insensitively on lookup, values are
//!   stored trimmed and otherwise untouched (`a=framerate:0S` is kept as-is;
//!   the caps layer decides what is usable).
//!
//! [`SessionDescription::parse`] only fails when the input is not SDP at all
//! (neither a `v=` nor an `m=` line) or exceeds one of the size limits below.
//! Every limit is a hard error rather than a silent truncation, so a hostile or
//! broken server can never make us act on a partial description.
//!
//! The writer ([`SessionDescription::to_sdp_string`]) produces strict RFC 8866
//! output with `\r\n` line endings for ANNOUNCE bodies (`rtspsink`).

use std::fmt;

/// Largest SDP body accepted, in bytes. Real DESCRIBE bodies are a few KiB.
pub const MAX_SDP_LEN: usize = 1024 * 1024;
/// Longest line accepted, in bytes (before UTF-8 repair). Longer → error.
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// Most `m=` sections accepted. More → error.
pub const MAX_MEDIA: usize = 64;
/// Most `a=` lines accepted per section (session level or one media). More → error.
pub const MAX_ATTRIBUTES: usize = 1024;
/// Most `b=` lines accepted per section. More → error.
pub const MAX_BANDWIDTHS: usize = 64;
/// Most formats (payload types) accepted on one `m=` line. More → error.
pub const MAX_FORMATS: usize = 1024;

/// Parse or limit error. Only returned for input that is not SDP at all or
/// that exceeds a size limit; everything else is tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpError(pub String);

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SDP error: {}", self.0)
    }
}

impl std::error::Error for SdpError {}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    /// The address without the `/ttl` and `/number` suffixes.
    pub address: String,
    /// IPv4 multicast TTL (`224.2.1.1/127`). Never set for IP6.
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses (`224.2.1.1/127/3`,
    /// `FF15::101/3` for IP6).
    pub num_addresses: Option<u32>,
}

impl Connection {
    /// Parse the value of a `c=` line. Returns `None` when fewer than three
    /// fields are present (such a line is ignored, not an error). Unparsable
    /// TTL or count suffixes are dropped.
    pub fn parse(value: &str) -> Option<Connection> {
        let mut tokens = value.split_whitespace();
        let net_type = tokens.next()?;
        let addr_type = tokens.next()?;
        let full = tokens.next()?;
        let mut parts = full.split('/');
        let address = parts.next().unwrap_or_default();
        if address.is_empty() {
            return None;
        }
        let mut conn = Connection {
            net_type: net_type.to_string(),
            addr_type: addr_type.to_string(),
            address: address.to_string(),
            ttl: None,
            num_addresses: None,
        };
        // RFC 8866 §5.7: IP4 multicast is `addr/ttl[/num]`, IP6 is `addr[/num]`.
        if addr_type.eq_ignore_ascii_case("IP6") {
            conn.num_addresses = parts.next().and_then(|n| n.trim().parse().ok());
        } else {
            conn.ttl = parts.next().and_then(|t| t.trim().parse().ok());
            // A count after a missing or unusable TTL (`addr//3`) is
            // dropped: it could not be written back (see `to_value`), so
            // a rewritten description read it as the TTL (found by
            // fuzzing).
            if conn.ttl.is_some() {
                conn.num_addresses = parts.next().and_then(|n| n.trim().parse().ok());
            }
        }
        Some(conn)
    }

    /// The `c=` value as written by [`SessionDescription::to_sdp_string`].
    /// For IP4, the address count is only written together with a TTL (the
    /// RFC syntax cannot express a count without TTL).
    pub fn to_value(&self) -> String {
        let net = if self.net_type.is_empty() {
            "IN"
        } else {
            &self.net_type
        };
        let addr_type = if self.addr_type.is_empty() {
            "IP4"
        } else {
            &self.addr_type
        };
        let mut s = format!("{net} {addr_type} {}", self.address);
        if addr_type.eq_ignore_ascii_case("IP6") {
            if let Some(n) = self.num_addresses {
                s.push_str(&format!("/{n}"));
            }
        } else if let Some(ttl) = self.ttl {
            s.push_str(&format!("/{ttl}"));
            if let Some(n) = self.num_addresses {
                s.push_str(&format!("/{n}"));
            }
        }
        s
    }
}

/// `a=<name>[:<value>]` (RFC 8866 §5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name as sent (case preserved, trimmed). Lookups ignore case.
    pub name: String,
    /// `None` for property attributes (`a=recvonly`), else the trimmed value
    /// (possibly empty for `a=foo:`).
    pub value: Option<String>,
}

impl Attribute {
    /// Parse the part after `a=`. `None` if the name is empty.
    fn parse(value: &str) -> Option<Attribute> {
        let (name, value) = match value.split_once(':') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (value.trim(), None),
        };
        if name.is_empty() {
            return None;
        }
        Some(Attribute {
            name: name.to_string(),
            value,
        })
    }
}

/// One `m=` section with the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// `video`, `audio`, `application`, ... (lowercased).
    pub media: String,
    /// Port as sent; RTSP servers routinely send 0 (RFC 2326 C.1.1).
    pub port: u16,
    /// `<port>/<number of ports>`.
    pub num_ports: Option<u16>,
    /// Transport protocol as sent (`RTP/AVP`, ...), case preserved.
    pub proto: String,
    /// Format list (payload types for RTP profiles), as sent.
    pub formats: Vec<String>,
    /// Media-level `c=` (overrides the session-level one).
    pub connection: Option<Connection>,
    /// `b=<type>:<kbps>` lines.
    pub bandwidths: Vec<(String, u32)>,
    pub attributes: Vec<Attribute>,
}

impl Media {
    /// Value of the first attribute with this name (case-insensitive).
    /// Property attributes without value (`a=recvonly`) yield `Some("")`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find_attribute(&self.attributes, name)
    }

    /// Values of all attributes with this name (case-insensitive), in order.
    /// Property attributes without value yield `""`.
    pub fn attributes_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        attributes_named(&self.attributes, name)
    }

    /// Raw `a=control` value; `None` if absent or empty.
    pub fn control(&self) -> Option<&str> {
        self.attribute("control").filter(|c| !c.is_empty())
    }

    /// Parse the value of an `m=` line. Always yields a section, even for a
    /// malformed line, so that the `a=` lines following it cannot leak into
    /// the previous section. An unparsable port becomes 0.
    fn parse(value: &str) -> Result<Media, SdpError> {
        let mut tokens = value.split_whitespace();
        let mut media = Media {
            media: tokens.next().unwrap_or_default().to_ascii_lowercase(),
            ..Media::default()
        };
        if let Some(port) = tokens.next() {
            let (port, num) = match port.split_once('/') {
                Some((p, n)) => (p, n.parse().ok()),
                None => (port, None),
            };
            media.port = port.parse().unwrap_or(0);
            media.num_ports = num;
        }
        media.proto = tokens.next().unwrap_or_default().to_string();
        for fmt in tokens {
            if media.formats.len() >= MAX_FORMATS {
                return Err(SdpError(format!(
                    "more than {MAX_FORMATS} formats on one m= line"
                )));
            }
            media.formats.push(fmt.to_string());
        }
        Ok(media)
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    /// `v=` value; `None` if missing or not a number.
    pub version: Option<u32>,
    /// Raw `o=` value.
    pub origin: Option<String>,
    /// Raw `s=` value.
    pub session_name: Option<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<(String, u32)>,
    /// Session-level `a=` lines (those before the first `m=`).
    pub attributes: Vec<Attribute>,
    pub media: Vec<Media>,
}

impl SessionDescription {
    /// Parse an SDP body (usually a DESCRIBE response body).
    ///
    /// Fails only if the input exceeds [`MAX_SDP_LEN`], [`MAX_LINE_LEN`],
    /// [`MAX_MEDIA`], [`MAX_ATTRIBUTES`], [`MAX_BANDWIDTHS`] or
    /// [`MAX_FORMATS`], or if it contains neither a `v=` nor an `m=` line
    /// (an HTML error page, binary garbage, an empty body).
    pub fn parse(text: &[u8]) -> Result<Self, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(SdpError(format!(
                "description of {} bytes exceeds {MAX_SDP_LEN} bytes",
                text.len()
            )));
        }
        // A UTF-8 BOM is sometimes put in front by servers that build the
        // body with a text editor or a .NET writer.
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);

        let mut sdp = SessionDescription::default();
        let mut seen_version = false;
        // Quirk: bare `\n` (and old-style bare `\r`) line endings. Splitting
        // on both and skipping the resulting empty lines handles `\r\n`,
        // `\n` and `\r` uniformly; RFC 8866 forbids CR and LF inside values.
        for raw in text.split(|&b| b == b'\n' || b == b'\r') {
            if raw.len() > MAX_LINE_LEN {
                return Err(SdpError(format!(
                    "line of {} bytes exceeds {MAX_LINE_LEN} bytes",
                    raw.len()
                )));
            }
            let line = String::from_utf8_lossy(raw);
            // Quirk: trailing spaces/tabs (`a=rtpmap:96 H264/90000 `), and
            // servers that count the C string terminator in Content-Length.
            let line = line.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
            if line.is_empty() {
                continue;
            }
            // A line with control characters is not text; skip it rather than
            // fail (binary junk without any v=/m= line still fails below).
            if line.chars().any(|c| c.is_control() && c != '\t') {
                continue;
            }
            let Some((kind, value)) = split_line(line) else {
                continue;
            };
            match kind {
                // Only the first v= counts; a second one would start a
                // second description, which RTSP does not use.
                'v' if !seen_version => {
                    seen_version = true;
                    sdp.version = value.parse().ok();
                }
                'o' if sdp.media.is_empty() && sdp.origin.is_none() => {
                    sdp.origin = Some(value.to_string());
                }
                's' if sdp.media.is_empty() && sdp.session_name.is_none() => {
                    sdp.session_name = Some(value.to_string());
                }
                'c' => {
                    let target = match sdp.media.last_mut() {
                        Some(m) => &mut m.connection,
                        None => &mut sdp.connection,
                    };
                    // RFC 8866 §5.7 allows several c= lines per media for
                    // layered multicast; the first one is the one we can use.
                    if target.is_none() {
                        *target = Connection::parse(value);
                    }
                }
                'b' => {
                    let target = match sdp.media.last_mut() {
                        Some(m) => &mut m.bandwidths,
                        None => &mut sdp.bandwidths,
                    };
                    if let Some((bwtype, bw)) = value.split_once(':') {
                        let bwtype = bwtype.trim();
                        if let (false, Ok(bw)) = (bwtype.is_empty(), bw.trim().parse::<u32>()) {
                            if target.len() >= MAX_BANDWIDTHS {
                                return Err(SdpError(format!(
                                    "more than {MAX_BANDWIDTHS} b= lines in one section"
                                )));
                            }
                            target.push((bwtype.to_string(), bw));
                        }
                    }
                }
                'a' => {
                    let target = match sdp.media.last_mut() {
                        Some(m) => &mut m.attributes,
                        None => &mut sdp.attributes,
                    };
                    if let Some(attr) = Attribute::parse(value) {
                        if target.len() >= MAX_ATTRIBUTES {
                            return Err(SdpError(format!(
                                "more than {MAX_ATTRIBUTES} a= lines in one section"
                            )));
                        }
                        target.push(attr);
                    }
                }
                'm' => {
                    if sdp.media.len() >= MAX_MEDIA {
                        return Err(SdpError(format!("more than {MAX_MEDIA} m= sections")));
                    }
                    sdp.media.push(Media::parse(value)?);
                }
                // t=, r=, z=, k=, i=, u=, e=, p= and unknown types carry
                // nothing an RTSP client needs (RFC 2326 C.1: time is given by
                // a=range), and o=/s= repeated or inside a media are invalid.
                _ => {}
            }
        }
        if !seen_version && sdp.media.is_empty() {
            return Err(SdpError(
                "no v= and no m= line: not an SDP description".into(),
            ));
        }
        Ok(sdp)
    }

    /// Value of the first session-level attribute with this name
    /// (case-insensitive). Property attributes yield `Some("")`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find_attribute(&self.attributes, name)
    }

    /// Session-level values of all attributes with this name.
    pub fn attributes_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        attributes_named(&self.attributes, name)
    }

    /// Raw session-level `a=control` value; `None` if absent or empty.
    pub fn control(&self) -> Option<&str> {
        self.attribute("control").filter(|c| !c.is_empty())
    }

    /// Serialize as strict RFC 8866 text with `\r\n` line endings: `v=0`,
    /// `o=` (default `- 0 0 IN IP4 127.0.0.1`), `s=` (default `Session`),
    /// `c=`, `b=`, `t=0 0`, session `a=` lines, then each media section
    /// (`m=`, `c=`, `b=`, `a=`). An empty `proto` is written as `RTP/AVP`.
    /// CR, LF and NUL characters inside values are replaced by spaces so a
    /// field can never inject extra lines into an ANNOUNCE body.
    pub fn to_sdp_string(&self) -> String {
        let mut out = String::with_capacity(256);
        push_line(&mut out, 'v', "0");
        push_line(
            &mut out,
            'o',
            self.origin.as_deref().unwrap_or("- 0 0 IN IP4 127.0.0.1"),
        );
        let name = self.session_name.as_deref().unwrap_or("Session");
        // RFC 8866 §5.3: s= must not be empty; a single space is the
        // recommended filler.
        push_line(&mut out, 's', if name.is_empty() { " " } else { name });
        if let Some(c) = &self.connection {
            push_line(&mut out, 'c', &c.to_value());
        }
        for (bwtype, bw) in &self.bandwidths {
            push_line(&mut out, 'b', &format!("{bwtype}:{bw}"));
        }
        push_line(&mut out, 't', "0 0");
        push_attributes(&mut out, &self.attributes);
        for m in &self.media {
            let mut line = m.media.clone();
            line.push(' ');
            line.push_str(&m.port.to_string());
            if let Some(n) = m.num_ports {
                line.push_str(&format!("/{n}"));
            }
            line.push(' ');
            line.push_str(if m.proto.is_empty() {
                "RTP/AVP"
            } else {
                &m.proto
            });
            for f in &m.formats {
                line.push(' ');
                line.push_str(f);
            }
            push_line(&mut out, 'm', &line);
            if let Some(c) = &m.connection {
                push_line(&mut out, 'c', &c.to_value());
            }
            for (bwtype, bw) in &m.bandwidths {
                push_line(&mut out, 'b', &format!("{bwtype}:{bw}"));
            }
            push_attributes(&mut out, &m.attributes);
        }
        out
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sdp_string())
    }
}

/// Split `<type>=<value>` with a single-letter type. The type letter is
/// lowercased (tolerating `A=` from sloppy generators); the value is trimmed.
fn split_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let kind = chars.next()?;
    if !kind.is_ascii_alphabetic() || chars.next()? != '=' {
        return None;
    }
    // Both leading characters are ASCII, so byte 2 is a char boundary.
    Some((kind.to_ascii_lowercase(), line.get(2..)?.trim()))
}

fn find_attribute<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or(""))
}

fn attributes_named<'a>(attrs: &'a [Attribute], name: &'a str) -> impl Iterator<Item = &'a str> {
    attrs
        .iter()
        .filter(move |a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or(""))
}

fn push_line(out: &mut String, kind: char, value: &str) {
    out.push(kind);
    out.push('=');
    out.extend(value.chars().map(|c| {
        if matches!(c, '\r' | '\n' | '\0') {
            ' '
        } else {
            c
        }
    }));
    out.push_str("\r\n");
}

fn push_attributes(out: &mut String, attrs: &[Attribute]) {
    for a in attrs {
        match &a.value {
            Some(v) => push_line(out, 'a', &format!("{}:{v}", a.name)),
            None => push_line(out, 'a', &a.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SessionDescription {
        SessionDescription::parse(s.as_bytes()).expect("valid SDP")
    }

    #[test]
    fn minimal_rfc_example() {
        let sdp = parse(
            "v=0\r\n\
             o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n\
             s=SDP Seminar\r\n\
             i=A Seminar on the session description protocol\r\n\
             c=IN IP4 224.2.17.12/127\r\n\
             t=2873397496 2873404696\r\n\
             a=recvonly\r\n\
             m=audio 49170 RTP/AVP 0\r\n\
             m=video 51372 RTP/AVP 99\r\n\
             a=rtpmap:99 h263-1998/90000\r\n",
        );
        assert_eq!(sdp.version, Some(0));
        assert_eq!(
            sdp.origin.as_deref(),
            Some("jdoe 2890844526 2890842807 IN IP4 10.47.16.5")
        );
        assert_eq!(sdp.session_name.as_deref(), Some("SDP Seminar"));
        let c = sdp.connection.as_ref().unwrap();
        assert_eq!(c.net_type, "IN");
        assert_eq!(c.addr_type, "IP4");
        assert_eq!(c.address, "224.2.17.12");
        assert_eq!(c.ttl, Some(127));
        assert_eq!(c.num_addresses, None);
        assert_eq!(sdp.attribute("recvonly"), Some(""));
        assert_eq!(sdp.media.len(), 2);
        assert_eq!(sdp.media[0].media, "audio");
        assert_eq!(sdp.media[0].port, 49170);
        assert_eq!(sdp.media[0].proto, "RTP/AVP");
        assert_eq!(sdp.media[0].formats, vec!["0"]);
        assert_eq!(sdp.media[1].attribute("rtpmap"), Some("99 h263-1998/90000"));
        assert!(sdp.media[0].attributes.is_empty());
    }

    #[test]
    fn attribute_value_none_for_property() {
        let sdp = parse("v=0\na=recvonly\na=tool:x \na=empty:\n");
        assert_eq!(sdp.attributes[0].value, None);
        assert_eq!(sdp.attributes[1].value.as_deref(), Some("x"));
        assert_eq!(sdp.attributes[2].value.as_deref(), Some(""));
    }

    #[test]
    fn attribute_value_keeps_inner_colons() {
        let sdp = parse("v=0\na=control:rtsp://10.0.0.1:554/stream1/trackID=1\n");
        assert_eq!(sdp.control(), Some("rtsp://10.0.0.1:554/stream1/trackID=1"));
    }

    // docs/QUIRKS.md, "SDP layout": lines in the wrong order, no t=, no o=.
    #[test]
    fn quirk_wrong_order_and_missing_lines() {
        let sdp = parse(
            "a=tool:LIVE555 Streaming Media v2020.01.01\n\
             v=0\n\
             s=Stream\n\
             m=video 0 RTP/AVP 96\n\
             a=rtpmap:96 H264/90000\n",
        );
        assert_eq!(sdp.version, Some(0));
        assert_eq!(sdp.origin, None);
        assert_eq!(
            sdp.attribute("TOOL"),
            Some("LIVE555 Streaming Media v2020.01.01")
        );
        assert_eq!(sdp.media.len(), 1);
    }

    // Quirk: no v= at all, but media present (some cheap DVRs).
    #[test]
    fn quirk_missing_version() {
        let sdp = parse("m=audio 0 RTP/AVP 0\r\n");
        assert_eq!(sdp.version, None);
        assert_eq!(sdp.media.len(), 1);
    }

    // Quirk: trailing spaces/tabs on any line, trailing blank line, bare \n.
    #[test]
    fn quirk_trailing_whitespace_and_bare_lf() {
        let sdp = parse(
            "v=0 \t\n\
             o=- 1 1 IN IP4 0.0.0.0\t\n\
             m=audio 0 RTP/AVP 8 \n\
             a=rtpmap:96 H264/90000 \n\
             a=control:trackID=2\t \n\
             \n\
             \n",
        );
        assert_eq!(sdp.media[0].formats, vec!["8"]);
        assert_eq!(sdp.media[0].attribute("rtpmap"), Some("96 H264/90000"));
        assert_eq!(sdp.media[0].control(), Some("trackID=2"));
    }

    #[test]
    fn bare_cr_line_endings() {
        let sdp = parse("v=0\rm=video 0 RTP/AVP 26\ra=control:a\r");
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(sdp.media[0].control(), Some("a"));
    }

    #[test]
    fn blank_lines_and_leading_whitespace() {
        let sdp = parse("\r\n\r\n  v=0\r\n\r\n   m=video 0 RTP/AVP 26\r\n");
        assert_eq!(sdp.version, Some(0));
        assert_eq!(sdp.media.len(), 1);
    }

    // Quirk: `a=framerate:0S` is stored as-is; the caps layer filters it.
    #[test]
    fn quirk_garbage_framerate_stored() {
        let sdp = parse("v=0\nm=video 0 RTP/AVP 96\na=framerate:0S\n");
        assert_eq!(sdp.media[0].attribute("framerate"), Some("0S"));
    }

    #[test]
    fn unknown_and_malformed_lines_skipped() {
        let sdp = parse(
            "v=0\n\
             x=whatever\n\
             this is not sdp\n\
             =novalue\n\
             1=digit\n\
             a=\n\
             a=:value\n\
             m=video 0 RTP/AVP 96\n\
             Q=unknown\n\
             a=control:x\n",
        );
        assert!(sdp.attributes.is_empty());
        assert_eq!(sdp.media[0].attributes.len(), 1);
    }

    #[test]
    fn uppercase_line_type_tolerated() {
        let sdp = parse("V=0\nM=video 0 RTP/AVP 96\nA=control:x\n");
        assert_eq!(sdp.version, Some(0));
        assert_eq!(sdp.media[0].media, "video");
        assert_eq!(sdp.media[0].control(), Some("x"));
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let mut body =
            b"v=0\r\ns=Cam\xff\xfe\r\nm=video 0 RTP/AVP 96\r\na=x-name:\xc3\x28\r\n".to_vec();
        body.extend_from_slice(b"a=control:1\r\n");
        let sdp = SessionDescription::parse(&body).unwrap();
        assert!(sdp.session_name.unwrap().starts_with("Cam"));
        assert_eq!(sdp.media[0].control(), Some("1"));
        assert!(sdp.media[0].attribute("x-name").is_some());
    }

    #[test]
    fn bom_and_nul_terminator() {
        let sdp =
            SessionDescription::parse(b"\xEF\xBB\xBFv=0\r\nm=audio 0 RTP/AVP 0\r\n\0").unwrap();
        assert_eq!(sdp.version, Some(0));
        assert_eq!(sdp.media.len(), 1);
    }

    #[test]
    fn binary_lines_skipped() {
        let sdp =
            SessionDescription::parse(b"v=0\r\na=x\x01y:z\r\nm=audio 0 RTP/AVP 0\r\n").unwrap();
        assert!(sdp.attributes.is_empty());
    }

    #[test]
    fn not_sdp_is_error() {
        assert!(SessionDescription::parse(b"").is_err());
        assert!(SessionDescription::parse(b"\r\n\r\n").is_err());
        assert!(SessionDescription::parse(b"<html><body>404</body></html>").is_err());
        assert!(SessionDescription::parse(&[0u8, 1, 2, 3, 0xff, 0xfe, 0x80, 10, 13]).is_err());
        assert!(SessionDescription::parse(b"o=- 0 0 IN IP4 1.2.3.4\r\ns=x\r\n").is_err());
        let e = SessionDescription::parse(b"nope").unwrap_err();
        assert!(e.to_string().contains("not an SDP"));
    }

    #[test]
    fn media_level_connection_overrides() {
        let sdp = parse(
            "v=0\r\nc=IN IP4 0.0.0.0\r\n\
             m=video 5000 RTP/AVP 96\r\nc=IN IP4 239.1.1.1/16\r\nc=IN IP4 239.1.1.2/16\r\n\
             m=audio 5002 RTP/AVP 0\r\n",
        );
        assert_eq!(sdp.connection.as_ref().unwrap().address, "0.0.0.0");
        let c = sdp.media[0].connection.as_ref().unwrap();
        assert_eq!(c.address, "239.1.1.1");
        assert_eq!(c.ttl, Some(16));
        assert!(sdp.media[1].connection.is_none());
    }

    #[test]
    fn connection_variants() {
        let c = Connection::parse("IN IP4 224.2.1.1/127/3").unwrap();
        assert_eq!((c.ttl, c.num_addresses), (Some(127), Some(3)));
        let c = Connection::parse("IN IP6 FF15::101/3").unwrap();
        assert_eq!(c.address, "FF15::101");
        assert_eq!((c.ttl, c.num_addresses), (None, Some(3)));
        let c = Connection::parse("IN IP4 1.2.3.4/999/x").unwrap();
        assert_eq!((c.ttl, c.num_addresses), (None, None));
        // Found by fuzzing: a count without a usable TTL cannot be written
        // back, and was read as the TTL after a rewrite.
        for v in ["IN IP4 233.252.2.1//16", "IN IP4 233.252.2.1/999/16"] {
            let c = Connection::parse(v).unwrap();
            assert_eq!((c.ttl, c.num_addresses), (None, None), "{v}");
            assert_eq!(Connection::parse(&c.to_value()), Some(c));
        }
        assert_eq!(Connection::parse("IN IP4"), None);
        assert_eq!(Connection::parse("IN IP4 /12"), None);
        assert_eq!(Connection::parse(""), None);
    }

    #[test]
    fn connection_to_value() {
        for v in [
            "IN IP4 224.2.1.1/127/3",
            "IN IP4 10.0.0.1",
            "IN IP6 FF15::101/3",
            "IN IP4 224.2.1.1/1",
        ] {
            assert_eq!(Connection::parse(v).unwrap().to_value(), v);
        }
        let c = Connection {
            address: "1.2.3.4".into(),
            num_addresses: Some(2),
            ..Default::default()
        };
        assert_eq!(c.to_value(), "IN IP4 1.2.3.4");
    }

    #[test]
    fn media_line_variants() {
        let sdp = parse(
            "v=0\n\
             m=VIDEO 49170/2 RTP/AVP 31 32\n\
             m=audio abc RTP/AVP 0\n\
             m=\n\
             a=control:only-in-empty\n\
             m=application 0 RTP/AVP 107\n",
        );
        assert_eq!(sdp.media.len(), 4);
        assert_eq!(sdp.media[0].media, "video");
        assert_eq!(sdp.media[0].port, 49170);
        assert_eq!(sdp.media[0].num_ports, Some(2));
        assert_eq!(sdp.media[0].formats, vec!["31", "32"]);
        assert_eq!(sdp.media[1].port, 0);
        assert_eq!(sdp.media[2].media, "");
        // The attribute after a malformed m= stays in that section.
        assert_eq!(sdp.media[2].control(), Some("only-in-empty"));
        assert_eq!(sdp.media[3].control(), None);
    }

    #[test]
    fn bandwidth_lines() {
        let sdp =
            parse("v=0\nb=AS:500\nb=bad\nb=X:y\nb=:5\nm=video 0 RTP/AVP 96\nb=TIAS: 64000 \n");
        assert_eq!(sdp.bandwidths, vec![("AS".to_string(), 500)]);
        assert_eq!(sdp.media[0].bandwidths, vec![("TIAS".to_string(), 64000)]);
    }

    #[test]
    fn attribute_lookup_case_insensitive() {
        let sdp = parse(
            "v=0\nm=video 0 RTP/AVP 96\na=RTPMAP:96 H264/90000\na=Control:x\na=fmtp:96 a=1\na=FMTP:97 b=2\n",
        );
        let m = &sdp.media[0];
        assert_eq!(m.attribute("rtpmap"), Some("96 H264/90000"));
        assert_eq!(m.control(), Some("x"));
        assert_eq!(
            m.attributes_named("fmtp").collect::<Vec<_>>(),
            vec!["96 a=1", "97 b=2"]
        );
    }

    #[test]
    fn empty_control_is_none() {
        let sdp = parse("v=0\na=control:\nm=video 0 RTP/AVP 96\na=control: \n");
        assert_eq!(sdp.control(), None);
        assert_eq!(sdp.media[0].control(), None);
    }

    #[test]
    fn repeated_session_fields_keep_first() {
        let sdp = parse(
            "v=0\nv=1\no=first\no=second\ns=one\ns=two\nm=video 0 RTP/AVP 96\ns=media-level\n",
        );
        assert_eq!(sdp.version, Some(0));
        assert_eq!(sdp.origin.as_deref(), Some("first"));
        assert_eq!(sdp.session_name.as_deref(), Some("one"));
    }

    #[test]
    fn limit_total_size() {
        let mut big = b"v=0\r\n".to_vec();
        big.resize(MAX_SDP_LEN + 1, b'a');
        assert!(SessionDescription::parse(&big).is_err());
    }

    #[test]
    fn limit_line_length() {
        let mut body = b"v=0\r\na=x:".to_vec();
        body.extend(std::iter::repeat_n(b'a', MAX_LINE_LEN));
        body.extend_from_slice(b"\r\n");
        let e = SessionDescription::parse(&body).unwrap_err();
        assert!(e.0.contains("line"));
        // Exactly at the limit is fine.
        let mut body = b"v=0\r\n".to_vec();
        let mut line = b"a=x:".to_vec();
        line.resize(MAX_LINE_LEN, b'b');
        body.extend_from_slice(&line);
        assert!(SessionDescription::parse(&body).is_ok());
    }

    #[test]
    fn limit_media_count() {
        let mut s = String::from("v=0\r\n");
        for _ in 0..MAX_MEDIA {
            s.push_str("m=audio 0 RTP/AVP 0\r\n");
        }
        assert_eq!(parse(&s).media.len(), MAX_MEDIA);
        s.push_str("m=audio 0 RTP/AVP 0\r\n");
        assert!(SessionDescription::parse(s.as_bytes()).is_err());
    }

    #[test]
    fn limit_attribute_count() {
        let mut s = String::from("v=0\r\nm=audio 0 RTP/AVP 0\r\n");
        for i in 0..MAX_ATTRIBUTES {
            s.push_str(&format!("a=x{i}:1\r\n"));
        }
        assert_eq!(parse(&s).media[0].attributes.len(), MAX_ATTRIBUTES);
        s.push_str("a=one-too-many\r\n");
        assert!(SessionDescription::parse(s.as_bytes()).is_err());
        let mut s = String::from("v=0\r\n");
        for i in 0..=MAX_ATTRIBUTES {
            s.push_str(&format!("a=x{i}\r\n"));
        }
        assert!(SessionDescription::parse(s.as_bytes()).is_err());
    }

    #[test]
    fn limit_format_and_bandwidth_count() {
        let mut s = String::from("v=0\r\nm=audio 0 RTP/AVP");
        for _ in 0..=MAX_FORMATS {
            s.push_str(" 0");
        }
        assert!(SessionDescription::parse(s.as_bytes()).is_err());
        let mut s = String::from("v=0\r\n");
        for _ in 0..=MAX_BANDWIDTHS {
            s.push_str("b=AS:1\r\n");
        }
        assert!(SessionDescription::parse(s.as_bytes()).is_err());
    }

    #[test]
    fn writer_defaults() {
        let sdp = SessionDescription::default();
        assert_eq!(
            sdp.to_sdp_string(),
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=Session\r\nt=0 0\r\n"
        );
    }

    #[test]
    fn writer_full_and_reparse() {
        let sdp = SessionDescription {
            version: Some(0),
            origin: Some("- 123 1 IN IP4 192.168.1.2".into()),
            session_name: Some("Cam".into()),
            connection: Some(Connection::parse("IN IP4 192.168.1.2").unwrap()),
            bandwidths: vec![("AS".into(), 1000)],
            attributes: vec![
                Attribute {
                    name: "tool".into(),
                    value: Some("rtspsink".into()),
                },
                Attribute {
                    name: "sendonly".into(),
                    value: None,
                },
            ],
            media: vec![Media {
                media: "video".into(),
                port: 0,
                num_ports: None,
                proto: "RTP/AVP".into(),
                formats: vec!["96".into()],
                connection: Some(Connection::parse("IN IP4 239.0.0.1/5").unwrap()),
                bandwidths: vec![("TIAS".into(), 5)],
                attributes: vec![
                    Attribute {
                        name: "rtpmap".into(),
                        value: Some("96 H264/90000".into()),
                    },
                    Attribute {
                        name: "control".into(),
                        value: Some("stream=0".into()),
                    },
                ],
            }],
        };
        let text = sdp.to_sdp_string();
        assert_eq!(
            text,
            "v=0\r\n\
             o=- 123 1 IN IP4 192.168.1.2\r\n\
             s=Cam\r\n\
             c=IN IP4 192.168.1.2\r\n\
             b=AS:1000\r\n\
             t=0 0\r\n\
             a=tool:rtspsink\r\n\
             a=sendonly\r\n\
             m=video 0 RTP/AVP 96\r\n\
             c=IN IP4 239.0.0.1/5\r\n\
             b=TIAS:5\r\n\
             a=rtpmap:96 H264/90000\r\n\
             a=control:stream=0\r\n"
        );
        assert_eq!(SessionDescription::parse(text.as_bytes()).unwrap(), sdp);
        assert_eq!(sdp.to_string(), text);
    }

    #[test]
    fn writer_cannot_inject_lines() {
        let sdp = SessionDescription {
            session_name: Some("evil\r\na=injected".into()),
            attributes: vec![Attribute {
                name: "tool".into(),
                value: Some("x\ny".into()),
            }],
            ..Default::default()
        };
        let text = sdp.to_sdp_string();
        assert_eq!(text.matches("\r\n").count(), 5);
        let back = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(back.attributes.len(), 1);
        assert_eq!(back.attribute("tool"), Some("x y"));
    }

    #[test]
    fn writer_media_defaults() {
        let sdp = SessionDescription {
            session_name: Some(String::new()),
            media: vec![Media {
                media: "audio".into(),
                port: 5004,
                num_ports: Some(2),
                formats: vec!["0".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = sdp.to_sdp_string();
        assert!(text.contains("\r\ns= \r\n"));
        assert!(text.contains("m=audio 5004/2 RTP/AVP 0\r\n"));
    }

    #[test]
    fn never_panics_on_junk() {
        // Cheap deterministic fuzz: every prefix of a quirky SDP plus
        // byte-flipped variants must parse or fail, never panic.
        let base = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 224.1.1.1/12/3\r\nb=AS:12\r\n\
            m=video 554/2 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 x=y\r\n\
            c=IN IP6 ::1/4\r\n";
        for i in 0..base.len() {
            let _ = SessionDescription::parse(&base[..i]);
            let mut v = base.to_vec();
            v[i] ^= 0xA5;
            let _ = SessionDescription::parse(&v);
            v[i] = b'\n';
            let _ = SessionDescription::parse(&v);
        }
    }
}
