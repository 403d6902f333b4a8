//! Errors of the network driver, carrying enough context (method, CSeq, RTSP
//! status) for the elements to post precise element errors.

use std::fmt;

/// What went wrong, by kind, so the elements can choose the GStreamer error
/// domain and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// TCP connect failed (refused, unreachable, DNS).
    Connect,
    /// No answer within the configured timeout.
    Timeout,
    /// The server closed the connection.
    Closed,
    /// Reading or writing the socket failed.
    Io,
    /// The server sent something that cannot be framed or parsed.
    Protocol,
    /// The server answered with a non-success status.
    Status { code: u16, reason: String },
    /// Authentication failed (wrong credentials or no usable scheme).
    NotAuthorized { code: u16, reason: String },
    /// Too many redirects.
    Redirect,
    /// The stream description has nothing this client can play.
    NoUsableStream,
    /// SRTP cannot be set up: no usable key management (MIKEY).
    Decrypt,
    /// Local resources (ports, sockets) could not be set up.
    Resource,
    /// The operation was cancelled because the element is stopping.
    Cancelled,
    /// The server's TLS certificate was refused (see `tls_verify`).
    Certificate,
    /// A setting cannot be used (e.g. an unreadable certificate file).
    Settings,
}

/// A driver error with the request context it happened in.
#[derive(Debug, Clone)]
pub struct ClientError {
    pub kind: ErrorKind,
    pub method: Option<String>,
    pub cseq: Option<u32>,
    pub message: String,
}

impl ClientError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClientError {
            kind,
            method: None,
            cseq: None,
            message: message.into(),
        }
    }

    pub fn with_request(mut self, method: &str, cseq: u32) -> Self {
        self.method = Some(method.to_string());
        self.cseq = Some(cseq);
        self
    }

    /// The RTSP status of a server answer, if this error came from one.
    pub fn status(&self) -> Option<(u16, &str)> {
        match &self.kind {
            ErrorKind::Status { code, reason } | ErrorKind::NotAuthorized { code, reason } => {
                Some((*code, reason.as_str()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some((code, reason)) = self.status() {
            write!(f, " (RTSP {code} {reason})")?;
        }
        if let (Some(method), Some(cseq)) = (&self.method, self.cseq) {
            write!(f, " [{method}, CSeq {cseq}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(err: std::io::Error) -> Self {
        ClientError::new(ErrorKind::Io, format!("I/O error: {err}"))
    }
}
