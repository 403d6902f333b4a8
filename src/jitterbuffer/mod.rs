//! `rtplightjitterbuffer`: the jitterbuffer `rtspsrc2` hands to `rtpbin`
//! (through its `request-jitterbuffer` signal) for each received stream.
//!
//! Why not `rtpjitterbuffer`: it runs two threads per stream (its output
//! task and a `timer` thread) and wakes one of them for every packet. With
//! hundreds of cameras in one process that is most of the CPU (see
//! BENCHMARKS.md: a quarter of all CPU was those wake-ups) and most of the
//! threads. This one keeps what a receiver needs from a jitterbuffer —
//! sequence order within `latency`, loss detection (`do-lost` events),
//! sender-clock skew estimation, RTCP sender reports for `rtpbin`'s
//! lip-sync (`handle-sync`, `ts-offset`), the latency query — without a
//! thread of its own: packets are ordered on the thread that brings them
//! (for `rtspsrc2` the shared I/O runtime), a few workers shared by every
//! stream in the process push the output downstream ([`output_pool`], it
//! grows when pipelines block downstream), and loss deadlines are timers
//! on the shared runtime. `rtpbin` still owns the sessions, RTCP and
//! synchronisation.

//! What it does not do, and why `rtspsrc2` then picks `rtpjitterbuffer`:
//! retransmission requests (RTX), the `buffer` mode with buffering
//! messages, RFC 7273 clock sync.
//!
//! Layers: the ordering, loss and timestamping logic is the sans-IO
//! `rtspclient_protocol::jitter` (unit-tested and fuzzed without
//! GStreamer); [`imp`] is the element glue.

use gst::glib;
use gst::prelude::*;

mod imp;
mod output_pool;

glib::wrapper! {
    pub struct LightJitterBuffer(ObjectSubclass<imp::LightJitterBuffer>) @extends gst::Element, gst::Object;
}

impl LightJitterBuffer {
    /// Output packets waiting for the output worker, read without locking.
    pub(crate) fn backlog(&self) -> usize {
        use gst::subclass::prelude::ObjectSubclassIsExt;
        self.imp().backlog()
    }
}

/// Timestamping modes; the values are `rtpbin`'s `buffer-mode` values so
/// that `rtpbin` can set this element's `mode` like `rtpjitterbuffer`'s.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtpLightJitterBufferMode")]
pub enum Mode {
    #[enum_value(name = "Only use RTP timestamps", nick = "none")]
    None = 0,
    #[enum_value(name = "Slave receiver to sender clock", nick = "slave")]
    Slave = 1,
    #[enum_value(name = "Like slave (no buffering messages here)", nick = "buffer")]
    Buffer = 2,
    #[enum_value(name = "Like none (no synced-clock support here)", nick = "synced")]
    Synced = 4,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Mode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "rtplightjitterbuffer",
        gst::Rank::NONE,
        LightJitterBuffer::static_type(),
    )
}
