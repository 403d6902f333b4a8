//! Shared test infrastructure for the integration tests of `rtspsrc2` and
//! `rtspsink`.
//!
//! * [`server`]: an in-process gst-rtsp-server ([`server::TestServer`]) with
//!   ready-made mounts (H.264, H.264+AAC, H.264+Opus, H.265, MJPEG, per
//!   transport restrictions, Basic/Digest auth, RECORD with counters).
//! * [`run_pipeline_until`] / [`wait_until`]: bus helpers with a hard deadline.
//! * [`FrameCounter`] / [`MediaCounters`] / [`decode_and_count`]: count decoded
//!   frames (pad probes), optionally behind a `decodebin`.
//! * [`HangingServer`]: accepts TCP connections and never answers.
//! * [`ScriptedServer`]: a raw RTSP-over-TCP server answering every request
//!   through a user closure with raw bytes (for malformed/quirky responses).
//!
//! Every wait in here is bounded; every server thread is stopped and joined
//! (with a bounded wait) on `Drop`.
//!
//! Usage from a test file: `mod common;` then `use common::*;` /
//! `use common::server::*;`. Not every test file uses every helper, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

pub mod access_units;
pub mod certs;
pub mod ffmpeg;
pub mod media_hash;
pub mod onvif_server;
pub mod pipelined_server;
pub mod reconnect_player;
pub mod recording_proxy;
pub mod relay;
pub mod server;
pub mod server_process;
pub mod server_thread;
pub mod tcp_proxy;
pub mod tools;
pub mod udp_path;
pub mod vod_media;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Initialise GStreamer exactly once for the whole test binary.
///
/// This does NOT register the plugin under test: tests that need `rtspsrc2` /
/// `rtspsink` call `gstrtspclient::plugin_register_static()` themselves.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst::init failed");
    });
}

/// `true` if an element factory with this name is available.
pub fn has_element(name: &str) -> bool {
    init();
    gst::ElementFactory::find(name).is_some()
}

/// Wait (polling every 10 ms) until `cond` is true or `timeout` elapsed.
/// Returns whether the condition became true.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Join a thread, but wait at most `timeout` for it. Returns `false` (and
/// leaks the thread) if it did not finish in time.
pub fn join_bounded<T: Send + 'static>(handle: JoinHandle<T>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            eprintln!(
                "test helper: thread {:?} did not stop within {:?}, leaking it",
                handle.thread().name(),
                timeout
            );
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = handle.join();
    true
}

// ---------------------------------------------------------------------------
// Bus helpers
// ---------------------------------------------------------------------------

/// What [`run_pipeline_until`]'s callback wants to happen next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep running.
    Continue,
    /// Stop now; [`run_pipeline_until`] returns [`Outcome::Stopped`].
    Stop,
}

/// How [`run_pipeline_until`] / [`wait_until`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The callback returned [`Control::Stop`] (or the condition became true).
    Stopped,
    /// An EOS message arrived on the bus (and the callback did not stop first).
    Eos,
    /// An ERROR message arrived on the bus (and the callback did not stop first).
    Error {
        source: String,
        message: String,
        debug: Option<String>,
    },
    /// Setting the pipeline to PLAYING failed immediately.
    StateChangeFailed,
    /// The deadline passed.
    Timeout,
}

impl Outcome {
    pub fn is_stopped(&self) -> bool {
        matches!(self, Outcome::Stopped)
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Outcome::Error { .. })
    }
}

fn error_outcome(err: &gst::message::Error) -> Outcome {
    let mut message = err.error().to_string();
    if err.error().matches(gst::CoreError::MissingPlugin) {
        // decodebin found no decoder; the debug text names the format.
        message.push_str(
            " (a decoder is missing: scripts/install-deps.sh installs the packages; \
             a 'no decoder for' line above names it)",
        );
    }
    Outcome::Error {
        source: err
            .src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default(),
        message,
        debug: err.debug().map(|d| d.to_string()),
    }
}

/// Set `pipeline` to PLAYING and pump its
/// bus until `f` returns [`Control::Stop`], EOS, ERROR or `timeout` elapses.
///
/// `f` sees every message first (including EOS and ERROR, so a test that
/// expects an error can return `Stop` on it). The pipeline is NOT set back
/// to NULL: call [`stop_pipeline`] when done.
pub fn run_pipeline_until(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    mut f: impl FnMut(&gst::Message) -> Control,
) -> Outcome {
    run_bus(pipeline, timeout, &mut f, &mut || false)
}

/// Like [`run_pipeline_until`] but stops as soon as `cond()` is true; `cond`
/// is polled at least every 20 ms (e.g. "the frame counter reached 10").
/// ERROR and EOS end the wait as well.
pub fn wait_until(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Outcome {
    run_bus(pipeline, timeout, &mut |_| Control::Continue, &mut cond)
}

fn run_bus(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    f: &mut dyn FnMut(&gst::Message) -> Control,
    cond: &mut dyn FnMut() -> bool,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let bus = pipeline.bus().expect("pipeline without bus");
    // A pipeline already in PLAYING is left alone: GstBin fails even a
    // PLAYING -> PLAYING change when a child posts an ERROR meanwhile, and
    // callers waiting for that very error would lose the race.
    let (_, current, pending) = pipeline.state(gst::ClockTime::ZERO);
    let already_playing = current == gst::State::Playing && pending == gst::State::VoidPending;
    if !already_playing && pipeline.set_state(gst::State::Playing).is_err() {
        // The reason is usually posted as an ERROR message; the caller
        // sees it too.
        while let Some(msg) = bus.pop() {
            if f(&msg) == Control::Stop {
                return Outcome::Stopped;
            }
            if let gst::MessageView::Error(err) = msg.view() {
                return error_outcome(err);
            }
        }
        return Outcome::StateChangeFailed;
    }
    loop {
        if cond() {
            return Outcome::Stopped;
        }
        let now = Instant::now();
        if now >= deadline {
            return Outcome::Timeout;
        }
        let slice = (deadline - now).min(Duration::from_millis(20));
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(slice.as_nanos() as u64))
        else {
            continue;
        };
        if f(&msg) == Control::Stop {
            return Outcome::Stopped;
        }
        match msg.view() {
            gst::MessageView::Eos(_) => return Outcome::Eos,
            gst::MessageView::Error(err) => return error_outcome(err),
            _ => {}
        }
    }
}

/// Set the pipeline to NULL; waits (bounded, 5 s) for the state change.
pub fn stop_pipeline(pipeline: &gst::Pipeline) {
    let _ = pipeline.set_state(gst::State::Null);
    let _ = pipeline.state(gst::ClockTime::from_seconds(5));
}

/// Parse a launch line into a [`gst::Pipeline`]; a missing element fails
/// the test with its package ([`tools::parse_launch`]).
pub fn parse_pipeline(launch: &str) -> gst::Pipeline {
    tools::parse_launch(launch)
        .downcast::<gst::Pipeline>()
        .expect("launch line did not produce a pipeline")
}

// ---------------------------------------------------------------------------
// Frame counting
// ---------------------------------------------------------------------------

/// Counts buffers (= decoded frames on raw pads) flowing through the pads it
/// is attached to. Cheap to clone; all clones share the counters.
#[derive(Clone, Default)]
pub struct FrameCounter {
    inner: Arc<FrameCounterInner>,
}

#[derive(Default)]
struct FrameCounterInner {
    count: AtomicU64,
    bytes: AtomicU64,
    caps: Mutex<Option<gst::Caps>>,
    first_pts: Mutex<Option<gst::ClockTime>>,
    last_pts: Mutex<Option<gst::ClockTime>>,
}

impl FrameCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count every buffer (and every buffer of a buffer list) on `pad`.
    pub fn attach_to_pad(&self, pad: &gst::Pad) -> Option<gst::PadProbeId> {
        let inner = self.inner.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, info| {
                let record = |buf: &gst::BufferRef| {
                    inner.count.fetch_add(1, Ordering::SeqCst);
                    inner.bytes.fetch_add(buf.size() as u64, Ordering::SeqCst);
                    if let Some(pts) = buf.pts() {
                        let mut first = inner.first_pts.lock().unwrap();
                        if first.is_none() {
                            *first = Some(pts);
                        }
                        *inner.last_pts.lock().unwrap() = Some(pts);
                    }
                };
                match info.data {
                    Some(gst::PadProbeData::Buffer(ref buf)) => record(buf),
                    Some(gst::PadProbeData::BufferList(ref list)) => {
                        for buf in list.iter() {
                            record(buf);
                        }
                    }
                    _ => {}
                }
                let mut caps = inner.caps.lock().unwrap();
                if caps.is_none() {
                    *caps = pad.current_caps();
                }
                gst::PadProbeReturn::Ok
            },
        )
    }

    /// Count on the static pad `pad_name` (usually `"sink"`) of `element`.
    pub fn attach_to_element(&self, element: &gst::Element, pad_name: &str) {
        let pad = element
            .static_pad(pad_name)
            .unwrap_or_else(|| panic!("{} has no pad {pad_name}", element.name()));
        self.attach_to_pad(&pad);
    }

    /// Count on the `"sink"` pad of the element named `name` in `bin`.
    pub fn attach_by_name(&self, bin: &impl IsA<gst::Bin>, name: &str) {
        let element = bin
            .as_ref()
            .by_name(name)
            .unwrap_or_else(|| panic!("no element named {name}"));
        self.attach_to_element(&element, "sink");
    }

    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::SeqCst)
    }
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::SeqCst)
    }
    pub fn reset(&self) {
        self.inner.count.store(0, Ordering::SeqCst);
        self.inner.bytes.store(0, Ordering::SeqCst);
    }
    /// Caps of the pad when the first buffer was seen.
    pub fn caps(&self) -> Option<gst::Caps> {
        self.inner.caps.lock().unwrap().clone()
    }
    /// Structure name of [`Self::caps`] (e.g. `"video/x-raw"`).
    pub fn media_type(&self) -> Option<String> {
        self.caps()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
    }
    pub fn first_pts(&self) -> Option<gst::ClockTime> {
        *self.inner.first_pts.lock().unwrap()
    }
    pub fn last_pts(&self) -> Option<gst::ClockTime> {
        *self.inner.last_pts.lock().unwrap()
    }
    /// Block (bounded) until at least `n` buffers were counted.
    pub fn wait_for(&self, n: u64, timeout: Duration) -> bool {
        wait_for(timeout, || self.count() >= n)
    }
}

impl std::fmt::Debug for FrameCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCounter")
            .field("count", &self.count())
            .field("media_type", &self.media_type())
            .finish()
    }
}

/// Decoded-frame counters split by media type.
#[derive(Clone, Default, Debug)]
pub struct MediaCounters {
    /// Raw video frames (`video/x-raw` buffers).
    pub video: FrameCounter,
    /// Raw audio buffers (`audio/x-raw`).
    pub audio: FrameCounter,
    /// Anything else decodebin exposed (should stay 0).
    pub other: FrameCounter,
    /// Number of `decodebin` instances created by [`decode_and_count`].
    pub decoders: Arc<AtomicUsize>,
}

impl MediaCounters {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Link `src_pad` (RTP, encoded or raw) to a new `decodebin` inside
/// `pipeline` and count each decoded raw stream into `counters`
/// (each decoded pad goes to `queue ! fakesink sync=false`).
///
/// Safe to call from a `pad-added` handler (streaming thread).
pub fn decode_and_count(
    pipeline: &gst::Pipeline,
    src_pad: &gst::Pad,
    counters: &MediaCounters,
) -> Result<(), String> {
    let decodebin = gst::ElementFactory::make("decodebin")
        .build()
        .map_err(|e| e.to_string())?;
    tools::explain_missing_decoders(&decodebin, "player");
    let pipeline_weak = pipeline.downgrade();
    let c = counters.clone();
    decodebin.connect_pad_added(move |_db, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        let counter = if name.starts_with("video/") {
            &c.video
        } else if name.starts_with("audio/") {
            &c.audio
        } else {
            &c.other
        };
        let queue = gst::ElementFactory::make("queue").build().unwrap();
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            .unwrap();
        pipeline.add_many([&queue, &sink]).unwrap();
        queue.link(&sink).unwrap();
        counter.attach_to_element(&sink, "sink");
        sink.sync_state_with_parent().unwrap();
        queue.sync_state_with_parent().unwrap();
        if let Err(e) = pad.link(&queue.static_pad("sink").unwrap()) {
            eprintln!("decode_and_count: linking {name} failed: {e:?}");
        }
    });
    pipeline.add(&decodebin).map_err(|e| e.to_string())?;
    decodebin
        .sync_state_with_parent()
        .map_err(|e| e.to_string())?;
    src_pad
        .link(&decodebin.static_pad("sink").unwrap())
        .map_err(|e| format!("{e:?}"))?;
    counters.decoders.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

// ---------------------------------------------------------------------------
// HangingServer
// ---------------------------------------------------------------------------

/// A TCP server on 127.0.0.1 (ephemeral port) that accepts connections and
/// never answers; received bytes are read and discarded (so the client never
/// blocks on a full socket buffer). For connect/response timeout tests.
pub struct HangingServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    received: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl HangingServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let (s, a, r) = (stop.clone(), accepted.clone(), received.clone());
        let thread = thread::Builder::new()
            .name("hanging-server".into())
            .spawn(move || {
                let mut conns: Vec<TcpStream> = Vec::new();
                let mut buf = [0u8; 4096];
                while !s.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(true);
                            a.fetch_add(1, Ordering::SeqCst);
                            conns.push(stream);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => {}
                    }
                    // Drain (never answer); keep closed ones around, harmless.
                    for c in conns.iter_mut() {
                        if let Ok(n) = c.read(&mut buf) {
                            r.fetch_add(n as u64, Ordering::SeqCst);
                        }
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                for c in conns {
                    let _ = c.shutdown(Shutdown::Both);
                }
            })
            .unwrap();
        HangingServer {
            port,
            stop,
            accepted,
            received,
            thread: Some(thread),
        }
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn url(&self, path: &str) -> String {
        format!(
            "rtsp://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
    /// Number of accepted connections so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Number of bytes received (and ignored) so far.
    pub fn bytes_received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            join_bounded(t, Duration::from_secs(5));
        }
    }
}

// ---------------------------------------------------------------------------
// ScriptedServer
// ---------------------------------------------------------------------------

/// One request as received by [`ScriptedServer`].
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// 0-based index of the TCP connection (in accept order).
    pub connection: usize,
    /// 0-based index of this request on its connection.
    pub index: usize,
    /// Request line parts, e.g. `"DESCRIBE"`, `"rtsp://…/x"`, `"RTSP/1.0"`.
    pub method: String,
    pub uri: String,
    pub version: String,
    /// Headers in order of appearance, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Complete raw bytes of the request (head + body).
    pub raw: Vec<u8>,
}

impl RawRequest {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All headers with this name (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// `CSeq` header value, `"0"` if missing (so responses still echo something).
    pub fn cseq(&self) -> &str {
        self.header("CSeq").unwrap_or("0")
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What to do after a request, for [`ScriptedServer::start_with`].
pub enum Reply {
    /// Write these bytes (may be empty) and keep the connection open.
    Send(Vec<u8>),
    /// Write these bytes, then close the connection.
    SendAndClose(Vec<u8>),
    /// Write these bytes, then keep writing whatever the producer returns
    /// (every call, until it returns `None` or the server stops); e.g. to
    /// stream interleaved `$`-framed RTP after a PLAY response. The producer
    /// is called about every `interval`.
    SendThenStream(
        Vec<u8>,
        Duration,
        Box<dyn FnMut() -> Option<Vec<u8>> + Send>,
    ),
}

/// Build a response: status line, `CSeq`, extra headers, `Content-Length`
/// (only if `body` is non-empty), blank line, body.
pub fn rtsp_response(
    cseq: &str,
    code: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("RTSP/1.0 {code} {reason}\r\nCSeq: {cseq}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The RTSP/1.0 answer to a DESCRIBE: `sdp`, based at the request's URL.
pub fn describe_answer(req: &RawRequest, sdp: &str) -> Vec<u8> {
    rtsp_response(
        req.cseq(),
        200,
        "OK",
        &[
            ("Content-Type", "application/sdp"),
            ("Content-Base", &format!("{}/", req.uri)),
        ],
        sdp.as_bytes(),
    )
}

/// The RTSP/1.0 answer to a SETUP that takes the client's Transport as it
/// is, in session `session`.
pub fn setup_answer(req: &RawRequest, session: &str) -> Vec<u8> {
    let transport = req.header("Transport").unwrap_or_default().to_owned();
    rtsp_response(
        req.cseq(),
        200,
        "OK",
        &[("Transport", &transport), ("Session", session)],
        b"",
    )
}

/// A PCMA (G.711 A-law, payload type 8) RTP packet on interleaved channel
/// 0: sequence number `seq`, RTP time `seq` × 160 (20 ms at 8 kHz), SSRC
/// 0x5eed, 160 bytes of silence. Any payload decodes, so counters show
/// that media flows.
pub fn pcma_frame(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 8];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&0x5eed_u32.to_be_bytes());
    packet.extend_from_slice(&[0xd5; 160]);
    interleaved_frame(0, &packet)
}

/// `$`-framed interleaved data (RFC 2326 §10.12).
pub fn interleaved_frame(channel: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

type Handler = dyn Fn(&RawRequest) -> Reply + Send + Sync;

/// A raw RTSP server: for every accepted connection a thread reads requests
/// (request line + headers up to the blank line, then `Content-Length` bytes
/// of body; interleaved `$` frames from the client are skipped) and answers
/// with whatever the handler returns, byte for byte.
///
/// All requests are logged ([`Self::requests`]). Reads poll a stop flag every
/// 50 ms; `Drop` closes everything and joins the threads (bounded).
pub struct ScriptedServer {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<RawRequest>>>,
    accepted: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Answer each request with the raw bytes returned by `handler` (empty:
    /// answer nothing but keep reading).
    pub fn start(handler: impl Fn(&RawRequest) -> Vec<u8> + Send + Sync + 'static) -> Self {
        Self::start_with(move |req| Reply::Send(handler(req)))
    }

    /// Like [`Self::start`], with control over the connection ([`Reply`]).
    pub fn start_with(handler: impl Fn(&RawRequest) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);

        let (s, l, a, t) = (stop.clone(), log.clone(), accepted.clone(), threads.clone());
        let acceptor = thread::Builder::new()
            .name("scripted-server".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let idx = a.fetch_add(1, Ordering::SeqCst);
                            let (s2, l2, h2) = (s.clone(), l.clone(), handler.clone());
                            let th = thread::Builder::new()
                                .name(format!("scripted-conn-{idx}"))
                                .spawn(move || serve_connection(stream, idx, &s2, &l2, &*h2))
                                .unwrap();
                            t.lock().unwrap().push(th);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .unwrap();
        ScriptedServer {
            port,
            stop,
            log,
            accepted,
            threads,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn url(&self, path: &str) -> String {
        format!(
            "rtsp://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
    /// Snapshot of all requests received so far (all connections, in order
    /// of arrival).
    pub fn requests(&self) -> Vec<RawRequest> {
        self.log.lock().unwrap().clone()
    }
    /// Methods of all requests so far, e.g. `["OPTIONS", "DESCRIBE", …]`.
    pub fn methods(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.method.clone())
            .collect()
    }
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Wait (bounded) until a request with this method arrived.
    pub fn wait_for_method(&self, method: &str, timeout: Duration) -> Option<RawRequest> {
        let mut found = None;
        wait_for(timeout, || {
            found = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|r| r.method.eq_ignore_ascii_case(method))
                .cloned();
            found.is_some()
        });
        found
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            join_bounded(a, Duration::from_secs(5));
        }
        let threads: Vec<_> = self.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            join_bounded(t, Duration::from_secs(5));
        }
    }
}

/// Result of reading one unit from a client connection.
enum ReadUnit {
    Request(RawRequest),
    Closed,
    Stopped,
}

struct ConnReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl ConnReader {
    /// Fill at least one more byte. `Ok(false)`: EOF.
    fn fill(&mut self, stop: &AtomicBool) -> Result<bool, ()> {
        let mut tmp = [0u8; 8192];
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(());
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Ok(false),
            }
        }
    }

    fn next(&mut self, conn: usize, index: usize, stop: &AtomicBool) -> ReadUnit {
        loop {
            // Skip interleaved binary frames sent by the client (RTCP etc).
            if self.buf.first() == Some(&b'$') {
                if self.buf.len() >= 4 {
                    let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                    if self.buf.len() >= 4 + len {
                        self.buf.drain(..4 + len);
                        continue;
                    }
                }
            } else {
                // Tolerate stray CRLFs between messages.
                while matches!(self.buf.first(), Some(b'\r') | Some(b'\n')) {
                    self.buf.remove(0);
                }
                if let Some(end) = find_subslice(&self.buf, b"\r\n\r\n")
                    .map(|p| p + 4)
                    .or_else(|| find_subslice(&self.buf, b"\n\n").map(|p| p + 2))
                {
                    let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                    let mut lines = head.lines();
                    let request_line = lines.next().unwrap_or_default().to_string();
                    let mut parts = request_line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let uri = parts.next().unwrap_or_default().to_string();
                    let version = parts.next().unwrap_or_default().to_string();
                    let headers: Vec<(String, String)> = lines
                        .filter(|l| !l.is_empty())
                        .filter_map(|l| {
                            l.split_once(':')
                                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                        })
                        .collect();
                    let content_length = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if self.buf.len() >= end + content_length {
                        let raw: Vec<u8> = self.buf.drain(..end + content_length).collect();
                        let body = raw[end..].to_vec();
                        return ReadUnit::Request(RawRequest {
                            connection: conn,
                            index,
                            method,
                            uri,
                            version,
                            headers,
                            body,
                            raw,
                        });
                    }
                }
            }
            match self.fill(stop) {
                Ok(true) => {}
                Ok(false) => return ReadUnit::Closed,
                Err(()) => return ReadUnit::Stopped,
            }
        }
    }
}

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve_connection(
    stream: TcpStream,
    conn: usize,
    stop: &AtomicBool,
    log: &Mutex<Vec<RawRequest>>,
    handler: &Handler,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_nodelay(true);
    // Shared so that a streaming producer never interleaves with a response.
    let writer = match stream.try_clone() {
        Ok(w) => Arc::new(Mutex::new(w)),
        Err(_) => return,
    };
    let mut reader = ConnReader {
        stream,
        buf: Vec::new(),
    };
    // A streaming producer (Reply::SendThenStream) runs in its own thread so
    // that requests (GET_PARAMETER keep-alives, TEARDOWN) are still answered.
    let (stream_stop_tx, stream_stop_rx) = mpsc::channel::<()>();
    let mut stream_stop_rx = Some(stream_stop_rx);
    let mut streamer: Option<JoinHandle<()>> = None;
    let mut index = 0;
    while let ReadUnit::Request(req) = reader.next(conn, index, stop) {
        index += 1;
        log.lock().unwrap().push(req.clone());
        let (bytes, close, producer) = match handler(&req) {
            Reply::Send(b) => (b, false, None),
            Reply::SendAndClose(b) => (b, true, None),
            Reply::SendThenStream(b, interval, p) => (b, false, Some((interval, p))),
        };
        if !bytes.is_empty() && writer.lock().unwrap().write_all(&bytes).is_err() {
            break;
        }
        if close {
            break;
        }
        if let Some((interval, mut producer)) = producer
            && let Some(rx) = stream_stop_rx.take()
        {
            let w = writer.clone();
            streamer = Some(
                thread::Builder::new()
                    .name(format!("scripted-stream-{conn}"))
                    .spawn(move || {
                        // Ends when the connection thread drops the sender.
                        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                            match producer() {
                                Some(data) if w.lock().unwrap().write_all(&data).is_ok() => {}
                                _ => break,
                            }
                        }
                    })
                    .unwrap(),
            );
        }
    }
    drop(stream_stop_tx);
    let _ = writer.lock().unwrap().shutdown(Shutdown::Both);
    if let Some(s) = streamer {
        join_bounded(s, Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------
// Raw request helper
// ---------------------------------------------------------------------------

/// Send `request` (raw bytes, e.g. a hand-written DESCRIBE) to
/// 127.0.0.1:`port` on a fresh connection and return the first response
/// (head + `Content-Length` body) as text; `None` on timeout/close.
pub fn send_raw_request(port: u16, request: &[u8], timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream.write_all(request).ok()?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(end) = find_subslice(&buf, b"\r\n\r\n").map(|p| p + 4) {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("Content-Length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + len {
                return Some(String::from_utf8_lossy(&buf[..end + len]).into_owned());
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

// ---------------------------------------------------------------------------
// rtspsrc2 players
// ---------------------------------------------------------------------------

/// [`init`] plus the plugin under test.
pub fn init_plugin() {
    init();
    // Once per process: registering again replaces the element factories,
    // and classes made by the old ones keep a dangling factory pointer.
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        gstrtspclient::plugin_register_static().expect("register the rtspclient plugin");
    });
}

/// A new pipeline holding `rtspsrc2 location=LOCATION` with `props` set;
/// every pad it adds is decoded and counted into the returned counters.
pub fn rtspsrc2_player(
    location: &str,
    props: &[(&str, gst::glib::Value)],
) -> (gst::Pipeline, gst::Element, MediaCounters) {
    init_plugin();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtspsrc2")
        .property("location", location)
        .build()
        .expect("rtspsrc2");
    for (name, value) in props {
        src.set_property_from_value(name, value);
    }
    pipeline.add(&src).unwrap();
    let counters = MediaCounters::new();
    let (weak, c) = (pipeline.downgrade(), counters.clone());
    src.connect_pad_added(move |_, pad| {
        if let Some(pipeline) = weak.upgrade() {
            decode_and_count(&pipeline, pad, &c).expect("decodebin");
        }
    });
    (pipeline, src, counters)
}

/// Whether something listens on TCP `port` (from the kernel's socket
/// table: connecting to find out would use up a one-shot listener such
/// as `ffmpeg -rtsp_flags listen`).
pub fn is_listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local_address is field 1, state field 3 (0A = LISTEN).
                fields.len() > 3
                    && format!("{} ", fields[1]).ends_with(&needle)
                    && fields[3] == "0A"
            })
        })
    })
}

/// RTP packets of `frames` H.264 frames (160x120, payloaded with an MTU
/// of `mtu`), grouped per frame: material for scripted servers.
pub fn h264_rtp_frames(frames: u32, mtu: u32) -> Vec<Vec<Vec<u8>>> {
    let pipeline = parse_pipeline(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,width=160,height=120,framerate=30/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! \
         rtph264pay pt=96 config-interval=-1 mtu={mtu} ! appsink name=sink sync=false"
    ));
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut grouped: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut last_ts = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        let data = sample.buffer().unwrap().map_readable().unwrap().to_vec();
        let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        if last_ts != Some(ts) {
            grouped.push(Vec::new());
            last_ts = Some(ts);
        }
        grouped.last_mut().unwrap().push(data);
    }
    stop_pipeline(&pipeline);
    assert!(
        grouped.len() as u32 >= frames - 1,
        "encoded {}",
        grouped.len()
    );
    grouped
}
