//! Reverse playback of a plain on-demand stream through rtspsrc2, against
//! gst-rtsp-server serving a 10 s MP4 (H.264 with a key frame every
//! second, and AAC): a seek with a negative rate sends `Scale` and a range
//! running backwards, and what the decoders give is the file's frames in
//! reverse order, each at its own presentation time, checked pixel by
//! pixel against a local decode of the same file.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::recording_proxy::RecordingProxy;
use common::server::{Mount, TestServer};
use common::vod_media::{Media, make_media, vod_launch};
use common::wait_for;
use gst::prelude::*;

/// One video frame of the test media (30 fps), in nanoseconds.
const FRAME_NS: u64 = 1_000_000_000 / 30;

/// What a decoded stream gave: (PTS ns, checksum of the pixels) per
/// frame, the segments, flushes and EOS.
#[derive(Default)]
struct Decoded {
    frames: Vec<(u64, u64)>,
    segments: Vec<gst::FormattedSegment<gst::ClockTime>>,
    flushes: u32,
    /// Frames decoded before the last flush.
    before_flush: usize,
    eos: bool,
}

fn checksum(buffer: &gst::BufferRef) -> u64 {
    let map = buffer.map_readable().expect("readable frame");
    let mut hasher = DefaultHasher::new();
    map.as_slice().hash(&mut hasher);
    hasher.finish()
}

/// Log what passes `pad` (a decoder chain's end) into `log`.
fn watch(pad: &gst::Pad, log: Arc<Mutex<Decoded>>, pixels: bool) {
    pad.add_probe(
        gst::PadProbeType::BUFFER
            | gst::PadProbeType::EVENT_DOWNSTREAM
            | gst::PadProbeType::EVENT_FLUSH,
        move |_, info| {
            let mut log = log.lock().unwrap();
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => {
                    if let Some(pts) = buffer.pts() {
                        let sum = if pixels { checksum(buffer) } else { 0 };
                        log.frames.push((pts.nseconds(), sum));
                    }
                }
                Some(gst::PadProbeData::Event(event)) => match event.view() {
                    gst::EventView::Segment(s) => {
                        if let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>() {
                            log.segments.push(segment.clone());
                        }
                    }
                    gst::EventView::FlushStop(_) => {
                        log.flushes += 1;
                        log.before_flush = log.frames.len();
                        log.eos = false;
                    }
                    gst::EventView::Eos(_) => log.eos = true,
                    _ => {}
                },
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

const VIDEO_DECODE: &str =
    "h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! identity name=out";

/// Every frame of the file, decoded locally: (PTS ns, checksum).
fn reference_frames(media: &Media) -> Vec<(u64, u64)> {
    let pipeline = common::parse_pipeline(&format!(
        "filesrc location={} ! qtdemux ! {VIDEO_DECODE} ! fakesink",
        media.file.display()
    ));
    let log = Arc::new(Mutex::new(Decoded::default()));
    let out = pipeline.by_name("out").unwrap().static_pad("src").unwrap();
    watch(&out, log.clone(), true);
    let outcome = common::run_pipeline_until(&pipeline, Duration::from_secs(60), |_| {
        common::Control::Continue
    });
    common::stop_pipeline(&pipeline);
    assert!(matches!(outcome, common::Outcome::Eos), "{outcome:?}");
    let frames = std::mem::take(&mut log.lock().unwrap().frames);
    assert_eq!(frames.len(), 300, "reference decode");
    frames
}

/// The frames since the last flush and the last segment (copied: a
/// failed assertion must not poison the log the probes use).
fn after_flush(log: &Mutex<Decoded>) -> (Vec<(u64, u64)>, gst::FormattedSegment<gst::ClockTime>) {
    let log = log.lock().unwrap();
    let segment = log.segments.last().expect("a segment").clone();
    (log.frames[log.before_flush..].to_vec(), segment)
}

struct Player {
    pipeline: gst::Pipeline,
    video: Arc<Mutex<Decoded>>,
    audio: Arc<Mutex<Decoded>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Player {
    fn new(url: &str, jitterbuffer: &str) -> Player {
        common::init_plugin();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", url)
            .build()
            .unwrap();
        src.set_property_from_str("protocols", "tcp");
        src.set_property_from_str("jitterbuffer", jitterbuffer);

        pipeline.add(&src).unwrap();
        let video = Arc::new(Mutex::new(Decoded::default()));
        let audio = Arc::new(Mutex::new(Decoded::default()));
        let (weak, logs) = (pipeline.downgrade(), (video.clone(), audio.clone()));

        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let media = pad
                .current_caps()
                .and_then(|c| c.structure(0)?.get::<String>("media").ok())
                .unwrap_or_default();
            let (chain, log, pixels) = match media.as_str() {
                "video" => (format!("rtph264depay ! {VIDEO_DECODE}"), &logs.0, true),
                _ => (
                    "rtpmp4gdepay ! aacparse ! avdec_aac ! identity name=out".to_string(),
                    &logs.1,
                    false,
                ),
            };
            let bin = gst::parse::bin_from_description(
                &format!("queue ! {chain} ! fakesink sync=false"),
                true,
            )
            .unwrap();
            let out = bin.by_name("out").unwrap().static_pad("src").unwrap();
            watch(&out, log.clone(), pixels);
            pipeline.add(&bin).unwrap();
            bin.sync_state_with_parent().unwrap();
            pad.link(&bin.static_pad("sink").unwrap()).unwrap();
        });
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = errors.clone();
        let weak = pipeline.downgrade();
        pipeline.bus().unwrap().set_sync_handler(move |_, message| {
            match message.view() {
                gst::MessageView::Error(e) => {
                    seen.lock()
                        .unwrap()
                        .push(format!("{} ({:?})", e.error(), e.debug()))
                }
                // What applications do (gst-launch-1.0, gst-play-1.0),
                // away from the streaming thread that posted it.
                gst::MessageView::Latency(_) => {
                    let weak = weak.clone();
                    std::thread::spawn(move || {
                        if let Some(pipeline) = weak.upgrade() {
                            let _ = pipeline.recalculate_latency();
                        }
                    });
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        Player {
            pipeline,
            video,
            audio,
            errors,
        }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        common::stop_pipeline(&self.pipeline);
    }
}

/// The frames after a seek must be the file's frames from where the seek
/// went, each of them, in the seek's direction (`step` 1 forward, -1 in
/// reverse), each at its own time: every frame's pixels are a frame of
/// the file, whose PTS is the frame's within one frame, by the same
/// offset for all, within `jitter_ns` (a server's `Range` and RTP-Info can
/// be a fraction of a frame apart: docs/QUIRKS.md "Reverse playback on
/// gst-rtsp-server"; forward, arrival times jitter).
/// Returns the PTS of the first and last frame (s) and the offset (ms).
fn assert_frames(
    reference: &[(u64, u64)],
    frames: &[(u64, u64)],
    step: i64,
    jitter_ns: u64,
) -> (f64, f64, f64) {
    assert!(frames.len() > 30, "only {} frames", frames.len());
    let mut shown = Vec::new();
    for (pts, sum) in frames {
        let index = reference.iter().position(|(_, s)| s == sum);
        let index = index.unwrap_or_else(|| panic!("the frame at {pts} ns is none of the file's"));
        shown.push(index);
    }
    let offset = |i: usize| reference[shown[i]].0 as i64 - frames[i].0 as i64;
    let first_offset = offset(0);
    assert!(
        first_offset.unsigned_abs() < FRAME_NS,
        "the first frame at {} ns shows the file's frame at {} ns",
        frames[0].0,
        reference[shown[0]].0
    );
    for i in 1..frames.len() {
        assert_eq!(
            shown[i] as i64,
            shown[i - 1] as i64 + step,
            "frame {i} shows the file's frame {} after its frame {}",
            shown[i],
            shown[i - 1]
        );
        assert!(
            (offset(i) - first_offset).unsigned_abs() < jitter_ns,
            "frame {i} at {} ns shows the file's frame at {} ns: offset {} ns, the first's {first_offset}",
            frames[i].0,
            reference[shown[i]].0,
            offset(i)
        );
    }
    let s = |ns: u64| ns as f64 / 1e9;
    (
        s(frames[0].0),
        s(frames[frames.len() - 1].0),
        first_offset as f64 / 1e6,
    )
}

/// Play from 6 s back down to `down_to` s at `rate` (< 0), then forward.
fn plays_backwards(jitterbuffer: &str, rate: f64, down_to: u64) {
    let media = make_media();
    let reference = reference_frames(&media);
    let server = TestServer::builder()
        .mount(Mount::play("/vod", vod_launch(&media)).shared(false))
        .start();
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(&proxy.url("/vod"), jitterbuffer);
    player.pipeline.set_state(gst::State::Playing).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || player
            .video
            .lock()
            .unwrap()
            .frames
            .len()
            > 10
            && !player.audio.lock().unwrap().frames.is_empty()),
        "playback did not start: {:?}",
        player.errors()
    );

    let sent_before = proxy.requests().len();
    player
        .pipeline
        .seek(
            rate,
            gst::SeekFlags::FLUSH,
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(down_to),
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(6),
        )
        .expect("reverse seek refused");
    assert!(
        wait_for(Duration::from_secs(15), || {
            player.video.lock().unwrap().eos && player.audio.lock().unwrap().eos
        }),
        "no EOS on both streams after playing back to the start: {:?}",
        player.errors()
    );
    assert!(player.errors().is_empty(), "{:?}", player.errors());

    let requests = proxy.requests();
    let play = requests[sent_before..]
        .iter()
        .find(|r| r.method == "PLAY")
        .expect("a PLAY after the seek");
    let range = match down_to {
        0 => "npt=6.000-".to_string(),
        _ => format!("npt=6.000-{down_to}.000"),
    };
    assert_eq!(play.header("Range"), Some(range.as_str()), "{play:?}");
    assert_eq!(
        play.header("Scale"),
        Some(format!("{rate:.1}").as_str()),
        "{play:?}"
    );

    let (frames, segment) = after_flush(&player.video);
    // Stamped from RTP time: exact but for one offset.
    let (first, last, offset) = assert_frames(&reference, &frames, -1, 1_000_000);
    println!(
        "{jitterbuffer}: {} frames in reverse from {first:.3} to {last:.3} s, each the file's \
         frame before the one before it, {offset:.1} ms from its time",
        frames.len()
    );
    let frame = FRAME_NS as f64 / 1e9;
    assert!(
        (6.0 - 2.0 * frame..=6.0 + frame).contains(&first),
        "first frame at {first:.3}, not at 6 s"
    );
    let end = down_to as f64;
    assert!(
        (end - frame..end + 1.5 * frame).contains(&last),
        "ended at {last:.3}, not {end}"
    );
    assert_eq!(segment.rate(), rate, "{segment:?}");

    let (audio, audio_segment) = after_flush(&player.audio);
    let times: Vec<u64> = audio.iter().map(|f| f.0).collect();
    assert!(times.len() > 100, "{} audio buffers", times.len());
    assert!(
        times.windows(2).all(|p| p[1] < p[0]),
        "audio not in reverse order"
    );
    println!(
        "{jitterbuffer}: audio from {:.3} to {:.3} s",
        times[0] as f64 / 1e9,
        times[times.len() - 1] as f64 / 1e9
    );
    assert_eq!(audio_segment.rate(), rate);

    // Forward again from 3 s: stamped by arrival, a segment of rate 1.
    let before = player.video.lock().unwrap().flushes;
    player
        .pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::ClockTime::from_seconds(3),
        )
        .expect("forward seek refused");
    assert!(
        wait_for(Duration::from_secs(10), || {
            let video = player.video.lock().unwrap();
            video.flushes > before && video.frames.len() > video.before_flush + 45
        }),
        "no forward playback after the reverse: {:?}",
        player.errors()
    );
    let (frames, segment) = after_flush(&player.video);
    assert_eq!(segment.rate(), 1.0, "{segment:?}");
    let running: Vec<u64> = frames
        .iter()
        .map(|f| segment.to_stream_time(gst::ClockTime::from_nseconds(f.0)))
        .map(|t| t.expect("stream time").nseconds())
        .collect();
    let frames: Vec<(u64, u64)> = running
        .into_iter()
        .zip(frames.iter().map(|f| f.1))
        .collect();
    // Stamped by arrival: rtpjitterbuffer's clock skew estimate moves a
    // frame's stream time by up to a frame (35 ms measured) in the first
    // second; the order and the pixels are exact.
    let (first, last, offset) = assert_frames(&reference, &frames, 1, 2 * FRAME_NS);
    println!("then forward from {first:.3} to {last:.3} s of stream time, {offset:.1} ms off");
    assert!(
        (first - 3.0).abs() < 0.001,
        "forward from {first:.3}, not 3.000"
    );
    assert!(player.errors().is_empty(), "{:?}", player.errors());
}

#[test]
fn plays_backwards_with_the_light_jitterbuffer() {
    plays_backwards("light", -1.0, 0);
}

#[test]
fn plays_backwards_twice_as_fast_down_to_2_s() {
    plays_backwards("light", -2.0, 2);
}

#[test]
fn plays_backwards_with_rtpjitterbuffer() {
    plays_backwards("rtpjitterbuffer", -1.0, 0);
}
