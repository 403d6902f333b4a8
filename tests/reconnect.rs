//! Reconnection of `rtspsrc2`: the pipeline stays PLAYING through a
//! server restart (TCP and UDP), a server that closes the connection, a
//! stream that stalls on an open connection, a keep-alive answered with
//! 454 (the server forgot the session) (twenty restarts in a row without leaking threads,
//! descriptors or memory: tests/reconnect_leaks.rs); an error no retry can
//! fix (404 after the restart) still fails at once. Each test prints the
//! measured recovery time.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::reconnect_player::{BusLog, Player};
use common::server::{Mount, TestServer, launch, paths};
use common::server_process::ServerProcess;
use common::tcp_proxy::TcpProxy;
use common::*;
use gst::prelude::*;

fn restart_during_playback(protocols: &str) {
    let mut server = ServerProcess::start();
    let player = Player::start(&server.url, &[("protocols", protocols.to_value())]);
    player.playing(Duration::from_secs(20));

    server.kill();
    let killed = Instant::now();
    let _server = ServerProcess::start_on(server.port);
    let (recovered, first_frame) = player.recovers(killed, 0);
    println!(
        "{protocols}: server restarted; session back after {recovered:?}, first new frame after {first_frame:?}"
    );
    let log = player.log.lock().unwrap();
    // Downstream sees the new session as a discontinuity, not as EOS or
    // a new segment.
    assert!(
        log.disconts.iter().any(|t| *t > killed),
        "no DISCONT buffer after the restart"
    );
    let (_, lost) = &log.lost[0];
    assert_eq!(lost.get::<u32>("attempt").unwrap(), 1);
    assert!(lost.get::<&str>("reason").unwrap().len() > 3, "{lost}");
    assert!(lost.get::<u64>("delay-ms").unwrap() >= 100, "{lost}");
    drop(log);
    let stats = player.stats();
    assert_eq!(stats.get::<u64>("reconnections").unwrap(), 1, "{stats}");
    assert_eq!(stats.get::<u64>("connection-losses").unwrap(), 1, "{stats}");
}

#[test]
fn server_restart_during_tcp_playback() {
    restart_during_playback("tcp");
}

#[test]
fn server_restart_during_udp_playback() {
    restart_during_playback("udp");
}

/// The server hangs (SIGSTOP) with the connection open, for longer than
/// the data timeout and a failed reconnection attempt, then goes on: the
/// element notices the silence (over UDP as over TCP), keeps trying, and
/// plays again once the server answers.
fn hung_server(protocols: &str) {
    let server = ServerProcess::start();
    let player = Player::start(
        &server.url,
        &[
            ("protocols", protocols.to_value()),
            ("tcp-timeout", 1_000_000u64.to_value()),
        ],
    );
    player.playing(Duration::from_secs(20));
    server.freeze();
    let frozen = Instant::now();
    let thawed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(
            player.wait(Duration::from_secs(10), |p| p.losses() >= 2),
            "fewer than 2 attempts while the server hangs"
        );
    }));
    server.thaw();
    if let Err(panic) = thawed {
        std::panic::resume_unwind(panic);
    }
    let (recovered, first_frame) = player.recovers(frozen, 0);
    let log = player.log.lock().unwrap();
    let reason = log.lost[0].1.get::<String>("reason").unwrap();
    assert!(reason.contains("No data"), "{reason}");
    println!(
        "{protocols}: server hung, let go after {:?}; back after {recovered:?}, first new frame after {first_frame:?}",
        log.lost.last().unwrap().0 - frozen
    );
}

#[test]
fn hung_server_over_tcp_is_recovered() {
    hung_server("tcp");
}

#[test]
fn hung_server_over_udp_is_recovered() {
    hung_server("udp");
}

fn proxied(server: &TestServer, proxy: &TcpProxy, path: &str) -> String {
    server.url(path).replace(
        &format!(":{}/", server.port()),
        &format!(":{}/", proxy.port),
    )
}

fn target(server: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

/// A TCP player of the in-process server's H.264 mount through a proxy,
/// playing.
fn proxied_player() -> (TestServer, TcpProxy, Player) {
    init_plugin();
    let server = TestServer::start();
    let proxy = TcpProxy::start(target(&server));
    let player = Player::start(
        &proxied(&server, &proxy, paths::H264),
        &[("protocols", "tcp".to_value())],
    );
    player.playing(Duration::from_secs(20));
    (server, proxy, player)
}

#[test]
fn server_closing_the_connection_is_recovered() {
    let (_server, proxy, player) = proxied_player();
    proxy.cut();
    let cut = Instant::now();
    let (recovered, first_frame) = player.recovers(cut, 0);
    println!("connection closed: back after {recovered:?}, first new frame after {first_frame:?}");
    assert_eq!(proxy.accepted(), 2);
}

#[test]
fn stalled_tcp_stream_is_recovered_after_the_timeout() {
    let (_server, proxy, player) = proxied_player();
    proxy.freeze();
    let frozen = Instant::now();
    let (recovered, first_frame) = player.recovers(frozen, 0);
    println!("stream stalled: back after {recovered:?}, first new frame after {first_frame:?}");
    // The data timeout is 1 s: not sooner, and not much later.
    assert!(recovered >= Duration::from_millis(900), "{recovered:?}");
    let log = player.log.lock().unwrap();
    let reason = log.lost[0].1.get::<String>("reason").unwrap();
    assert!(reason.contains("No data"), "{reason}");
}

#[test]
fn not_found_after_reconnecting_fails_at_once() {
    init_plugin();
    let server = TestServer::builder()
        .mount(Mount::play("/gone", launch::h264_video(0)))
        .start();
    let proxy = TcpProxy::start(target(&server));
    let player = Player::start(
        &proxied(&server, &proxy, "/gone"),
        &[("protocols", "tcp".to_value())],
    );
    player.playing(Duration::from_secs(20));
    server.remove_mount("/gone");
    proxy.cut();
    let cut = Instant::now();
    let fatal = player.error_within(Duration::from_secs(10));
    println!("404 after the restart: error after {:?}", cut.elapsed());
    assert!(fatal.contains("404"), "{fatal}");
    assert_eq!(player.losses(), 1, "a 404 must not be retried");
}

const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=scripted\r\nt=0 0\r\na=control:*\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n";

const AUDIO_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=scripted\r\nt=0 0\r\na=control:*\r\n\
m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:stream=0\r\n";

/// A camera that forgets its session on reboot: the first connection's
/// keep-alive is answered 454; later connections describe `reboot_sdp`.
fn rebooting_camera(reboot_sdp: &'static str) -> ScriptedServer {
    init_plugin();
    ScriptedServer::start(move |req| {
        let cseq = req.cseq();
        let session = format!("S{};timeout=2", req.connection);
        match req.method.as_str() {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[(
                    "Public",
                    "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER",
                )],
                b"",
            ),
            "DESCRIBE" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Content-Type", "application/sdp")],
                if req.connection == 0 { SDP } else { reboot_sdp }.as_bytes(),
            ),
            "SETUP" => rtsp_response(
                cseq,
                200,
                "OK",
                &[
                    ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"),
                    ("Session", &session),
                ],
                b"",
            ),
            "GET_PARAMETER" if req.connection == 0 => {
                rtsp_response(cseq, 454, "Session Not Found", &[], b"")
            }
            _ => rtsp_response(cseq, 200, "OK", &[("Session", &session)], b""),
        }
    })
}

/// The camera forgot the session after a reboot: the element sets the
/// session up again (with the new session id).
#[test]
fn session_not_found_on_keep_alive_is_recovered() {
    let server = rebooting_camera(SDP);
    // No media comes: the data timeout is off.
    let player = Player::start(
        &server.url("/cam"),
        &[
            ("protocols", "tcp".to_value()),
            ("timeout", 0u64.to_value()),
        ],
    );
    let start = Instant::now();
    assert!(
        player.wait(Duration::from_secs(10), |p| p.recoveries() == 1),
        "no recovery within 10 s"
    );
    println!("454 on keep-alive: back after {:?}", start.elapsed());
    let log = player.log.lock().unwrap();
    let reason = log.lost[0].1.get::<String>("reason").unwrap();
    assert!(reason.contains("454"), "{reason}");
    drop(log);
    // The second session uses its own id.
    let play = server
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PLAY")
        .unwrap();
    assert_eq!(play.header("Session"), Some("S1"));
}

/// After the reboot the camera describes other streams: an error naming
/// both sets, not a silent mismatch on the existing pads.
#[test]
fn a_changed_stream_set_after_reconnecting_is_an_error() {
    let server = rebooting_camera(AUDIO_SDP);
    let player = Player::start(
        &server.url("/cam"),
        &[
            ("protocols", "tcp".to_value()),
            ("timeout", 0u64.to_value()),
        ],
    );
    let fatal = player.error_within(Duration::from_secs(10));
    assert!(
        fatal.contains(
            "other streams (audio PCMU/8000 RTP/AVP) than before (video H264/90000 RTP/AVP)"
        ),
        "{fatal}"
    );
    assert_eq!(player.recoveries(), 0);
}

/// `rtspsink` publishing a live camera-like stream (a key frame every 10 s)
/// through a connection that breaks: it announces and records again, asks
/// the encoder for a key frame, and the server decodes new frames within
/// a few seconds, not at the next regular key frame.
/// Where `rtspsink` publishes to, and how its session is broken.
enum PublishTarget {
    /// gst-rtsp-server in-process behind a proxy whose connections are cut.
    Proxied { server: TestServer, proxy: TcpProxy },
    /// The test-server process, killed and started again on its port.
    Process(ServerProcess),
}

impl PublishTarget {
    fn url(&self) -> String {
        match self {
            PublishTarget::Proxied { server, proxy } => proxied(server, proxy, paths::RECORD),
            PublishTarget::Process(server) => server.url.replace("/test", "/record"),
        }
    }

    /// Access units the server received (decoded, in-process).
    fn received(&self) -> u64 {
        match self {
            PublishTarget::Proxied { server, .. } => server
                .record_stats(paths::RECORD)
                .unwrap()
                .stream(0)
                .count(),
            PublishTarget::Process(server) => server.recorded(),
        }
    }

    /// Break the session; returns what `received` counts from now on.
    fn interrupt(&mut self) -> u64 {
        match self {
            PublishTarget::Proxied { proxy, .. } => {
                proxy.cut();
                self.received()
            }
            PublishTarget::Process(server) => {
                server.kill();
                *server = ServerProcess::start_on(server.port);
                0
            }
        }
    }
}

fn publishing_recovers(protocols: &str, mut target: PublishTarget) {
    init_plugin();
    let url = target.url();
    let pipeline = parse_pipeline(&format!(
        "videotestsrc is-live=true pattern=ball ! {} ! \
         x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max=300 ! \
         rtspsink name=sink location=\"{url}\" protocols={protocols} \
         reconnect-backoff-min=100 reconnect-backoff-max=1000",
        launch::VIDEO_CAPS
    ));
    let log = Arc::new(Mutex::new(BusLog::default()));
    let l = log.clone();
    pipeline.bus().unwrap().set_sync_handler(move |_, message| {
        let mut log = l.lock().unwrap_or_else(|e| e.into_inner());
        match message.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "rtspclient-reconnected"
                {
                    log.recovered.push((Instant::now(), s.to_owned()));
                }
            }
            gst::MessageView::Error(err) => {
                log.fatal = Some(format!("ERROR {} {:?}", err.error(), err.debug()))
            }
            gst::MessageView::Eos(_) => log.fatal = Some("EOS".into()),
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
    // Key frames the encoder made, and when.
    let key_frames: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let k = key_frames.clone();
    let encoder = pipeline.by_name("enc").unwrap();
    encoder
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer()
                && !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
            {
                k.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let no_fatal = || {
        let fatal = log.lock().unwrap().fatal.clone();
        if let Some(fatal) = fatal {
            panic!("the pipeline must stay PLAYING, got {fatal}");
        }
    };
    assert!(
        wait_for(Duration::from_secs(20), || {
            no_fatal();
            target.received() >= 30
        }),
        "the server received {} frames before the cut",
        target.received()
    );
    let cut = Instant::now();
    let before = target.interrupt();
    assert!(
        wait_for(Duration::from_secs(20), || {
            no_fatal();
            !log.lock().unwrap().recovered.is_empty()
        }),
        "no rtspclient-reconnected within 20 s"
    );
    let recovered = cut.elapsed();
    // The regular key frame is 10 s away: the one asked for comes at once.
    assert!(
        wait_for(Duration::from_secs(3), || key_frames
            .lock()
            .unwrap()
            .iter()
            .any(|t| *t > cut)),
        "no key frame within 3 s of the reconnection"
    );
    assert!(
        wait_for(Duration::from_secs(8), || {
            no_fatal();
            target.received() >= before + 30
        }),
        "the server received {} new frames within 8 s of the cut",
        target.received() - before
    );
    println!(
        "publishing over {protocols} ({}): recording again after {recovered:?}, \
         30 new frames received after {:?}",
        match target {
            PublishTarget::Proxied { .. } => "connection closed",
            PublishTarget::Process(_) => "server restarted",
        },
        cut.elapsed()
    );
    let sink = pipeline.by_name("sink").unwrap();
    let stats = sink.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("reconnections").unwrap(), 1, "{stats}");
    stop_pipeline(&pipeline);
}

/// The server hangs (SIGSTOP) while `rtspsink` publishes over TCP: the
/// unanswered keep-alive shows it, attempts go on while it hangs, and
/// recording resumes once it answers.
#[test]
fn publishing_to_a_hung_server_is_recovered() {
    init_plugin();
    let server = ServerProcess::start();
    let url = server.url.replace("/test", "/record");
    let pipeline = parse_pipeline(&format!(
        "videotestsrc is-live=true ! {} ! x264enc tune=zerolatency speed-preset=ultrafast ! \
         rtspsink name=sink location=\"{url}\" protocols=tcp tcp-timeout=1000000 \
         reconnect-backoff-min=100 reconnect-backoff-max=1000",
        launch::VIDEO_CAPS
    ));
    let sink = pipeline.by_name("sink").unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || server.recorded() >= 30),
        "publishing did not start"
    );
    server.freeze();
    let frozen = Instant::now();
    let stats = || sink.property::<gst::Structure>("stats");
    let lost = wait_for(Duration::from_secs(15), || {
        stats().get::<u64>("connection-losses").unwrap() >= 1
    });
    server.thaw();
    assert!(lost, "the hang was not noticed within 15 s");
    let noticed = frozen.elapsed();
    // What the server reads first after the hang is what the old
    // connection had queued: count from the new session on.
    assert!(
        wait_for(Duration::from_secs(15), || {
            stats().get::<u64>("reconnections").unwrap() == 1
        }),
        "no reconnection within 15 s of the server going on"
    );
    let before = server.recorded();
    assert!(
        wait_for(Duration::from_secs(15), || server.recorded() >= before + 30),
        "recording did not resume"
    );
    while let Some(message) = bus.pop() {
        if let gst::MessageView::Error(err) = message.view() {
            panic!("error: {} {:?}", err.error(), err.debug());
        }
    }
    println!(
        "publishing to a hung server: noticed after {noticed:?} (keep-alive every {} s), \
         recording again {:?} after it went on",
        common::server_process::SESSION_TIMEOUT_S / 2,
        frozen.elapsed() - noticed
    );
    stop_pipeline(&pipeline);
}

fn proxied_record_server() -> PublishTarget {
    init_plugin();
    let server = TestServer::builder()
        .mount(Mount::record(paths::RECORD, 1))
        .start();
    let proxy = TcpProxy::start(target(&server));
    PublishTarget::Proxied { server, proxy }
}

#[test]
fn publishing_recovers_when_the_server_closes_the_tcp_connection() {
    publishing_recovers("tcp", proxied_record_server());
}

#[test]
fn publishing_recovers_when_the_server_closes_the_control_connection_udp() {
    publishing_recovers("udp", proxied_record_server());
}

#[test]
fn publishing_survives_a_server_restart_tcp() {
    publishing_recovers("tcp", PublishTarget::Process(ServerProcess::start()));
}

#[test]
fn publishing_survives_a_server_restart_udp() {
    publishing_recovers("udp", PublishTarget::Process(ServerProcess::start()));
}

/// While the server is gone and the element waits to reconnect (its
/// streaming threads held, for rtspsink with `backpressure=block`), going
/// to NULL is prompt, and so are the pipeline's threads.
#[test]
fn stopping_during_an_outage_is_prompt() {
    let mut server = ServerProcess::start();
    let player = Player::start(&server.url, &[("protocols", "tcp".to_value())]);
    player.playing(Duration::from_secs(20));
    let publisher = parse_pipeline(&format!(
        "videotestsrc is-live=true ! {} ! x264enc tune=zerolatency speed-preset=ultrafast ! \
         rtspsink location=\"{}\" protocols=tcp backpressure=block",
        launch::VIDEO_CAPS,
        server.url.replace("/test", "/record")
    ));
    publisher.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || server.recorded() >= 30),
        "publishing did not start"
    );
    server.kill();
    assert!(
        player.wait(Duration::from_secs(10), |p| p.losses() >= 2),
        "no second reconnection attempt"
    );
    for pipeline in [&publisher, &player.pipeline] {
        let started = Instant::now();
        pipeline.set_state(gst::State::Null).unwrap();
        let took = started.elapsed();
        println!("NULL during the outage took {took:?}");
        assert!(took < Duration::from_secs(1), "NULL took {took:?}");
    }
}

/// While the server is down, `backpressure=drop` drops what arrives (the
/// streaming thread goes on, counted in `dropped`), and recording resumes
/// when the server is back.
#[test]
fn publishing_with_drop_counts_what_the_outage_dropped() {
    init_plugin();
    let mut server = ServerProcess::start();
    let pipeline = parse_pipeline(&format!(
        "videotestsrc is-live=true ! {} ! x264enc tune=zerolatency speed-preset=ultrafast ! \
         rtspsink name=sink location=\"{}\" protocols=tcp backpressure=drop \
         reconnect-backoff-min=300 reconnect-backoff-max=300",
        launch::VIDEO_CAPS,
        server.url.replace("/test", "/record")
    ));
    let sink = pipeline.by_name("sink").unwrap();
    let stats = || sink.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || server.recorded() >= 30),
        "publishing did not start"
    );
    server.kill();
    let dropped_before = stats().get::<u64>("dropped").unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || {
            stats().get::<u64>("dropped").unwrap() >= dropped_before + 10
        }),
        "nothing dropped while the server is down: {}",
        stats()
    );
    server = ServerProcess::start_on(server.port);
    assert!(
        wait_for(Duration::from_secs(15), || server.recorded() >= 30),
        "recording did not resume: {}",
        stats()
    );
    assert_eq!(stats().get::<u64>("reconnections").unwrap(), 1);
    let bus = pipeline.bus().unwrap();
    while let Some(message) = bus.pop() {
        if let gst::MessageView::Error(err) = message.view() {
            panic!("error: {} {:?}", err.error(), err.debug());
        }
    }
    println!("publishing with drop: {}", stats());
    stop_pipeline(&pipeline);
}
