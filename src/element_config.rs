//! Settings handling shared by `rtspsrc2` and `rtspsink`: the `location`
//! and the schemes this client implements, the `protocols` syntax, what
//! the URL scheme allows, credentials and extra headers.

use rtspclient_protocol::auth::Credentials;
use rtspclient_protocol::url::{RtspUrl, Scheme};

use crate::driver::error::{ClientError, ErrorKind};

/// The URI schemes both elements handle (the URI handler's list).
pub const URI_PROTOCOLS: &[&str] = &["rtsp", "rtspt", "rtspu", "rtsps", "rtspst"];

/// The schemes of the play element: also RTSP tunnelled over HTTP(S).
pub const PLAY_URI_PROTOCOLS: &[&str] = &[
    "rtsp", "rtspt", "rtspu", "rtsps", "rtspst", "rtsph", "rtspsh",
];

/// A lower transport, in the order the user prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    UdpMulticast,
    Tcp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::UdpMulticast => "udp-mcast",
            Protocol::Tcp => "tcp",
        }
    }
}

/// Parse a `protocols` value: names in priority order, separated by commas,
/// `+`, `|` or spaces ("tcp", "udp,tcp", "udp-mcast+udp+tcp"). Unknown names
/// are an error so that typos do not silently change the transport; so is
/// multicast where the element cannot use it (publishing).
pub fn parse_protocols(value: &str, allow_multicast: bool) -> Result<Vec<Protocol>, String> {
    let mut list = Vec::new();
    for name in value
        .split([',', '+', '|', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let protocol = match name.to_ascii_lowercase().as_str() {
            "udp" | "udp-unicast" => Protocol::Udp,
            "udp-mcast" | "multicast" | "udp-multicast" if allow_multicast => {
                Protocol::UdpMulticast
            }
            "udp-mcast" | "multicast" | "udp-multicast" => {
                return Err("multicast is not supported here".into());
            }
            "tcp" | "interleaved" => Protocol::Tcp,
            other => return Err(format!("unknown protocol '{other}'")),
        };
        if !list.contains(&protocol) {
            list.push(protocol);
        }
    }
    if list.is_empty() {
        return Err("no protocol given".into());
    }
    Ok(list)
}

pub fn protocols_to_string(list: &[Protocol]) -> String {
    list.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
}

/// Why this client refuses a scheme, if it does: HTTP tunnelling where
/// the element does not implement it (publishing), since quietly speaking
/// plain RTSP to a user who asked for a tunnel would be wrong
/// (docs/QUIRKS.md, "Schemes without their transport").
pub fn unsupported_scheme(scheme: Scheme, allow_tunnel: bool) -> Option<String> {
    if !scheme.tunnels_over_http() || allow_tunnel {
        return None;
    }
    let what = if scheme.tls() {
        "RTSP tunnelled over HTTPS"
    } else {
        "RTSP tunnelled over HTTP"
    };
    Some(format!(
        "{}:// locations ({what}) are not supported here; refusing to connect rather than fall back to plain RTSP",
        scheme.as_str()
    ))
}

/// Parse a location, refusing schemes this element does not implement
/// (`allow_tunnel`: whether it tunnels over HTTP). The error text never
/// contains the password.
pub fn parse_location(location: &str, allow_tunnel: bool) -> Result<RtspUrl, gst::glib::Error> {
    let url = RtspUrl::parse(location)
        .map_err(|err| gst::glib::Error::new(gst::URIError::BadUri, &err.0))?;
    match unsupported_scheme(url.scheme, allow_tunnel) {
        Some(reason) => Err(gst::glib::Error::new(
            gst::URIError::UnsupportedProtocol,
            &reason,
        )),
        None => Ok(url),
    }
}

/// The `location` setting of both elements: the location last accepted, or
/// why the last one set was refused.
#[derive(Debug, Clone, Default)]
pub struct Location {
    accepted: Option<String>,
    refused: Option<String>,
    /// Whether the element tunnels over HTTP (`rtsph://`, `rtspsh://`).
    allow_tunnel: bool,
}

impl Location {
    pub fn new(allow_tunnel: bool) -> Self {
        Location {
            allow_tunnel,
            ..Location::default()
        }
    }

    /// The accepted location as the `location` property and the URI
    /// handler give it back: as set, except that user and password are
    /// left out. A value read back ends up in `gst-launch-1.0 -v` output,
    /// `property-notify` bus messages (and their debug log lines) and
    /// application logs; the credentials stay in use all the same. All
    /// of the userinfo goes, not just the password: `rtsp://user@host`
    /// set again would override `user-id`/`user-pw` with an empty
    /// password.
    pub fn get(&self) -> Option<String> {
        let location = self.accepted.as_deref()?;
        Some(match parse_location(location, self.allow_tunnel) {
            Ok(url) if url.credentials.is_some() => without_userinfo(&url),
            _ => location.to_string(),
        })
    }

    /// Set a new location (`None` unsets it), checked now so that mistakes
    /// show up when set. Nothing changes while a session runs. A refused
    /// location unsets the previous one: starting then fails with the
    /// reason instead of quietly playing the old URL (in plaintext, for a
    /// user who just asked for TLS).
    pub fn set(
        &mut self,
        session_running: bool,
        location: Option<&str>,
    ) -> Result<(), gst::glib::Error> {
        if session_running {
            return Err(gst::glib::Error::new(
                gst::URIError::BadState,
                "Changing the location is only possible in NULL or READY",
            ));
        }
        let checked = location
            .map(|l| parse_location(l, self.allow_tunnel))
            .transpose();
        self.accepted = None;
        self.refused = None;
        match checked {
            Ok(_) => {
                self.accepted = location.map(str::to_string);
                Ok(())
            }
            Err(err) => {
                self.refused = Some(err.message().to_string());
                Err(err)
            }
        }
    }

    /// The URL to start a session with; the error never contains the
    /// password.
    pub fn url(&self) -> Result<RtspUrl, gst::ErrorMessage> {
        if let Some(reason) = &self.refused {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                ("The location was refused: {reason}")
            ));
        }
        let location = self
            .accepted
            .as_deref()
            .ok_or_else(|| gst::error_msg!(gst::ResourceError::NotFound, ("No location set")))?;
        parse_location(location, self.allow_tunnel).map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ("Invalid location: {}", err.message())
            )
        })
    }
}

/// `url` as a location without user and password: its scheme as given
/// (`rtspt` stays `rtspt`), host, port and path as the request line has
/// them.
fn without_userinfo(url: &RtspUrl) -> String {
    let request_url = url.request_url();
    let rest = request_url
        .split_once("://")
        .map_or(request_url, |(_, rest)| rest);
    format!("{}://{rest}", url.scheme.as_str())
}

/// A redirect target (3xx `Location`, server REDIRECT request) as a URL to
/// connect to: a server must not steer the client into a scheme it would
/// speak in plaintext either. Into an HTTP tunnel only from one
/// (`allow_tunnel`).
pub fn redirect_url(target: &str, allow_tunnel: bool) -> Result<RtspUrl, ClientError> {
    parse_location(target, allow_tunnel).map_err(|err| {
        ClientError::new(
            ErrorKind::Redirect,
            format!("Bad redirect target: {}", err.message()),
        )
    })
}

/// `protocols` narrowed by the scheme: rtspt:// allows TCP only, rtspu://
/// UDP only.
pub fn protocols_for_scheme(
    url: &RtspUrl,
    protocols: &[Protocol],
) -> Result<Vec<Protocol>, gst::ErrorMessage> {
    let mut allowed = protocols.to_vec();
    if url.scheme.forces_tcp() {
        allowed.retain(|p| *p == Protocol::Tcp);
    } else if url.scheme.forces_udp() {
        allowed.retain(|p| *p != Protocol::Tcp);
    }
    if allowed.is_empty() {
        return Err(gst::error_msg!(
            gst::ResourceError::Settings,
            [
                "The {} scheme allows none of the protocols '{}'",
                url.scheme.as_str(),
                protocols_to_string(protocols)
            ]
        ));
    }
    Ok(allowed)
}

/// Credentials from the `user-id`/`user-pw` properties.
pub fn credentials(user_id: Option<&str>, user_pw: Option<&str>) -> Option<Credentials> {
    user_id.map(|user| Credentials {
        user: user.to_string(),
        password: user_pw.unwrap_or_default().to_string(),
    })
}

/// The `extra-http-request-headers` structure as (name, value) pairs; fields
/// that are not strings are skipped.
pub fn extra_headers(structure: Option<&gst::Structure>) -> Vec<(String, String)> {
    structure
        .map(|s| {
            s.iter()
                .filter_map(|(name, value)| {
                    value.get::<String>().ok().map(|v| (name.to_string(), v))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_keep_priority_order() {
        assert_eq!(
            parse_protocols("tcp,udp", true).unwrap(),
            vec![Protocol::Tcp, Protocol::Udp]
        );
        assert_eq!(
            parse_protocols("udp-mcast+udp+tcp", true).unwrap(),
            vec![Protocol::UdpMulticast, Protocol::Udp, Protocol::Tcp]
        );
        assert_eq!(parse_protocols(" TCP ", true).unwrap(), vec![Protocol::Tcp]);
        assert_eq!(
            parse_protocols("udp,udp", true).unwrap(),
            vec![Protocol::Udp]
        );
        assert!(parse_protocols("tpc", true).is_err());
        assert!(parse_protocols("", true).is_err());
        assert!(parse_protocols("udp-mcast", false).is_err());
        assert_eq!(
            protocols_to_string(&parse_protocols("udp,udp-mcast,tcp", true).unwrap()),
            "udp,udp-mcast,tcp"
        );
    }

    #[test]
    fn http_tunnel_schemes_are_refused() {
        for scheme in ["rtsph", "rtspsh", "RTSPH"] {
            let text = format!("{scheme}://admin:s3cret@127.0.0.1:8554/x");
            let err = parse_location(&text, false).unwrap_err();
            assert!(err.matches(gst::URIError::UnsupportedProtocol), "{err}");
            assert!(
                err.message()
                    .contains(&format!("{}://", scheme.to_ascii_lowercase())),
                "{err}"
            );
            assert!(!err.message().contains("s3cret"), "{err}");
            assert!(redirect_url(&text, false).is_err());
            assert!(parse_location(&text, true).is_ok());

            // The refusal replaces a location set before.
            let mut location = Location::default();
            location.set(false, Some("rtsp://127.0.0.1/ok")).unwrap();
            assert!(location.set(false, Some(&text)).is_err());
            assert_eq!(location.get(), None);
            let err = location.url().unwrap_err();
            let text = format!("{err:?}");
            assert!(text.contains("not supported"), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
        }
        for scheme in URI_PROTOCOLS {
            assert!(parse_location(&format!("{scheme}://h/x"), false).is_ok());
        }
    }

    #[test]
    fn location_setting() {
        let mut location = Location::default();
        assert!(location.url().is_err());
        location
            .set(false, Some("rtsp://u:pw@127.0.0.1/x"))
            .unwrap();
        // Read back without the credentials, used with them.
        assert_eq!(location.get().as_deref(), Some("rtsp://127.0.0.1/x"));
        let url = location.url().unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.credentials.unwrap().password, "pw");
        let err = location.set(true, Some("rtsp://other/x")).unwrap_err();
        assert!(err.matches(gst::URIError::BadState));
        assert_eq!(location.get().as_deref(), Some("rtsp://127.0.0.1/x"));
        let err = location.set(false, Some("http://h/x")).unwrap_err();
        assert!(err.matches(gst::URIError::BadUri));
        assert!(location.url().is_err());
        location.set(false, None).unwrap();
        assert_eq!(location.get(), None);
    }

    #[test]
    fn location_reads_back_without_userinfo() {
        let mut location = Location::default();
        for (set, read) in [
            // Without credentials: exactly as set.
            (
                "RTSP://Cam.local:8554/a/b?x=1",
                "RTSP://Cam.local:8554/a/b?x=1",
            ),
            ("rtspt://[::1]/x", "rtspt://[::1]/x"),
            // With them: scheme, host, port and path kept.
            (
                "rtspt://u:s3cret@[::1]:8554/a?b=1",
                "rtspt://[::1]:8554/a?b=1",
            ),
            ("rtsp://u:p@ss w0rd@10.0.0.1/live", "rtsp://10.0.0.1/live"),
            ("rtsp://u:p%40ss@h/live", "rtsp://h/live"),
            ("rtspu://just-user@h:554/x", "rtspu://h:554/x"),
        ] {
            location.set(false, Some(set)).unwrap();
            assert_eq!(location.get().as_deref(), Some(read), "{set}");
        }
    }

    #[test]
    fn scheme_narrows_protocols() {
        let all = [Protocol::Udp, Protocol::Tcp];
        let tcp_only = RtspUrl::parse("rtspt://127.0.0.1/x").unwrap();
        assert_eq!(
            protocols_for_scheme(&tcp_only, &all).unwrap(),
            vec![Protocol::Tcp]
        );
        let udp_only = RtspUrl::parse("rtspu://127.0.0.1/x").unwrap();
        assert_eq!(
            protocols_for_scheme(&udp_only, &all).unwrap(),
            vec![Protocol::Udp]
        );
        assert!(protocols_for_scheme(&udp_only, &[Protocol::Tcp]).is_err());
    }
}
