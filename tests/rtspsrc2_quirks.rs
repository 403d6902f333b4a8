//! A scripted "camera" that bends RTSP the way real ones do (docs/QUIRKS.md
//! names this test under each quirk it covers), streaming real H.264 RTP
//! over TCP: rtspsrc2 must play it.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Outcome, RawRequest, Reply, ScriptedServer, interleaved_frame, stop_pipeline, wait_until,
};
use gst::prelude::*;

fn init() {
    common::init_plugin();
}

/// Responses written the way various cameras do: bare `\n` line endings,
/// odd header case, padded values, SDP out of order with garbage
/// attributes, Transport with a short hex ssrc and quoted mode.
fn quirky_reply(req: &RawRequest, frames: &Arc<Mutex<VecDeque<Vec<Vec<u8>>>>>) -> Reply {
    let cseq = req.cseq();
    match req.method.as_str() {
        // Bare \n, "Cseq" in odd case, value with trailing space and tab.
        "OPTIONS" => Reply::Send(
            format!("RTSP/1.0 200 OK\nCseq: {cseq} \t\nPublic: OPTIONS,DESCRIBE, SETUP ,PLAY,TEARDOWN\n\n").into_bytes(),
        ),
        // No Content-Type; Content-Base without trailing slash; SDP with
        // a=tool before t=, trailing spaces, an empty fmtp, a=framerate:0S,
        // no o= line, a media section we cannot use, trailing blank line.
        "DESCRIBE" => {
            let sdp = "v=0\r\ns=Camera\r\na=tool:LIVE555 Streaming Media\r\nt=0 0\r\na=control:*\r\n\
                       m=video 0 RTP/AVP 96 \r\na=rtpmap:96 H264/90000 \r\na=fmtp:96\r\n\
                       a=framerate:0S\r\na=control:trackID=1\r\n\
                       m=application 0 RTP/AVP 107\r\na=control:trackID=2\r\n\r\n";
            Reply::Send(
                format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: {}\r\ncontent-length: {}\r\n\r\n{sdp}",
                    req.uri,
                    sdp.len()
                )
                .into_bytes(),
            )
        }
        "SETUP" => {
            assert!(req.uri.ends_with("/trackID=1"), "control joined with '/': {}", req.uri);
            Reply::Send(
                format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession:        708345999;timeout=60\r\n\
                     Transport: RTP/AVP/TCP;interleaved=0-1;ssrc= d6d6627;mode=\"play\"\r\n\r\n"
                )
                .into_bytes(),
            )
        }
        // RTP-Info for a stream that was not set up; a stray CRLF before
        // the first interleaved packet; data on channel 5 nobody set up.
        "PLAY" => {
            let mut reply = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 708345999\r\n\
                 RTP-Info: url=trackID=1;seq=0;rtptime=0,url=trackID=9;seq=5;rtptime=1\r\n\r\n\r\n"
            )
            .into_bytes();
            reply.extend(interleaved_frame(5, b"not a stream"));
            let frames = frames.clone();
            Reply::SendThenStream(
                reply,
                Duration::from_millis(33),
                Box::new(move || {
                    let packets = frames.lock().unwrap().pop_front()?;
                    let mut out = b"\r\n".to_vec();
                    for packet in packets {
                        out.extend(interleaved_frame(0, &packet));
                    }
                    Some(out)
                }),
            )
        }
        _ => Reply::Send(format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n").into_bytes()),
    }
}

#[test]
fn quirky_camera_plays_over_tcp() {
    init();
    let frames = Arc::new(Mutex::new(VecDeque::from(common::h264_rtp_frames(60, 600))));
    let total = frames.lock().unwrap().len() as u64;
    assert!(total >= 59, "encoded {total} frames");
    let f = frames.clone();
    let server = ScriptedServer::start_with(move |req| quirky_reply(req, &f));

    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url("/live"), &[("protocols", "tcp".to_value())]);
    let c = counters.clone();
    let outcome = wait_until(&pipeline, Duration::from_secs(15), move || {
        c.video.count() >= 30
    });
    let caps = src.static_pad("stream_0").and_then(|p| p.current_caps());
    let pads = src.src_pads().len();
    stop_pipeline(&pipeline);
    assert_eq!(
        outcome,
        Outcome::Stopped,
        "decoded {}",
        counters.video.count()
    );
    let caps = caps.expect("stream_0 has caps");
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<String>("encoding-name").unwrap(), "H264");
    assert!(
        s.get::<String>("a-framerate").is_err(),
        "garbage framerate dropped: {caps}"
    );
    assert_eq!(pads, 1, "the unusable application stream is skipped");
}
