//! Side-by-side benchmark of this plugin's `rtspsrc2` / `rtspsink` against
//! GStreamer's C `rtspsrc` / `rtspclientsink`, in one run, against one
//! server process (`examples/bench-server.rs`) on 127.0.0.1.
//!
//! `cargo run --release --example bench -- [--quick] [--thousand]
//! [--thousand-c] [--gst-record] [--gst-ceiling] [--tls] [--out DIR]
//! [--only ttfb,play,ceiling,tcp,publish,publish-ceiling,thousand]`
//!
//! `--thousand` adds 1000 concurrent low-bitrate `rtspsrc2` streams (TCP
//! from gst-rtsp-server and from the light play server's shared H.264
//! mount, UDP from gst-rtsp-server; `--thousand-c` also C `rtspsrc`);
//! `--gst-record` publishes to
//! gst-rtsp-server's RECORD mount instead of the light counting endpoint;
//! `--gst-ceiling` plays the ceiling's raw video from gst-rtsp-server's
//! `rtpvrawpay` mounts instead of the light playing endpoint;
//! `--tls` adds to the playing runs N=32 from gst-rtsp-server as `rtsp://`
//! (unless the plan has it) and as `rtsps://` over TCP (RTSP over TLS, the
//! server's certificate issued at its start, the clients given its CA).
//!
//! Every measured configuration runs in its own child process (this binary
//! re-executed as `bench client MODE ...`, see `bench/client.rs`), so CPU
//! time, memory and threads are that configuration's alone. Results: a
//! table on stdout (also `DIR/results.md`), the raw figures in
//! `DIR/results.json`, a plot in `DIR/plot.png`, child logs in `DIR/logs/`.
//! See BENCHMARKS.md.

#[path = "bench/client.rs"]
mod client;
#[path = "bench/floor.rs"]
mod floor;
#[path = "bench/plot.rs"]
mod plot;
#[path = "bench/procstat.rs"]
mod procstat;
#[path = "bench/report.rs"]
mod report;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const SRC_OURS: &str = "rtspsrc2";
pub const SRC_C: &str = "rtspsrc";
pub const SINK_OURS: &str = "rtspsink";
pub const SINK_C: &str = "rtspclientsink";
/// The publishing floor: what both sinks run besides their own glue and
/// the kernel's send path (`bench client publish --element floor`).
pub const SINK_FLOOR: &str = "floor";
/// The floor's tail after `appsrc ! rtph264pay`: `rtpbin`'s send path, which
/// `rtspclientsink` has inside and `rtspsink` feeds, into `fakesink`.
const FLOOR_TAIL: &str =
    "rtpbin.send_rtp_sink_0 rtpbin name=rtpbin rtpbin.send_rtp_src_0 ! fakesink sync=false";

/// One set of concurrent streams: N, the mount, and a label.
#[derive(Clone)]
pub struct StreamSet {
    pub n: usize,
    pub mount: &'static str,
    pub label: String,
    /// From the light play server's shared H.264 mount instead of
    /// gst-rtsp-server's (TCP only).
    pub light: bool,
    /// From gst-rtsp-server's TLS port (`rtsps://`, TCP only).
    pub tls: bool,
}

/// Of one configuration's rounds, the run with the median CPU per
/// stream-second (a failed run counts as the most expensive), with every
/// round's figure in `cpu_rounds`. Rounds alternate the two elements, so
/// a machine that is busier for a while weighs on both alike, and one
/// disturbed window no longer decides a ratio.
fn median_run(runs: Vec<Value>) -> Value {
    median_by(runs, "cpu_per_stream_s", "cpu_rounds")
}

/// Of several runs, the one with the median `key` (a run without it counts
/// as the most expensive), with every run's `key` listed under `rounds`.
fn median_by(mut runs: Vec<Value>, key: &str, rounds: &str) -> Value {
    let cost = |r: &Value| r[key].as_f64().unwrap_or(f64::INFINITY);
    let all: Vec<Value> = runs.iter().map(|r| json!(r[key])).collect();
    runs.sort_by(|a, b| cost(a).total_cmp(&cost(b)));
    let mut median = runs.swap_remove(runs.len() / 2);
    median[rounds] = json!(all);
    median
}

fn set(n: usize, mount: &'static str) -> StreamSet {
    let label = match mount {
        "/h264-low" => format!("N={n} low"),
        _ => format!("N={n}"),
    };
    StreamSet {
        n,
        mount,
        label,
        light: false,
        tls: false,
    }
}

/// The same streams from the light play server (`bench/broadcast.rs`).
fn light(mut s: StreamSet) -> StreamSet {
    s.label.push_str(", light server");
    s.light = true;
    s
}

struct Plan {
    ttfb_runs: usize,
    play_sets: Vec<StreamSet>,
    /// Alternating rounds of every playing and publishing configuration;
    /// the run with the median CPU stands for it.
    rounds: usize,
    settle: f64,
    window: f64,
    raw_rates: Vec<u32>,
    ceiling_settle: f64,
    ceiling_window: f64,
    publish_sets: Vec<StreamSet>,
    publish_rates: Vec<u32>,
    tcp_seconds: f64,
    /// Packets pushed per `rtpbin-floor` run.
    floor_packets: usize,
    encode_seconds: u32,
    latency: u32,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                ttfb_runs: 3,
                play_sets: vec![set(1, "/h264"), set(8, "/h264")],
                rounds: 1,
                settle: 1.0,
                window: 2.0,
                // Up to where both elements top out, coarser than the
                // full run.
                raw_rates: vec![200, 800, 1200, 1600, 2000, 2400, 3200, 4000, 6000, 8000],
                ceiling_settle: 1.0,
                ceiling_window: 2.0,
                publish_sets: vec![set(1, "/h264"), set(8, "/h264")],
                publish_rates: vec![200, 800],
                tcp_seconds: 1.0,
                floor_packets: 300_000,
                encode_seconds: 4,
                latency: 200,
            }
        } else {
            Plan {
                ttfb_runs: 10,
                play_sets: vec![
                    set(1, "/h264"),
                    set(32, "/h264"),
                    set(256, "/h264-low"),
                    set(256, "/h264"),
                ],
                rounds: 3,
                settle: 3.0,
                window: 10.0,
                raw_rates: vec![
                    50, 100, 200, 400, 600, 800, 1000, 1200, 1600, 2000, 2400, 3200, 4000, 5000,
                    6000, 8000,
                ],
                ceiling_settle: 2.0,
                ceiling_window: 5.0,
                publish_sets: vec![set(1, "/h264"), set(32, "/h264"), set(256, "/h264-low")],
                // Set by the publishing client itself (no server mount).
                publish_rates: vec![
                    50, 100, 200, 400, 600, 800, 1000, 1200, 1600, 2000, 2400, 3200, 4000,
                ],
                tcp_seconds: 3.0,
                floor_packets: 1_000_000,
                encode_seconds: 10,
                latency: 200,
            }
        }
    }
}

/// Whole-machine busy and total jiffies (/proc/stat).
/// Busy and total jiffies of all CPUs, and the steal among the busy ones
/// (time the hypervisor gave this VM's CPUs to someone else).
fn machine_jiffies() -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return (0, 0, 0);
    }
    let idle = v[3] + v[4];
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    (busy, busy + idle, v[7])
}

fn pid_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = s.rfind(')') else { return 0 };
    let rest: Vec<&str> = s[close + 2..].split_whitespace().collect();
    rest.get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + rest
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Machine and server CPU between two points in time.
#[derive(Clone, Copy)]
struct LoadSnap {
    at: Instant,
    machine: (u64, u64, u64),
    server: u64,
}

impl LoadSnap {
    fn take(server_pid: u32) -> Self {
        LoadSnap {
            at: Instant::now(),
            machine: machine_jiffies(),
            server: pid_ticks(server_pid),
        }
    }

    /// Busy cores of the machine and of the server between `self` and
    /// `later`, and how many of the machine's were stolen.
    fn cores(&self, later: &LoadSnap) -> (f64, f64, f64) {
        let hz = procstat::clock_ticks();
        let wall = (later.at - self.at).as_secs_f64().max(1e-3);
        let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / hz / wall;
        (
            per_s(self.machine.0, later.machine.0),
            per_s(self.server, later.server),
            per_s(self.machine.2, later.machine.2),
        )
    }
}

/// Lines from a child's stdout, read on a helper thread so that every wait
/// is bounded.
fn line_reader(stdout: std::process::ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_exit(child: &mut Child, limit: Duration) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    port: u16,
    tls_port: u16,
    count_port: u16,
    play_port: u16,
    info: Value,
}

impl Server {
    fn start(
        bin: &Path,
        plan: &Plan,
        dump: &Path,
        log: &Path,
        tls: bool,
    ) -> Result<Server, String> {
        let mut rates: Vec<u32> = plan.raw_rates.clone();
        rates.sort();
        rates.dedup();
        let rates: Vec<String> = rates.iter().map(|r| r.to_string()).collect();
        let mut child = Command::new(bin)
            .args(["--dump", &dump.to_string_lossy()])
            .args(["--seconds", &plan.encode_seconds.to_string()])
            .args(["--raw-rates", &rates.join(",")])
            .args(tls.then_some("--tls"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(log)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdin = child.stdin.take().ok_or("no server stdin")?;
        let lines = line_reader(child.stdout.take().ok_or("no server stdout")?);
        let end = Instant::now() + Duration::from_secs(300);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) if l.starts_with("READY ") => {
                    let info: Value =
                        serde_json::from_str(&l[6..]).map_err(|e| format!("bad READY: {e}"))?;
                    let port = info["port"].as_u64().ok_or("READY without port")? as u16;
                    let count_port = info["count_port"].as_u64().unwrap_or(0) as u16;
                    let play_port = info["play_port"].as_u64().unwrap_or(0) as u16;
                    let tls_port = info["tls_port"].as_u64().unwrap_or(0) as u16;
                    return Ok(Server {
                        child,
                        stdin,
                        lines,
                        port,
                        tls_port,
                        count_port,
                        play_port,
                        info,
                    });
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("the server did not get ready within 300 s".into());
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }

    /// Where the publishing clients send: the light counting endpoint, or
    /// gst-rtsp-server's RECORD mount.
    fn record_url(&self, gst: bool) -> String {
        if gst {
            self.url("/record")
        } else {
            format!("rtsp://127.0.0.1:{}/count", self.count_port)
        }
    }

    /// Where a stream set plays from: gst-rtsp-server's mount, or the
    /// light play server's shared H.264 mount of the same name.
    fn play_url(&self, s: &StreamSet) -> String {
        if s.tls {
            format!("rtsps://127.0.0.1:{}{}", self.tls_port, s.mount)
        } else if s.light {
            format!("rtsp://127.0.0.1:{}{}", self.play_port, s.mount)
        } else {
            self.url(s.mount)
        }
    }

    /// Where the ceiling plays `rate` Mbit/s of raw video from: the light
    /// playing endpoint, or gst-rtsp-server's `rtpvrawpay` mount.
    fn ceiling_url(&self, rate: u32, gst: bool) -> String {
        if gst {
            self.url(&format!("/raw-{rate}"))
        } else {
            format!("rtsp://127.0.0.1:{}/raw-{rate}", self.play_port)
        }
    }

    /// The RECORD mount's counters.
    fn stats(&mut self) -> Option<Value> {
        while self.lines.try_recv().is_ok() {}
        writeln!(self.stdin, "stats").ok()?;
        self.stdin.flush().ok()?;
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("STATS ") => return serde_json::from_str(&l[6..]).ok(),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        wait_exit(&mut self.child, Duration::from_secs(5));
    }
}

struct Runner {
    exe: PathBuf,
    logs: PathBuf,
    server: Server,
    count: usize,
    /// Measure again when other processes disturbed a window (not in
    /// `--quick`, which must stay short).
    rerun_busy: bool,
}

impl Runner {
    /// Runs `bench client ARGS`, returns its RESULT with `conditions` (and
    /// `server` counters for publishing runs) added.
    fn client(&mut self, name: &str, args: &[String], timeout: f64) -> Value {
        self.count += 1;
        let log_path = self.logs.join(format!("{:03}-{name}.log", self.count));
        eprintln!("[{:3}] {name} ...", self.count);
        if !self.server.alive() {
            return json!({"fatal": "the server process is gone"});
        }
        let log = std::fs::File::create(&log_path).ok();
        let mut child = match Command::new(&self.exe)
            .arg("client")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                log.as_ref()
                    .and_then(|f| f.try_clone().ok())
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return json!({"fatal": format!("cannot start client: {e}")}),
        };
        let lines = line_reader(child.stdout.take().expect("piped stdout"));
        let spid = self.server.pid();
        let mut first = LoadSnap::take(spid);
        let mut last = None;
        let mut stats0 = None;
        let mut stats1 = None;
        let end = Instant::now() + Duration::from_secs_f64(timeout);
        let mut result = None;
        while result.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) if l == "MARK start" => {
                    stats0 = self.server.stats();
                    first = LoadSnap::take(spid);
                }
                Ok(l) if l == "MARK end" => {
                    last = Some(LoadSnap::take(spid));
                    stats1 = self.server.stats();
                }
                Ok(l) if l.starts_with("RESULT ") => {
                    result = Some(
                        serde_json::from_str::<Value>(&l[7..])
                            .unwrap_or_else(|e| json!({"fatal": format!("bad RESULT: {e}")})),
                    );
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    result = Some(json!({"fatal": format!("no result within {timeout:.0} s")}));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    result = Some(json!({"fatal": "the client exited without a result"}));
                }
            }
        }
        let mut result = result.unwrap_or(Value::Null);
        let last = last.unwrap_or_else(|| LoadSnap::take(spid));
        wait_exit(&mut child, Duration::from_secs(40));
        let (machine, server, steal) = first.cores(&last);
        let own = result["cpu_cores"].as_f64().unwrap_or(0.0);
        result["conditions"] = json!({
            "machine_busy_cores": machine,
            "server_cores": server,
            "other_cores": (machine - server - own).max(0.0),
            // Part of other_cores: the hypervisor's.
            "steal_cores": steal,
            "loadavg": loadavg(),
        });
        // Publishing to the light endpoint, or playing from the light
        // playing endpoint: their counters.
        let uses = |port: u16| {
            let p = format!(":{port}/");
            port != 0 && args.iter().any(|a| a.contains(&p))
        };
        let (light_count, light_play) = (uses(self.server.count_port), uses(self.server.play_port));
        let sel = |v: Option<Value>| {
            v.map(|v| {
                if light_count {
                    let mut c = v["count"].clone();
                    c["medias"] = c["sessions"].clone();
                    c
                } else if light_play {
                    // A shared H.264 mount's counters, or the raw mounts'.
                    let h264 = args.iter().find_map(|a| {
                        let path = a.split_once(&format!(":{}/", self.server.play_port))?.1;
                        v["play_h264"].get(path.split('/').next()?).cloned()
                    });
                    h264.unwrap_or_else(|| v["play"].clone())
                } else {
                    v
                }
            })
        };
        // Playing from a gst-rtsp-server mount: what its feeder did.
        let gst_mount = args.iter().find_map(|a| {
            let path = [self.server.port, self.server.tls_port]
                .iter()
                .filter(|&&p| p != 0)
                .find_map(|p| a.split_once(&format!("127.0.0.1:{p}/")))?
                .1;
            Some(format!("/{path}"))
        });
        let feeder_window = gst_mount.and_then(|mount| {
            let (a, b) = (stats0.as_ref()?, stats1.as_ref()?);
            feeder_delta(&a["feeders"][&mount], &b["feeders"][&mount])
        });
        let (stats0, stats1) = (sel(stats0), sel(stats1));
        let wall = (last.at - first.at).as_secs_f64().max(1e-3);
        if let Some(feeder) = feeder_window {
            result["server"] = json!({
                "kind": "gst-rtsp-server",
                "feeder": feeder,
                "window_s": wall,
            });
        } else if let (Some(a), Some(b), true) = (&stats0, &stats1, light_play) {
            let d = |k: &str| b[k].as_f64().unwrap_or(0.0) - a[k].as_f64().unwrap_or(0.0);
            result["server"] = json!({
                "kind": "light play server",
                "frames": d("frames"),
                "packets": d("packets"),
                "bytes": d("bytes"),
                "sent_mbps": d("bytes") * 8.0 / wall / 1e6,
                "late_frames": d("late_frames"),
                "restarts": d("restarts"),
                "write_s": d("write_s"),
                "sender_cpu_s": d("cpu_s"),
                "sender_runq_s": d("runq_s"),
                "window_s": wall,
            });
        } else if let (Some(a), Some(b)) = (&stats0, &stats1) {
            let d = |k: &str| b[k].as_u64().unwrap_or(0) - a[k].as_u64().unwrap_or(0);
            result["server"] = json!({
                "packets": d("packets"),
                "bytes": d("bytes"),
                "gaps": d("gaps"),
                "medias": d("medias"),
                "window_s": wall,
                "arrived_mbps": d("bytes") as f64 * 8.0 / wall / 1e6,
            });
        }
        eprintln!("      {}", report::one_line(&result));
        result
    }
}

impl Runner {
    /// Waits (at most `limit`) until processes other than the server use
    /// less than 0.3 of a core over one second.
    fn wait_quiet(&mut self, limit: Duration) -> f64 {
        let end = Instant::now() + limit;
        let mut other = 0.0;
        while Instant::now() < end {
            let a = LoadSnap::take(self.server.pid());
            std::thread::sleep(Duration::from_secs(1));
            let (machine, server, _) = a.cores(&LoadSnap::take(self.server.pid()));
            other = (machine - server).max(0.0);
            if other < 0.3 {
                break;
            }
        }
        other
    }

    /// Before the second try of a failing ceiling step: on a shared machine
    /// a step can fail because other processes took the cores, so when
    /// they used more than half a core during `first`, wait for calm
    /// (briefly in `--quick`).
    fn calm_before_retry(&mut self, first: &Value) {
        let other = first["conditions"]["other_cores"].as_f64().unwrap_or(0.0);
        if other > 0.5 {
            let limit = if self.rerun_busy { 60 } else { 15 };
            let calm = self.wait_quiet(Duration::from_secs(limit));
            eprintln!("      busy machine ({other:.2} other cores); again (now {calm:.2})");
        }
    }

    /// [`Runner::client`], run a second time when other processes used more
    /// than half a core during the first window; the quieter run is kept
    /// (the other is kept under `busy_run`). A run in which no stream got
    /// any data is also run again (kept under `no_data_run`): on rare runs
    /// all clients of gst-rtsp-server's shared media get nothing (see
    /// BENCHMARKS.md), which says nothing about the element's cost.
    fn measured(&mut self, name: &str, args: &[String], timeout: f64) -> Value {
        let other = |r: &Value| r["conditions"]["other_cores"].as_f64().unwrap_or(0.0);
        let mut first = self.client(name, args, timeout);
        if first.get("fatal").is_none() && no_stream_got_data(&first) {
            eprintln!("      no stream got any data; again");
            let failed = first;
            first = self.client(&format!("{name}-again"), args, timeout);
            first["no_data_run"] = failed;
        }
        if !self.rerun_busy || other(&first) <= 0.5 || first.get("fatal").is_some() {
            return first;
        }
        let calm = self.wait_quiet(Duration::from_secs(60));
        eprintln!(
            "      busy machine ({:.2} other cores); again (now {calm:.2})",
            other(&first)
        );
        let second = self.client(&format!("{name}-again"), args, timeout);
        let (mut keep, other_run) =
            if second.get("fatal").is_none() && other(&second) < other(&first) {
                (second, first)
            } else {
                (first, second)
            };
        keep["busy_run"] = other_run;
        keep
    }
}

/// A playing or publishing run of N > 0 streams in which not one started.
fn no_stream_got_data(r: &Value) -> bool {
    r["n"].as_u64().is_some_and(|n| n > 0) && r["started"].as_u64() == Some(0)
}

/// What the server's feeder of a shared mount did between two `STATS`
/// snapshots (`feeders` of one mount, newest last): frames pushed into its
/// `appsrc`, refused as flushing, and buffers out of its payloader; the
/// first payloaded buffer's PTS and the running time then. `new` when the
/// media was not there yet at the first snapshot.
fn feeder_delta(before: &Value, after: &Value) -> Option<Value> {
    let newest = after.as_array()?.last()?;
    let created = newest["created_s"].as_f64()?;
    let earlier = before.as_array().and_then(|list| {
        list.iter()
            .find(|f| f["created_s"].as_f64() == Some(created))
    });
    let count = |f: Option<&Value>, k: &str| f.and_then(|f| f[k].as_u64()).unwrap_or(0);
    let delta = |k: &str| count(Some(newest), k).saturating_sub(count(earlier, k));
    Some(json!({
        "pushed": delta("pushed"),
        "flushing": delta("flushing"),
        "failed": delta("failed"),
        "payloaded": delta("payloaded"),
        "stopped": newest["stopped"],
        "first_pts_ms": newest["first_pts_ms"],
        "first_running_ms": newest["first_running_ms"],
        "restamped": newest["restamped"],
        "new": earlier.is_none(),
    }))
}

fn args(list: &[(&str, String)]) -> Vec<String> {
    list.iter()
        .flat_map(|(k, v)| [format!("--{k}"), v.clone()])
        .collect()
}

/// Bulk TCP over loopback between two threads of this process: the limit
/// any RTSP-over-TCP stream is compared with.
fn tcp_raw(seconds: f64) -> Value {
    use std::io::Read;
    let chunk = 64 * 1024;
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
        return json!({"fatal": "bind"});
    };
    let Ok(addr) = listener.local_addr() else {
        return json!({"fatal": "local_addr"});
    };
    let receiver = std::thread::spawn(move || -> (u64, f64) {
        let Ok((mut s, _)) = listener.accept() else {
            return (0, 0.0);
        };
        let mut buf = vec![0u8; chunk];
        let mut total = 0u64;
        let mut start = None;
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            start.get_or_insert_with(Instant::now);
            total += n as u64;
        }
        (
            total,
            start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0),
        )
    });
    let cpu0 = procstat::cpu_seconds();
    let sent = (|| -> std::io::Result<u64> {
        let mut s = std::net::TcpStream::connect(addr)?;
        let buf = vec![0x55u8; chunk];
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        let mut sent = 0u64;
        while Instant::now() < end {
            s.write_all(&buf)?;
            sent += buf.len() as u64;
        }
        Ok(sent)
    })();
    let (received, wall) = receiver.join().unwrap_or((0, 0.0));
    let cpu = procstat::cpu_seconds() - cpu0;
    let gbps = if wall > 0.0 {
        received as f64 * 8.0 / wall / 1e9
    } else {
        0.0
    };
    json!({
        "chunk_bytes": chunk,
        "sent": sent.unwrap_or(0),
        "received": received,
        "seconds": wall,
        "mbps": gbps * 1000.0,
        "cpu_s_per_gbit": if received > 0 { cpu / (received as f64 * 8.0 / 1e9) } else { 0.0 },
    })
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn utc_now() -> String {
    // SAFETY: time/gmtime_r write into locals.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&t, &mut tm);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min
        )
    }
}

fn machine_info(quick: bool) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let manifest = env!("CARGO_MANIFEST_DIR");
    json!({
        "date": utc_now(),
        "mode": if quick { "quick" } else { "full" },
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "mem_gib": mem_kib as f64 / 1024.0 / 1024.0,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "gstreamer": gst::version_string().to_string(),
        "rustc": sh("rustc", &["--version"]),
        "git_commit": sh("git", &["-C", manifest, "rev-parse", "--short", "HEAD"]),
        "git_dirty_files": sh("git", &["-C", manifest, "status", "--porcelain"]).lines().count(),
        "loadavg_start": loadavg(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    })
}

/// Finds (or builds) the server binary next to this one.
fn server_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no exe dir")?;
    let bin = dir.join("bench-server");
    let profile_release = dir.parent().is_some_and(|p| p.ends_with("release"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--example", "bench-server"]);
    if profile_release {
        cmd.arg("--release");
    }
    eprintln!("building bench-server ...");
    match cmd.status() {
        Ok(s) if s.success() => {}
        _ if bin.exists() => {
            eprintln!("warning: cannot build bench-server; using the existing one")
        }
        _ => return Err("cannot build examples/bench-server.rs".into()),
    }
    Ok(bin)
}

struct Opts {
    quick: bool,
    thousand: bool,
    thousand_c: bool,
    gst_record: bool,
    gst_ceiling: bool,
    tls: bool,
    out: PathBuf,
    only: Option<HashSet<String>>,
}

fn parse_opts(a: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        thousand: false,
        thousand_c: false,
        gst_record: false,
        gst_ceiling: false,
        tls: false,
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/bench-results")),
        only: None,
    };
    let mut it = a.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => o.quick = true,
            "--thousand" => o.thousand = true,
            "--thousand-c" => {
                o.thousand = true;
                o.thousand_c = true
            }
            "--gst-record" => o.gst_record = true,
            "--gst-ceiling" => o.gst_ceiling = true,
            "--tls" => o.tls = true,
            "--out" => o.out = it.next().ok_or("--out needs a value")?.into(),
            "--only" => {
                o.only = Some(
                    it.next()
                        .ok_or("--only needs a value")?
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .collect(),
                )
            }
            "-h" | "--help" => {
                return Err(
                    "usage: bench [--quick] [--thousand] [--thousand-c] [--gst-record] [--gst-ceiling] [--tls] \
                            [--out DIR] [--only ttfb,play,ceiling,tcp,publish,publish-ceiling,thousand]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.thousand
        && let Some(only) = &mut o.only
    {
        only.insert("thousand".into());
    }
    Ok(o)
}

fn parent(a: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let opts = parse_opts(a)?;
    let wants = |what: &str| {
        opts.only.as_ref().is_none_or(|s| s.contains(what)) && (what != "thousand" || opts.thousand)
    };
    gst::init()?;
    let mut plan = Plan::new(opts.quick);
    if opts.tls {
        // N=32 as rtsp:// (unless the plan has it) and as rtsps:// (TCP).
        if !plan
            .play_sets
            .iter()
            .any(|s| s.n == 32 && s.mount == "/h264")
        {
            plan.play_sets.push(set(32, "/h264"));
        }
        let mut tls = set(32, "/h264");
        tls.label.push_str(", TLS");
        tls.tls = true;
        plan.play_sets.push(tls);
    }
    let started = Instant::now();
    std::fs::create_dir_all(opts.out.join("logs"))?;
    let data_dir = opts.out.join("data");
    let server_bin = server_binary()?;
    let mut meta = machine_info(opts.quick);
    eprintln!(
        "starting bench-server (encodes {} s of H.264 first) ...",
        plan.encode_seconds
    );
    let server = Server::start(
        &server_bin,
        &plan,
        &data_dir,
        &opts.out.join("logs/server.log"),
        opts.tls,
    )?;
    meta["server"] = server.info.clone();
    meta["latency_ms"] = json!(plan.latency);
    meta["publish_server"] = json!(if opts.gst_record {
        "gst-rtsp-server RECORD mount"
    } else {
        "light counting endpoint (bench/count_server.rs)"
    });
    meta["ceiling_server"] = json!(if opts.gst_ceiling {
        "gst-rtsp-server (rtpvrawpay mounts)"
    } else {
        "light play server (bench/play_server.rs)"
    });
    let exe = std::env::current_exe()?;
    let mut r = Runner {
        exe,
        logs: opts.out.join("logs"),
        server,
        count: 0,
        rerun_busy: !opts.quick,
    };
    let lat = plan.latency.to_string();
    let mut results = json!({"meta": meta});
    let elements = [SRC_OURS, SRC_C];

    // 1. Time to first buffer.
    if wants("ttfb") {
        let mut v = Vec::new();
        for proto in ["tcp", "udp"] {
            for el in elements {
                let url = r.server.url("/h264");
                let a = args(&[
                    ("element", el.into()),
                    ("protocol", proto.into()),
                    ("url", url),
                    ("runs", plan.ttfb_runs.to_string()),
                    ("latency", lat.clone()),
                ]);
                let mut a2 = vec!["ttfb".to_string()];
                a2.extend(a);
                v.push(r.client(
                    &format!("ttfb-{el}-{proto}"),
                    &a2,
                    30.0 + 12.0 * plan.ttfb_runs as f64,
                ));
            }
        }
        results["ttfb"] = json!(v);
    }

    // 2. N concurrent playing streams.
    let play_one =
        |r: &mut Runner, el: &str, proto: &str, s: &StreamSet, settle: f64, window: f64| {
            let start_timeout = 30.0 + s.n as f64 * 0.1;
            let mut a = vec!["play".to_string()];
            if s.tls {
                let ca = r.server.info["tls_ca_file"].as_str().unwrap_or("");
                a.extend(args(&[("tls-ca-file", ca.into())]));
            }
            a.extend(args(&[
                ("element", el.into()),
                ("protocol", proto.into()),
                ("url", r.server.play_url(s)),
                ("n", s.n.to_string()),
                ("latency", lat.clone()),
                ("settle", settle.to_string()),
                ("seconds", window.to_string()),
                ("start-timeout", start_timeout.to_string()),
            ]));
            let mut res = r.measured(
                &format!(
                    "play-{el}-{proto}-n{}{}{}{}",
                    s.n,
                    s.mount.replace('/', "-"),
                    if s.light { "-light" } else { "" },
                    if s.tls { "-tls" } else { "" }
                ),
                &a,
                start_timeout + settle + window + 90.0,
            );
            res["label"] = json!(s.label);
            res["mount"] = json!(s.mount);
            res["server_kind"] = json!(if s.light {
                "light play server"
            } else {
                "gst-rtsp-server"
            });
            res
        };
    if wants("play") {
        let mut v = Vec::new();
        for s in &plan.play_sets {
            for proto in ["tcp", "udp"] {
                if s.tls && proto == "udp" {
                    // Media goes interleaved over TLS only.
                    continue;
                }
                let mut runs = vec![Vec::new(); elements.len()];
                for _ in 0..plan.rounds {
                    for (i, el) in elements.iter().enumerate() {
                        runs[i].push(play_one(&mut r, el, proto, s, plan.settle, plan.window));
                    }
                }
                v.extend(runs.into_iter().map(median_run));
            }
        }
        results["play"] = json!(v);
    }

    // 3. Single-stream TCP ceiling, and raw loopback TCP.
    if wants("ceiling") {
        let mut c = serde_json::Map::new();
        for el in elements {
            let mut steps = Vec::new();
            let mut best: Option<Value> = None;
            for &rate in &plan.raw_rates {
                let url = r.server.ceiling_url(rate, opts.gst_ceiling);
                let mut pass = false;
                for attempt in 0..2 {
                    let mut a = vec!["play".to_string()];
                    a.extend(args(&[
                        ("element", el.into()),
                        ("protocol", "tcp".into()),
                        ("url", url.clone()),
                        ("n", "1".into()),
                        ("latency", lat.clone()),
                        ("settle", plan.ceiling_settle.to_string()),
                        ("seconds", plan.ceiling_window.to_string()),
                        ("depay", "none".into()),
                        ("start-timeout", "20".into()),
                    ]));
                    let mut res = r.client(&format!("ceiling-{el}-{rate}"), &a, 120.0);
                    let mbps = res["mbps"].as_f64().unwrap_or(0.0);
                    pass = res["fatal"].is_null()
                        && res["started"].as_u64() == Some(1)
                        && res["gaps"].as_u64() == Some(0)
                        && res["errors"].as_u64() == Some(0)
                        && mbps >= 0.95 * rate as f64;
                    res["nominal_mbps"] = json!(rate);
                    res["attempt"] = json!(attempt);
                    res["pass"] = json!(pass);
                    steps.push(res.clone());
                    if pass {
                        best = Some(res);
                        break;
                    }
                    if attempt == 0 {
                        r.calm_before_retry(&res);
                    }
                }
                if !pass {
                    break;
                }
            }
            let max_mbps = steps
                .iter()
                .filter_map(|s| s["mbps"].as_f64())
                .fold(0.0f64, f64::max);
            c.insert(
                el.to_string(),
                json!({
                    "ceiling_mbps": best.as_ref().map(|b| b["nominal_mbps"].clone()),
                    "at_ceiling": best,
                    "max_received_mbps": max_mbps,
                    "steps": steps,
                }),
            );
        }
        results["ceiling"] = Value::Object(c);
    }
    if wants("tcp") || wants("ceiling") {
        eprintln!("raw loopback TCP ...");
        let t = tcp_raw(plan.tcp_seconds);
        eprintln!("      {:.0} Mbit/s", t["mbps"].as_f64().unwrap_or(0.0));
        results["tcp_raw"] = t;
    }
    if wants("ceiling") {
        // What rtpbin alone costs per packet: the bound on any rtpbin-based
        // client's single-stream ceiling on this machine.
        let runs: Vec<Value> = (0..plan.rounds)
            .map(|i| {
                let mut a = vec!["rtpbin-floor".to_string()];
                a.extend(args(&[("packets", plan.floor_packets.to_string())]));
                r.client(&format!("rtpbin-floor-{i}"), &a, 120.0)
            })
            .collect();
        results["rtpbin_floor"] = median_by(runs, "us_per_packet", "us_rounds");
    }

    // 4. Publishing.
    let sinks = [SINK_OURS, SINK_C];
    let au_file = |mount: &str| {
        data_dir
            .join(if mount == "/h264-low" {
                "h264-240p.au"
            } else {
                "h264-720p.au"
            })
            .to_string_lossy()
            .to_string()
    };
    if wants("publish") {
        let mut v = Vec::new();
        for s in &plan.publish_sets {
            for proto in ["tcp", "udp"] {
                // The floor does not depend on the transport: it runs in
                // the UDP rounds, alternating with both elements.
                let els: &[&str] = if proto == "udp" {
                    &[SINK_OURS, SINK_C, SINK_FLOOR]
                } else {
                    &sinks
                };
                let mut runs = vec![Vec::new(); els.len()];
                for _ in 0..plan.rounds {
                    for (i, el) in els.iter().enumerate() {
                        let start_timeout = 30.0 + s.n as f64 * 0.1;
                        let mut a = vec!["publish".to_string()];
                        a.extend(args(&[
                            ("element", (*el).into()),
                            ("protocol", proto.into()),
                            ("url", r.server.record_url(opts.gst_record)),
                            ("n", s.n.to_string()),
                            ("latency", lat.clone()),
                            ("settle", plan.settle.to_string()),
                            ("seconds", plan.window.to_string()),
                            ("source", "h264".into()),
                            ("au-file", au_file(s.mount)),
                            ("start-timeout", start_timeout.to_string()),
                        ]));
                        if *el == SINK_FLOOR {
                            a.extend(args(&[("tail", FLOOR_TAIL.into())]));
                        }
                        let mut res = r.measured(
                            &format!("publish-{el}-{proto}-n{}{}", s.n, s.mount.replace('/', "-")),
                            &a,
                            start_timeout + plan.settle + plan.window + 90.0,
                        );
                        res["label"] = json!(s.label);
                        res["mount"] = json!(s.mount);
                        runs[i].push(res);
                    }
                }
                v.extend(runs.into_iter().map(median_run));
            }
        }
        results["publish"] = json!(v);
    }
    if wants("publish-ceiling") {
        let mut c = serde_json::Map::new();
        for el in sinks {
            let mut steps = Vec::new();
            let mut best: Option<Value> = None;
            for &rate in &plan.publish_rates {
                let mut pass = false;
                for attempt in 0..2 {
                    let mut a = vec!["publish".to_string()];
                    a.extend(args(&[
                        ("element", el.into()),
                        ("protocol", "tcp".into()),
                        ("url", r.server.record_url(opts.gst_record)),
                        ("n", "1".into()),
                        ("latency", lat.clone()),
                        ("settle", plan.ceiling_settle.to_string()),
                        ("seconds", plan.ceiling_window.to_string()),
                        ("source", "raw".into()),
                        ("mbps", rate.to_string()),
                        ("start-timeout", "20".into()),
                    ]));
                    let mut res = r.client(&format!("publish-ceiling-{el}-{rate}"), &a, 120.0);
                    let arrived = res["server"]["arrived_mbps"].as_f64().unwrap_or(0.0);
                    pass = res["fatal"].is_null()
                        && res["errors"].as_u64() == Some(0)
                        && res["server"]["gaps"].as_u64() == Some(0)
                        && arrived >= 0.95 * rate as f64;
                    res["nominal_mbps"] = json!(rate);
                    res["attempt"] = json!(attempt);
                    res["pass"] = json!(pass);
                    steps.push(res.clone());
                    if pass {
                        best = Some(res);
                        break;
                    }
                    if attempt == 0 {
                        r.calm_before_retry(&res);
                    }
                }
                if !pass {
                    break;
                }
            }
            let max_mbps = steps
                .iter()
                .filter_map(|s| s["server"]["arrived_mbps"].as_f64())
                .fold(0.0f64, f64::max);
            c.insert(
                el.to_string(),
                json!({
                    "ceiling_mbps": best.as_ref().map(|b| b["nominal_mbps"].clone()),
                    "at_ceiling": best,
                    "max_arrived_mbps": max_mbps,
                    "steps": steps,
                }),
            );
        }
        results["publish_ceiling"] = Value::Object(c);
    }

    // 5. 1000 low-bitrate streams in one process.
    if wants("thousand") {
        let mut v = Vec::new();
        let mut els = vec![SRC_OURS];
        if opts.thousand_c {
            els.push(SRC_C);
        }
        // gst-rtsp-server's 1000 TCP clients cost it 0.65-0.7 of the two
        // cores, which the client then lacks; the light play server's
        // shared H.264 mount (TCP only) sends the same packets for about a
        // quarter of that. Both are measured and reported.
        for (proto, s) in [
            ("tcp", set(1000, "/h264-low")),
            ("tcp", light(set(1000, "/h264-low"))),
            ("udp", set(1000, "/h264-low")),
        ] {
            for el in &els {
                let mut res = play_one(&mut r, el, proto, &s, 5.0, 10.0);
                res["pass"] = json!(report::thousand_pass(&results, &res));
                v.push(res);
            }
        }
        results["thousand"] = json!(v);
    }

    results["meta"]["duration_s"] = json!(started.elapsed().as_secs_f64());
    results["meta"]["loadavg_end"] = json!(loadavg());
    r.server.stop();

    let stamp = utc_now().replace([' ', ':'], "-").replace("-UTC", "");
    let json_text = serde_json::to_string_pretty(&results)?;
    std::fs::write(opts.out.join("results.json"), &json_text)?;
    std::fs::write(opts.out.join(format!("results-{stamp}.json")), &json_text)?;
    let table = report::markdown(&results);
    std::fs::write(opts.out.join("results.md"), &table)?;
    let png = opts.out.join("plot.png");
    report::plot(&results, &png)?;
    println!("{table}");
    println!(
        "\nraw figures: {}\nplot: {}\nfinished in {:.0} s",
        opts.out.join("results.json").display(),
        png.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let res = match a.first().map(String::as_str) {
        Some("client") => client::main(&a[1..]),
        Some("report") => {
            // Re-render table and plot from a saved results.json.
            (|| -> Result<(), Box<dyn std::error::Error>> {
                let path = a.get(1).ok_or("report needs a results.json")?;
                let v: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
                let png = Path::new(path).with_file_name("plot.png");
                report::plot(&v, &png)?;
                println!("{}", report::markdown(&v));
                eprintln!("plot: {}", png.display());
                Ok(())
            })()
        }
        _ => parent(&a),
    };
    if let Err(e) = res {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
