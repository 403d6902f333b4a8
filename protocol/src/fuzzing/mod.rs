//! Fuzz entry points: one function per fuzz target of `fuzz/`, each taking
//! arbitrary bytes.
//!
//! They live here, not in the `fuzz/` crate, so that the stable test
//! `tests/fuzz_corpora.rs` replays every corpus and regression input through
//! exactly the same code on the project toolchain (`cargo fuzz` needs
//! nightly). Besides "never panics", each one checks invariants that are
//! cheap to state (round trips, bounds, ordering) with `assert!`, so the
//! fuzzer finds logic bugs too: a failed assertion is a finding.

mod auth;
mod framing;
mod jitter;
mod text;

pub use auth::auth_challenge;
pub use framing::message_framing;
pub use jitter::jitter_reorder;
pub use text::{headers, rtp_info, sdp_to_caps, transport};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as the `fuzz/` crate names its targets and
/// `fuzz/corpus/<name>/` its corpora.
pub const TARGETS: &[(&str, Target)] = &[
    ("message_framing", message_framing),
    ("headers", headers),
    ("sdp_to_caps", sdp_to_caps),
    ("transport", transport),
    ("rtp_info", rtp_info),
    ("auth_challenge", auth_challenge),
    ("jitter_reorder", jitter_reorder),
];

/// Reads fuzzer bytes as parameters: small numbers taken from the front,
/// zeros once the input is used up (so every input is valid).
pub(crate) struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let (&first, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        first
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.data
    }
}
