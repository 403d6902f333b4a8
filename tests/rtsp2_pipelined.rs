//! RTSP 2.0 pipelined SETUP (RFC 7826 §13.3, §18.33) in `rtspsrc2`: the
//! SETUPs of all streams go back-to-back with one `Pipelined-Requests`
//! id. Shown against gst-rtsp-server 1.22 behind a proxy that holds the
//! first SETUP answer until it has seen every SETUP (a client that waits
//! for each answer cannot get there), with and without authentication;
//! against scripted 2.0 servers that ignore the header (a stray session,
//! torn down) or refuse the pipelined SETUPs (401, 454): playback goes on
//! after the sequential fallback; and RTSP 1.0 never carries the header.

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

use std::time::Duration;

use common::pipelined_server::{PIPELINED, Sessionless, plays_from};
use common::recording_proxy::{RecordingProxy, SentRequest};
use common::server::{AuthScheme, PASSWORD, TestServer, USER};
use common::{RawRequest, wait_until};
use gst::prelude::*;
use integrity_play::capture::all_received;
use integrity_play::compare::compare_exact;
use integrity_play::media::{Stream, mount_captured_with};
use integrity_play::player::Player;

const WAIT: Duration = Duration::from_secs(30);
/// How long the proxy holds the first SETUP answer at most: a client that
/// waits for it before its next SETUP is released after this.
const HOLD: Duration = Duration::from_secs(3);

/// The requests of `method` the client sent, in order.
fn sent(proxy: &RecordingProxy, method: &str) -> Vec<SentRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == method)
        .collect()
}

/// The `Session` ids in the server's answers (timeout stripped), in order.
fn answered_sessions(proxy: &RecordingProxy) -> Vec<String> {
    proxy
        .to_client()
        .split("\r\nSession: ")
        .skip(1)
        .filter_map(|rest| rest.split(['\r', ';']).next())
        .map(|id| id.trim().to_owned())
        .collect()
}

/// H.264 and AAC from gst-rtsp-server over RTSP 2.0 and `protocols`,
/// the mount protected by `auth` if given: both SETUPs went before the
/// first answer, with one `Pipelined-Requests` id and no `Session`; one
/// server session served both streams; every access unit arrived
/// unchanged.
fn plays_pipelined(protocols: &str, auth: Option<AuthScheme>) {
    common::init_plugin();
    let streams = [Stream::H264, Stream::Aac];
    let path = "/pipelined";
    let server = TestServer::builder().start();
    let sent_units = mount_captured_with(&server, path, &streams, |mount| match auth {
        Some(scheme) => mount.auth(scheme),
        None => mount,
    });
    let proxy = RecordingProxy::start_holding_answers(server.port(), "SETUP", 2, HOLD);
    let player = Player::new(&proxy.url(path), protocols, "light", &streams);
    let src = player.source();
    src.set_property_from_str("default-rtsp-version", "2-0");
    if auth.is_some() {
        src.set_property("user-id", USER);
        src.set_property("user-pw", PASSWORD);
    }
    let got = player.captures.clone();
    let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent_units, &got));
    let live_sessions = server.n_sessions();
    assert!(outcome.is_stopped(), "{protocols}: {outcome:?}");
    assert!(player.errors().is_empty(), "{:?}", player.errors());
    for (i, (s, g)) in sent_units.iter().zip(&got).enumerate() {
        s.with(|s| g.with(|g| compare_exact(s, g)))
            .unwrap_or_else(|err| panic!("{protocols}, stream {i}: {err}"));
    }

    assert_eq!(
        proxy.requests_before_first_answer(),
        Some(2),
        "the second SETUP waited for the first answer: {:?}",
        proxy.request_lines()
    );
    let setups = sent(&proxy, "SETUP");
    assert_eq!(setups.len(), 2, "{:?}", proxy.request_lines());
    let ids: Vec<Option<&str>> = setups.iter().map(|s| s.header(PIPELINED)).collect();
    assert!(
        ids[0].is_some_and(|id| id.parse::<u32>().is_ok()),
        "{ids:?}"
    );
    assert_eq!(ids[0], ids[1]);
    assert!(setups.iter().all(|s| s.header("Session").is_none()));
    if auth.is_some() {
        assert!(setups.iter().all(|s| s.header("Authorization").is_some()));
    }
    let play = &sent(&proxy, "PLAY")[0];
    assert_eq!(play.header(PIPELINED), None);
    let sessions = answered_sessions(&proxy);
    assert!(sessions.len() >= 3, "{sessions:?}");
    assert!(sessions.iter().all(|s| *s == sessions[0]), "{sessions:?}");
    assert_eq!(play.header("Session"), Some(sessions[0].as_str()));
    assert_eq!(live_sessions, 1);
}

#[test]
fn setups_pipelined_over_tcp() {
    plays_pipelined("tcp", None);
}

#[test]
fn setups_pipelined_over_udp() {
    plays_pipelined("udp", None);
}

#[test]
fn setups_pipelined_with_digest_auth() {
    plays_pipelined("tcp", Some(AuthScheme::Digest));
}

#[test]
fn setups_pipelined_with_basic_auth() {
    plays_pipelined("udp", Some(AuthScheme::Basic));
}

/// A TCP-only mount asked for UDP first: gst-rtsp-server 1.22 refuses the
/// first pipelined SETUP with 461 and, having bound the id to the session
/// it then removed, the second with 454. The first stream's SETUP sent
/// again alone gets 461 too, so the round moves to TCP, pipelined again
/// with a new id, and plays bit-exact in one session.
#[test]
fn a_461_to_pipelined_setups_moves_to_the_next_transport() {
    common::init_plugin();
    let streams = [Stream::H264, Stream::Aac];
    let path = "/tcp-only";
    let server = TestServer::builder().start();
    let sent_units = mount_captured_with(&server, path, &streams, |mount| mount.tcp_only());
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(&proxy.url(path), "udp,tcp", "light", &streams);
    player
        .source()
        .set_property_from_str("default-rtsp-version", "2-0");
    let got = player.captures.clone();
    let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent_units, &got));
    assert!(outcome.is_stopped(), "{outcome:?}");
    for (i, (s, g)) in sent_units.iter().zip(&got).enumerate() {
        s.with(|s| g.with(|g| compare_exact(s, g)))
            .unwrap_or_else(|err| panic!("stream {i}: {err}"));
    }
    let answers: Vec<String> = proxy
        .to_client()
        .split("RTSP/2.0 ")
        .skip(1)
        .map(|a| a.chars().take(3).collect())
        .collect();
    // OPTIONS, DESCRIBE; 461 and 454 to the pipelined UDP SETUPs; 461 to
    // the first sent again; the two TCP SETUPs, PLAY.
    assert_eq!(
        answers[..8],
        ["200", "200", "461", "454", "461", "200", "200", "200"],
        "{:?}",
        proxy.request_lines()
    );
    let setups = sent(&proxy, "SETUP");
    let ids: Vec<Option<&str>> = setups.iter().map(|s| s.header(PIPELINED)).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids[0].is_some() && ids[0] == ids[1], "{ids:?}");
    assert_eq!(ids[2], None, "{ids:?}");
    assert!(
        ids[3].is_some() && ids[3] == ids[4] && ids[3] != ids[0],
        "{ids:?}"
    );
    assert!(setups[3..].iter().all(|s| {
        s.header("Transport")
            .is_some_and(|t| t.starts_with("RTP/AVP/TCP"))
    }));
}

/// RTSP 1.0 (the default): no `Pipelined-Requests`, and the second SETUP
/// waits for the first answer (the proxy's hold runs out first), in the
/// session that answer named.
#[test]
fn rtsp1_setups_wait_and_carry_no_pipelined_requests() {
    common::init_plugin();
    let streams = [Stream::H264, Stream::Aac];
    let path = "/sequential";
    let server = TestServer::builder().start();
    let sent_units = mount_captured_with(&server, path, &streams, |mount| mount);
    let proxy = RecordingProxy::start_holding_answers(server.port(), "SETUP", 2, HOLD);
    let player = Player::new(&proxy.url(path), "tcp", "light", &streams);
    let got = player.captures.clone();
    let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent_units, &got));
    assert!(outcome.is_stopped(), "{outcome:?}");
    let requests = proxy.requests();
    assert!(requests.len() >= 5, "{:?}", proxy.request_lines());
    assert!(
        requests.iter().all(|r| r.header(PIPELINED).is_none()),
        "{requests:?}"
    );
    assert_eq!(proxy.requests_before_first_answer(), Some(1));
    let setups = sent(&proxy, "SETUP");
    assert!(setups[1].header("Session").is_some(), "{setups:?}");
}

// ---------------------------------------------------------------------------
// Scripted 2.0 servers that do not take the pipelined SETUPs
// ---------------------------------------------------------------------------

/// Plays from a scripted server in `mode`: what was sent again after
/// the pipelined pair went without the header.
fn plays_after_fallback(mode: Sessionless) -> Vec<RawRequest> {
    let requests = plays_from(mode, &[]);
    let setups: Vec<&RawRequest> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert!(setups.len() >= 3, "{setups:?}");
    assert!(setups[2..].iter().all(|s| s.header(PIPELINED).is_none()));
    requests
}

/// A server that ignores `Pipelined-Requests` answers the second SETUP in
/// a session of its own: it is torn down before PLAY, the stream set up
/// again in the first session, and both streams play in it.
#[test]
fn a_server_ignoring_pipelining_gets_its_stray_session_torn_down() {
    let requests = plays_after_fallback(Sessionless::NewSession);
    let order: Vec<(&str, Option<&str>)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.header("Session")))
        .collect();
    let at = |wanted: (&str, Option<&str>)| order.iter().position(|o| *o == wanted);
    let stray_teardown = at(("TEARDOWN", Some("s2"))).expect("stray session torn down");
    let resetup = at(("SETUP", Some("s1"))).expect("stream set up again in s1");
    let play = at(("PLAY", Some("s1"))).expect("PLAY in s1");
    assert!(stray_teardown < resetup && resetup < play, "{order:?}");
    // s2 is never used again, and no third session was made.
    assert_eq!(order.iter().filter(|o| o.1 == Some("s2")).count(), 1);
    assert!(!order.iter().any(|o| o.1 == Some("s3")), "{order:?}");
}

/// A server that refuses the session-less second SETUP (454): it is sent
/// again in the first answer's session; nothing to tear down.
#[test]
fn a_refused_pipelined_setup_is_sent_again_in_the_session() {
    let requests = plays_after_fallback(Sessionless::RefuseAfterFirst);
    let setups: Vec<Option<&str>> = requests
        .iter()
        .filter(|r| r.method == "SETUP")
        .map(|r| r.header("Session"))
        .collect();
    assert_eq!(setups, vec![None, None, Some("s1")]);
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "TEARDOWN" && r.header("Session") == Some("s2")),
        "{requests:?}"
    );
}

/// SETUPs challenged while DESCRIBE was not: both pipelined SETUPs get
/// 401, and are sent again one after the other with credentials.
#[test]
fn pipelined_setups_refused_401_are_sent_again_with_credentials() {
    let requests = plays_after_fallback(Sessionless::Challenge);
    let setups: Vec<&RawRequest> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert!(
        setups[..2]
            .iter()
            .all(|s| s.header("Authorization").is_none())
    );
    assert_eq!(setups.len(), 4, "{setups:?}");
    assert!(
        setups[2..]
            .iter()
            .all(|s| s.header("Authorization").is_some())
    );
    assert_eq!(setups[2].header("Session"), None);
    assert_eq!(setups[3].header("Session"), Some("s1"));
}
