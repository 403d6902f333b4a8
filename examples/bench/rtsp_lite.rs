//! The few pieces of RTSP the benchmark's light endpoints need (the RECORD
//! counting endpoint `count_server.rs` and the playing endpoint
//! `play_server.rs`): a reader that splits a connection's bytes into
//! requests and interleaved `$` frames, header look-up, and responses.
//!
//! Deliberately independent of `rtspclient_protocol`: the code under test
//! must never serve or count its own packets.

use std::io::{self, Read};

/// A request head larger than this without its blank line is garbage.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes asked from the socket per read (at least).
const READ_SIZE: usize = 256 * 1024;

/// One request's head (request line and headers); its body, if any, is
/// skipped (none of the requests these endpoints answer needs it).
pub struct Request {
    pub head: String,
}

impl Request {
    pub fn method(&self) -> &str {
        self.head.split_whitespace().next().unwrap_or("")
    }

    pub fn uri(&self) -> &str {
        self.head.split_whitespace().nth(1).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }

    pub fn cseq(&self) -> &str {
        self.header("CSeq").unwrap_or("0")
    }
}

/// What came next on a connection.
pub enum Incoming<'a> {
    /// An interleaved frame (`$`, channel, length, data).
    Data {
        channel: u8,
        payload: &'a [u8],
    },
    Request(Request),
}

/// Splits a byte stream into [`Incoming`] items. Reads straight into its
/// own buffer, which only grows when one item is larger than it.
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

enum Found {
    Data { channel: u8, len: usize },
    Request { head: usize, body: usize },
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            buf: vec![0; 2 * READ_SIZE],
            start: 0,
            end: 0,
        }
    }
}

impl Reader {
    /// The next item, reading from `src` as needed; `None` at end of stream.
    pub fn next<R: Read>(&mut self, src: &mut R) -> io::Result<Option<Incoming<'_>>> {
        loop {
            if let Some(found) = self.find()? {
                let at = self.start;
                return Ok(Some(match found {
                    Found::Data { channel, len } => {
                        self.start += 4 + len;
                        Incoming::Data {
                            channel,
                            payload: &self.buf[at + 4..at + 4 + len],
                        }
                    }
                    Found::Request { head, body } => {
                        self.start += head + 4 + body;
                        Incoming::Request(Request {
                            head: String::from_utf8_lossy(&self.buf[at..at + head]).into_owned(),
                        })
                    }
                }));
            }
            // What is left is an incomplete item: move it to the front.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < READ_SIZE {
                self.buf.resize(self.end + READ_SIZE, 0);
            }
            let n = src.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Ok(None);
            }
            self.end += n;
        }
    }

    fn find(&self) -> io::Result<Option<Found>> {
        let rest = &self.buf[self.start..self.end];
        if rest.is_empty() {
            return Ok(None);
        }
        if rest[0] == b'$' {
            if rest.len() < 4 {
                return Ok(None);
            }
            let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            return Ok((rest.len() >= 4 + len).then_some(Found::Data {
                channel: rest[1],
                len,
            }));
        }
        let Some(head) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            if rest.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no RTSP message on the connection",
                ));
            }
            return Ok(None);
        };
        let body = header(&String::from_utf8_lossy(&rest[..head]), "Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0usize);
        Ok((rest.len() >= head + 4 + body).then_some(Found::Request { head, body }))
    }
}

/// The value of header `name` (case-insensitive) in a message head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A response: status line, CSeq, `headers` (each line ending in CRLF),
/// Content-Length when there is a body, the body.
pub fn response(status: &str, cseq: &str, headers: &str, body: &str) -> Vec<u8> {
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    format!("RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{headers}{length}\r\n{body}").into_bytes()
}
