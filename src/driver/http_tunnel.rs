//! RTSP tunnelled over HTTP (`rtsph://`, `rtspsh://` over TLS): Apple's
//! QuickTime scheme, which gst-rtsp-server, Axis and Hikvision cameras
//! and live555 speak, for networks that let nothing but HTTP through.
//!
//! Two HTTP connections tied by one `x-sessioncookie`: an HTTP `GET`
//! whose endless answer body carries the server's RTSP bytes (responses
//! and interleaved data) unchanged, and an HTTP `POST` whose endless
//! request body carries ours, base64-encoded. The two are bridged to the
//! RTSP connection's socket by a [`super::pump`], so everything above
//! (framing, requests, interleaved RTP/RTCP) is as over plain TCP.
//!
//! With an HTTP proxy both requests go to the proxy with the absolute URL
//! (`GET http://host:port/path HTTP/1.0`) and `Proxy-Authorization: Basic`
//! when a proxy user is set, as C `rtspsrc` does. Over TLS the proxy is
//! asked for a `CONNECT` tunnel first, so that it never sees the content.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use base64::Engine as _;
use rtspclient_protocol::url::RtspUrl;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::error::{ClientError, ErrorKind};
use super::http_proxy::{HttpProxy, proxy_connect, push_proxy_authorization};
use super::tls::{self, TlsOptions};

/// Longest HTTP answer head accepted (the GET answer, a proxy's answer).
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The `Content-Length` of the POST: a large number by convention, since
/// the body never ends (QuickTime sends 32767; servers ignore it).
const POST_CONTENT_LENGTH: u32 = 32767;

/// A byte stream to the server, plain or TLS.
pub trait ServerStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ServerStream for T {}

/// The two halves of an open tunnel: what the server sends (the GET
/// answer's body, with what was read past its head) and where ours go
/// (the POST body, base64-encoded), plus the addresses of the GET
/// connection.
pub struct Tunnel {
    pub from_server: BufReader<Box<dyn ServerStream>>,
    pub to_server: Base64Writer<Box<dyn ServerStream>>,
    pub local_addr: std::net::SocketAddr,
    pub peer_addr: std::net::SocketAddr,
}

/// Everything the tunnel needs besides the URL.
#[derive(Debug, Clone, Copy)]
pub struct TunnelOptions<'a> {
    pub user_agent: &'a str,
    pub proxy: Option<&'a HttpProxy>,
    pub tls: &'a TlsOptions,
    pub timeout: Duration,
}

/// Open both connections of the tunnel, each step within `timeout`.
pub async fn open(url: &RtspUrl, options: &TunnelOptions<'_>) -> Result<Tunnel, ClientError> {
    let cookie = session_cookie()?;
    let (get, local_addr, peer_addr) = connect(url, options).await?;
    let mut get = BufReader::new(get);
    let request = get_request(url, options, &cookie);
    write_all(&mut get, request.as_bytes(), options.timeout).await?;
    let status = read_head(&mut get, options.timeout, "the tunnel's GET").await?;
    check_get_status(status)?;

    let (mut post, _, _) = connect(url, options).await?;
    let request = post_request(url, options, &cookie);
    write_all(&mut post, request.as_bytes(), options.timeout).await?;
    Ok(Tunnel {
        from_server: get,
        to_server: Base64Writer::new(post),
        local_addr,
        peer_addr,
    })
}

/// 22 random characters (the length QuickTime uses), from the system's
/// CSPRNG through rustls' provider: whoever guesses the cookie can send
/// requests into the session.
fn session_cookie() -> Result<String, ClientError> {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| ClientError::new(ErrorKind::Resource, "No random numbers for the tunnel"))?;
    let mut cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    cookie.truncate(22);
    Ok(cookie)
}

/// One TCP connection to the server or the proxy, with TLS when the URL
/// asks for it (through a proxy's CONNECT tunnel).
async fn connect(
    url: &RtspUrl,
    options: &TunnelOptions<'_>,
) -> Result<
    (
        Box<dyn ServerStream>,
        std::net::SocketAddr,
        std::net::SocketAddr,
    ),
    ClientError,
> {
    let first_hop = options
        .proxy
        .map_or_else(|| url.host_port(), |p| p.host_port.clone());
    let tcp = super::connection::tcp_connect(&first_hop, options.timeout).await?;
    let local_addr = tcp.local_addr()?;
    let peer_addr = tcp.peer_addr()?;
    if !url.scheme.tls() {
        return Ok((Box::new(tcp), local_addr, peer_addr));
    }
    let tcp = match options.proxy {
        Some(proxy) => proxy_connect(tcp, url, proxy, options.timeout).await?,
        None => tcp,
    };
    let tls = tls::handshake(tcp, &url.host, options.tls, options.timeout).await?;
    Ok((Box::new(tls), local_addr, peer_addr))
}

/// The request target: origin-form to the server, absolute-form to a
/// proxy (RFC 9112 section 3.2).
fn request_target(url: &RtspUrl, options: &TunnelOptions<'_>) -> String {
    let path = url
        .request_url()
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".to_string());
    match options.proxy {
        Some(_) if !url.scheme.tls() => format!("http://{}{path}", url.host_port()),
        _ => path,
    }
}

fn common_headers(url: &RtspUrl, options: &TunnelOptions<'_>, cookie: &str) -> String {
    let mut headers = format!(
        "Host: {}\r\nUser-Agent: {}\r\nx-sessioncookie: {cookie}\r\n\
         Pragma: no-cache\r\nCache-Control: no-cache\r\n",
        url.host_port(),
        options.user_agent
    );
    if !url.scheme.tls() {
        push_proxy_authorization(&mut headers, options.proxy);
    }
    headers
}

fn get_request(url: &RtspUrl, options: &TunnelOptions<'_>, cookie: &str) -> String {
    format!(
        "GET {} HTTP/1.0\r\n{}Accept: application/x-rtsp-tunnelled\r\n\r\n",
        request_target(url, options),
        common_headers(url, options, cookie)
    )
}

fn post_request(url: &RtspUrl, options: &TunnelOptions<'_>, cookie: &str) -> String {
    format!(
        "POST {} HTTP/1.0\r\n{}Content-Type: application/x-rtsp-tunnelled\r\n\
         Content-Length: {POST_CONTENT_LENGTH}\r\nExpires: Sun, 9 Jan 1972 00:00:00 GMT\r\n\r\n",
        request_target(url, options),
        common_headers(url, options, cookie)
    )
}

fn check_get_status(status: u16) -> Result<(), ClientError> {
    match status {
        200..=299 => Ok(()),
        401 | 403 | 407 => Err(ClientError::new(
            ErrorKind::NotAuthorized {
                code: status,
                reason: "tunnel refused".into(),
            },
            format!("The server refused the HTTP tunnel (HTTP {status})"),
        )),
        404 => Err(ClientError::new(
            ErrorKind::Status {
                code: 404,
                reason: "Not Found".into(),
            },
            "The server has no HTTP tunnel there (HTTP 404)",
        )),
        _ => Err(ClientError::new(
            ErrorKind::Connect,
            format!("The server refused the HTTP tunnel (HTTP {status})"),
        )),
    }
}

pub(super) async fn write_all<W: AsyncWrite + Unpin>(
    stream: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), ClientError> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(ClientError::new(
            ErrorKind::Io,
            format!("Could not send the HTTP tunnel request: {err}"),
        )),
        Err(_) => Err(ClientError::new(
            ErrorKind::Timeout,
            format!("The HTTP tunnel request could not be sent within {timeout:?}"),
        )),
    }
}

/// Read an HTTP answer head (status line and headers, bounded by
/// [`MAX_HEAD_BYTES`] and `timeout`) and return its status code; the bytes
/// after it stay in `reader`.
pub(super) async fn read_head<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    timeout: Duration,
    what: &str,
) -> Result<u16, ClientError> {
    let read = async {
        let mut head = Vec::new();
        loop {
            let before = head.len();
            let n = (&mut *reader)
                .take((MAX_HEAD_BYTES - head.len()) as u64 + 1)
                .read_until(b'\n', &mut head)
                .await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before the answer's head ended",
                ));
            }
            if head.len() > MAX_HEAD_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the answer's head is longer than {MAX_HEAD_BYTES} bytes"),
                ));
            }
            let line = &head[before..];
            if line == b"\r\n" || line == b"\n" {
                return Ok(head);
            }
        }
    };
    let head = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(head)) => head,
        Ok(Err(err)) => {
            return Err(ClientError::new(
                ErrorKind::Protocol,
                format!("Bad answer to {what}: {err}"),
            ));
        }
        Err(_) => {
            return Err(ClientError::new(
                ErrorKind::Timeout,
                format!("No answer to {what} within {timeout:?}"),
            ));
        }
    };
    parse_status(&head).ok_or_else(|| {
        ClientError::new(
            ErrorKind::Protocol,
            format!("The answer to {what} is not HTTP"),
        )
    })
}

/// The status code of an `HTTP/1.x NNN reason` status line.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Writes everything as base64 (the POST body). Each write is encoded on
/// its own, padding included: servers decode the body quad by quad
/// (GLib's streaming decoder, live555) or per received chunk, and either
/// way a padded chunk followed by the next one decodes to the same bytes;
/// a chunk is never held back waiting for more.
pub struct Base64Writer<W> {
    inner: W,
    /// Encoded bytes not yet written, from `written` on.
    pending: String,
    written: usize,
}

impl<W: AsyncWrite + Unpin> Base64Writer<W> {
    fn new(inner: W) -> Self {
        Base64Writer {
            inner,
            pending: String::new(),
            written: 0,
        }
    }

    /// Write out what was encoded and not yet written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Self {
            inner,
            pending,
            written,
        } = self;
        while *written < pending.len() {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, &pending.as_bytes()[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        pending.clear();
        *written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Base64Writer<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        base64::engine::general_purpose::STANDARD.encode_string(buf, &mut self.pending);
        // Accepted: the bytes are encoded; start writing them now. What
        // is left, or an error, comes with the next write or flush (an
        // error here would make the caller send them again).
        let _ = self.poll_pending(cx);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.1 407 Proxy Authentication Required\r\n"),
            Some(407)
        );
        assert_eq!(parse_status(b"RTSP/1.0 200 OK\r\n"), None);
        assert_eq!(parse_status(b"\x16\x03\x01"), None);
    }

    #[test]
    fn each_write_is_whole_base64() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut writer = Base64Writer::new(Vec::new());
            writer.write_all(b"OPTIONS").await.unwrap();
            writer.write_all(b" * RTSP/1.0\r\n").await.unwrap();
            writer.flush().await.unwrap();
            let text = String::from_utf8(writer.inner.clone()).unwrap();
            assert_eq!(text, "T1BUSU9OUw==ICogUlRTUC8xLjANCg==");
        });
    }
}
