//! What `rtspsink` publishes arrives intact: the access units (audio
//! frames) that enter the payloader are compared byte for byte with what
//! the receiving gst-rtsp-server depayloads, in order, over TCP and UDP on
//! loopback; H.264/H.265 are also decoded on both sides and compared
//! frame by frame. Against `ffmpeg -rtsp_flags listen` the decoded frames
//! of its file are compared with a decode of what was sent.
//!
//! The H.264 and H.265 streams have several slices per picture and go
//! through payloaders with `config-interval=-1`: on GStreamer 1.22 those
//! put parameter sets between the slices, which `rtspsink` must remove
//! (docs/QUIRKS.md, "Parameter sets between the slices of one picture").

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::access_units::Codec;
use common::ffmpeg::FfmpegReceiver;
use common::media_hash::{
    Capture, compare, decode_checksums, parameter_set_after_slice, wait_for_units,
};
use common::server::{Mount, TestServer};
use common::{Control, Outcome, parse_pipeline, run_pipeline_until, stop_pipeline};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const VIDEO: &str = "videotestsrc num-buffers=45 pattern=ball ! \
     video/x-raw,format=I420,width=320,height=240,framerate=30/1";
const H264: &str = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 \
     sliced-threads=true threads=4 ! video/x-h264,stream-format=byte-stream,alignment=au";
const H265: &str = "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 \
     option-string=slices=3 ! video/x-h265,stream-format=byte-stream,alignment=au";
const AUDIO: &str = "audiotestsrc num-buffers=40 samplesperbuffer=960 wave=sine ! \
     audio/x-raw,rate=48000,channels=2";

/// One publishing case: the branch up to the captured access units, the
/// step after them (a payloader, or nothing for encoded input) and the
/// server's receiving chain.
struct Case {
    codec: Codec,
    encode: String,
    payload: &'static str,
    receive: &'static str,
}

fn h264(payload: &'static str) -> Case {
    Case {
        codec: Codec::H264,
        encode: format!("{VIDEO} ! {H264}"),
        payload,
        receive: "rtph264depay name=depay0 ! video/x-h264,stream-format=byte-stream,alignment=au",
    }
}

fn h265() -> Case {
    Case {
        codec: Codec::H265,
        encode: format!("{VIDEO} ! {H265}"),
        payload: "rtph265pay config-interval=-1 ! ",
        receive: "rtph265depay name=depay0 ! video/x-h265,stream-format=byte-stream,alignment=au",
    }
}

fn aac() -> Case {
    Case {
        codec: Codec::Aac,
        encode: format!("{AUDIO} ! avenc_aac ! aacparse"),
        // mpeg4-generic (RFC 3640), what cameras send.
        payload: "rtpmp4gpay ! ",
        receive: "rtpmp4gdepay name=depay0",
    }
}

fn opus() -> Case {
    Case {
        codec: Codec::Opus,
        encode: format!("{AUDIO} ! opusenc"),
        payload: "",
        receive: "rtpopusdepay name=depay0",
    }
}

/// Publish `case` over `protocols` to a gst-rtsp-server RECORD mount and
/// compare what its depayloader put out with what entered the payloader.
fn publish_and_compare(case: Case, protocols: &str) {
    common::init_plugin();
    let path = "/integrity";
    let server = TestServer::builder()
        .mount(Mount::record_launch(
            path,
            format!(
                "{} ! fakesink name=sink0 sync=false async=false",
                case.receive
            ),
            1,
        ))
        .start();
    let factory = server.server().mount_points().unwrap().match_(path).0;
    // TEARDOWN drains the receiving pipeline instead of cutting it off.
    factory.set_eos_shutdown(true);
    let received = Capture::new();
    let r = received.clone();
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().unwrap();
        r.attach_by_name(&bin, "sink0", "sink");
    });

    let pipeline = parse_pipeline(&format!(
        "{} ! identity name=units ! {}rtspsink location={} protocols={protocols}",
        case.encode,
        case.payload,
        server.url(path)
    ));
    let sent = Capture::new();
    sent.attach_by_name(&pipeline, "units", "src");
    let outcome = run_pipeline_until(&pipeline, Duration::from_secs(30), |_| Control::Continue);
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "publishing over {protocols} failed");

    let sent = sent.units();
    assert!(sent.len() >= 30, "only {} units were encoded", sent.len());
    let got = wait_for_units(&received, sent.len(), Duration::from_secs(10));
    let received = received.units();
    eprintln!(
        "{:?} {}over {protocols}: sent {}, received {got}",
        case.codec,
        case.payload,
        sent.len()
    );
    if let Err(difference) = compare(case.codec, &sent, &received) {
        panic!("over {protocols}: {difference}");
    }
    if !matches!(case.codec, Codec::Aac | Codec::Opus) {
        for (i, au) in received.iter().enumerate() {
            if let Some(nal) = parameter_set_after_slice(case.codec, au) {
                panic!("over {protocols}: unit {i} has a parameter set after a slice (NAL {nal})");
            }
        }
        let (ours, theirs) = (
            decode_checksums(case.codec, &sent),
            decode_checksums(case.codec, &received),
        );
        assert_eq!(ours.len(), sent.len(), "every sent unit decodes to a frame");
        assert_eq!(ours, theirs, "decoded frames differ over {protocols}");
    }
}

#[test]
fn h264_multi_slice_rtp_input_tcp() {
    publish_and_compare(h264("rtph264pay config-interval=-1 ! "), "tcp");
}

#[test]
fn h264_multi_slice_rtp_input_udp() {
    publish_and_compare(h264("rtph264pay config-interval=-1 ! "), "udp");
}

/// Encoded input: the element inserts and configures the payloader.
#[test]
fn h264_multi_slice_encoded_input_tcp() {
    publish_and_compare(h264(""), "tcp");
}

#[test]
fn h264_multi_slice_encoded_input_udp() {
    publish_and_compare(h264(""), "udp");
}

/// One slice per picture, and the payloader's other aggregation mode.
#[test]
fn h264_single_slice_tcp_and_udp() {
    for protocols in ["tcp", "udp"] {
        let mut case = h264("rtph264pay config-interval=-1 aggregate-mode=none ! ");
        case.encode = case
            .encode
            .replace("sliced-threads=true threads=4", "threads=1");
        publish_and_compare(case, protocols);
    }
}

#[test]
fn h265_multi_slice_tcp() {
    publish_and_compare(h265(), "tcp");
}

#[test]
fn h265_multi_slice_udp() {
    publish_and_compare(h265(), "udp");
}

#[test]
fn aac_tcp_and_udp() {
    publish_and_compare(aac(), "tcp");
    publish_and_compare(aac(), "udp");
}

#[test]
fn opus_tcp_and_udp() {
    publish_and_compare(opus(), "tcp");
    publish_and_compare(opus(), "udp");
}

/// An independent receiver: ffmpeg writes what it received to a raw H.264
/// file; ffmpeg decodes that file and the units that were sent, and every
/// frame's pixels must match.
#[test]
fn ffmpeg_receives_identical_frames() {
    common::tools::require_program("ffmpeg", "ffmpeg");
    common::init_plugin();
    let dir = TempDir::new("integrity-ffmpeg");
    let mut ffmpeg = FfmpegReceiver::start("h264");
    let url = ffmpeg.url.clone();
    let pipeline = parse_pipeline(&format!(
        "{VIDEO} ! {H264} ! identity name=units ! rtspsink location={url} protocols=tcp"
    ));
    let sent = Capture::new();
    sent.attach_by_name(&pipeline, "units", "src");
    let outcome = run_pipeline_until(&pipeline, Duration::from_secs(30), |_| Control::Continue);
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "publishing to ffmpeg failed");
    assert!(
        ffmpeg.wait_exit(Duration::from_secs(10)),
        "ffmpeg did not finish its file after TEARDOWN"
    );

    let source = dir.path().join("sent.h264");
    let mut file = std::fs::File::create(&source).unwrap();
    for unit in sent.units() {
        file.write_all(&unit).unwrap();
    }
    drop(file);
    let (ours, theirs) = (
        ffmpeg_frame_md5s(&source),
        ffmpeg_frame_md5s(&ffmpeg.output),
    );
    assert_eq!(ours.len(), sent.len(), "ffmpeg decodes every sent unit");
    let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    eprintln!(
        "ffmpeg: sent {} frames, received {}, identical {same}",
        ours.len(),
        theirs.len()
    );
    assert_eq!(ours, theirs, "ffmpeg's decode of what it received differs");
}

/// One MD5 per decoded frame (`ffmpeg -f framemd5`).
fn ffmpeg_frame_md5s(file: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(file)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg could not decode {}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit(',').next().map(|md5| md5.trim().to_string()))
        .collect()
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
