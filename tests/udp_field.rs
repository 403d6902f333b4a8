//! UDP in the field: retransmission over a lossy path, the NAT dummy
//! packets, and `port-range` shared by many instances.
//!
//! The lossy path is [`common::udp_path`]: an RTSP proxy that routes each
//! session's RTP and RTCP through a relay, which drops every 50th RTP
//! packet of the media from gst-rtsp-server (2 %, the same packets every
//! run) and passes the rest, RTX and the client's NACKs included. What the
//! server payloaded is compared access unit by access unit with what
//! leaves `rtph264depay` behind `rtspsrc2` (the correctness work's
//! `integrity_play` capture and comparison).

mod common;
#[path = "integrity_play"]
#[allow(dead_code)]
mod integrity_play {
    pub mod capture;
    pub mod compare;
    pub mod timing;
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::access_units::Codec;
use common::server::{Mount, TestServer, launch};
use common::udp_path::UdpPath;
use common::{Control, Outcome, parse_pipeline, run_pipeline_until, stop_pipeline, wait_until};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use integrity_play::capture::Capture;
use integrity_play::compare::{Tolerance, compare_exact, compare_tolerant};

const WAIT: Duration = Duration::from_secs(30);
const DROP_EVERY: u64 = 50;
const MEDIA_PT: u8 = 96;
/// Five seconds of noise (cheap to encode, yet several packets a frame):
/// about 700 packets, so over a dozen drops.
const LAUNCH: &str = "videotestsrc pattern=snow num-buffers=150 ! \
    video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! \
    x264enc speed-preset=ultrafast key-int-max=30 bitrate=1500 threads=1 ! \
    rtph264pay name=pay0 pt=96";

fn server_addr(server: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

/// Count the RTP packets passing `pad`.
fn count_packets(pad: &gst::Pad) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    count_into(pad, count.clone());
    count
}

fn count_into(pad: &gst::Pad, count: Arc<AtomicU64>) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let n = match &info.data {
                Some(gst::PadProbeData::Buffer(_)) => 1,
                Some(gst::PadProbeData::BufferList(list)) => list.len() as u64,
                _ => 0,
            };
            count.fetch_add(n, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        },
    );
}

/// gst-rtsp-server offering RTX (1 s of packets kept, at most 100 of
/// them, which is about 0.5 s of this media; the AVPF profile its SDP
/// needs for the rtx payload type), one unshared media from its first
/// frame, captured on the payloader. Its SDP says `b=AS:1536`.
struct RtxServer {
    server: TestServer,
    sent: Capture,
    sent_packets: Arc<AtomicU64>,
}

fn rtx_server() -> RtxServer {
    common::init_plugin();
    let server = TestServer::builder().start();
    let path = "/rtx";
    server.add_mount(Mount::play(path, LAUNCH).shared(false));
    let (factory, _) = server.server().mount_points().unwrap().match_(path);
    factory.set_profiles(gst_rtsp::RTSPProfile::AVPF);
    factory.set_retransmission_time(gst::ClockTime::from_seconds(1));
    let sent = Capture::new(Codec::H264);
    let sent_packets = Arc::new(AtomicU64::new(0));
    let (s, p) = (sent.clone(), sent_packets.clone());
    factory.connect_media_configure(move |_, media| {
        let Ok(bin) = media.element().downcast::<gst::Bin>() else {
            return;
        };
        // The media of this session from its first frame (gst-rtsp-server
        // may make a media for DESCRIBE and another one for SETUP).
        s.reset();
        p.store(0, Ordering::SeqCst);
        if let Some(pay) = bin.by_name("pay0") {
            s.attach(&pay.static_pad("sink").unwrap());
            count_into(&pay.static_pad("src").unwrap(), p.clone());
        }
    });
    RtxServer {
        server,
        sent,
        sent_packets,
    }
}

/// What one lossy playback measured.
#[derive(Debug)]
struct LossyRun {
    units_sent: usize,
    units_received: usize,
    /// Received units that match no sent one (broken by a lost packet).
    units_damaged: usize,
    /// Sent units that never arrived whole.
    units_missing: usize,
    packets_sent: u64,
    /// RTP packets that left rtspsrc2.
    delivered: u64,
    dropped: u64,
    retransmitted_by_server: u64,
    nacks: u64,
    /// `rtspsrc2`'s stats: rtpbin's packets-lost and rtprtxreceive's count.
    packets_lost: i32,
    packets_retransmitted: u32,
    /// The `bandwidth` of the stream's RTP session (bit/s; 0 = unknown).
    session_bandwidth: f64,
    exact: Result<(), String>,
}

/// Play the RTX mount over UDP through the lossy path, with the default
/// latency (200 ms): a repair must come within it.
fn play_lossy(do_retransmission: bool) -> LossyRun {
    let server = rtx_server();
    let path = UdpPath::start(server_addr(&server.server), MEDIA_PT, DROP_EVERY);
    // The media is finite: the data timeout must not end the session while
    // the test waits for the last repairs and sends EOS itself.
    let pipeline = parse_pipeline(&format!(
        "rtspsrc2 name=src location={} protocols=udp do-retransmission={do_retransmission} reconnect=false timeout=0 ! \
         rtph264depay name=depay ! video/x-h264,stream-format=byte-stream,alignment=au ! \
         fakesink name=sink sync=false async=false",
        path.url("/rtx")
    ));
    let got = Capture::new(Codec::H264);
    got.attach(
        &pipeline
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap(),
    );
    let delivered = count_packets(
        &pipeline
            .by_name("depay")
            .unwrap()
            .static_pad("sink")
            .unwrap(),
    );
    let counters = path.counters();
    // Every packet sent must come out; without RTX all but the dropped.
    // Should some never come (a failure to report, not to wait for), the
    // wait ends once nothing arrived for twice the latency after the
    // server's last packet.
    let mut last = (0, Instant::now());
    let outcome = wait_until(&pipeline, WAIT, || {
        let dropped = counters.rtp_dropped.load(Ordering::SeqCst);
        let sent = server.sent_packets.load(Ordering::SeqCst);
        let owed = if do_retransmission {
            sent
        } else {
            sent.saturating_sub(dropped)
        };
        let now = delivered.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
        server.sent.eos() && (now >= owed || last.1.elapsed() > Duration::from_secs(2))
    });
    assert!(
        matches!(outcome, Outcome::Stopped | Outcome::Timeout),
        "{outcome:?}"
    );
    // EOS behind the last packet: every unit is in the capture after it.
    let src = pipeline.by_name("src").unwrap();
    src.send_event(gst::event::Eos::new());
    let ended = run_pipeline_until(&pipeline, WAIT, |_| Control::Continue);
    let stats = src.property::<gst::Structure>("stats");
    let session_bandwidth = pipeline
        .by_name("rtpbin")
        .and_then(|rtpbin| rtpbin.emit_by_name::<Option<gst::Element>>("get-session", &[&0u32]))
        .map_or(0.0, |session| session.property::<f64>("bandwidth"));
    stop_pipeline(&pipeline);
    assert_eq!(ended, Outcome::Eos, "ending the playback");
    let stream = stats
        .get::<gst::Array>("streams")
        .unwrap()
        .first()
        .unwrap()
        .get::<gst::Structure>()
        .unwrap();
    let matched = server.sent.with(|s| {
        got.with(|g| {
            let tolerance = Tolerance {
                joined_late: false,
                losses: true,
            };
            compare_tolerant(s, g, tolerance).expect("received units out of order or invented")
        })
    });
    let exact = server.sent.with(|s| got.with(|g| compare_exact(s, g)));
    LossyRun {
        units_sent: server.sent.units(),
        units_received: got.units(),
        units_damaged: got.units() - matched.len(),
        units_missing: server.sent.units() - matched.len(),
        packets_sent: server.sent_packets.load(Ordering::SeqCst),
        delivered: delivered.load(Ordering::SeqCst),
        dropped: counters.rtp_dropped.load(Ordering::SeqCst),
        retransmitted_by_server: counters.retransmitted.load(Ordering::SeqCst),
        nacks: counters.nacks_from_client.load(Ordering::SeqCst),
        packets_lost: stream.get::<i32>("packets-lost").unwrap_or(-1),
        packets_retransmitted: stream.get::<u32>("packets-retransmitted").unwrap_or(0),
        session_bandwidth,
        exact,
    }
}

/// With RTX every dropped packet is asked for and resent in time: all
/// 150 access units arrive bit-exact, with the default latency.
///
/// This hinges on how soon a NACK may leave. With RTP/AVPF one early
/// feedback packet is allowed, then none until the regular RTCP interval
/// T_rr has passed (RFC 4585 §3.5.2), and T_rr follows from the RTCP
/// bandwidth (RFC 3550 §6.2). rtspsrc2 takes the session bandwidth from
/// the SDP's `b=AS`; when it did not, rtpsession assumed 64 kbit/s (T_rr
/// about 0.5 s), half the NACKs left 0.1 to 0.4 s after the jitterbuffer
/// asked, some found the packet gone from the server's history, and about
/// half the runs missed 1 to 6 units. Now T_rr is about 15 ms and each
/// NACK reaches the server about 1 ms after the jitterbuffer asks.
#[test]
fn retransmission_repairs_a_lossy_path() {
    let run = play_lossy(true);
    eprintln!("RTX on: {run:?}");
    assert!(run.dropped >= 5, "the path dropped too little: {run:?}");
    assert!(
        run.session_bandwidth > 0.0,
        "the SDP's b=AS did not reach the RTP session: {run:?}"
    );
    assert!(run.nacks > 0, "no NACK reached the server: {run:?}");
    assert!(
        run.retransmitted_by_server >= run.dropped,
        "not every drop resent: {run:?}"
    );
    assert!(
        u64::from(run.packets_retransmitted) >= run.dropped,
        "rtprtxreceive got fewer packets than were dropped: {run:?}"
    );
    assert_eq!(run.delivered, run.packets_sent, "{run:?}");
    assert_eq!(run.units_damaged, 0, "{run:?}");
    assert_eq!(run.units_missing, 0, "{run:?}");
    assert!(run.exact.is_ok(), "{run:?}");
}

/// Without RTX (the server still offers it) the same drops stay lost:
/// counted by rtpbin, and access units damaged or missing where they were.
#[test]
fn without_retransmission_losses_are_counted() {
    let run = play_lossy(false);
    eprintln!("RTX off: {run:?}");
    assert!(run.dropped >= 5, "the path dropped too little: {run:?}");
    assert_eq!(run.retransmitted_by_server, 0, "{run:?}");
    assert_eq!(run.nacks, 0, "{run:?}");
    // rtpbin counts a loss once a later packet came; its figure may lag
    // by the last drops.
    assert!(
        run.packets_lost > 0 && i64::from(run.packets_lost) <= run.dropped as i64,
        "rtpbin's count of lost packets: {run:?}"
    );
    assert_eq!(
        run.units_received + run.units_missing,
        run.units_sent + run.units_damaged,
        "{run:?}"
    );
    assert!(run.units_damaged + run.units_missing > 0, "{run:?}");
    assert!(run.exact.is_err(), "{run:?}");
}

/// A live H.264 mount played over UDP through the relay (no loss) by
/// `rtspsrc2` with `properties`; returns the pipeline once it delivered
/// a few buffers.
fn play_through(path: &UdpPath, properties: &str) -> gst::Pipeline {
    let pipeline = parse_pipeline(&format!(
        "rtspsrc2 location={} protocols=udp {properties} ! fakesink name=sink sync=false async=false",
        path.url("/live")
    ));
    let packets = count_packets(
        &pipeline
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap(),
    );
    let outcome = wait_until(&pipeline, WAIT, || packets.load(Ordering::SeqCst) >= 5);
    assert!(outcome.is_stopped(), "{properties}: {outcome:?}");
    pipeline
}

fn live_server() -> TestServer {
    common::init_plugin();
    TestServer::builder()
        .mount(Mount::play("/live", launch::h264_video(0)).shared(true))
        .start()
}

/// nat-method=dummy sends one short datagram from each local port to the
/// server's ports after SETUP; none sends nothing (the stream plays
/// either way on loopback).
#[test]
fn nat_method_dummy_sends_one_datagram_per_port_and_none_nothing() {
    let server = live_server();
    for (method, expected) in [("dummy", 2), ("none", 0)] {
        let path = UdpPath::start(server_addr(&server), MEDIA_PT, 0);
        let pipeline = play_through(&path, &format!("nat-method={method}"));
        stop_pipeline(&pipeline);
        assert_eq!(
            path.counters().dummies_from_client.load(Ordering::SeqCst),
            expected,
            "nat-method={method}"
        );
    }
}

/// Sixteen consecutive UDP ports, free when looked at, from a start that
/// differs between processes (several test binaries run at once).
fn free_range() -> u16 {
    let offset = (std::process::id() as u16 % 1000) * 16;
    (0..2000u16)
        .map(|i| 20_000 + (offset + i * 16) % 40_000)
        .find(|&low| {
            let probe: Vec<_> = (low..low + 16)
                .map(|p| std::net::UdpSocket::bind(("0.0.0.0", p)))
                .collect();
            probe.iter().all(Result::is_ok)
        })
        .expect("no free range of 16 UDP ports")
}

/// Eight instances with one port-range of 16 ports play together, each on
/// its own pair inside the range; a ninth gets a clear error.
#[test]
fn many_instances_share_a_port_range() {
    let server = live_server();
    let path = UdpPath::start(server_addr(&server), MEDIA_PT, 0);
    let low = free_range();
    let range = format!("port-range={low}-{}", low + 15);
    let players: Vec<gst::Pipeline> = (0..8).map(|_| play_through(&path, &range)).collect();
    let ports = path.counters().client_ports.lock().unwrap().clone();
    assert_eq!(ports.len(), 8, "{ports:?}");
    let mut seen: Vec<u16> = ports.iter().flat_map(|&(a, b)| [a, b]).collect();
    assert!(
        seen.iter().all(|p| (low..=low + 15).contains(p)),
        "ports outside {low}-{}: {ports:?}",
        low + 15
    );
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 16, "ports used twice: {ports:?}");

    let ninth = parse_pipeline(&format!(
        "rtspsrc2 location={} protocols=udp {range} ! fakesink",
        path.url("/live")
    ));
    let outcome = run_pipeline_until(&ninth, WAIT, |_| Control::Continue);
    stop_pipeline(&ninth);
    match outcome {
        Outcome::Error { message, debug, .. } => {
            let text = format!("{message} {}", debug.unwrap_or_default());
            assert!(
                text.contains(&format!("port-range {low}-{}", low + 15)),
                "{text}"
            );
        }
        other => panic!("the ninth instance did not fail: {other:?}"),
    }
    for pipeline in players {
        stop_pipeline(&pipeline);
    }
}
