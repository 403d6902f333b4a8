//! The light playing endpoint of the benchmark's single-stream ceiling:
//! `rtsp://127.0.0.1:PORT/raw-MBPS` plays uncompressed I420 video at MBPS
//! Mbit/s over TCP interleaved, without GStreamer in the data path.
//!
//! At startup one raw frame is payloaded once with `rtpvrawpay` (RFC 4175,
//! pt 96, 90 kHz, its default MTU of 1400 bytes, so the packets are exactly
//! the ones gst-rtsp-server's `/raw-MBPS` mounts send) and kept in memory as
//! interleaved `$ channel length packet` frames. Serving it then costs
//! one `write` of the whole frame (about 1 MB, ~1000 packets) per frame
//! period, after rewriting each packet's sequence number and timestamp:
//! about what raw loopback TCP costs per Gbit/s, so on a small machine the
//! client, not the server, is what the ceiling measures (gst-rtsp-server
//! took 0.5–0.6 of a core at 1.6 Gbit/s).
//!
//! Protocol: OPTIONS, DESCRIBE (SDP `RAW/90000` with the payloader's
//! `fmtp`), SETUP over TCP interleaved only (461 for anything else, so
//! clients fall back), PLAY (RTP-Info with the first packet's seq and
//! rtptime), PAUSE, GET_PARAMETER / SET_PARAMETER (200), TEARDOWN.
//! Interleaved data from the client (RTCP) is read and dropped. Its parser
//! (`rtsp_lite.rs`) is independent of `rtspclient_protocol`: the code under
//! test never serves itself.
//!
//! Pacing: frame `n` of a session is due at `n × frame period` after PLAY,
//! with RTP timestamp `n × 90000 × period` and sequence numbers running on
//! across frames. A frame is never dropped: when the socket is full the
//! write waits, so a slow client sees less throughput, never a gap. A
//! sender more than one second behind its schedule restarts the schedule
//! (no endless burst). Every second in which a frame started more than
//! 20 ms late is logged on stderr, with how long the sender thread spent on
//! the CPU, waiting for a CPU and in writes, so a server that fell behind
//! by itself shows apart from a client that read too slowly.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::broadcast::Broadcast;
use crate::rtsp_lite::{Incoming, Reader, Request, response};

/// The payloader's MTU: `rtpvrawpay`'s (`GstRTPBasePayload`'s) default.
const MTU: usize = 1400;
/// A frame that starts this late counts as late (and is logged).
const LATE: Duration = Duration::from_millis(20);
/// Further behind than this, the schedule restarts from now.
const RESTART: Duration = Duration::from_secs(1);
/// A client that takes nothing for this long is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// One video frame as RTP packets, pre-framed for TCP interleaving.
pub struct Frame {
    /// `$`, channel 0, length, RTP packet; back to back.
    framed: Vec<u8>,
    /// Where each RTP header starts in `framed`.
    packets: Vec<usize>,
    ssrc: u32,
    /// Bits of the raw frame: MBPS counts these, as on the gst-rtsp-server
    /// mounts (the RTP packets carry about 1.5 % more).
    pub frame_bits: u64,
    /// `a=fmtp` parameters, from the payloader's caps.
    fmtp: String,
}

impl Frame {
    /// Payloads `frame` (raw I420, `width` x `height`) once through
    /// `appsrc ! rtpvrawpay ! appsink` and checks the packets.
    pub fn payload(
        frame: &gst::Buffer,
        width: u32,
        height: u32,
    ) -> Result<Frame, Box<dyn std::error::Error>> {
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time caps=video/x-raw,format=I420,width={width},height={height},framerate=30/1 ! \
             rtpvrawpay pt=96 mtu={MTU} ! appsink name=sink sync=false"
        ))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
        let by_name = |n: &str| pipeline.by_name(n).ok_or(format!("no {n}"));
        let src = by_name("src")?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| "not an appsrc")?;
        let sink = by_name("sink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "not an appsink")?;
        pipeline.set_state(gst::State::Playing)?;
        let mut buffer = frame.copy();
        {
            let b = buffer.make_mut();
            b.set_pts(gst::ClockTime::ZERO);
            b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
        }
        src.push_buffer(buffer)?;
        src.end_of_stream()?;
        let mut framed = Vec::with_capacity(frame.size() * 21 / 20);
        let mut packets = Vec::new();
        let mut caps = None;
        loop {
            match sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
                Some(sample) => {
                    caps = caps.or_else(|| sample.caps_owned());
                    let map = sample
                        .buffer()
                        .ok_or("sample without buffer")?
                        .map_readable()?;
                    framed.extend_from_slice(&[b'$', 0]);
                    framed.extend_from_slice(&(map.len() as u16).to_be_bytes());
                    packets.push(framed.len());
                    framed.extend_from_slice(&map);
                }
                None if sink.is_eos() => break,
                None => return Err("rtpvrawpay produced nothing within 10 s".into()),
            }
        }
        pipeline.set_state(gst::State::Null)?;

        // What rtpvrawpay made: one frame, one timestamp, consecutive
        // sequence numbers, the marker on the last packet only.
        let at = |i: usize| &framed[packets[i]..];
        let len = |i: usize| u16::from_be_bytes([framed[packets[i] - 2], framed[packets[i] - 1]]);
        let n = packets.len();
        if n < 2 {
            return Err(format!("rtpvrawpay made {n} packets of one frame").into());
        }
        let seq = |i: usize| u16::from_be_bytes([at(i)[2], at(i)[3]]);
        for i in 0..n {
            let p = at(i);
            let ok = len(i) as usize <= MTU
                && p[0] >> 6 == 2
                && p[1] & 0x7f == 96
                && (p[1] & 0x80 != 0) == (i == n - 1)
                && p[4..12] == at(0)[4..12]
                && seq(i) == seq(0).wrapping_add(i as u16);
            if !ok {
                return Err(format!("unexpected RTP packet {i} of {n} from rtpvrawpay").into());
            }
        }
        let ssrc = u32::from_be_bytes([at(0)[8], at(0)[9], at(0)[10], at(0)[11]]);
        let caps = caps.ok_or("no caps from rtpvrawpay")?;
        let s = caps.structure(0).ok_or("empty caps")?;
        let fmtp: Vec<String> = ["sampling", "depth", "width", "height", "colorimetry"]
            .iter()
            .filter_map(|k| Some(format!("{k}={}", s.get::<String>(*k).ok()?)))
            .collect();
        Ok(Frame {
            framed,
            packets,
            ssrc,
            frame_bits: frame.size() as u64 * 8,
            fmtp: fmtp.join(";"),
        })
    }

    /// RTP bytes per frame (without the interleaved headers).
    fn rtp_bytes(&self) -> u64 {
        (self.framed.len() - 4 * self.packets.len()) as u64
    }

    /// Frames per second for `mbps` Mbit/s of raw video.
    fn fps(&self, mbps: u32) -> f64 {
        mbps as f64 * 1e6 / self.frame_bits as f64
    }

    pub fn packets_per_frame(&self) -> usize {
        self.packets.len()
    }
}

/// Totals over all sessions, for the benchmark's `STATS` line.
#[derive(Default)]
pub struct PlayStats {
    sessions: AtomicU64,
    playing: AtomicU64,
    frames: AtomicU64,
    packets: AtomicU64,
    /// RTP bytes (without the 4-byte interleaved headers).
    bytes: AtomicU64,
    late_frames: AtomicU64,
    restarts: AtomicU64,
    /// Wall time inside `write` (waiting for the client included).
    write_ns: AtomicU64,
    /// Sender threads on a CPU, and runnable but waiting for one.
    cpu_ns: AtomicU64,
    runq_ns: AtomicU64,
}

impl PlayStats {
    pub fn json(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = |a: &AtomicU64| l(a) as f64 / 1e9;
        format!(
            "{{\"sessions\":{},\"playing\":{},\"frames\":{},\"packets\":{},\"bytes\":{},\"late_frames\":{},\"restarts\":{},\"write_s\":{:.6},\"cpu_s\":{:.6},\"runq_s\":{:.6}}}",
            l(&self.sessions),
            l(&self.playing),
            l(&self.frames),
            l(&self.packets),
            l(&self.bytes),
            l(&self.late_frames),
            l(&self.restarts),
            s(&self.write_ns),
            s(&self.cpu_ns),
            s(&self.runq_ns),
        )
    }
}

/// The shared H.264 mounts (`/h264`, `/h264-low`), by name.
pub type Broadcasts = Arc<Vec<(String, Arc<Broadcast>)>>;

/// Starts the endpoint on 127.0.0.1; returns its port.
pub fn start(frame: Arc<Frame>, broadcasts: Broadcasts, stats: Arc<PlayStats>) -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::Builder::new()
        .name("play-accept".into())
        .spawn(move || {
            let mut id = 0u64;
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                id += 1;
                let mut c = Conn::new(id, frame.clone(), broadcasts.clone(), stats.clone());
                let _ = std::thread::Builder::new()
                    .name("play-conn".into())
                    .spawn(move || {
                        if let Err(e) = c.run(conn) {
                            eprintln!("play-server #{}: connection ended: {e}", c.id);
                        }
                    });
            }
        })?;
    Ok(port)
}

/// Where a session's stream stands: frames sent, and the first packet's
/// sequence number and timestamp.
#[derive(Clone, Copy)]
struct Cursor {
    frames: u64,
    seq0: u16,
    ts0: u32,
}

impl Cursor {
    fn seq(&self, per_frame: usize) -> u16 {
        self.seq0
            .wrapping_add((self.frames.wrapping_mul(per_frame as u64) & 0xffff) as u16)
    }

    /// 90 kHz timestamp of the current frame: exact, however long it runs.
    fn rtptime(&self, frame_bits: u64, mbps: u32) -> u32 {
        let t = self.frames as u128 * 90_000 * frame_bits as u128 / (mbps as u128 * 1_000_000);
        self.ts0.wrapping_add((t & 0xffff_ffff) as u32)
    }
}

struct Session {
    id: String,
    mbps: u32,
    /// A shared H.264 mount instead of raw video, with the interleaved
    /// channel; `true` while this client is subscribed.
    broadcast: Option<(Arc<Broadcast>, u8, bool)>,
    /// The URL of the stream (SETUP's), for RTP-Info.
    control: String,
    cursor: Cursor,
    /// The frame with this session's channel; lent to the sender.
    buf: Option<Vec<u8>>,
}

struct Sending {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Vec<u8>, Cursor)>,
}

enum After {
    Nothing,
    Play,
    Close,
}

struct Conn {
    id: u64,
    frame: Arc<Frame>,
    broadcasts: Broadcasts,
    stats: Arc<PlayStats>,
    session: Option<Session>,
    sending: Option<Sending>,
}

/// `(base URL up to the mount, MBPS)` of `rtsp://host:port/raw-MBPS[/...]`.
fn mount(uri: &str) -> Option<(&str, u32)> {
    let rest = uri.split_once("://")?.1;
    let path = &rest[rest.find('/')? + 1..];
    let first = path.split('/').next()?;
    let mbps: u32 = first.strip_prefix("raw-")?.parse().ok()?;
    let end = uri.len() - path.len() + first.len();
    (mbps > 0).then_some((&uri[..end], mbps))
}

/// A per-session start for sequence numbers and timestamps.
fn seed(id: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (t ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// `(base URL up to the mount, broadcast)` of `rtsp://host:port/NAME[/...]`.
fn broadcast_mount<'a>(uri: &'a str, broadcasts: &Broadcasts) -> Option<(&'a str, Arc<Broadcast>)> {
    let rest = uri.split_once("://")?.1;
    let path = &rest[rest.find('/')? + 1..];
    let first = path.split('/').next()?;
    let (_, b) = broadcasts.iter().find(|(name, _)| name == first)?;
    let end = uri.len() - path.len() + first.len();
    Some((&uri[..end], b.clone()))
}

impl Conn {
    fn new(id: u64, frame: Arc<Frame>, broadcasts: Broadcasts, stats: Arc<PlayStats>) -> Conn {
        Conn {
            id,
            frame,
            broadcasts,
            stats,
            session: None,
            sending: None,
        }
    }

    fn run(&mut self, conn: TcpStream) -> io::Result<()> {
        let _ = conn.set_nodelay(true);
        conn.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let writer = Arc::new(Mutex::new(conn.try_clone()?));
        let mut rd = conn;
        let mut reader = Reader::default();
        let result = (|| -> io::Result<()> {
            while let Some(item) = reader.next(&mut rd)? {
                // Interleaved data from the client (RTCP): dropped.
                let Incoming::Request(req) = item else {
                    continue;
                };
                if req.method() == "PLAY"
                    && let Some(s) = &mut self.session
                    && let Some((b, channel, subscribed)) = &mut s.broadcast
                {
                    // The reply goes out under the stream's lock, so its
                    // RTP-Info names exactly the first packet that follows.
                    let headers = format!("Range: npt=now-\r\nSession: {}\r\n", s.id);
                    let cseq = req.cseq();
                    if *subscribed {
                        let reply = response("200 OK", cseq, &headers, "");
                        writer.lock().unwrap().write_all(&reply)?;
                    } else {
                        let control = &s.control;
                        b.subscribe(self.id, *channel, writer.clone(), |seq, ts| {
                            let info =
                                format!("RTP-Info: url={control};seq={seq};rtptime={ts}\r\n");
                            response("200 OK", cseq, &format!("{headers}{info}"), "")
                        })?;
                        *subscribed = true;
                    }
                    continue;
                }
                let (reply, after) = self.handle(&req);
                writer.lock().unwrap().write_all(&reply)?;
                match after {
                    After::Nothing => {}
                    After::Play => self.play(&writer),
                    After::Close => break,
                }
            }
            Ok(())
        })();
        // Wakes a sender blocked in write, then waits for it.
        let _ = rd.shutdown(Shutdown::Both);
        self.stop_sending();
        self.unsubscribe();
        result
    }

    fn handle(&mut self, req: &Request) -> (Vec<u8>, After) {
        let cseq = req.cseq();
        let mut headers = String::new();
        let mut body = String::new();
        let mut after = After::Nothing;
        let status = match req.method() {
            "OPTIONS" => {
                headers.push_str(
                    "Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER\r\n",
                );
                "200 OK"
            }
            "DESCRIBE" => {
                let described = match broadcast_mount(req.uri(), &self.broadcasts) {
                    Some((base, b)) => Some((base, self.h264_sdp(&b))),
                    None => mount(req.uri()).map(|(base, mbps)| (base, self.sdp(mbps))),
                };
                match described {
                    Some((base, sdp)) => {
                        body = sdp;
                        let _ = write!(
                            headers,
                            "Content-Type: application/sdp\r\nContent-Base: {base}/\r\n"
                        );
                        "200 OK"
                    }
                    None => "404 Not Found",
                }
            }
            "SETUP" => self.setup(req, &mut headers),
            "PLAY" => match &self.session {
                None => "454 Session Not Found",
                Some(s) if self.sending.is_none() => {
                    let c = &s.cursor;
                    let _ = write!(
                        headers,
                        "Range: npt=now-\r\nRTP-Info: url={};seq={};rtptime={}\r\n",
                        s.control,
                        c.seq(self.frame.packets.len()),
                        c.rtptime(self.frame.frame_bits, s.mbps)
                    );
                    after = After::Play;
                    "200 OK"
                }
                Some(_) => "200 OK",
            },
            "PAUSE" => {
                self.stop_sending();
                self.unsubscribe();
                "200 OK"
            }
            "TEARDOWN" => {
                self.stop_sending();
                self.unsubscribe();
                after = After::Close;
                "200 OK"
            }
            "GET_PARAMETER" | "SET_PARAMETER" => "200 OK",
            _ => {
                headers.push_str(
                    "Allow: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER\r\n",
                );
                "405 Method Not Allowed"
            }
        };
        if let Some(s) = &self.session
            && req.method() != "SETUP"
        {
            let _ = write!(headers, "Session: {}\r\n", s.id);
        }
        (response(status, cseq, &headers, &body), after)
    }

    /// The one-video-stream SDP of both kinds of mount.
    fn sdp_with(&self, title: &str, encoding: &str, fps: &str, fmtp: &str) -> String {
        format!(
            "v=0\r\n\
             o=- {id} 1 IN IP4 127.0.0.1\r\n\
             s={title}\r\n\
             t=0 0\r\n\
             a=control:*\r\n\
             a=range:npt=now-\r\n\
             m=video 0 RTP/AVP 96\r\n\
             c=IN IP4 0.0.0.0\r\n\
             a=rtpmap:96 {encoding}/90000\r\n\
             a=framerate:{fps}\r\n\
             a=fmtp:96 {fmtp}\r\n\
             a=control:stream=0\r\n",
            id = self.id,
        )
    }

    fn sdp(&self, mbps: u32) -> String {
        let fps = format!("{:.3}", self.frame.fps(mbps));
        self.sdp_with("bench raw video", "RAW", &fps, &self.frame.fmtp)
    }

    fn h264_sdp(&self, b: &Broadcast) -> String {
        self.sdp_with("bench H.264", "H264", &b.fps().to_string(), &b.fmtp)
    }

    /// Stops a shared H.264 stream to this client.
    fn unsubscribe(&mut self) {
        if let Some(Session {
            broadcast: Some((b, _, subscribed)),
            ..
        }) = &mut self.session
            && *subscribed
        {
            b.unsubscribe(self.id);
            *subscribed = false;
        }
    }

    /// SETUP: TCP interleaved only; 461 for UDP (clients fall back).
    fn setup(&mut self, req: &Request, headers: &mut String) -> &'static str {
        let broadcast = broadcast_mount(req.uri(), &self.broadcasts).map(|(_, b)| b);
        let mbps = match (&broadcast, mount(req.uri())) {
            (Some(_), _) => 0,
            (None, Some((_, mbps))) => mbps,
            (None, None) => return "404 Not Found",
        };
        let transport = req.header("Transport").unwrap_or("");
        let Some(tcp) = transport.split(',').find(|t| {
            t.trim().to_ascii_uppercase().starts_with("RTP/AVP/TCP") || t.contains("interleaved=")
        }) else {
            return "461 Unsupported Transport";
        };
        let channel: u8 = tcp
            .split(';')
            .find_map(|p| p.trim().strip_prefix("interleaved="))
            .and_then(|v| v.split('-').next()?.trim().parse().ok())
            .filter(|&c| c < 255)
            .unwrap_or(0);
        let subscribed = matches!(
            &self.session,
            Some(Session {
                broadcast: Some((_, _, true)),
                ..
            })
        );
        if self.sending.is_some() || subscribed {
            return "455 Method Not Valid in This State";
        }
        let buf = broadcast.is_none().then(|| {
            let mut buf = self.frame.framed.clone();
            for &p in &self.frame.packets {
                buf[p - 3] = channel;
            }
            buf
        });
        let ssrc = broadcast.as_ref().map_or(self.frame.ssrc, |b| b.ssrc());
        let seed = seed(self.id);
        let (id, cursor) = match self.session.take() {
            Some(s) => (s.id, s.cursor),
            None => {
                self.stats.sessions.fetch_add(1, Ordering::Relaxed);
                (
                    format!("{:016X}", seed),
                    Cursor {
                        frames: 0,
                        seq0: seed as u16,
                        ts0: (seed >> 32) as u32,
                    },
                )
            }
        };
        let _ = write!(
            headers,
            "Transport: RTP/AVP/TCP;unicast;interleaved={channel}-{};ssrc={:08X};mode=\"PLAY\"\r\nSession: {id};timeout=60\r\n",
            channel + 1,
            ssrc
        );
        self.session = Some(Session {
            id,
            mbps,
            broadcast: broadcast.map(|b| (b, channel, false)),
            control: req.uri().to_string(),
            cursor,
            buf,
        });
        "200 OK"
    }

    fn play(&mut self, writer: &Arc<Mutex<TcpStream>>) {
        let Some(s) = &mut self.session else { return };
        let Some(buf) = s.buf.take() else { return };
        let stop = Arc::new(AtomicBool::new(false));
        let mut sender = Sender {
            writer: writer.clone(),
            frame: self.frame.clone(),
            stats: self.stats.clone(),
            stop: stop.clone(),
            mbps: s.mbps,
            label: format!("#{} /raw-{}", self.id, s.mbps),
        };
        let cursor = s.cursor;
        let handle = std::thread::Builder::new()
            .name("play-send".into())
            .spawn(move || sender.run(buf, cursor));
        match handle {
            Ok(handle) => self.sending = Some(Sending { stop, handle }),
            Err(e) => eprintln!("play-server #{}: cannot start a sender: {e}", self.id),
        }
    }

    fn stop_sending(&mut self) {
        let Some(sending) = self.sending.take() else {
            return;
        };
        sending.stop.store(true, Ordering::SeqCst);
        if let (Ok((buf, cursor)), Some(s)) = (sending.handle.join(), &mut self.session) {
            s.buf = Some(buf);
            s.cursor = cursor;
        }
    }
}

/// The sending thread of one playing session.
struct Sender {
    writer: Arc<Mutex<TcpStream>>,
    frame: Arc<Frame>,
    stats: Arc<PlayStats>,
    stop: Arc<AtomicBool>,
    mbps: u32,
    label: String,
}

/// This thread's time on a CPU and waiting for one, ns
/// (/proc/thread-self/schedstat).
fn schedstat() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut it = s.split_whitespace().map(|v| v.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// What one second (or the whole session) of sending looked like.
struct Window {
    at: Instant,
    sched: (u64, u64),
    frames: u64,
    late: u64,
    behind_max: Duration,
    restarts: u64,
    write: Duration,
}

impl Window {
    fn new() -> Window {
        Window {
            at: Instant::now(),
            sched: schedstat(),
            frames: 0,
            late: 0,
            behind_max: Duration::ZERO,
            restarts: 0,
            write: Duration::ZERO,
        }
    }

    /// Adds the window's CPU figures to `stats`; returns a description.
    fn close(&self, stats: &PlayStats) -> String {
        let wall = self.at.elapsed();
        let (cpu1, runq1) = schedstat();
        let cpu = cpu1.saturating_sub(self.sched.0);
        let runq = runq1.saturating_sub(self.sched.1);
        stats.cpu_ns.fetch_add(cpu, Ordering::Relaxed);
        stats.runq_ns.fetch_add(runq, Ordering::Relaxed);
        let ms = |ns: u64| ns as f64 / 1e6;
        let write = self.write.as_nanos() as u64;
        // Time in write neither on a CPU nor waiting for one: waiting for
        // room in the socket, i.e. for the client to read.
        let waited = write.saturating_sub(cpu + runq);
        let cause = match (self.late + self.restarts > 0, runq > waited) {
            (false, _) => "",
            (true, true) => ": the server waited for a CPU",
            (true, false) => ": the client read too slowly",
        };
        format!(
            "{} frames in {:.2} s, {} started > {} ms late (at most {:.0} ms behind), {} schedule restarts; \
             in write {:.0} ms, on a CPU {:.0} ms, waiting for a CPU {:.0} ms, waiting for the client ≈ {:.0} ms{cause}",
            self.frames,
            wall.as_secs_f64(),
            self.late,
            LATE.as_millis(),
            self.behind_max.as_secs_f64() * 1e3,
            self.restarts,
            ms(write),
            ms(cpu),
            ms(runq),
            ms(waited),
        )
    }
}

impl Sender {
    /// Sends frames on schedule until stopped or the connection fails;
    /// hands back the buffer and where the stream stands.
    fn run(&mut self, mut buf: Vec<u8>, mut cur: Cursor) -> (Vec<u8>, Cursor) {
        let st = &self.stats;
        st.playing.fetch_add(1, Ordering::Relaxed);
        let period_ns = self.frame.frame_bits as f64 * 1000.0 / self.mbps as f64;
        let per_frame = self.frame.packets.len();
        let rtp_bytes = self.frame.rtp_bytes();
        let mut base = Instant::now();
        let mut base_frames = cur.frames;
        let mut win = Window::new();
        let mut total = Window::new();
        let mut failed = None;
        while !self.stop.load(Ordering::Relaxed) {
            let due =
                base + Duration::from_nanos(((cur.frames - base_frames) as f64 * period_ns) as u64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
                continue;
            }
            let behind = now - due;
            win.behind_max = win.behind_max.max(behind);
            total.behind_max = total.behind_max.max(behind);
            if behind > LATE {
                win.late += 1;
                total.late += 1;
                st.late_frames.fetch_add(1, Ordering::Relaxed);
            }
            if behind > RESTART {
                win.restarts += 1;
                total.restarts += 1;
                st.restarts.fetch_add(1, Ordering::Relaxed);
                base = now;
                base_frames = cur.frames;
            }
            let (seq, ts) = (
                cur.seq(per_frame),
                cur.rtptime(self.frame.frame_bits, self.mbps),
            );
            stamp(&mut buf, &self.frame.packets, seq, ts);
            let t0 = Instant::now();
            let res = {
                let mut w = self.writer.lock().unwrap();
                let r = w.write_all(&buf);
                if r.is_err() {
                    let _ = w.shutdown(Shutdown::Both);
                }
                r
            };
            let took = t0.elapsed();
            win.write += took;
            total.write += took;
            st.write_ns
                .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
            if let Err(e) = res {
                failed = Some(e);
                break;
            }
            cur.frames += 1;
            win.frames += 1;
            total.frames += 1;
            st.frames.fetch_add(1, Ordering::Relaxed);
            st.packets.fetch_add(per_frame as u64, Ordering::Relaxed);
            st.bytes.fetch_add(rtp_bytes, Ordering::Relaxed);
            if win.at.elapsed() >= Duration::from_secs(1) {
                let text = win.close(st);
                if win.late > 0 || win.restarts > 0 {
                    eprintln!("play-server {}: behind schedule: {text}", self.label);
                }
                win = Window::new();
            }
        }
        win.close(st);
        // The session's summary (its CPU already counted per window).
        let secs = total.at.elapsed().as_secs_f64();
        eprintln!(
            "play-server {}: {:.1} Mbit/s of RTP sent; {}{}",
            self.label,
            total.frames as f64 * rtp_bytes as f64 * 8.0 / secs.max(1e-9) / 1e6,
            total.close(&PlayStats::default()),
            failed
                .map(|e| format!("; ended by the connection: {e}"))
                .unwrap_or_default()
        );
        st.playing.fetch_sub(1, Ordering::Relaxed);
        (buf, cur)
    }
}

/// Writes each packet's sequence number (from `seq` on) and the frame's
/// timestamp.
fn stamp(buf: &mut [u8], packets: &[usize], seq: u16, ts: u32) {
    let ts = ts.to_be_bytes();
    for (k, &p) in packets.iter().enumerate() {
        buf[p + 2..p + 4].copy_from_slice(&seq.wrapping_add(k as u16).to_be_bytes());
        buf[p + 4..p + 8].copy_from_slice(&ts);
    }
}
