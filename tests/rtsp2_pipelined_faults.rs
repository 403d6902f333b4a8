//! Pipelined SETUP (RFC 7826 §18.33) against scripted RTSP 2.0 servers
//! that answer in ways the happy path does not see: out of order, a
//! refusal naming a session, a later answer that never comes, a stray
//! session's TEARDOWN answered late; and rtspsink, which does not
//! pipeline its RECORD SETUPs.

mod common;

use std::time::Duration;

use common::pipelined_server::{PIPELINED, Sessionless, pipelined_server, plays_from, requests_of};
use common::{Outcome, RawRequest, Reply, ScriptedServer, rtsp_response, wait_until};
use gst::prelude::*;

const WAIT: Duration = Duration::from_secs(30);
/// A short response timeout (`tcp-timeout`, µs) for the tests that wait
/// for an answer that does not come.
const SHORT_TIMEOUT_US: u64 = 1_000_000;

fn method_sessions(requests: &[RawRequest]) -> Vec<(&str, Option<&str>)> {
    requests
        .iter()
        .map(|r| (r.method.as_str(), r.header("Session")))
        .collect()
}

/// The second SETUP answered before the first (both in `s1`): each
/// answer is matched by its CSeq; nothing sent again, one session.
#[test]
fn answers_out_of_order_are_matched_by_cseq() {
    let requests = plays_from(Sessionless::OutOfOrder, &[]);
    let order = method_sessions(&requests);
    let setups = order.iter().filter(|o| o.0 == "SETUP").count();
    assert_eq!(setups, 2, "{order:?}");
    assert!(
        order.iter().all(|o| o.1.is_none_or(|s| s == "s1")),
        "{order:?}"
    );
    assert!(order.contains(&("PLAY", Some("s1"))), "{order:?}");
}

/// The second pipelined SETUP refused (454) in a session of its own:
/// that session is torn down, the stream set up again in `s1`.
#[test]
fn a_refusal_naming_a_session_gets_it_torn_down() {
    let requests = plays_from(Sessionless::RefuseInNewSession, &[]);
    let order = method_sessions(&requests);
    let at = |wanted: (&str, Option<&str>)| order.iter().position(|o| *o == wanted);
    let stray = at(("TEARDOWN", Some("s2"))).expect("the refusal's session torn down");
    let resetup = at(("SETUP", Some("s1"))).expect("stream set up again in s1");
    let play = at(("PLAY", Some("s1"))).expect("PLAY in s1");
    assert!(stray < play && resetup < play, "{order:?}");
}

/// Three streams, a server ignoring the header: `s1`, `s2`, then no
/// answer to the third. The element fails, but `s2` is torn down first
/// (it was leaked when the error returned before the strays' TEARDOWN).
#[test]
fn a_stray_is_torn_down_when_a_later_answer_times_out() {
    common::init_plugin();
    let server = pipelined_server(3, Sessionless::LastUnanswered);
    let (pipeline, src, _counters) = common::rtspsrc2_player(
        &server.url("/three"),
        &[
            ("protocols", "tcp".to_value()),
            ("tcp-timeout", SHORT_TIMEOUT_US.to_value()),
        ],
    );
    src.set_property_from_str("default-rtsp-version", "2-0");
    let outcome = wait_until(&pipeline, WAIT, || false);
    common::stop_pipeline(&pipeline);
    let (requests, lines) = requests_of(&server);
    assert!(outcome.is_error(), "{outcome:?} {lines:?}");
    let setups: Vec<&RawRequest> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert_eq!(setups.len(), 3, "{lines:?}");
    assert!(setups.iter().all(|s| s.header(PIPELINED).is_some()));
    let order = method_sessions(&requests);
    assert!(order.contains(&("TEARDOWN", Some("s2"))), "{lines:?}");
}

/// A server ignoring the header answers the TEARDOWN of the stray `s2`
/// only after the response timeout, just before a PLAY answer that
/// names no session: that late answer must not make `s2` the session
/// (the final TEARDOWN went to `s2`, leaving `s1`).
#[test]
fn a_late_stray_teardown_answer_is_not_adopted() {
    let requests = plays_from(
        Sessionless::LateTeardown,
        &[("tcp-timeout", SHORT_TIMEOUT_US.to_value())],
    );
    let order = method_sessions(&requests);
    let named_s2 = order.iter().filter(|o| o.1 == Some("s2")).count();
    assert_eq!(named_s2, 1, "only the stray TEARDOWN names s2: {order:?}");
    let last_teardown = order.iter().rev().find(|o| o.0 == "TEARDOWN");
    assert_eq!(last_teardown, Some(&("TEARDOWN", Some("s1"))), "{order:?}");
}

/// A 2.0 RECORD server that takes every request (2.0 ANNOUNCE
/// included), each SETUP in `s1`; ANNOUNCE names no session, so the
/// SETUPs start without one (what pipelining needs).
fn record_server() -> ScriptedServer {
    ScriptedServer::start_with(|req: &RawRequest| {
        let cseq = req.cseq();
        let mut reply = match req.method.as_str() {
            "SETUP" => common::setup_answer(req, "s1"),
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN")],
                b"",
            ),
            "ANNOUNCE" => rtsp_response(cseq, 200, "OK", &[], b""),
            _ => rtsp_response(cseq, 200, "OK", &[("Session", "s1")], b""),
        };
        reply[..8].copy_from_slice(b"RTSP/2.0");
        Reply::Send(reply)
    })
}

/// rtspsink in RTSP 2.0 with two streams: its SETUPs go one after the
/// other as before, the second in the first's session, never pipelined.
#[test]
fn rtspsink_does_not_pipeline_its_setups() {
    common::init_plugin();
    let server = record_server();
    let pipeline = common::parse_pipeline(&format!(
        "audiotestsrc num-buffers=50 ! alawenc ! rtppcmapay ! \
         rtspsink name=sink location={} protocols=tcp default-rtsp-version=2-0 \
         audiotestsrc num-buffers=50 ! alawenc ! rtppcmapay ! sink.",
        server.url("/in")
    ));
    let outcome = common::run_pipeline_until(&pipeline, WAIT, |_| common::Control::Continue);
    common::stop_pipeline(&pipeline);
    let (requests, lines) = requests_of(&server);
    assert_eq!(outcome, Outcome::Eos, "{lines:?}");
    let setups: Vec<&RawRequest> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert_eq!(setups.len(), 2, "{lines:?}");
    assert!(
        setups.iter().all(|s| s.header(PIPELINED).is_none()),
        "{lines:?}"
    );
    assert_eq!(setups[1].header("Session"), Some("s1"), "{lines:?}");
}
