//! rtspsink publishing against real receivers on loopback: gst-rtsp-server
//! RECORD mounts that decode and count what arrives, the relay
//! `rtspsrc2 ! rtspsink`, scripted servers for the protocol details
//! (Content-Base/Location, 461 fallback, keep-alive, TEARDOWN on stop,
//! 415), authentication, a server that goes away and a server that stops
//! reading (backpressure).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::server::{AuthScheme, Mount, PASSWORD_ENCODED, TestServer, USER, launch, paths};
use common::{
    Control, FrameCounter, Outcome, RawRequest, Reply, ScriptedServer, join_bounded,
    parse_pipeline, rtsp_response, run_pipeline_until, stop_pipeline, wait_for, wait_until,
};
use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const WAIT: Duration = Duration::from_secs(20);
/// tcp-timeout of the element under test: 5 s.
const TCP_TIMEOUT_US: u64 = 5_000_000;

fn init() {
    common::init();
    gstrtspclient::plugin_register_static().expect("register plugin");
}

fn x264() -> &'static str {
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 threads=1"
}

/// `n` frames of H.264 (not live: the sink's clock sync paces them).
fn h264_branch(n: u32) -> String {
    format!(
        "videotestsrc num-buffers={n} pattern=ball ! {} ! {} ! queue",
        launch::VIDEO_CAPS,
        x264()
    )
}

/// About `secs` seconds of AAC or Opus audio (1024-sample buffers).
fn audio_branch(encoder: &str, buffers: u32) -> String {
    let encode = match encoder {
        "aac" => format!("{} ! aacparse", launch::aac_encoder()),
        _ => "opusenc".to_string(),
    };
    format!(
        "audiotestsrc num-buffers={buffers} samplesperbuffer=960 wave=sine ! \
         audio/x-raw,rate=48000,channels=2 ! audioconvert ! audioresample ! {encode} ! queue"
    )
}

/// A publishing pipeline: `branches[i]` goes to `sink.sink_i`, and the
/// buffers reaching each sink pad are counted (frames sent).
struct Publisher {
    pipeline: gst::Pipeline,
    sink: gst::Element,
    sent: Vec<FrameCounter>,
}

impl Publisher {
    fn new(url: &str, protocols: &str, branches: &[String], extra: &str) -> Publisher {
        init();
        let mut line = format!(
            "rtspsink name=sink location=\"{url}\" protocols={protocols} tcp-timeout={TCP_TIMEOUT_US} {extra} "
        );
        for (i, branch) in branches.iter().enumerate() {
            line.push_str(&format!("{branch} ! sink.sink_{i} "));
        }
        let pipeline = parse_pipeline(&line);
        let sink = pipeline.by_name("sink").expect("rtspsink in pipeline");
        let sent = (0..branches.len())
            .map(|i| {
                let counter = FrameCounter::new();
                counter.attach_to_element(&sink, &format!("sink_{i}"));
                counter
            })
            .collect();
        Publisher {
            pipeline,
            sink,
            sent,
        }
    }

    /// Run until EOS or error; returns the outcome and how long it took.
    fn run_to_end(&self) -> (Outcome, Duration) {
        let started = Instant::now();
        let outcome = run_pipeline_until(&self.pipeline, WAIT, |_| Control::Continue);
        (outcome, started.elapsed())
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        stop_pipeline(&self.pipeline);
    }
}

/// The first error on the bus with its details (run the pipeline until it).
struct PostedError {
    error: glib::Error,
    message: String,
    details: Option<gst::Structure>,
    after: Duration,
}

fn run_until_error(pipeline: &gst::Pipeline, timeout: Duration) -> Option<PostedError> {
    let started = Instant::now();
    let mut found = None;
    let outcome = run_pipeline_until(pipeline, timeout, |msg| {
        if let gst::MessageView::Error(err) = msg.view() {
            found = Some(PostedError {
                error: err.error(),
                message: err.error().to_string(),
                details: err.details().map(|d| d.to_owned()),
                after: started.elapsed(),
            });
            return Control::Stop;
        }
        Control::Continue
    });
    if found.is_none() {
        eprintln!("no error, outcome {outcome:?}");
    }
    found
}

fn status_in(details: &Option<gst::Structure>) -> Option<u32> {
    details
        .as_ref()
        .and_then(|d| d.get::<u32>("rtsp-status-code").ok())
}

fn record_server(path: &str, streams: u32) -> TestServer {
    record_server_with(Mount::record(path, streams))
}

fn record_server_with(mount: Mount) -> TestServer {
    let path = mount.path.clone();
    let server = TestServer::builder().mount(mount).start();
    drain_on_teardown(&server, &path);
    server
}

/// Without this gst-rtsp-server stops its receiving pipeline on TEARDOWN
/// at once, and what is still in its jitterbuffer is never decoded; with
/// it, TEARDOWN sends EOS through the pipeline first, so the counters see
/// everything that arrived.
fn drain_on_teardown(server: &TestServer, path: &str) {
    let mounts = server.server().mount_points().unwrap();
    let (factory, _) = mounts.match_(path);
    factory.set_eos_shutdown(true);
}

/// Publish to a gst-rtsp-server RECORD mount and check that what the
/// server decoded equals what was sent.
fn publish_and_count(protocols: &str, branches: &[String], mount: Mount, exact: bool) {
    let path = mount.path.clone();
    let path = path.as_str();
    let server = record_server_with(mount);
    let stats = server.record_stats(path).unwrap();
    let publisher = Publisher::new(&server.url(path), protocols, branches, "");
    let (outcome, took) = publisher.run_to_end();
    assert_eq!(outcome, Outcome::Eos, "publishing over {protocols} failed");
    let sent: Vec<u64> = publisher.sent.iter().map(|c| c.count()).collect();
    // The receiving pipeline is still draining its jitterbuffer: wait
    // (bounded) until it decoded everything or nothing changes any more.
    wait_for(Duration::from_secs(5), || {
        stats
            .streams()
            .iter()
            .zip(&sent)
            .all(|(c, sent)| c.count() >= *sent)
    });
    let received: Vec<u64> = stats.streams().iter().map(|c| c.count()).collect();
    eprintln!(
        "{path} over {protocols}: sent {sent:?}, server decoded {received:?}, EOS after {took:?}"
    );
    for (i, (got, sent)) in received.iter().zip(&sent).enumerate() {
        assert!(*sent > 0, "stream {i}: nothing sent");
        if exact {
            assert_eq!(got, sent, "stream {i}: every frame sent must arrive");
        } else {
            assert!(
                *got * 10 >= *sent * 9 && got <= sent,
                "stream {i}: {got} of {sent} arrived"
            );
        }
    }
    // EOS is posted after TEARDOWN: the session is gone.
    assert!(
        wait_for(Duration::from_secs(3), || server.n_sessions() == 0),
        "session still alive after EOS"
    );
}

#[test]
fn record_h264_tcp() {
    publish_and_count(
        "tcp",
        &[h264_branch(45)],
        Mount::record(paths::RECORD, 1),
        true,
    );
}

#[test]
fn record_h264_udp() {
    publish_and_count(
        "udp",
        &[h264_branch(45)],
        Mount::record(paths::RECORD, 1),
        false,
    );
}

#[test]
fn record_h264_aac_tcp() {
    publish_and_count(
        "tcp",
        &[h264_branch(45), audio_branch("aac", 75)],
        // AAC decoders swallow the first (priming) frame, so the audio is
        // counted as it arrives, depayloaded and parsed, not decoded.
        Mount::record_launch(
            paths::RECORD_AV,
            "decodebin name=depay0 ! queue ! fakesink name=sink0 sync=false async=false \
             decodebin name=depay1 caps=\"audio/mpeg\" ! queue ! \
             fakesink name=sink1 sync=false async=false"
                .to_string(),
            2,
        ),
        true,
    );
}

#[test]
fn record_h264_opus_udp() {
    publish_and_count(
        "udp",
        &[h264_branch(45), audio_branch("opus", 75)],
        Mount::record(paths::RECORD_AV, 2),
        false,
    );
}

/// `sync=true` (default) publishes a non-live source in real time;
/// 45 frames at 30 fps take about 1.5 s. With `sync=false` 150 frames
/// (5 s of video) go out faster than real time.
#[test]
fn sync_paces_non_live_sources() {
    let server = record_server(paths::RECORD, 1);
    let publisher = Publisher::new(&server.url(paths::RECORD), "tcp", &[h264_branch(45)], "");
    let (outcome, took) = publisher.run_to_end();
    assert_eq!(outcome, Outcome::Eos);
    eprintln!("45 frames at 30 fps published in {took:?}");
    assert!(
        took >= Duration::from_millis(1400),
        "not paced: {took:?} for 1.5 s of video"
    );
    // Unpaced, the encoder and the link set the speed (well under a
    // second here): anything below the video's own 5 s shows that nothing
    // waits for the clock, even on a loaded machine.
    let publisher = Publisher::new(
        &server.url(paths::RECORD),
        "tcp",
        &[h264_branch(150)],
        "sync=false",
    );
    let (outcome, took) = publisher.run_to_end();
    assert_eq!(outcome, Outcome::Eos);
    eprintln!("sync=false: 150 frames published in {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "sync=false still paced: {took:?} for 5 s of video"
    );
}

/// Input already RTP (application/x-rtp from a payloader), and an explicit
/// `payloader` pad property: both reach the server.
#[test]
fn record_rtp_input_and_custom_payloader() {
    rtp_input_and_custom_payloader("tcp");
}

/// The same over UDP: the payload type rewrite happens on datagrams
/// (written in front of the buffer's memories, not in place).
#[test]
fn record_rtp_input_and_custom_payloader_udp() {
    rtp_input_and_custom_payloader("udp");
}

fn rtp_input_and_custom_payloader(protocols: &str) {
    init();
    let server = record_server(paths::RECORD_AV, 2);
    let stats = server.record_stats(paths::RECORD_AV).unwrap();
    let pipeline = parse_pipeline(&format!(
        "rtspsink name=sink location={} protocols={protocols} tcp-timeout={TCP_TIMEOUT_US} \
         {} ! rtph264pay pt=96 config-interval=-1 ! sink.sink_0 \
         {} ! sink.sink_1",
        server.url(paths::RECORD_AV),
        h264_branch(30),
        audio_branch("opus", 50),
    ));
    let sink = pipeline.by_name("sink").unwrap();
    let pad = sink.static_pad("sink_1").unwrap();
    // The default for Opus would be rtpopuspay as well; name it anyway,
    // with the same payload type as the video, to check the SDP keeps
    // payload types unique.
    common::tools::require_elements(&["rtpopuspay"]);
    let custom = gst::ElementFactory::make("rtpopuspay")
        .property("pt", 96u32)
        .build()
        .unwrap();
    pad.set_property("payloader", &custom);
    let sent_video = FrameCounter::new();
    sent_video.attach_to_element(&sink, "sink_0");
    let outcome = run_pipeline_until(&pipeline, WAIT, |_| Control::Continue);
    assert_eq!(outcome, Outcome::Eos);
    wait_for(Duration::from_secs(5), || stats.stream(1).count() > 0);
    eprintln!(
        "RTP input: {} RTP packets sent, server decoded video {} / audio {}",
        sent_video.count(),
        stats.stream(0).count(),
        stats.stream(1).count()
    );
    assert!(
        wait_for(Duration::from_secs(5), || stats.stream(0).count() == 30),
        "video frames: {}",
        stats.stream(0).count()
    );
    assert!(stats.stream(1).count() > 0, "no audio arrived");
    let inserted = sink.downcast_ref::<gst::Bin>().unwrap().by_name("pay1");
    assert!(inserted.is_none(), "the custom payloader must be used");
    assert_eq!(
        custom.parent().unwrap(),
        sink.upcast_ref::<gst::Object>().clone()
    );
    stop_pipeline(&pipeline);
}

/// Round trip: `rtspsrc2` plays a server's live H.264 and `rtspsink`
/// relays the RTP to another server's RECORD mount without re-encoding;
/// the recording side decodes the frames.
#[test]
fn relay_rtspsrc2_to_rtspsink() {
    init();
    let server = TestServer::builder()
        .mount(Mount::play(paths::H264, launch::h264_video(0)))
        .mount(Mount::record(paths::RECORD, 1))
        .start();
    let stats = server.record_stats(paths::RECORD).unwrap();
    let pipeline = parse_pipeline(&format!(
        "rtspsrc2 name=src location={} protocols=tcp rtspsink name=sink location={} \
         protocols=tcp tcp-timeout={TCP_TIMEOUT_US}",
        server.url(paths::H264),
        server.url(paths::RECORD),
    ));
    // rtspsrc2's pads are sometimes pads: link each to a requested pad.
    let src = pipeline.by_name("src").unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    let relayed = FrameCounter::new();
    {
        let (sink, relayed) = (sink.clone(), relayed.clone());
        src.connect_pad_added(move |_, pad| {
            let target = sink.request_pad_simple("sink_%u").unwrap();
            relayed.attach_to_pad(&target);
            pad.link(&target).expect("link rtspsrc2 to rtspsink");
        });
    }
    let started = Instant::now();
    let outcome = wait_until(&pipeline, WAIT, || stats.stream(0).count() >= 30);
    let took = started.elapsed();
    eprintln!(
        "relay: {} RTP packets relayed, recording side decoded {} frames after {took:?}",
        relayed.count(),
        stats.stream(0).count()
    );
    assert_eq!(outcome, Outcome::Stopped, "relay did not deliver 30 frames");
    let caps = stats.stream(0).caps().unwrap();
    assert_eq!(caps.structure(0).unwrap().name(), "video/x-raw");
    let started = Instant::now();
    stop_pipeline(&pipeline);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        wait_for(Duration::from_secs(3), || server.n_sessions() == 0),
        "sessions left after stopping the relay"
    );
}

#[test]
fn record_with_digest_auth() {
    init();
    let server = TestServer::builder()
        .mount(Mount::record(paths::DIGEST_RECORD, 1).auth(AuthScheme::Digest))
        .start();
    drain_on_teardown(&server, paths::DIGEST_RECORD);
    let stats = server.record_stats(paths::DIGEST_RECORD).unwrap();
    let url = server.url_with_userinfo(paths::DIGEST_RECORD, USER, PASSWORD_ENCODED);
    let publisher = Publisher::new(&url, "tcp", &[h264_branch(30)], "");
    let (outcome, _) = publisher.run_to_end();
    assert_eq!(outcome, Outcome::Eos);
    assert!(
        wait_for(Duration::from_secs(5), || stats.stream(0).count() == 30),
        "digest: {} of 30 frames",
        stats.stream(0).count()
    );
}

#[test]
fn wrong_password_is_not_authorized() {
    init();
    let server = TestServer::builder()
        .mount(Mount::record(paths::DIGEST_RECORD, 1).auth(AuthScheme::Digest))
        .start();
    let url = server.url_with_userinfo(paths::DIGEST_RECORD, USER, "n0t-the-pw");
    let publisher = Publisher::new(&url, "tcp", &[h264_branch(300)], "");
    let posted = run_until_error(&publisher.pipeline, WAIT).expect("an error");
    eprintln!(
        "wrong password: '{}' after {:?}, details {:?}",
        posted.message, posted.after, posted.details
    );
    assert!(posted.error.matches(gst::ResourceError::NotAuthorized));
    assert_eq!(status_in(&posted.details), Some(401));
    assert!(posted.after < Duration::from_micros(TCP_TIMEOUT_US));
    // Credentials never appear in errors.
    assert!(!format!("{:?} {}", posted.details, posted.message).contains("n0t-the-pw"));
}

#[test]
fn connection_refused_is_an_error() {
    init();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publisher = Publisher::new(
        &format!("rtsp://127.0.0.1:{port}/x"),
        "tcp",
        &[h264_branch(300)],
        "",
    );
    let posted = run_until_error(&publisher.pipeline, WAIT).expect("an error");
    eprintln!("refused: '{}' after {:?}", posted.message, posted.after);
    assert!(posted.error.matches(gst::ResourceError::OpenWrite));
    // At once, not after the 5 s tcp-timeout.
    assert!(posted.after < Duration::from_secs(3), "{:?}", posted.after);
}

/// A server refusing the SDP (415) gives a format error with the status.
#[test]
fn announce_refused_with_415() {
    init();
    let server = ScriptedServer::start(|req| match req.method.as_str() {
        "OPTIONS" => rtsp_response(
            req.cseq(),
            200,
            "OK",
            &[("Public", "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN")],
            b"",
        ),
        _ => rtsp_response(req.cseq(), 415, "Unsupported Media Type", &[], b""),
    });
    let publisher = Publisher::new(&server.url("/x"), "tcp", &[h264_branch(300)], "");
    let posted = run_until_error(&publisher.pipeline, WAIT).expect("an error");
    eprintln!(
        "415: '{}' after {:?}, details {:?}",
        posted.message, posted.after, posted.details
    );
    assert!(posted.error.matches(gst::StreamError::Format));
    assert_eq!(status_in(&posted.details), Some(415));
    assert_eq!(
        posted
            .details
            .as_ref()
            .and_then(|d| d.get::<String>("method").ok())
            .as_deref(),
        Some("ANNOUNCE")
    );
    assert!(posted.after < Duration::from_secs(3));
}

/// What a scripted RECORD server saw, and how it answers.
struct ScriptedRecord {
    server: ScriptedServer,
}

/// A scripted RECORD server: ANNOUNCE answered with `Content-Base` (or
/// `Location`) pointing elsewhere, UDP SETUP refused with 461, TCP
/// accepted, a 2 s session timeout so keep-alives come every second.
fn scripted_record_server(use_location: bool) -> ScriptedRecord {
    let port = Arc::new(Mutex::new(0u16));
    let p = port.clone();
    let server = ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let session = [("Session", "5EC0DE;timeout=2")];
        match req.method.as_str() {
            "OPTIONS" => Reply::Send(rtsp_response(
                cseq,
                200,
                "OK",
                &[(
                    "Public",
                    "OPTIONS, ANNOUNCE, SETUP, RECORD, GET_PARAMETER, TEARDOWN",
                )],
                b"",
            )),
            "ANNOUNCE" => {
                let base = format!("rtsp://127.0.0.1:{}/other/", p.lock().unwrap());
                let header = if use_location {
                    "Location"
                } else {
                    "Content-Base"
                };
                Reply::Send(rtsp_response(cseq, 200, "OK", &[(header, &base)], b""))
            }
            "SETUP" => {
                let transport = req.header("Transport").unwrap_or_default().to_string();
                if !transport.contains("RTP/AVP/TCP") {
                    return Reply::Send(rtsp_response(
                        cseq,
                        461,
                        "Unsupported Transport",
                        &[],
                        b"",
                    ));
                }
                Reply::Send(rtsp_response(
                    cseq,
                    200,
                    "OK",
                    &[("Transport", &transport), session[0]],
                    b"",
                ))
            }
            "RECORD" | "GET_PARAMETER" => {
                Reply::Send(rtsp_response(cseq, 200, "OK", &session, b""))
            }
            "TEARDOWN" => Reply::SendAndClose(rtsp_response(cseq, 200, "OK", &session, b"")),
            _ => Reply::Send(rtsp_response(cseq, 501, "Not Implemented", &[], b"")),
        }
    });
    *port.lock().unwrap() = server.port();
    ScriptedRecord { server }
}

fn check_scripted_session(use_location: bool) {
    init();
    let scripted = scripted_record_server(use_location);
    let server = &scripted.server;
    // Live source: the session runs until we stop it.
    let publisher = Publisher::new(
        &server.url("/x"),
        "udp,tcp",
        &[format!(
            "videotestsrc is-live=true pattern=ball ! {} ! {} ! queue",
            launch::VIDEO_CAPS,
            x264()
        )],
        "",
    );
    let bus_outcome = wait_until(&publisher.pipeline, WAIT, || {
        server
            .methods()
            .iter()
            .filter(|m| *m == "GET_PARAMETER")
            .count()
            >= 1
    });
    assert_eq!(
        bus_outcome,
        Outcome::Stopped,
        "no keep-alive: {:?}",
        server.methods()
    );
    let requests = server.requests();
    let base = format!("rtsp://127.0.0.1:{}/other/", server.port());

    let announce = requests.iter().find(|r| r.method == "ANNOUNCE").unwrap();
    assert_eq!(announce.header("Content-Type"), Some("application/sdp"));
    let sdp = announce.body_str();
    eprintln!("ANNOUNCE body:\n{sdp}");
    assert!(sdp.contains("m=video 0 RTP/AVP 96"), "{sdp}");
    assert!(sdp.contains("a=rtpmap:96 H264/90000"), "{sdp}");
    assert!(sdp.contains("a=control:stream=0"), "{sdp}");
    assert!(sdp.contains("sprop-parameter-sets="), "{sdp}");

    let setups: Vec<&RawRequest> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert_eq!(setups.len(), 2, "UDP refused with 461, then TCP");
    let udp = setups[0].header("Transport").unwrap();
    let tcp = setups[1].header("Transport").unwrap();
    assert!(
        udp.contains("client_port=") && udp.contains("mode=record"),
        "{udp}"
    );
    assert!(
        tcp.contains("RTP/AVP/TCP") && tcp.contains("interleaved=0-1"),
        "{tcp}"
    );
    assert!(tcp.contains("mode=record"), "{tcp}");
    for setup in &setups {
        assert_eq!(setup.uri, format!("{base}stream=0"));
    }
    let record = requests.iter().find(|r| r.method == "RECORD").unwrap();
    assert_eq!(record.uri, base);
    assert_eq!(record.header("Session"), Some("5EC0DE"));
    let keep_alive = requests
        .iter()
        .find(|r| r.method == "GET_PARAMETER")
        .unwrap();
    assert_eq!(keep_alive.header("Session"), Some("5EC0DE"));

    // Going to NULL mid-stream: fast, and TEARDOWN still goes out.
    let started = Instant::now();
    stop_pipeline(&publisher.pipeline);
    let took = started.elapsed();
    let teardown = server.wait_for_method("TEARDOWN", Duration::from_secs(3));
    eprintln!("methods {:?}; NULL took {took:?}", server.methods());
    assert!(took < Duration::from_secs(1), "NULL took {took:?}");
    let teardown = teardown.expect("TEARDOWN after NULL");
    assert_eq!(teardown.uri, base);
}

#[test]
fn content_base_461_fallback_keep_alive_and_teardown_on_stop() {
    check_scripted_session(false);
}

#[test]
fn announce_reply_location_is_honoured() {
    check_scripted_session(true);
}

/// The server disappears while we publish, reconnection off: an error,
/// not a hang (with it on, the default: tests/reconnect.rs).
#[test]
fn server_closing_mid_publish_is_an_error() {
    init();
    let server = record_server(paths::RECORD, 1);
    let stats = server.record_stats(paths::RECORD).unwrap();
    let publisher = Publisher::new(
        &server.url(paths::RECORD),
        "tcp",
        &[format!(
            "videotestsrc is-live=true pattern=ball ! {} ! {} ! queue",
            launch::VIDEO_CAPS,
            x264()
        )],
        "reconnect=false",
    );
    let outcome = wait_until(&publisher.pipeline, WAIT, || stats.stream(0).count() >= 10);
    assert_eq!(outcome, Outcome::Stopped);
    server.disconnect_all_clients();
    let posted = run_until_error(&publisher.pipeline, Duration::from_secs(10))
        .expect("an error after the server closed the connection");
    eprintln!(
        "server gone: '{}' {:?} after {:?}",
        posted.message, posted.error, posted.after
    );
    assert!(
        posted.error.matches(gst::ResourceError::Write)
            || posted.error.matches(gst::ResourceError::OpenWrite)
    );
    assert!(posted.after < Duration::from_secs(5));
    let started = Instant::now();
    stop_pipeline(&publisher.pipeline);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A server that completes the RECORD handshake over TCP and then stops
/// reading the connection: the link to it is "infinitely slow".
struct StallingServer {
    port: u16,
    stop: Arc<AtomicBool>,
    methods: Arc<Mutex<Vec<String>>>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl StallingServer {
    fn start() -> StallingServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let methods = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, m, a) = (stop.clone(), methods.clone(), accepted.clone());
        let thread = thread::spawn(move || {
            let mut streams: Vec<TcpStream> = Vec::new();
            while !s.load(Ordering::SeqCst) {
                if let Ok((stream, _)) = listener.accept() {
                    a.fetch_add(1, Ordering::SeqCst);
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_millis(50)))
                        .unwrap();
                    if let Some(stream) = Self::handshake(stream, &s, &m) {
                        // Stop reading: keep the socket open, unread.
                        streams.push(stream);
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            for stream in streams {
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        StallingServer {
            port,
            stop,
            methods,
            accepted,
            thread: Some(thread),
        }
    }

    /// Answer requests until RECORD; returns the stream then.
    fn handshake(
        mut stream: TcpStream,
        stop: &AtomicBool,
        methods: &Mutex<Vec<String>>,
    ) -> Option<TcpStream> {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
                let header = |name: &str| {
                    head.lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.trim().to_string())
                };
                let length: usize = header("Content-Length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if buf.len() < end + 4 + length {
                    // Need the body.
                } else {
                    buf.drain(..end + 4 + length);
                    let method = head.split_whitespace().next().unwrap_or("").to_string();
                    methods.lock().unwrap().push(method.clone());
                    let cseq = header("CSeq").unwrap_or_default();
                    let session = [("Session", "57A11;timeout=60")];
                    let reply = match method.as_str() {
                        "SETUP" => {
                            let transport = header("Transport").unwrap_or_default();
                            rtsp_response(
                                &cseq,
                                200,
                                "OK",
                                &[("Transport", &transport), session[0]],
                                b"",
                            )
                        }
                        _ => rtsp_response(&cseq, 200, "OK", &session, b""),
                    };
                    stream.write_all(&reply).ok()?;
                    if method == "RECORD" {
                        return Some(stream);
                    }
                    continue;
                }
            }
            match stream.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                Err(_) => {}
            }
        }
        None
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stall", self.port)
    }
}

impl Drop for StallingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            join_bounded(t, Duration::from_secs(5));
        }
    }
}

/// Raw video through rtpvrawpay, as fast as possible: ~40 Mbit/s of RTP
/// that a stalled server never takes.
fn flood_branch() -> String {
    format!("videotestsrc pattern=snow ! {} ! queue", launch::VIDEO_CAPS)
}

#[test]
fn backpressure_drop_counts_and_warns() {
    init();
    let server = StallingServer::start();
    let publisher = Publisher::new(
        &server.url(),
        "tcp",
        &[flood_branch()],
        "sync=false backpressure=drop",
    );
    let warned: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let w = warned.clone();
    publisher
        .pipeline
        .bus()
        .unwrap()
        .set_sync_handler(move |_, msg| {
            if let gst::MessageView::Warning(warning) = msg.view() {
                *w.lock().unwrap() = Some(warning.error().to_string());
            }
            gst::BusSyncReply::Pass
        });
    let started = Instant::now();
    let sink = publisher.sink.clone();
    let outcome = wait_until(&publisher.pipeline, WAIT, || {
        warned.lock().unwrap().is_some() && sink.property::<u64>("dropped") > 100
    });
    assert_eq!(outcome, Outcome::Stopped, "no drops: {outcome:?}");
    let sent_then = publisher.sent[0].count();
    // Upstream keeps flowing while the server takes nothing.
    assert!(publisher.sent[0].wait_for(sent_then + 10, Duration::from_secs(5)));
    eprintln!(
        "drop: warning '{}' after {:?}, dropped {} packets, {} frames accepted",
        warned.lock().unwrap().clone().unwrap(),
        started.elapsed(),
        sink.property::<u64>("dropped"),
        publisher.sent[0].count()
    );
    let started = Instant::now();
    stop_pipeline(&publisher.pipeline);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert!(
        server
            .methods
            .lock()
            .unwrap()
            .contains(&"RECORD".to_string())
    );
}

#[test]
fn backpressure_block_holds_upstream_and_stops_quickly() {
    init();
    let server = StallingServer::start();
    let publisher = Publisher::new(&server.url(), "tcp", &[flood_branch()], "sync=false");
    // Run until upstream is blocked: no new frame for 500 ms.
    let mut last = (0, Instant::now());
    let outcome = wait_until(&publisher.pipeline, WAIT, || {
        let count = publisher.sent[0].count();
        if count != last.0 {
            last = (count, Instant::now());
        }
        count > 0 && last.1.elapsed() > Duration::from_millis(500)
    });
    assert_eq!(outcome, Outcome::Stopped);
    let blocked_at = publisher.sent[0].count();
    eprintln!(
        "block: upstream held after {blocked_at} frames, dropped {}",
        publisher.sink.property::<u64>("dropped")
    );
    assert_eq!(publisher.sink.property::<u64>("dropped"), 0);
    let started = Instant::now();
    stop_pipeline(&publisher.pipeline);
    let took = started.elapsed();
    eprintln!("block: NULL took {took:?}");
    assert!(took < Duration::from_secs(3), "NULL blocked for {took:?}");
}

#[test]
fn properties_and_pad_template() {
    init();
    let sink = gst::ElementFactory::make("rtspsink").build().unwrap();
    assert!(sink.element_flags().contains(gst::ElementFlags::SINK));
    assert_eq!(sink.property::<String>("protocols"), "udp,tcp");
    assert!(sink.property::<bool>("sync"));
    assert_eq!(sink.property::<u64>("tcp-timeout"), 20_000_000);
    assert_eq!(sink.property::<u64>("dropped"), 0);
    assert!(sink.property::<bool>("do-rtsp-keep-alive"));
    let nick = |sink: &gst::Element| {
        let value = sink.property_value("backpressure");
        glib::EnumValue::from_value(&value)
            .map(|(_, v)| v.nick().to_string())
            .unwrap()
    };
    assert_eq!(nick(&sink), "block");
    sink.set_property_from_str("backpressure", "drop");
    assert_eq!(nick(&sink), "drop");
    sink.set_property("protocols", "tcp");
    assert_eq!(sink.property::<String>("protocols"), "tcp");
    let handler = sink.dynamic_cast_ref::<gst::URIHandler>().unwrap();
    assert_eq!(handler.uri_type(), gst::URIType::Sink);
    handler.set_uri("rtsp://user:secret@127.0.0.1:1/x").unwrap();
    let pad = sink.request_pad_simple("sink_%u").unwrap();
    assert_eq!(pad.name(), "sink_0");
    assert!(pad.find_property("payloader").is_some());
    sink.release_request_pad(&pad);
    assert!(sink.static_pad("sink_0").is_none());
    assert_eq!(
        sink.request_pad_simple("sink_%u").unwrap().name(),
        "sink_0",
        "released indices are reused"
    );
}

/// The server's RTCP receiver reports come back into rtpbin (over the
/// interleaved RTCP channel, or the UDP RTCP socket): the sender's source
/// in rtpbin's session then has report blocks.
#[test]
fn server_receiver_reports_reach_rtpbin() {
    init();
    for protocols in ["tcp", "udp"] {
        let server = record_server(paths::RECORD, 1);
        let publisher = Publisher::new(
            &server.url(paths::RECORD),
            protocols,
            &[format!(
                "videotestsrc is-live=true pattern=ball ! {} ! {} ! queue",
                launch::VIDEO_CAPS,
                x264()
            )],
            "",
        );
        let rtpbin = publisher
            .sink
            .downcast_ref::<gst::Bin>()
            .unwrap()
            .by_name("rtpbin")
            .unwrap();
        let started = Instant::now();
        // gst-rtsp-server sends its first report within the first RTCP
        // interval (randomised around 2.5 s).
        let outcome = wait_until(&publisher.pipeline, Duration::from_secs(10), || {
            let session: glib::Object = rtpbin.emit_by_name("get-internal-session", &[&0u32]);
            let stats: gst::Structure = session.property("stats");
            stats
                .get::<glib::ValueArray>("source-stats")
                .map(|sources| {
                    sources.iter().any(|s| {
                        s.get::<gst::Structure>()
                            .ok()
                            .and_then(|s| s.get::<bool>("have-rb").ok())
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
        });
        eprintln!(
            "{protocols}: receiver report in rtpbin after {:?}",
            started.elapsed()
        );
        assert_eq!(
            outcome,
            Outcome::Stopped,
            "no receiver report over {protocols}"
        );
    }
}

/// READY→PAUSED again after a finished run publishes a second time.
#[test]
fn restart_publishes_again() {
    let server = record_server(paths::RECORD, 1);
    let stats = server.record_stats(paths::RECORD).unwrap();
    let publisher = Publisher::new(
        &server.url(paths::RECORD),
        "tcp",
        &[h264_branch(20)],
        "sync=false",
    );
    for run in 1..=2u64 {
        let (outcome, took) = publisher.run_to_end();
        assert_eq!(outcome, Outcome::Eos, "run {run}");
        assert!(
            wait_for(Duration::from_secs(5), || stats.stream(0).count()
                == 20 * run),
            "run {run}: server decoded {}",
            stats.stream(0).count()
        );
        eprintln!(
            "run {run}: EOS after {took:?}, server total {}",
            stats.stream(0).count()
        );
        stop_pipeline(&publisher.pipeline);
    }
    assert_eq!(stats.medias(), 2);
}

/// What [`capture_rtp_until_teardown`] saw on the RTP channel.
struct Captured {
    /// RTP sequence numbers in wire order.
    seqs: Vec<u16>,
    /// How many had arrived when TEARDOWN came (None: it never came).
    at_teardown: Option<usize>,
}

/// A one-connection RECORD server over TCP (the stalling server's
/// handshake) that keeps reading after RECORD: the sequence numbers of the
/// RTP packets on channel 0, until TEARDOWN (answered) or 10 s.
fn capture_rtp_until_teardown(listener: TcpListener) -> JoinHandle<Captured> {
    thread::spawn(move || {
        let mut captured = Captured {
            seqs: Vec::new(),
            at_teardown: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let stop = AtomicBool::new(false);
        let methods = Mutex::new(Vec::new());
        listener.set_nonblocking(true).unwrap();
        let stream = loop {
            if Instant::now() >= deadline {
                return captured;
            }
            if let Ok((stream, _)) = listener.accept() {
                break stream;
            }
            thread::sleep(Duration::from_millis(10));
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let Some(mut stream) = StallingServer::handshake(stream, &stop, &methods) else {
            return captured;
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut tmp = [0u8; 65536];
        while Instant::now() < deadline {
            // Whole interleaved frames and requests at the front of `buf`.
            loop {
                if buf.first() == Some(&b'$') && buf.len() >= 4 {
                    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                    if buf.len() < 4 + len {
                        break;
                    }
                    if buf[1] == 0 && len >= 12 {
                        captured.seqs.push(u16::from_be_bytes([buf[6], buf[7]]));
                    }
                    buf.drain(..4 + len);
                } else if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let cseq = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case("CSeq"))
                        .map(|(_, v)| v.trim().to_string())
                        .unwrap_or_default();
                    let reply = rtsp_response(&cseq, 200, "OK", &[("Session", "57A11")], b"");
                    let _ = stream.write_all(&reply);
                    if head.starts_with("TEARDOWN") {
                        captured.at_teardown = Some(captured.seqs.len());
                        return captured;
                    }
                } else {
                    break;
                }
            }
            match stream.read(&mut tmp) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                Err(_) => {}
            }
        }
        captured
    })
}

/// Video packets are held until their frame's last packet (RTP marker)
/// and sent together. Whether or not the payloader sets the marker, every
/// packet arrives, in order, before TEARDOWN: frames without a marker go
/// with the next timestamp, the last one at EOS.
#[test]
fn video_frames_without_marker_are_not_held_back() {
    for with_marker in [true, false] {
        init();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = capture_rtp_until_teardown(listener);
        let pipeline = parse_pipeline(&format!(
            "appsrc name=src format=time caps=\"application/x-rtp,media=video,\
             clock-rate=90000,encoding-name=H264,payload=96\" ! \
             rtspsink location=rtsp://127.0.0.1:{port}/capture protocols=tcp sync=false \
             tcp-timeout={TCP_TIMEOUT_US}"
        ));
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        const FRAMES: u16 = 10;
        const PER_FRAME: u16 = 3;
        for seq in 0..FRAMES * PER_FRAME {
            let frame = seq / PER_FRAME;
            let last = seq % PER_FRAME == PER_FRAME - 1;
            let mut packet = vec![0u8; 112];
            packet[0] = 0x80;
            packet[1] = 96 | if with_marker && last { 0x80 } else { 0 };
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            packet[4..8].copy_from_slice(&(frame as u32 * 3000).to_be_bytes());
            packet[8..12].copy_from_slice(&0x5151_5151u32.to_be_bytes());
            let mut buffer = gst::Buffer::from_mut_slice(packet);
            buffer
                .get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(frame as u64 * 33));
            src.push_buffer(buffer).unwrap();
        }
        src.end_of_stream().unwrap();
        let outcome = run_pipeline_until(&pipeline, WAIT, |_| Control::Continue);
        stop_pipeline(&pipeline);
        assert_eq!(outcome, Outcome::Eos, "marker {with_marker}");
        assert!(join_bounded_value(server).is_some_and(|captured| {
            eprintln!(
                "marker {with_marker}: {} packets, {:?} at TEARDOWN",
                captured.seqs.len(),
                captured.at_teardown
            );
            captured.seqs == (0..FRAMES * PER_FRAME).collect::<Vec<_>>()
                && captured.at_teardown == Some((FRAMES * PER_FRAME) as usize)
        }));
    }
}

/// Join a thread that ends by itself within 15 s and take its result.
fn join_bounded_value<T: Send + 'static>(handle: JoinHandle<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
    handle.join().ok()
}

/// A clock wait far in the future (running time 10 s) does not hold up
/// going to NULL, and the session is still torn down.
#[test]
fn clock_wait_is_interrupted_by_stop() {
    let server = record_server(paths::RECORD, 1);
    let stats = server.record_stats(paths::RECORD).unwrap();
    let publisher = Publisher::new(
        &server.url(paths::RECORD),
        "tcp",
        &[format!(
            "videotestsrc num-buffers=100 timestamp-offset=10000000000 ! {} ! {} ! queue",
            launch::VIDEO_CAPS,
            x264()
        )],
        "",
    );
    // RECORD done (a session exists) while the first frame waits for its
    // time to come.
    let outcome = wait_until(&publisher.pipeline, WAIT, || server.n_sessions() == 1);
    assert_eq!(outcome, Outcome::Stopped);
    // Deliberately let 300 ms pass: no frame may arrive in them, the first
    // one is due at 10 s.
    assert!(!wait_for(Duration::from_millis(300), || stats
        .stream(0)
        .count()
        > 0));
    let started = Instant::now();
    stop_pipeline(&publisher.pipeline);
    let took = started.elapsed();
    eprintln!("NULL during a 10 s clock wait took {took:?}");
    assert!(took < Duration::from_secs(1));
    assert!(
        wait_for(Duration::from_secs(3), || server.n_sessions() == 0),
        "no TEARDOWN after NULL"
    );
}

/// ANNOUNCE to a path the server does not have: NotFound with 404.
#[test]
fn announce_to_unknown_path_is_not_found() {
    let server = record_server(paths::RECORD, 1);
    let publisher = Publisher::new(&server.url("/nope"), "tcp", &[h264_branch(300)], "");
    let posted = run_until_error(&publisher.pipeline, WAIT).expect("an error");
    eprintln!("404: '{}' after {:?}", posted.message, posted.after);
    assert!(posted.error.matches(gst::ResourceError::NotFound));
    assert_eq!(status_in(&posted.details), Some(404));
}

/// Every allowed transport refused (461): a format error with the status.
#[test]
fn all_transports_refused_is_an_error() {
    init();
    let scripted = scripted_record_server(false);
    let publisher = Publisher::new(&scripted.server.url("/x"), "udp", &[h264_branch(300)], "");
    let posted = run_until_error(&publisher.pipeline, WAIT).expect("an error");
    eprintln!("461: '{}' after {:?}", posted.message, posted.after);
    assert!(posted.error.matches(gst::StreamError::Format));
    assert_eq!(status_in(&posted.details), Some(461));
    assert!(!scripted.server.methods().contains(&"RECORD".to_string()));
}

/// Position queries and flushing seeks reach upstream through the sink;
/// after the flush, publishing goes on in the same session. (A scripted
/// server: gst-rtsp-server's receiving rtpbin aborts on the RTP timestamp
/// jump back that payloaders produce after a seek.)
#[test]
fn position_query_and_flushing_seek() {
    init();
    let scripted = scripted_record_server(false);
    let server = &scripted.server;
    let publisher = Publisher::new(&server.url("/x"), "tcp", &[h264_branch(60)], "");
    let outcome = wait_until(&publisher.pipeline, WAIT, || {
        publisher.sent[0].count() >= 10
    });
    assert_eq!(outcome, Outcome::Stopped);
    let position = publisher.pipeline.query_position::<gst::ClockTime>();
    assert!(
        position.is_some_and(|p| p > gst::ClockTime::ZERO),
        "{position:?}"
    );
    let sent_before = publisher.sent[0].count();
    publisher
        .pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
            gst::ClockTime::ZERO,
        )
        .expect("seek");
    let (outcome, took) = publisher.run_to_end();
    let sent = publisher.sent[0].count();
    eprintln!(
        "seek at {position:?} after {sent_before} frames: EOS after {took:?}, {sent} frames sent"
    );
    assert_eq!(outcome, Outcome::Eos);
    // num-buffers counts across the seek: 60 produced in all, of which the
    // flush dropped some in the encoder and the queue.
    assert!(sent > sent_before + 5, "nothing after the seek: {sent}");
    // The running time restarted at 0: what followed was paced again.
    let replayed = Duration::from_millis((sent - sent_before) * 1000 / 30);
    assert!(
        took + Duration::from_millis(100) >= replayed,
        "{took:?} for {replayed:?} of video"
    );
    let methods = server.methods();
    assert_eq!(
        methods.iter().filter(|m| *m == "RECORD").count(),
        1,
        "{methods:?}"
    );
    assert!(methods.contains(&"TEARDOWN".to_string()), "{methods:?}");
}
