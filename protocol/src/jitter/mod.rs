//! The sans-IO core of the plugin's `rtplightjitterbuffer`: sequence and
//! timestamp extension ([`wrap`]), RTP-time-to-running-time mapping with
//! skew estimation ([`clock_map`]) and the reordering/loss logic
//! ([`reorder`]).
//!
//! It lives here rather than beside the element so that it builds and is
//! tested and fuzzed without GStreamer (`fuzz/fuzz_targets/jitter_reorder.rs`);
//! the element in the plugin crate is the glue around it.

pub mod clock_map;
pub mod reorder;
pub mod wrap;
