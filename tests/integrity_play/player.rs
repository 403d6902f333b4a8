//! The client: `rtspsrc2` with each stream it exposes depayloaded into a
//! [`Capture`].

use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::capture::Capture;
use super::media::Stream;

/// The client: `rtspsrc2` with each stream depayloaded into a capture.
pub struct Player {
    pub pipeline: gst::Pipeline,
    src: gst::Element,
    pub captures: Vec<Capture>,
    /// What went wrong in `pad-added` (no panics on a streaming thread).
    errors: Arc<Mutex<Vec<String>>>,
}

impl Player {
    pub fn new(url: &str, protocols: &str, jitterbuffer: &str, streams: &[Stream]) -> Player {
        crate::common::init_plugin();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", url)
            .property_from_str("protocols", protocols)
            .property_from_str("jitterbuffer", jitterbuffer)
            .build()
            .expect("rtspsrc2");
        pipeline.add(&src).unwrap();
        let captures: Vec<Capture> = streams.iter().map(|s| Capture::new(s.codec())).collect();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (weak, streams, c, e) = (
            pipeline.downgrade(),
            streams.to_vec(),
            captures.clone(),
            errors.clone(),
        );
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            if let Err(err) = depayload(&pipeline, pad, &streams, &c) {
                e.lock().unwrap().push(err);
            }
        });
        Player {
            pipeline,
            src,
            captures,
            errors,
        }
    }

    /// The `rtspsrc2`, for properties set before starting (tests/tls.rs).
    #[allow(dead_code)]
    pub fn source(&self) -> &gst::Element {
        &self.src
    }

    /// What went wrong while linking the streams, if anything.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Packets `rtpbin` counted lost in any stream.
    pub fn packets_lost(&self) -> i64 {
        let stats = self.src.property::<gst::Structure>("stats");
        let Ok(streams) = stats.get::<gst::Array>("streams") else {
            return 0;
        };
        streams
            .iter()
            .filter_map(|s| s.get::<gst::Structure>().ok())
            .map(|s| s.get::<i32>("packets-lost").unwrap_or(0).max(0) as i64)
            .sum()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        crate::common::stop_pipeline(&self.pipeline);
    }
}

/// Link `pad` (`stream_N`) to the depayloader of stream N and a sink
/// whose input `captures[N]` records.
fn depayload(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    streams: &[Stream],
    captures: &[Capture],
) -> Result<(), String> {
    let index = pad
        .name()
        .strip_prefix("stream_")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&i| i < streams.len())
        .ok_or_else(|| format!("unexpected pad {}", pad.name()))?;
    let chain = gst::parse::bin_from_description(
        &format!(
            "{} ! fakesink name=sink sync=false async=false",
            streams[index].depayloader()
        ),
        true,
    )
    .map_err(|e| format!("stream {index}: {e}"))?;
    pipeline.add(&chain).map_err(|e| e.to_string())?;
    let sink_pad = chain
        .by_name("sink")
        .and_then(|sink| sink.static_pad("sink"))
        .ok_or("no sink pad")?;
    captures[index].attach(&sink_pad);
    chain.sync_state_with_parent().map_err(|e| e.to_string())?;
    let input = chain.static_pad("sink").ok_or("no chain input")?;
    pad.link(&input)
        .map(|_| ())
        .map_err(|e| format!("stream {index}: {e:?}"))
}
