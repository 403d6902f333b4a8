//! rtspsrc2 against servers that refuse, fail, hang, redirect or demand
//! authentication: each ends in the documented element error (domain,
//! code, RTSP status in the details) within its bound, or plays.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{PASSWORD, PASSWORD_ENCODED, TestServer, USER, paths};
use common::server_process::ServerProcess;
use common::{
    HangingServer, MediaCounters, Outcome, RawRequest, ScriptedServer, rtsp_response,
    stop_pipeline, wait_until,
};
use gst::prelude::*;
use sha2::{Digest, Sha256};

fn init() {
    common::init_plugin();
}

fn pipeline_with(location: &str, props: &[(&str, glib::Value)]) -> (gst::Pipeline, MediaCounters) {
    let (pipeline, _, counters) = common::rtspsrc2_player(location, props);
    (pipeline, counters)
}

use gst::glib;

struct Failure {
    error: glib::Error,
    text: String,
    details: Option<gst::Structure>,
    after: Duration,
}

/// Play until an error; panics on EOS or if none comes within `within`.
fn expect_error(pipeline: &gst::Pipeline, within: Duration) -> Failure {
    let start = Instant::now();
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    while start.elapsed() < within {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(err) => {
                let failure = Failure {
                    error: err.error(),
                    text: format!("{} {:?}", err.error(), err.debug()),
                    details: err.details().map(|d| d.to_owned()),
                    after: start.elapsed(),
                };
                stop_pipeline(pipeline);
                return failure;
            }
            gst::MessageView::Eos(_) => panic!("EOS instead of an error"),
            _ => {}
        }
    }
    stop_pipeline(pipeline);
    panic!("no error within {within:?}");
}

fn status(failure: &Failure) -> Option<u32> {
    failure
        .details
        .as_ref()?
        .get::<u32>("rtsp-status-code")
        .ok()
}

fn plays(pipeline: &gst::Pipeline, counters: &MediaCounters) {
    let c = counters.clone();
    let outcome = wait_until(pipeline, Duration::from_secs(20), move || {
        c.video.count() >= 10
    });
    stop_pipeline(pipeline);
    assert_eq!(outcome, Outcome::Stopped);
}

#[test]
fn basic_auth_with_credentials_in_url() {
    let server = TestServer::start();
    let (pipeline, counters) = pipeline_with(&server.url_with_credentials(paths::BASIC_H264), &[]);
    plays(&pipeline, &counters);
}

#[test]
fn digest_auth_with_credential_properties() {
    let server = TestServer::start();
    let (pipeline, counters) = pipeline_with(
        &server.url(paths::DIGEST_H264),
        &[
            ("user-id", USER.to_value()),
            ("user-pw", PASSWORD.to_value()),
        ],
    );
    plays(&pipeline, &counters);
}

fn wrong_password(path: &str) {
    let server = TestServer::start();
    let url = server.url_with_userinfo(path, USER, "wrong-secret");
    let (pipeline, _) = pipeline_with(&url, &[("tcp-timeout", 5_000_000u64.to_value())]);
    let failure = expect_error(&pipeline, Duration::from_secs(6));
    assert!(
        failure.error.matches(gst::ResourceError::NotAuthorized),
        "{}",
        failure.text
    );
    assert_eq!(status(&failure), Some(401));
    assert!(failure.after < Duration::from_secs(5));
    assert!(
        !failure.text.contains("wrong-secret"),
        "password leaked: {}",
        failure.text
    );
    assert!(!format!("{:?}", failure.details).contains("wrong-secret"));
}

#[test]
fn basic_auth_wrong_password_is_not_authorized() {
    wrong_password(paths::BASIC_H264);
}

#[test]
fn digest_auth_wrong_password_is_not_authorized() {
    wrong_password(paths::DIGEST_H264);
}

#[test]
fn missing_credentials_is_not_authorized() {
    let server = TestServer::start();
    let (pipeline, _) = pipeline_with(&server.url(paths::BASIC_H264), &[]);
    let failure = expect_error(&pipeline, Duration::from_secs(6));
    assert!(
        failure.error.matches(gst::ResourceError::NotAuthorized),
        "{}",
        failure.text
    );
}

#[test]
fn url_password_is_percent_decoded() {
    let server = TestServer::start();
    let url = server.url_with_userinfo(paths::DIGEST_H264, USER, PASSWORD_ENCODED);
    let (pipeline, counters) = pipeline_with(&url, &[]);
    plays(&pipeline, &counters);
}

#[test]
fn connection_refused_fails_fast() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (pipeline, _) = pipeline_with(&format!("rtsp://127.0.0.1:{port}/x"), &[]);
    let failure = expect_error(&pipeline, Duration::from_secs(3));
    assert!(
        failure.error.matches(gst::ResourceError::OpenRead),
        "{}",
        failure.text
    );
    assert!(failure.after < Duration::from_secs(2));
}

#[test]
fn unknown_path_is_not_found() {
    let server = TestServer::start();
    let (pipeline, _) = pipeline_with(&server.url("/no-such-mount"), &[]);
    let failure = expect_error(&pipeline, Duration::from_secs(5));
    assert!(
        failure.error.matches(gst::ResourceError::NotFound),
        "{}",
        failure.text
    );
    assert_eq!(status(&failure), Some(404));
    let details = failure.details.unwrap();
    assert_eq!(details.get::<String>("method").unwrap(), "DESCRIBE");
}

#[test]
fn silent_server_times_out_within_tcp_timeout() {
    let server = HangingServer::start();
    let (pipeline, _) = pipeline_with(
        &server.url("/x"),
        &[("tcp-timeout", 1_000_000u64.to_value())],
    );
    let failure = expect_error(&pipeline, Duration::from_secs(8));
    assert!(
        failure.error.matches(gst::ResourceError::OpenRead),
        "{}",
        failure.text
    );
    // After the 1 s tcp-timeout, and long before the 20 s default.
    assert!(
        failure.after >= Duration::from_millis(900) && failure.after < Duration::from_secs(5),
        "{:?}",
        failure.after
    );
}

/// The `test-server` example as a child process (cargo builds examples
/// before integration tests), so the test can kill a real server.
/// The server process is killed mid-stream, with reconnection off: a
/// READ error, within the UDP `timeout` for UDP (the control connection
/// closing alone is not enough there) and at once over TCP. With it on
/// (the default) the element reconnects: tests/reconnect.rs.
fn server_killed(protocols: &str) {
    let mut server = ServerProcess::start();
    let (pipeline, counters) = pipeline_with(
        &server.url,
        &[
            ("protocols", protocols.to_value()),
            ("timeout", 1_000_000u64.to_value()),
            ("reconnect", false.to_value()),
        ],
    );
    let c = counters.clone();
    assert_eq!(
        wait_until(&pipeline, Duration::from_secs(20), move || c.video.count()
            >= 5),
        Outcome::Stopped
    );
    server.kill();
    let failure = expect_error(&pipeline, Duration::from_secs(6));
    assert!(
        failure.error.matches(gst::ResourceError::Read),
        "{}",
        failure.text
    );
}

#[test]
fn server_killed_over_tcp_is_a_read_error() {
    server_killed("tcp");
}

#[test]
fn server_killed_over_udp_is_a_read_error() {
    server_killed("udp");
}

const H264_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=scripted\r\nt=0 0\r\na=control:*\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n";

/// A scripted camera that plays nothing but answers the handshake over TCP.
fn handshake_reply(req: &RawRequest, session_timeout: u32, public: &str) -> Vec<u8> {
    let cseq = req.cseq();
    match req.method.as_str() {
        "OPTIONS" => rtsp_response(cseq, 200, "OK", &[("Public", public)], b""),
        "DESCRIBE" => rtsp_response(
            cseq,
            200,
            "OK",
            &[("Content-Type", "application/sdp")],
            H264_SDP.as_bytes(),
        ),
        "SETUP" => rtsp_response(
            cseq,
            200,
            "OK",
            &[
                ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"),
                ("Session", &format!("12345678;timeout={session_timeout}")),
            ],
            b"",
        ),
        "PLAY" | "GET_PARAMETER" | "TEARDOWN" => {
            rtsp_response(cseq, 200, "OK", &[("Session", "12345678")], b"")
        }
        _ => rtsp_response(cseq, 501, "Not Implemented", &[], b""),
    }
}

fn wait_for_request(server: &ScriptedServer, within: Duration, method: &str) -> Option<RawRequest> {
    server.wait_for_method(method, within)
}

#[test]
fn keep_alive_uses_get_parameter_at_half_the_session_timeout() {
    init();
    // A 4 s session timeout: the keep-alive is due after 2 s.
    let server = ScriptedServer::start(|req| {
        handshake_reply(
            req,
            4,
            "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER",
        )
    });
    let (pipeline, _) = pipeline_with(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_for_request(&server, Duration::from_secs(5), "PLAY").expect("PLAY");
    let started = Instant::now();
    let keep_alive = wait_for_request(&server, Duration::from_secs(6), "GET_PARAMETER");
    let elapsed = started.elapsed();
    stop_pipeline(&pipeline);
    let keep_alive = keep_alive.expect("GET_PARAMETER keep-alive within 6 s");
    assert_eq!(keep_alive.header("Session"), Some("12345678"));
    // Well before the session expires (4 s), and not at its very end: a
    // second of slack either way around the 2 s it is due.
    assert!(
        elapsed > Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "sent after {elapsed:?}"
    );
}

#[test]
fn keep_alive_falls_back_to_options_without_get_parameter() {
    init();
    let server = ScriptedServer::start(|req| {
        handshake_reply(req, 2, "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
    });
    let (pipeline, _) = pipeline_with(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_for_request(&server, Duration::from_secs(5), "PLAY").expect("PLAY");
    // The keep-alive is due 1 s after PLAY (half the 2 s session timeout).
    let mut options = 0;
    common::wait_for(Duration::from_secs(5), || {
        options = server
            .requests()
            .iter()
            .filter(|r| r.method == "OPTIONS")
            .count();
        options >= 2
    });
    stop_pipeline(&pipeline);
    assert_eq!(options, 2, "initial OPTIONS plus one keep-alive");
    assert!(!server.methods().iter().any(|m| m == "GET_PARAMETER"));
}

#[test]
fn teardown_is_sent_when_stopping() {
    init();
    let server = ScriptedServer::start(|req| {
        handshake_reply(req, 60, "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
    });
    let (pipeline, _) = pipeline_with(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_for_request(&server, Duration::from_secs(5), "PLAY").expect("PLAY");
    let start = Instant::now();
    stop_pipeline(&pipeline);
    assert!(start.elapsed() < Duration::from_secs(1));
    let teardown = wait_for_request(&server, Duration::from_secs(3), "TEARDOWN").expect("TEARDOWN");
    assert_eq!(teardown.header("Session"), Some("12345678"));
}

/// The server sends its own requests after PLAY: each gets an answer with
/// the same CSeq, unknown methods 501.
#[test]
fn server_requests_are_answered() {
    init();
    let server = ScriptedServer::start(|req| {
        let mut reply = handshake_reply(req, 60, "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN");
        if req.method == "PLAY" {
            reply.extend_from_slice(b"GET_PARAMETER rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 900\r\nSession: 12345678\r\n\r\n");
            reply.extend_from_slice(b"OPTIONS * RTSP/1.0\r\nCSeq: 901\r\n\r\n");
            reply.extend_from_slice(b"FROBNICATE * RTSP/1.0\r\nCSeq: 902\r\n\r\n");
        }
        reply
    });
    let (pipeline, _) = pipeline_with(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    pipeline.set_state(gst::State::Playing).unwrap();
    // The scripted server logs our answers as "requests" whose method is
    // the status line's first word.
    let mut answers = Vec::new();
    common::wait_for(Duration::from_secs(5), || {
        answers = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "RTSP/1.0")
            .collect();
        answers.len() >= 3
    });
    stop_pipeline(&pipeline);
    assert_eq!(answers.len(), 3, "{answers:?}");
    let by_cseq = |c: &str| {
        answers
            .iter()
            .find(|a| a.cseq() == c)
            .map(|a| a.uri.clone())
    };
    assert_eq!(by_cseq("900").as_deref(), Some("200"));
    assert_eq!(by_cseq("901").as_deref(), Some("200"));
    assert_eq!(by_cseq("902").as_deref(), Some("501"));
}

#[test]
fn redirect_on_describe_is_followed() {
    let real = TestServer::start();
    let target = real.url(paths::H264);
    let redirector = ScriptedServer::start(move |req| {
        rtsp_response(
            req.cseq(),
            302,
            "Moved Temporarily",
            &[("Location", &target)],
            b"",
        )
    });
    let (pipeline, counters) = pipeline_with(&redirector.url("/old"), &[]);
    plays(&pipeline, &counters);
}

#[test]
fn redirect_loop_is_bounded() {
    init();
    let hops = Arc::new(AtomicUsize::new(0));
    let h = hops.clone();
    let server = Arc::new(Mutex::new(None::<String>));
    let s = server.clone();
    let looping = ScriptedServer::start(move |req| {
        h.fetch_add(1, Ordering::SeqCst);
        let me = s.lock().unwrap().clone().unwrap_or_default();
        rtsp_response(
            req.cseq(),
            301,
            "Moved Permanently",
            &[("Location", &me)],
            b"",
        )
    });
    *server.lock().unwrap() = Some(looping.url("/again"));
    let (pipeline, _) = pipeline_with(
        &looping.url("/start"),
        &[("max-redirects", 3u32.to_value())],
    );
    let failure = expect_error(&pipeline, Duration::from_secs(5));
    assert!(
        failure.error.matches(gst::ResourceError::OpenRead),
        "{}",
        failure.text
    );
    assert_eq!(
        hops.load(Ordering::SeqCst),
        4,
        "first request plus 3 redirects"
    );
}

#[test]
fn sdp_without_usable_stream_is_a_codec_error() {
    init();
    let server = ScriptedServer::start(|req| {
        let sdp =
            b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=application 0 TCP/BFCP *\r\n";
        match req.method.as_str() {
            "DESCRIBE" => rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[("Content-Type", "application/sdp")],
                sdp,
            ),
            _ => rtsp_response(req.cseq(), 200, "OK", &[], b""),
        }
    });
    let (pipeline, _) = pipeline_with(&server.url("/cam"), &[]);
    let failure = expect_error(&pipeline, Duration::from_secs(5));
    assert!(
        failure.error.matches(gst::StreamError::CodecNotFound),
        "{}",
        failure.text
    );
}

fn sha256_hex(data: &str) -> String {
    Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn auth_param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
        .or_else(|| {
            header
                .split_once(&format!("Digest {name}="))
                .map(|(_, v)| v.split(',').next().unwrap().trim_matches('"'))
        })
}

/// Verify a SHA-256 qop=auth Authorization header independently (RFC 7616).
fn digest_sha256_valid(req: &RawRequest, nonce: &str) -> bool {
    let Some(header) = req.header("Authorization") else {
        return false;
    };
    let get = |n| auth_param(header, n).unwrap_or_default().to_string();
    if get("nonce") != nonce || get("username") != USER {
        return false;
    }
    let ha1 = sha256_hex(&format!("{USER}:scripted:{PASSWORD}"));
    let ha2 = sha256_hex(&format!("{}:{}", req.method, get("uri")));
    let expected = sha256_hex(&format!(
        "{ha1}:{nonce}:{}:{}:auth:{ha2}",
        get("nc"),
        get("cnonce")
    ));
    get("response") == expected && get("qop") == "auth" && get("uri") == req.uri
}

/// Digest SHA-256 with qop=auth, and a stale nonce during the session:
/// the client renews the nonce and keeps going without failing.
#[test]
fn digest_sha256_with_stale_nonce() {
    init();
    let server = ScriptedServer::start(|req| {
        let cseq = req.cseq();
        let challenge = |nonce: &str, stale: bool| {
            format!(
                "Digest realm=\"scripted\", nonce=\"{nonce}\", qop=\"auth\", algorithm=SHA-256{}",
                if stale { ", stale=true" } else { "" }
            )
        };
        if req.method == "OPTIONS" {
            return rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")],
                b"",
            );
        }
        // DESCRIBE works with nonce-1; SETUP declares nonce-1 stale and
        // wants nonce-2 from then on.
        let nonce = if req.method == "DESCRIBE" {
            "nonce-1"
        } else {
            "nonce-2"
        };
        if !digest_sha256_valid(req, nonce) {
            let stale = req.method != "DESCRIBE" && digest_sha256_valid(req, "nonce-1");
            return rtsp_response(
                cseq,
                401,
                "Unauthorized",
                &[("WWW-Authenticate", &challenge(nonce, stale))],
                b"",
            );
        }
        handshake_reply(req, 60, "")
    });
    let (pipeline, _) = pipeline_with(
        &server.url("/cam"),
        &[
            ("protocols", "tcp".to_value()),
            ("user-id", USER.to_value()),
            ("user-pw", PASSWORD.to_value()),
        ],
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let play = wait_for_request(&server, Duration::from_secs(5), "PLAY");
    let errors: Vec<String> = std::iter::from_fn(|| {
        pipeline
            .bus()
            .unwrap()
            .pop_filtered(&[gst::MessageType::Error])
    })
    .map(|m| format!("{m:?}"))
    .collect();
    stop_pipeline(&pipeline);
    assert!(errors.is_empty(), "{errors:?}");
    let play = play.expect("PLAY after SHA-256 auth");
    assert!(digest_sha256_valid(&play, "nonce-2"));
    let unauthorized_setups = server
        .requests()
        .iter()
        .filter(|r| r.method == "SETUP" && !digest_sha256_valid(r, "nonce-2"))
        .count();
    assert_eq!(
        unauthorized_setups, 1,
        "one SETUP with the stale nonce, then renewed"
    );
}

/// A REDIRECT request from the server during playback moves the session to
/// the new location, keeping the pads: frames arrive from the new server.
#[test]
fn server_redirect_request_during_playback_is_followed() {
    let real = TestServer::start();
    let target = real.url(paths::H264);
    let server = ScriptedServer::start(move |req| {
        let mut reply = handshake_reply(req, 60, "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN");
        if req.method == "DESCRIBE" {
            // The same SDP shape as the real server's H.264 mount.
            reply = rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[("Content-Type", "application/sdp")],
                H264_SDP.as_bytes(),
            );
        }
        if req.method == "PLAY" {
            reply.extend_from_slice(
                format!("REDIRECT rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 1\r\nLocation: {target}\r\n\r\n")
                    .as_bytes(),
            );
        }
        reply
    });
    let (pipeline, counters) =
        pipeline_with(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    plays(&pipeline, &counters);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "RTSP/1.0" && r.cseq() == "1"),
        "REDIRECT answered"
    );
}
