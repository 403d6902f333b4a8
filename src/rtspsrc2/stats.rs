//! The `stats` property of `rtspsrc2`.

use std::sync::atomic::Ordering;

use gst::glib;
use gst::prelude::*;

use super::imp::RtspSrc2;

/// The `stats` property: our packet counters plus what rtpbin's
/// sessions know about loss and jitter of the remote senders.
pub fn stats(element: &RtspSrc2) -> gst::Structure {
    let state = element.state.lock().unwrap();
    let mut streams = Vec::new();
    for (index, output) in state.streams.iter().enumerate() {
        let Some(output) = output else { continue };
        let mut stream = gst::Structure::builder("stream")
            .field("index", index as u32)
            .field("packets", output.packets.load(Ordering::Relaxed))
            .field("bytes", output.bytes.load(Ordering::Relaxed))
            .field(
                "packets-unknown-pt",
                output.unknown_pt.load(Ordering::Relaxed),
            )
            .field(
                "packets-malformed",
                output.malformed.load(Ordering::Relaxed),
            )
            .field(
                "packets-no-payload",
                output.no_payload.load(Ordering::Relaxed),
            );
        if let Some((lost, jitter)) = state
            .rtpbin
            .as_ref()
            .and_then(|rtpbin| sender_quality(rtpbin, index))
        {
            stream = stream.field("packets-lost", lost).field("jitter", jitter);
        }
        if let Some((arrived, decrypted)) = element
            .srtp
            .get(index as u32)
            .and_then(|keys| keys.watch().map(|w| w.counts()))
        {
            stream = stream
                .field("srtp-packets", arrived)
                .field("srtp-decrypted", decrypted);
        }
        if let Some(retransmitted) = element.rtx.received(index as u32) {
            stream = stream.field("packets-retransmitted", retransmitted);
        }
        streams.push(stream.build().to_send_value());
    }
    let stats = gst::Structure::builder("application/x-rtspsrc2-stats")
        .field("transport", state.transport.unwrap_or("none"))
        .field("rtsp-version", state.rtsp_version.unwrap_or("none"))
        .field("restarts", state.sessions_played.saturating_sub(1));
    element
        .reconnects
        .add_to(stats)
        .field("streams", gst::Array::from_values(streams))
        .field(
            "backchannels",
            gst::Array::from_values(
                element
                    .backchannels
                    .stats()
                    .into_iter()
                    .map(|s| s.to_send_value()),
            ),
        )
        .build()
}

/// Packets lost and interarrival jitter of the remote sender in rtpbin's
/// session `index` (RFC 3550 6.4.1 figures, as rtpsession computes them).
/// The sender whose RTP we received most of: a source that only sent
/// sender reports (a foreign SSRC) is a sender for rtpsession too.
fn sender_quality(rtpbin: &gst::Element, index: usize) -> Option<(i32, u32)> {
    let session =
        rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&(index as u32)])?;
    let stats = session.property::<gst::Structure>("stats");
    let sources = stats.get::<glib::ValueArray>("source-stats").ok()?;
    sources
        .iter()
        .filter_map(|value| {
            let source = value.get::<gst::Structure>().ok()?;
            let remote_sender = !source.get::<bool>("internal").unwrap_or(true)
                && source.get::<bool>("is-sender").unwrap_or(false);
            remote_sender.then(|| {
                (
                    source.get::<u64>("packets-received").unwrap_or(0),
                    source.get::<i32>("packets-lost").unwrap_or(0),
                    source.get::<u32>("jitter").unwrap_or(0),
                )
            })
        })
        .max_by_key(|(received, _, _)| *received)
        .map(|(_, lost, jitter)| (lost, jitter))
}
