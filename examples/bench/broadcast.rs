//! Shared H.264 streams of the light playing endpoint: `/h264` and
//! `/h264-low` on the play port, for the 1000-stream figure.
//!
//! With 1000 TCP clients gst-rtsp-server's sending path took 0.65–0.7 of
//! the machine's two cores in the 18:33 run, so the client got 1.3 cores
//! and only 88 % of the nominal rate went out: the figure measured the
//! server. This endpoint serves the same access units, payloaded once at
//! startup by `rtph264pay` (pt 96, `config-interval=-1`, the mount's
//! payloader settings), like one shared gst-rtsp-server media: every
//! client gets the same packets (one SSRC, one sequence-number space),
//! joining wherever the loop is. One thread per mount stamps each frame's
//! packets once and writes them to every playing client with one `write`
//! each, so the server's cost is a system call per client and frame.
//!
//! A client whose socket is full blocks the writes (like the flow control
//! of a shared gst-rtsp-server media), so a slow client shows as less
//! throughput for everyone, never as a gap; a client that takes nothing
//! for 20 s (the write timeout) is dropped.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Further behind than this, the schedule restarts from now.
const RESTART: Duration = Duration::from_secs(1);

/// One access unit as interleaved frames (`$`, channel 0, length, RTP).
struct Unit {
    framed: Vec<u8>,
    /// Where each RTP header starts in `framed`.
    packets: Vec<usize>,
}

/// A playing client.
struct Subscriber {
    id: u64,
    channel: u8,
    writer: Arc<Mutex<TcpStream>>,
}

/// Where the shared stream stands.
struct Cursor {
    unit: usize,
    /// Frames sent since the start (the RTP clock runs on from this).
    frames: u64,
    seq: u16,
    ts0: u32,
}

pub struct Broadcast {
    units: Vec<Unit>,
    fps: u32,
    ssrc: u32,
    /// `a=fmtp` parameters from the payloader's caps.
    pub fmtp: String,
    kbps: f64,
    state: Mutex<(Cursor, Vec<Subscriber>)>,
    frames: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped_clients: AtomicU64,
}

impl Broadcast {
    /// Payloads `aus` (byte-stream H.264, one access unit per buffer) once
    /// through `appsrc ! rtph264pay ! appsink` and starts the sending
    /// thread.
    pub fn start(
        aus: &[gst::Buffer],
        caps: &str,
        fps: u32,
        name: &str,
    ) -> Result<Arc<Broadcast>, Box<dyn std::error::Error>> {
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time caps=\"{caps}\" ! \
             rtph264pay pt=96 config-interval=-1 ! appsink name=sink sync=false"
        ))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or("no appsrc")?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or("no appsink")?;
        pipeline.set_state(gst::State::Playing)?;
        let period = gst::ClockTime::SECOND / fps as u64;
        for (i, au) in aus.iter().enumerate() {
            let mut b = au.copy();
            {
                let b = b.make_mut();
                b.set_pts(period * i as u64);
                b.set_dts(period * i as u64);
            }
            src.push_buffer(b)?;
        }
        src.end_of_stream()?;

        // Packets of one access unit share a timestamp; a new one starts a
        // new unit.
        let mut units: Vec<Unit> = Vec::new();
        let mut last_ts = None;
        let mut ssrc = 0;
        let mut fmtp = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if Instant::now() > deadline {
                return Err("payloading took longer than 60 s".into());
            }
            let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) else {
                if sink.is_eos() {
                    break;
                }
                continue;
            };
            if fmtp.is_empty()
                && let Some(s) = sample.caps().and_then(|c| c.structure(0))
            {
                let mut parts = vec!["packetization-mode=1".to_string()];
                for key in ["profile-level-id", "sprop-parameter-sets"] {
                    if let Ok(v) = s.get::<String>(key) {
                        parts.push(format!("{key}={v}"));
                    }
                }
                fmtp = parts.join(";");
            }
            let Some(buffer) = sample.buffer() else {
                continue;
            };
            let map = buffer.map_readable()?;
            let rtp = map.as_slice();
            if rtp.len() < 12 || rtp.len() > u16::MAX as usize {
                return Err("the payloader made an odd packet".into());
            }
            let ts = u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]);
            ssrc = u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]);
            if last_ts != Some(ts) {
                units.push(Unit {
                    framed: Vec::new(),
                    packets: Vec::new(),
                });
                last_ts = Some(ts);
            }
            let unit = units.last_mut().expect("pushed above");
            unit.framed
                .extend_from_slice(&[b'$', 0, (rtp.len() >> 8) as u8, rtp.len() as u8]);
            unit.packets.push(unit.framed.len());
            unit.framed.extend_from_slice(rtp);
        }
        pipeline.set_state(gst::State::Null)?;
        if units.is_empty() || fmtp.is_empty() {
            return Err("the payloader produced nothing".into());
        }
        let rtp_bytes: usize = units
            .iter()
            .map(|u| u.framed.len() - 4 * u.packets.len())
            .sum();
        let kbps = rtp_bytes as f64 * 8.0 / (units.len() as f64 / fps as f64) / 1000.0;
        let broadcast = Arc::new(Broadcast {
            units,
            fps,
            ssrc,
            fmtp,
            kbps,
            state: Mutex::new((
                Cursor {
                    unit: 0,
                    frames: 0,
                    seq: 1,
                    ts0: 1,
                },
                Vec::new(),
            )),
            frames: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped_clients: AtomicU64::new(0),
        });
        let sender = broadcast.clone();
        std::thread::Builder::new()
            .name(format!("play-{name}"))
            .spawn(move || sender.run())?;
        Ok(broadcast)
    }

    /// Counters for the benchmark's `STATS` line.
    pub fn json(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{{\"kbps\":{:.0},\"frames\":{},\"packets\":{},\"bytes\":{},\"dropped_clients\":{}}}",
            self.kbps,
            l(&self.frames),
            l(&self.packets),
            l(&self.bytes),
            l(&self.dropped_clients)
        )
    }

    pub fn fps(&self) -> u32 {
        self.fps
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Starts sending to a client with the next frame. `reply` makes the
    /// PLAY response from that frame's first sequence number and RTP
    /// timestamp (for RTP-Info); it is written before any packet.
    pub fn subscribe(
        &self,
        id: u64,
        channel: u8,
        writer: Arc<Mutex<TcpStream>>,
        reply: impl FnOnce(u16, u32) -> Vec<u8>,
    ) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap();
        let (cursor, subscribers) = &mut *state;
        let reply = reply(cursor.seq, self.rtptime(cursor.frames, cursor.ts0));
        writer.lock().unwrap().write_all(&reply)?;
        subscribers.retain(|s| s.id != id);
        subscribers.push(Subscriber {
            id,
            channel,
            writer,
        });
        Ok(())
    }

    pub fn unsubscribe(&self, id: u64) {
        self.state.lock().unwrap().1.retain(|s| s.id != id);
    }

    fn rtptime(&self, frames: u64, ts0: u32) -> u32 {
        ts0.wrapping_add((frames * 90_000 / self.fps as u64) as u32)
    }

    fn run(&self) {
        let period = Duration::from_secs(1) / self.fps;
        let mut start = Instant::now();
        let mut n: u32 = 0;
        let mut buf = Vec::new();
        let mut patched = Vec::new();
        loop {
            let due = start + period * n;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else if now - due > RESTART {
                start = now;
                n = 0;
            }
            n += 1;
            let mut state = self.state.lock().unwrap();
            let (cursor, subscribers) = &mut *state;
            let unit = &self.units[cursor.unit];
            buf.clear();
            buf.extend_from_slice(&unit.framed);
            let ts = self.rtptime(cursor.frames, cursor.ts0);
            for (i, &p) in unit.packets.iter().enumerate() {
                let seq = cursor.seq.wrapping_add(i as u16);
                buf[p + 2..p + 4].copy_from_slice(&seq.to_be_bytes());
                buf[p + 4..p + 8].copy_from_slice(&ts.to_be_bytes());
            }
            cursor.seq = cursor.seq.wrapping_add(unit.packets.len() as u16);
            cursor.frames += 1;
            cursor.unit = (cursor.unit + 1) % self.units.len();
            if subscribers.is_empty() {
                continue;
            }
            let before = subscribers.len();
            subscribers.retain(|s| {
                let data = if s.channel == 0 {
                    &buf
                } else {
                    patched.clear();
                    patched.extend_from_slice(&buf);
                    for &p in &unit.packets {
                        patched[p - 3] = s.channel;
                    }
                    &patched
                };
                s.writer.lock().unwrap().write_all(data).is_ok()
            });
            self.dropped_clients
                .fetch_add((before - subscribers.len()) as u64, Ordering::Relaxed);
            let sent = subscribers.len() as u64;
            self.frames.fetch_add(sent, Ordering::Relaxed);
            self.packets
                .fetch_add(sent * unit.packets.len() as u64, Ordering::Relaxed);
            self.bytes.fetch_add(
                sent * (unit.framed.len() - 4 * unit.packets.len()) as u64,
                Ordering::Relaxed,
            );
        }
    }
}
