//! The measuring side of the benchmark: `bench client MODE ...` runs in its
//! own process (one per measured configuration), so that CPU time, memory
//! and threads are this configuration's only. It prints progress markers
//! (`MARK start`, `MARK end`) and one final line `RESULT {json}`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::{Value, json};

use crate::procstat;

pub type Opts = HashMap<String, String>;

pub fn opt<'a>(o: &'a Opts, key: &str, default: &'a str) -> &'a str {
    o.get(key).map(String::as_str).unwrap_or(default)
}

fn num<T: std::str::FromStr>(o: &Opts, key: &str, default: T) -> T {
    o.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn mark(what: &str) {
    println!("MARK {what}");
    let _ = std::io::stdout().flush();
}

/// Packets and buffers of one stream, updated from pad probes.
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// RTP sequence numbers missing (lost, or dropped as late).
    gaps: AtomicU64,
    /// Output buffers (depayloaded frames, or packets without depayloader).
    buffers: AtomicU64,
    /// u32::MAX: no packet seen yet.
    last_seq: AtomicU32,
    first_packet: OnceLock<Instant>,
    first_buffer: OnceLock<Instant>,
    error: OnceLock<String>,
}

impl Counters {
    fn new() -> Arc<Self> {
        Arc::new(Counters {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            buffers: AtomicU64::new(0),
            last_seq: AtomicU32::new(u32::MAX),
            first_packet: OnceLock::new(),
            first_buffer: OnceLock::new(),
            error: OnceLock::new(),
        })
    }

    fn rtp(&self, buf: &gst::BufferRef) {
        self.first_packet.get_or_init(Instant::now);
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(buf.size() as u64, Ordering::Relaxed);
        let mut hdr = [0u8; 4];
        if buf.copy_to_slice(0, &mut hdr).is_err() {
            return;
        }
        let seq = u16::from_be_bytes([hdr[2], hdr[3]]);
        let last = self.last_seq.swap(seq as u32, Ordering::Relaxed);
        if last != u32::MAX {
            let d = seq.wrapping_sub((last as u16).wrapping_add(1));
            if d != 0 && d < 0x8000 {
                self.gaps.fetch_add(d as u64, Ordering::Relaxed);
            }
        }
    }

    fn out(&self) {
        self.first_buffer.get_or_init(Instant::now);
        self.buffers.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> [u64; 4] {
        [
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.gaps.load(Ordering::Relaxed),
            self.buffers.load(Ordering::Relaxed),
        ]
    }
}

fn probe_rtp(pad: &gst::Pad, c: Arc<Counters>, also_out: bool) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            match info.data {
                Some(gst::PadProbeData::Buffer(ref b)) => {
                    c.rtp(b);
                    if also_out {
                        c.out();
                    }
                }
                Some(gst::PadProbeData::BufferList(ref l)) => {
                    for b in l.iter() {
                        c.rtp(b);
                        if also_out {
                            c.out();
                        }
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

fn probe_out(pad: &gst::Pad, c: Arc<Counters>) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, _| {
            c.out();
            gst::PadProbeReturn::Ok
        },
    );
}

/// Bus messages are handled synchronously and dropped (nothing queues up
/// in the measured process); the first error is kept.
fn watch_bus(pipeline: &gst::Pipeline, c: Arc<Counters>) {
    let bus = pipeline.bus().expect("pipeline without bus");
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Error(e) = msg.view() {
            let _ = c.error.set(format!(
                "{}: {}",
                msg.src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default(),
                e.error()
            ));
        }
        gst::BusSyncReply::Drop
    });
}

fn src_launch(element: &str, url: &str, protocol: &str, latency: u32) -> String {
    match element {
        "rtspsrc" | "rtspsrc2" => {
            format!("{element} location={url} protocols={protocol} latency={latency}")
        }
        other => panic!("unknown source element {other}"),
    }
}

/// Builds `SRC ! [rtph264depay !] fakesink` with counting probes; for
/// `rtsps://`, SRC validates the server with the CA in `tls_ca`.
fn play_pipeline(
    element: &str,
    url: &str,
    protocol: &str,
    latency: u32,
    depay: &str,
    tls_ca: Option<&str>,
) -> Result<(gst::Pipeline, Arc<Counters>), Box<dyn std::error::Error>> {
    let mut src = src_launch(element, url, protocol, latency);
    if let (Some(ca), "rtspsrc2") = (tls_ca, element) {
        src.push_str(&format!(" tls-ca-file=\"{ca}\""));
    }
    let launch = match depay {
        "none" => format!("{src} ! fakesink name=sink sync=false async=false"),
        d => format!("{src} ! {d} name=depay ! fakesink name=sink sync=false async=false"),
    };
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    if let (Some(ca), "rtspsrc") = (tls_ca, element) {
        // C rtspsrc takes a GIO database (no file property).
        let database = gio::TlsFileDatabase::new(ca)?;
        for e in pipeline.iterate_elements().into_iter().flatten() {
            if e.factory().is_some_and(|f| f.name() == "rtspsrc") {
                e.set_property("tls-database", &database);
            }
        }
    }
    let c = Counters::new();
    let sinkpad = pipeline
        .by_name("sink")
        .and_then(|s| s.static_pad("sink"))
        .ok_or("no fakesink pad")?;
    if depay == "none" {
        probe_rtp(&sinkpad, c.clone(), true);
    } else {
        let depay_pad = pipeline
            .by_name("depay")
            .and_then(|s| s.static_pad("sink"))
            .ok_or("no depayloader pad")?;
        probe_rtp(&depay_pad, c.clone(), false);
        probe_out(&sinkpad, c.clone());
    }
    watch_bus(&pipeline, c.clone());
    Ok((pipeline, c))
}

/// Loads every plugin a configuration uses once, before the baseline, so
/// that per-stream figures don't carry the cost of loading shared objects.
fn warm_up(names: &[&str]) {
    for name in names {
        if let Ok(e) = gst::ElementFactory::make(name).build() {
            drop(e);
        }
    }
}

/// Sets every pipeline to NULL on a helper thread and waits at most
/// `limit` for it.
fn shutdown(pipelines: Vec<gst::Pipeline>, limit: Duration) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for p in &pipelines {
            let _ = p.set_state(gst::State::Null);
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(limit).is_ok()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn errors_of(counters: &[Arc<Counters>]) -> (usize, Vec<String>) {
    let errs: Vec<String> = counters
        .iter()
        .filter_map(|c| c.error.get().cloned())
        .collect();
    let n = errs.len();
    let mut first: Vec<String> = errs;
    first.sort();
    first.dedup();
    first.truncate(3);
    (n, first)
}

/// Cost of N concurrent playing streams, measured over a steady-state window.
fn play(o: &Opts) -> Result<Value, Box<dyn std::error::Error>> {
    let element = opt(o, "element", "rtspsrc2").to_string();
    let protocol = opt(o, "protocol", "tcp").to_string();
    let url = opt(o, "url", "").to_string();
    let n: usize = num(o, "n", 1);
    let latency: u32 = num(o, "latency", 200);
    let settle: f64 = num(o, "settle", 3.0);
    let window: f64 = num(o, "seconds", 10.0);
    let depay = opt(o, "depay", "rtph264depay").to_string();
    let start_timeout: f64 = num(o, "start-timeout", 60.0);
    let tls_ca = o.get("tls-ca-file").map(String::as_str);

    let nofile = procstat::raise_nofile();
    warm_up(&[
        &element,
        "rtph264depay",
        "fakesink",
        "rtpbin",
        "rtpjitterbuffer",
        "rtpsession",
        "rtpssrcdemux",
        "rtpptdemux",
        "udpsrc",
        "udpsink",
        "appsink",
        "funnel",
    ]);
    let base_threads = procstat::threads();
    let base_rss = procstat::rss_kib();
    let base_cpu = procstat::cpu_seconds();

    let t0 = Instant::now();
    let mut pipelines = Vec::with_capacity(n);
    let mut counters = Vec::with_capacity(n);
    for _ in 0..n {
        let (p, c) = play_pipeline(&element, &url, &protocol, latency, &depay, tls_ca)?;
        p.set_state(gst::State::Playing)?;
        pipelines.push(p);
        counters.push(c);
    }
    // Every stream delivers (or fails), bounded.
    let deadline = t0 + Duration::from_secs_f64(start_timeout);
    while Instant::now() < deadline
        && counters
            .iter()
            .any(|c| c.first_buffer.get().is_none() && c.error.get().is_none())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started: usize = counters
        .iter()
        .filter(|c| c.first_buffer.get().is_some())
        .count();
    let startup_s = t0.elapsed().as_secs_f64();
    let startup_cpu = procstat::cpu_seconds() - base_cpu;

    std::thread::sleep(Duration::from_secs_f64(settle));

    mark("start");
    let before: Vec<[u64; 4]> = counters.iter().map(|c| c.snapshot()).collect();
    let ticks0 = procstat::thread_ticks();
    let cpu0 = procstat::cpu_seconds();
    let w0 = Instant::now();
    let mut max_threads = procstat::threads();
    let mut max_rss = procstat::rss_kib();
    let wend = w0 + Duration::from_secs_f64(window);
    while Instant::now() < wend {
        std::thread::sleep(Duration::from_millis(250).min(wend - Instant::now()));
        max_threads = max_threads.max(procstat::threads());
        max_rss = max_rss.max(procstat::rss_kib());
    }
    let cpu1 = procstat::cpu_seconds();
    let wall = w0.elapsed().as_secs_f64();
    let ticks1 = procstat::thread_ticks();
    let after: Vec<[u64; 4]> = counters.iter().map(|c| c.snapshot()).collect();
    mark("end");
    let hwm = procstat::hwm_kib();

    let mut packets = 0;
    let mut bytes = 0;
    let mut gaps = 0;
    let mut buffers = 0;
    let mut lossy_streams = 0;
    let mut stalled_streams = 0;
    for (b, a) in before.iter().zip(&after) {
        packets += a[0] - b[0];
        bytes += a[1] - b[1];
        gaps += a[2] - b[2];
        buffers += a[3] - b[3];
        if a[2] > b[2] {
            lossy_streams += 1;
        }
        if a[3] == b[3] {
            stalled_streams += 1;
        }
    }
    let gaps_total: u64 = after.iter().map(|a| a[2]).sum();
    let (errors, error_texts) = errors_of(&counters);
    let cpu = cpu1 - cpu0;
    let threads = max_threads.saturating_sub(base_threads);
    let mut thread_cpu: Vec<(String, f64, u64)> = procstat::thread_cpu_delta(&ticks0, &ticks1)
        .into_iter()
        .map(|(k, (s, t))| (k, s, t))
        .collect();
    thread_cpu.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    let thread_cpu: Vec<Value> = thread_cpu
        .iter()
        .take(12)
        .map(|(k, s, t)| json!({"name": k, "cpu_s": s, "threads": t}))
        .collect();

    let result = json!({
        "mode": "play",
        "element": element,
        "protocol": protocol,
        "url": url,
        "n": n,
        "latency_ms": latency,
        "depay": depay,
        "started": started,
        "startup_s": startup_s,
        "startup_cpu_s": startup_cpu,
        "window_s": wall,
        "cpu_s": cpu,
        "cpu_per_stream_s": cpu / (n as f64 * wall),
        "cpu_cores": cpu / wall,
        "rss_base_kib": base_rss,
        "rss_max_kib": max_rss,
        "hwm_kib": hwm,
        "rss_per_stream_kib": hwm.saturating_sub(base_rss) as f64 / n as f64,
        "threads_base": base_threads,
        "threads_max": max_threads,
        "threads_per_stream": threads as f64 / n as f64,
        "packets": packets,
        "bytes": bytes,
        "mbps": bytes as f64 * 8.0 / wall / 1e6,
        "mbps_per_stream": bytes as f64 * 8.0 / wall / 1e6 / n as f64,
        "buffers": buffers,
        "gaps": gaps,
        "gaps_since_start": gaps_total,
        "lossy_streams": lossy_streams,
        "stalled_streams": stalled_streams,
        "errors": errors,
        "error_texts": error_texts,
        "nofile": nofile,
        "thread_cpu": thread_cpu,
    });
    println!("RESULT {result}");
    let _ = std::io::stdout().flush();
    shutdown(pipelines, Duration::from_secs(30));
    Ok(result)
}

/// Time from PLAYING to the first RTP packet and the first depayloaded
/// buffer, for `runs` sequential single-stream sessions.
fn ttfb(o: &Opts) -> Result<Value, Box<dyn std::error::Error>> {
    let element = opt(o, "element", "rtspsrc2").to_string();
    let protocol = opt(o, "protocol", "tcp").to_string();
    let url = opt(o, "url", "").to_string();
    let runs: usize = num(o, "runs", 10);
    let latency: u32 = num(o, "latency", 200);
    warm_up(&[&element, "rtph264depay", "fakesink", "rtpbin"]);
    let mut first_buffer_ms = Vec::new();
    let mut first_packet_ms = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..runs {
        let (p, c) = play_pipeline(&element, &url, &protocol, latency, "rtph264depay", None)?;
        let t0 = Instant::now();
        p.set_state(gst::State::Playing)?;
        let deadline = t0 + Duration::from_secs(10);
        while Instant::now() < deadline && c.first_buffer.get().is_none() && c.error.get().is_none()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        match (c.first_packet.get(), c.first_buffer.get()) {
            (Some(pk), Some(b)) => {
                first_packet_ms.push((*pk - t0).as_secs_f64() * 1000.0);
                first_buffer_ms.push((*b - t0).as_secs_f64() * 1000.0);
            }
            _ => failures.push(
                c.error
                    .get()
                    .cloned()
                    .unwrap_or_else(|| "no buffer within 10 s".into()),
            ),
        }
        if !shutdown(vec![p], Duration::from_secs(10)) {
            failures.push("NULL took longer than 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = json!({
        "mode": "ttfb",
        "element": element,
        "protocol": protocol,
        "latency_ms": latency,
        "runs": runs,
        "first_buffer_ms": first_buffer_ms,
        "first_packet_ms": first_packet_ms,
        "median_ms": median(&mut first_buffer_ms.clone()),
        "median_first_packet_ms": median(&mut first_packet_ms.clone()),
        "failures": failures,
    });
    println!("RESULT {result}");
    Ok(result)
}

/// Frames of the publishing clients: encoded access units from the
/// server's dump, or one raw I420 frame.
struct Source {
    caps: gst::Caps,
    frames: Vec<(gst::Buffer, bool)>,
    fps_num: u64,
    fps_den: u64,
    /// Payloader for our element (C rtspclientsink picks its own).
    pay: &'static str,
}

fn load_aus(path: &str) -> Result<Vec<(gst::Buffer, bool)>, Box<dyn std::error::Error>> {
    let data = std::fs::read(path)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= data.len() {
        let len = u32::from_le_bytes(data[i..i + 4].try_into()?) as usize;
        let delta = data[i + 4] & 1 != 0;
        i += 5;
        let end = (i + len).min(data.len());
        out.push((gst::Buffer::from_slice(data[i..end].to_vec()), delta));
        i = end;
    }
    if out.is_empty() {
        return Err(format!("no access units in {path}").into());
    }
    Ok(out)
}

fn publish_source(o: &Opts) -> Result<Source, Box<dyn std::error::Error>> {
    let source = opt(o, "source", "h264");
    if source == "raw" {
        let mbps: u64 = num(o, "mbps", 100);
        let (w, h) = (1280u64, 720u64);
        let size = (w * h * 3 / 2) as usize;
        let fps_milli = (mbps * 1_000_000 * 1000 / (size as u64 * 8)).max(1);
        let mut data = vec![128u8; size];
        for (i, b) in data[..(w * h) as usize].iter_mut().enumerate() {
            *b = (i % w as usize * 255 / w as usize) as u8;
        }
        return Ok(Source {
            caps: gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", w as i32)
                .field("height", h as i32)
                .field("framerate", gst::Fraction::new(fps_milli as i32, 1000))
                .build(),
            frames: vec![(gst::Buffer::from_mut_slice(data), false)],
            fps_num: fps_milli,
            fps_den: 1000,
            pay: "rtpvrawpay pt=96",
        });
    }
    let file = opt(o, "au-file", "");
    let (w, h) = if file.contains("240p") {
        (320, 240)
    } else {
        (1280, 720)
    };
    Ok(Source {
        caps: gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("width", w)
            .field("height", h)
            .field("framerate", gst::Fraction::new(30, 1))
            .build(),
        frames: load_aus(file)?,
        fps_num: 30,
        fps_den: 1,
        pay: "rtph264pay pt=96 config-interval=-1",
    })
}

/// Cost of N concurrent publishing streams; the server counts what arrives.
fn publish(o: &Opts) -> Result<Value, Box<dyn std::error::Error>> {
    let element = opt(o, "element", "rtspsink").to_string();
    let protocol = opt(o, "protocol", "tcp").to_string();
    let url = opt(o, "url", "").to_string();
    let n: usize = num(o, "n", 1);
    let latency: u32 = num(o, "latency", 200);
    let settle: f64 = num(o, "settle", 3.0);
    let window: f64 = num(o, "seconds", 10.0);
    let start_timeout: f64 = num(o, "start-timeout", 60.0);
    let source = publish_source(o)?;
    let nofile = procstat::raise_nofile();
    warm_up(&[
        &element,
        "appsrc",
        "rtph264pay",
        "rtpvrawpay",
        "rtpbin",
        "rtpsession",
        "udpsrc",
        "udpsink",
        "multiudpsink",
        "appsink",
        "funnel",
    ]);
    let base_threads = procstat::threads();
    let base_rss = procstat::rss_kib();

    let t0 = Instant::now();
    let mut pipelines = Vec::with_capacity(n);
    let mut counters = Vec::with_capacity(n);
    let mut appsrcs = Vec::with_capacity(n);
    for _ in 0..n {
        let sink = match element.as_str() {
            "rtspsink" => format!(
                "{} ! rtspsink location={url} protocols={protocol}",
                source.pay
            ),
            "rtspclientsink" => {
                format!("rtspclientsink location={url} protocols={protocol} latency={latency}")
            }
            // The floor both elements share: our payloader into a bare tail
            // (e.g. `fakesink`), for attributing the publishing cost.
            "floor" => format!("{} ! {}", source.pay, opt(o, "tail", "fakesink sync=false")),
            other => return Err(format!("unknown sink element {other}").into()),
        };
        let pipeline = gst::parse::launch(&format!("appsrc name=src ! {sink}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline")?;
        let appsrc = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or("no appsrc")?;
        appsrc.set_caps(Some(&source.caps));
        appsrc.set_format(gst::Format::Time);
        appsrc.set_is_live(true);
        appsrc.set_do_timestamp(true);
        appsrc.set_max_bytes(16 << 20);
        appsrc.set_leaky_type(gst_app::AppLeakyType::Downstream);
        let c = Counters::new();
        // Buffers that left appsrc (the push into the sink returned for
        // all but the last one).
        probe_out(&appsrc.static_pad("src").ok_or("no appsrc pad")?, c.clone());
        watch_bus(&pipeline, c.clone());
        pipeline.set_state(gst::State::Playing)?;
        pipelines.push(pipeline);
        counters.push(c);
        appsrcs.push(appsrc);
    }

    // One feeder thread for all streams, at the source's frame rate.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        let frames = source.frames.clone();
        let (num_, den) = (source.fps_num, source.fps_den);
        let appsrcs = appsrcs.clone();
        std::thread::Builder::new()
            .name("feeder".into())
            .spawn(move || {
                let start = Instant::now();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (buf, delta) = &frames[(i % frames.len() as u64) as usize];
                    for src in &appsrcs {
                        let mut b = buf.copy();
                        if *delta {
                            b.make_mut().set_flags(gst::BufferFlags::DELTA_UNIT);
                        }
                        let _ = src.push_buffer(b);
                    }
                    i += 1;
                    let due = start + Duration::from_nanos(i * 1_000_000_000 * den / num_);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
            })?
    };

    let deadline = t0 + Duration::from_secs_f64(start_timeout);
    while Instant::now() < deadline
        && counters
            .iter()
            .any(|c| c.buffers.load(Ordering::Relaxed) < 3 && c.error.get().is_none())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = counters
        .iter()
        .filter(|c| c.buffers.load(Ordering::Relaxed) >= 3)
        .count();
    let startup_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64(settle));

    mark("start");
    let before: Vec<u64> = counters
        .iter()
        .map(|c| c.buffers.load(Ordering::Relaxed))
        .collect();
    let ticks0 = procstat::thread_ticks();
    let cpu0 = procstat::cpu_seconds();
    let w0 = Instant::now();
    let mut max_threads = procstat::threads();
    let wend = w0 + Duration::from_secs_f64(window);
    while Instant::now() < wend {
        std::thread::sleep(Duration::from_millis(250).min(wend - Instant::now()));
        max_threads = max_threads.max(procstat::threads());
    }
    let cpu1 = procstat::cpu_seconds();
    let wall = w0.elapsed().as_secs_f64();
    let ticks1 = procstat::thread_ticks();
    mark("end");
    let frames: u64 = counters
        .iter()
        .zip(&before)
        .map(|(c, b)| c.buffers.load(Ordering::Relaxed) - b)
        .sum();
    let hwm = procstat::hwm_kib();
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    let (errors, error_texts) = errors_of(&counters);
    let cpu = cpu1 - cpu0;
    let mut thread_cpu: Vec<(String, f64, u64)> = procstat::thread_cpu_delta(&ticks0, &ticks1)
        .into_iter()
        .map(|(k, (s, t))| (k, s, t))
        .collect();
    thread_cpu.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    let thread_cpu: Vec<Value> = thread_cpu
        .iter()
        .take(12)
        .map(|(k, s, t)| json!({"name": k, "cpu_s": s, "threads": t}))
        .collect();
    let expected_frames = wall * source.fps_num as f64 / source.fps_den as f64 * n as f64;
    let result = json!({
        "mode": "publish",
        "element": element,
        "protocol": protocol,
        "url": url,
        "n": n,
        "source": opt(o, "source", "h264"),
        "au_file": opt(o, "au-file", ""),
        "mbps_nominal": num::<f64>(o, "mbps", 0.0),
        "started": started,
        "startup_s": startup_s,
        "window_s": wall,
        "cpu_s": cpu,
        "cpu_per_stream_s": cpu / (n as f64 * wall),
        "cpu_cores": cpu / wall,
        "rss_base_kib": base_rss,
        "hwm_kib": hwm,
        "rss_per_stream_kib": hwm.saturating_sub(base_rss) as f64 / n as f64,
        "threads_base": base_threads,
        "threads_max": max_threads,
        "threads_per_stream": max_threads.saturating_sub(base_threads) as f64 / n as f64,
        "frames_pushed": frames,
        "frames_expected": expected_frames,
        "errors": errors,
        "error_texts": error_texts,
        "nofile": nofile,
        "thread_cpu": thread_cpu,
    });
    println!("RESULT {result}");
    let _ = std::io::stdout().flush();
    shutdown(pipelines, Duration::from_secs(30));
    Ok(result)
}

/// `bench client MODE --key value ...`
pub fn main(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mode = args.first().ok_or("client needs a mode")?.clone();
    let mut o = Opts::new();
    let mut it = args[1..].iter();
    while let Some(k) = it.next() {
        let key = k.strip_prefix("--").ok_or(format!("bad argument {k}"))?;
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        o.insert(key.to_string(), v.clone());
    }
    gst::init()?;
    gstrtspclient::plugin_register_static()?;
    let res = match mode.as_str() {
        "play" => play(&o),
        "ttfb" => ttfb(&o),
        "publish" => publish(&o),
        "rtpbin-floor" => crate::floor::rtpbin_floor(&o),
        m => Err(format!("unknown client mode {m}").into()),
    };
    if let Err(e) = &res {
        println!("RESULT {}", json!({"mode": mode, "fatal": e.to_string()}));
    }
    let _ = std::io::stdout().flush();
    // Don't wait for leftover threads (a C element stuck in teardown).
    std::process::exit(if res.is_ok() { 0 } else { 1 });
}
