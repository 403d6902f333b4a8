//! The RTSP server of the side-by-side benchmark (`examples/bench.rs`), run
//! as a separate process so that its cost never shows in a client's figures.
//!
//! `cargo run --release --example bench-server -- [--port P] [--dump DIR]
//! [--seconds S] [--raw-rates 50,100,...] [--tls]`
//!
//! At startup it encodes S seconds (default 10) of a moving test pattern
//! with x264enc once, into memory (1280x720 at 30 fps and about 4 Mbit/s,
//! and 320x240 at about 300 kbit/s), then serves, on 127.0.0.1 only:
//!
//! - `/h264`: the 720p access units looped from memory with fresh
//!   timestamps through `appsrc ! rtph264pay`, in ONE shared media, so N
//!   clients cost one payloader and the server's cost stays fixed and small;
//! - `/h264-low`: the same for the 320x240 stream;
//! - `/raw-MBPS` for every rate of `--raw-rates`: uncompressed I420
//!   1280x720 video (`rtpvrawpay`) at a frame rate giving MBPS Mbit/s of
//!   payload (one pre-filled frame pushed again and again: no generation
//!   cost), for the throughput ceiling with `bench --gst-ceiling`;
//! - on a third port (`play_port`), a light playing endpoint without
//!   GStreamer in the data path (`bench/play_server.rs`) serving
//!   `/raw-MBPS` for any MBPS: the same frame, payloaded once by
//!   `rtpvrawpay` at startup, written from memory one frame per write over
//!   TCP interleaved. The ceiling uses it by default: gst-rtsp-server's
//!   own sending path costs half a core at 1.6 Gbit/s, which on a small
//!   machine the client then does not get;
//!   and `/h264`, `/h264-low`: the same access units as the
//!   gst-rtsp-server mounts, payloaded once by `rtph264pay` and sent to
//!   every client by one thread per mount (`bench/broadcast.rs`), for the
//!   1000-stream figure over TCP, where gst-rtsp-server's 1000 TCP
//!   clients take 0.7 of the two cores;
//! - `/record`: a gst-rtsp-server RECORD mount (one stream of any codec)
//!   that only counts the RTP packets, bytes and sequence-number gaps that
//!   arrive after its jitterbuffer;
//! - on a second port (`count_port`), a minimal RECORD endpoint without
//!   GStreamer (`bench/count_server.rs`) that counts the same figures at a
//!   fraction of the cost: the publishing figures use it, since
//!   gst-rtsp-server's own RECORD path saturates a core first.
//!
//! With `--tls`, a second gst-rtsp-server on its own port (`tls_port`)
//! serves the same mounts over RTSP over TLS only (`rtsps://`), with a
//! certificate for 127.0.0.1 issued at startup by a CA whose PEM file
//! (`tls_ca_file`, under `DIR/tls/` or the temporary directory) clients
//! take as `tls-ca-file`.
//!
//! With `--dump DIR` the access units are also written to `DIR/h264-720p.au`
//! and `DIR/h264-240p.au` (per unit: u32 LE length, u8 flags with bit 0 =
//! delta unit, the bytes), which the publishing clients of the benchmark
//! load so that encoding stays out of their figures too.
//!
//! Protocol on stdio: one line `READY {json}` when serving; then every
//! line `stats` on stdin is answered with `STATS {json}` (the RECORD
//! counters, the light endpoints' under `count` and `play`, and under
//! `feeders` per looped mount what its newest feeders pushed and the
//! payloader put out); end of stdin (the parent went away) or `quit` stops
//! it.

#[path = "bench/broadcast.rs"]
mod broadcast;
// The TLS tests' rcgen certificates (a CA and a server certificate).
#[allow(dead_code)]
#[path = "../tests/common/certs.rs"]
mod certs;
#[path = "bench/count_server.rs"]
mod count_server;
#[path = "bench/play_server.rs"]
mod play_server;
#[path = "bench/rtsp_lite.rs"]
mod rtsp_lite;

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_rtsp_server::prelude::*;

/// One encoded access unit.
#[derive(Clone)]
struct Au {
    data: gst::Buffer,
    delta: bool,
}

struct Encoded {
    aus: Vec<Au>,
    fps: u32,
    width: u32,
    height: u32,
    bytes: u64,
}

impl Encoded {
    fn kbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / (self.aus.len() as f64 / self.fps as f64) / 1000.0
    }
}

/// Encodes `seconds` of a moving SMPTE pattern into memory.
fn encode(
    width: u32,
    height: u32,
    fps: u32,
    kbps: u32,
    seconds: u32,
) -> Result<Encoded, Box<dyn std::error::Error>> {
    let frames = fps * seconds;
    // key-int 30 divides the frame count, so the loop restarts on an IDR.
    let launch = format!(
        "videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=4 ! \
         video/x-raw,width={width},height={height},framerate={fps}/1 ! \
         x264enc bitrate={kbps} tune=zerolatency speed-preset=ultrafast key-int-max=30 ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let sink = pipeline
        .by_name("sink")
        .ok_or("no appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "not an appsink")?;
    pipeline.set_state(gst::State::Playing)?;
    let mut aus = Vec::new();
    let mut bytes = 0u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if Instant::now() > deadline {
            return Err("encoding took longer than 300 s".into());
        }
        match sink.try_pull_sample(gst::ClockTime::from_seconds(5)) {
            Some(sample) => {
                let buffer = sample.buffer().ok_or("sample without buffer")?;
                bytes += buffer.size() as u64;
                let mut data = buffer.copy_deep()?;
                {
                    let d = data.make_mut();
                    d.set_pts(gst::ClockTime::NONE);
                    d.set_dts(gst::ClockTime::NONE);
                    d.set_duration(gst::ClockTime::NONE);
                }
                aus.push(Au {
                    data,
                    delta: buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                });
            }
            None if sink.is_eos() => break,
            None => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    if aus.is_empty() {
        return Err("the encoder produced nothing".into());
    }
    Ok(Encoded {
        aus,
        fps,
        width,
        height,
        bytes,
    })
}

fn dump(path: &std::path::Path, enc: &Encoded) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for au in &enc.aus {
        let map = au.data.map_readable().map_err(std::io::Error::other)?;
        out.write_all(&(map.len() as u32).to_le_bytes())?;
        out.write_all(&[au.delta as u8])?;
        out.write_all(&map)?;
    }
    out.flush()
}

/// What one shared media's feeder did, so that a run in which no client
/// got data can be told apart: frames never pushed, pushed into a flushing
/// `appsrc`, or pushed but never out of the payloader.
#[derive(Default)]
struct FeederCounters {
    pushed: AtomicU64,
    flushing: AtomicU64,
    failed: AtomicU64,
    /// Buffers (or lists) out of the payloader.
    payloaded: AtomicU64,
    /// The first payloaded buffer's PTS and the payloader's running time
    /// when it passed, in ms (diagnostics; u64::MAX until then).
    first_pts_ms: AtomicU64,
    first_running_ms: AtomicU64,
    /// Buffers whose `do-timestamp` PTS lay far ahead of the pipeline's
    /// running time and were stamped again (see `guard_stamps`).
    restamped: AtomicU64,
    /// Set by the media's `unprepared` signal.
    stopped: AtomicBool,
    /// Set when the thread left its loop.
    ended: AtomicBool,
}

/// The feeders of one mount, newest last; only the last few are kept.
struct FeederLog {
    mount: String,
    started: Instant,
    feeders: Mutex<Vec<(f64, Arc<FeederCounters>)>>,
}

const FEEDERS_KEPT: usize = 4;

impl FeederLog {
    fn new(mount: &str) -> Arc<Self> {
        Arc::new(Self {
            mount: mount.to_string(),
            started: Instant::now(),
            feeders: Mutex::new(Vec::new()),
        })
    }

    fn add(&self) -> Arc<FeederCounters> {
        let counters = Arc::new(FeederCounters {
            first_pts_ms: AtomicU64::new(u64::MAX),
            first_running_ms: AtomicU64::new(u64::MAX),
            ..Default::default()
        });
        let mut feeders = self.feeders.lock().unwrap();
        feeders.push((self.started.elapsed().as_secs_f64(), counters.clone()));
        let excess = feeders.len().saturating_sub(FEEDERS_KEPT);
        feeders.drain(..excess);
        counters
    }

    /// `"MOUNT":[{...}, ...]`, oldest feeder first.
    fn json(&self) -> String {
        let feeders = self.feeders.lock().unwrap();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let items: Vec<serde_json::Value> = feeders
            .iter()
            .map(|(at, c)| {
                serde_json::json!({
                    "created_s": (at * 10.0).round() / 10.0,
                    "pushed": load(&c.pushed),
                    "flushing": load(&c.flushing),
                    "failed": load(&c.failed),
                    "payloaded": load(&c.payloaded),
                    "first_pts_ms": load(&c.first_pts_ms),
                    "first_running_ms": load(&c.first_running_ms),
                    "restamped": load(&c.restamped),
                    "stopped": c.stopped.load(Ordering::Relaxed),
                    "ended": c.ended.load(Ordering::Relaxed),
                })
            })
            .collect();
        format!(
            "{}:{}",
            serde_json::json!(self.mount),
            serde_json::json!(items)
        )
    }
}

/// Pushes `frames` (looped) into `appsrc` at `fps_num/fps_den` frames per
/// second of wall-clock time until the media is unprepared. `appsrc` stamps
/// them (do-timestamp) with the running time.
fn spawn_feeder(
    appsrc: gst_app::AppSrc,
    media: &gst_rtsp_server::RTSPMedia,
    frames: Arc<Vec<Au>>,
    (fps_num, fps_den): (u64, u64),
    counters: Arc<FeederCounters>,
) {
    let c = counters.clone();
    media.connect_unprepared(move |_| c.stopped.store(true, Ordering::SeqCst));
    let weak = appsrc.downgrade();
    drop(appsrc);
    std::thread::Builder::new()
        .name("feeder".into())
        .spawn(move || {
            let start = Instant::now();
            let mut i: u64 = 0;
            let mut base = start;
            let mut base_i = 0u64;
            while !counters.stopped.load(Ordering::SeqCst) {
                let Some(src) = weak.upgrade() else { break };
                let au = &frames[(i % frames.len() as u64) as usize];
                let mut buffer = au.data.copy();
                {
                    let b = buffer.make_mut();
                    // appsrc's do-timestamp stamps only unstamped buffers.
                    b.set_pts(gst::ClockTime::NONE);
                    b.set_dts(gst::ClockTime::NONE);
                    b.set_duration(gst::ClockTime::NONE);
                    if au.delta {
                        b.set_flags(gst::BufferFlags::DELTA_UNIT);
                    } else {
                        b.unset_flags(gst::BufferFlags::DELTA_UNIT);
                    }
                }
                // Flushing before PLAYING and after the media stopped:
                // the frame is dropped, the clock keeps going.
                let counter = match src.push_buffer(buffer) {
                    Ok(_) => &counters.pushed,
                    Err(gst::FlowError::Flushing) => &counters.flushing,
                    Err(_) => &counters.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                drop(src);
                i += 1;
                let due =
                    base + Duration::from_nanos((i - base_i) * 1_000_000_000 * fps_den / fps_num);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                } else if now - due > Duration::from_secs(1) {
                    // Far behind (a stalled server): restart the schedule
                    // rather than bursting.
                    base = now;
                    base_i = i;
                }
            }
            counters.ended.store(true, Ordering::SeqCst);
        })
        .expect("spawn feeder thread");
}

/// Works around a start-up race of `appsrc do-timestamp` in gst-rtsp-server's
/// live media (GStreamer 1.22): about one media in 300 stamped its first
/// buffer with the clock's absolute time (15.6 h on this machine, as if the
/// element's base time were still 0) while the running time was 0. The
/// media's RTP sinks (`sync=true`) then waited that long on the first
/// buffer and every client of the media got nothing. A buffer more than
/// 10 s ahead of the pipeline's running time gets that running time.
fn guard_stamps(appsrc: &gst_app::AppSrc, counters: Arc<FeederCounters>) {
    let Some(pad) = appsrc.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let (Some(pts), Some(now)) = (buffer.pts(), pipeline_running_time(pad)) else {
            return gst::PadProbeReturn::Ok;
        };
        if pts > now + gst::ClockTime::from_seconds(10) {
            let b = buffer.make_mut();
            b.set_pts(now);
            b.set_dts(now);
            counters.restamped.fetch_add(1, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
}

/// The running time of the top-level pipeline `pad` is in.
fn pipeline_running_time(pad: &gst::Pad) -> Option<gst::ClockTime> {
    let mut element = pad.parent_element()?;
    while let Some(parent) = element.parent() {
        element = parent.downcast::<gst::Element>().ok()?;
    }
    element.current_running_time()
}

/// A shared mount looping `frames` through `appsrc ! PAY`.
fn looped_factory(
    caps: &str,
    pay: &str,
    frames: Arc<Vec<Au>>,
    rate: (u64, u64),
    max_bytes: u64,
    log: Arc<FeederLog>,
) -> gst_rtsp_server::RTSPMediaFactory {
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( appsrc name=src is-live=true format=time do-timestamp=true caps=\"{caps}\" ! {pay} )"
    ));
    factory.set_shared(true);
    factory.connect_media_configure(move |_, media| {
        let Ok(bin) = media.element().downcast::<gst::Bin>() else {
            return;
        };
        let Some(src) = bin
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            return;
        };
        src.set_max_bytes(max_bytes);
        // A server that cannot keep up drops whole frames here: the client
        // then sees less than the nominal rate (not a gap in sequence
        // numbers), and the benchmark compares achieved and nominal rates.
        src.set_leaky_type(gst_app::AppLeakyType::Downstream);
        let counters = log.add();
        guard_stamps(&src, counters.clone());
        if let Some(pad) = bin.by_name("pay0").and_then(|e| e.static_pad("src")) {
            let c = counters.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |pad, info| {
                    if c.payloaded.fetch_add(1, Ordering::Relaxed) == 0 {
                        let pts = match &info.data {
                            Some(gst::PadProbeData::Buffer(b)) => b.pts(),
                            Some(gst::PadProbeData::BufferList(l)) => {
                                l.get(0).and_then(|b| b.pts())
                            }
                            _ => None,
                        };
                        let running = pad.parent_element().and_then(|e| e.current_running_time());
                        let ms = |t: Option<gst::ClockTime>| t.map_or(u64::MAX, |t| t.mseconds());
                        c.first_pts_ms.store(ms(pts), Ordering::Relaxed);
                        c.first_running_ms.store(ms(running), Ordering::Relaxed);
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        spawn_feeder(src, media, frames.clone(), rate, counters);
    });
    factory
}

/// Counters of everything that arrives at the RECORD mount.
#[derive(Default)]
struct RecordCounters {
    medias: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    gaps: AtomicU64,
}

fn record_factory(counters: Arc<RecordCounters>) -> gst_rtsp_server::RTSPMediaFactory {
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch("( fakesink name=depay0 sync=false async=false )");
    factory.set_shared(false);
    factory.set_transport_mode(gst_rtsp_server::RTSPTransportMode::RECORD);
    factory.connect_media_configure(move |_, media| {
        counters.medias.fetch_add(1, Ordering::Relaxed);
        let Ok(bin) = media.element().downcast::<gst::Bin>() else {
            return;
        };
        let Some(pad) = bin.by_name("depay0").and_then(|e| e.static_pad("sink")) else {
            return;
        };
        let c = counters.clone();
        let last_seq: Mutex<Option<u16>> = Mutex::new(None);
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let count = |buf: &gst::BufferRef| {
                    c.packets.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(buf.size() as u64, Ordering::Relaxed);
                    let mut hdr = [0u8; 4];
                    if buf.copy_to_slice(0, &mut hdr).is_ok() {
                        let seq = u16::from_be_bytes([hdr[2], hdr[3]]);
                        let mut last = last_seq.lock().unwrap();
                        if let Some(l) = *last {
                            let d = seq.wrapping_sub(l.wrapping_add(1));
                            if d != 0 && d < 0x8000 {
                                c.gaps.fetch_add(d as u64, Ordering::Relaxed);
                            }
                        }
                        *last = Some(seq);
                    }
                };
                match info.data {
                    Some(gst::PadProbeData::Buffer(ref b)) => count(b),
                    Some(gst::PadProbeData::BufferList(ref l)) => l.iter().for_each(count),
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    });
    factory
}

/// The one raw frame: I420 with a gradient, so it is not all zeroes.
fn raw_frame(width: u32, height: u32) -> gst::Buffer {
    let luma = (width * height) as usize;
    let size = luma + luma / 2;
    let mut data = vec![128u8; size];
    for (i, b) in data[..luma].iter_mut().enumerate() {
        *b = ((i % width as usize) * 255 / width as usize) as u8;
    }
    gst::Buffer::from_mut_slice(data)
}

fn raise_nofile() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A second gst-rtsp-server on the same mounts that speaks RTSP over TLS
/// only: its port, the CA file clients validate it with, and its source.
fn tls_server(
    mounts: &gst_rtsp_server::RTSPMountPoints,
    dump: Option<&std::path::Path>,
) -> Result<(u16, String, gst::glib::SourceId), Box<dyn std::error::Error>> {
    let dir = match dump {
        Some(d) => d.join("tls"),
        None => std::env::temp_dir().join(format!("bench-server-tls-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    // GIO's file database wants an absolute path.
    let dir = std::fs::canonicalize(dir)?;
    let ca = certs::Authority::new(&dir, "bench-ca");
    let issued = ca.issue("server", &["127.0.0.1"], certs::Validity::Current);
    let certificate = gio::TlsCertificate::from_pem(&issued.certificate_and_key())?;
    let auth = gst_rtsp_server::RTSPAuth::new();
    auth.set_tls_certificate(Some(&certificate));
    let mut token = gst_rtsp_server::RTSPToken::builder()
        .field(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
        .build();
    auth.set_default_token(Some(&mut token));
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service("0");
    server.set_backlog(4096);
    server.set_mount_points(Some(mounts));
    server.set_auth(Some(&auth));
    let source = server.attach(None)?;
    Ok((
        server.bound_port() as u16,
        ca.file.to_string_lossy().into_owned(),
        source,
    ))
}

struct Args {
    port: u16,
    dump: Option<std::path::PathBuf>,
    seconds: u32,
    raw_rates: Vec<u32>,
    tls: bool,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        port: 0,
        dump: None,
        seconds: 10,
        raw_rates: vec![50, 100, 200, 400, 800, 1600],
        tls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => a.port = value()?.parse()?,
            "--dump" => a.dump = Some(value()?.into()),
            "--seconds" => a.seconds = value()?.parse()?,
            "--tls" => a.tls = true,
            "--raw-rates" => {
                a.raw_rates = value()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    raise_nofile();
    gst::init()?;
    let t0 = Instant::now();
    let hd = encode(1280, 720, 30, 4000, args.seconds)?;
    let low = encode(320, 240, 30, 300, args.seconds)?;
    let encode_s = t0.elapsed().as_secs_f64();
    if let Some(dir) = &args.dump {
        std::fs::create_dir_all(dir)?;
        dump(&dir.join("h264-720p.au"), &hd)?;
        dump(&dir.join("h264-240p.au"), &low)?;
    }

    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&args.port.to_string());
    // Up to a few thousand clients.
    server.set_backlog(4096);
    let mounts = server.mount_points().ok_or("no mount points")?;
    let feeder_logs: Arc<Mutex<Vec<Arc<FeederLog>>>> = Arc::default();
    let feeder_log = |mount: &str| {
        let log = FeederLog::new(mount);
        feeder_logs.lock().unwrap().push(log.clone());
        log
    };

    for (path, enc) in [("/h264", &hd), ("/h264-low", &low)] {
        let caps = format!(
            "video/x-h264,stream-format=byte-stream,alignment=au,width={},height={},framerate={}/1",
            enc.width, enc.height, enc.fps
        );
        let factory = looped_factory(
            &caps,
            "rtph264pay name=pay0 pt=96 config-interval=-1",
            Arc::new(enc.aus.clone()),
            (enc.fps as u64, 1),
            8 << 20,
            feeder_log(path),
        );
        // For the TLS server's RTSPAuth (the plain server has none).
        factory.add_role_from_structure(
            &gst::Structure::builder("anonymous")
                .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                .build(),
        );
        mounts.add_factory(path, factory);
    }

    let (rw, rh) = (1280u32, 720u32);
    let frame = raw_frame(rw, rh);
    let frame_bits = frame.size() as u64 * 8;
    let play_frame = Arc::new(play_server::Frame::payload(&frame, rw, rh)?);
    let raw_packets = play_frame.packets_per_frame();
    let raw = Arc::new(vec![Au {
        data: frame,
        delta: false,
    }]);
    for &mbps in &args.raw_rates {
        // Frame rate giving MBPS Mbit/s of video payload, as a fraction
        // over 1000.
        let fps_milli = (mbps as u64 * 1_000_000 * 1000 / frame_bits).max(1);
        let caps =
            format!("video/x-raw,format=I420,width={rw},height={rh},framerate={fps_milli}/1000");
        let factory = looped_factory(
            &caps,
            "rtpvrawpay name=pay0 pt=96",
            raw.clone(),
            (fps_milli, 1000),
            64 << 20,
            feeder_log(&format!("/raw-{mbps}")),
        );
        mounts.add_factory(&format!("/raw-{mbps}"), factory);
    }

    let counters = Arc::new(RecordCounters::default());
    mounts.add_factory("/record", record_factory(counters.clone()));
    let count_stats = Arc::new(count_server::CountStats::default());
    let count_port = count_server::start(count_stats.clone())?;
    let mut broadcasts = Vec::new();
    for (name, enc) in [("h264", &hd), ("h264-low", &low)] {
        let caps = format!(
            "video/x-h264,stream-format=byte-stream,alignment=au,width={},height={},framerate={}/1",
            enc.width, enc.height, enc.fps
        );
        let aus: Vec<gst::Buffer> = enc.aus.iter().map(|au| au.data.clone()).collect();
        let b = broadcast::Broadcast::start(&aus, &caps, enc.fps, name)?;
        broadcasts.push((name.to_string(), b));
    }
    let broadcasts = Arc::new(broadcasts);
    let play_stats = Arc::new(play_server::PlayStats::default());
    let play_port = play_server::start(play_frame, broadcasts.clone(), play_stats.clone())?;

    let _source = server.attach(None)?;
    let (tls_port, tls_ca_file, _tls_source) = if args.tls {
        let (port, ca, source) = tls_server(&mounts, args.dump.as_deref())?;
        (port, ca, Some(source))
    } else {
        (0, String::new(), None)
    };
    let ready = format!(
        "{{\"port\":{},\"tls_port\":{tls_port},\"tls_ca_file\":{tls_ca_file:?},\"count_port\":{count_port},\"play_port\":{play_port},\"h264_kbps\":{:.0},\"h264_low_kbps\":{:.0},\"encode_s\":{encode_s:.1},\"raw_frame_bits\":{frame_bits},\"raw_packets_per_frame\":{raw_packets},\"raw_rates\":{:?}}}",
        server.bound_port(),
        hd.kbps(),
        low.kbps(),
        args.raw_rates,
    );
    println!("READY {ready}");
    std::io::stdout().flush()?;

    let ml = main_loop.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            match line.trim() {
                "stats" => {
                    println!(
                        "STATS {{\"medias\":{},\"packets\":{},\"bytes\":{},\"gaps\":{},\"count\":{},\"play\":{},\"play_h264\":{{{}}},\"feeders\":{{{}}}}}",
                        counters.medias.load(Ordering::Relaxed),
                        counters.packets.load(Ordering::Relaxed),
                        counters.bytes.load(Ordering::Relaxed),
                        counters.gaps.load(Ordering::Relaxed),
                        count_stats.json(),
                        play_stats.json(),
                        broadcasts
                            .iter()
                            .map(|(name, b)| format!("\"{name}\":{}", b.json()))
                            .collect::<Vec<_>>()
                            .join(","),
                        feeder_logs
                            .lock()
                            .unwrap()
                            .iter()
                            .map(|log| log.json())
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    let _ = std::io::stdout().flush();
                }
                "quit" => break,
                _ => {}
            }
        }
        ml.quit();
    });
    main_loop.run();
    Ok(())
}
