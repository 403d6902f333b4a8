//! A scripted hostile server (raw TCP on loopback) against both elements:
//! malformed, oversized, endless, dripping, lying and flooding answers.
//! Every behaviour must end in a clear element error (domain and code,
//! message) or in playing with the bad part skipped, within its stated
//! bound, with bounded memory, never a panic or a hang. The limits these
//! bounds come from are listed in the README, "Limits".
//!
//! The rows are in `hostile_server/rtsp_level.rs` (the RTSP conversation)
//! and `hostile_server/media_level.rs` (what comes after PLAY/RECORD);
//! `hostile_server/script.rs` runs one row; `hostile_server/memory.rs`
//! measures the rows that could grow memory. Rows of a table run several
//! at a time; the tests of this file run one at a time (memory is
//! measured per process).

mod common;

mod hostile_server {
    pub mod media_level;
    pub mod memory;
    pub mod rtsp_level;
    pub mod script;
}

use std::sync::Mutex;

use hostile_server::script::{Role, run_table};
use hostile_server::{media_level, memory, rtsp_level};

/// Rows run at once: enough to finish the suite fast on two cores, few
/// enough that the "at once" bounds hold.
const PARALLEL: usize = 10;

/// One test at a time (see the module documentation).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn rtsp_level_player() {
    let _serial = serial();
    run_table(rtsp_level::TABLE, Role::Src, PARALLEL);
}

#[test]
fn rtsp_level_publisher() {
    let _serial = serial();
    run_table(rtsp_level::TABLE, Role::Sink, PARALLEL);
}

#[test]
fn media_level_both() {
    let _serial = serial();
    run_table(media_level::TABLE, Role::Src, PARALLEL);
    run_table(media_level::TABLE, Role::Sink, PARALLEL);
}

#[test]
fn memory_stays_bounded() {
    let _serial = serial();
    // Loads the plugins and warms the allocator, outside the measure.
    hostile_server::script::run(&media_level::TABLE[0], Role::Src).expect("warm-up");
    let endless = find(rtsp_level::TABLE, "a header line that never ends");
    let huge = find(rtsp_level::TABLE, "SDP with a 1 MB attribute");
    for behaviour in [endless, huge, &memory::FLOOD] {
        let growth = memory::peak_growth(behaviour)
            .unwrap_or_else(|why| panic!("{}: {why}", behaviour.name));
        assert!(
            growth < memory::MAX_GROWTH,
            "{}: resident size grew by {} KiB (bound {} KiB)",
            behaviour.name,
            growth / 1024,
            memory::MAX_GROWTH / 1024
        );
        eprintln!(
            "{}: peak resident growth {} KiB",
            behaviour.name,
            growth / 1024
        );
    }
}

fn find(
    table: &'static [hostile_server::script::Behaviour],
    prefix: &str,
) -> &'static hostile_server::script::Behaviour {
    table
        .iter()
        .find(|b| b.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no behaviour {prefix:?}"))
}
