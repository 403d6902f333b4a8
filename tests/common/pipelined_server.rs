//! Scripted RTSP 2.0 servers for the pipelined SETUP tests
//! (tests/rtsp2_pipelined.rs, tests/rtsp2_pipelined_faults.rs): PCMA
//! streams over TCP whose session-less SETUPs (the pipelined ones) go as
//! a [`Sessionless`] mode says; sessions are `s1`, `s2`...

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use super::{RawRequest, Reply, ScriptedServer, rtsp_response, wait_until};

pub const PIPELINED: &str = "Pipelined-Requests";
const WAIT: Duration = Duration::from_secs(30);

/// What a scripted server does with a SETUP that names no session.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Sessionless {
    /// Makes a new session of each (ignores `Pipelined-Requests`).
    NewSession,
    /// Refuses all but the first with 454 (Session Not Found).
    RefuseAfterFirst,
    /// Refuses all but the first with 454, each naming a new session.
    RefuseInNewSession,
    /// Challenges any SETUP without credentials (Basic), DESCRIBE not.
    Challenge,
    /// Honours the header (all in `s1`) but answers the second SETUP
    /// before the first.
    OutOfOrder,
    /// A new session of each, but never answers the last stream's.
    LastUnanswered,
    /// A new session of each; the TEARDOWN of `s2` is answered only
    /// with the PLAY answer, before it, and the PLAY answer names no
    /// session.
    LateTeardown,
}

fn in_2_0(mut reply: Vec<u8>) -> Vec<u8> {
    reply[..8].copy_from_slice(b"RTSP/2.0");
    reply
}

fn sdp(streams: usize) -> String {
    let mut sdp =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Pipe\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n".to_owned();
    for n in 0..streams {
        sdp.push_str(&format!(
            "m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:track{n}\r\n"
        ));
    }
    sdp
}

/// A 2.0 server of `streams` PCMA streams over TCP whose PLAY streams
/// on channels 0 and 2; session-less SETUPs go as `mode` says.
pub fn pipelined_server(streams: usize, mode: Sessionless) -> ScriptedServer {
    let sdp = sdp(streams);
    let sessions = Arc::new(AtomicUsize::new(0));
    let sessionless = Arc::new(AtomicUsize::new(0));
    // An answer written later (OutOfOrder, LateTeardown).
    let held: Arc<Mutex<Vec<u8>>> = Arc::default();
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let new_session = || format!("s{}", sessions.fetch_add(1, Ordering::SeqCst) + 1);
        let reply = match req.method.as_str() {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")],
                b"",
            ),
            "DESCRIBE" => super::describe_answer(req, &sdp),
            "SETUP" => {
                let nth = match req.header("Session") {
                    Some(session) => return Reply::Send(in_2_0(super::setup_answer(req, session))),
                    None => sessionless.fetch_add(1, Ordering::SeqCst),
                };
                match mode {
                    Sessionless::Challenge if req.header("Authorization").is_none() => {
                        rtsp_response(
                            cseq,
                            401,
                            "Unauthorized",
                            &[("WWW-Authenticate", "Basic realm=\"pipe\"")],
                            b"",
                        )
                    }
                    Sessionless::RefuseAfterFirst if nth > 0 => {
                        rtsp_response(cseq, 454, "Session Not Found", &[], b"")
                    }
                    Sessionless::RefuseInNewSession if nth > 0 => rtsp_response(
                        cseq,
                        454,
                        "Session Not Found",
                        &[("Session", &new_session())],
                        b"",
                    ),
                    Sessionless::OutOfOrder if nth == 0 => {
                        *held.lock().unwrap() = in_2_0(super::setup_answer(req, "s1"));
                        return Reply::Send(Vec::new());
                    }
                    Sessionless::OutOfOrder => {
                        let mut out = in_2_0(super::setup_answer(req, "s1"));
                        out.append(&mut held.lock().unwrap());
                        return Reply::Send(out);
                    }
                    Sessionless::LastUnanswered if nth + 1 == streams => {
                        return Reply::Send(Vec::new());
                    }
                    _ => super::setup_answer(req, &new_session()),
                }
            }
            "PLAY" => {
                let mut session = req.header("Session").unwrap_or_default().to_owned();
                let mut out = std::mem::take(&mut *held.lock().unwrap());
                if mode == Sessionless::LateTeardown {
                    session.clear();
                }
                let headers: &[(&str, &str)] = if session.is_empty() {
                    &[]
                } else {
                    &[("Session", &session)]
                };
                out.extend(in_2_0(rtsp_response(cseq, 200, "OK", headers, b"")));
                let mut seq: u16 = 0;
                return Reply::SendThenStream(
                    out,
                    Duration::from_millis(10),
                    Box::new(move || {
                        seq = seq.wrapping_add(1);
                        let mut frame = super::pcma_frame(seq / 2);
                        // Every other packet on the second stream's channel.
                        frame[1] = if seq.is_multiple_of(2) { 0 } else { 2 };
                        (seq < 2000).then_some(frame)
                    }),
                );
            }
            _ => {
                let session = req.header("Session").unwrap_or_default();
                let reply = in_2_0(rtsp_response(cseq, 200, "OK", &[("Session", session)], b""));
                if mode == Sessionless::LateTeardown && session == "s2" {
                    *held.lock().unwrap() = reply;
                    return Reply::Send(Vec::new());
                }
                return Reply::Send(reply);
            }
        };
        Reply::Send(in_2_0(reply))
    })
}

/// The requests `server` got (client answers left out), and each as a
/// line (method, Session, Pipelined-Requests) for assertion messages.
pub fn requests_of(server: &ScriptedServer) -> (Vec<RawRequest>, Vec<String>) {
    let requests: Vec<RawRequest> = server
        .requests()
        .into_iter()
        .filter(|r| !r.method.starts_with("RTSP/"))
        .collect();
    let lines = requests
        .iter()
        .map(|r| {
            format!(
                "{} {:?} {:?}",
                r.method,
                r.header("Session"),
                r.header(PIPELINED)
            )
        })
        .collect();
    (requests, lines)
}

/// Plays from a two-stream [`pipelined_server`] in `mode` over RTSP 2.0
/// over TCP, with `props` set: media flows, with no error; the first two
/// SETUPs went pipelined (one id, no session). Returns the requests the
/// server got.
pub fn plays_from(mode: Sessionless, props: &[(&str, gst::glib::Value)]) -> Vec<RawRequest> {
    super::init_plugin();
    let server = pipelined_server(2, mode);
    let mut all = vec![("protocols", "tcp".to_value())];
    all.extend(props.iter().cloned());
    let (pipeline, src, counters) = super::rtspsrc2_player(&server.url("/two"), &all);
    src.set_property_from_str("default-rtsp-version", "2-0");
    if mode == Sessionless::Challenge {
        src.set_property("user-id", "u");
        src.set_property("user-pw", "p");
    }
    let outcome = wait_until(&pipeline, WAIT, || counters.audio.count() >= 20);
    super::stop_pipeline(&pipeline);
    let (requests, lines) = requests_of(&server);
    assert!(outcome.is_stopped(), "{mode:?}: {outcome:?} {lines:?}");
    let setups: Vec<&RawRequest> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert!(setups.len() >= 2, "{lines:?}");
    assert!(setups[0].header(PIPELINED).is_some(), "{lines:?}");
    assert_eq!(setups[0].header(PIPELINED), setups[1].header(PIPELINED));
    assert!(setups[..2].iter().all(|s| s.header("Session").is_none()));
    assert!(requests.iter().all(|r| r.connection == 0), "{lines:?}");
    requests
}
