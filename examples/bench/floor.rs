//! The GStreamer floor of the playing ceiling: what `rtpbin` alone costs
//! per RTP packet, without any network, framing or jitterbuffer.
//!
//! `bench client rtpbin-floor` pushes ready-made 1400-byte RTP packets
//! (the ceiling's packet size) from a free-standing pad into `rtpbin`'s
//! `recv_rtp_sink_0` on one thread, as `rtspsrc2` does, with `identity`
//! standing in for the jitterbuffer and `ignore-pt` set (both of which make
//! the path cheaper than any real client's), into `fakesink`. Everything
//! runs synchronously on the pushing thread, so the process's CPU time over
//! the pushes is the cost of the elements every `rtpbin`-based client has
//! per packet. Dividing the machine's cores by it bounds the bit rate any
//! such client can receive here, whatever its own code costs.

use std::time::Instant;

use gst::prelude::*;
use serde_json::{Value, json};

use crate::client::{Opts, mark};
use crate::procstat;

/// The ceiling's RTP packet size (`rtpvrawpay`'s default MTU).
const PACKET_SIZE: usize = 1400;
/// Distinct packets cycled through; a divisor of 65536 keeps the sequence
/// numbers continuous when the cycle wraps.
const DISTINCT_PACKETS: usize = 4096;

fn rtp_packet(seq: u16, timestamp: u32) -> gst::Buffer {
    let mut data = vec![0u8; PACKET_SIZE];
    data[0] = 0x80;
    data[1] = 96;
    data[2..4].copy_from_slice(&seq.to_be_bytes());
    data[4..8].copy_from_slice(&timestamp.to_be_bytes());
    data[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    let mut buffer = gst::Buffer::from_mut_slice(data);
    let b = buffer.get_mut().expect("new buffer");
    b.set_pts(gst::ClockTime::from_mseconds(1));
    b.set_dts(gst::ClockTime::from_mseconds(1));
    buffer
}

pub fn rtpbin_floor(o: &Opts) -> Result<Value, Box<dyn std::error::Error>> {
    let packets: usize = o
        .get("packets")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let pipeline = gst::Pipeline::new();
    let rtpbin = gst::ElementFactory::make("rtpbin")
        .property("ignore-pt", true)
        .build()?;
    // rtpbin then sets `latency` on it, which `identity` does not have: a
    // harmless GLib warning in the client's log.
    rtpbin.connect("request-jitterbuffer", false, |_| {
        gst::ElementFactory::make("identity")
            .build()
            .ok()
            .map(|e| e.to_value())
    });
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()?;
    pipeline.add_many([&rtpbin, &sink])?;
    let sink_pad = sink.static_pad("sink").ok_or("fakesink without pad")?;
    rtpbin.connect_pad_added(move |_, pad| {
        if pad.name().starts_with("recv_rtp_src_") && !sink_pad.is_linked() {
            let _ = pad.link(&sink_pad);
        }
    });
    let src = gst::Pad::builder(gst::PadDirection::Src)
        .name("feed")
        .build();
    let rtp_sink = rtpbin
        .request_pad_simple("recv_rtp_sink_0")
        .ok_or("rtpbin refused recv_rtp_sink_0")?;
    src.link(&rtp_sink)?;
    pipeline.set_state(gst::State::Playing)?;
    src.set_active(true)?;
    src.push_event(gst::event::StreamStart::new("floor"));
    src.push_event(gst::event::Caps::new(
        &gst::Caps::builder("application/x-rtp")
            .field("media", "video")
            .field("clock-rate", 90000i32)
            .field("encoding-name", "RAW")
            .field("payload", 96i32)
            .build(),
    ));
    src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let ready: Vec<gst::Buffer> = (0..DISTINCT_PACKETS)
        .map(|i| rtp_packet(i as u16, (i / 1004) as u32 * 3000))
        .collect();
    // Warm up (first packets create the SSRC's source and pads).
    for buffer in ready.iter().take(1000) {
        src.push(buffer.clone())?;
    }
    // The markers delimit the window in which the parent samples the
    // machine's other load.
    mark("start");
    let cpu0 = procstat::cpu_seconds();
    let t0 = Instant::now();
    for i in 0..packets {
        src.push(ready[i % DISTINCT_PACKETS].clone())?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = procstat::cpu_seconds() - cpu0;
    mark("end");
    pipeline.set_state(gst::State::Null)?;
    let gbit = (packets * PACKET_SIZE * 8) as f64 / 1e9;
    let result = json!({
        "mode": "rtpbin-floor",
        "packets": packets,
        "packet_size": PACKET_SIZE,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_cores": cpu / wall,
        "us_per_packet": cpu / packets as f64 * 1e6,
        "cpu_s_per_gbit": cpu / gbit,
        "gbit_per_core": gbit / cpu,
    });
    println!("RESULT {result}");
    Ok(result)
}
