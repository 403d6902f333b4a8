//! Field bugs reported against real cameras and set-ups (docs/QUIRKS.md),
//! each replayed with a scripted server: a Digest nonce that goes stale
//! during the session (both elements, every request path), a control equal
//! to the request URL's last segment, and TLS / HTTP-tunnel schemes that
//! must never be spoken in plaintext.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    HangingServer, Outcome, RawRequest, Reply, ScriptedServer, parse_pipeline, rtsp_response,
    stop_pipeline, wait_for, wait_until,
};
use gst::glib;
use gst::prelude::*;
use md5::{Digest, Md5};

const USER: &str = "admin";
const PASSWORD: &str = "c4m3ra-pw";
const SESSION: &str = "F1E1D";
const REALM: &str = "IP Camera(21120)";

fn init() {
    common::init_plugin();
}

fn md5_hex(data: &str) -> String {
    Md5::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parameters of a Digest `Authorization` header, names lowercased and
/// values unquoted (the client writes `name="value", name=token`).
fn digest_params(header: &str) -> Vec<(String, String)> {
    let Some(rest) = header.trim().strip_prefix("Digest ") else {
        return Vec::new();
    };
    rest.split(", ")
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| {
            (
                n.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect()
}

fn digest_param(req: &RawRequest, name: &str) -> String {
    digest_params(req.header("Authorization").unwrap_or_default())
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Whether `req` carries a correct Digest MD5 qop=auth answer for `realm`
/// and `nonce` (RFC 2617 3.2.2), computed here independently of the client.
fn authorized(req: &RawRequest, realm: &str, nonce: &str) -> bool {
    let get = |name| digest_param(req, name);
    if get("username") != USER
        || get("realm") != realm
        || get("nonce") != nonce
        || get("uri") != req.uri
        || get("qop") != "auth"
    {
        return false;
    }
    let ha1 = md5_hex(&format!("{USER}:{realm}:{PASSWORD}"));
    let ha2 = md5_hex(&format!("{}:{}", req.method, req.uri));
    let expected = md5_hex(&format!(
        "{ha1}:{nonce}:{}:{}:auth:{ha2}",
        get("nc"),
        get("cnonce")
    ));
    get("response") == expected
}

/// A challenge the camera switches to, refusing the request that
/// triggered it. `stale` is the parameter exactly as the camera writes it.
struct NewChallenge {
    realm: &'static str,
    nonce: String,
    stale: &'static str,
}

/// One request as the camera judged it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    method: String,
    realm: String,
    nonce: String,
    nc: String,
    /// Authorized for the challenge in force when it arrived.
    valid: bool,
    status: u16,
}

struct CameraState {
    realm: &'static str,
    nonce: String,
    /// Challenges that were in force before: a request answering one of
    /// them is refused with stale=true.
    retired: Vec<(&'static str, String)>,
    seen: Vec<Seen>,
}

type Rule = dyn FnMut(&RawRequest) -> Option<NewChallenge> + Send;

/// A camera requiring Digest MD5 (qop=auth) on every request. `rule` sees
/// each correctly authorized request and may refuse it with a new challenge
/// (nonce renewed, realm changed); from then on only the new one is valid.
struct Camera {
    server: ScriptedServer,
    state: Arc<Mutex<CameraState>>,
}

impl Camera {
    fn start(
        rule: impl FnMut(&RawRequest) -> Option<NewChallenge> + Send + 'static,
        reply: fn(&RawRequest) -> Vec<u8>,
    ) -> Camera {
        let state = Arc::new(Mutex::new(CameraState {
            realm: REALM,
            nonce: "nonce-1".into(),
            retired: Vec::new(),
            seen: Vec::new(),
        }));
        let rule: Mutex<Box<Rule>> = Mutex::new(Box::new(rule));
        let s = state.clone();
        let server = ScriptedServer::start(move |req| {
            let mut state = s.lock().unwrap();
            let valid = authorized(req, state.realm, &state.nonce);
            let (status, response) = if !valid {
                let stale = state
                    .retired
                    .iter()
                    .any(|(realm, nonce)| authorized(req, realm, nonce));
                // This camera writes stale="FALSE" quoted in its first
                // challenge and stale=true unquoted when a nonce expired.
                let stale = if stale {
                    ", stale=true"
                } else {
                    ", stale=\"FALSE\""
                };
                let challenge = challenge(state.realm, &state.nonce, stale);
                (401, unauthorized(req, &challenge))
            } else if let Some(next) = (rule.lock().unwrap())(req) {
                let retired = (state.realm, std::mem::take(&mut state.nonce));
                state.retired.push(retired);
                state.realm = next.realm;
                state.nonce = next.nonce;
                let challenge = challenge(state.realm, &state.nonce, next.stale);
                (401, unauthorized(req, &challenge))
            } else {
                (200, reply(req))
            };
            let seen = Seen {
                at: Instant::now(),
                method: req.method.clone(),
                realm: digest_param(req, "realm"),
                nonce: digest_param(req, "nonce"),
                nc: digest_param(req, "nc"),
                valid,
                status,
            };
            state.seen.push(seen);
            response
        });
        Camera { server, state }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    fn seen(&self, method: &str) -> Vec<Seen> {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .filter(|s| s.method == method)
            .cloned()
            .collect()
    }

    /// Requests of `method` answered 200 with `nonce`.
    fn accepted(&self, method: &str, nonce: &str) -> usize {
        self.seen(method)
            .iter()
            .filter(|s| s.status == 200 && s.nonce == nonce)
            .count()
    }

    fn log(&self) -> String {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .map(|s| {
                format!(
                    "{} realm={} nonce={} nc={} valid={} -> {}\n",
                    s.method, s.realm, s.nonce, s.nc, s.valid, s.status
                )
            })
            .collect()
    }
}

fn challenge(realm: &str, nonce: &str, stale: &str) -> String {
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\"{stale}")
}

fn unauthorized(req: &RawRequest, challenge: &str) -> Vec<u8> {
    rtsp_response(
        req.cseq(),
        401,
        "Unauthorized",
        &[("WWW-Authenticate", challenge)],
        b"",
    )
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                   a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";

/// A playing camera's answers once authorized; a 2 s session timeout so
/// that keep-alives come every second.
fn play_reply(req: &RawRequest) -> Vec<u8> {
    let cseq = req.cseq();
    match req.method.as_str() {
        "OPTIONS" => rtsp_response(
            cseq,
            200,
            "OK",
            &[(
                "Public",
                "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, SET_PARAMETER, TEARDOWN",
            )],
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
                ("Session", &format!("{SESSION};timeout=2")),
            ],
            b"",
        ),
        "GET_PARAMETER" => rtsp_response(
            cseq,
            200,
            "OK",
            &[("Session", SESSION), ("Content-Type", "text/parameters")],
            b"position: 42\r\n",
        ),
        _ => rtsp_response(cseq, 200, "OK", &[("Session", SESSION)], b""),
    }
}

/// A recording server's answers once authorized (rtspsink), the same 2 s
/// session timeout.
fn record_reply(req: &RawRequest) -> Vec<u8> {
    let cseq = req.cseq();
    match req.method.as_str() {
        "OPTIONS" => rtsp_response(
            cseq,
            200,
            "OK",
            &[(
                "Public",
                "OPTIONS, ANNOUNCE, SETUP, RECORD, GET_PARAMETER, TEARDOWN",
            )],
            b"",
        ),
        "SETUP" => rtsp_response(
            cseq,
            200,
            "OK",
            &[
                ("Transport", req.header("Transport").unwrap_or_default()),
                ("Session", &format!("{SESSION};timeout=2")),
            ],
            b"",
        ),
        _ => rtsp_response(cseq, 200, "OK", &[("Session", SESSION)], b""),
    }
}

fn credentials() -> [(&'static str, glib::Value); 3] {
    [
        ("protocols", "tcp".to_value()),
        ("user-id", USER.to_value()),
        ("user-pw", PASSWORD.to_value()),
    ]
}

/// Refuse the first request of `method` with a renewed nonce and
/// stale=true (unquoted), as the camera of the field report does.
fn renew_nonce_on_first(method: &'static str) -> impl FnMut(&RawRequest) -> Option<NewChallenge> {
    let mut fired = false;
    move |req| {
        (req.method == method && !std::mem::replace(&mut fired, true)).then(|| NewChallenge {
            realm: REALM,
            nonce: "NEW".into(),
            stale: ", stale=true",
        })
    }
}

/// The refused request, its retry and the next one: the retry followed at
/// once (well before the next keep-alive, 1 s later) with the new nonce.
fn check_renewed(camera: &Camera, method: &str) {
    let seen = camera.seen(method);
    let log = camera.log();
    assert!(seen.len() >= 2, "{log}");
    let (refused, retry) = (&seen[0], &seen[1]);
    assert_eq!(
        (refused.status, refused.nonce.as_str()),
        (401, "nonce-1"),
        "{log}"
    );
    assert_eq!(
        (retry.status, retry.nonce.as_str(), retry.nc.as_str()),
        (200, "NEW", "00000001"),
        "retried with the new nonce and a correct answer:\n{log}"
    );
    assert!(
        retry.at - refused.at < Duration::from_millis(500),
        "the retry waited {:?}",
        retry.at - refused.at
    );
}

/// The camera renews its nonce on the first keep-alive (401, stale=true):
/// rtspsrc2 retries that keep-alive at once with the new nonce, and the
/// session goes on (the next keep-alive succeeds with it).
#[test]
fn rtspsrc2_keep_alive_adopts_a_renewed_nonce() {
    init();
    let camera = Camera::start(renew_nonce_on_first("GET_PARAMETER"), play_reply);
    let (pipeline, _, _) = common::rtspsrc2_player(&camera.url("/live"), &credentials());
    let outcome = wait_until(&pipeline, Duration::from_secs(8), || {
        camera.accepted("GET_PARAMETER", "NEW") >= 2
    });
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Stopped, "{}", camera.log());
    check_renewed(&camera, "GET_PARAMETER");
    let next = &camera.seen("GET_PARAMETER")[2];
    assert_eq!((next.status, next.nc.as_str()), (200, "00000002"));
}

/// Emit a parameter action signal and wait (bounded) for the promise.
fn get_parameter(src: &gst::Element) -> gst::Structure {
    let promise = gst::Promise::new();
    let queued =
        src.emit_by_name::<bool>("get-parameter", &[&"position", &None::<String>, &promise]);
    assert!(queued);
    let done = wait_for(Duration::from_secs(5), || {
        promise.wait() != gst::PromiseResult::Pending
    });
    assert!(done, "no reply to get-parameter");
    promise.get_reply().expect("a reply").to_owned()
}

fn playing(camera: &Camera, pipeline: &gst::Pipeline) {
    let outcome = wait_until(pipeline, Duration::from_secs(5), || {
        camera.accepted("PLAY", "nonce-1") == 1
    });
    assert_eq!(outcome, Outcome::Stopped, "{}", camera.log());
}

/// The get-parameter action signal meets a renewed nonce: the request is
/// retried with it and the promise gets the camera's real answer.
#[test]
fn rtspsrc2_get_parameter_signal_adopts_a_renewed_nonce() {
    init();
    let camera = Camera::start(renew_nonce_on_first("GET_PARAMETER"), play_reply);
    let mut props = credentials().to_vec();
    props.push(("do-rtsp-keep-alive", false.to_value()));
    let (pipeline, src, _) = common::rtspsrc2_player(&camera.url("/live"), &props);
    playing(&camera, &pipeline);
    let reply = get_parameter(&src);
    stop_pipeline(&pipeline);
    assert_eq!(reply.get::<u32>("rtsp-code").unwrap(), 200, "{reply}");
    assert_eq!(reply.get::<String>("body").unwrap(), "position: 42\r\n");
    check_renewed(&camera, "GET_PARAMETER");
}

/// A camera that refuses every GET_PARAMETER with yet another challenge:
/// one retry per request, never a loop; the promise gets the 401.
#[test]
fn rtspsrc2_refusing_camera_gets_one_retry_per_request() {
    init();
    for stale in [", stale=true", ""] {
        let mut count = 0;
        let camera = Camera::start(
            move |req| {
                count += 1;
                (req.method == "GET_PARAMETER").then(|| NewChallenge {
                    realm: REALM,
                    nonce: format!("n{count}"),
                    stale,
                })
            },
            play_reply,
        );
        let mut props = credentials().to_vec();
        props.push(("do-rtsp-keep-alive", false.to_value()));
        let (pipeline, src, _) = common::rtspsrc2_player(&camera.url("/live"), &props);
        playing(&camera, &pipeline);
        let reply = get_parameter(&src);
        let second = get_parameter(&src);
        stop_pipeline(&pipeline);
        assert_eq!(reply.get::<u32>("rtsp-code").unwrap(), 401, "{reply}");
        assert_eq!(second.get::<u32>("rtsp-code").unwrap(), 401, "{second}");
        let seen = camera.seen("GET_PARAMETER");
        assert_eq!(seen.len(), 4, "two tries per request:\n{}", camera.log());
        assert!(seen[1].valid, "the retry answers the new challenge");
    }
}

/// TEARDOWN refused with a new realm and nonce (no stale): the credentials
/// are known to work, so TEARDOWN is retried once with the new challenge.
#[test]
fn rtspsrc2_teardown_answers_a_new_challenge() {
    init();
    let mut fired = false;
    let camera = Camera::start(
        move |req| {
            (req.method == "TEARDOWN" && !std::mem::replace(&mut fired, true)).then(|| {
                NewChallenge {
                    realm: "IP Camera(rebooted)",
                    nonce: "N2".into(),
                    stale: "",
                }
            })
        },
        play_reply,
    );
    let (pipeline, _, _) = common::rtspsrc2_player(&camera.url("/live"), &credentials());
    playing(&camera, &pipeline);
    stop_pipeline(&pipeline);
    let done = wait_for(Duration::from_secs(3), || {
        camera.accepted("TEARDOWN", "N2") == 1
    });
    assert!(done, "{}", camera.log());
    let teardowns = camera.seen("TEARDOWN");
    assert_eq!(teardowns.len(), 2, "{}", camera.log());
    assert_eq!(teardowns[1].realm, "IP Camera(rebooted)");
    assert!(teardowns[1].valid);
}

/// rtspsink after RECORD: a renewed nonce on the first keep-alive is
/// adopted at once, and TEARDOWN refused with a new realm is retried.
#[test]
fn rtspsink_keep_alive_and_teardown_adopt_new_challenges() {
    init();
    let mut renew = renew_nonce_on_first("GET_PARAMETER");
    let mut torn = false;
    let camera = Camera::start(
        move |req| {
            if req.method == "TEARDOWN" && !std::mem::replace(&mut torn, true) {
                return Some(NewChallenge {
                    realm: "IP Camera(rebooted)",
                    nonce: "N2".into(),
                    stale: "",
                });
            }
            renew(req)
        },
        record_reply,
    );
    let pipeline = parse_pipeline(&format!(
        "audiotestsrc is-live=true ! alawenc ! rtppcmapay ! \
         rtspsink location={} protocols=tcp user-id={USER} user-pw=\"{PASSWORD}\"",
        camera.url("/publish")
    ));
    let outcome = wait_until(&pipeline, Duration::from_secs(8), || {
        camera.accepted("GET_PARAMETER", "NEW") >= 2
    });
    assert_eq!(outcome, Outcome::Stopped, "{}", camera.log());
    check_renewed(&camera, "GET_PARAMETER");
    stop_pipeline(&pipeline);
    let done = wait_for(Duration::from_secs(3), || {
        camera.accepted("TEARDOWN", "N2") == 1
    });
    assert!(done, "{}", camera.log());
}

/// PCMA (G.711 A-law) RTP packets of 20 ms on interleaved channel 0: any
/// payload decodes, so the player's counters show that media flows.
fn pcma_packets() -> impl FnMut() -> Option<Vec<u8>> + Send {
    let mut seq: u16 = 0;
    move || {
        let frame = common::pcma_frame(seq);
        seq = seq.wrapping_add(1);
        (seq < 500).then_some(frame)
    }
}

/// The control of the SDP is the request URL's last segment and there is
/// no Content-Base: `rtsp://h/live/streamid=0` + `streamid=0`. This server
/// never answers a SETUP for `…/streamid=0/streamid=0`; RFC 3986 resolution
/// gives `…/live/streamid=0`, which it answers: it must play at once.
#[test]
fn control_equal_to_the_last_segment_plays_at_once() {
    init();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
               m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:streamid=0\r\n";
    let server = ScriptedServer::start_with(move |req| match req.method.as_str() {
        "SETUP" if req.uri.ends_with("/live/streamid=0/streamid=0") => Reply::Send(Vec::new()),
        "DESCRIBE" => Reply::Send(rtsp_response(
            req.cseq(),
            200,
            "OK",
            &[("Content-Type", "application/sdp")],
            sdp.as_bytes(),
        )),
        "PLAY" => Reply::SendThenStream(
            play_reply(req),
            Duration::from_millis(20),
            Box::new(pcma_packets()),
        ),
        _ => Reply::Send(play_reply(req)),
    });
    let location = server.url("/live/streamid=0");
    let (pipeline, _, counters) =
        common::rtspsrc2_player(&location, &[("protocols", "tcp".to_value())]);
    let started = Instant::now();
    let outcome = wait_until(&pipeline, Duration::from_secs(8), || {
        counters.audio.count() >= 5
    });
    let took = started.elapsed();
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Stopped, "{:?}", server.methods());
    assert!(took < Duration::from_secs(3), "audio after {took:?}");
    let setups: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "SETUP")
        .map(|r| r.uri)
        .collect();
    assert_eq!(setups, vec![location]);
}

/// The usual join is answered with an error (500 here, not only 400/404):
/// the RFC 3986 join is tried at once.
#[test]
fn control_join_answered_with_an_error_tries_the_other_at_once() {
    init();
    let sdp = SDP.replace("trackID=0", "track1");
    let server = ScriptedServer::start(move |req| match req.method.as_str() {
        "SETUP" if req.uri.ends_with("/live/ch1/track1") => {
            rtsp_response(req.cseq(), 500, "Internal Server Error", &[], b"")
        }
        "DESCRIBE" => rtsp_response(
            req.cseq(),
            200,
            "OK",
            &[("Content-Type", "application/sdp")],
            sdp.as_bytes(),
        ),
        _ => play_reply(req),
    });
    let (pipeline, _, _) =
        common::rtspsrc2_player(&server.url("/live/ch1"), &[("protocols", "tcp".to_value())]);
    let outcome = wait_until(&pipeline, Duration::from_secs(5), || {
        server.methods().iter().any(|m| m == "PLAY")
    });
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Stopped, "{:?}", server.methods());
    let setups: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "SETUP")
        .map(|r| r.uri)
        .collect();
    assert_eq!(
        setups,
        vec![server.url("/live/ch1/track1"), server.url("/live/track1")]
    );
}

const UNSUPPORTED_SCHEMES: [&str; 2] = ["rtsph", "rtspsh"];

/// Setting an rtsph:// or rtspsh:// (HTTP tunnel) location on the
/// publisher, which does not tunnel, fails
/// (URI handler error, property left unset), the URI handler does not
/// claim those schemes, and PLAYING fails with a clear error without ever
/// opening a connection: asking for TLS must never give plaintext.
fn refuses_unsupported_schemes(factory: &str, launch: impl Fn(&str) -> String) {
    init();
    let protocols = gst::ElementFactory::find(factory)
        .unwrap()
        .uri_protocols()
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>();
    assert!(protocols.iter().any(|p| p == "rtsp"), "{protocols:?}");
    for scheme in UNSUPPORTED_SCHEMES {
        assert!(!protocols.iter().any(|p| p == scheme), "{protocols:?}");
        let listener = HangingServer::start();
        let location = format!("{scheme}://user:s3cret@127.0.0.1:{}/x", listener.port());

        let pipeline = parse_pipeline(&launch(&location));
        let bus = pipeline.bus().unwrap();
        let started = pipeline.set_state(gst::State::Playing);
        // Nothing may connect (before the fix: plaintext RTSP); a bounded
        // look for what must not happen.
        let connected = wait_for(Duration::from_millis(300), || listener.connections() > 0);
        assert!(!connected, "{factory} connected for {scheme}://");
        assert!(started.is_err(), "{factory} started with {scheme}://");
        let error = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error])
            .expect("an error message");
        let gst::MessageView::Error(error) = error.view() else {
            unreachable!()
        };
        let text = error.error().to_string();
        assert!(
            text.contains(&format!("{scheme}://")) && text.contains("not supported"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        stop_pipeline(&pipeline);
        assert_eq!(listener.connections(), 0);

        let element = gst::ElementFactory::make(factory).build().unwrap();
        let handler = element.dynamic_cast_ref::<gst::URIHandler>().unwrap();
        let err = handler.set_uri(&location).unwrap_err();
        assert!(err.matches(gst::URIError::UnsupportedProtocol), "{err}");
        // GStreamer answers from the protocol list before asking the element.
        assert!(err.message().contains(scheme), "{err}");
        assert!(!err.message().contains("s3cret"), "{err}");
        element.set_property("location", &location);
        assert_eq!(element.property::<Option<String>>("location"), None);
    }
}

#[test]
fn rtspsink_refuses_tunnel_schemes() {
    refuses_unsupported_schemes("rtspsink", |location| {
        format!(
            "audiotestsrc is-live=true ! alawenc ! rtppcmapay ! rtspsink location=\"{location}\""
        )
    });
}
