//! An HTTP proxy on the way to an HTTP-tunnelled server (C `rtspsrc`'s
//! `proxy`, `proxy-id`, `proxy-pw`): the setting's syntax, Basic proxy
//! credentials, and the `CONNECT` tunnel used under TLS.

use std::time::Duration;

use base64::Engine as _;
use rtspclient_protocol::url::RtspUrl;
use tokio::io::BufReader;
use tokio::net::TcpStream;

use super::error::{ClientError, ErrorKind};
use super::http_tunnel::{read_head, write_all};

/// An HTTP proxy to reach the server through.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpProxy {
    /// `host:port` of the proxy.
    pub host_port: String,
    /// `user:password` for `Proxy-Authorization: Basic`.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for HttpProxy {
    /// Without the password (`ClientConfig` is logged at DEBUG).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxy")
            .field("host_port", &self.host_port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

/// `proxy` as set, without user and password (for reading the setting
/// back), whether or not it parses.
pub fn without_userinfo(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, text),
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    // "user:password" without an `@` would show the password as a port.
    let rest = match rest.split_once(':') {
        Some((host, port)) if !port.chars().all(|c| c.is_ascii_digit() || c == '/') => host,
        _ => rest,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest.to_string(),
    }
}

impl HttpProxy {
    /// The `proxy` property: `[http://][user:password@]host[:port]`
    /// (port 3128 when not given, as C `rtspsrc`); `id`/`password` (the
    /// `proxy-id`/`proxy-pw` properties) win over user and password in it.
    pub fn parse(
        text: &str,
        id: Option<&str>,
        password: Option<&str>,
    ) -> Result<HttpProxy, String> {
        let rest = text.trim();
        let rest = match rest.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "a {scheme}:// proxy is not supported, only http://"
                ));
            }
            None => rest,
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, host_port) = match rest.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, rest),
        };
        if host_port.is_empty() || host_port.contains('/') {
            return Err("no proxy host".into());
        }
        let has_port = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
                port.parse::<u16>()
                    // Not echoed: without an `@`, "user:password" reads as
                    // host and port.
                    .map_err(|_| "invalid proxy port".to_string())?;
                true
            }
            _ => false,
        };
        let host_port = if has_port {
            host_port.to_string()
        } else {
            format!("{host_port}:3128")
        };
        let (url_user, url_password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, "")))
        {
            Some((user, password)) => (Some(user), Some(password)),
            None => (None, None),
        };
        let user = id.or(url_user).filter(|u| !u.is_empty());
        let credentials = user.map(|user| {
            (
                user.to_string(),
                password.or(url_password).unwrap_or_default().to_string(),
            )
        });
        Ok(HttpProxy {
            host_port,
            credentials,
        })
    }
}

/// Ask the proxy for a byte tunnel to the server (`CONNECT`, RFC 9110
/// section 9.3.6).
pub(super) async fn proxy_connect(
    tcp: TcpStream,
    url: &RtspUrl,
    proxy: &HttpProxy,
    timeout: Duration,
) -> Result<TcpStream, ClientError> {
    let target = url.host_port();
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    push_proxy_authorization(&mut request, Some(proxy));
    request.push_str("\r\n");
    let mut reader = BufReader::new(tcp);
    write_all(&mut reader, request.as_bytes(), timeout).await?;
    let status = read_head(&mut reader, timeout, "the proxy's CONNECT").await?;
    if !(200..300).contains(&status) {
        return Err(proxy_refused(status));
    }
    if !reader.buffer().is_empty() {
        return Err(ClientError::new(
            ErrorKind::Protocol,
            "The proxy sent data before the tunnel was used",
        ));
    }
    Ok(reader.into_inner())
}

fn proxy_refused(status: u16) -> ClientError {
    let kind = if status == 407 {
        ErrorKind::NotAuthorized {
            code: status,
            reason: "Proxy Authentication Required".into(),
        }
    } else {
        ErrorKind::Connect
    };
    ClientError::new(
        kind,
        format!("The HTTP proxy refused the tunnel (HTTP {status})"),
    )
}

pub(super) fn push_proxy_authorization(request: &mut String, proxy: Option<&HttpProxy>) {
    if let Some((user, password)) = proxy.and_then(|p| p.credentials.as_ref()) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_settings_in_the_forms_c_rtspsrc_takes() {
        let plain = HttpProxy::parse("proxy.lan", None, None).unwrap();
        assert_eq!(plain.host_port, "proxy.lan:3128");
        assert_eq!(plain.credentials, None);
        let full = HttpProxy::parse("http://u:p@10.0.0.1:8080/", None, None).unwrap();
        assert_eq!(full.host_port, "10.0.0.1:8080");
        assert_eq!(full.credentials, Some(("u".into(), "p".into())));
        let overridden = HttpProxy::parse("u:p@h:1", Some("id"), Some("pw")).unwrap();
        assert_eq!(overridden.credentials, Some(("id".into(), "pw".into())));
        assert!(HttpProxy::parse("socks5://h:1", None, None).is_err());
        assert!(HttpProxy::parse("h:99999", None, None).is_err());
        assert!(HttpProxy::parse("", None, None).is_err());
        let err = HttpProxy::parse("http://user:s3cret", None, None).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let debug = format!(
            "{:?}",
            HttpProxy::parse("u:s3cret@h:1", None, None).unwrap()
        );
        assert!(!debug.contains("s3cret"), "{debug}");
        for text in [
            "socks5://u:s3cret@h",
            "u:s3cret@h:99999",
            "http://user:s3cret",
            "h:8080",
        ] {
            assert!(!without_userinfo(text).contains("s3cret"), "{text}");
        }
        assert_eq!(without_userinfo("http://u:p@h:8080"), "http://h:8080");
    }
}
