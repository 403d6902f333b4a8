//! Timing and synchronisation properties of `rtspsrc2` and `rtspsink`
//! (parity with C `rtspsrc`/`rtspclientsink`): reference timestamp metas
//! checked against the server's sender reports, two streams lining up,
//! each property read back from the object it governs, the bounded
//! TEARDOWN, the non-live mode, and the RFC 7273 clock signalling of
//! published streams.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::server::{TestServer, launch, paths};
use common::{
    Outcome, RawRequest, Reply, ScriptedServer, rtsp_response, stop_pipeline, wait_for, wait_until,
};
use gst::glib;
use gst::prelude::*;
use rtspclient_protocol::rtcp::find_sender_report;
use rtspclient_protocol::rtp;

const WAIT: Duration = Duration::from_secs(30);
/// Seconds from the NTP epoch (1900) to the UNIX one (1970).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp in nanoseconds since 1900.
fn ntp64_to_ns(ntp: u64) -> u64 {
    (ntp >> 32) * 1_000_000_000 + (((ntp & 0xffff_ffff) * 1_000_000_000) >> 32)
}

/// The wall clock now, in nanoseconds since 1900.
fn ntp_now_ns() -> u64 {
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    unix.as_nanos() as u64 + NTP_UNIX_OFFSET_S * 1_000_000_000
}

/// A sender report as the client received it.
#[derive(Clone, Copy, Debug)]
struct Report {
    ssrc: u32,
    ntp_ns: u64,
    rtptime: u32,
}

/// One RTP packet leaving `rtspsrc2` (after its jitterbuffer).
#[derive(Clone, Copy, Debug)]
struct Packet {
    ssrc: u32,
    rtptime: u32,
    pts: u64,
    /// The reference timestamp meta (ns since 1900) with caps
    /// `timestamp/x-ntp`, if the packet has one.
    reference: Option<u64>,
}

/// One buffer after its depayloader.
#[derive(Clone, Copy, Debug)]
struct Depayloaded {
    reference: Option<u64>,
    /// Wall clock when it came out, ns since 1900.
    seen_at: u64,
}

#[derive(Default)]
struct Observed {
    reports: Vec<Report>,
    /// Per stream index.
    packets: HashMap<usize, Vec<Packet>>,
    clock_rates: HashMap<usize, u32>,
    depayloaded: HashMap<usize, Vec<Depayloaded>>,
    rtpbin: Option<gst::Element>,
}

type Shared = Arc<Mutex<Observed>>;

/// The `timestamp/x-ntp` reference timestamp of a buffer.
fn ntp_reference(buffer: &gst::BufferRef) -> Option<u64> {
    buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|meta| {
            meta.reference()
                .structure(0)
                .is_some_and(|s| s.name() == "timestamp/x-ntp")
        })
        .map(|meta| meta.timestamp().nseconds())
}

fn depayloader_for(caps: &gst::CapsRef) -> &'static str {
    let encoding = caps
        .structure(0)
        .and_then(|s| s.get::<&str>("encoding-name").ok())
        .unwrap_or_default()
        .to_ascii_uppercase();
    match encoding.as_str() {
        "H264" => "rtph264depay",
        "MPEG4-GENERIC" => "rtpmp4gdepay",
        "MP4A-LATM" => "rtpmp4adepay",
        "OPUS" => "rtpopusdepay",
        other => panic!("no depayloader for {other}"),
    }
}

/// `rtspsrc2` over TCP with `props`, each pad into its depayloader and a
/// fakesink; records the sender reports it receives, the packets it puts
/// out and the depayloaded buffers.
fn observed_player(url: &str, props: &[(&str, glib::Value)]) -> (gst::Pipeline, Shared) {
    common::init_plugin();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtspsrc2")
        .property("location", url)
        .property("protocols", "tcp")
        .build()
        .unwrap();
    for (name, value) in props {
        // Enums by nick, as on a launch line.
        match value.get::<&str>() {
            Ok(nick) if src.find_property(name).unwrap().value_type() != glib::Type::STRING => {
                src.set_property_from_str(name, nick)
            }
            _ => src.set_property_from_value(name, value),
        }
    }
    pipeline.add(&src).unwrap();
    let observed: Shared = Arc::default();
    let seen = observed.clone();
    src.connect("new-manager", false, move |args| {
        let rtpbin = args[1].get::<gst::Element>().unwrap();
        seen.lock().unwrap().rtpbin = Some(rtpbin.clone());
        let seen = seen.clone();
        // The sender reports the element hands to rtpbin.
        rtpbin.connect_pad_added(move |_, pad| {
            if !pad.name().starts_with("recv_rtcp_sink_") {
                return;
            }
            let seen = seen.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer()
                    && let Ok(map) = buffer.map_readable()
                    && let Some(sr) = find_sender_report(&map)
                {
                    seen.lock().unwrap().reports.push(Report {
                        ssrc: sr.ssrc,
                        ntp_ns: ntp64_to_ns(sr.ntp),
                        rtptime: sr.rtptime,
                    });
                }
                gst::PadProbeReturn::Ok
            });
        });
        None
    });
    let (weak, seen) = (pipeline.downgrade(), observed.clone());
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let index: usize = pad.name().trim_start_matches("stream_").parse().unwrap();
        let caps = pad.current_caps().expect("caps before pad-added");
        let rate = caps.structure(0).unwrap().get::<i32>("clock-rate").unwrap();
        seen.lock().unwrap().clock_rates.insert(index, rate as u32);
        let s = seen.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let mut header = [0u8; rtp::FIXED_HEADER];
            if buffer.copy_to_slice(0, &mut header).is_ok()
                && let Some(h) = rtp::parse_header(&header)
                && let Some(pts) = buffer.pts()
            {
                s.lock()
                    .unwrap()
                    .packets
                    .entry(index)
                    .or_default()
                    .push(Packet {
                        ssrc: h.ssrc,
                        rtptime: h.rtptime,
                        pts: pts.nseconds(),
                        reference: ntp_reference(buffer),
                    });
            }
            gst::PadProbeReturn::Ok
        });
        let depay = gst::ElementFactory::make(depayloader_for(&caps))
            .build()
            .unwrap();
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            .unwrap();
        pipeline.add_many([&depay, &sink]).unwrap();
        depay.link(&sink).unwrap();
        let s = seen.clone();
        depay
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer() {
                    s.lock()
                        .unwrap()
                        .depayloaded
                        .entry(index)
                        .or_default()
                        .push(Depayloaded {
                            reference: ntp_reference(buffer),
                            seen_at: ntp_now_ns(),
                        });
                }
                gst::PadProbeReturn::Ok
            });
        depay.sync_state_with_parent().unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&depay.static_pad("sink").unwrap()).unwrap();
    });
    (pipeline, observed)
}

/// The NTP time (ns since 1900) the sender report closest before it in
/// RTP time gives `packet` of a stream at `rate`.
fn ntp_from_reports(reports: &[Report], packet: &Packet, rate: u32) -> Option<u64> {
    reports
        .iter()
        .filter(|r| r.ssrc == packet.ssrc)
        .map(|r| {
            let ticks = packet.rtptime.wrapping_sub(r.rtptime) as i32 as i64;
            r.ntp_ns as i64 + ticks * 1_000_000_000 / rate as i64
        })
        // The report nearest the packet: the clocks' drift over the
        // distance stays out of the comparison.
        .min_by_key(|ntp| ntp.abs_diff(packet.pts as i64))
        .map(|ntp| ntp as u64)
}

fn median(mut values: Vec<i64>) -> i64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// (1) With `add-reference-timestamp-meta` every packet after the first
/// sender report carries the NTP time of that report's mapping, and every
/// depayloaded buffer after it carries it on.
#[test]
fn reference_timestamp_meta_is_the_senders_ntp_time() {
    let server = TestServer::start();
    let (pipeline, observed) = observed_player(
        &server.url(paths::H264),
        &[("add-reference-timestamp-meta", true.to_value())],
    );
    // Enough packets after the first report (gst-rtsp-server's first one
    // comes after about a second) to see the metas go on.
    let o = observed.clone();
    let outcome = wait_until(&pipeline, WAIT, move || {
        let o = o.lock().unwrap();
        o.packets
            .get(&0)
            .is_some_and(|p| p.iter().filter(|p| p.reference.is_some()).count() >= 100)
            && o.depayloaded
                .get(&0)
                .is_some_and(|d| d.iter().filter(|d| d.reference.is_some()).count() >= 30)
    });
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Stopped, "no reference timestamp metas");
    let o = observed.lock().unwrap();
    let rate = o.clock_rates[&0];
    let packets = &o.packets[&0];
    let first = packets.iter().position(|p| p.reference.is_some()).unwrap();
    for packet in &packets[first..] {
        let reference = packet
            .reference
            .expect("a packet without meta after the first");
        let expected = ntp_from_reports(&o.reports, packet, rate).expect("a sender report");
        // The jitterbuffer extrapolates the same report: the difference is
        // rounding, plus the drift of the server's RTP clock against its
        // NTP clock between two reports (both from the same host's clocks).
        assert!(
            reference.abs_diff(expected) < 2_000_000,
            "meta {reference} vs report mapping {expected}"
        );
    }
    let depayloaded = &o.depayloaded[&0];
    let first = depayloaded
        .iter()
        .position(|d| d.reference.is_some())
        .unwrap();
    for buffer in &depayloaded[first..] {
        let reference = buffer.reference.expect("a depayloaded buffer without meta");
        // Same host, same realtime clock: the frame was sent when its NTP
        // time says (the server's reports map send time, rtcp-sync-send-
        // time) and comes out after the jitterbuffer latency (200 ms) and
        // the scheduling of a loaded machine (bounded at 2 s more).
        let age = buffer.seen_at as i64 - reference as i64;
        assert!(
            (-50_000_000..2_200_000_000).contains(&age),
            "depayloaded {age} ns after its reference time"
        );
    }
}

/// (2) Audio and video from one server line up: for packets of both
/// streams, running time minus the NTP time the server's reports give
/// them is the same within a video frame (33 ms). The sender reports are
/// the ground truth, so this holds for either jitterbuffer.
fn streams_line_up(jitterbuffer: &str) {
    let server = TestServer::start();
    let (pipeline, observed) = observed_player(
        &server.url(paths::H264_AAC),
        &[
            ("ntp-sync", true.to_value()),
            ("jitterbuffer", jitterbuffer.to_value()),
        ],
    );
    // Two seconds of packets after each stream's first report: rtpbin
    // aligns the streams once both have one.
    let started = Instant::now();
    let synced_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (o, at) = (observed.clone(), synced_at.clone());
    let outcome = wait_until(&pipeline, WAIT, move || {
        let o = o.lock().unwrap();
        let ssrcs: Vec<u32> = o
            .packets
            .values()
            .filter_map(|p| p.last().map(|p| p.ssrc))
            .collect();
        let reported = ssrcs.len() == 2
            && ssrcs
                .iter()
                .all(|ssrc| o.reports.iter().any(|r| r.ssrc == *ssrc));
        let mut at = at.lock().unwrap();
        if reported && at.is_none() {
            *at = Some(Instant::now());
        }
        at.is_some_and(|t| t.elapsed() > Duration::from_secs(2))
    });
    stop_pipeline(&pipeline);
    assert_eq!(
        outcome,
        Outcome::Stopped,
        "no reports for both streams within {:?}",
        started.elapsed()
    );
    let o = observed.lock().unwrap();
    let mut offsets = Vec::new();
    for (index, packets) in &o.packets {
        let rate = o.clock_rates[index];
        // The last second of each: after rtpbin's alignment.
        let last = packets.last().unwrap().pts;
        let recent: Vec<i64> = packets
            .iter()
            .filter(|p| p.pts + 1_000_000_000 >= last)
            .filter_map(|p| {
                ntp_from_reports(&o.reports, p, rate).map(|ntp| p.pts as i64 - ntp as i64)
            })
            .collect();
        assert!(
            recent.len() >= 10,
            "stream {index}: {} packets",
            recent.len()
        );
        offsets.push(median(recent));
    }
    let skew = (offsets[0] - offsets[1]).abs();
    eprintln!("{jitterbuffer}: offsets {offsets:?}, skew {skew} ns");
    assert!(skew < 33_000_000, "{jitterbuffer}: streams {skew} ns apart");
}

#[test]
fn audio_and_video_line_up_with_the_light_jitterbuffer() {
    streams_line_up("light");
}

#[test]
fn audio_and_video_line_up_with_rtpjitterbuffer() {
    streams_line_up("rtpjitterbuffer");
}

fn nick(object: &impl IsA<glib::Object>, property: &str) -> String {
    let value = object.as_ref().property_value(property);
    glib::EnumValue::from_value(&value)
        .map(|(_, v)| v.nick().to_string())
        .unwrap()
}

fn jitterbuffers(rtpbin: &gst::Element) -> Vec<gst::Element> {
    rtpbin
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .iterate_recurse()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.factory().is_some_and(|f| {
                matches!(
                    f.name().as_str(),
                    "rtpjitterbuffer" | "rtplightjitterbuffer"
                )
            })
        })
        .collect()
}

/// Play until stream 0 has packets and return the rtpbin.
fn play_and_get_rtpbin(pipeline: &gst::Pipeline, observed: &Shared) -> gst::Element {
    let o = observed.clone();
    let outcome = wait_until(pipeline, WAIT, move || {
        o.lock()
            .unwrap()
            .packets
            .get(&0)
            .is_some_and(|p| p.len() >= 5)
    });
    assert_eq!(outcome, Outcome::Stopped, "no packets");
    observed.lock().unwrap().rtpbin.clone().unwrap()
}

/// (3) Each property lands on what it governs: rtpbin, its sessions and
/// its jitterbuffers (rtpjitterbuffer here: rfc7273-sync asks for it).
#[test]
fn timing_properties_reach_rtpbin_sessions_and_jitterbuffers() {
    let server = TestServer::start();
    let sdes = gst::Structure::builder("application/x-rtp-source-sdes")
        .field("cname", "timing-test@example")
        .field("tool", "timing-test")
        .build();
    let (pipeline, observed) = observed_player(
        &server.url(paths::H264),
        &[
            ("rfc7273-sync", true.to_value()),
            ("add-reference-timestamp-meta", true.to_value()),
            ("ntp-time-source", "unix".to_value()),
            ("use-pipeline-clock", true.to_value()),
            ("max-ts-offset", 123_000_000i64.to_value()),
            ("max-ts-offset-adjustment", 7_000u64.to_value()),
            ("max-rtcp-rtp-time-diff", 321i32.to_value()),
            ("probation", 5u32.to_value()),
            ("sdes", sdes.to_value()),
        ],
    );
    let rtpbin = play_and_get_rtpbin(&pipeline, &observed);
    assert!(rtpbin.property::<bool>("rfc7273-sync"));
    assert!(rtpbin.property::<bool>("add-reference-timestamp-meta"));
    assert_eq!(nick(&rtpbin, "ntp-time-source"), "unix");
    assert!(rtpbin.property::<bool>("use-pipeline-clock"));
    assert_eq!(rtpbin.property::<i64>("max-ts-offset"), 123_000_000);
    assert_eq!(rtpbin.property::<u64>("max-ts-offset-adjustment"), 7_000);
    assert_eq!(rtpbin.property::<i32>("max-rtcp-rtp-time-diff"), 321);
    let rtpbin_sdes = rtpbin.property::<gst::Structure>("sdes");
    assert_eq!(
        rtpbin_sdes.get::<&str>("cname").unwrap(),
        "timing-test@example"
    );

    // rtpbin gives its sessions use-pipeline-clock instead of
    // ntp-time-source when it is set (the other test sees the source).
    let session = rtpbin.emit_by_name::<gst::Element>("get-session", &[&0u32]);
    assert!(session.property::<bool>("use-pipeline-clock"));
    let session_sdes = session.property::<gst::Structure>("sdes");
    assert_eq!(session_sdes.get::<&str>("tool").unwrap(), "timing-test");
    let internal = rtpbin.emit_by_name::<glib::Object>("get-internal-session", &[&0u32]);
    assert_eq!(internal.property::<u32>("probation"), 5);

    let jitterbuffers = jitterbuffers(&rtpbin);
    assert_eq!(jitterbuffers.len(), 1);
    let jb = &jitterbuffers[0];
    assert_eq!(jb.factory().unwrap().name(), "rtpjitterbuffer");
    assert!(jb.property::<bool>("rfc7273-sync"));
    assert!(jb.property::<bool>("add-reference-timestamp-meta"));
    assert_eq!(jb.property::<u64>("max-ts-offset-adjustment"), 7_000);
    assert_eq!(jb.property::<i32>("max-rtcp-rtp-time-diff"), 321);
    stop_pipeline(&pipeline);
}

/// (3) With the light jitterbuffer (nothing asks for rtpjitterbuffer) the
/// settings it honours reach it, and the defaults of the others keep it.
#[test]
fn light_jitterbuffer_gets_what_it_honours() {
    let server = TestServer::start();
    let (pipeline, observed) = observed_player(
        &server.url(paths::H264),
        &[
            ("max-rtcp-rtp-time-diff", 250i32.to_value()),
            ("ntp-time-source", "clock-time".to_value()),
            ("probation", 0u32.to_value()),
        ],
    );
    let rtpbin = play_and_get_rtpbin(&pipeline, &observed);
    let jitterbuffers = jitterbuffers(&rtpbin);
    assert_eq!(jitterbuffers.len(), 1);
    let jb = &jitterbuffers[0];
    assert_eq!(jb.factory().unwrap().name(), "rtplightjitterbuffer");
    assert_eq!(jb.property::<i32>("max-rtcp-rtp-time-diff"), 250);
    let session = rtpbin.emit_by_name::<gst::Element>("get-session", &[&0u32]);
    assert_eq!(nick(&session, "ntp-time-source"), "clock-time");
    let internal = rtpbin.emit_by_name::<glib::Object>("get-internal-session", &[&0u32]);
    assert_eq!(internal.property::<u32>("probation"), 0);
    // max-ts-offset unset: rtpbin keeps its own rule (ntp-sync off: 3 s).
    assert_eq!(rtpbin.property::<i64>("max-ts-offset"), 3_000_000_000);
    stop_pipeline(&pipeline);
}

const SESSION: &str = "7412";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                   a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";

/// A camera that plays (without sending media) and answers TEARDOWN only
/// if `answer_teardown`.
fn camera(answer_teardown: bool) -> ScriptedServer {
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let reply = match req.method.as_str() {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")],
                b"",
            ),
            "DESCRIBE" => rtsp_response(
                cseq,
                200,
                "OK",
                &[
                    ("Content-Type", "application/sdp"),
                    ("Content-Base", &format!("{}/", req.uri)),
                ],
                SDP.as_bytes(),
            ),
            "SETUP" => rtsp_response(
                cseq,
                200,
                "OK",
                &[
                    ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"),
                    ("Session", &format!("{SESSION};timeout=60")),
                ],
                b"",
            ),
            "TEARDOWN" if !answer_teardown => Vec::new(),
            _ => rtsp_response(cseq, 200, "OK", &[("Session", SESSION)], b""),
        };
        Reply::Send(reply)
    })
}

/// A pipeline with only `rtspsrc2` (no data comes: no timeout either) in
/// PLAYING once the server got PLAY.
fn playing_without_data(server: &ScriptedServer, teardown_timeout_ns: u64) -> gst::Pipeline {
    common::init_plugin();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtspsrc2")
        .property("location", server.url("/cam"))
        .property("protocols", "tcp")
        .property("timeout", 0u64)
        .property("teardown-timeout", teardown_timeout_ns)
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        server
            .wait_for_method("PLAY", Duration::from_secs(10))
            .is_some(),
        "no PLAY"
    );
    pipeline
}

fn time_to_null(pipeline: &gst::Pipeline) -> Duration {
    let started = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    started.elapsed()
}

/// (3) `teardown-timeout` bounds NULL against a server that never answers
/// TEARDOWN, and the element does wait that long for it.
#[test]
fn teardown_timeout_bounds_a_teardown_never_answered() {
    let server = camera(false);
    let pipeline = playing_without_data(&server, 700_000_000);
    let took = time_to_null(&pipeline);
    assert!(
        took >= Duration::from_millis(650),
        "NULL after {took:?}: did not wait for the TEARDOWN"
    );
    assert!(
        took < Duration::from_millis(700 + 1500),
        "NULL after {took:?}: not bounded by teardown-timeout"
    );
    assert!(server.methods().iter().any(|m| m == "TEARDOWN"));
}

/// An answered TEARDOWN ends the wait at once; it was answered before
/// the element reached READY.
#[test]
fn teardown_timeout_waits_only_for_the_answer() {
    let server = camera(true);
    let pipeline = playing_without_data(&server, 10_000_000_000);
    let took = time_to_null(&pipeline);
    assert!(
        server.methods().iter().any(|m| m == "TEARDOWN"),
        "TEARDOWN not sent before NULL returned"
    );
    assert!(took < Duration::from_secs(3), "NULL after {took:?}");
}

/// 0 disables the wait, as C rtspsrc; TEARDOWN still goes out.
#[test]
fn teardown_timeout_zero_does_not_wait() {
    let server = camera(false);
    let pipeline = playing_without_data(&server, 0);
    let took = time_to_null(&pipeline);
    assert!(took < Duration::from_millis(500), "NULL after {took:?}");
    assert!(
        server
            .wait_for_method("TEARDOWN", Duration::from_secs(5))
            .is_some()
    );
}

/// A pipeline `rtspsrc2 ! rtph264depay ! fakesink` (sync) whose sink
/// counts the buffers it prerolled on.
fn preroll_player(
    url: &str,
    is_live: bool,
    jitterbuffer: &str,
) -> (gst::Pipeline, Arc<Mutex<u32>>) {
    common::init_plugin();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtspsrc2")
        .property("location", url)
        .property("protocols", "tcp")
        .property("is-live", is_live)
        .property_from_str("jitterbuffer", jitterbuffer)
        .build()
        .unwrap();
    let depay = gst::ElementFactory::make("rtph264depay").build().unwrap();
    let sink = gst::ElementFactory::make("fakesink")
        .property("signal-handoffs", true)
        .build()
        .unwrap();
    pipeline.add_many([&src, &depay, &sink]).unwrap();
    depay.link(&sink).unwrap();
    let prerolled = Arc::new(Mutex::new(0u32));
    let p = prerolled.clone();
    sink.connect("preroll-handoff", false, move |_| {
        *p.lock().unwrap() += 1;
        None
    });
    let depay_sink = depay.static_pad("sink").unwrap();
    src.connect_pad_added(move |_, pad| {
        let _ = pad.link(&depay_sink);
    });
    (pipeline, prerolled)
}

/// (3) `is-live=false`: PAUSED succeeds like a non-live source's (no
/// NO_PREROLL), media comes in PAUSED and the sink prerolls on it, and
/// the latency query says not live. `is-live=true` for contrast.
#[test]
fn not_live_prerolls_in_paused() {
    let server = TestServer::start();
    let (pipeline, prerolled) = preroll_player(&server.url(paths::H264), false, "light");
    let change = pipeline.set_state(gst::State::Paused);
    assert_ne!(change, Ok(gst::StateChangeSuccess::NoPreroll));
    assert!(change.is_ok(), "{change:?}");
    let p = prerolled.clone();
    assert!(
        wait_for(WAIT, || *p.lock().unwrap() > 0),
        "the sink did not preroll in PAUSED"
    );
    let (result, state, _) = pipeline.state(gst::ClockTime::from_seconds(10));
    assert_eq!(
        (result, state),
        (Ok(gst::StateChangeSuccess::Success), gst::State::Paused)
    );
    let mut query = gst::query::Latency::new();
    assert!(pipeline.query(&mut query));
    assert!(!query.result().0, "latency query says live");
    // And it plays on.
    let outcome = wait_until(&pipeline, Duration::from_secs(10), || false);
    assert_eq!(outcome, Outcome::Timeout, "error or EOS while playing");
    stop_pipeline(&pipeline);

    let (pipeline, prerolled) = preroll_player(&server.url(paths::H264), true, "light");
    assert_eq!(
        pipeline.set_state(gst::State::Paused),
        Ok(gst::StateChangeSuccess::NoPreroll)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(*prerolled.lock().unwrap(), 0, "a live source prerolled");
    stop_pipeline(&pipeline);
}

/// A RECORD server that takes everything over TCP.
fn record_server() -> ScriptedServer {
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let session = [("Session", "5EC0DE;timeout=60")];
        Reply::Send(match req.method.as_str() {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN")],
                b"",
            ),
            "SETUP" => {
                let transport = req.header("Transport").unwrap_or_default().to_string();
                rtsp_response(
                    cseq,
                    200,
                    "OK",
                    &[("Transport", &transport), session[0]],
                    b"",
                )
            }
            _ => rtsp_response(cseq, 200, "OK", &session, b""),
        })
    })
}

/// The SDP `rtspsink` announces with `publish-clock-mode=mode`, on a
/// GstNtpClock pipeline clock or the default (system) one.
fn announced_sdp(mode: &str, ntp_clock: bool) -> String {
    common::init_plugin();
    let server = record_server();
    let pipeline = common::parse_pipeline(&format!(
        "videotestsrc is-live=true ! {} ! x264enc tune=zerolatency speed-preset=ultrafast \
         key-int-max=15 threads=1 ! rtspsink location={} protocols=tcp publish-clock-mode={mode}",
        launch::VIDEO_CAPS,
        server.url("/record")
    ));
    if ntp_clock {
        // A GstNtpClock pointed at a server that does not answer: its
        // type and address are what the SDP depends on, not its
        // synchronisation (unsynchronised it runs on the system clock).
        let clock = gst_net::NtpClock::new(None, "127.0.0.1", 12_345, gst::ClockTime::ZERO);
        pipeline.use_clock(Some(&clock));
    }
    let outcome = wait_until(&pipeline, WAIT, || {
        server.methods().iter().any(|m| m == "RECORD")
    });
    stop_pipeline(&pipeline);
    assert_eq!(
        outcome,
        Outcome::Stopped,
        "no RECORD: {:?}",
        server.methods()
    );
    let requests = server.requests();
    let announce = requests.iter().find(|r| r.method == "ANNOUNCE").unwrap();
    announce.body_str()
}

/// (4) `publish-clock-mode`: with a network (NTP) pipeline clock the
/// ANNOUNCE SDP names it in `a=ts-refclk` (clock) and adds the RTP time
/// at its epoch in `a=mediaclk:direct=` (clock-and-offset); none adds
/// neither, and neither does the system clock (C does the same: only NTP
/// and PTP clocks have an RFC 7273 name).
#[test]
fn publish_clock_mode_signals_a_network_clock_in_the_sdp() {
    let sdp = announced_sdp("clock", true);
    assert!(sdp.contains("a=ts-refclk:ntp=127.0.0.1:12345\r\n"), "{sdp}");
    assert!(!sdp.contains("a=mediaclk"), "{sdp}");

    let sdp = announced_sdp("clock-and-offset", true);
    assert!(sdp.contains("a=ts-refclk:ntp=127.0.0.1:12345\r\n"), "{sdp}");
    let offset = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=mediaclk:direct="))
        .unwrap_or_else(|| panic!("no a=mediaclk: {sdp}"));
    offset.parse::<u32>().expect("an RTP time");

    let sdp = announced_sdp("none", true);
    assert!(
        !sdp.contains("ts-refclk") && !sdp.contains("mediaclk"),
        "{sdp}"
    );
    // The system clock has no RFC 7273 name, as in C.
    let sdp = announced_sdp("clock-and-offset", false);
    assert!(
        !sdp.contains("ts-refclk") && !sdp.contains("mediaclk"),
        "{sdp}"
    );
}

/// `rtp-blocksize` becomes the mtu of the payloader `rtspsink` creates,
/// and `ntp-time-source` reaches its rtpbin (which stamps its sender
/// reports with it).
#[test]
fn rtspsink_blocksize_and_ntp_time_source_are_applied() {
    common::init_plugin();
    let server = record_server();
    let pipeline = common::parse_pipeline(&format!(
        "videotestsrc is-live=true ! {} ! x264enc tune=zerolatency speed-preset=ultrafast \
         key-int-max=15 threads=1 ! rtspsink name=sink location={} protocols=tcp \
         rtp-blocksize=400 ntp-time-source=running-time",
        launch::VIDEO_CAPS,
        server.url("/record")
    ));
    let outcome = wait_until(&pipeline, WAIT, || {
        server.methods().iter().any(|m| m == "RECORD")
    });
    assert_eq!(
        outcome,
        Outcome::Stopped,
        "no RECORD: {:?}",
        server.methods()
    );
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let payloader = sink.by_name("pay0").expect("a payloader made by rtspsink");
    assert_eq!(payloader.property::<u32>("mtu"), 400);
    let rtpbin = sink.by_name("rtpbin").unwrap();
    assert_eq!(nick(&rtpbin, "ntp-time-source"), "running-time");
    // The session made when the pad was requested, before the element
    // started, has it too.
    let session = rtpbin.emit_by_name::<gst::Element>("get-session", &[&0u32]);
    assert_eq!(nick(&session, "ntp-time-source"), "running-time");
    stop_pipeline(&pipeline);
}

/// `is-live=false` with rtpjitterbuffer cannot preroll (it holds its
/// output until PLAYING): the element says so on the bus.
#[test]
fn not_live_with_rtpjitterbuffer_warns() {
    let server = TestServer::start();
    let (pipeline, _) = preroll_player(&server.url(paths::H264), false, "rtpjitterbuffer");
    pipeline.set_state(gst::State::Paused).unwrap();
    let bus = pipeline.bus().unwrap();
    let warning = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Warning],
    );
    stop_pipeline(&pipeline);
    let warning = warning.expect("no warning");
    let gst::MessageView::Warning(w) = warning.view() else {
        unreachable!()
    };
    let text = format!("{} {:?}", w.error(), w.debug());
    assert!(text.contains("is-live=false"), "{text}");
}
