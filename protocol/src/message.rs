//! RTSP message model, serializer and a tolerant streaming framer.
//!
//! The model follows RFC 2326 section 6/7 (RTSP 1.0) and RFC 7826 section 8
//! (RTSP 2.0): a start line, `Name: value` headers, an empty line and an
//! optional body whose length comes from `Content-Length`. Interleaved binary
//! data (RFC 2326 section 10.12, RFC 7826 section 14) shares the same TCP
//! stream: `$`, a channel byte, a 16-bit big-endian length and the payload.
//!
//! [`Framer`] turns a byte stream into [`Message`]s. It is written for real
//! cameras rather than for the RFC grammar: see `docs/QUIRKS.md` and
//! the comments at each tolerance below. It never panics on any input and
//! never buffers more than the configured [`Limits`] for one message.

use crate::text::trim;
use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Default limit on the size of a start line plus its header block: a
/// header line that never ends (or 10 000 short ones) is refused once this
/// much is buffered, so one message never holds more than 64 KiB of head.
/// Real answers are below 4 KiB (README, "Limits").
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default limit on the number of header lines in one message; cameras
/// send about 10 (README, "Limits").
pub const DEFAULT_MAX_HEADERS: usize = 128;
/// Default limit on the body size of one text message, checked against
/// `Content-Length` before any of the body is read (so
/// `Content-Length: 99999999999` fails at once) and against what a body
/// read until close has accumulated. An SDP is a few KiB (README, "Limits").
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Largest payload an interleaved frame can carry (16-bit length field).
pub const MAX_INTERLEAVED_PAYLOAD: usize = u16::MAX as usize;

/// Size limits the [`Framer`] enforces on each text message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Start line plus all header lines, line endings included.
    pub max_header_bytes: usize,
    /// Number of header lines (continuation lines do not count).
    pub max_headers: usize,
    /// Body size, whether announced by `Content-Length` or read until close.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Protocol version of a start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `RTSP/1.0` (RFC 2326).
    Rtsp10,
    /// `RTSP/2.0` (RFC 7826).
    Rtsp20,
}

impl Version {
    /// The canonical spelling used on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::Rtsp10 => "RTSP/1.0",
            Version::Rtsp20 => "RTSP/2.0",
        }
    }

    /// Parses a version token tolerantly: the protocol name is compared
    /// case-insensitively (`rtsp/1.0` is seen from some embedded servers) and
    /// only the major number is significant (`RTSP/1` and `RTSP/1.1` map to
    /// 1.0, since no 1.x other than 1.0 exists).
    pub fn parse(s: &str) -> Option<Self> {
        let (proto, number) = s.trim().split_once('/')?;
        if !proto.trim().eq_ignore_ascii_case("RTSP") {
            return None;
        }
        let number = number.trim();
        let major = number.split('.').next().unwrap_or(number).trim();
        match major {
            "1" => Some(Version::Rtsp10),
            "2" => Some(Version::Rtsp20),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the leading ASCII digits of `s` (after trimming) as a `u64`.
/// Returns `None` if there are no digits or the number overflows.
fn parse_leading_u64(s: &str) -> Option<u64> {
    let s = trim(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..digits)?.parse().ok()
}

/// Ordered list of header fields.
///
/// Names keep the spelling they were received or set with; look-ups compare
/// names case-insensitively (RFC 2326 section 4.2, and cameras really do send
/// `Cseq:` or `content-length:`). Values are stored trimmed of surrounding
/// spaces and tabs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Value of the first header called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Values of all headers called `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header called `name` (case-insensitive) is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, replacing every existing header of that name.
    /// The new value takes the place of the first existing one, so header
    /// order is kept stable when a request is re-sent with a new `CSeq`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = trim(&value.into()).to_owned();
        match self
            .fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(first) => {
                let mut index = 0;
                self.fields.retain(|(n, _)| {
                    let keep = index <= first || !n.eq_ignore_ascii_case(name);
                    index += 1;
                    keep
                });
                if let Some(field) = self.fields.get_mut(first) {
                    *field = (name.to_owned(), value);
                }
            }
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    /// Adds a header at the end, keeping existing ones of the same name.
    pub fn append(&mut self, name: &str, value: impl Into<String>) {
        let value = trim(&value.into()).to_owned();
        self.fields.push((name.to_owned(), value));
    }

    /// Removes every header called `name` (case-insensitive).
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// All headers in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of header fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no header fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The `CSeq` value, parsed tolerantly: any name case (`Cseq`, `CSEQ`),
    /// surrounding whitespace (`CSeq: 1 `) and trailing junk after the digits
    /// are accepted, because cameras echo all of these.
    pub fn cseq(&self) -> Option<u32> {
        self.get_all("CSeq")
            .find_map(parse_leading_u64)
            .and_then(|n| u32::try_from(n).ok())
    }

    /// Appends `text` to the value of the last header (continuation line,
    /// RFC 2326 section 4.2 via RFC 822 folding). Returns false if there is
    /// no header to continue.
    fn continue_last(&mut self, text: &str) -> bool {
        let Some((_, value)) = self.fields.last_mut() else {
            return false;
        };
        let text = trim(text);
        if !text.is_empty() {
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(text);
        }
        true
    }
}

/// Replaces CR and LF so that user-supplied text can never end a line early
/// and inject headers into a serialized message.
fn push_sanitized(out: &mut Vec<u8>, text: &str) {
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// Writes headers, the automatic `Content-Length`, the empty line and body.
fn write_headers_and_body(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    for (name, value) in headers.iter() {
        // Content-Length is always derived from the body so it can never
        // disagree with it (a mismatch desynchronises the peer's framer).
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        push_sanitized(out, name);
        out.extend_from_slice(b": ");
        push_sanitized(out, value);
        out.extend_from_slice(b"\r\n");
    }
    // An empty body gets `Content-Length: 0` when a `Content-Type` is
    // there: without it a response announcing SDP has its body read until
    // the connection closes (see `Framer`), swallowing what follows (found
    // by fuzzing).
    if !body.is_empty() || headers.contains("Content-Type") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// An RTSP request (RFC 2326 section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method name as sent, e.g. `DESCRIBE`.
    pub method: String,
    /// Request-URI, e.g. `rtsp://cam/stream` or `*`.
    pub uri: String,
    /// Protocol version of the request line.
    pub version: Version,
    /// Header fields in order.
    pub headers: Headers,
    /// Body (for example SDP for ANNOUNCE, parameters for GET_PARAMETER).
    pub body: Vec<u8>,
}

impl Request {
    /// An RTSP/1.0 request without headers or body.
    pub fn new(method: &str, uri: &str) -> Self {
        Self {
            method: method.to_owned(),
            uri: uri.to_owned(),
            version: Version::Rtsp10,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serializes to wire format: `METHOD uri RTSP/1.0\r\n`, the headers,
    /// an empty line and the body. `Content-Length` is written from the body
    /// length when the body is non-empty; any `Content-Length` in
    /// [`Request::headers`] is ignored. CR and LF inside the method, URI,
    /// names or values are replaced by spaces.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        push_sanitized(&mut out, &self.method);
        out.push(b' ');
        push_sanitized(&mut out, &self.uri);
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(&mut out, &self.headers, &self.body);
        out
    }
}

/// An RTSP response (RFC 2326 section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Protocol version of the status line.
    pub version: Version,
    /// Status code, e.g. 200.
    pub status: u16,
    /// Reason phrase as received; may be empty.
    pub reason: String,
    /// Header fields in order.
    pub headers: Headers,
    /// Body (for example SDP in a DESCRIBE response).
    pub body: Vec<u8>,
}

impl Response {
    /// An RTSP/1.0 response without headers or body.
    pub fn new(status: u16, reason: &str) -> Self {
        Self {
            version: Version::Rtsp10,
            status,
            reason: reason.to_owned(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serializes to wire format: `RTSP/1.0 200 OK\r\n`, the headers, an
    /// empty line and the body, with `Content-Length` handled as in
    /// [`Request::serialize`].
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(format!(" {:03} ", self.status).as_bytes());
        push_sanitized(&mut out, &self.reason);
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(&mut out, &self.headers, &self.body);
        out
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The standard reason phrase for an RTSP status code (RFC 2326 section
/// 7.1.1, plus the codes RFC 7826 section 17 added), or `"Unknown"`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        250 => "Low on Storage Space",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        451 => "Parameter Not Understood",
        452 => "Conference Not Found",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        456 => "Header Field Not Valid for Resource",
        457 => "Invalid Range",
        458 => "Parameter Is Read-Only",
        459 => "Aggregate operation not allowed",
        460 => "Only aggregate operation allowed",
        461 => "Unsupported transport",
        462 => "Destination unreachable",
        463 => "Destination Prohibited",
        464 => "Data Transport Not Ready Yet",
        465 => "Notification Reason Unknown",
        466 => "Key Management Error",
        470 => "Connection Authorization Required",
        471 => "Connection Credentials Not Accepted",
        472 => "Failure to Establish Secure Connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "RTSP Version not supported",
        551 => "Option not supported",
        553 => "Proxy Unavailable",
        _ => "Unknown",
    }
}

/// One unit read from an RTSP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request (servers send some to clients: ANNOUNCE, GET_PARAMETER,
    /// SET_PARAMETER, OPTIONS, REDIRECT, PLAY_NOTIFY).
    Request(Request),
    /// A response to one of our requests.
    Response(Response),
    /// An interleaved binary frame (RFC 2326 section 10.12). The payload
    /// shares the framer's receive buffer; no copy is made.
    Data {
        /// Interleaved channel number.
        channel: u8,
        /// RTP or RTCP packet (or whatever the channel carries).
        payload: Bytes,
    },
}

/// Why the framer gave up on the stream. After any error the framer has
/// dropped its buffer and starts afresh; the connection is normally closed
/// since the stream position is no longer trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// The start line plus headers exceeded [`Limits::max_header_bytes`]
    /// without an empty line.
    HeaderTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// More header lines than [`Limits::max_headers`].
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// A body (or an interleaved payload to encode) larger than allowed.
    BodyTooLarge {
        /// Announced or accumulated size (saturated at `usize::MAX`).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Input that cannot be framed, such as a `Content-Length` without
    /// digits or a connection closed in the middle of a message.
    Malformed(String),
    /// A status line of another protocol (`HTTP/1.1 200 OK`): the peer is
    /// no RTSP server (or the URL names a web port), and nothing it sends
    /// will ever be an RTSP answer. Holds the protocol token (ASCII, at
    /// most 16 bytes).
    NotRtsp(String),
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::HeaderTooLarge { limit } => {
                write!(f, "RTSP header block exceeds {limit} bytes")
            }
            FramingError::TooManyHeaders { limit } => {
                write!(f, "RTSP message has more than {limit} headers")
            }
            FramingError::BodyTooLarge { size, limit } => {
                write!(
                    f,
                    "RTSP body of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            FramingError::Malformed(why) => write!(f, "malformed RTSP message: {why}"),
            FramingError::NotRtsp(protocol) => write!(
                f,
                "the server answered with a {protocol} status line: it does not speak RTSP"
            ),
        }
    }
}

impl std::error::Error for FramingError {}

/// Appends an interleaved frame (RFC 2326 section 10.12): `$`, `channel`,
/// the payload length as a big-endian `u16`, then `payload`.
///
/// A payload longer than 65535 bytes cannot be represented; truncating it
/// would corrupt the packet, so nothing is written and
/// [`FramingError::BodyTooLarge`] is returned.
pub fn encode_interleaved(
    channel: u8,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FramingError> {
    let Ok(len) = u16::try_from(payload.len()) else {
        return Err(FramingError::BodyTooLarge {
            size: payload.len(),
            limit: MAX_INTERLEAVED_PAYLOAD,
        });
    };
    out.reserve(4 + payload.len());
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// A parsed start line.
#[derive(Debug)]
enum StartLine {
    Request {
        method: String,
        uri: String,
        version: Version,
    },
    Response {
        version: Version,
        status: u16,
        reason: String,
    },
}

/// Start line and headers of the message being read.
#[derive(Debug)]
struct Head {
    start: StartLine,
    headers: Headers,
    /// Bytes of start line and header lines consumed so far.
    header_bytes: usize,
    /// Header lines seen so far (continuations excluded).
    header_count: usize,
}

impl Head {
    fn into_message(self, body: Vec<u8>) -> Message {
        match self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => Message::Request(Request {
                method,
                uri,
                version,
                headers: self.headers,
                body,
            }),
            StartLine::Response {
                version,
                status,
                reason,
            } => Message::Response(Response {
                version,
                status,
                reason,
                headers: self.headers,
                body,
            }),
        }
    }
}

/// Where the framer is inside the stream. Every state remembers how far it
/// has already scanned so that a push of a few bytes costs only those bytes.
#[derive(Debug)]
enum State {
    /// Between messages: skipping separators, or waiting for a complete
    /// interleaved frame (its header is re-read in O(1)).
    Idle,
    /// Reading a line that may be a start line. `scan` bytes from the buffer
    /// start are already examined; `token_done` once the first token (method
    /// or version) has ended with a space.
    StartLine { scan: usize, token_done: bool },
    /// Reading header lines; the buffer starts at the current line.
    Headers { head: Head, scan: usize },
    /// Waiting for `len` body bytes.
    Body { head: Head, len: usize },
    /// The body runs until the connection closes (response with a
    /// `Content-Type` but no `Content-Length`).
    UntilClose { head: Head },
}

/// Bytes allowed in the first token of a start line: RFC 2326 `token`
/// characters (method names) plus `/` and `.` (for `RTSP/1.0`).
fn is_start_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
                | b'/'
        )
}

/// Control bytes that cannot appear in a start line; seeing one means we are
/// looking at binary garbage (for example the middle of an RTP packet after a
/// desynchronisation), not at text.
fn is_binary_byte(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7f
}

/// Separators tolerated between messages: RFC 2326 does not allow any, but
/// servers send a stray CRLF after a body or before a `$` frame
/// (docs/QUIRKS.md, "Stray line ends between messages"; seen from several
/// Hikvision and Dahua firmwares), sometimes a bare LF.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Strips the line terminator (`\n`, or `\r\n`) from a raw line.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a start line, or returns `None` if the line is not one.
fn parse_start_line(line: &[u8]) -> Option<StartLine> {
    let text = String::from_utf8_lossy(strip_eol(line));
    let text = trim(&text);
    let (first, rest) = match text.split_once([' ', '\t']) {
        Some((first, rest)) => (first, trim(rest)),
        None => (text, ""),
    };
    let is_version = first
        .as_bytes()
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"RTSP/"));
    if is_version {
        // Status line: `RTSP/1.0 200 OK`. Some servers omit the reason
        // phrase entirely (`RTSP/1.0 200`), which RFC 2326 section 7.1 does
        // not allow but costs nothing to accept.
        let version = Version::parse(first)?;
        let (code, reason) = match rest.split_once([' ', '\t']) {
            Some((code, reason)) => (code, trim(reason)),
            None => (rest, ""),
        };
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let status = code.parse().ok()?;
        return Some(StartLine::Response {
            version,
            status,
            reason: reason.to_owned(),
        });
    }
    // Request line: `METHOD uri RTSP/1.0`. The version is the last token;
    // everything between method and version is the URI (a few devices put
    // unescaped spaces in it).
    if first.is_empty() || !first.bytes().all(is_start_token_byte) {
        return None;
    }
    let (uri, version) = rest.rsplit_once([' ', '\t'])?;
    let version = Version::parse(version)?;
    let uri = trim(uri);
    if uri.is_empty() {
        return None;
    }
    Some(StartLine::Request {
        method: first.to_owned(),
        uri: uri.to_owned(),
        version,
    })
}

/// The protocol token of a status line of another protocol
/// (`HTTP/1.1 200 OK`, `SIP/2.0 404 Not Found`): a `NAME/digit...` token
/// followed by a three-digit code. RTSP's own lines never get here
/// (`parse_start_line` took them). Not garbage to skip: an HTTP server
/// answers every request that way, and waiting would only end at the
/// response timeout.
fn foreign_status_line(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(strip_eol(line));
    let mut words = trim(&text).split([' ', '\t']).filter(|w| !w.is_empty());
    let (protocol, code) = (words.next()?, words.next()?);
    let (name, version) = protocol.split_once('/')?;
    let is_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic());
    let is_version = version.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let is_code = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    (is_name && is_version && is_code).then(|| protocol.chars().take(16).collect())
}

/// Parses a `Content-Length` value: trimmed, leading digits only (some
/// servers append junk such as `512 bytes`), saturating on overflow so that
/// a huge value is reported as too large rather than as malformed.
fn parse_content_length(value: &str) -> Option<usize> {
    let value = trim(value);
    let digits: Vec<u8> = value.bytes().take_while(u8::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.iter().fold(0usize, |acc, d| {
        acc.saturating_mul(10).saturating_add(usize::from(d - b'0'))
    }))
}

/// Incremental RTSP stream framer (sans-IO).
///
/// Push received bytes with [`Framer::push`] and call
/// [`Framer::next_message`] until it returns `Ok(None)`. At end of stream
/// call [`Framer::finish`] until it returns `Ok(None)`.
///
/// Tolerated deviations (see docs/QUIRKS.md, "Framing and headers"):
/// bare `\n` and mixed line endings; header names in any case; values with
/// surrounding spaces and tabs; stray whitespace between messages and before
/// `$` frames; header lines without a colon (skipped); continuation lines;
/// a missing reason phrase; a response body that ends at connection close
/// (no `Content-Length` but a `Content-Type`); garbage between messages
/// (skipped to the next line end or `$`, see [`Framer::discarded_bytes`]).
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    buf: BytesMut,
    state: State,
    discarded: u64,
}

impl Framer {
    /// A framer enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: BytesMut::with_capacity(8 * 1024),
            state: State::Idle,
            discarded: 0,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The receive buffer, so a driver can read from the socket straight
    /// into it (e.g. `AsyncReadExt::read_buf`) without an extra copy. Only
    /// append to it; bytes already in it must not be modified or removed.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Number of bytes received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Total bytes skipped as garbage between messages so far; a driver can
    /// log a warning when this grows.
    pub fn discarded_bytes(&self) -> u64 {
        self.discarded
    }

    /// Whether the current message is a response whose body ends only when
    /// the connection closes. A driver that gets no close may decide, after
    /// a timeout, to call [`Framer::finish`] to take the body read so far.
    pub fn awaiting_close(&self) -> bool {
        matches!(self.state, State::UntilClose { .. })
    }

    /// Returns the next complete message, `Ok(None)` if more bytes are
    /// needed. After an error the buffer is dropped and the framer restarts
    /// from an empty state.
    pub fn next_message(&mut self) -> Result<Option<Message>, FramingError> {
        let result = self.advance_state();
        if result.is_err() {
            self.reset();
        }
        result
    }

    /// To be called at end of stream, repeatedly until it returns
    /// `Ok(None)`. Returns messages still complete in the buffer, then
    /// completes a response whose body ends at connection close. A message
    /// cut short by the close is reported as [`FramingError::Malformed`];
    /// a header block cut before its empty line is completed if nothing else
    /// (a body) is missing, since some servers close right after the last
    /// header line.
    pub fn finish(&mut self) -> Result<Option<Message>, FramingError> {
        if let Some(message) = self.next_message()? {
            return Ok(Some(message));
        }
        match std::mem::replace(&mut self.state, State::Idle) {
            State::UntilClose { head } => {
                let body = self.buf.split().to_vec();
                Ok(Some(head.into_message(body)))
            }
            State::Idle if self.buf.is_empty() => Ok(None),
            State::Headers { mut head, .. } => {
                let line = self.buf.split();
                let result = self
                    .header_line(&mut head, &line)
                    .and_then(|_| self.end_of_headers(head));
                match result {
                    Ok(Some(message)) => Ok(Some(message)),
                    Ok(None) if self.awaiting_close() => {
                        // Content-Type without Content-Length: the body is
                        // empty since the stream ended with the headers.
                        self.finish()
                    }
                    Ok(None) => {
                        let pending = self.buf.len();
                        self.reset();
                        Err(FramingError::Malformed(format!(
                            "connection closed before the body ({pending} bytes pending)"
                        )))
                    }
                    Err(e) => {
                        self.reset();
                        Err(e)
                    }
                }
            }
            _ => {
                let pending = self.buf.len();
                self.reset();
                Err(FramingError::Malformed(format!(
                    "connection closed inside a message ({pending} bytes pending)"
                )))
            }
        }
    }

    fn reset(&mut self) {
        self.state = State::Idle;
        self.buf.clear();
    }

    fn discard(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.discarded = self.discarded.saturating_add(n as u64);
    }

    /// Runs the state machine until a message is complete or input runs out.
    fn advance_state(&mut self) -> Result<Option<Message>, FramingError> {
        loop {
            match std::mem::replace(&mut self.state, State::Idle) {
                State::Idle => {
                    let separators = self.buf.iter().take_while(|&&b| is_separator(b)).count();
                    self.buf.advance(separators);
                    let Some(&first) = self.buf.first() else {
                        return Ok(None);
                    };
                    if first == b'$' {
                        return Ok(self.interleaved());
                    } else if is_start_token_byte(first) {
                        self.state = State::StartLine {
                            scan: 0,
                            token_done: false,
                        };
                    } else {
                        self.skip_garbage();
                    }
                }
                State::StartLine { scan, token_done } => {
                    self.start_line(scan, token_done)?;
                    if matches!(self.state, State::StartLine { .. }) {
                        return Ok(None);
                    }
                }
                State::Headers { mut head, scan } => {
                    let from = scan.min(self.buf.len());
                    let rest = self.buf.get(from..).unwrap_or_default();
                    let Some(offset) = rest.iter().position(|&b| b == b'\n') else {
                        if head.header_bytes.saturating_add(self.buf.len())
                            > self.limits.max_header_bytes
                        {
                            return Err(FramingError::HeaderTooLarge {
                                limit: self.limits.max_header_bytes,
                            });
                        }
                        let scan = self.buf.len();
                        self.state = State::Headers { head, scan };
                        return Ok(None);
                    };
                    let line_len = from + offset + 1;
                    head.header_bytes = head.header_bytes.saturating_add(line_len);
                    if head.header_bytes > self.limits.max_header_bytes {
                        return Err(FramingError::HeaderTooLarge {
                            limit: self.limits.max_header_bytes,
                        });
                    }
                    let line = self.buf.split_to(line_len);
                    if self.header_line(&mut head, &line)? {
                        self.state = State::Headers { head, scan: 0 };
                    } else if let Some(message) = self.end_of_headers(head)? {
                        return Ok(Some(message));
                    }
                }
                State::Body { head, len } => {
                    if self.buf.len() < len {
                        // Make room once for the whole body instead of
                        // growing the buffer push by push.
                        self.buf.reserve(len - self.buf.len());
                        self.state = State::Body { head, len };
                        return Ok(None);
                    }
                    let body = self.buf.split_to(len).to_vec();
                    return Ok(Some(head.into_message(body)));
                }
                State::UntilClose { head } => {
                    if self.buf.len() > self.limits.max_body_bytes {
                        return Err(FramingError::BodyTooLarge {
                            size: self.buf.len(),
                            limit: self.limits.max_body_bytes,
                        });
                    }
                    self.state = State::UntilClose { head };
                    return Ok(None);
                }
            }
        }
    }

    /// Returns an interleaved frame if it is complete; the buffer starts
    /// with `$`.
    fn interleaved(&mut self) -> Option<Message> {
        let &[_, channel, hi, lo, ..] = self.buf.as_ref() else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return None;
        }
        self.buf.advance(4);
        let payload = self.buf.split_to(len).freeze();
        Some(Message::Data { channel, payload })
    }

    /// Drops bytes that cannot start a message: through the next line end,
    /// or up to the next `$` (which may start an interleaved frame). The
    /// first buffered byte is neither a separator, `$` nor a token byte, so
    /// at least one byte is always dropped.
    fn skip_garbage(&mut self) {
        match self.buf.iter().position(|&b| b == b'\n' || b == b'$') {
            Some(i) if self.buf.get(i) == Some(&b'$') => self.discard(i.max(1)),
            Some(i) => self.discard(i + 1),
            None => self.discard(self.buf.len()),
        }
    }

    /// Continues reading a candidate start line and sets the next state:
    /// still `StartLine` if more bytes are needed, `Headers` once a start
    /// line is parsed, `Idle` after dropping text that is not a start line.
    fn start_line(&mut self, mut scan: usize, token_done: bool) -> Result<(), FramingError> {
        if !token_done {
            let from = scan.min(self.buf.len());
            let rest = self.buf.get(from..).unwrap_or_default();
            match rest.iter().position(|&b| !is_start_token_byte(b)) {
                None => {
                    return self.wait_start_line(self.buf.len(), false);
                }
                Some(offset) => {
                    let pos = from + offset;
                    if matches!(self.buf.get(pos), Some(b' ' | b'\t')) {
                        scan = pos + 1;
                    } else {
                        // A lone word, or a word running into binary: not a
                        // start line. Drop the word; whatever follows (maybe
                        // a `$` frame) is looked at afresh.
                        self.discard(pos);
                        self.state = State::Idle;
                        return Ok(());
                    }
                }
            }
        }
        let from = scan.min(self.buf.len());
        let rest = self.buf.get(from..).unwrap_or_default();
        let Some(offset) = rest.iter().position(|&b| b == b'\n' || is_binary_byte(b)) else {
            return self.wait_start_line(self.buf.len(), true);
        };
        let pos = from + offset;
        if self.buf.get(pos) != Some(&b'\n') {
            // Binary inside the line: this was not text. Drop up to the
            // binary byte and let the garbage skipper resynchronise.
            self.discard(pos);
            self.state = State::Idle;
            return Ok(());
        }
        let line_len = pos + 1;
        if line_len > self.limits.max_header_bytes {
            return Err(FramingError::HeaderTooLarge {
                limit: self.limits.max_header_bytes,
            });
        }
        let parsed = self.buf.get(..pos).and_then(parse_start_line);
        match parsed {
            Some(start) => {
                self.buf.advance(line_len);
                self.state = State::Headers {
                    head: Head {
                        start,
                        headers: Headers::new(),
                        header_bytes: line_len,
                        header_count: 0,
                    },
                    scan: 0,
                };
            }
            None => {
                if let Some(protocol) = self.buf.get(..pos).and_then(foreign_status_line) {
                    return Err(FramingError::NotRtsp(protocol));
                }
                // A text line that is neither a request nor a status line
                // (e.g. leftovers of a body with a wrong Content-Length).
                self.discard(line_len);
                self.state = State::Idle;
            }
        }
        Ok(())
    }

    /// Stays in the start-line state after scanning up to `scan`, unless the
    /// line is already longer than the header limit.
    fn wait_start_line(&mut self, scan: usize, token_done: bool) -> Result<(), FramingError> {
        if self.buf.len() > self.limits.max_header_bytes {
            return Err(FramingError::HeaderTooLarge {
                limit: self.limits.max_header_bytes,
            });
        }
        self.state = State::StartLine { scan, token_done };
        Ok(())
    }

    /// Processes one raw header line (terminator included or not). Returns
    /// `Ok(false)` if it is the empty line that ends the header block.
    fn header_line(&self, head: &mut Head, raw: &[u8]) -> Result<bool, FramingError> {
        let line = strip_eol(raw);
        // A line of only spaces/tabs is taken as the empty line: a folded
        // empty continuation would carry nothing anyway.
        if line.iter().all(|&b| is_separator(b)) {
            return Ok(false);
        }
        let text = String::from_utf8_lossy(line);
        if text.starts_with([' ', '\t']) {
            // Continuation line (RFC 2326 section 4.2 inherits RFC 822
            // folding). Nothing to continue right after the start line:
            // drop it.
            head.headers.continue_last(&text);
            return Ok(true);
        }
        // A header line without a colon carries nothing we can use; some
        // cameras emit banner lines in the header block. Skip it.
        let Some((name, value)) = text.split_once(':') else {
            return Ok(true);
        };
        let name = trim(name);
        if name.is_empty() {
            return Ok(true);
        }
        head.header_count += 1;
        if head.header_count > self.limits.max_headers {
            return Err(FramingError::TooManyHeaders {
                limit: self.limits.max_headers,
            });
        }
        head.headers.append(name, value);
        Ok(true)
    }

    /// Decides how the body is delimited once the header block is complete.
    /// Returns the message if it has no body, otherwise sets the body state.
    fn end_of_headers(&mut self, head: Head) -> Result<Option<Message>, FramingError> {
        if let Some(value) = head.headers.get("Content-Length") {
            let len = parse_content_length(value).ok_or_else(|| {
                FramingError::Malformed(format!("invalid Content-Length {value:?}"))
            })?;
            if len > self.limits.max_body_bytes {
                return Err(FramingError::BodyTooLarge {
                    size: len,
                    limit: self.limits.max_body_bytes,
                });
            }
            if len == 0 {
                return Ok(Some(head.into_message(Vec::new())));
            }
            self.state = State::Body { head, len };
            return Ok(None);
        }
        let is_response = matches!(head.start, StartLine::Response { .. });
        let sdp_body = head
            .headers
            .get("Content-Type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("sdp"));
        if is_response && sdp_body {
            // docs/QUIRKS.md, "Body until close": some camera web stacks
            // answer DESCRIBE HTTP/1.0-style, delimiting the SDP by closing
            // the connection.
            // Only SDP bodies get this: a GET_PARAMETER answer with
            // `Content-Type: text/parameters` and no length must not
            // swallow the interleaved data that follows it.
            self.state = State::UntilClose { head };
            return Ok(None);
        }
        // No Content-Length and nothing announcing a body: RFC 2326
        // section 4.3 says the body length is then zero.
        Ok(Some(head.into_message(Vec::new())))
    }
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(data: &[u8]) -> Vec<Message> {
        let mut framer = Framer::default();
        framer.push(data);
        drain(&mut framer)
    }

    fn drain(framer: &mut Framer) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = framer.next_message().expect("framing error") {
            out.push(m);
        }
        out
    }

    fn response(m: &Message) -> &Response {
        match m {
            Message::Response(r) => r,
            other => panic!("expected response, got {other:?}"),
        }
    }

    fn request(m: &Message) -> &Request {
        match m {
            Message::Request(r) => r,
            other => panic!("expected request, got {other:?}"),
        }
    }

    const LIVE555_DESCRIBE: &[u8] = b"RTSP/1.0 200 OK\r\n\
CSeq: 2\r\n\
Date: Tue, Jan 07 2025 10:00:00 GMT\r\n\
Content-Base: rtsp://192.168.1.10:8554/stream/\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 393\r\n\
\r\n\
v=0\r\n\
o=- 1736244000000000 1 IN IP4 192.168.1.10\r\n\
s=H.264 Video, streamed by the LIVE555 Media Server\r\n\
i=stream\r\n\
t=0 0\r\n\
a=tool:LIVE555 Streaming Media v2023.01.19\r\n\
a=type:broadcast\r\n\
a=control:*\r\n\
a=range:npt=0-\r\n\
a=x-qt-text-nam:H.264 Video, streamed by the LIVE555 Media Server\r\n\
a=x-qt-text-inf:stream\r\n\
m=video 0 RTP/AVP 96\r\n\
c=IN IP4 0.0.0.0\r\n\
b=AS:500\r\n\
a=rtpmap:96 H264/90000\r\n\
a=control:track1\r\n";

    fn live555_body() -> &'static [u8] {
        let start = LIVE555_DESCRIBE
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        &LIVE555_DESCRIBE[start..]
    }

    #[test]
    fn non_sdp_response_without_length_has_empty_body() {
        // A keep-alive answer with a Content-Type but no Content-Length,
        // followed by interleaved data: the data must not become its body.
        let msgs = frame_all(
            b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Type: text/parameters\r\n\r\n$\x00\x00\x02ab",
        );
        assert_eq!(msgs.len(), 2);
        assert!(matches!(&msgs[1], Message::Data { channel: 0, payload } if &payload[..] == b"ab"));
    }

    #[test]
    fn limits_default() {
        let l = Limits::default();
        assert_eq!(l.max_header_bytes, 64 * 1024);
        assert_eq!(l.max_headers, 128);
        assert_eq!(l.max_body_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn version_parse_and_str() {
        assert_eq!(Version::parse("RTSP/1.0"), Some(Version::Rtsp10));
        assert_eq!(Version::parse("rtsp/1.0"), Some(Version::Rtsp10));
        assert_eq!(Version::parse(" RTSP/2.0 "), Some(Version::Rtsp20));
        assert_eq!(Version::parse("RTSP/1"), Some(Version::Rtsp10));
        assert_eq!(Version::parse("HTTP/1.1"), None);
        assert_eq!(Version::parse("RTSP/3.0"), None);
        assert_eq!(Version::parse("RTSP"), None);
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::Rtsp10.as_str(), "RTSP/1.0");
        assert_eq!(Version::Rtsp20.to_string(), "RTSP/2.0");
    }

    #[test]
    fn headers_basic_operations() {
        let mut h = Headers::new();
        assert!(h.is_empty());
        h.append("CSeq", "1");
        h.append("Session", " abc \t");
        h.append("X-Foo", "a");
        h.append("x-foo", "b");
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("session"), Some("abc"));
        assert_eq!(h.get("X-FOO"), Some("a"));
        assert_eq!(h.get_all("x-Foo").collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(h.contains("cseq"));
        h.set("X-FOO", "c");
        assert_eq!(h.get_all("x-foo").collect::<Vec<_>>(), vec!["c"]);
        // Replaced value keeps the position of the first one.
        let names: Vec<_> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["CSeq", "Session", "X-FOO"]);
        h.set("New", "1");
        assert_eq!(h.iter().last(), Some(("New", "1")));
        h.remove("session");
        assert_eq!(h.get("Session"), None);
        assert_eq!(h.len(), 3);
        assert!(!h.is_empty());
    }

    #[test]
    fn headers_cseq_tolerant() {
        let mut h = Headers::new();
        assert_eq!(h.cseq(), None);
        h.append("Cseq", "1 ");
        assert_eq!(h.cseq(), Some(1));
        let mut h = Headers::new();
        h.append("CSEQ", "\t42\t");
        assert_eq!(h.cseq(), Some(42));
        let mut h = Headers::new();
        h.append("CSeq", "abc");
        assert_eq!(h.cseq(), None);
        let mut h = Headers::new();
        h.append("CSeq", "99999999999");
        assert_eq!(h.cseq(), None);
    }

    #[test]
    fn serialize_request() {
        let mut r = Request::new("DESCRIBE", "rtsp://cam/stream");
        r.headers.append("CSeq", "2");
        r.headers.append("Accept", "application/sdp");
        assert_eq!(
            r.serialize(),
            b"DESCRIBE rtsp://cam/stream RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n"
        );
    }

    #[test]
    fn serialize_sets_content_length_from_body() {
        let mut r = Request::new("SET_PARAMETER", "rtsp://cam/stream");
        r.headers.append("CSeq", "5");
        r.headers.append("Content-Length", "999");
        r.headers.append("Content-Type", "text/parameters");
        r.body = b"foo: bar\r\n".to_vec();
        let s = r.serialize();
        assert_eq!(
            s,
            b"SET_PARAMETER rtsp://cam/stream RTSP/1.0\r\nCSeq: 5\r\nContent-Type: text/parameters\r\nContent-Length: 10\r\n\r\nfoo: bar\r\n"
        );
        // Empty body: a stale Content-Length is replaced by 0 (kept because
        // a Content-Type is there), none is written without a type.
        r.body.clear();
        let s = String::from_utf8(r.serialize()).unwrap();
        assert!(s.contains("Content-Length: 0\r\n") && !s.contains("999"));
        r.headers.remove("Content-Type");
        let s = String::from_utf8(r.serialize()).unwrap();
        assert!(!s.to_ascii_lowercase().contains("content-length"));
    }

    /// Found by fuzzing: a response announcing SDP with an empty body was
    /// written without `Content-Length`, so a framer read the body until
    /// the connection closed and swallowed the next messages.
    #[test]
    fn empty_body_with_content_type_keeps_content_length() {
        let mut response = Response::new(200, "OK");
        response.headers.set("Content-Type", "application/sdp");
        let mut wire = response.serialize();
        assert!(String::from_utf8_lossy(&wire).contains("Content-Length: 0\r\n"));
        encode_interleaved(0, b"rtp", &mut wire).unwrap();
        let mut framer = Framer::default();
        framer.push(&wire);
        let Ok(Some(Message::Response(got))) = framer.next_message() else {
            panic!("no response");
        };
        assert_eq!((got.status, got.body.len()), (200, 0));
        assert!(matches!(
            framer.next_message(),
            Ok(Some(Message::Data { .. }))
        ));
    }

    #[test]
    fn serialize_prevents_header_injection() {
        let mut r = Request::new("OPTIONS", "rtsp://cam/\r\nEvil: 1");
        r.headers.append("User-Agent", "x\r\nEvil: 2");
        let s = String::from_utf8(r.serialize()).unwrap();
        assert_eq!(s.matches("\r\n").count(), 3);
        assert!(!s.contains("\nEvil"));
    }

    #[test]
    fn serialize_response_and_roundtrip() {
        let mut r = Response::new(200, "OK");
        r.headers.append("CSeq", "3");
        r.headers.append("Content-Type", "text/parameters");
        r.body = b"a: b\r\n".to_vec();
        let bytes = r.serialize();
        assert!(bytes.starts_with(b"RTSP/1.0 200 OK\r\nCSeq: 3\r\n"));
        let msgs = frame_all(&bytes);
        assert_eq!(msgs.len(), 1);
        let got = response(&msgs[0]);
        assert_eq!(got.body, r.body);
        assert_eq!(got.status, 200);
        assert_eq!(got.headers.get("Content-Length"), Some("6"));
        assert!(got.is_success());

        let mut req = Request::new("ANNOUNCE", "rtsp://h/x");
        req.version = Version::Rtsp20;
        req.headers.append("CSeq", "1");
        req.body = b"v=0\r\n".to_vec();
        let msgs = frame_all(&req.serialize());
        let got = request(&msgs[0]);
        assert_eq!(got.method, "ANNOUNCE");
        assert_eq!(got.uri, "rtsp://h/x");
        assert_eq!(got.version, Version::Rtsp20);
        assert_eq!(got.body, req.body);
    }

    #[test]
    fn response_is_success() {
        assert!(Response::new(200, "OK").is_success());
        assert!(Response::new(250, "Low on Storage Space").is_success());
        assert!(!Response::new(302, "Found").is_success());
        assert!(!Response::new(401, "Unauthorized").is_success());
        assert!(!Response::new(199, "").is_success());
    }

    #[test]
    fn reason_phrases() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(454), "Session Not Found");
        assert_eq!(reason_phrase(461), "Unsupported transport");
        assert_eq!(reason_phrase(551), "Option not supported");
        assert_eq!(reason_phrase(405), "Method Not Allowed");
        assert_eq!(reason_phrase(501), "Not Implemented");
        assert_eq!(reason_phrase(299), "Unknown");
        assert_eq!(reason_phrase(0), "Unknown");
    }

    #[test]
    fn encode_interleaved_frames() {
        let mut out = Vec::new();
        encode_interleaved(1, b"abc", &mut out).unwrap();
        assert_eq!(out, b"$\x01\x00\x03abc");
        encode_interleaved(2, &[], &mut out).unwrap();
        assert_eq!(&out[7..], b"$\x02\x00\x00");
        let big = vec![0u8; 65535];
        let mut out = Vec::new();
        encode_interleaved(0, &big, &mut out).unwrap();
        assert_eq!(out.len(), 65539);
        assert_eq!(&out[..4], b"$\x00\xff\xff");
        let too_big = vec![0u8; 65536];
        let mut out = vec![7];
        assert_eq!(
            encode_interleaved(0, &too_big, &mut out),
            Err(FramingError::BodyTooLarge {
                size: 65536,
                limit: 65535
            })
        );
        assert_eq!(out, vec![7], "nothing written on error");
    }

    #[test]
    fn live555_describe_response() {
        let msgs = frame_all(LIVE555_DESCRIBE);
        assert_eq!(msgs.len(), 1);
        let r = response(&msgs[0]);
        assert_eq!(r.version, Version::Rtsp10);
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.headers.cseq(), Some(2));
        assert_eq!(
            r.headers.get("content-base"),
            Some("rtsp://192.168.1.10:8554/stream/")
        );
        assert_eq!(r.body.len(), 393);
        assert_eq!(r.body, live555_body());
    }

    #[test]
    fn hikvision_style_setup_and_play_with_interleaved() {
        // Recorded-style exchange of a Hikvision-like camera over TCP: the
        // PLAY response is immediately followed by RTP and RTCP frames in
        // the same segment.
        let mut stream = Vec::new();
        stream.extend_from_slice(
            b"RTSP/1.0 200 OK\r\n\
CSeq: 4\r\n\
Session:       1273222592;timeout=60\r\n\
Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=7bf26d1a;mode=\"play\"\r\n\
Date:  Tue, Jan 07 2025 10:00:00 GMT\r\n\
\r\n\
RTSP/1.0 200 OK\r\n\
CSeq: 5\r\n\
Session:       1273222592\r\n\
RTP-Info: url=rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast;seq=25418;rtptime=2867235632\r\n\
Date:  Tue, Jan 07 2025 10:00:00 GMT\r\n\
\r\n",
        );
        encode_interleaved(0, &[0x80, 0x60, 0x63, 0x4a], &mut stream).unwrap();
        encode_interleaved(1, &[0x80, 0xc8, 0x00, 0x06], &mut stream).unwrap();
        let msgs = frame_all(&stream);
        assert_eq!(msgs.len(), 4);
        let setup = response(&msgs[0]);
        assert_eq!(setup.headers.get("Session"), Some("1273222592;timeout=60"));
        assert_eq!(setup.headers.cseq(), Some(4));
        let play = response(&msgs[1]);
        assert_eq!(play.headers.cseq(), Some(5));
        assert!(
            play.headers
                .get("rtp-info")
                .unwrap()
                .ends_with("rtptime=2867235632")
        );
        assert_eq!(
            msgs[2],
            Message::Data {
                channel: 0,
                payload: Bytes::from_static(&[0x80, 0x60, 0x63, 0x4a])
            }
        );
        assert_eq!(
            msgs[3],
            Message::Data {
                channel: 1,
                payload: Bytes::from_static(&[0x80, 0xc8, 0x00, 0x06])
            }
        );
    }

    #[test]
    fn quirk_header_name_case_and_value_whitespace() {
        // docs/QUIRKS.md, "Header case and padding": header names in odd
        // case (`Cseq:`), values with leading or trailing spaces and tabs.
        let msgs = frame_all(
            b"RTSP/1.0 200 OK\r\nCseq: 1 \r\nsession:        708345999;timeout=60\t\r\nCONTENT-LENGTH:\t3 \r\n\r\nabc",
        );
        let r = response(&msgs[0]);
        assert_eq!(r.headers.cseq(), Some(1));
        assert_eq!(r.headers.get("Session"), Some("708345999;timeout=60"));
        assert_eq!(r.body, b"abc");
    }

    #[test]
    fn quirk_bare_lf_line_endings() {
        // docs/QUIRKS.md, "Bare LF line endings": `\n` instead of `\r\n`,
        // here mixed with CRLF in one message.
        let msgs = frame_all(
            b"RTSP/1.0 200 OK\nCSeq: 3\r\nPublic: OPTIONS, DESCRIBE\nContent-Length: 2\n\nhiRTSP/1.0 404 Not Found\nCSeq: 4\n\n",
        );
        assert_eq!(msgs.len(), 2);
        let r = response(&msgs[0]);
        assert_eq!(r.headers.get("Public"), Some("OPTIONS, DESCRIBE"));
        assert_eq!(r.body, b"hi");
        let r = response(&msgs[1]);
        assert_eq!(r.status, 404);
        assert_eq!(r.reason, "Not Found");
        assert_eq!(r.headers.cseq(), Some(4));
    }

    #[test]
    fn quirk_stray_crlf_before_interleaved_frame() {
        // docs/QUIRKS.md, "Stray line ends between messages": `\r\n`
        // between a response and a `$`-framed interleaved packet.
        let msgs =
            frame_all(b"RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n\r\n$\x00\x00\x02hi\r\n\n$\x01\x00\x01x");
        assert_eq!(msgs.len(), 3);
        assert_eq!(response(&msgs[0]).headers.cseq(), Some(5));
        assert_eq!(
            msgs[1],
            Message::Data {
                channel: 0,
                payload: Bytes::from_static(b"hi")
            }
        );
        assert_eq!(
            msgs[2],
            Message::Data {
                channel: 1,
                payload: Bytes::from_static(b"x")
            }
        );
    }

    #[test]
    fn quirk_describe_without_content_type() {
        // docs/QUIRKS.md, "DESCRIBE without Content-Type": the framer
        // must still deliver the body announced by Content-Length.
        let msgs = frame_all(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\n");
        assert_eq!(response(&msgs[0]).body, b"v=0\r\n");
    }

    #[test]
    fn quirk_body_ends_at_connection_close() {
        // docs/QUIRKS.md, "Body until close": no `Content-Length`, the body
        // ends at connection close (DESCRIBE answered HTTP/1.0-style).
        let mut framer = Framer::default();
        framer.push(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n");
        assert_eq!(framer.next_message(), Ok(None));
        assert!(framer.awaiting_close());
        framer.push(b"o=- 0 0 IN IP4 0.0.0.0\r\n");
        assert_eq!(framer.next_message(), Ok(None));
        let msg = framer.finish().unwrap().unwrap();
        let r = response(&msg);
        assert_eq!(r.body, b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\n");
        assert_eq!(framer.finish(), Ok(None));
        assert_eq!(framer.buffered(), 0);
        assert!(!framer.awaiting_close());
    }

    #[test]
    fn body_until_close_respects_limit() {
        let mut framer = Framer::new(Limits {
            max_body_bytes: 10,
            ..Limits::default()
        });
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Type: application/sdp\r\n\r\n0123456789");
        assert_eq!(framer.next_message(), Ok(None));
        framer.push(b"x");
        assert_eq!(
            framer.next_message(),
            Err(FramingError::BodyTooLarge {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn no_content_length_no_content_type_means_empty_body() {
        let msgs =
            frame_all(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 8\r\n\r\n");
        assert_eq!(msgs.len(), 2);
        assert!(response(&msgs[0]).body.is_empty());
        assert_eq!(response(&msgs[1]).headers.cseq(), Some(8));
    }

    #[test]
    fn request_without_content_length_has_empty_body() {
        // A server-to-client request with Content-Type but no length is not
        // read until close: only responses get that treatment.
        let msgs = frame_all(
            b"GET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 9\r\nContent-Type: text/parameters\r\n\r\n",
        );
        assert_eq!(msgs.len(), 1);
        let r = request(&msgs[0]);
        assert_eq!(r.method, "GET_PARAMETER");
        assert!(r.body.is_empty());
    }

    #[test]
    fn server_requests_parsed() {
        let msgs = frame_all(
            b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nANNOUNCE rtsp://h/a RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 3\r\n\r\nv=0",
        );
        assert_eq!(msgs.len(), 2);
        assert_eq!(request(&msgs[0]).uri, "*");
        assert_eq!(request(&msgs[1]).body, b"v=0");
    }

    #[test]
    fn status_line_variants() {
        let msgs = frame_all(b"rtsp/1.0 200\r\n\r\nRTSP/1.0  401  Unauthorized  \r\n\r\nRTSP/2.0 200 Fine Thanks\r\n\r\n");
        assert_eq!(msgs.len(), 3);
        let r = response(&msgs[0]);
        assert_eq!((r.status, r.reason.as_str()), (200, ""));
        let r = response(&msgs[1]);
        assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
        let r = response(&msgs[2]);
        assert_eq!(r.version, Version::Rtsp20);
        assert_eq!(r.reason, "Fine Thanks");
    }

    #[test]
    fn continuation_lines_and_colonless_lines() {
        let msgs = frame_all(
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS,\r\n DESCRIBE,\r\n\tPLAY\r\nthis line has no colon\r\nServer: x\r\n\r\n",
        );
        let r = response(&msgs[0]);
        assert_eq!(r.headers.get("Public"), Some("OPTIONS, DESCRIBE, PLAY"));
        assert_eq!(r.headers.get("Server"), Some("x"));
        assert_eq!(r.headers.len(), 3);
    }

    #[test]
    fn continuation_right_after_start_line_is_dropped() {
        let msgs = frame_all(b"RTSP/1.0 200 OK\r\n  folded\r\nCSeq: 1\r\n\r\n");
        let r = response(&msgs[0]);
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.headers.cseq(), Some(1));
    }

    #[test]
    fn garbage_before_messages_is_skipped() {
        let mut data = Vec::new();
        data.extend_from_slice(b"\x00\x01\x02 junk\r\n");
        data.extend_from_slice(b"hello world\r\n"); // text, not a start line
        data.extend_from_slice(b"lonelyword\r\n");
        data.extend_from_slice(b"\xff\xfe$\x00\x00\x01z");
        data.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n");
        let mut framer = Framer::default();
        framer.push(&data);
        let msgs = drain(&mut framer);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0],
            Message::Data {
                channel: 0,
                payload: Bytes::from_static(b"z")
            }
        );
        assert_eq!(response(&msgs[1]).headers.cseq(), Some(1));
        assert!(framer.discarded_bytes() > 0);
    }

    #[test]
    fn status_line_of_another_protocol_is_an_error() {
        for line in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.0 404 Not Found\r\n",
            b"SIP/2.0 401 Unauthorized\n",
        ] {
            let mut framer = Framer::default();
            framer.push(line);
            assert!(
                matches!(framer.next_message(), Err(FramingError::NotRtsp(_))),
                "{line:?}"
            );
        }
        // Text that merely contains a slash stays garbage to skip.
        let msgs = frame_all(b"a/b c d\r\nHTTP/x 200\r\nRTSP/1.0 200 OK\r\n\r\n");
        assert_eq!(msgs.len(), 1);
    }

    #[test]
    fn binary_inside_candidate_line_resyncs_on_dollar() {
        // Text-looking bytes running into binary and then a `$` frame.
        let msgs = frame_all(b"RTP \x01\x02garbage$\x02\x00\x02okRTSP/1.0 200 OK\r\n\r\n");
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0],
            Message::Data {
                channel: 2,
                payload: Bytes::from_static(b"ok")
            }
        );
    }

    #[test]
    fn garbage_without_terminator_does_not_accumulate() {
        let mut framer = Framer::default();
        for _ in 0..1000 {
            framer.push(&[0u8; 1000]);
            assert_eq!(framer.next_message(), Ok(None));
            assert_eq!(framer.buffered(), 0);
        }
        assert_eq!(framer.discarded_bytes(), 1_000_000);
    }

    #[test]
    fn header_too_large() {
        let limits = Limits {
            max_header_bytes: 100,
            ..Limits::default()
        };
        // Unterminated header line.
        let mut framer = Framer::new(limits);
        framer.push(b"RTSP/1.0 200 OK\r\nX-Long: ");
        assert_eq!(framer.next_message(), Ok(None));
        framer.push(&[b'a'; 100]);
        assert_eq!(
            framer.next_message(),
            Err(FramingError::HeaderTooLarge { limit: 100 })
        );
        assert_eq!(framer.buffered(), 0);
        // Many complete lines.
        let mut framer = Framer::new(limits);
        framer.push(b"RTSP/1.0 200 OK\r\n");
        for _ in 0..20 {
            framer.push(b"X-A: 1\r\n");
        }
        assert_eq!(
            framer.next_message(),
            Err(FramingError::HeaderTooLarge { limit: 100 })
        );
        // Endless start line.
        let mut framer = Framer::new(limits);
        framer.push(b"DESCRIBE ");
        framer.push(&[b'a'; 200]);
        assert_eq!(
            framer.next_message(),
            Err(FramingError::HeaderTooLarge { limit: 100 })
        );
        // Endless first token.
        let mut framer = Framer::new(limits);
        framer.push(&[b'A'; 101]);
        assert_eq!(
            framer.next_message(),
            Err(FramingError::HeaderTooLarge { limit: 100 })
        );
        // Exactly at the limit is fine.
        let mut framer = Framer::new(limits);
        let mut msg = b"RTSP/1.0 200 OK\r\nX: ".to_vec();
        msg.resize(98, b'a');
        msg.extend_from_slice(b"\n\n");
        assert_eq!(msg.len(), 100);
        framer.push(&msg);
        assert!(matches!(
            framer.next_message(),
            Ok(Some(Message::Response(_)))
        ));
    }

    #[test]
    fn too_many_headers() {
        let mut framer = Framer::new(Limits {
            max_headers: 3,
            ..Limits::default()
        });
        framer.push(b"RTSP/1.0 200 OK\r\nA: 1\r\nB: 2\r\n C\r\nD: 3\r\n\r\n");
        assert!(framer.next_message().unwrap().is_some());
        framer.push(b"RTSP/1.0 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
        assert_eq!(
            framer.next_message(),
            Err(FramingError::TooManyHeaders { limit: 3 })
        );
    }

    #[test]
    fn body_too_large_and_bad_content_length() {
        let mut framer = Framer::new(Limits {
            max_body_bytes: 10,
            ..Limits::default()
        });
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Length: 11\r\n\r\n");
        assert_eq!(
            framer.next_message(),
            Err(FramingError::BodyTooLarge {
                size: 11,
                limit: 10
            })
        );
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n");
        assert_eq!(
            framer.next_message(),
            Err(FramingError::BodyTooLarge {
                size: usize::MAX,
                limit: 10
            })
        );
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n");
        assert!(matches!(
            framer.next_message(),
            Err(FramingError::Malformed(_))
        ));
        // Leading digits with junk after are accepted.
        framer.push(b"RTSP/1.0 200 OK\r\nContent-length:  3 bytes\r\n\r\nabc");
        assert_eq!(
            response(&framer.next_message().unwrap().unwrap()).body,
            b"abc"
        );
    }

    #[test]
    fn content_length_zero() {
        let msgs = frame_all(b"RTSP/1.0 200 OK\r\nContent-Type: text/parameters\r\nContent-Length: 0\r\n\r\n$\x00\x00\x00");
        assert_eq!(msgs.len(), 2);
        assert!(response(&msgs[0]).body.is_empty());
        assert_eq!(
            msgs[1],
            Message::Data {
                channel: 0,
                payload: Bytes::new()
            }
        );
    }

    #[test]
    fn finish_variants() {
        // Clean EOF.
        let mut framer = Framer::default();
        assert_eq!(framer.finish(), Ok(None));
        // Truncated body.
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        assert_eq!(framer.next_message(), Ok(None));
        assert!(matches!(framer.finish(), Err(FramingError::Malformed(_))));
        assert_eq!(framer.finish(), Ok(None));
        // Truncated interleaved frame.
        framer.push(b"$\x00\x00\x10abc");
        assert!(matches!(framer.finish(), Err(FramingError::Malformed(_))));
        // Header block cut before the empty line: completed.
        framer.push(b"RTSP/1.0 200 OK\r\nCSeq: 9\r\nSession: 1");
        let msg = framer.finish().unwrap().unwrap();
        assert_eq!(response(&msg).headers.get("session"), Some("1"));
        assert_eq!(framer.finish(), Ok(None));
        // Complete messages still buffered are returned first.
        framer.push(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n");
        assert_eq!(
            response(&framer.finish().unwrap().unwrap()).headers.cseq(),
            Some(1)
        );
        assert_eq!(
            response(&framer.finish().unwrap().unwrap()).headers.cseq(),
            Some(2)
        );
        assert_eq!(framer.finish(), Ok(None));
        // Trailing whitespace only.
        framer.push(b"\r\n\r\n");
        assert_eq!(framer.finish(), Ok(None));
        // Headers cut with Content-Type only: empty body.
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Type: application/sdp\r\n");
        assert!(response(&framer.finish().unwrap().unwrap()).body.is_empty());
        // Headers cut with Content-Length > 0: missing body.
        framer.push(b"RTSP/1.0 200 OK\r\nContent-Length: 4\r\n");
        assert!(matches!(framer.finish(), Err(FramingError::Malformed(_))));
    }

    #[test]
    fn interleaved_payload_is_zero_copy() {
        let mut framer = Framer::default();
        let mut frame = Vec::new();
        encode_interleaved(0, &[9u8; 1400], &mut frame).unwrap();
        framer.push(&frame);
        let base = framer.buf.as_ptr() as usize;
        let Some(Message::Data { payload, .. }) = framer.next_message().unwrap() else {
            panic!("expected data");
        };
        assert_eq!(payload.as_ptr() as usize, base + 4);
        assert_eq!(payload.len(), 1400);
    }

    #[test]
    fn buffer_mut_appends_are_seen() {
        let mut framer = Framer::default();
        framer.buffer_mut().extend_from_slice(b"$\x03\x00\x01q");
        assert_eq!(
            framer.next_message(),
            Ok(Some(Message::Data {
                channel: 3,
                payload: Bytes::from_static(b"q")
            }))
        );
    }

    fn mixed_stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(b"\r\n");
        s.extend_from_slice(LIVE555_DESCRIBE);
        encode_interleaved(0, &[0x80, 0x60, 0, 1, 2, 3, b'\n', b'$', b'\r'], &mut s).unwrap();
        s.extend_from_slice(b"RTSP/1.0 200 OK\nCseq: 6 \nSession: abc; timeout=30\n\n");
        s.extend_from_slice(b"\r\n");
        encode_interleaved(1, &[0x81, 0xc8, 0, 6], &mut s).unwrap();
        s.extend_from_slice(b"SET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 4\r\nX: a\r\n b\r\n\r\nab\r\n");
        s.extend_from_slice(b"garbage line\r\n");
        encode_interleaved(2, &[], &mut s).unwrap();
        s.extend_from_slice(b"RTSP/1.0 454 Session Not Found\r\nCSeq: 7\r\n\r\n");
        let mut big = vec![0u8; 3000];
        for (i, b) in big.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        encode_interleaved(0, &big, &mut s).unwrap();
        s
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once() {
        let stream = mixed_stream();
        let at_once = frame_all(&stream);
        assert_eq!(at_once.len(), 8, "{at_once:#?}");
        let mut framer = Framer::default();
        let mut one_by_one = Vec::new();
        for b in &stream {
            framer.push(std::slice::from_ref(b));
            one_by_one.extend(drain(&mut framer));
        }
        assert_eq!(framer.buffered(), 0);
        assert_eq!(one_by_one, at_once);
    }

    #[test]
    fn every_split_point_equals_all_at_once() {
        let stream = mixed_stream();
        let at_once = frame_all(&stream);
        for split in 0..=stream.len() {
            let mut framer = Framer::default();
            framer.push(&stream[..split]);
            let mut got = drain(&mut framer);
            framer.push(&stream[split..]);
            got.extend(drain(&mut framer));
            assert_eq!(got, at_once, "split at {split}");
        }
    }

    /// Small deterministic generator so the robustness tests need no
    /// dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn random_input_never_panics_and_stays_bounded() {
        let limits = Limits {
            max_header_bytes: 512,
            max_headers: 8,
            max_body_bytes: 1024,
        };
        let alphabet: &[u8] =
            b"RTSP/1.0 200 OK\r\n$:;Content-Length: 12\r\nContent-Type\t\x00\x01\xff";
        let mut rng = Lcg(1);
        for _ in 0..200 {
            let mut framer = Framer::new(limits);
            for _ in 0..200 {
                let n = (rng.next() % 64) as usize;
                let chunk: Vec<u8> = (0..n)
                    .map(|_| {
                        if rng.next().is_multiple_of(4) {
                            rng.next() as u8
                        } else {
                            alphabet[(rng.next() as usize) % alphabet.len()]
                        }
                    })
                    .collect();
                framer.push(&chunk);
                while let Ok(Some(_)) = framer.next_message() {}
                // Bounded by the largest of the limits (plus one push and
                // a maximal interleaved frame).
                assert!(framer.buffered() <= 65539 + 64);
            }
            let _ = framer.finish();
        }
    }

    #[test]
    fn random_splits_of_mixed_stream() {
        let stream = mixed_stream();
        let at_once = frame_all(&stream);
        let mut rng = Lcg(42);
        for _ in 0..200 {
            let mut framer = Framer::default();
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < stream.len() {
                let n = 1 + (rng.next() as usize % 700);
                let end = (pos + n).min(stream.len());
                framer.push(&stream[pos..end]);
                got.extend(drain(&mut framer));
                pos = end;
            }
            assert_eq!(got, at_once);
        }
    }

    #[test]
    fn framing_error_display() {
        assert_eq!(
            FramingError::HeaderTooLarge { limit: 5 }.to_string(),
            "RTSP header block exceeds 5 bytes"
        );
        assert!(
            FramingError::Malformed("x".into())
                .to_string()
                .contains('x')
        );
        let e: Box<dyn std::error::Error> = Box::new(FramingError::TooManyHeaders { limit: 1 });
        assert!(e.to_string().contains('1'));
    }
}
