//! A TCP proxy for RTSP tests that records both directions and can put a
//! message of its own towards the client: what went over the wire.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rtspclient_protocol::message::Framer;

/// Bytes one way through the proxy, all connections appended.
type Log = Arc<Mutex<Vec<u8>>>;

/// A TCP proxy on 127.0.0.1 in front of a server that keeps what each
/// side sent, and can put a message of its own into the server's stream
/// to the client, between two whole messages (it frames that stream with
/// the protocol crate's framer to know where they end).
pub struct RecordingProxy {
    port: u16,
    to_server: Log,
    to_client: Log,
    /// Bytes waiting to go to every client, at the next message boundary.
    inject: Arc<Mutex<Option<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
    hold: Option<Arc<AnswerHold>>,
}

/// Holds what the server sends once a request of `method` has gone to it,
/// until `count` such requests have gone (or `max` passed, then lets it
/// through anyway): a client that waits for each answer before the next
/// request can only reach `count` after the bounded wait, one that sends
/// them back-to-back reaches it while the first answer is held.
pub struct AnswerHold {
    method: &'static str,
    count: usize,
    max: Duration,
    /// How many `method` requests had gone when the hold ended.
    released_with: Mutex<Option<usize>>,
}

impl AnswerHold {
    /// Called before bytes from the server go to the client.
    fn wait(&self, sent: &Log) {
        if self.released_with.lock().unwrap().is_some() {
            return;
        }
        let needle = format!("{} rtsp://", self.method);
        let seen = || count_matches(&sent.lock().unwrap(), needle.as_bytes());
        if seen() == 0 {
            return;
        }
        super::wait_for(self.max, || seen() >= self.count);
        *self.released_with.lock().unwrap() = Some(seen());
    }
}

fn count_matches(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

impl RecordingProxy {
    pub fn start(server_port: u16) -> RecordingProxy {
        Self::start_with(server_port, None)
    }

    /// A proxy that holds the server's answers once a `method` request
    /// went through, until `count` of them did (at most `max`); see
    /// [`AnswerHold`] and [`RecordingProxy::requests_before_first_answer`].
    pub fn start_holding_answers(
        server_port: u16,
        method: &'static str,
        count: usize,
        max: Duration,
    ) -> RecordingProxy {
        let hold = AnswerHold {
            method,
            count,
            max,
            released_with: Mutex::new(None),
        };
        Self::start_with(server_port, Some(Arc::new(hold)))
    }

    /// With [`RecordingProxy::start_holding_answers`]: how many requests of
    /// its method the client had sent when the first answer after the
    /// first such request went to it.
    pub fn requests_before_first_answer(&self) -> Option<usize> {
        *self.hold.as_ref()?.released_with.lock().unwrap()
    }

    fn start_with(server_port: u16, hold: Option<Arc<AnswerHold>>) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = RecordingProxy {
            port,
            to_server: Log::default(),
            to_client: Log::default(),
            inject: Arc::default(),
            stop: Arc::default(),
            threads: Arc::default(),
            acceptor: None,
            hold,
        };
        let (to_server, to_client, inject, stop, threads, hold) = (
            proxy.to_server.clone(),
            proxy.to_client.clone(),
            proxy.inject.clone(),
            proxy.stop.clone(),
            proxy.threads.clone(),
            proxy.hold.clone(),
        );
        let acceptor = thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else {
                    continue;
                };
                for stream in [&client, &server] {
                    stream
                        .set_read_timeout(Some(Duration::from_millis(20)))
                        .unwrap();
                    stream.set_nodelay(true).unwrap();
                }
                let up = (
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    to_server.clone(),
                    stop.clone(),
                );
                let down = (
                    server,
                    client,
                    to_client.clone(),
                    stop.clone(),
                    inject.clone(),
                );
                let gate = hold.clone().map(|hold| (hold, to_server.clone()));
                let mut threads = threads.lock().unwrap();
                threads.push(thread::spawn(move || {
                    let (mut from, mut to, log, stop) = up;
                    pump(&mut from, &mut to, &log, &stop, None, None);
                }));
                threads.push(thread::spawn(move || {
                    let (mut from, mut to, log, stop, inject) = down;
                    let gate = gate.as_ref().map(|(hold, sent)| (hold.as_ref(), sent));
                    pump(&mut from, &mut to, &log, &stop, Some(&inject), gate);
                }));
            }
        });
        proxy.acceptor = Some(acceptor);
        proxy
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }

    pub fn to_server(&self) -> String {
        String::from_utf8_lossy(&self.to_server.lock().unwrap()).into_owned()
    }

    pub fn to_client(&self) -> String {
        String::from_utf8_lossy(&self.to_client.lock().unwrap()).into_owned()
    }

    /// Send `message` to the client as if the server had.
    pub fn inject(&self, message: &[u8]) {
        *self.inject.lock().unwrap() = Some(message.to_vec());
    }

    /// The RTSP requests the client sent, parsed (method and headers), in
    /// order; interleaved data between them skipped.
    pub fn requests(&self) -> Vec<SentRequest> {
        parse_requests(&self.to_server.lock().unwrap())
    }

    /// The RTSP request lines the client sent, in order (found by their
    /// method and URL, wherever interleaved data put them).
    pub fn request_lines(&self) -> Vec<String> {
        let sent = self.to_server();
        let mut found: Vec<(usize, String)> = Vec::new();
        for method in [
            "OPTIONS",
            "DESCRIBE",
            "ANNOUNCE",
            "SETUP",
            "PLAY",
            "PAUSE",
            "RECORD",
            "TEARDOWN",
            "GET_PARAMETER",
            "SET_PARAMETER",
        ] {
            let needle = format!("{method} rtsp://");
            for (at, _) in sent.match_indices(&needle) {
                let line = sent[at..].split("\r\n").next().unwrap_or_default();
                found.push((at, line.to_owned()));
            }
        }
        found.sort();
        found.into_iter().map(|(_, line)| line).collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            super::join_bounded(t, Duration::from_secs(5));
        }
        for t in self.threads.lock().unwrap().drain(..) {
            super::join_bounded(t, Duration::from_secs(5));
        }
    }
}

/// Copy `from` to `to` and into `log` until either side closes or the
/// proxy stops; with `inject`, also write what is waiting there once all
/// that was copied ends with a whole message; with `hold`, wait as it says
/// (given what went the other way) before copying.
fn pump(
    from: &mut TcpStream,
    to: &mut TcpStream,
    log: &Log,
    stop: &AtomicBool,
    inject: Option<&Mutex<Option<Vec<u8>>>>,
    hold: Option<(&AnswerHold, &Log)>,
) {
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some((hold, sent)) = hold {
                    hold.wait(sent);
                }
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if inject.is_some() {
                    framer.push(&buf[..n]);
                    while let Ok(Some(_)) = framer.next_message() {}
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if let Some(inject) = inject
            && framer.buffered() == 0
            && let Some(message) = inject.lock().unwrap().take()
            && to.write_all(&message).is_err()
        {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// One recorded request: method and headers (names lower case).
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub method: String,
    pub headers: Vec<(String, String)>,
}

impl SentRequest {
    /// Every value of header `name`, in order.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Requests out of the client's byte stream: RTSP messages and `$`
/// interleaved frames (its RTCP), in any order.
fn parse_requests(mut bytes: &[u8]) -> Vec<SentRequest> {
    let mut requests = Vec::new();
    loop {
        match bytes.first() {
            None => break,
            Some(b'$') => {
                let Some(len) = bytes.get(2..4).map(|l| u16::from_be_bytes([l[0], l[1]])) else {
                    break;
                };
                match bytes.get(4 + len as usize..) {
                    Some(rest) => bytes = rest,
                    None => break,
                }
            }
            Some(b'\r' | b'\n') => bytes = &bytes[1..],
            Some(_) => {
                let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                let text = String::from_utf8_lossy(&bytes[..end]).to_string();
                let mut lines = text.lines();
                let method = lines
                    .next()
                    .and_then(|l| l.split_whitespace().next())
                    .unwrap_or_default()
                    .to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let body = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                requests.push(SentRequest { method, headers });
                match bytes.get(end + 4 + body..) {
                    Some(rest) => bytes = rest,
                    None => break,
                }
            }
        }
    }
    requests
}
