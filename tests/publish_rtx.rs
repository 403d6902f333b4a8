//! `rtspsink rtx-time` against gst-rtsp-server over a lossy UDP path: the
//! relay (`common::udp_path`) drops every 50th H.264 RTP packet on its way
//! from the sink to the server. The RECORD mount retransmits
//! (`do-retransmission`: its jitterbuffers send NACKs, its rtprtxreceive
//! takes the RTX payload the ANNOUNCE described) and accepts RTP/AVPF.
//! With `rtx-time` the access units the server's depayloader puts out are
//! byte for byte the ones that entered the sink's payloader, and the
//! relay saw the server's NACKs and our RTX packets; without, the losses
//! show as missing or damaged units.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::access_units::Codec;
use common::media_hash::{Capture, compare, normalize, wait_for_units};
use common::server::{Mount, TestServer};
use common::udp_path::UdpPath;
use common::{Control, Outcome, parse_pipeline, run_pipeline_until, stop_pipeline};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const MEDIA_PT: u8 = 96;
const DROP_EVERY: u64 = 50;
const PATH: &str = "/rtx-record";

/// 4 s of 640x480 H.264 (single slice: nothing for the parameter set
/// filter to renumber), a few hundred RTP packets.
const SOURCE: &str = "videotestsrc num-buffers=120 pattern=ball ! \
     video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! \
     x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 threads=1 bitrate=1500 ! \
     video/x-h264,stream-format=byte-stream,alignment=au";

#[derive(Debug)]
struct Run {
    sent_units: usize,
    received_units: usize,
    /// Sent units the server never put out intact.
    missing: usize,
    /// Units the server put out that were never sent (damaged).
    damaged: usize,
    /// Indices of the missing units.
    missing_at: Vec<usize>,
    identical: bool,
    dropped: u64,
    nacks: u64,
    retransmitted: u64,
    /// rtspsink's stats: retransmission-requests, packets-retransmitted.
    requests: u32,
    packets_retransmitted: u32,
}

fn server() -> TestServer {
    let server = TestServer::builder()
        .mount(
            Mount::record_launch(
                PATH,
                "rtph264depay name=depay0 ! video/x-h264,stream-format=byte-stream,alignment=au ! \
             fakesink name=sink0 sync=false async=false",
                1,
            )
            // gst-rtsp-server's session sends no NACK before its first regular
            // RTCP report, about a second in (docs/QUIRKS.md): losses before
            // that are repaired only within the jitterbuffer's latency.
            .latency_ms(3000),
        )
        .start();
    let factory = server.server().mount_points().unwrap().match_(PATH).0;
    // TEARDOWN drains the receiving pipeline instead of cutting it off.
    factory.set_eos_shutdown(true);
    // The server NACKs in both runs; only the sink's rtx-time differs.
    factory.set_do_retransmission(true);
    factory.set_profiles(gst_rtsp::RTSPProfile::AVP | gst_rtsp::RTSPProfile::AVPF);
    server
}

fn publish(rtx_time: u32) -> Run {
    common::init_plugin();
    let server = server();
    let factory = server.server().mount_points().unwrap().match_(PATH).0;
    let received = Capture::new();
    let r = received.clone();
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().unwrap();
        r.attach_by_name(&bin, "sink0", "sink");
    });
    let path = UdpPath::start_publishing(
        SocketAddr::from(([127, 0, 0, 1], server.port())),
        MEDIA_PT,
        DROP_EVERY,
    );
    let pipeline = parse_pipeline(&format!(
        "{SOURCE} ! identity name=units ! rtph264pay pt={MEDIA_PT} config-interval=-1 ! \
         rtspsink name=sink location={} protocols=udp rtx-time={rtx_time}",
        path.url(PATH)
    ));
    let sent = Capture::new();
    sent.attach_by_name(&pipeline, "units", "src");
    let sink = pipeline.by_name("sink").unwrap();
    let outcome = run_pipeline_until(&pipeline, Duration::from_secs(40), |_| Control::Continue);
    let stats = sink.property::<gst::Structure>("stats");
    stop_pipeline(&pipeline);
    assert_eq!(
        outcome,
        Outcome::Eos,
        "publishing with rtx-time={rtx_time} failed"
    );

    let sent = sent.units();
    assert!(sent.len() >= 100, "only {} units were encoded", sent.len());
    wait_for_units(&received, sent.len(), Duration::from_secs(10));
    let received = received.units();
    let stream = stats
        .get::<gst::Array>("streams")
        .unwrap()
        .first()
        .unwrap()
        .get::<gst::Structure>()
        .unwrap();
    let (missing_at, damaged) = differences(&sent, &received);
    let counters = path.counters();
    Run {
        sent_units: sent.len(),
        received_units: received.len(),
        missing: missing_at.len(),
        damaged,
        missing_at,
        identical: compare(Codec::H264, &sent, &received).is_ok(),
        dropped: counters.rtp_dropped.load(Ordering::SeqCst),
        nacks: counters.nacks_from_server.load(Ordering::SeqCst),
        retransmitted: counters.retransmitted.load(Ordering::SeqCst),
        requests: stream.get("retransmission-requests").unwrap(),
        packets_retransmitted: stream.get("packets-retransmitted").unwrap(),
    }
}

/// Sent units not received intact, and received units never sent, each
/// unit compared whole after normalisation.
fn differences(sent: &[Vec<u8>], received: &[Vec<u8>]) -> (Vec<usize>, usize) {
    let mut pending: HashMap<Vec<Vec<u8>>, Vec<usize>> = HashMap::new();
    for (i, unit) in sent.iter().enumerate().rev() {
        pending
            .entry(normalize(Codec::H264, unit))
            .or_default()
            .push(i);
    }
    let mut damaged = 0;
    for unit in received {
        if pending
            .get_mut(&normalize(Codec::H264, unit))
            .and_then(Vec::pop)
            .is_none()
        {
            damaged += 1;
        }
    }
    let mut missing: Vec<usize> = pending.into_values().flatten().collect();
    missing.sort_unstable();
    (missing, damaged)
}

#[test]
fn retransmission_repairs_losses_on_the_way_to_the_server() {
    let run = publish(3000);
    eprintln!("rtx-time=3000: {run:?}");
    assert!(run.dropped >= 5, "the path dropped too little: {run:?}");
    assert!(run.nacks > 0, "the server sent no NACK: {run:?}");
    assert!(
        run.retransmitted >= run.dropped,
        "fewer RTX packets than losses: {run:?}"
    );
    assert!(
        u64::from(run.packets_retransmitted) >= run.dropped,
        "{run:?}"
    );
    assert!(run.requests > 0, "{run:?}");
    assert_eq!((run.missing, run.damaged), (0, 0), "{run:?}");
    assert_eq!(run.received_units, run.sent_units, "{run:?}");
    assert!(run.identical, "units differ or are out of order: {run:?}");
}

#[test]
fn without_retransmission_the_losses_show() {
    let run = publish(0);
    eprintln!("rtx-time=0: {run:?}");
    assert!(run.dropped >= 5, "the path dropped too little: {run:?}");
    assert_eq!(run.retransmitted, 0, "{run:?}");
    assert_eq!(run.packets_retransmitted, 0, "{run:?}");
    assert!(
        run.missing > 0 && !run.missing_at.is_empty() && !run.identical,
        "losses went unnoticed: {run:?}"
    );
}
