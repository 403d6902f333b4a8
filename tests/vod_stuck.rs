//! VOD servers that fail a seek, on the first connection only:
//! - one stops answering: the PAUSE goes out and nothing comes back. No
//!   data is due while a PAUSE is on its way, so the data timeout cannot
//!   tell; the element gives the request `tcp-timeout`, then takes the
//!   session as stuck and recovers it like any other (reconnection);
//! - one refuses the seek's PLAY with 503 (gst-rtsp-server does so once
//!   its media failed): the session ends and reconnection recovers it.
//!
//! Either way the new session's PLAY carries the seek and playback goes
//! on, with no error.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{RawRequest, Reply, ScriptedServer, rtsp_response, wait_for};
use gst::prelude::*;

const SESSION: &str = "5EEC";
const TCP_TIMEOUT_US: u64 = 1_000_000;

#[derive(Clone, Copy)]
enum Failure {
    /// PAUSE is never answered.
    SilentPause,
    /// A PLAY with a `Range` after the first is answered 503.
    RefusedSeek,
    /// Every PLAY of the seek (`Range: npt=5`) is answered 503, on every
    /// connection.
    AlwaysRefusedSeek,
}

/// 10 s of PCMA on demand, interleaved; on the first connection the seek
/// fails as `failure` says.
fn failing_vod_server(failure: Failure) -> ScriptedServer {
    failing_server(failure, "npt=0-10")
}

/// [`failing_vod_server`] with another SDP `a=range`.
fn failing_server(failure: Failure, range: &'static str) -> ScriptedServer {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Stuck\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         a=range:{range}\r\n\
         m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:track0\r\n"
    );
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let session = [("Session", SESSION)];
        let reply = match req.method.as_str() {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN")],
                b"",
            ),
            "DESCRIBE" => common::describe_answer(req, &sdp),
            "SETUP" => common::setup_answer(req, SESSION),
            "PAUSE" if req.connection == 0 && matches!(failure, Failure::SilentPause) => Vec::new(),
            "PLAY"
                if req.connection == 0
                    && req.index > 3
                    && matches!(failure, Failure::RefusedSeek) =>
            {
                rtsp_response(cseq, 503, "Service Unavailable", &session, b"")
            }
            "PLAY"
                if req.header("Range").is_some_and(|r| r.starts_with("npt=5"))
                    && matches!(failure, Failure::AlwaysRefusedSeek) =>
            {
                rtsp_response(cseq, 503, "Service Unavailable", &session, b"")
            }
            "PLAY" => {
                let mut seq: u16 = 0;
                return Reply::SendThenStream(
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
        Reply::Send(reply)
    })
}

#[test]
fn an_unanswered_pause_of_a_seek_ends_in_a_reconnection_that_keeps_the_seek() {
    seek_fails_then_reconnects(Failure::SilentPause);
}

#[test]
fn a_refused_seek_play_reconnects() {
    seek_fails_then_reconnects(Failure::RefusedSeek);
}

/// A seek whose PLAY the server refuses on every connection: after three
/// refused sessions the element goes on without it (from where its output
/// stopped), with a warning, instead of asking for ever.
#[test]
fn a_seek_refused_again_and_again_is_given_up() {
    let server = failing_vod_server(Failure::AlwaysRefusedSeek);
    let (pipeline, src, buffers, messages) = player(&server);
    src.set_property("reconnect-backoff-min", 50u32);
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || *buffers.lock().unwrap() > 20),
        "no playback"
    );
    assert!(src.send_event(seek_to_5()));
    let plays = || {
        server
            .requests()
            .into_iter()
            .filter(|r| r.method == "PLAY")
            .map(|r| r.header("Range").unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(Duration::from_secs(20), || plays()
            .last()
            .is_some_and(|r| !r.starts_with("npt=5") && plays().len() > 2)),
        "the seek was not given up: PLAY ranges {:?}",
        plays()
    );
    let ranges = plays();
    println!("PLAY ranges: {ranges:?}");
    let refused = ranges.iter().filter(|r| r.starts_with("npt=5")).count();
    assert_eq!(refused, 4, "one refusal in the session, three first PLAYs");
    let before = *buffers.lock().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || *buffers.lock().unwrap()
            > before + 20),
        "no playback after giving the seek up"
    );
    let warned = messages.lock().unwrap().iter().any(|m| match m.view() {
        gst::MessageView::Warning(w) => w.error().to_string().contains("refused the seek"),
        _ => false,
    });
    assert!(warned, "no warning about the seek");
    common::stop_pipeline(&pipeline);
}

/// ONVIF replay of a recording described only by a `clock=` range (no
/// NPT range, as cameras describe recordings): a replay seek whose PLAY is
/// refused with 503 is carried into the reconnected session's first PLAY,
/// and the streams it held flow again once that PLAY is answered.
#[test]
fn a_refused_replay_seek_plays_after_the_reconnection() {
    let server = failing_server(
        Failure::RefusedSeek,
        "clock=19000101T000000Z-19000101T000010Z",
    );
    let (pipeline, src, buffers, messages) = player(&server);
    src.set_property("onvif-mode", true);
    src.set_property("reconnect-backoff-min", 50u32);
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || *buffers.lock().unwrap() > 20),
        "no playback"
    );
    assert!(src.send_event(gst::event::Seek::new(
        1.0,
        gst::SeekFlags::FLUSH,
        gst::SeekType::Set,
        gst::ClockTime::from_seconds(1),
        gst::SeekType::Set,
        gst::ClockTime::from_seconds(5),
    )));
    let play_ranges = || {
        server
            .requests()
            .into_iter()
            .filter(|r| r.connection == 1 && r.method == "PLAY")
            .map(|r| r.header("Range").unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(Duration::from_secs(10), || !play_ranges().is_empty()),
        "no new session after the refused seek"
    );
    assert_eq!(
        play_ranges()[0],
        "clock=19000101T000001.000Z-19000101T000005.000Z"
    );
    let before = *buffers.lock().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || *buffers.lock().unwrap()
            > before + 20),
        "the seek's streams stayed held after the new session's PLAY"
    );
    let errors: Vec<_> = messages
        .lock()
        .unwrap()
        .iter()
        .filter(|m| matches!(m.view(), gst::MessageView::Error(_)))
        .cloned()
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    common::stop_pipeline(&pipeline);
}

fn seek_to_5() -> gst::Event {
    gst::event::Seek::new(
        1.0,
        gst::SeekFlags::FLUSH,
        gst::SeekType::Set,
        gst::ClockTime::from_seconds(5),
        gst::SeekType::None,
        gst::ClockTime::NONE,
    )
}

type Messages = Arc<Mutex<Vec<gst::Message>>>;

/// A pipeline with `rtspsrc2` (TCP, `tcp-timeout` 1 s) playing `server`
/// into fakesinks: the buffers counted on its pads, and its bus messages.
fn player(server: &ScriptedServer) -> (gst::Pipeline, gst::Element, Arc<Mutex<u64>>, Messages) {
    common::init_plugin();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtspsrc2")
        .property("location", server.url("/stuck"))
        .property_from_str("protocols", "tcp")
        .property("tcp-timeout", TCP_TIMEOUT_US)
        .build()
        .unwrap();
    pipeline.add(&src).unwrap();
    let buffers = Arc::new(Mutex::new(0u64));
    let (weak, counted) = (pipeline.downgrade(), buffers.clone());
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let sink = gst::ElementFactory::make("fakesink").build().unwrap();
        pipeline.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        let counted = counted.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            *counted.lock().unwrap() += 1;
            gst::PadProbeReturn::Ok
        });
    });
    let messages: Messages = Arc::default();
    let seen = messages.clone();
    pipeline.bus().unwrap().set_sync_handler(move |_, message| {
        seen.lock().unwrap().push(message.clone());
        gst::BusSyncReply::Drop
    });
    (pipeline, src, buffers, messages)
}

fn seek_fails_then_reconnects(failure: Failure) {
    let server = failing_vod_server(failure);
    let (pipeline, src, buffers, messages) = player(&server);
    pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || *buffers.lock().unwrap() > 20),
        "no playback"
    );

    assert!(src.send_event(seek_to_5()));
    let requests = || server.requests();
    assert!(
        wait_for(Duration::from_secs(5), || requests()
            .iter()
            .any(|r| r.method == "PAUSE")),
        "no PAUSE for the seek"
    );
    let failed = Instant::now();
    assert!(
        wait_for(Duration::from_secs(10), || requests()
            .iter()
            .any(|r| r.connection == 1 && r.method == "PLAY")),
        "no new session after the failed seek: {:?}",
        requests()
            .iter()
            .map(|r| format!("{} {}", r.connection, r.method))
            .collect::<Vec<_>>()
    );
    let waited = failed.elapsed();
    println!("new session's PLAY {waited:?} after the PAUSE of the failed seek");
    if matches!(failure, Failure::SilentPause) {
        assert!(
            waited >= Duration::from_micros(TCP_TIMEOUT_US) - Duration::from_millis(50),
            "gave up on the PAUSE after {waited:?}, before tcp-timeout"
        );
    } else {
        let refused = requests()
            .iter()
            .filter(|r| r.connection == 0 && r.method == "PLAY")
            .count();
        assert_eq!(refused, 2, "PLAYs on the first connection");
    }
    let play = requests()
        .into_iter()
        .find(|r| r.connection == 1 && r.method == "PLAY")
        .unwrap();
    let range = play.header("Range").unwrap_or_default().to_owned();
    assert!(
        range.starts_with("npt=5"),
        "new session's PLAY Range: {range}"
    );

    let before = *buffers.lock().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || *buffers.lock().unwrap()
            > before + 20),
        "no playback after the reconnection"
    );
    let messages = messages.lock().unwrap();
    let reconnects = messages
        .iter()
        .filter(|m| {
            m.structure()
                .is_some_and(|s| s.name() == "rtspclient-reconnect")
        })
        .count();
    assert!(reconnects >= 1, "no rtspclient-reconnect message");
    let errors: Vec<_> = messages
        .iter()
        .filter(|m| matches!(m.view(), gst::MessageView::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    drop(messages);
    common::stop_pipeline(&pipeline);
}
