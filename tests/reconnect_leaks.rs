//! Twenty server restarts in a row while `rtspsrc2` plays: each is
//! recovered, and threads, file descriptors and memory stay where they
//! were after the first (alone in its test binary, so that no other test
//! changes the counts).

mod common;

use std::time::{Duration, Instant};

use common::reconnect_player::Player;
use common::server_process::ServerProcess;
use gst::prelude::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn twenty_restarts_without_leaks() {
    let mut server = ServerProcess::start();
    let player = Player::start(&server.url, &[("protocols", "tcp".to_value())]);
    player.playing(Duration::from_secs(20));
    let mut recoveries = Vec::new();
    let mut baseline = None;
    for round in 0..21 {
        server.kill();
        let killed = Instant::now();
        server = ServerProcess::start_on(server.port);
        let (recovered, _) = player.recovers(killed, round);
        recoveries.push(recovered);
        // The first round warms up what a reconnection allocates once.
        if round == 0 {
            baseline = Some((threads(), descriptors(), rss_kib()));
        }
    }
    let (threads_before, fds_before, rss_before) = baseline.unwrap();
    let (threads_after, fds_after, rss_after) = (threads(), descriptors(), rss_kib());
    recoveries.sort();
    println!(
        "20 restarts: recovery median {:?}, max {:?}; threads {threads_before} -> {threads_after}, \
         descriptors {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} KiB",
        recoveries[recoveries.len() / 2],
        recoveries.last().unwrap()
    );
    assert!(threads_after <= threads_before + 2, "threads leak");
    assert!(fds_after <= fds_before + 4, "descriptors leak");
    assert!(rss_after < rss_before + 16 * 1024, "memory grows");
    assert_eq!(player.stats().get::<u64>("reconnections").unwrap(), 21);
}
