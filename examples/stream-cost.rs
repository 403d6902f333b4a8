//! Threads and memory that N concurrent RTSP streams cost in one process.
//!
//! `cargo run --release --example stream-cost -- URL N [ELEMENT] [PROTOCOL]`
//! runs N pipelines `ELEMENT location=URL ! rtph264depay ! fakesink`
//! (ELEMENT rtspsrc2 or rtspsrc, PROTOCOL tcp or udp), waits until every
//! stream delivered 10 buffers, and prints the process's OS threads and RSS.
//! Run the server in another process (`cargo run --example test-server`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Thread names and how many of each, most common first.
fn thread_names() -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        // Numbered threads ("rtspclient-io-1") count as one kind.
        let kind = name
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == ':')
            .to_string();
        *counts.entry(kind).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts
        .iter()
        .map(|(name, n)| format!("{name}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: stream-cost URL N [ELEMENT] [PROTOCOL]")?;
    let n: usize = args.next().unwrap_or_else(|| "1".into()).parse()?;
    let element = args.next().unwrap_or_else(|| "rtspsrc2".into());
    let protocol = args.next().unwrap_or_else(|| "tcp".into());
    gst::init()?;
    gstrtspclient::plugin_register_static()?;
    let protocols = match (element.as_str(), protocol.as_str()) {
        ("rtspsrc", "tcp") => "protocols=tcp".to_string(),
        ("rtspsrc", _) => "protocols=udp".to_string(),
        (_, p) => format!("protocols={p}"),
    };
    let base_threads = threads();
    let base_rss = rss_kib();
    let mut pipelines = Vec::new();
    let mut counters = Vec::new();
    let start = Instant::now();
    for _ in 0..n {
        let pipeline = gst::parse::launch(&format!(
            "{element} location={url} {protocols} latency=200 ! rtph264depay ! fakesink name=sink sync=false"
        ))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let sink = pipeline.by_name("sink").ok_or("no sink")?;
        sink.static_pad("sink").ok_or("no pad")?.add_probe(
            gst::PadProbeType::BUFFER,
            move |_, _| {
                c.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            },
        );
        pipeline.set_state(gst::State::Playing)?;
        pipelines.push(pipeline);
        counters.push(count);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.iter().any(|c| c.load(Ordering::Relaxed) < 10) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = counters
        .iter()
        .filter(|c| c.load(Ordering::Relaxed) >= 10)
        .count();
    // Let every stream settle into its steady state before measuring.
    std::thread::sleep(Duration::from_secs(2));
    let used_threads = threads() - base_threads;
    let used_rss = rss_kib().saturating_sub(base_rss);
    println!(
        "{element} {protocol}: {ready}/{n} streams playing after {:.1}s; threads {used_threads} ({:.1}/stream); RSS +{} KiB ({:.0} KiB/stream)",
        start.elapsed().as_secs_f64(),
        used_threads as f64 / n as f64,
        used_rss,
        used_rss as f64 / n as f64
    );
    println!("  threads by name: {}", thread_names());
    for pipeline in pipelines {
        pipeline.set_state(gst::State::Null)?;
    }
    Ok(())
}
