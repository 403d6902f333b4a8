//! Interleaved packets from the RTSP connection to their streams: one
//! socket read's packets grouped per channel, and the pause in reading
//! while the pipeline is behind.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::streams::StreamOutput;

/// Output backlog (packets) above which a TCP session stops reading, and
/// below which it reads again: about 45 ms and 10 ms at 2 Gbit/s; a camera
/// stream never gets near (the worker takes its output every 5 ms).
const OUTPUT_BACKLOG_HIGH: usize = 8192;
const OUTPUT_BACKLOG_LOW: usize = 2048;
/// How long one wait for the output may last, and how often it looks.
const OUTPUT_WAIT_LIMIT: Duration = Duration::from_millis(200);
const OUTPUT_WAIT_STEP: Duration = Duration::from_millis(1);

/// Packets taken from one socket read (or one UDP wake-up) before they are
/// handed to rtpbin, so other sessions on the same I/O thread get a turn.
pub const MAX_BATCH: usize = 64;

/// Where each of the 256 channels goes: a stream, and whether it is the
/// stream's RTCP channel.
pub type Channels = Vec<Option<(Arc<StreamOutput>, bool)>>;

/// Interleaved packets of one socket read, grouped by channel (order kept
/// within each channel, which is all RTP needs).
#[derive(Default)]
pub struct ChannelBatch {
    groups: Vec<(u8, Vec<Bytes>)>,
    len: usize,
}

impl ChannelBatch {
    pub fn push(&mut self, channel: u8, payload: Bytes) {
        self.len += 1;
        match self
            .groups
            .iter_mut()
            .find(|(c, packets)| *c == channel || packets.is_empty())
        {
            Some((c, packets)) => {
                *c = channel;
                packets.push(payload);
            }
            None => self.groups.push((channel, vec![payload])),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Deliver and empty the batch (the group vectors are kept for reuse);
    /// returns the channels nobody set up.
    pub fn route(&mut self, channels: &[Option<(Arc<StreamOutput>, bool)>]) -> Vec<u8> {
        let mut unknown = Vec::new();
        self.len = 0;
        for (channel, packets) in &mut self.groups {
            if packets.is_empty() {
                continue;
            }
            match channels.get(*channel as usize) {
                Some(Some((output, false))) => output.push_rtp_batch(packets.drain(..)),
                Some(Some((output, true))) => packets.drain(..).for_each(|p| output.push_rtcp(&p)),
                _ => {
                    unknown.push(*channel);
                    packets.clear();
                }
            }
        }
        unknown
    }
}

/// Over TCP the server can be slowed down: while a stream's jitterbuffer
/// has more output waiting than its worker takes, stop reading (bounded),
/// so the TCP window closes and the server sends at the pace the pipeline
/// consumes. Without this, a consumer slower than the link made the
/// jitterbuffer drop a second's worth of packets at a time, and the I/O
/// thread spent the CPU the consumer needed on packets that were then
/// dropped (at 2.4 Gbit/s offered, 0.6–0.9 Gbit/s arrived, at 2.0 all of
/// it). The wait is bounded so that a stalled consumer cannot stop the
/// session: its output then ages out in the jitterbuffer as before.
pub async fn wait_for_output(channels: &[Option<(Arc<StreamOutput>, bool)>]) {
    let behind = |limit: usize| {
        channels
            .iter()
            .flatten()
            .any(|(output, rtcp)| !rtcp && output.output_backlog() > limit)
    };
    if !behind(OUTPUT_BACKLOG_HIGH) {
        return;
    }
    let deadline = tokio::time::Instant::now() + OUTPUT_WAIT_LIMIT;
    while behind(OUTPUT_BACKLOG_LOW) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(OUTPUT_WAIT_STEP).await;
    }
}

/// Deliver an interleaved packet; false if the channel is not set up.
pub fn route(channels: &[Option<(Arc<StreamOutput>, bool)>], channel: u8, payload: Bytes) -> bool {
    match channels.get(channel as usize) {
        Some(Some((output, false))) => {
            output.push_rtp(&payload);
            true
        }
        Some(Some((output, true))) => {
            output.push_rtcp(&payload);
            true
        }
        _ => false,
    }
}
