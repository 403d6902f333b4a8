//! Settings handling shared by `rtspsrc2` and `rtspsink`: the `protocols`
//! syntax, what the URL scheme allows, credentials and extra headers.

use rtspclient_protocol::auth::Credentials;
use rtspclient_protocol::url::RtspUrl;

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

/// Check a new `location`/URI before storing it: only while no session
/// runs, and it must parse as an RTSP URL, so mistakes show up when set.
/// The error text never contains the password.
pub fn check_new_location(
    session_running: bool,
    location: Option<&str>,
) -> Result<Option<String>, gst::glib::Error> {
    if session_running {
        return Err(gst::glib::Error::new(
            gst::URIError::BadState,
            "Changing the location is only possible in NULL or READY",
        ));
    }
    if let Some(location) = location {
        RtspUrl::parse(location)
            .map_err(|err| gst::glib::Error::new(gst::URIError::BadUri, &err.0))?;
    }
    Ok(location.map(str::to_string))
}

/// The `location` property as a URL; the error never contains the password.
pub fn location_url(location: Option<&str>) -> Result<RtspUrl, gst::ErrorMessage> {
    let location = location
        .ok_or_else(|| gst::error_msg!(gst::ResourceError::NotFound, ["No location set"]))?;
    RtspUrl::parse(location).map_err(|err| {
        gst::error_msg!(
            gst::ResourceError::NotFound,
            ["Invalid location: {}", err.0]
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
