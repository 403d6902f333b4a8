//! RTSP URLs: parsing a user-given location, the credential-free URL used in
//! request lines, and joining SDP control attributes onto a base URL.
//!
//! Parsing of the location is hand-written rather than delegated to the `url`
//! crate because user-typed camera URLs often carry passwords with characters
//! that should have been percent-encoded (`@`, `?`, `#`), and because the
//! request URL must keep the path exactly as the user wrote it (servers compare
//! it byte for byte with their mount points). The `url` crate is used for
//! RFC 3986 relative resolution, where its WHATWG resolution for non-special
//! schemes gives the RFC 3986 section 5.2 answer.
//!
//! Nothing here ever puts a password into a `Debug` output, [`RtspUrl::redacted`]
//! or a [`UrlError`] message.

use std::fmt;
use std::net::Ipv6Addr;

use crate::auth::Credentials;

/// URL schemes understood by the client (names as used by GStreamer's `rtspsrc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `rtsp`: any lower transport (UDP, multicast, TCP interleaved).
    Rtsp,
    /// `rtspt`: TCP interleaved only.
    Rtspt,
    /// `rtspu`: UDP only.
    Rtspu,
    /// `rtsps`: RTSP over TLS, any lower transport.
    Rtsps,
    /// `rtspst`: RTSP over TLS, TCP interleaved only.
    Rtspst,
    /// `rtsph`: RTSP tunnelled over HTTP (always TCP).
    Rtsph,
    /// `rtspsh`: RTSP tunnelled over HTTPS (always TCP).
    Rtspsh,
}

const ALL_SCHEMES: [Scheme; 7] = [
    Scheme::Rtsp,
    Scheme::Rtspt,
    Scheme::Rtspu,
    Scheme::Rtsps,
    Scheme::Rtspst,
    Scheme::Rtsph,
    Scheme::Rtspsh,
];

impl Scheme {
    /// The scheme name as written in a URL (lowercase).
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Rtsp => "rtsp",
            Scheme::Rtspt => "rtspt",
            Scheme::Rtspu => "rtspu",
            Scheme::Rtsps => "rtsps",
            Scheme::Rtspst => "rtspst",
            Scheme::Rtsph => "rtsph",
            Scheme::Rtspsh => "rtspsh",
        }
    }

    /// Default port: 554 (RFC 2326 3.2), 322 for the TLS schemes (RFC 7826 19.3).
    /// The HTTP-tunnel schemes use the RTSP defaults too, as GStreamer does.
    pub fn default_port(&self) -> u16 {
        if self.tls() { 322 } else { 554 }
    }

    /// Whether the control connection is wrapped in TLS.
    pub fn tls(&self) -> bool {
        matches!(self, Scheme::Rtsps | Scheme::Rtspst | Scheme::Rtspsh)
    }

    /// Whether RTSP is tunnelled through HTTP (`rtsph`, `rtspsh`).
    pub fn tunnels_over_http(&self) -> bool {
        matches!(self, Scheme::Rtsph | Scheme::Rtspsh)
    }

    /// Whether media must be interleaved on the TCP connection.
    pub fn forces_tcp(&self) -> bool {
        matches!(
            self,
            Scheme::Rtspt | Scheme::Rtspst | Scheme::Rtsph | Scheme::Rtspsh
        )
    }

    /// Whether media must use UDP (unicast or multicast).
    pub fn forces_udp(&self) -> bool {
        matches!(self, Scheme::Rtspu)
    }

    /// Every supported scheme.
    pub fn all() -> &'static [Scheme] {
        &ALL_SCHEMES
    }

    /// Looks a scheme up by name, ASCII case-insensitively (RFC 3986 3.1).
    pub fn from_name(name: &str) -> Option<Scheme> {
        ALL_SCHEMES
            .iter()
            .copied()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Scheme used in request lines: the transport variants are client-side
    /// conventions that servers do not know, so only `rtsp`/`rtsps` go on the wire.
    fn wire_name(&self) -> &'static str {
        if self.tls() { "rtsps" } else { "rtsp" }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL parse failure. The message never contains the password or any part
/// of the authority that could be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RTSP URL: {}", self.0)
    }
}

impl std::error::Error for UrlError {}

fn err(msg: impl Into<String>) -> UrlError {
    UrlError(msg.into())
}

/// A parsed RTSP location.
#[derive(Clone, PartialEq, Eq)]
pub struct RtspUrl {
    pub scheme: Scheme,
    /// Host name or address; IPv6 addresses without the brackets.
    pub host: String,
    /// Explicit port, or the scheme's default.
    pub port: u16,
    /// User and password from the userinfo part, percent-decoded.
    pub credentials: Option<Credentials>,
    request_url: String,
}

impl RtspUrl {
    /// Parses a location such as `rtsp://user:pass@host:8554/path?query`.
    ///
    /// Surrounding whitespace is trimmed; the scheme is case-insensitive. The
    /// authority ends at the first `/` after the last `@` before that `/`, so an
    /// unencoded `@`, `?` or `#` in a password still works (users paste camera
    /// passwords unencoded all the time); a `/` in a password must be `%2F`.
    /// The fragment, if any, is dropped: it is never sent (RFC 3986 3.5).
    pub fn parse(location: &str) -> Result<Self, UrlError> {
        let s = location.trim();
        if s.is_empty() {
            return Err(err("empty URL"));
        }
        let Some(sep) = s.find("://") else {
            return Err(err("missing scheme (expected e.g. rtsp://host/path)"));
        };
        let scheme_text = &s[..sep];
        let Some(scheme) = Scheme::from_name(scheme_text) else {
            // Echo the scheme only when it looks like one, so that a malformed
            // location never leaks its userinfo through the message.
            let looks_like_scheme = !scheme_text.is_empty()
                && scheme_text.len() <= 16
                && scheme_text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            return Err(if looks_like_scheme {
                err(format!("unsupported scheme \"{scheme_text}\""))
            } else {
                err("unsupported scheme")
            });
        };
        let rest = &s[sep + 3..];

        let first_slash = rest.find('/').unwrap_or(rest.len());
        let at = rest[..first_slash].rfind('@');
        let host_start = at.map_or(0, |i| i + 1);
        let authority_end = rest[host_start..]
            .find(['/', '?', '#'])
            .map_or(rest.len(), |i| host_start + i);
        let userinfo = at.map(|i| &rest[..i]);
        let hostport = &rest[host_start..authority_end];
        let tail = &rest[authority_end..];

        let (host, port_text) = split_host_port(hostport)?;
        let port = match port_text {
            None | Some("") => None,
            Some(p) => {
                // Never echo the port text: with a forgotten '@' it is the password.
                if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("invalid port number"));
                }
                match p.parse::<u16>() {
                    Ok(0) | Err(_) => return Err(err("port number out of range")),
                    Ok(n) => Some(n),
                }
            }
        };

        let credentials = userinfo.and_then(|ui| {
            let (user, password) = ui.split_once(':').unwrap_or((ui, ""));
            if user.is_empty() && password.is_empty() {
                None
            } else {
                Some(Credentials {
                    user: percent_decode(user),
                    password: percent_decode(password),
                })
            }
        });

        // Path and query as written, minus the fragment; bytes that cannot
        // appear in a request line are percent-encoded (RFC 2326 6.1).
        let path_query = tail.split('#').next().unwrap_or("");
        let mut path_query = encode_unsafe(path_query);
        if !path_query.starts_with('/') {
            // `rtsp://cam` and `rtsp://cam?x`: an empty path is "/" (RFC 3986 6.2.3),
            // and some servers reject a request URL without one.
            path_query.insert(0, '/');
        }

        let host_in_url = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let request_url = match port {
            Some(p) => format!("{}://{host_in_url}:{p}{path_query}", scheme.wire_name()),
            None => format!("{}://{host_in_url}{path_query}", scheme.wire_name()),
        };

        Ok(RtspUrl {
            scheme,
            host: host.to_string(),
            port: port.unwrap_or_else(|| scheme.default_port()),
            credentials,
            request_url,
        })
    }

    /// The URL to put in request lines: `rtsp://` (or `rtsps://` for TLS
    /// schemes), no credentials, the port only if the location had one, and the
    /// path and query as given.
    pub fn request_url(&self) -> &str {
        &self.request_url
    }

    /// Form for logs and error messages; never contains credentials.
    pub fn redacted(&self) -> String {
        self.request_url.clone()
    }

    /// `host:port` for connecting, IPv6 in brackets (`[::1]:554`).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for RtspUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtspUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            // Credentials' own Debug redacts the password.
            .field("credentials", &self.credentials)
            .field("request_url", &self.request_url)
            .finish()
    }
}

/// Splits `host[:port]` / `[v6]:port`. Returns the host without brackets.
fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(inner) = hostport.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(err("unterminated IPv6 address"));
        };
        let host = &inner[..close];
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(err("unexpected characters after IPv6 address")),
        };
        if !is_ipv6_literal(host) {
            return Err(err("invalid IPv6 address"));
        }
        return Ok((host, port));
    }
    if hostport.parse::<Ipv6Addr>().is_ok() {
        // Tolerate an unbracketed IPv6 address without port (`rtsp://fe80::1/x`):
        // unambiguous because it parses as a whole.
        return Ok((hostport, None));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if host.is_empty() {
        return Err(err("missing host"));
    }
    // Never echo the host either: with a malformed authority it may be userinfo.
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "[]<>\"{}|\\^`@/?#:".contains(c))
    {
        return Err(err("invalid character in host"));
    }
    Ok((host, port))
}

/// IPv6 literal, optionally with a zone id (`fe80::1%25eth0`, RFC 6874).
fn is_ipv6_literal(s: &str) -> bool {
    let addr = s.split('%').next().unwrap_or("");
    addr.parse::<Ipv6Addr>().is_ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes (RFC 3986 2.1); a `%` not followed by two hex digits is kept
/// literally, invalid UTF-8 is replaced rather than rejected.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes bytes that would break a request line: space, controls and
/// non-ASCII. Everything else (including existing `%XX`) is left alone.
fn encode_unsafe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b <= b' ' || b >= 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// `scheme://...` with a syntactically valid scheme (RFC 3986 3.1).
fn is_absolute(s: &str) -> bool {
    let Some(idx) = s.find("://") else {
        return false;
    };
    let scheme = &s[..idx];
    let mut bytes = scheme.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Joins an SDP `a=control` value onto the base URL (Content-Base, else
/// Content-Location, else the request URL) the way live555 and ffmpeg do,
/// which is what most servers are tested against:
///
/// - an absolute control (`scheme://...`) is used as-is;
/// - `*` or an empty control means the base itself (RFC 2326 C.1.1);
/// - otherwise `base + "/" + control`, without adding a `/` when the base ends
///   with one or the control starts with one, and collapsing the double slash
///   when both do.
///
/// A query string in the base is kept and the control is appended after it by
/// plain string concatenation, as ffmpeg does: Dahua-style servers answer
/// `Content-Base: rtsp://ip/cam/realmonitor?channel=1&subtype=0/` and expect
/// `.../realmonitor?channel=1&subtype=0/trackID=0`. The RFC 3986 reading
/// (which drops the query) is [`join_control_rfc3986`], used as the retry.
pub fn join_control(base: &str, control: &str) -> String {
    let base = base.trim();
    let control = control.trim();
    if is_absolute(control) {
        return control.to_string();
    }
    if control.is_empty() || control == "*" {
        return base.to_string();
    }
    match (base.ends_with('/'), control.starts_with('/')) {
        (true, true) => format!("{base}{}", &control[1..]),
        (false, false) => format!("{base}/{control}"),
        _ => format!("{base}{control}"),
    }
}

/// The alternative join, tried when SETUP with [`join_control`]'s URL gets 400
/// or 404: RFC 3986 5.2 relative resolution, so `rtsp://h/a/b` + `trackID=1`
/// gives `rtsp://h/a/trackID=1` and a leading `/` replaces the whole path.
/// Returns `None` when it gives the same URL (nothing new to try), for
/// absolute, empty and `*` controls, and when the base cannot be parsed.
pub fn join_control_rfc3986(base: &str, control: &str) -> Option<String> {
    let trimmed = control.trim();
    if trimmed.is_empty() || trimmed == "*" || is_absolute(trimmed) {
        return None;
    }
    let resolved = ::url::Url::parse(base.trim()).ok()?.join(trimmed).ok()?;
    let resolved = String::from(resolved);
    if resolved == join_control(base, control) {
        None
    } else {
        Some(resolved)
    }
}

/// The URLs to try, in order, for SETUP of a stream whose `a=control` is
/// `control` under `base`: the first, and another join to try when the
/// server refuses the first ([`control_retry_status`]).
///
/// Usually [`join_control`] first (what live555 and ffmpeg send) and the RFC
/// 3986 join second. But when the control is the base's own last path
/// segment (`rtsp://h/live/streamid=0` with `a=control:streamid=0` and no
/// Content-Base), appending it repeats the segment
/// (`…/streamid=0/streamid=0`), a URL some servers never answer at all,
/// so no error status could trigger the retry; RFC 3986 resolution gives
/// the base itself, which is what such servers mean (and what GStreamer's
/// C `rtspsrc` sends). Then the RFC 3986 join goes first
/// (docs/QUIRKS.md, "Control joins").
pub fn control_urls(base: &str, control: &str) -> (String, Option<String>) {
    let plain = join_control(base, control);
    match join_control_rfc3986(base, control) {
        Some(rfc) if control_is_last_segment(base, control) => (rfc, Some(plain)),
        alternative => (plain, alternative),
    }
}

/// Whether `control` (relative, one path segment) equals the last path
/// segment of `base` (which has no query or fragment).
fn control_is_last_segment(base: &str, control: &str) -> bool {
    let control = control.trim();
    if control.is_empty() || control.contains(['/', '?', '#']) || is_absolute(control) {
        return false;
    }
    let base = base.trim();
    if base.contains(['?', '#']) {
        return false;
    }
    let Some(after_scheme) = base.find("://").map(|i| &base[i + 3..]) else {
        return false;
    };
    let Some(path_start) = after_scheme.find('/') else {
        return false;
    };
    after_scheme[path_start..].rsplit('/').next() == Some(control)
}

/// Whether a SETUP answered with `status` is worth retrying at the other
/// control join: errors a server gives for a URL it does not know (400, 403,
/// 404, 454, 459, 500, …). Not 401 (authentication has its own retry), nor
/// the answers about the transport or the server's load (453, 461, 462,
/// 503), which another URL would not change.
pub fn control_retry_status(status: u16) -> bool {
    (400..600).contains(&status) && !matches!(status, 401 | 453 | 461 | 462 | 503)
}

/// Resolves a `Location` header (redirect, RFC 2326 12.25) against the current
/// URL: an absolute location is returned as-is (it may legitimately switch
/// scheme or host), a relative one per RFC 3986 5.2. `None` if the location
/// is empty or cannot be resolved.
pub fn resolve_location(current: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    if is_absolute(location) {
        return Some(location.to_string());
    }
    let resolved = ::url::Url::parse(current.trim())
        .ok()?
        .join(location)
        .ok()?;
    Some(resolved.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_parses_with_properties() {
        let cases = [
            ("rtsp", Scheme::Rtsp, 554, false, false, false, "rtsp"),
            ("rtspt", Scheme::Rtspt, 554, false, true, false, "rtsp"),
            ("rtspu", Scheme::Rtspu, 554, false, false, true, "rtsp"),
            ("rtsps", Scheme::Rtsps, 322, true, false, false, "rtsps"),
            ("rtspst", Scheme::Rtspst, 322, true, true, false, "rtsps"),
            ("rtsph", Scheme::Rtsph, 554, false, true, false, "rtsp"),
            ("rtspsh", Scheme::Rtspsh, 322, true, true, false, "rtsps"),
        ];
        assert_eq!(Scheme::all().len(), cases.len());
        for (name, scheme, port, tls, tcp, udp, wire) in cases {
            let u = RtspUrl::parse(&format!("{name}://cam.local/live")).unwrap();
            assert_eq!(u.scheme, scheme, "{name}");
            assert_eq!(scheme.as_str(), name);
            assert_eq!(u.port, port, "{name}");
            assert_eq!(scheme.default_port(), port);
            assert_eq!(scheme.tls(), tls, "{name}");
            assert_eq!(scheme.forces_tcp(), tcp, "{name}");
            assert_eq!(scheme.forces_udp(), udp, "{name}");
            assert_eq!(scheme.tunnels_over_http(), name.ends_with('h'), "{name}");
            assert_eq!(u.request_url(), format!("{wire}://cam.local/live"));
            assert!(Scheme::all().contains(&scheme));
        }
    }

    #[test]
    fn scheme_is_case_insensitive_and_whitespace_trimmed() {
        let u = RtspUrl::parse("  RTSPT://Cam:8554/Live \t\n").unwrap();
        assert_eq!(u.scheme, Scheme::Rtspt);
        assert_eq!(u.host, "Cam");
        assert_eq!(u.port, 8554);
        assert_eq!(u.request_url(), "rtsp://Cam:8554/Live");
    }

    #[test]
    fn credentials_are_percent_decoded_and_stripped() {
        let u = RtspUrl::parse("rtsp://user:p%40ss@127.0.0.1:8554/test?x=1").unwrap();
        let c = u.credentials.as_ref().unwrap();
        assert_eq!(c.user, "user");
        assert_eq!(c.password, "p@ss");
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8554);
        assert_eq!(u.request_url(), "rtsp://127.0.0.1:8554/test?x=1");
        assert_eq!(u.host_port(), "127.0.0.1:8554");
    }

    #[test]
    fn unencoded_specials_in_password_are_tolerated() {
        // Users paste camera passwords without encoding them.
        let u = RtspUrl::parse("rtsp://admin:a@b?c#d:e@192.0.2.7/h264").unwrap();
        let c = u.credentials.as_ref().unwrap();
        assert_eq!(c.user, "admin");
        assert_eq!(c.password, "a@b?c#d:e");
        assert_eq!(u.host, "192.0.2.7");
        assert_eq!(u.port, 554);
        assert_eq!(u.request_url(), "rtsp://192.0.2.7/h264");
    }

    #[test]
    fn user_without_password_and_empty_userinfo() {
        let u = RtspUrl::parse("rtsp://admin@cam/x").unwrap();
        assert_eq!(
            u.credentials,
            Some(Credentials {
                user: "admin".into(),
                password: String::new()
            })
        );
        let u = RtspUrl::parse("rtsp://@cam/x").unwrap();
        assert_eq!(u.credentials, None);
        let u = RtspUrl::parse("rtsp://cam/x").unwrap();
        assert_eq!(u.credentials, None);
    }

    #[test]
    fn missing_port_uses_default_and_keeps_written_port() {
        let u = RtspUrl::parse("rtsp://cam/stream").unwrap();
        assert_eq!(u.port, 554);
        assert_eq!(u.request_url(), "rtsp://cam/stream");
        assert_eq!(u.host_port(), "cam:554");
        let u = RtspUrl::parse("rtsps://cam/stream").unwrap();
        assert_eq!(u.port, 322);
        let u = RtspUrl::parse("rtsp://cam:554/stream").unwrap();
        assert_eq!(u.request_url(), "rtsp://cam:554/stream");
        // Empty port after ':' means the default (RFC 3986 3.2.3).
        let u = RtspUrl::parse("rtsp://cam:/stream").unwrap();
        assert_eq!(u.port, 554);
        assert_eq!(u.request_url(), "rtsp://cam/stream");
    }

    #[test]
    fn ipv6_hosts() {
        let u = RtspUrl::parse("rtsp://[::1]:8554/a").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 8554);
        assert_eq!(u.request_url(), "rtsp://[::1]:8554/a");
        assert_eq!(u.host_port(), "[::1]:8554");
        let u = RtspUrl::parse("rtsp://u:p@[2001:db8::5]/a").unwrap();
        assert_eq!(u.host, "2001:db8::5");
        assert_eq!(u.port, 554);
        assert_eq!(u.host_port(), "[2001:db8::5]:554");
        assert_eq!(u.request_url(), "rtsp://[2001:db8::5]/a");
        let u = RtspUrl::parse("rtsp://fe80::1/a").unwrap();
        assert_eq!(u.host, "fe80::1");
        assert_eq!(u.port, 554);
        assert!(RtspUrl::parse("rtsp://[::1/a").is_err());
        assert!(RtspUrl::parse("rtsp://[nothex]/a").is_err());
        assert!(RtspUrl::parse("rtsp://[::1]x/a").is_err());
    }

    #[test]
    fn path_edge_cases() {
        assert_eq!(
            RtspUrl::parse("rtsp://cam").unwrap().request_url(),
            "rtsp://cam/"
        );
        assert_eq!(
            RtspUrl::parse("rtsp://cam:8554?ch=1")
                .unwrap()
                .request_url(),
            "rtsp://cam:8554/?ch=1"
        );
        assert_eq!(
            RtspUrl::parse("rtsp://cam/a b/é#frag")
                .unwrap()
                .request_url(),
            "rtsp://cam/a%20b/%C3%A9"
        );
        // Dahua-style query is kept verbatim.
        assert_eq!(
            RtspUrl::parse("rtsp://cam/cam/realmonitor?channel=1&subtype=0")
                .unwrap()
                .request_url(),
            "rtsp://cam/cam/realmonitor?channel=1&subtype=0"
        );
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "",
            "   ",
            "cam/stream",
            "http://cam/stream",
            "rtsp://",
            "rtsp:///stream",
            "rtsp://:554/stream",
            "rtsp://cam:abc/stream",
            "rtsp://cam:0/stream",
            "rtsp://cam:65536/stream",
            "rtsp://cam:99999999999999999999/stream",
            "rtsp://user:pw@/stream",
            "rtsp://ca m/stream",
        ] {
            assert!(RtspUrl::parse(bad).is_err(), "{bad:?} should fail");
        }
        let e = RtspUrl::parse("http://cam/x").unwrap_err();
        assert!(e.to_string().contains("\"http\""), "{e}");
    }

    #[test]
    fn password_never_leaks() {
        const PW: &str = "S3cr3tPw";
        let u = RtspUrl::parse(&format!("rtsp://admin:{PW}@cam:8554/live?x=1")).unwrap();
        assert_eq!(u.credentials.as_ref().unwrap().password, PW);
        assert!(!format!("{u:?}").contains(PW));
        assert!(!format!("{u:#?}").contains(PW));
        assert!(!u.redacted().contains(PW));
        assert!(!u.request_url().contains(PW));
        assert!(!u.redacted().contains("admin"));
        assert!(format!("{u:?}").contains("<redacted>"));

        // Parse errors of locations carrying credentials.
        for bad in [
            format!("foo://admin:{PW}@cam/x"),
            format!("admin:{PW}@cam/x"),
            format!("admin:{PW}://cam/x"),
            format!("rtsp://admin:{PW}@cam:bad/x"),
            format!("rtsp://admin:{PW}@/x"),
            format!("rtsp://admin:{PW}@[::1/x"),
            format!("rtsp://admin:{PW}@c m/x"),
            // Forgotten '@': the password lands where the port should be.
            format!("rtsp://admin:{PW}/x"),
        ] {
            let e = RtspUrl::parse(&bad).unwrap_err();
            assert!(!e.to_string().contains(PW), "{bad}: {e}");
            assert!(!format!("{e:?}").contains(PW), "{bad}: {e:?}");
        }
    }

    #[test]
    fn join_plain_rules() {
        // Base without trailing slash.
        assert_eq!(
            join_control("rtsp://h/live", "trackID=1"),
            "rtsp://h/live/trackID=1"
        );
        // Base with trailing slash.
        assert_eq!(
            join_control("rtsp://h/live/", "trackID=1"),
            "rtsp://h/live/trackID=1"
        );
        // Absolute control.
        assert_eq!(
            join_control("rtsp://h/live/", "rtsp://other:8554/x/track1"),
            "rtsp://other:8554/x/track1"
        );
        assert_eq!(
            join_control("rtsp://h/live/", "RTSPS://other/x"),
            "RTSPS://other/x"
        );
        // "*" and empty mean the base.
        assert_eq!(join_control("rtsp://h/live/", "*"), "rtsp://h/live/");
        assert_eq!(join_control("rtsp://h/live", ""), "rtsp://h/live");
        assert_eq!(join_control("rtsp://h/live", " * "), "rtsp://h/live");
        // Leading slash: concatenated without a double slash.
        assert_eq!(
            join_control("rtsp://h/live", "/track1"),
            "rtsp://h/live/track1"
        );
        assert_eq!(
            join_control("rtsp://h/live/", "/track1"),
            "rtsp://h/live/track1"
        );
        // Trailing whitespace from a sloppy SDP.
        assert_eq!(
            join_control("rtsp://h/live", "trackID=1 \t"),
            "rtsp://h/live/trackID=1"
        );
    }

    #[test]
    fn join_with_query_in_base_appends_after_query() {
        assert_eq!(
            join_control("rtsp://h/cam/realmonitor?channel=1&subtype=0/", "trackID=0"),
            "rtsp://h/cam/realmonitor?channel=1&subtype=0/trackID=0"
        );
        assert_eq!(
            join_control("rtsp://h/stream?token=abc", "track1"),
            "rtsp://h/stream?token=abc/track1"
        );
        assert_eq!(
            join_control_rfc3986("rtsp://h/stream?token=abc", "track1").as_deref(),
            Some("rtsp://h/track1")
        );
    }

    #[test]
    fn rfc3986_alternative() {
        assert_eq!(
            join_control_rfc3986("rtsp://h/a/b", "trackID=1").as_deref(),
            Some("rtsp://h/a/trackID=1")
        );
        assert_eq!(
            join_control_rfc3986("rtsp://h:8554/a/b", "/x/track1").as_deref(),
            Some("rtsp://h:8554/x/track1")
        );
        // Same result as the plain join: nothing to retry.
        assert_eq!(join_control_rfc3986("rtsp://h/a/", "trackID=1"), None);
        assert_eq!(join_control_rfc3986("rtsp://h/a", "*"), None);
        assert_eq!(join_control_rfc3986("rtsp://h/a", ""), None);
        assert_eq!(join_control_rfc3986("rtsp://h/a", "rtsp://o/x"), None);
        // Unparseable base.
        assert_eq!(join_control_rfc3986("not a url", "track1"), None);
        // IPv6 base.
        assert_eq!(
            join_control_rfc3986("rtsp://[::1]:8554/a/b", "t1").as_deref(),
            Some("rtsp://[::1]:8554/a/t1")
        );
    }

    #[test]
    fn control_equal_to_last_segment_resolves_rfc3986_first() {
        // The field case: location rtsp://h/live/streamid=0, SDP control
        // streamid=0, no Content-Base.
        assert_eq!(
            control_urls("rtsp://h/live/streamid=0", "streamid=0"),
            (
                "rtsp://h/live/streamid=0".to_string(),
                Some("rtsp://h/live/streamid=0/streamid=0".to_string())
            )
        );
        assert_eq!(
            control_urls("rtsp://h:8554/streamid=0", " streamid=0 "),
            (
                "rtsp://h:8554/streamid=0".to_string(),
                Some("rtsp://h:8554/streamid=0/streamid=0".to_string())
            )
        );
    }

    #[test]
    fn control_urls_keep_the_usual_join_first() {
        // What works today stays first.
        assert_eq!(
            control_urls("rtsp://h/live", "streamid=0"),
            (
                "rtsp://h/live/streamid=0".to_string(),
                Some("rtsp://h/streamid=0".to_string())
            )
        );
        assert_eq!(
            control_urls("rtsp://h/live/", "streamid=0"),
            ("rtsp://h/live/streamid=0".to_string(), None)
        );
        assert_eq!(
            control_urls("rtsp://h/live/ch1", "track1"),
            (
                "rtsp://h/live/ch1/track1".to_string(),
                Some("rtsp://h/live/track1".to_string())
            )
        );
        // A query in the base: the Dahua join stays first.
        assert_eq!(
            control_urls(
                "rtsp://h/cam/realmonitor?channel=1",
                "realmonitor?channel=1"
            )
            .0,
            "rtsp://h/cam/realmonitor?channel=1/realmonitor?channel=1"
        );
        assert_eq!(
            control_urls("rtsp://h/live/x", "*"),
            ("rtsp://h/live/x".to_string(), None)
        );
        assert_eq!(
            control_urls("rtsp://h/live/x", "rtsp://o/live/x"),
            ("rtsp://o/live/x".to_string(), None)
        );
        // Same last segment but a multi-segment or absolute-path control.
        assert_eq!(control_urls("rtsp://h/a/b", "a/b").0, "rtsp://h/a/b/a/b");
        assert_eq!(control_urls("rtsp://h/a/b", "/b").0, "rtsp://h/a/b/b");
        // A host without path, or only "/": nothing to compare.
        assert_eq!(control_urls("rtsp://h", "h").0, "rtsp://h/h");
        assert_eq!(control_urls("rtsp://h/", "x").0, "rtsp://h/x");
    }

    #[test]
    fn control_retry_statuses() {
        for status in [400, 403, 404, 405, 451, 454, 455, 457, 459, 500, 501, 505] {
            assert!(control_retry_status(status), "{status}");
        }
        for status in [200, 301, 401, 453, 461, 462, 503, 600, 0] {
            assert!(!control_retry_status(status), "{status}");
        }
    }

    #[test]
    fn redirect_locations() {
        assert_eq!(
            resolve_location("rtsp://h/a/b", "rtsp://other:1554/x").as_deref(),
            Some("rtsp://other:1554/x")
        );
        assert_eq!(
            resolve_location("rtsp://h:8554/a/b", "/x/y").as_deref(),
            Some("rtsp://h:8554/x/y")
        );
        assert_eq!(
            resolve_location("rtsp://h/a/b", "c").as_deref(),
            Some("rtsp://h/a/c")
        );
        assert_eq!(
            resolve_location("rtsp://h/a/b", "//other/z").as_deref(),
            Some("rtsp://other/z")
        );
        assert_eq!(resolve_location("rtsp://h/a", "  "), None);
        assert_eq!(resolve_location("garbage", "x"), None);
    }

    #[test]
    fn percent_decode_is_total() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let inputs = [
            "rtsp://",
            "rtsp://@",
            "rtsp://[",
            "rtsp://]",
            "rtsp://[]",
            "rtsp://:",
            "rtsp://@:",
            "rtsp://a:b:c@",
            "rtsp://é:é@é:é/é",
            "rtsp://%",
            "://",
            "rtsp://h:5%34",
            "rtsp://\u{0}/",
            "rtsp:///",
            "rtsp://@@@/",
        ];
        for i in inputs {
            let _ = RtspUrl::parse(i);
            let _ = join_control(i, i);
            let _ = join_control_rfc3986(i, i);
            let _ = control_urls(i, i);
            let _ = resolve_location(i, i);
        }
    }

    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        const ALPHABET: &[&str] = &[
            "rtsp", "rtsps", "://", ":", "@", "/", "?", "#", "[", "]", "%", "%4", "%40", "::1",
            "*", " ", "\t", "é", "h", "554", "99999", ".", "..", "=", "\u{0}",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let n = rng.gen_range(0..12);
            let a: String = (0..n)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
                .collect();
            let n = rng.gen_range(0..6);
            let b: String = (0..n)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
                .collect();
            if let Ok(u) = RtspUrl::parse(&a) {
                assert!(!u.host.is_empty());
                let _ = (u.host_port(), u.redacted(), format!("{u:?}"));
            }
            let _ = join_control(&a, &b);
            let _ = join_control_rfc3986(&a, &b);
            let _ = control_urls(&a, &b);
            let _ = resolve_location(&a, &b);
        }
    }
}
