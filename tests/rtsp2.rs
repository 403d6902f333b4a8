//! RTSP 2.0 (RFC 7826) with `default-rtsp-version=2-0`, against
//! gst-rtsp-server 1.22 (which speaks 2.0) behind a recording TCP proxy
//! that shows what went over the wire: playback over TCP and UDP compared
//! bit for bit, a key-unit seek (PLAY Range with `Seek-Style: CoRAP`) and a
//! `PLAY_NOTIFY end-of-stream` on a VOD file (injected by the proxy:
//! gst-rtsp-server 1.22 never sends one) ending every pad, publishing
//! with rtspsink; and the fallback to 1.0 of both elements when a 1.0-only
//! server answers 505.

mod common;
// Shared with tests/integrity_play.rs; this file uses part of it.
#[allow(dead_code)]
mod integrity_play {
    pub mod capture;
    pub mod compare;
    pub mod media;
    pub mod player;
    pub mod timing;
}

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::recording_proxy::RecordingProxy;
use common::server::{Mount, TestServer, launch};
use common::vod_media::{Media, make_media, vod_launch};
use common::{Outcome, RawRequest, ScriptedServer, rtsp_response, wait_for, wait_until};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use integrity_play::capture::all_received;
use integrity_play::compare::compare_exact;
use integrity_play::media::{Stream, mount_captured};
use integrity_play::player::Player;

const WAIT: Duration = Duration::from_secs(30);

/// Every RTSP request the client sent went as RTSP/2.0, OPTIONS first with
/// `Supported: play.basic`, every answer came as RTSP/2.0; `methods` were
/// among them.
fn assert_spoke_2_0(proxy: &RecordingProxy, methods: &[&str]) {
    let lines = proxy.request_lines();
    assert!(!lines.is_empty(), "no requests seen");
    assert!(lines[0].starts_with("OPTIONS "), "{lines:?}");
    for line in &lines {
        assert!(line.ends_with(" RTSP/2.0"), "{line} ({lines:?})");
    }
    for method in methods {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{method} "))),
            "no {method} in {lines:?}"
        );
    }
    let sent = proxy.to_server();
    assert!(sent.contains("\r\nSupported: play.basic\r\n"), "{sent}");
    let answers = proxy.to_client();
    assert!(answers.starts_with("RTSP/2.0 200 "), "{answers}");
    assert!(!answers.contains("RTSP/1.0 "), "{answers}");
}

// ---------------------------------------------------------------------------
// Playback
// ---------------------------------------------------------------------------

/// H.264 and AAC played with `default-rtsp-version=2-0` over `protocols`:
/// every access unit sent arrives unchanged, and the session was 2.0.
fn plays_bit_exact(protocols: &str) {
    common::init_plugin();
    let streams = [Stream::H264, Stream::Aac];
    let path = "/exact";
    let server = TestServer::builder().start();
    let sent = mount_captured(&server, path, &streams);
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(&proxy.url(path), protocols, "light", &streams);
    player
        .source()
        .set_property_from_str("default-rtsp-version", "2-0");
    let got = player.captures.clone();
    let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent, &got));
    assert!(outcome.is_stopped(), "{protocols}: {outcome:?}");
    let stats = player.source().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<&str>("rtsp-version").unwrap(), "RTSP/2.0");
    assert!(player.errors().is_empty(), "{:?}", player.errors());
    for (i, (s, g)) in sent.iter().zip(&got).enumerate() {
        s.with(|s| g.with(|g| compare_exact(s, g)))
            .unwrap_or_else(|err| panic!("{protocols}, stream {i}: {err}"));
    }
    assert_spoke_2_0(&proxy, &["DESCRIBE", "SETUP", "PLAY"]);
    let sent = proxy.to_server();
    // RFC 7826 §18.54: the lower transport named, and for UDP dest_addr
    // (next to client_port, which gst-rtsp-server 1.22 reads).
    match protocols {
        "udp" => assert!(
            sent.contains("Transport: RTP/AVP/UDP;unicast;dest_addr=\":"),
            "{sent}"
        ),
        _ => assert!(
            sent.contains("Transport: RTP/AVP/TCP;unicast;interleaved=0-1"),
            "{sent}"
        ),
    }
}

#[test]
fn plays_bit_exact_over_rtsp2_tcp() {
    plays_bit_exact("tcp");
}

#[test]
fn plays_bit_exact_over_rtsp2_udp() {
    plays_bit_exact("udp");
}

// ---------------------------------------------------------------------------
// VOD: seek and PLAY_NOTIFY
// ---------------------------------------------------------------------------

fn vod_server(media: &Media) -> TestServer {
    common::init_plugin();
    TestServer::builder()
        .mount(Mount::play("/vod", vod_launch(media)))
        .start()
}

/// What one source pad carried: stream times (s) of its buffers after the
/// last flush, and whether EOS came.
#[derive(Default)]
struct PadLog {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    times: Vec<f64>,
    flushes: u32,
    eos: bool,
}

struct VodPlayer {
    pipeline: gst::Pipeline,
    pads: Arc<Mutex<Vec<Arc<Mutex<PadLog>>>>>,
}

impl VodPlayer {
    fn new(location: &str, protocols: &str) -> VodPlayer {
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", location)
            .property_from_str("protocols", protocols)
            .property_from_str("default-rtsp-version", "2-0")
            .build()
            .unwrap();
        pipeline.add(&src).unwrap();
        let pads: Arc<Mutex<Vec<Arc<Mutex<PadLog>>>>> = Arc::default();
        let (weak, logs) = (pipeline.downgrade(), pads.clone());
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let log = Arc::new(Mutex::new(PadLog::default()));
            let l = log.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER
                    | gst::PadProbeType::EVENT_DOWNSTREAM
                    | gst::PadProbeType::EVENT_FLUSH,
                move |_, info| {
                    let mut log = l.lock().unwrap();
                    match &info.data {
                        Some(gst::PadProbeData::Buffer(buffer)) => {
                            let time = log
                                .segment
                                .as_ref()
                                .zip(buffer.pts())
                                .and_then(|(s, pts)| s.to_stream_time(pts));
                            if let Some(time) = time {
                                log.times.push(time.seconds_f64());
                            }
                        }
                        Some(gst::PadProbeData::Event(event)) => match event.view() {
                            gst::EventView::Segment(s) => {
                                log.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                            }
                            gst::EventView::FlushStop(_) => {
                                log.flushes += 1;
                                log.times.clear();
                                log.eos = false;
                            }
                            gst::EventView::Eos(_) => log.eos = true,
                            _ => {}
                        },
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            let bin = gst::parse::bin_from_description("queue ! fakesink sync=true", true).unwrap();
            pipeline.add(&bin).unwrap();
            bin.sync_state_with_parent().unwrap();
            pad.link(&bin.static_pad("sink").unwrap()).unwrap();
            logs.lock().unwrap().push(log);
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        VodPlayer { pipeline, pads }
    }

    fn all_pads(&self, f: impl Fn(&PadLog) -> bool) -> bool {
        let pads = self.pads.lock().unwrap();
        pads.len() == 2 && pads.iter().all(|p| f(&p.lock().unwrap()))
    }

    fn latest_time(&self) -> f64 {
        let pads = self.pads.lock().unwrap();
        pads.iter()
            .filter_map(|p| p.lock().unwrap().times.last().copied())
            .fold(0.0, f64::max)
    }

    fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus().unwrap();
        bus.pop_filtered(&[gst::MessageType::Error])
            .map(|m| format!("{m:?}"))
    }
}

impl Drop for VodPlayer {
    fn drop(&mut self) {
        common::stop_pipeline(&self.pipeline);
    }
}

/// A flushing seek to 5 s on a VOD over 2.0: the PLAY carries the Range
/// and `Seek-Style: CoRAP` (key unit, RFC 7826 §18.47) in RTSP/2.0, and every pad
/// goes on from the key frame at 5 s.
#[test]
fn seeks_a_vod_over_rtsp2() {
    let media = make_media();
    let server = vod_server(&media);
    let proxy = RecordingProxy::start(server.port());
    let player = VodPlayer::new(&proxy.url("/vod"), "tcp");
    assert!(
        wait_for(WAIT, || player.all_pads(|p| p.times.len() > 5)),
        "no playback: {:?}",
        player.error()
    );
    player
        .pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
            gst::ClockTime::from_seconds(5),
        )
        .expect("seek");
    let sought = wait_for(Duration::from_secs(10), || {
        player.all_pads(|p| p.flushes >= 1 && !p.times.is_empty())
    });
    assert!(sought, "no data after the seek: {:?}", player.error());
    {
        let pads = player.pads.lock().unwrap();
        for pad in pads.iter() {
            let first = pad.lock().unwrap().times[0];
            // The key frame at 5 s (video) and the audio next to it.
            assert!(
                (4.8..5.5).contains(&first),
                "first buffer after the seek at {first}"
            );
        }
    }
    assert_spoke_2_0(&proxy, &["PLAY"]);
    let sent = proxy.to_server();
    let ranged_play = sent
        .split("PLAY rtsp://")
        .filter(|r| r.contains("Range: npt=5"))
        .count();
    assert_eq!(ranged_play, 1, "{sent}");
    let seek_play = sent
        .split("PLAY rtsp://")
        .find(|r| r.contains("Range: npt=5"))
        .unwrap();
    let head = seek_play.split("\r\n\r\n").next().unwrap();
    // A key-unit seek, as GStreamer's client and server pair them.
    assert!(head.contains("\r\nSeek-Style: CoRAP"), "{head}");
    assert!(player.error().is_none());
}

/// A 2.0 server's `PLAY_NOTIFY` with `Notify-Reason: end-of-stream` (RFC
/// 7826 §13.5.1), 2 s into a 10 s VOD played over UDP: EOS on every pad
/// at once, long before the media's end, and the request answered 200 in
/// RTSP/2.0.
#[test]
fn play_notify_end_of_stream_ends_every_pad() {
    let media = make_media();
    let server = vod_server(&media);
    let proxy = RecordingProxy::start(server.port());
    let player = VodPlayer::new(&proxy.url("/vod"), "udp");
    assert!(
        wait_for(WAIT, || player
            .all_pads(|p| p.times.iter().any(|t| *t >= 1.5))),
        "no playback: {:?}",
        player.error()
    );
    assert!(!player.all_pads(|p| p.eos), "EOS before the notification");
    let sent = proxy.to_server();
    let session = sent
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Session: "))
        .expect("a session")
        .to_owned();
    let notified = Instant::now();
    proxy.inject(
        format!(
            "PLAY_NOTIFY {} RTSP/2.0\r\nCSeq: 854\r\nNotify-Reason: end-of-stream\r\n\
             Request-Status: cseq=5 status=200 reason=\"OK\"\r\nRange: npt=-2.5\r\n\
             Session: {session}\r\n\r\n",
            proxy.url("/vod/")
        )
        .as_bytes(),
    );
    assert!(
        wait_for(Duration::from_secs(5), || player.all_pads(|p| p.eos)),
        "no EOS on every pad {:?} after PLAY_NOTIFY: {:?}",
        notified.elapsed(),
        player.error()
    );
    let latest = player.latest_time();
    assert!(
        latest < 8.0,
        "EOS only at the end of the media ({latest} s)"
    );
    // Answered in the request's version, with its CSeq.
    assert!(
        wait_for(Duration::from_secs(3), || proxy
            .to_server()
            .contains("RTSP/2.0 200 OK\r\nCSeq: 854\r\n")),
        "{}",
        proxy.to_server()
    );
    assert!(player.error().is_none(), "{:?}", player.error());
}

/// A 2.0 server's `PLAY_NOTIFY` with `Notify-Reason: scale-change` (RFC
/// 7826 §13.5.4) on a 20 s presentation: from packet 51 on (its RTP-Info)
/// the media is at `Scale: 2` from `Range` 3 s. The pad is flushed and
/// goes on with a segment of applied rate 2.0 whose first buffer is at
/// 3 s, and stream time then advances twice as fast as running time.
#[test]
fn play_notify_scale_change_changes_the_segment() {
    common::init_plugin();
    let server = scripted_2_0_server(Some("npt=0-20"), 50, "RTSP/2.0", |next| {
        format!(
            "Notify-Reason: scale-change\r\nRange: npt=3-\r\nScale: 2.0\r\n\
             RTP-Info: url=track0;seq={next};rtptime={}\r\n",
            u32::from(next) * 160
        )
    });
    let player = VodPlayer::new(&server.url("/vod"), "tcp");
    let one_pad = |f: &dyn Fn(&PadLog) -> bool| {
        let pads = player.pads.lock().unwrap();
        pads.len() == 1 && f(&pads[0].lock().unwrap())
    };
    assert!(
        wait_for(Duration::from_secs(10), || one_pad(&|p| p.flushes >= 1
            && p.times.len() > 20
            && p.segment.as_ref().is_some_and(|s| s.applied_rate() == 2.0))),
        "no segment at rate 2 after the notification: {:?}",
        player.error()
    );
    let pads = player.pads.lock().unwrap();
    let pad = pads[0].lock().unwrap();
    let (first, last) = (pad.times[0], pad.times[pad.times.len() - 1]);
    println!(
        "after scale-change: {} buffers from {first:.3} to {last:.3}",
        pad.times.len()
    );
    assert!((first - 3.0).abs() < 0.001, "first buffer at {first}");
    // Packets of 20 ms of RTP time: 40 ms of media each at Scale 2.
    let steps: Vec<f64> = pad.times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        steps.iter().all(|d| (d - 0.04).abs() < 0.005),
        "steps {steps:?}"
    );
    drop(pad);
    drop(pads);
    let answers = server.requests();
    assert!(
        answers
            .iter()
            .any(|a| a.method == "RTSP/2.0" && a.uri == "200" && a.cseq() == "77"),
        "the notification was not answered"
    );
}

/// `PLAY_NOTIFY` with `Notify-Reason: media-properties-update` (RFC 7826
/// §13.5.2) and `Media-Range: npt=0-30` on a presentation described as
/// 0–20 s (a recording that grew): the duration becomes 30 s.
#[test]
fn play_notify_media_properties_update_changes_the_duration() {
    common::init_plugin();
    // After 2 s of packets: time for the first duration query.
    let server = scripted_2_0_server(Some("npt=0-20"), 100, "RTSP/2.0", |_| {
        "Notify-Reason: media-properties-update\r\nMedia-Range: npt=0-30\r\n\
         Media-Properties: Random-Access, Time-Progressing\r\n"
            .to_owned()
    });
    let player = VodPlayer::new(&server.url("/vod"), "tcp");
    let duration = || {
        player
            .pipeline
            .query_duration::<gst::ClockTime>()
            .map(|d| d.seconds_f64())
    };
    assert!(
        wait_for(Duration::from_secs(10), || duration() == Some(20.0)),
        "duration before the notification: {:?}",
        duration()
    );
    assert!(
        wait_for(Duration::from_secs(10), || duration() == Some(30.0)),
        "duration after the notification: {:?} ({:?})",
        duration(),
        player.error()
    );
}

// ---------------------------------------------------------------------------
// Publishing
// ---------------------------------------------------------------------------

/// rtspsink with `default-rtsp-version=2-0` to a gst-rtsp-server RECORD
/// mount: OPTIONS in 2.0, then, as RFC 7826 has no ANNOUNCE or RECORD
/// and gst-rtsp-server 1.22 refuses a 2.0 ANNOUNCE (400), the session
/// goes on in 1.0 on the same connection; every frame arrives (TCP).
#[test]
fn publishes_with_rtsp2_set() {
    common::init_plugin();
    let path = "/record";
    let server = TestServer::builder().mount(Mount::record(path, 1)).start();
    let (factory, _) = server.server().mount_points().unwrap().match_(path);
    // TEARDOWN drains the server's pipeline, so everything sent is counted.
    factory.set_eos_shutdown(true);
    let stats = server.record_stats(path).unwrap();
    let proxy = RecordingProxy::start(server.port());
    let pipeline = common::parse_pipeline(&format!(
        "videotestsrc num-buffers=45 pattern=ball ! {} ! \
         x264enc tune=zerolatency speed-preset=ultrafast threads=1 ! queue ! \
         rtspsink location={} protocols=tcp default-rtsp-version=2-0",
        launch::VIDEO_CAPS,
        proxy.url(path)
    ));
    let outcome = common::run_pipeline_until(&pipeline, WAIT, |_| common::Control::Continue);
    common::stop_pipeline(&pipeline);
    let lines = proxy.request_lines();
    assert_eq!(outcome, Outcome::Eos, "{lines:?}");
    assert!(
        wait_for(Duration::from_secs(5), || stats.stream(0).count() == 45),
        "server decoded {} of 45 frames",
        stats.stream(0).count()
    );
    let methods: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            let mut words = l.split(' ');
            (words.next().unwrap(), words.nth(1).unwrap())
        })
        .collect();
    assert_eq!(methods[0], ("OPTIONS", "RTSP/2.0"), "{lines:?}");
    assert_eq!(methods[1], ("ANNOUNCE", "RTSP/2.0"), "{lines:?}");
    assert_eq!(methods[2], ("ANNOUNCE", "RTSP/1.0"), "{lines:?}");
    assert!(
        methods[2..].iter().all(|(_, v)| *v == "RTSP/1.0"),
        "{lines:?}"
    );
    for method in ["SETUP", "RECORD", "TEARDOWN"] {
        assert!(methods.iter().any(|(m, _)| *m == method), "{lines:?}");
    }
    let answers = proxy.to_client();
    assert!(answers.starts_with("RTSP/2.0 200 "), "{answers}");
    assert!(answers.contains("RTSP/2.0 400 "), "{answers}");
}

// ---------------------------------------------------------------------------
// Fallback to 1.0
// ---------------------------------------------------------------------------

const SESSION: &str = "2F2F2F";

/// An RTSP 1.0 server: 505 to any 2.0 request; in 1.0, an audio stream
/// (PCMA, interleaved) to play, or a RECORD to take.
fn rtsp1_only_server() -> ScriptedServer {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Old\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
               m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:track0\r\n";
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        if req.version != "RTSP/1.0" {
            return common::Reply::Send(rtsp_response(
                cseq,
                505,
                "RTSP Version Not Supported",
                &[],
                b"",
            ));
        }
        let session = [("Session", SESSION)];
        let reply = match req.method.as_str() {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[(
                    "Public",
                    "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN",
                )],
                b"",
            ),
            "DESCRIBE" => common::describe_answer(req, sdp),
            "SETUP" => common::setup_answer(req, SESSION),
            "PLAY" => {
                let mut seq: u16 = 0;
                return common::Reply::SendThenStream(
                    rtsp_response(cseq, 200, "OK", &session, b""),
                    Duration::from_millis(20),
                    Box::new(move || {
                        let frame = common::pcma_frame(seq);
                        seq = seq.wrapping_add(1);
                        (seq < 500).then_some(frame)
                    }),
                );
            }
            _ => rtsp_response(cseq, 200, "OK", &session, b""),
        };
        common::Reply::Send(reply)
    })
}

/// The versions of the requests the server got, in order, as `METHOD
/// version`.
fn versions(server: &ScriptedServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.version))
        .collect()
}

#[test]
fn player_falls_back_to_1_0_on_505() {
    common::init_plugin();
    let server = rtsp1_only_server();
    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url("/old"), &[("protocols", "tcp".to_value())]);
    src.set_property_from_str("default-rtsp-version", "2-0");
    let outcome = wait_until(&pipeline, Duration::from_secs(10), || {
        counters.audio.count() >= 5
    });
    let stats = src.property::<gst::Structure>("stats");
    common::stop_pipeline(&pipeline);
    assert_eq!(stats.get::<&str>("rtsp-version").unwrap(), "RTSP/1.0");
    let seen = versions(&server);
    assert_eq!(outcome, Outcome::Stopped, "{seen:?}");
    // One OPTIONS in 2.0 (with the feature tag), answered 505; everything
    // after it in 1.0 on the same connection.
    assert_eq!(seen[0], "OPTIONS RTSP/2.0", "{seen:?}");
    assert_eq!(seen[1], "OPTIONS RTSP/1.0", "{seen:?}");
    assert!(
        seen[2..].iter().all(|r| r.ends_with(" RTSP/1.0")),
        "{seen:?}"
    );
    for method in ["DESCRIBE", "SETUP", "PLAY"] {
        assert!(seen.contains(&format!("{method} RTSP/1.0")), "{seen:?}");
    }
    let requests = server.requests();
    assert_eq!(requests[0].header("Supported"), Some("play.basic"));
    assert_eq!(requests[1].header("Supported"), None);
    assert!(requests.iter().all(|r| r.connection == 0), "{seen:?}");
}

#[test]
fn publisher_falls_back_to_1_0_on_505() {
    common::init_plugin();
    let server = rtsp1_only_server();
    let pipeline = common::parse_pipeline(&format!(
        "audiotestsrc num-buffers=50 ! alawenc ! rtppcmapay ! \
         rtspsink location={} protocols=tcp default-rtsp-version=2-0",
        server.url("/in")
    ));
    let outcome = common::run_pipeline_until(&pipeline, WAIT, |_| common::Control::Continue);
    common::stop_pipeline(&pipeline);
    let seen = versions(&server);
    assert_eq!(outcome, Outcome::Eos, "{seen:?}");
    assert_eq!(seen[0], "OPTIONS RTSP/2.0", "{seen:?}");
    assert_eq!(seen[1], "OPTIONS RTSP/1.0", "{seen:?}");
    assert!(
        seen[2..].iter().all(|r| r.ends_with(" RTSP/1.0")),
        "{seen:?}"
    );
    for method in ["ANNOUNCE", "SETUP", "RECORD", "TEARDOWN"] {
        assert!(seen.contains(&format!("{method} RTSP/1.0")), "{seen:?}");
    }
}

// ---------------------------------------------------------------------------
// Scripted 2.0 servers
// ---------------------------------------------------------------------------

/// [`rtsp_response`] in RTSP/2.0.
fn rtsp2_response(
    cseq: &str,
    code: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = rtsp_response(cseq, code, reason, headers, body);
    out[..8].copy_from_slice(b"RTSP/2.0");
    out
}

/// A live 2.0 server (PCMA over TCP, no range): after `notify_after`
/// packets it sends `PLAY_NOTIFY end-of-stream`, then goes on sending.
/// DESCRIBE is answered in `describe_version`.
fn live_2_0_server(notify_after: u16, describe_version: &'static str) -> ScriptedServer {
    scripted_2_0_server(None, notify_after, describe_version, |_| {
        "Notify-Reason: end-of-stream\r\n".to_owned()
    })
}

/// A 2.0 server of PCMA over TCP (packet n has RTP time n × 160), on
/// demand when `range` (the SDP's `a=range`); after `notify_after`
/// packets it sends a `PLAY_NOTIFY` whose headers (the session's aside)
/// `notify` makes from the next packet's number, then goes on sending.
fn scripted_2_0_server(
    range: Option<&'static str>,
    notify_after: u16,
    describe_version: &'static str,
    notify: fn(u16) -> String,
) -> ScriptedServer {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Live\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n{}\
         m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:track0\r\n",
        range
            .map(|r| format!("a=range:{r}\r\n"))
            .unwrap_or_default()
    );
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let session = [("Session", SESSION)];
        let reply = match req.method.as_str() {
            "OPTIONS" => rtsp2_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")],
                b"",
            ),
            "DESCRIBE" => {
                let mut reply = rtsp2_response(
                    cseq,
                    200,
                    "OK",
                    &[
                        ("Content-Type", "application/sdp"),
                        ("Content-Base", &format!("{}/", req.uri)),
                    ],
                    sdp.as_bytes(),
                );
                reply[..8].copy_from_slice(describe_version.as_bytes());
                reply
            }
            "SETUP" => rtsp2_response(
                cseq,
                200,
                "OK",
                &[
                    ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"),
                    ("Session", SESSION),
                    (
                        "Media-Properties",
                        "No-Seeking, Time-Progressing, Time-Duration=0.0",
                    ),
                ],
                b"",
            ),
            "PLAY" => {
                let mut seq: u16 = 0;
                let uri = req.uri.clone();
                return common::Reply::SendThenStream(
                    rtsp2_response(cseq, 200, "OK", &session, b""),
                    Duration::from_millis(20),
                    Box::new(move || {
                        seq = seq.wrapping_add(1);
                        if seq == notify_after {
                            return Some(
                                format!(
                                    "PLAY_NOTIFY {uri} RTSP/2.0\r\nCSeq: 77\r\n{}\
                                     Session: {SESSION}\r\n\r\n",
                                    notify(seq + 1)
                                )
                                .into_bytes(),
                            );
                        }
                        (seq < 1000).then(|| common::pcma_frame(seq))
                    }),
                );
            }
            _ => rtsp2_response(cseq, 200, "OK", &session, b""),
        };
        common::Reply::Send(reply)
    })
}

/// A live session's `PLAY_NOTIFY end-of-stream` (RFC 7826 §13.5.1): the
/// stream ends (EOS), long before the server would stop sending (20 s),
/// and the notification is answered in 2.0.
#[test]
fn live_play_notify_end_of_stream_is_eos() {
    common::init_plugin();
    let server = live_2_0_server(50, "RTSP/2.0");
    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url("/live"), &[("protocols", "tcp".to_value())]);
    src.set_property_from_str("default-rtsp-version", "2-0");
    let started = Instant::now();
    let outcome = common::run_pipeline_until(&pipeline, Duration::from_secs(10), |_| {
        common::Control::Continue
    });
    let took = started.elapsed();
    common::stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "{:?}", versions(&server));
    assert!(took < Duration::from_secs(6), "EOS after {took:?}");
    assert!(
        counters.audio.count() > 0,
        "no audio before the notification"
    );
    let requests = server.requests();
    // The scripted server logs the client's answer as a "request" whose
    // method is the status line's first word.
    let (answers, requests): (Vec<_>, Vec<_>) =
        requests.iter().partition(|r| r.method.starts_with("RTSP/"));
    assert!(
        answers
            .iter()
            .any(|a| a.method == "RTSP/2.0" && a.uri == "200" && a.cseq() == "77"),
        "{answers:?}"
    );
    assert!(
        requests.iter().all(|r| r.version == "RTSP/2.0"),
        "{requests:?}"
    );
}

/// Once 2.0 was agreed on with OPTIONS, an answer in 1.0 is an error
/// (RFC 7826 §4.1), not taken silently.
#[test]
fn a_1_0_answer_in_a_2_0_session_is_an_error() {
    common::init_plugin();
    let server = live_2_0_server(1000, "RTSP/1.0");
    let (pipeline, src, _) =
        common::rtspsrc2_player(&server.url("/live"), &[("protocols", "tcp".to_value())]);
    src.set_property_from_str("default-rtsp-version", "2-0");
    let outcome = common::run_pipeline_until(&pipeline, Duration::from_secs(10), |_| {
        common::Control::Continue
    });
    common::stop_pipeline(&pipeline);
    let Outcome::Error { message, debug, .. } = &outcome else {
        panic!("expected an error, got {outcome:?}");
    };
    let text = format!("{message} {debug:?}");
    assert!(text.contains("RTSP/1.0"), "{text}");
    assert!(text.contains("DESCRIBE"), "{text}");
    assert_eq!(
        versions(&server),
        vec![
            "OPTIONS RTSP/2.0".to_owned(),
            "DESCRIBE RTSP/2.0".to_owned()
        ]
    );
}
