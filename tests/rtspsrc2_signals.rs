//! rtspsrc2 signals: select-stream, new-manager, and the GET_PARAMETER /
//! SET_PARAMETER action signals (also while TCP-interleaved data flows).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::{TestServer, paths};
use common::{Outcome, RawRequest, ScriptedServer, rtsp_response, stop_pipeline, wait_until};
use gst::prelude::*;

fn frames(
    pipeline: &gst::Pipeline,
    counters: &common::MediaCounters,
    video: u64,
    audio: u64,
) -> Outcome {
    let c = counters.clone();
    wait_until(pipeline, Duration::from_secs(20), move || {
        c.video.count() >= video && c.audio.count() >= audio
    })
}

#[test]
fn select_stream_can_skip_the_audio() {
    let server = TestServer::start();
    let (pipeline, src, counters) = common::rtspsrc2_player(
        &server.url(paths::H264_OPUS),
        &[("protocols", "tcp".to_value())],
    );
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = asked.clone();
    src.connect("select-stream", false, move |args| {
        let index = args[1].get::<u32>().unwrap();
        let caps = args[2].get::<gst::Caps>().unwrap();
        let media = caps.structure(0).unwrap().get::<String>("media").unwrap();
        a.lock().unwrap().push((index, media.clone()));
        Some((media == "video").to_value())
    });
    assert_eq!(frames(&pipeline, &counters, 10, 0), Outcome::Stopped);
    let pads: Vec<String> = src
        .src_pads()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    stop_pipeline(&pipeline);
    assert_eq!(
        *asked.lock().unwrap(),
        vec![(0, "video".to_string()), (1, "audio".to_string())]
    );
    assert_eq!(pads, vec!["stream_0".to_string()]);
    assert_eq!(counters.audio.count(), 0);
}

#[test]
fn new_manager_hands_out_the_rtpbin() {
    let server = TestServer::start();
    let (pipeline, src, counters) = common::rtspsrc2_player(&server.url(paths::H264), &[]);
    let seen = Arc::new(AtomicBool::new(false));
    let s = seen.clone();
    src.connect("new-manager", false, move |args| {
        let manager = args[1].get::<gst::Element>().unwrap();
        assert_eq!(manager.factory().unwrap().name(), "rtpbin");
        s.store(true, Ordering::SeqCst);
        None
    });
    assert_eq!(frames(&pipeline, &counters, 5, 0), Outcome::Stopped);
    stop_pipeline(&pipeline);
    assert!(seen.load(Ordering::SeqCst));
}

/// Emit an action signal with a promise and wait (bounded) for its reply.
fn call_with_promise(
    src: &gst::Element,
    signal: &str,
    args: &[&dyn ToValue],
) -> (bool, gst::Structure) {
    // Promise::wait() blocks until a reply with no bound; the change
    // function hands the reply over a channel, read with a timeout.
    let (tx, rx) = std::sync::mpsc::channel();
    let promise = gst::Promise::with_change_func(move |reply| {
        let _ = tx.send(reply.map(|r| r.map(|s| s.to_owned())));
    });
    let mut values: Vec<glib::Value> = args.iter().map(|a| a.to_value()).collect();
    values.push(promise.to_value());
    let queued = src
        .emit_by_name_with_values(signal, &values)
        .unwrap()
        .get::<bool>()
        .unwrap();
    let reply = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("promise answered within 5 s")
        .expect("promise replied")
        .expect("reply with a structure");
    (queued, reply)
}

use gst::glib;

#[test]
fn get_parameter_while_tcp_data_flows() {
    let server = TestServer::start();
    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url(paths::H264), &[("protocols", "tcp".to_value())]);
    assert_eq!(frames(&pipeline, &counters, 5, 0), Outcome::Stopped);
    let (queued, reply) = call_with_promise(&src, "get-parameter", &[&"position", &None::<String>]);
    assert!(queued);
    // gst-rtsp-server knows no parameters and says so: the answer travels
    // back through the interleaved stream to the promise.
    assert_eq!(reply.get::<u32>("rtsp-code").unwrap(), 451, "{reply}");
    assert_eq!(
        reply.get::<String>("rtsp-reason").unwrap(),
        "Parameter Not Understood"
    );
    // Data keeps flowing after the request.
    let before = counters.video.count();
    assert_eq!(
        frames(&pipeline, &counters, before + 10, 0),
        Outcome::Stopped
    );
    stop_pipeline(&pipeline);
}

fn scripted_reply(req: &RawRequest) -> Vec<u8> {
    let cseq = req.cseq();
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n";
    match req.method.as_str() {
        "OPTIONS" => rtsp_response(
            cseq,
            200,
            "OK",
            &[(
                "Public",
                "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER",
            )],
            b"",
        ),
        "DESCRIBE" => rtsp_response(
            cseq,
            200,
            "OK",
            &[("Content-Type", "application/sdp")],
            sdp.as_bytes(),
        ),
        "SETUP" => rtsp_response(
            cseq,
            200,
            "OK",
            &[
                ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"),
                ("Session", "s1"),
            ],
            b"",
        ),
        "GET_PARAMETER" => {
            let answer: String = req
                .body_str()
                .lines()
                .filter(|l| !l.is_empty())
                .map(|name| format!("{name}: 42\r\n"))
                .collect();
            rtsp_response(
                cseq,
                200,
                "OK",
                &[("Content-Type", "text/parameters")],
                answer.as_bytes(),
            )
        }
        "SET_PARAMETER" if req.body_str().starts_with("readonly:") => {
            rtsp_response(cseq, 451, "Parameter Not Understood", &[], b"")
        }
        _ => rtsp_response(cseq, 200, "OK", &[("Session", "s1")], b""),
    }
}

#[test]
fn parameter_signals_carry_bodies_and_statuses() {
    let server = ScriptedServer::start(scripted_reply);
    let (pipeline, src, _) =
        common::rtspsrc2_player(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    pipeline.set_state(gst::State::Playing).unwrap();
    server
        .wait_for_method("PLAY", Duration::from_secs(5))
        .expect("PLAY");

    let names = vec!["brightness".to_string(), "contrast".to_string()];
    let (queued, reply) = call_with_promise(&src, "get-parameters", &[&names, &None::<String>]);
    assert!(queued);
    assert_eq!(
        reply.get::<String>("body").unwrap(),
        "brightness: 42\r\ncontrast: 42\r\n"
    );

    let (_, reply) = call_with_promise(
        &src,
        "set-parameter",
        &[&"brightness", &"7", &Some("text/parameters")],
    );
    assert_eq!(reply.get::<u32>("rtsp-code").unwrap(), 200);
    let set = server
        .requests()
        .into_iter()
        .find(|r| r.method == "SET_PARAMETER")
        .expect("SET_PARAMETER sent");
    assert_eq!(set.body_str(), "brightness: 7\r\n");
    assert_eq!(set.header("Content-Type"), Some("text/parameters"));
    assert_eq!(set.header("Session"), Some("s1"));

    let (_, reply) =
        call_with_promise(&src, "set-parameter", &[&"readonly", &"1", &None::<String>]);
    assert_eq!(reply.get::<u32>("rtsp-code").unwrap(), 451);
    assert_eq!(reply.get::<i32>("rtsp-result").unwrap(), -1);
    stop_pipeline(&pipeline);

    // Without a session the signal says so and the promise still gets a reply.
    let (queued, reply) = call_with_promise(&src, "get-parameter", &[&"x", &None::<String>]);
    assert!(!queued);
    assert_eq!(reply.get::<i32>("rtsp-result").unwrap(), -1);
}

#[test]
fn stats_report_transport_packets_and_loss() {
    let server = TestServer::start();
    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url(paths::H264), &[("protocols", "udp".to_value())]);
    assert_eq!(frames(&pipeline, &counters, 30, 0), Outcome::Stopped);
    let stats = src.property::<gst::Structure>("stats");
    stop_pipeline(&pipeline);
    assert_eq!(stats.get::<String>("transport").unwrap(), "udp", "{stats}");
    assert_eq!(stats.get::<u32>("restarts").unwrap(), 0);
    let streams = stats.get::<gst::Array>("streams").unwrap();
    assert_eq!(streams.len(), 1);
    let stream = streams.as_slice()[0].get::<gst::Structure>().unwrap();
    assert!(stream.get::<u64>("packets").unwrap() >= 30, "{stream}");
    assert!(stream.get::<u64>("bytes").unwrap() > 1000);
    // Loopback loses nothing; rtpbin has seen the sender. (rtpsession may
    // count the probation packet as received but not as expected: -1.)
    assert!(stream.get::<i32>("packets-lost").unwrap() <= 0, "{stream}");
}

/// Factory names of the jitterbuffers rtpbin made, and how many sender
/// reports they turned into `handle-sync` (rtpbin's lip-sync input).
fn watch_jitterbuffers(src: &gst::Element) -> (Arc<Mutex<Vec<String>>>, Arc<AtomicU64>) {
    let names = Arc::new(Mutex::new(Vec::new()));
    let syncs = Arc::new(AtomicU64::new(0));
    let (n, s) = (names.clone(), syncs.clone());
    src.connect("new-manager", false, move |args| {
        let manager = args[1].get::<gst::Element>().unwrap();
        let (n, s) = (n.clone(), s.clone());
        manager.connect("new-jitterbuffer", false, move |args| {
            let jitterbuffer = args[1].get::<gst::Element>().unwrap();
            n.lock()
                .unwrap()
                .push(jitterbuffer.factory().unwrap().name().to_string());
            if jitterbuffer.has_property("stats")
                && jitterbuffer.factory().unwrap().name() == "rtplightjitterbuffer"
            {
                let s = s.clone();
                jitterbuffer.connect("handle-sync", false, move |_| {
                    s.fetch_add(1, Ordering::SeqCst);
                    None
                });
            }
            None
        });
        None
    });
    (names, syncs)
}

#[test]
fn rtpbin_gets_the_light_jitterbuffer_and_its_sender_reports() {
    let server = TestServer::start();
    let (pipeline, src, counters) = common::rtspsrc2_player(
        &server.url(paths::H264_AAC),
        &[("protocols", "tcp".to_value())],
    );
    let (names, syncs) = watch_jitterbuffers(&src);
    assert_eq!(frames(&pipeline, &counters, 5, 5), Outcome::Stopped);
    assert_eq!(
        *names.lock().unwrap(),
        ["rtplightjitterbuffer", "rtplightjitterbuffer"]
    );
    // gst-rtsp-server sends its first sender reports within a few seconds;
    // both streams' reports reach their jitterbuffer through rtpbin.
    let s = syncs.clone();
    let outcome = wait_until(&pipeline, Duration::from_secs(15), move || {
        s.load(Ordering::SeqCst) >= 2
    });
    stop_pipeline(&pipeline);
    assert_eq!(
        outcome,
        Outcome::Stopped,
        "handle-sync seen {} times",
        syncs.load(Ordering::SeqCst)
    );
}

#[test]
fn rtpjitterbuffer_on_request_and_for_the_buffer_mode() {
    let server = TestServer::start();
    for (props, expected) in [
        (vec![("jitterbuffer", "rtpjitterbuffer")], "rtpjitterbuffer"),
        (vec![("buffer-mode", "buffer")], "rtpjitterbuffer"),
        (vec![("buffer-mode", "none")], "rtplightjitterbuffer"),
    ] {
        let (pipeline, src, counters) = common::rtspsrc2_player(&server.url(paths::H264), &[]);
        for (name, value) in &props {
            src.set_property_from_str(name, value);
        }
        let (names, _) = watch_jitterbuffers(&src);
        assert_eq!(
            frames(&pipeline, &counters, 5, 0),
            Outcome::Stopped,
            "{props:?}"
        );
        stop_pipeline(&pipeline);
        assert_eq!(*names.lock().unwrap(), [expected], "{props:?}");
    }
}

/// Applications (and the GStreamer tutorials) read the caps in their
/// pad-added handler: they must be there already.
#[test]
fn stream_pads_have_caps_when_added() {
    let server = TestServer::start();
    for protocol in ["tcp", "udp"] {
        let (pipeline, src, counters) = common::rtspsrc2_player(
            &server.url(paths::H264_AAC),
            &[("protocols", protocol.to_value())],
        );
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        src.connect_pad_added(move |_, pad| {
            let encoding = pad.current_caps().and_then(|caps| {
                caps.structure(0)
                    .and_then(|st| st.get::<String>("encoding-name").ok())
            });
            s.lock().unwrap().push(encoding);
        });
        assert_eq!(
            frames(&pipeline, &counters, 5, 5),
            Outcome::Stopped,
            "{protocol}"
        );
        stop_pipeline(&pipeline);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            [Some("H264".to_string()), Some("MPEG4-GENERIC".to_string())],
            "{protocol}"
        );
    }
}
