//! rtspsink against an independent receiver: ffmpeg in RTSP listen mode
//! (`ffmpeg -rtsp_flags listen -i rtsp://… -c copy out.mkv`) takes the
//! ANNOUNCE/SETUP/RECORD, writes what arrives to a file and stops at
//! TEARDOWN; ffprobe then checks the codecs and the packet counts.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ffmpeg::FfmpegReceiver;
use common::server::launch;
use common::{Control, FrameCounter, Outcome, parse_pipeline, run_pipeline_until, stop_pipeline};
use gst::prelude::*;

const WAIT: Duration = Duration::from_secs(20);

fn init() {
    common::init();
    gstrtspclient::plugin_register_static().expect("register plugin");
}

/// ffmpeg receives and ffprobe checks the file: both come with the
/// `ffmpeg` package, and without them these tests fail.
fn require_ffmpeg() {
    common::tools::require_program("ffmpeg", "ffmpeg");
    common::tools::require_program("ffprobe", "ffmpeg");
}

/// (codec_type, codec_name, packets) per stream of `file`.
fn probe(file: &PathBuf) -> Vec<(String, String, u64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .arg("stream=codec_type,codec_name,nb_read_packets")
        .args(["-of", "default=nw=1"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut streams = Vec::new();
    let mut current = (String::new(), String::new(), 0u64);
    for line in text.lines() {
        match line.split_once('=') {
            Some(("codec_name", v)) => current.1 = v.to_string(),
            Some(("codec_type", v)) => current.0 = v.to_string(),
            Some(("nb_read_packets", v)) => {
                current.2 = v.parse().unwrap_or(0);
                streams.push(std::mem::take(&mut current));
            }
            _ => {}
        }
    }
    streams
}

/// Publish `branches` to a fresh ffmpeg and return (sent per stream,
/// probe of the file).
fn publish_to_ffmpeg(
    protocols: &str,
    branches: &[String],
) -> (Vec<u64>, Vec<(String, String, u64)>) {
    init();
    require_ffmpeg();
    let mut ffmpeg = FfmpegReceiver::start("mkv");
    let mut line = format!(
        "rtspsink name=sink location={} protocols={protocols} tcp-timeout=5000000 ",
        ffmpeg.url
    );
    for (i, branch) in branches.iter().enumerate() {
        line.push_str(&format!("{branch} ! sink.sink_{i} "));
    }
    let pipeline = parse_pipeline(&line);
    let sink = pipeline.by_name("sink").unwrap();
    let sent: Vec<FrameCounter> = (0..branches.len())
        .map(|i| {
            let counter = FrameCounter::new();
            counter.attach_to_element(&sink, &format!("sink_{i}"));
            counter
        })
        .collect();
    let started = Instant::now();
    let outcome = run_pipeline_until(&pipeline, WAIT, |_| Control::Continue);
    let took = started.elapsed();
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "publishing to ffmpeg failed");
    assert!(
        ffmpeg.wait_exit(Duration::from_secs(10)),
        "ffmpeg did not finish after TEARDOWN"
    );
    let sent: Vec<u64> = sent.iter().map(|c| c.count()).collect();
    let probed = probe(&ffmpeg.output);
    eprintln!("ffmpeg over {protocols}: sent {sent:?}, file has {probed:?}, EOS after {took:?}");
    (sent, probed)
}

fn video(encoder: &str, n: u32) -> String {
    format!(
        "videotestsrc num-buffers={n} pattern=ball ! {} ! {encoder} ! queue",
        launch::VIDEO_CAPS
    )
}

fn x264() -> &'static str {
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 threads=1"
}

fn audio(encoder: &str, buffers: u32) -> String {
    format!(
        "audiotestsrc num-buffers={buffers} samplesperbuffer=960 ! \
         audio/x-raw,rate=48000,channels=2 ! audioconvert ! audioresample ! {encoder} ! queue"
    )
}

#[test]
fn ffmpeg_records_h264_and_aac_over_tcp() {
    let aac = format!("{} ! aacparse", launch::aac_encoder());
    let (sent, probed) = publish_to_ffmpeg("tcp", &[video(x264(), 60), audio(&aac, 100)]);
    assert_eq!(probed.len(), 2, "{probed:?}");
    assert_eq!(
        (probed[0].0.as_str(), probed[0].1.as_str()),
        ("video", "h264")
    );
    assert_eq!(
        (probed[1].0.as_str(), probed[1].1.as_str()),
        ("audio", "aac")
    );
    assert_eq!(probed[0].2, sent[0], "every video frame in the file");
    assert_eq!(probed[1].2, sent[1], "every AAC frame in the file");
}

#[test]
fn ffmpeg_records_h265_and_opus_over_tcp() {
    // A missing x265enc fails in parse_pipeline, naming its package.
    let x265 = "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! h265parse";
    let (sent, probed) = publish_to_ffmpeg("tcp", &[video(x265, 45), audio("opusenc", 75)]);
    assert_eq!(probed.len(), 2, "{probed:?}");
    assert_eq!(
        (probed[0].0.as_str(), probed[0].1.as_str()),
        ("video", "hevc")
    );
    assert_eq!(
        (probed[1].0.as_str(), probed[1].1.as_str()),
        ("audio", "opus")
    );
    assert_eq!(probed[0].2, sent[0], "every video frame in the file");
    assert_eq!(probed[1].2, sent[1], "every Opus packet in the file");
}

#[test]
fn ffmpeg_records_h264_over_udp() {
    let (sent, probed) = publish_to_ffmpeg("udp", &[video(x264(), 60)]);
    assert_eq!(probed.len(), 1, "{probed:?}");
    assert_eq!(
        (probed[0].0.as_str(), probed[0].1.as_str()),
        ("video", "h264")
    );
    // UDP promises nothing; on loopback nearly everything arrives.
    assert!(
        probed[0].2 * 10 >= sent[0] * 9 && probed[0].2 <= sent[0],
        "{} of {} frames",
        probed[0].2,
        sent[0]
    );
}
