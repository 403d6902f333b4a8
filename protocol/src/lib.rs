//! Sans-IO RTSP protocol core used by the `rtspsrc2` and `rtspsink` elements.
//!
//! Nothing in this crate touches sockets, threads or GStreamer: every function
//! takes bytes or strings and returns values, so the whole crate is unit-tested
//! and fuzzable on its own. The network driver in the plugin crate does the I/O.
//!
//! Why hand-written parsers instead of `rtsp-types`/`sdp-types`: those crates
//! reject input that real cameras send (bare `\n` line endings, odd header
//! case, SDP lines out of order, trailing whitespace; see `docs/QUIRKS.md`).
//! The parsers here are tolerant of such quirks and strict about sizes.

pub mod auth;
pub mod auth_flow;
pub mod backchannel;
pub mod caps;
pub mod fuzzing;
pub mod h26x;
pub mod headers;
pub mod jitter;
pub mod message;
pub mod methods;
pub mod onvif;
pub mod pipelined;
pub mod play_control;
pub mod play_rate;
pub mod rtcp;
pub mod rtp;
pub mod rtsp2;
pub mod sdp;
pub mod srtp;
mod text;
pub mod transport;
pub mod url;
