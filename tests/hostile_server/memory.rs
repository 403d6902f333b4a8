//! Behaviours that could grow memory, run one at a time while the
//! process's resident size is sampled: the peak growth over the size
//! before the behaviour must stay under [`MAX_GROWTH`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{Reply, interleaved_frame};

use super::script::{self, Behaviour, Expect, Role, Stage, normal, rtp_packet};

/// Peak resident growth allowed per behaviour. The element's own bounds
/// are far lower (64 KiB of header, 4 MiB of body, the 1 MiB write queue,
/// the jitterbuffer's latency); the rest is room for the allocator and
/// GStreamer's buffer pools.
pub const MAX_GROWTH: u64 = 16 * 1024 * 1024;

/// Packets per write of the flood and how long it lasts: 187 packets of
/// 1400 bytes (about 256 KiB) every millisecond, well over 1 Gbit/s
/// offered against the SDP's `b=AS:500` (500 kbit/s).
const FLOOD_PACKETS: u16 = 187;
const FLOOD_WRITES: u32 = 3000;

pub static FLOOD: Behaviour = Behaviour {
    name: "RTP flood far above the negotiated rate",
    stage: Stage::Play,
    reply: |req| {
        let mut seq = 0u16;
        let mut writes = 0;
        Reply::SendThenStream(
            normal(req),
            Duration::from_millis(1),
            Box::new(move || {
                writes += 1;
                if writes > FLOOD_WRITES {
                    return None;
                }
                let mut out = Vec::with_capacity(usize::from(FLOOD_PACKETS) * 1404);
                for _ in 0..FLOOD_PACKETS {
                    out.extend(interleaved_frame(0, &rtp_packet(seq, 1400)));
                    seq = seq.wrapping_add(1);
                }
                Some(out)
            }),
        )
    },
    sticky: false,
    // Plays while flooded for 2 s: the flood is read at the pipeline's
    // pace (TCP pushes back), memory stays flat.
    src: Some(Expect::Plays {
        within: Duration::from_secs(1),
        stat: None,
        hold: Duration::from_secs(2),
    }),
    sink: None,
};

/// Resident set size of this process, in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS")
}

/// Runs `behaviour` against the player, sampling the resident size every
/// 10 ms; returns the peak growth, or why the behaviour went wrong.
pub fn peak_growth(behaviour: &'static Behaviour) -> Result<u64, String> {
    let before = rss();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let runner = std::thread::spawn(move || {
        let result = script::run(behaviour, Role::Src);
        d.store(true, Ordering::SeqCst);
        result
    });
    let mut peak = before;
    while !done.load(Ordering::SeqCst) {
        peak = peak.max(rss());
        std::thread::sleep(Duration::from_millis(10));
    }
    runner
        .join()
        .map_err(|_| "the behaviour's thread panicked".to_string())??;
    Ok(peak.saturating_sub(before))
}
