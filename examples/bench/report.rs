//! Tables, goals and the plot, computed from the results JSON.

use std::fmt::Write as _;

use serde_json::Value;

use crate::plot::{self, Bar, Group, Panel};
use crate::{SINK_C, SINK_FLOOR, SINK_OURS, SRC_C, SRC_OURS};

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// One progress line for a finished child.
pub fn one_line(r: &Value) -> String {
    if let Some(e) = r.get("fatal").and_then(Value::as_str) {
        return format!("FAILED: {e}");
    }
    let other = r["conditions"]["other_cores"].as_f64().unwrap_or(0.0);
    match r["mode"].as_str() {
        Some("ttfb") => format!(
            "median {:.0} ms (first packet {:.0} ms), failures {}",
            f(r, "median_ms").unwrap_or(f64::NAN),
            f(r, "median_first_packet_ms").unwrap_or(f64::NAN),
            r["failures"].as_array().map(|a| a.len()).unwrap_or(0)
        ),
        Some("play") => format!(
            "{}/{} started, {:.3} ms CPU/stream-s, {:.0} KiB/stream, {:.2} threads/stream, {:.1} Mbit/s, gaps {}, errors {}, other load {:.2} cores{}",
            u(r, "started").unwrap_or(0),
            u(r, "n").unwrap_or(0),
            f(r, "cpu_per_stream_s").unwrap_or(0.0) * 1000.0,
            f(r, "rss_per_stream_kib").unwrap_or(0.0),
            f(r, "threads_per_stream").unwrap_or(0.0),
            f(r, "mbps").unwrap_or(0.0),
            u(r, "gaps").unwrap_or(0),
            u(r, "errors").unwrap_or(0),
            other,
            play_server_line(r)
        ),
        Some("publish") => format!(
            "{}/{} started, {:.3} ms CPU/stream-s, {:.0} KiB/stream, {:.2} threads/stream, server got {:.1} Mbit/s, gaps {}, errors {}, other load {:.2} cores",
            u(r, "started").unwrap_or(0),
            u(r, "n").unwrap_or(0),
            f(r, "cpu_per_stream_s").unwrap_or(0.0) * 1000.0,
            f(r, "rss_per_stream_kib").unwrap_or(0.0),
            f(r, "threads_per_stream").unwrap_or(0.0),
            r["server"]["arrived_mbps"].as_f64().unwrap_or(0.0),
            r["server"]["gaps"].as_u64().unwrap_or(0),
            u(r, "errors").unwrap_or(0),
            other
        ),
        _ => r.to_string(),
    }
}

/// What the light playing endpoint did in a play window, if it served it.
fn play_server_line(r: &Value) -> String {
    let s = &r["server"];
    match f(s, "sent_mbps") {
        Some(sent) => format!(
            "; server sent {sent:.1} Mbit/s with {:.2} cores, {} frames late",
            f(&r["conditions"], "server_cores").unwrap_or(0.0),
            f(s, "late_frames").unwrap_or(0.0)
        ),
        None => s.get("feeder").map(feeder_note).unwrap_or_default(),
    }
}

/// "; server fed N frames, payloaded M": what a gst-rtsp-server mount's
/// feeder did in a run's window (`server.feeder`).
fn feeder_note(feeder: &Value) -> String {
    format!(
        "; server fed {} frames, payloaded {}",
        feeder["pushed"], feeder["payloaded"]
    )
}

/// Nominal Mbit/s of the streams of a play result at `/h264-low` (None if
/// the server's rate is unknown).
fn nominal_low_mbps(results: &Value, r: &Value) -> Option<f64> {
    let kbps = results["meta"]["server"]["h264_low_kbps"].as_f64()?;
    Some(kbps / 1000.0 * u(r, "n")? as f64)
}

/// The "1000 streams without loss" verdict: every stream started, no
/// missing packet, no error, no stream silent in the window, and at least
/// 90 % of the nominal rate received (a saturated machine makes the server
/// drop whole frames, which shows as less data, not as gaps).
/// Which server a playing run played from.
fn server_kind(r: &Value) -> &str {
    r["server_kind"].as_str().unwrap_or("gst-rtsp-server")
}

pub fn thousand_pass(results: &Value, r: &Value) -> bool {
    let n = u(r, "n").unwrap_or(0);
    let rate_ok = match nominal_low_mbps(results, r) {
        Some(nominal) => f(r, "mbps").unwrap_or(0.0) >= 0.9 * nominal,
        None => true,
    };
    n > 0
        && u(r, "started") == Some(n)
        && u(r, "gaps") == Some(0)
        && u(r, "errors") == Some(0)
        && u(r, "stalled_streams") == Some(0)
        && r.get("fatal").is_none()
        && rate_ok
}

fn list<'a>(results: &'a Value, key: &str) -> &'a [Value] {
    results[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn find<'a>(
    results: &'a Value,
    key: &str,
    element: &str,
    proto: &str,
    label: Option<&str>,
) -> Option<&'a Value> {
    list(results, key).iter().find(|r| {
        r["element"].as_str() == Some(element)
            && r["protocol"].as_str() == Some(proto)
            && label.is_none_or(|l| r["label"].as_str() == Some(l))
            && r.get("fatal").is_none()
    })
}

fn labels(results: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in list(results, key) {
        if let Some(l) = r["label"].as_str()
            && !out.iter().any(|x| x == l)
        {
            out.push(l.to_string());
        }
    }
    out
}

fn cell(v: Option<f64>) -> String {
    v.map(plot::fmt3).unwrap_or_else(|| "n/a".into())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn rcell(r: Option<f64>) -> String {
    r.map(|r| format!("{:.2}×", r))
        .unwrap_or_else(|| "n/a".into())
}

/// A table row: name and how to get the value for an element.
type Row<'a> = (&'static str, Box<dyn Fn(&str) -> Option<f64> + 'a>);

type Metric = (&'static str, fn(&Value) -> Option<f64>);

fn cpu_ms(r: &Value) -> Option<f64> {
    f(r, "cpu_per_stream_s").map(|v| v * 1000.0)
}
/// CPU milliseconds per megabit received (fair when the elements received
/// different amounts, e.g. a saturated machine).
fn cpu_per_mbit(r: &Value) -> Option<f64> {
    let mbps = f(r, "mbps").or_else(|| r["server"]["arrived_mbps"].as_f64())?;
    (mbps > 0.0).then(|| f(r, "cpu_cores").unwrap_or(0.0) / mbps * 1000.0)
}
fn rss(r: &Value) -> Option<f64> {
    f(r, "rss_per_stream_kib")
}
fn threads(r: &Value) -> Option<f64> {
    f(r, "threads_per_stream")
}
fn mbps_stream(r: &Value) -> Option<f64> {
    f(r, "mbps_per_stream")
}
fn gaps(r: &Value) -> Option<f64> {
    u(r, "gaps").map(|v| v as f64)
}
fn startup(r: &Value) -> Option<f64> {
    f(r, "startup_s")
}
fn arrived_stream(r: &Value) -> Option<f64> {
    let n = u(r, "n")? as f64;
    r["server"]["arrived_mbps"].as_f64().map(|v| v / n)
}
fn server_gaps(r: &Value) -> Option<f64> {
    r["server"]["gaps"].as_u64().map(|v| v as f64)
}

const PLAY_METRICS: &[Metric] = &[
    ("CPU, ms per stream-second", cpu_ms),
    ("CPU, ms per Mbit received", cpu_per_mbit),
    ("peak RSS per stream, KiB", rss),
    ("OS threads per stream", threads),
    ("received Mbit/s per stream", mbps_stream),
    ("RTP packets missing in window", gaps),
    ("start-up of all streams, s", startup),
];

const PUBLISH_METRICS: &[Metric] = &[
    ("CPU, ms per stream-second", cpu_ms),
    ("CPU, ms per Mbit arrived", cpu_per_mbit),
    ("peak RSS per stream, KiB", rss),
    ("OS threads per stream", threads),
    ("arrived at server, Mbit/s per stream", arrived_stream),
    ("RTP packets missing at server", server_gaps),
];

fn comparison_table(
    out: &mut String,
    results: &Value,
    key: &str,
    ours: &str,
    c: &str,
    metrics: &[Metric],
) {
    let _ = writeln!(
        out,
        "| figure | transport | streams | `{ours}` | `{c}` (C) | ours / C |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|");
    for (name, m) in metrics {
        for label in labels(results, key) {
            for proto in ["tcp", "udp"] {
                let a = find(results, key, ours, proto, Some(&label)).and_then(m);
                let b = find(results, key, c, proto, Some(&label)).and_then(m);
                if a.is_none() && b.is_none() {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "| {name} | {} | {label} | {} | {} | {} |",
                    proto.to_uppercase(),
                    cell(a),
                    cell(b),
                    rcell(ratio(a, b))
                );
            }
        }
    }
}

/// Every round's CPU per stream-second behind a comparison table's
/// figures (which are each configuration's median round).
fn rounds_table(out: &mut String, results: &Value, key: &str, ours: &str, c: &str) {
    let per_round = |el: &str, proto: &str, label: &str| -> Option<String> {
        let r = find(results, key, el, proto, Some(label))?;
        let cpu: Vec<String> = r["cpu_rounds"]
            .as_array()?
            .iter()
            .map(|v| cell(v.as_f64().map(|s| s * 1000.0)))
            .collect();
        Some(cpu.join(" / "))
    };
    let mut rows = Vec::new();
    for label in labels(results, key) {
        for proto in ["tcp", "udp"] {
            let (a, b) = (per_round(ours, proto, &label), per_round(c, proto, &label));
            if a.is_some() || b.is_some() {
                rows.push(format!(
                    "| {} | {label} | {} | {} |",
                    proto.to_uppercase(),
                    a.unwrap_or_default(),
                    b.unwrap_or_default()
                ));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nCPU per stream-second of every round, ms (rounds alternate the elements; the figures above are each configuration's median round):\n"
    );
    let _ = writeln!(out, "| transport | streams | `{ours}` | `{c}` (C) |");
    let _ = writeln!(out, "|---|---|---|---|");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
}

fn ttfb_of(results: &Value, el: &str, proto: &str) -> Option<f64> {
    find(results, "ttfb", el, proto, None).and_then(|r| f(r, "median_ms"))
}

fn ceiling_of(results: &Value, key: &str, el: &str) -> Option<f64> {
    results[key][el]["ceiling_mbps"].as_f64()
}

fn ceiling_cpu_per_gbit(results: &Value, key: &str, el: &str) -> Option<f64> {
    let at = &results[key][el]["at_ceiling"];
    let cores = f(at, "cpu_cores")?;
    let mbps = if key == "ceiling" {
        f(at, "mbps")?
    } else {
        at["server"]["arrived_mbps"].as_f64()?
    };
    Some(cores / (mbps / 1000.0))
}

/// The publishing floor's run for a stream set (it runs in the UDP rounds
/// but does not depend on the transport).
fn publish_floor<'a>(results: &'a Value, label: &str) -> Option<&'a Value> {
    find(results, "publish", SINK_FLOOR, "udp", Some(label))
}

/// `rtpbin` alone, one thread, 1400-byte packets: Gbit/s per core.
fn rtpbin_floor_gbit(results: &Value) -> Option<f64> {
    f(&results["rtpbin_floor"], "gbit_per_core")
}

/// What both sinks share, and each one's cost above it.
fn publish_floor_table(out: &mut String, results: &Value) {
    let mut rows = Vec::new();
    for label in labels(results, "publish") {
        let Some(floor) = publish_floor(results, &label).and_then(cpu_ms) else {
            continue;
        };
        for proto in ["tcp", "udp"] {
            let a = find(results, "publish", SINK_OURS, proto, Some(&label)).and_then(cpu_ms);
            let b = find(results, "publish", SINK_C, proto, Some(&label)).and_then(cpu_ms);
            let above = |v: Option<f64>| v.map(|v| v - floor);
            rows.push(format!(
                "| {} | {label} | {} | {} | {} | {} | {} |",
                proto.to_uppercase(),
                cell(Some(floor)),
                cell(above(a)),
                cell(above(b)),
                rcell(ratio(above(a), above(b))),
                rcell(ratio(Some(floor), b)),
            ));
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nWhat both sinks share: the same `appsrc ! rtph264pay` into `rtpbin`'s send path and `fakesink`, without any network (`rtspclientsink` has both inside), run in the same rounds. Above it, each element's CPU is its own glue plus the kernel's send path; floor / C is the lowest ratio a sink built on the payloader and `rtpbin` can reach (ms per stream-second):\n"
    );
    let _ = writeln!(
        out,
        "| transport | streams | shared floor | `{SINK_OURS}` above it | `{SINK_C}` above it | ours / C above it | floor / C |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
}

/// `rtpbin` alone per packet: the bound on any `rtpbin`-based client's
/// single-stream ceiling here.
fn rtpbin_floor_note(out: &mut String, results: &Value) {
    let r = &results["rtpbin_floor"];
    let (Some(us), Some(gbit)) = (f(r, "us_per_packet"), f(r, "gbit_per_core")) else {
        return;
    };
    let rounds: Vec<String> = r["us_rounds"]
        .as_array()
        .map(|v| v.iter().map(|x| cell(x.as_f64())).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "`rtpbin` alone (`bench client rtpbin-floor`: 1400-byte RTP packets pushed into `recv_rtp_sink_0` on one thread, `identity` as jitterbuffer, `ignore-pt`, into `fakesink`, no network): {} µs per packet (rounds: {}), i.e. {} Mbit/s per core. A stream's packets pass `rtpbin` on one thread, so this bounds the single-stream ceiling of any client built on `rtpbin` on this machine.\n",
        cell(Some(us)),
        rounds.join(" / "),
        cell(Some(gbit * 1000.0))
    );
}

/// (goal, verdict, detail) lines.
pub fn goals(results: &Value) -> Vec<(String, Option<bool>, String)> {
    let mut g = Vec::new();
    for (key, ours, c, what) in [
        (
            "play",
            SRC_OURS,
            SRC_C,
            "rtspsrc2 CPU per stream ≤ ½ of rtspsrc",
        ),
        (
            "publish",
            SINK_OURS,
            SINK_C,
            "rtspsink CPU per stream ≤ ½ of rtspclientsink",
        ),
    ] {
        let mut details = Vec::new();
        let mut ok = None;
        for l in labels(results, key)
            .iter()
            .filter(|l| *l == "N=32" || *l == "N=256 low")
        {
            for proto in ["tcp", "udp"] {
                let r = ratio(
                    find(results, key, ours, proto, Some(l)).and_then(cpu_ms),
                    find(results, key, c, proto, Some(l)).and_then(cpu_ms),
                );
                if let Some(r) = r {
                    ok = Some(ok.unwrap_or(true) && r <= 0.5);
                    details.push(format!("{} {l}: {:.2}×", proto.to_uppercase(), r));
                }
            }
        }
        if key == "publish" {
            for l in ["N=32", "N=256 low"] {
                let floor = publish_floor(results, l).and_then(cpu_ms);
                let c = find(results, key, c, "udp", Some(l)).and_then(cpu_ms);
                if let Some(r) = ratio(floor, c) {
                    details.push(format!("shared floor {l} {r:.2}× of C (UDP)"));
                }
            }
        }
        g.push((what.to_string(), ok, details.join(", ")));
    }
    {
        let mut details = Vec::new();
        let mut ok = None;
        for proto in ["tcp", "udp"] {
            if let Some(t) =
                find(results, "play", SRC_OURS, proto, Some("N=256 low")).and_then(threads)
            {
                ok = Some(ok.unwrap_or(true) && t <= 2.0);
                let ct = find(results, "play", SRC_C, proto, Some("N=256 low")).and_then(threads);
                details.push(format!(
                    "{} {:.2} (C {})",
                    proto.to_uppercase(),
                    t,
                    cell(ct)
                ));
            }
        }
        g.push((
            "≤ 2 OS threads per stream at N=256".into(),
            ok,
            details.join(", "),
        ));
    }
    {
        let mut details = Vec::new();
        let mut ok = None;
        for proto in ["tcp", "udp"] {
            let r = ratio(
                find(results, "play", SRC_OURS, proto, Some("N=256 low")).and_then(rss),
                find(results, "play", SRC_C, proto, Some("N=256 low")).and_then(rss),
            );
            if let Some(r) = r {
                ok = Some(ok.unwrap_or(true) && r <= 0.5);
                details.push(format!("{} N=256: {:.2}×", proto.to_uppercase(), r));
            }
        }
        g.push((
            "RSS per stream ≤ ½ of rtspsrc".into(),
            ok,
            details.join(", "),
        ));
    }
    {
        let t = list(results, "thousand");
        let ours: Vec<&Value> = t
            .iter()
            .filter(|r| r["element"].as_str() == Some(SRC_OURS))
            .collect();
        // Per transport, met when a run passes; over TCP gst-rtsp-server
        // and the light play server are both run, and both are listed.
        let ok = if ours.is_empty() {
            None
        } else {
            Some(["tcp", "udp"].iter().all(|p| {
                ours.iter()
                    .any(|r| r["protocol"].as_str() == Some(p) && thousand_pass(results, r))
            }))
        };
        let details = ours
            .iter()
            .map(|r| {
                format!(
                    "{} from {}: {}/1000 started, {} missing packets, {} errors, {} stalled, {} of {} Mbit/s received",
                    r["protocol"].as_str().unwrap_or("?").to_uppercase(),
                    server_kind(r),
                    u(r, "started").unwrap_or(0),
                    u(r, "gaps").unwrap_or(0),
                    u(r, "errors").unwrap_or(0),
                    u(r, "stalled_streams").unwrap_or(0),
                    cell(f(r, "mbps")),
                    cell(nominal_low_mbps(results, r))
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        g.push((
            "1000 low-bitrate streams in one process without loss".into(),
            ok,
            if details.is_empty() {
                "not run (--thousand)".into()
            } else {
                details
            },
        ));
    }
    {
        let a = ceiling_of(results, "ceiling", SRC_OURS);
        let b = ceiling_of(results, "ceiling", SRC_C);
        let raw = f(&results["tcp_raw"], "mbps");
        let ok = match (a, b, raw) {
            (Some(a), Some(b), Some(raw)) => Some(a >= 2.0 * b && a >= 0.5 * raw),
            (Some(a), None, Some(raw)) if !results["ceiling"][SRC_C].is_null() => {
                Some(a >= 0.5 * raw)
            }
            _ => None,
        };
        let stepmax = results["meta"]["server"]["raw_rates"]
            .as_array()
            .and_then(|v| v.iter().filter_map(Value::as_f64).reduce(f64::max));
        g.push((
            "TCP ceiling ≥ 2× rtspsrc and ≥ ½ raw loopback TCP".into(),
            ok,
            format!(
                "ours {} Mbit/s, C {} Mbit/s, raw TCP {} Mbit/s (highest step offered {}); rtpbin alone passes {} Mbit/s per core",
                cell(a),
                cell(b),
                cell(raw),
                cell(stepmax),
                cell(rtpbin_floor_gbit(results).map(|g| g * 1000.0))
            ),
        ));
    }
    {
        let mut details = Vec::new();
        let mut ok = None;
        for proto in ["tcp", "udp"] {
            let a = ttfb_of(results, SRC_OURS, proto);
            let b = ttfb_of(results, SRC_C, proto);
            if let (Some(a), Some(b)) = (a, b) {
                ok = Some(ok.unwrap_or(true) && a <= b);
                details.push(format!(
                    "{} {:.0} ms vs {:.0} ms",
                    proto.to_uppercase(),
                    a,
                    b
                ));
            }
        }
        g.push((
            "time to first buffer not worse than rtspsrc".into(),
            ok,
            details.join(", "),
        ));
    }
    g
}

pub fn markdown(results: &Value) -> String {
    let mut o = String::new();
    let m = &results["meta"];
    let _ = writeln!(
        o,
        "## Results ({} mode, {})\n",
        m["mode"].as_str().unwrap_or("?"),
        m["date"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        o,
        "Machine: {} × {}, {:.1} GiB RAM, Linux {}, {}, {}; git {} ({} changed files); latency {} ms on both elements; server: H.264 {:.0} kbit/s 720p30 and {:.0} kbit/s 240p30 looped from memory. Run took {:.0} s; load average {:.2} at start, {:.2} at end.\n",
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["mem_gib"].as_f64().unwrap_or(0.0),
        m["kernel"].as_str().unwrap_or("?"),
        m["gstreamer"].as_str().unwrap_or("?"),
        m["rustc"].as_str().unwrap_or("?"),
        m["git_commit"].as_str().unwrap_or("?"),
        m["git_dirty_files"],
        m["latency_ms"],
        m["server"]["h264_kbps"].as_f64().unwrap_or(0.0),
        m["server"]["h264_low_kbps"].as_f64().unwrap_or(0.0),
        m["duration_s"].as_f64().unwrap_or(0.0),
        m["loadavg_start"].as_f64().unwrap_or(0.0),
        m["loadavg_end"].as_f64().unwrap_or(0.0),
    );

    if !list(results, "ttfb").is_empty() {
        let _ = writeln!(
            o,
            "### Time to first buffer (PLAYING → first depayloaded buffer)\n"
        );
        let _ = writeln!(
            o,
            "| transport | `rtspsrc2` median ms | `rtspsrc` (C) median ms | ours / C | ours first RTP packet ms | C first RTP packet ms | runs |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
        for proto in ["tcp", "udp"] {
            let a = find(results, "ttfb", SRC_OURS, proto, None);
            let b = find(results, "ttfb", SRC_C, proto, None);
            let am = a.and_then(|r| f(r, "median_ms"));
            let bm = b.and_then(|r| f(r, "median_ms"));
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                proto.to_uppercase(),
                cell(am),
                cell(bm),
                rcell(ratio(am, bm)),
                cell(a.and_then(|r| f(r, "median_first_packet_ms"))),
                cell(b.and_then(|r| f(r, "median_first_packet_ms"))),
                a.and_then(|r| u(r, "runs")).unwrap_or(0)
            );
        }
        let _ = writeln!(o);
    }

    if !list(results, "play").is_empty() {
        let _ = writeln!(
            o,
            "### Playing: N concurrent streams in one process (`SRC ! rtph264depay ! fakesink` each)\n"
        );
        comparison_table(&mut o, results, "play", SRC_OURS, SRC_C, PLAY_METRICS);
        rounds_table(&mut o, results, "play", SRC_OURS, SRC_C);
        let _ = writeln!(o);
    }

    if results["ceiling"].is_object() || results["tcp_raw"].is_object() {
        let _ = writeln!(
            o,
            "### Single-stream ceiling over TCP interleaved (raw video, `SRC ! fakesink`)\n"
        );
        let _ = writeln!(o, "| figure | `rtspsrc2` | `rtspsrc` (C) | ours / C |");
        let _ = writeln!(o, "|---|---:|---:|---:|");
        let rows: [Row; 3] = [
            (
                "highest step without loss, Mbit/s",
                Box::new(|el| ceiling_of(results, "ceiling", el)),
            ),
            (
                "CPU seconds per Gbit at that step",
                Box::new(|el| ceiling_cpu_per_gbit(results, "ceiling", el)),
            ),
            (
                "most received in any step, Mbit/s",
                Box::new(|el| results["ceiling"][el]["max_received_mbps"].as_f64()),
            ),
        ];
        for (name, get) in &rows {
            let a = get(SRC_OURS);
            let b = get(SRC_C);
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} |",
                cell(a),
                cell(b),
                rcell(ratio(a, b))
            );
        }
        let raw = &results["tcp_raw"];
        if let Some(server) = results["meta"]["ceiling_server"].as_str() {
            let cores: Vec<String> = [SRC_OURS, SRC_C]
                .iter()
                .filter_map(|el| {
                    let c = &results["ceiling"][el]["at_ceiling"]["conditions"];
                    let cores = f(c, "server_cores")?;
                    Some(format!("{} cores with `{el}`", cell(Some(cores))))
                })
                .collect();
            let _ = writeln!(
                o,
                "\nServer: {server}; it used {} at the highest passing step.",
                if cores.is_empty() {
                    "?".to_string()
                } else {
                    cores.join(", ")
                }
            );
        }
        let _ = writeln!(
            o,
            "\nRaw loopback TCP (two threads, {} KiB writes): {} Mbit/s, {} CPU seconds per Gbit.\n",
            u(raw, "chunk_bytes").unwrap_or(0) / 1024,
            cell(f(raw, "mbps")),
            cell(f(raw, "cpu_s_per_gbit"))
        );
        rtpbin_floor_note(&mut o, results);
        for el in [SRC_OURS, SRC_C] {
            if let Some(steps) = results["ceiling"][el]["steps"].as_array() {
                let s: Vec<String> = steps
                    .iter()
                    .map(|s| {
                        format!(
                            "{}→{} Mbit/s{}{}",
                            s["nominal_mbps"],
                            cell(f(s, "mbps")),
                            if u(s, "gaps").unwrap_or(0) > 0 {
                                format!(" ({} missing)", u(s, "gaps").unwrap_or(0))
                            } else {
                                String::new()
                            },
                            if s["pass"].as_bool() == Some(true) {
                                ""
                            } else {
                                " ✗"
                            }
                        )
                    })
                    .collect();
                let _ = writeln!(o, "Steps `{el}`: {}\n", s.join(", "));
            }
        }
    }

    if !list(results, "publish").is_empty() {
        let _ = writeln!(
            o,
            "### Publishing: N concurrent streams in one process (pre-encoded H.264 from memory; ours `appsrc ! rtph264pay ! rtspsink`, C `appsrc ! rtspclientsink`)\n"
        );
        comparison_table(
            &mut o,
            results,
            "publish",
            SINK_OURS,
            SINK_C,
            PUBLISH_METRICS,
        );
        rounds_table(&mut o, results, "publish", SINK_OURS, SINK_C);
        publish_floor_table(&mut o, results);
        let _ = writeln!(o);
    }

    if results["publish_ceiling"].is_object() {
        let _ = writeln!(o, "### Publishing ceiling over TCP (raw video)\n");
        let _ = writeln!(
            o,
            "| figure | `rtspsink` | `rtspclientsink` (C) | ours / C |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|");
        let rows: [Row; 3] = [
            (
                "highest step arriving without loss, Mbit/s",
                Box::new(|el| ceiling_of(results, "publish_ceiling", el)),
            ),
            (
                "CPU seconds per Gbit at that step",
                Box::new(|el| ceiling_cpu_per_gbit(results, "publish_ceiling", el)),
            ),
            (
                "most arrived in any step, Mbit/s",
                Box::new(|el| results["publish_ceiling"][el]["max_arrived_mbps"].as_f64()),
            ),
        ];
        for (name, get) in &rows {
            let a = get(SINK_OURS);
            let b = get(SINK_C);
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} |",
                cell(a),
                cell(b),
                rcell(ratio(a, b))
            );
        }
        let _ = writeln!(o);
    }

    if !list(results, "thousand").is_empty() {
        let _ = writeln!(
            o,
            "### 1000 concurrent low-bitrate streams in one process\n"
        );
        let _ = writeln!(
            o,
            "| element | transport | server | started | missing packets | errors | stalled | received Mbit/s (nominal) | CPU ms/stream-s | server cores | KiB/stream | threads/stream | start-up s | pass |"
        );
        let _ = writeln!(
            o,
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for r in list(results, "thousand") {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
                r["element"].as_str().unwrap_or("?"),
                r["protocol"].as_str().unwrap_or("?").to_uppercase(),
                server_kind(r),
                u(r, "started").unwrap_or(0),
                u(r, "gaps").unwrap_or(0),
                u(r, "errors").unwrap_or(0),
                u(r, "stalled_streams").unwrap_or(0),
                cell(f(r, "mbps")),
                cell(nominal_low_mbps(results, r)),
                cell(cpu_ms(r)),
                cell(r["conditions"]["server_cores"].as_f64()),
                cell(rss(r)),
                cell(threads(r)),
                cell(startup(r)),
                if thousand_pass(results, r) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "### Goals\n");
    let _ = writeln!(o, "| goal | met | measured |");
    let _ = writeln!(o, "|---|---|---|");
    for (goal, ok, detail) in goals(results) {
        let v = match ok {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(o, "| {goal} | {v} | {detail} |");
    }
    let _ = writeln!(o);

    // Conditions: runs during which something else used the CPU.
    let mut busy = Vec::new();
    for key in ["ceiling", "publish_ceiling"] {
        for (el, c) in results[key].as_object().into_iter().flatten() {
            for r in list(c, "steps") {
                let other = r["conditions"]["other_cores"].as_f64().unwrap_or(0.0);
                if other > 0.25 {
                    busy.push(format!(
                        "{key} {el} {}: {other:.2} cores{}",
                        r["nominal_mbps"],
                        steal_note(r)
                    ));
                }
            }
        }
    }
    for key in ["ttfb", "play", "publish", "thousand"] {
        for r in list(results, key) {
            let other = r["conditions"]["other_cores"].as_f64().unwrap_or(0.0);
            if other > 0.25 {
                busy.push(format!(
                    "{} {} {} {}: {:.2} cores{}",
                    key,
                    r["element"].as_str().unwrap_or("?"),
                    r["protocol"].as_str().unwrap_or("?"),
                    r["label"].as_str().unwrap_or(""),
                    other,
                    steal_note(r)
                ));
            }
        }
    }
    let _ = writeln!(
        o,
        "Conditions: other processes (not the client, not the server) or the hypervisor (steal: CPU time given to other VMs) took more than 0.25 of a core during {} of the measurement windows{}{}\n",
        busy.len(),
        if busy.is_empty() { "." } else { ": " },
        busy.join("; ")
    );
    let mut no_data = Vec::new();
    collect_no_data_runs(results, &mut no_data);
    if !no_data.is_empty() {
        let _ = writeln!(
            o,
            "Runs in which no stream got any data, measured again: {}\n",
            no_data.join("; ")
        );
    }
    o
}

/// Every run kept as `no_data_run` (a rerun by `Runner::measured`), as
/// "element protocol label (errors, what the server's feeder did)".
fn collect_no_data_runs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("no_data_run") {
                out.push(format!(
                    "{} {} {} ({} errors{})",
                    r["element"].as_str().unwrap_or("?"),
                    r["protocol"].as_str().unwrap_or("?"),
                    map.get("label").and_then(Value::as_str).unwrap_or(""),
                    u(r, "errors").unwrap_or(0),
                    r["server"]
                        .get("feeder")
                        .map(feeder_note)
                        .unwrap_or_default()
                ));
            }
            map.values().for_each(|x| collect_no_data_runs(x, out));
        }
        Value::Array(list) => list.iter().for_each(|x| collect_no_data_runs(x, out)),
        _ => {}
    }
}

/// " (steal N)" when the hypervisor took a noticeable part of the cores.
fn steal_note(r: &Value) -> String {
    match r["conditions"]["steal_cores"].as_f64() {
        Some(steal) if steal >= 0.05 => format!(" (steal {steal:.2})"),
        _ => String::new(),
    }
}

fn bars(a: Option<f64>, b: Option<f64>) -> Vec<Bar> {
    vec![
        Bar {
            value: a,
            color: plot::OURS,
            note: None,
        },
        Bar {
            value: b,
            color: plot::C,
            note: None,
        },
    ]
}

fn short(proto: &str, label: &str) -> String {
    format!(
        "{} {}",
        proto.to_uppercase(),
        label.trim_start_matches("N=").replace(" low", "L")
    )
}

fn metric_panel(
    results: &Value,
    key: &str,
    ours: &str,
    c: &str,
    title: &str,
    m: fn(&Value) -> Option<f64>,
    filter: &dyn Fn(&str) -> bool,
) -> Panel {
    let mut groups = Vec::new();
    for label in labels(results, key).iter().filter(|l| filter(l)) {
        for proto in ["tcp", "udp"] {
            let ra = find(results, key, ours, proto, Some(label));
            let rb = find(results, key, c, proto, Some(label));
            let mut b = bars(ra.and_then(m), rb.and_then(m));
            for (bar, r) in b.iter_mut().zip([ra, rb]) {
                let lost = r
                    .map(|r| u(r, "gaps").unwrap_or(0) + r["server"]["gaps"].as_u64().unwrap_or(0));
                if lost.unwrap_or(0) > 0 {
                    bar.note = Some("LOSS".into());
                }
            }
            groups.push(Group {
                label: short(proto, label),
                bars: b,
            });
        }
    }
    Panel {
        title: title.into(),
        groups,
        line: None,
    }
}

pub fn plot(results: &Value, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut panels = Vec::new();

    // Ratios at a glance.
    let mut ratio_groups = Vec::new();
    for (key, ours, c, tag) in [
        ("play", SRC_OURS, SRC_C, "src"),
        ("publish", SINK_OURS, SINK_C, "sink"),
    ] {
        for label in labels(results, key) {
            if label == "N=1" {
                continue;
            }
            for proto in ["tcp", "udp"] {
                let r = ratio(
                    find(results, key, ours, proto, Some(&label)).and_then(cpu_ms),
                    find(results, key, c, proto, Some(&label)).and_then(cpu_ms),
                );
                if r.is_some() {
                    ratio_groups.push(Group {
                        label: format!("{tag} {}", short(proto, &label)),
                        bars: vec![Bar {
                            value: r,
                            color: plot::OURS,
                            note: None,
                        }],
                    });
                }
            }
        }
    }
    if !ratio_groups.is_empty() {
        panels.push(Panel {
            title: "CPU per stream, ours / C (lower is better)".into(),
            groups: ratio_groups,
            line: Some((0.5, "goal 0.5".into())),
        });
    }

    if !list(results, "ttfb").is_empty() {
        panels.push(Panel {
            title: "Time to first buffer, ms (median)".into(),
            groups: ["tcp", "udp"]
                .iter()
                .map(|p| Group {
                    label: p.to_uppercase(),
                    bars: bars(ttfb_of(results, SRC_OURS, p), ttfb_of(results, SRC_C, p)),
                })
                .collect(),
            line: None,
        });
    }
    if !list(results, "play").is_empty() {
        panels.push(metric_panel(
            results,
            "play",
            SRC_OURS,
            SRC_C,
            "Playing: CPU ms per stream-second, 4 Mbit/s",
            cpu_ms,
            &|l| !l.ends_with("low"),
        ));
        if labels(results, "play").iter().any(|l| l.ends_with("low")) {
            panels.push(metric_panel(
                results,
                "play",
                SRC_OURS,
                SRC_C,
                "Playing: CPU ms per stream-second, 300 kbit/s",
                cpu_ms,
                &|l| l.ends_with("low"),
            ));
        }
        panels.push(metric_panel(
            results,
            "play",
            SRC_OURS,
            SRC_C,
            "Playing: peak RSS per stream, KiB",
            rss,
            &|_| true,
        ));
        panels.push(metric_panel(
            results,
            "play",
            SRC_OURS,
            SRC_C,
            "Playing: OS threads per stream",
            threads,
            &|_| true,
        ));
    }
    if results["ceiling"].is_object() {
        let raw = f(&results["tcp_raw"], "mbps");
        panels.push(Panel {
            title: format!(
                "TCP ceiling, Mbit/s (raw loopback TCP {})",
                cell(raw.map(|v| v.round()))
            ),
            groups: vec![
                Group {
                    label: "no loss".into(),
                    bars: bars(
                        ceiling_of(results, "ceiling", SRC_OURS),
                        ceiling_of(results, "ceiling", SRC_C),
                    ),
                },
                Group {
                    label: "max received".into(),
                    bars: bars(
                        results["ceiling"][SRC_OURS]["max_received_mbps"].as_f64(),
                        results["ceiling"][SRC_C]["max_received_mbps"].as_f64(),
                    ),
                },
                Group {
                    label: "CPU s/Gbit x100".into(),
                    bars: bars(
                        ceiling_cpu_per_gbit(results, "ceiling", SRC_OURS).map(|v| v * 100.0),
                        ceiling_cpu_per_gbit(results, "ceiling", SRC_C).map(|v| v * 100.0),
                    ),
                },
            ],
            line: None,
        });
    }
    if !list(results, "publish").is_empty() {
        panels.push(metric_panel(
            results,
            "publish",
            SINK_OURS,
            SINK_C,
            "Publishing: CPU ms per stream-second",
            cpu_ms,
            &|_| true,
        ));
        panels.push(metric_panel(
            results,
            "publish",
            SINK_OURS,
            SINK_C,
            "Publishing: OS threads per stream",
            threads,
            &|_| true,
        ));
    }
    if results["publish_ceiling"].is_object() {
        panels.push(Panel {
            title: "Publishing ceiling over TCP, Mbit/s".into(),
            groups: vec![
                Group {
                    label: "no loss".into(),
                    bars: bars(
                        ceiling_of(results, "publish_ceiling", SINK_OURS),
                        ceiling_of(results, "publish_ceiling", SINK_C),
                    ),
                },
                Group {
                    label: "max arrived".into(),
                    bars: bars(
                        results["publish_ceiling"][SINK_OURS]["max_arrived_mbps"].as_f64(),
                        results["publish_ceiling"][SINK_C]["max_arrived_mbps"].as_f64(),
                    ),
                },
            ],
            line: None,
        });
    }
    if !list(results, "thousand").is_empty() {
        let t = list(results, "thousand");
        // (transport, light server?)
        let get = |el: &str, (p, light): (&str, bool)| {
            t.iter().find(|r| {
                r["element"].as_str() == Some(el)
                    && r["protocol"].as_str() == Some(p)
                    && (server_kind(r) == "light play server") == light
            })
        };
        panels.push(Panel {
            title: "1000 streams x 300 kbit/s: CPU ms per stream-s".into(),
            groups: [("tcp", false), ("tcp", true), ("udp", false)]
                .into_iter()
                .filter(|&k| get(SRC_OURS, k).is_some() || get(SRC_C, k).is_some())
                .map(|p| {
                    let mut b = bars(
                        get(SRC_OURS, p).and_then(cpu_ms),
                        get(SRC_C, p).and_then(cpu_ms),
                    );
                    for (bar, r) in b.iter_mut().zip([get(SRC_OURS, p), get(SRC_C, p)]) {
                        if let Some(r) = r {
                            let clean = u(r, "gaps") == Some(0)
                                && u(r, "errors") == Some(0)
                                && u(r, "stalled_streams") == Some(0)
                                && u(r, "started") == u(r, "n");
                            let share = f(r, "mbps")
                                .zip(nominal_low_mbps(results, r))
                                .map(|(got, nominal)| 100.0 * got / nominal);
                            bar.note = Some(match (thousand_pass(results, r), clean, share) {
                                (true, _, _) => "no loss".into(),
                                // Nothing lost, but the rate was not sent.
                                (false, true, Some(share)) => format!("{share:.0} % of rate"),
                                _ => "FAIL".into(),
                            });
                        }
                    }
                    Group {
                        label: format!(
                            "{}{}",
                            p.0.to_uppercase(),
                            if p.1 { " light srv" } else { "" }
                        ),
                        bars: b,
                    }
                })
                .collect(),
            line: None,
        });
    }

    let m = &results["meta"];
    let subtitle = format!(
        "{} | {} x {} | {} | latency {} ms | {} mode | groups: transport and streams per process (L = 300 kbit/s stream)",
        m["date"].as_str().unwrap_or("?"),
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["gstreamer"].as_str().unwrap_or("?"),
        m["latency_ms"],
        m["mode"].as_str().unwrap_or("?"),
    );
    plot::render(
        path,
        "rtspclient vs GStreamer C elements",
        &subtitle,
        &[
            ("ours (rtspsrc2 / rtspsink)", plot::OURS),
            ("C (rtspsrc / rtspclientsink)", plot::C),
        ],
        &panels,
        2,
    )
}
