//! rtspsrc2 live playback against real servers on loopback: each codec
//! mix over TCP, UDP and multicast, frames decoded and counted, caps checked
//! against the server's SDP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::{McastStream, MulticastServer, TestServer, paths};
use common::{MediaCounters, Outcome, decode_and_count, stop_pipeline, wait_until};
use gst::prelude::*;
use rtspclient_protocol::caps::{CapsValue, streams_from_sdp};
use rtspclient_protocol::sdp::SessionDescription;

const FRAMES: u64 = 10;
const WAIT: Duration = Duration::from_secs(20);

fn init() {
    common::init_plugin();
}

/// A pipeline `rtspsrc2 location=URL` whose every pad is decoded and counted.
struct Player {
    pipeline: gst::Pipeline,
    src: gst::Element,
    counters: MediaCounters,
    caps: Arc<Mutex<Vec<(String, gst::Caps)>>>,
}

impl Player {
    fn new(url: &str, protocols: &str) -> Player {
        init();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", url)
            .property("protocols", protocols)
            .property("tcp-timeout", 5_000_000u64)
            .build()
            .expect("rtspsrc2");
        pipeline.add(&src).unwrap();
        let counters = MediaCounters::new();
        let caps = Arc::new(Mutex::new(Vec::new()));
        let (weak, c, seen) = (pipeline.downgrade(), counters.clone(), caps.clone());
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            seen.lock()
                .unwrap()
                .push((pad.name().to_string(), gst::Caps::new_any()));
            decode_and_count(&pipeline, pad, &c).expect("decodebin");
        });
        Player {
            pipeline,
            src,
            counters,
            caps,
        }
    }

    fn play_until(&self, video: u64, audio: u64) -> Outcome {
        let c = self.counters.clone();
        wait_until(&self.pipeline, WAIT, move || {
            c.video.count() >= video && c.audio.count() >= audio
        })
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        stop_pipeline(&self.pipeline);
    }
}

/// DESCRIBE by hand to get the SDP the server gives.
fn describe(url: &str) -> SessionDescription {
    let authority = url.trim_start_matches("rtsp://").split('/').next().unwrap();
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
    )
    .unwrap();
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed before the SDP");
        data.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(split) = text.find("\r\n\r\n") {
            let length: usize = text[..split]
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Content-Length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("Content-Length");
            if data.len() >= split + 4 + length {
                return SessionDescription::parse(&data[split + 4..split + 4 + length]).unwrap();
            }
        }
    }
}

/// Every field of the SDP-derived description must be in the pad caps with
/// the same value (ssrc/seqnum-base/clock-base come on top, from SETUP/PLAY).
fn assert_caps_match_sdp(url: &str, seen: &[(String, gst::Caps)]) {
    let sdp = describe(url);
    let expected = streams_from_sdp(&sdp);
    assert_eq!(
        seen.len(),
        expected.len(),
        "one pad per SDP stream: {seen:?}"
    );
    for (name, caps) in seen {
        let index: usize = name.strip_prefix("stream_").unwrap().parse().unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(s.name(), "application/x-rtp");
        for (field, value) in &expected[index].payloads[0].fields {
            match value {
                CapsValue::Str(v) => assert_eq!(
                    s.get::<String>(field.as_str()).ok().as_ref(),
                    Some(v),
                    "{field} in {caps}"
                ),
                CapsValue::Int(v) => assert_eq!(
                    s.get::<i32>(field.as_str()).ok(),
                    Some(*v),
                    "{field} in {caps}"
                ),
                CapsValue::UInt(v) => assert_eq!(
                    s.get::<u32>(field.as_str()).ok(),
                    Some(*v),
                    "{field} in {caps}"
                ),
            }
        }
    }
}

fn check(path: &str, protocols: &str, encodings: &[&str], audio: bool) {
    let server = TestServer::start();
    let url = server.url(path);
    let player = Player::new(&url, protocols);
    let outcome = player.play_until(FRAMES, if audio { FRAMES } else { 0 });
    assert_eq!(outcome, Outcome::Stopped, "{path} over {protocols}");
    assert_eq!(
        player.caps.lock().unwrap().len(),
        encodings.len(),
        "pads added"
    );
    let seen: Vec<(String, gst::Caps)> = player
        .src
        .src_pads()
        .into_iter()
        .map(|pad| {
            (
                pad.name().to_string(),
                pad.current_caps().expect("negotiated caps"),
            )
        })
        .collect();
    let mut names: Vec<String> = seen
        .iter()
        .map(|(_, c)| {
            c.structure(0)
                .unwrap()
                .get::<String>("encoding-name")
                .unwrap()
        })
        .collect();
    names.sort();
    let mut want: Vec<String> = encodings.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    assert_caps_match_sdp(&url, &seen);
    assert_eq!(player.counters.other.count(), 0);
}

#[test]
fn h264_over_tcp() {
    check(paths::H264, "tcp", &["H264"], false);
}

#[test]
fn h264_over_udp() {
    check(paths::H264, "udp", &["H264"], false);
}

#[test]
fn h264_aac_over_tcp() {
    check(paths::H264_AAC, "tcp", &["H264", "MPEG4-GENERIC"], true);
}

#[test]
fn h264_aac_over_udp() {
    check(paths::H264_AAC, "udp", &["H264", "MPEG4-GENERIC"], true);
}

#[test]
fn h264_opus_over_tcp() {
    check(paths::H264_OPUS, "tcp", &["H264", "OPUS"], true);
}

#[test]
fn h264_opus_over_udp() {
    check(paths::H264_OPUS, "udp", &["H264", "OPUS"], true);
}

#[test]
fn h265_over_tcp() {
    check(paths::H265, "tcp", &["H265"], false);
}

#[test]
fn h265_over_udp() {
    check(paths::H265, "udp", &["H265"], false);
}

#[test]
fn mjpeg_over_tcp() {
    check(paths::MJPEG, "tcp", &["JPEG"], false);
}

/// Multicast from a sender a local receiver can join (gst-rtsp-server's own
/// multicast cannot be received on the same host, see the fixture).
fn multicast(streams: &[McastStream], encodings: &[&str], audio: bool) {
    init();
    let server = MulticastServer::start_streams(streams, None);
    let player = Player::new(&server.url(), "udp-mcast");
    let outcome = player.play_until(FRAMES, if audio { FRAMES } else { 0 });
    assert_eq!(outcome, Outcome::Stopped);
    let setups: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "SETUP")
        .collect();
    assert_eq!(setups.len(), streams.len());
    assert!(
        setups
            .iter()
            .all(|s| s.header("Transport").unwrap().contains("multicast"))
    );
    let mut names: Vec<String> = player
        .src
        .src_pads()
        .iter()
        .map(|p| {
            p.current_caps()
                .unwrap()
                .structure(0)
                .unwrap()
                .get::<String>("encoding-name")
                .unwrap()
        })
        .collect();
    names.sort();
    assert_eq!(names, encodings);
}

#[test]
fn h264_over_multicast() {
    multicast(&[McastStream::h264(0)], &["H264"], false);
}

#[test]
fn h265_over_multicast() {
    multicast(&[McastStream::h265(0)], &["H265"], false);
}

#[test]
fn h264_opus_over_multicast() {
    multicast(
        &[McastStream::h264(0), McastStream::opus(1)],
        &["H264", "OPUS"],
        true,
    );
}

/// TCP-only mount with udp preferred: the server answers 461 to the UDP
/// SETUP and the element moves on to TCP.
#[test]
fn tcp_only_mount_falls_back_from_udp_setup() {
    let server = TestServer::start();
    let player = Player::new(&server.url(paths::H264_TCP), "udp,tcp");
    assert_eq!(player.play_until(FRAMES, 0), Outcome::Stopped);
}
