//! VOD control in rtspsrc2 against gst-rtsp-server serving a file made in
//! the test (10 s of H.264 with a key frame every second, and AAC): pause
//! and resume (PAUSE/PLAY, position and stream time continuous, no data
//! while paused, no data-timeout reconnection), duration and seeking
//! queries, flushing seeks (first buffers at the position the server
//! answered), EOS on every pad at the end, and a live mount refusing seeks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::recording_proxy::RecordingProxy;
use common::server::{Mount, TestServer, launch};
use common::tcp_proxy::TcpProxy;
use common::vod_media::{Media, make_media, vod_launch, vod_video_launch};
use common::wait_for;
use gst::prelude::*;

/// One video frame of the test media (30 fps).
const FRAME: f64 = 1.0 / 30.0;
const MEDIA_SECONDS: f64 = 10.0;

/// Whether an H.264 RTP packet (RFC 6184) carries a key frame's NAL unit
/// (IDR slice, SPS or PPS; alone, first in a STAP-A or in an FU-A).
fn h264_key(packet: &[u8]) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    let mut offset = 12 + 4 * (first & 0x0f) as usize;
    if first & 0x10 != 0 {
        let Some(words) = packet.get(offset + 2..offset + 4) else {
            return false;
        };
        offset += 4 + 4 * u16::from_be_bytes([words[0], words[1]]) as usize;
    }
    let payload = packet.get(offset..).unwrap_or_default();
    let nal_type = match payload.first().map(|b| b & 0x1f) {
        Some(24) => payload.get(3).map(|b| b & 0x1f),
        Some(28) => payload.get(1).map(|b| b & 0x1f),
        other => other,
    };
    matches!(nal_type, Some(5 | 7 | 8))
}

/// What one `stream_%u` pad carried.
#[derive(Default)]
struct PadLog {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// (stream time s, running time s, flushes before it)
    buffers: Vec<(f64, f64, u32)>,
    /// Whether the first packet after each flush carried a key frame.
    key_after_flush: Vec<bool>,
    /// (stream time s, running time s, flushes before it) of the packets
    /// of key frames.
    keys: Vec<(f64, f64, u32)>,
    flushes: u32,
    eos: bool,
}

impl PadLog {
    /// Stream time of the first buffer after the last flush.
    fn first_after_flush(&self) -> Option<f64> {
        self.buffers
            .iter()
            .find(|b| b.2 == self.flushes)
            .map(|b| b.0)
    }
}

/// Each pad's media type (`video`, `audio`) and log.
type PadLogs = Arc<Mutex<Vec<(String, Arc<Mutex<PadLog>>)>>>;

struct Player {
    pipeline: gst::Pipeline,
    src: gst::Element,
    pads: PadLogs,
    messages: Arc<Mutex<Vec<gst::Message>>>,
}

fn log_pad(pad: &gst::Pad, log: Arc<Mutex<PadLog>>) {
    pad.add_probe(
        gst::PadProbeType::BUFFER
            | gst::PadProbeType::EVENT_DOWNSTREAM
            | gst::PadProbeType::EVENT_FLUSH,
        move |_, info| {
            let mut log = log.lock().unwrap();
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => {
                    if let (Some(segment), Some(pts)) = (&log.segment, buffer.pts()) {
                        let stream = segment.to_stream_time(pts).map(|t| t.seconds_f64());
                        let running = segment.to_running_time(pts).map(|t| t.seconds_f64());
                        if let (Some(stream), Some(running)) = (stream, running) {
                            let flushes = log.flushes;
                            let key = buffer.map_readable().is_ok_and(|m| h264_key(&m));
                            if log.buffers.last().is_some_and(|b| b.2 != flushes) {
                                log.key_after_flush.push(key);
                            }
                            if key {
                                log.keys.push((stream, running, flushes));
                            }
                            log.buffers.push((stream, running, flushes));
                        }
                    }
                }
                Some(gst::PadProbeData::Event(event)) => match event.view() {
                    gst::EventView::Segment(s) => {
                        log.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                    }
                    gst::EventView::FlushStop(_) => {
                        log.flushes += 1;
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

impl Player {
    fn new(url: &str, props: &[(&str, gst::glib::Value)]) -> Player {
        common::init_plugin();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", url)
            .build()
            .unwrap();
        for (name, value) in props {
            match value.get::<&str>() {
                Ok(text) => src.set_property_from_str(name, text),
                Err(_) => src.set_property_from_value(name, value),
            }
        }
        pipeline.add(&src).unwrap();
        let pads: PadLogs = Arc::default();
        let (weak, logs) = (pipeline.downgrade(), pads.clone());
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let log = Arc::new(Mutex::new(PadLog::default()));
            log_pad(pad, log.clone());
            let bin = gst::parse::bin_from_description("queue ! fakesink sync=true", true).unwrap();
            pipeline.add(&bin).unwrap();
            bin.sync_state_with_parent().unwrap();
            pad.link(&bin.static_pad("sink").unwrap()).unwrap();
            let media = pad
                .current_caps()
                .and_then(|c| c.structure(0)?.get::<String>("media").ok())
                .unwrap_or_default();
            logs.lock().unwrap().push((media, log));
        });
        let messages: Arc<Mutex<Vec<gst::Message>>> = Arc::default();
        let seen = messages.clone();
        pipeline.bus().unwrap().set_sync_handler(move |_, message| {
            seen.lock().unwrap().push(message.clone());
            gst::BusSyncReply::Drop
        });
        Player {
            pipeline,
            src,
            pads,
            messages,
        }
    }

    fn pad(&self, media: &str) -> Arc<Mutex<PadLog>> {
        let pads = self.pads.lock().unwrap();
        pads.iter()
            .find(|(m, _)| m == media)
            .map(|(_, log)| log.clone())
            .unwrap_or_else(|| panic!("no {media} pad"))
    }

    fn has_pads(&self, n: usize) -> bool {
        self.pads.lock().unwrap().len() >= n
    }

    fn position(&self) -> Option<f64> {
        self.pipeline
            .query_position::<gst::ClockTime>()
            .map(|t| t.seconds_f64())
    }

    /// The element's `rtspclient-play-control` messages so far:
    /// (method, status, npt-start).
    fn answers(&self) -> Vec<(String, u32, Option<f64>)> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                let s = m.structure()?;
                (s.name() == "rtspclient-play-control").then(|| {
                    (
                        s.get::<String>("method").unwrap(),
                        s.get::<u32>("status").unwrap(),
                        s.get::<f64>("npt-start").ok(),
                    )
                })
            })
            .collect()
    }

    fn wait_answer(&self, method: &str, after: usize) -> (u32, Option<f64>) {
        let mut found = None;
        assert!(
            wait_for(Duration::from_secs(5), || {
                found = self
                    .answers()
                    .into_iter()
                    .skip(after)
                    .find(|a| a.0 == method)
                    .map(|a| (a.1, a.2));
                found.is_some()
            }),
            "no {method} answer within 5 s"
        );
        found.unwrap()
    }

    fn count_messages(&self, name: &str) -> usize {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.structure().is_some_and(|s| s.name() == name))
            .count()
    }

    fn errors(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .collect()
    }

    fn bus_eos(&self) -> bool {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| matches!(m.view(), gst::MessageView::Eos(_)))
    }

    fn packets(&self) -> u64 {
        let stats = self.src.property::<gst::Structure>("stats");
        let streams = stats.get::<gst::Array>("streams").unwrap();
        streams
            .iter()
            .map(|s| {
                s.get::<gst::Structure>()
                    .unwrap()
                    .get::<u64>("packets")
                    .unwrap()
            })
            .sum()
    }

    fn set_state(&self, state: gst::State) {
        self.pipeline.set_state(state).expect("state change");
        let (result, current, _) = self.pipeline.state(gst::ClockTime::from_seconds(5));
        assert!(result.is_ok(), "state change to {state:?}: {result:?}");
        assert_eq!(current, state);
    }

    /// Start and wait for both pads and `seconds` of position.
    fn start(&self, pads: usize, seconds: f64) {
        self.set_state(gst::State::Playing);
        assert!(
            wait_for(Duration::from_secs(10), || self.has_pads(pads)
                && self.position().is_some_and(|p| p >= seconds)),
            "playback did not start: {:?}",
            self.errors()
        );
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        common::stop_pipeline(&self.pipeline);
    }
}

fn vod_server(media: &Media) -> TestServer {
    TestServer::builder()
        .mount(Mount::play("/vod", vod_launch(media)).shared(false))
        .start()
}

#[test]
fn duration_and_seeking_queries_come_from_the_sdp_range() {
    let media = make_media();
    let server = vod_server(&media);
    let player = Player::new(&server.url("/vod"), &[]);
    player.start(2, 0.3);

    let duration = player
        .pipeline
        .query_duration::<gst::ClockTime>()
        .expect("duration")
        .seconds_f64();
    assert!(
        (duration - MEDIA_SECONDS).abs() < 0.1,
        "duration {duration}"
    );
    let mut seeking = gst::query::Seeking::new(gst::Format::Time);
    assert!(player.pipeline.query(&mut seeking));
    let (seekable, start, end) = seeking.result();
    assert!(seekable);
    assert_eq!(
        start,
        gst::GenericFormattedValue::from(gst::ClockTime::ZERO)
    );
    assert_eq!(
        end,
        gst::GenericFormattedValue::from(gst::ClockTime::from_nseconds(
            (duration * 1e9).round() as u64
        ))
    );
    // Asked on the element itself as well.
    assert_eq!(
        player
            .src
            .query_duration::<gst::ClockTime>()
            .map(|d| d.seconds_f64()),
        Some(duration)
    );
}

/// Stream time never goes back and never skips more than two frames on
/// the video pad, across pauses; running time skips no pause either.
fn assert_continuous(log: &PadLog, what: &str) {
    for pair in log.buffers.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let stream_step = b.0 - a.0;
        let running_step = b.1 - a.1;
        assert!(
            (-0.001..=2.0 * FRAME + 0.001).contains(&stream_step),
            "{what}: stream time {:.3} -> {:.3}",
            a.0,
            b.0
        );
        assert!(
            running_step < 0.3,
            "{what}: running time {:.3} -> {:.3} (stream time {:.3})",
            a.1,
            b.1,
            b.0
        );
    }
}

#[test]
fn pause_and_resume_three_times() {
    let media = make_media();
    let server = vod_server(&media);
    // A 1 s data timeout: each pause lasts longer, and must not count as
    // an outage.
    let player = Player::new(&server.url("/vod"), &[("timeout", 1_000_000u64.to_value())]);
    player.start(2, 0.5);
    let mut last = 0.5;
    for round in 0..3 {
        assert!(
            wait_for(Duration::from_secs(5), || player
                .position()
                .is_some_and(|p| p >= last + 0.7)),
            "round {round}: not playing on"
        );
        let answered = player.answers().len();
        let before = player.position().unwrap();
        player.set_state(gst::State::Paused);
        let paused = player.position().unwrap();
        let (status, _) = player.wait_answer("PAUSE", answered);
        assert_eq!(status, 200);
        let packets = player.packets();
        // Observation window, not synchronisation: nothing may arrive
        // while the server is paused, for longer than the data timeout.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            player.packets(),
            packets,
            "round {round}: data while paused"
        );
        let still = player.position().unwrap();
        assert!(
            (still - paused).abs() < 0.005,
            "round {round}: position moved while paused: {paused} -> {still}"
        );

        let answered = player.answers().len();
        player.set_state(gst::State::Playing);
        let resumed = player.position().unwrap();
        let (status, _) = player.wait_answer("PLAY", answered);
        assert_eq!(status, 200);
        println!(
            "round {round}: position {before:.3} before PAUSED, {paused:.3} paused, {resumed:.3} on PLAYING"
        );
        assert!(
            (resumed - paused).abs() <= FRAME,
            "round {round}: position jumped {paused:.3} -> {resumed:.3}"
        );
        last = resumed;
    }
    assert!(
        wait_for(Duration::from_secs(5), || player
            .position()
            .is_some_and(|p| p >= last + 0.5)),
        "not playing after the last resume"
    );
    assert_eq!(player.count_messages("rtspclient-reconnect"), 0);
    assert!(player.errors().is_empty(), "{:?}", player.errors());
    let video = player.pad("video");
    let video = video.lock().unwrap();
    println!(
        "video: {} buffers, stream time {:.3} .. {:.3}",
        video.buffers.len(),
        video.buffers.first().unwrap().0,
        video.buffers.last().unwrap().0
    );
    assert_eq!(video.flushes, 0);
    assert_continuous(&video, "video");
}

/// Seek and check the first buffers on both pads: at the NPT the server
/// answered (it snaps to the key frame before the target), within a frame.
fn seek_and_check(player: &Player, target: f64, through_element: bool) -> f64 {
    let answered = player.answers().len();
    let flushes: Vec<u32> = ["video", "audio"]
        .iter()
        .map(|m| player.pad(m).lock().unwrap().flushes)
        .collect();
    let position = gst::ClockTime::from_nseconds((target * 1e9) as u64);
    let accepted = if through_element {
        player.src.send_event(gst::event::Seek::new(
            1.0,
            gst::SeekFlags::FLUSH,
            gst::SeekType::Set,
            position,
            gst::SeekType::None,
            gst::ClockTime::NONE,
        ))
    } else {
        player
            .pipeline
            .seek_simple(gst::SeekFlags::FLUSH, position)
            .is_ok()
    };
    assert!(accepted, "seek to {target} refused");
    let (status, start) = player.wait_answer("PLAY", answered);
    assert_eq!(status, 200);
    let start = start.expect("PLAY after a seek reports its start");
    assert!(
        start <= target + FRAME && start >= target.floor() - FRAME,
        "server answered {start} for {target}"
    );
    assert_first_buffers_at(player, &flushes, target, start);
    start
}

/// The first buffer after the seek to `target` on the video and the audio
/// pad (whose flush counts were `flushes` before it) is at stream time
/// `expected`, within a frame (audio frames are 1024 samples, 21 ms;
/// video frames 33 ms).
fn assert_first_buffers_at(player: &Player, flushes: &[u32], target: f64, expected: f64) {
    for (media, &before) in ["video", "audio"].iter().zip(flushes) {
        let log = player.pad(media);
        assert!(
            wait_for(Duration::from_secs(5), || {
                let log = log.lock().unwrap();
                log.flushes > before && log.first_after_flush().is_some()
            }),
            "{media}: no buffer after the seek to {target}"
        );
        let (first, running) = {
            let log = log.lock().unwrap();
            let flushes = log.flushes;
            let first = log.buffers.iter().find(|b| b.2 == flushes).unwrap();
            (first.0, first.1)
        };
        let now = player
            .pipeline
            .current_running_time()
            .map_or(0.0, |t| t.seconds_f64());
        println!("  {media}: first buffer's running time {running:.3}, pipeline's now {now:.3}");
        println!(
            "seek to {target:.3}: expected at {expected:.3}, first {media} buffer at {first:.4}"
        );
        assert!(
            (first - expected).abs() <= FRAME + 0.001,
            "{media}: first buffer at {first:.4} after a seek to {target}, expected {expected:.4}"
        );
    }
}

#[test]
fn seeks_to_the_middle_start_and_end_then_eos_on_every_pad() {
    seeks_then_eos("udp", "light");
}

#[test]
fn seeks_with_rtpjitterbuffer_over_tcp() {
    seeks_then_eos("tcp", "rtpjitterbuffer");
}

fn seeks_then_eos(protocols: &str, jitterbuffer: &str) {
    let media = make_media();
    let server = vod_server(&media);
    let player = Player::new(
        &server.url("/vod"),
        &[
            ("protocols", protocols.to_value()),
            ("jitterbuffer", jitterbuffer.to_value()),
        ],
    );
    player.start(2, 1.0);

    let start = seek_and_check(&player, 5.5, false);
    assert!(
        wait_for(Duration::from_secs(5), || player
            .position()
            .is_some_and(|p| p >= start + 0.5)),
        "no playback after seeking to {start}: position {:?}",
        player.position()
    );
    let start = seek_and_check(&player, 0.0, true);
    assert!(
        wait_for(Duration::from_secs(5), || player
            .position()
            .is_some_and(|p| p >= start + 0.5)),
        "no playback after seeking to the start"
    );
    let start = seek_and_check(&player, 9.5, false);
    let sought = Instant::now();
    let remaining = MEDIA_SECONDS - start;
    assert!(
        wait_for(Duration::from_secs_f64(remaining + 3.0), || player
            .bus_eos()),
        "no EOS within {:.1} s of the end: {:?}",
        remaining + 3.0,
        player.errors()
    );
    println!(
        "EOS {:.2} s after seeking to {start:.3} ({remaining:.3} s left)",
        sought.elapsed().as_secs_f64()
    );
    for media in ["video", "audio"] {
        assert!(
            player.pad(media).lock().unwrap().eos,
            "{media} pad without EOS"
        );
    }
    assert_eq!(player.count_messages("rtspclient-reconnect"), 0);
    assert!(player.errors().is_empty(), "{:?}", player.errors());

    // After EOS a seek plays again.
    seek_and_check(&player, 2.0, false);
}

/// 30 more video packets come within 5 s: playback goes on after `what`.
fn assert_plays_on(video: &Mutex<PadLog>, what: &str) {
    let count = video.lock().unwrap().buffers.len();
    assert!(
        wait_for(Duration::from_secs(5), || video
            .lock()
            .unwrap()
            .buffers
            .len()
            >= count + 30),
        "playback stopped after {what}"
    );
}

#[test]
fn live_streams_refuse_seeks_and_play_on() {
    let server = TestServer::builder()
        .mount(Mount::play("/live", launch::h264_video(0)))
        .start();
    let player = Player::new(&server.url("/live"), &[]);
    player.start(1, 0.3);
    let mut seeking = gst::query::Seeking::new(gst::Format::Time);
    assert!(player.src.query(&mut seeking));
    assert!(!seeking.result().0, "a live stream claims to be seekable");
    assert!(player.src.query_duration::<gst::ClockTime>().is_none());

    let position = gst::ClockTime::from_seconds(5);
    assert!(
        player
            .pipeline
            .seek_simple(gst::SeekFlags::FLUSH, position)
            .is_err()
    );
    assert!(!player.src.send_event(gst::event::Seek::new(
        1.0,
        gst::SeekFlags::FLUSH,
        gst::SeekType::Set,
        position,
        gst::SeekType::None,
        gst::ClockTime::NONE,
    )));
    let video = player.pad("video");
    assert_plays_on(&video, "a refused seek");
    assert_eq!(video.lock().unwrap().flushes, 0);
    assert!(player.errors().is_empty(), "{:?}", player.errors());
}

/// `playbin` picks rtspsrc2 for the URI, decodes both streams and sends
/// the seek to its sinks, which send it upstream through the decoders:
/// after a seek to the middle the first decoded video and audio buffers
/// are at the server's start, and their running times map stream time
/// the same way (in sync) within a frame.
#[test]
fn playbin_seek_keeps_audio_and_video_in_sync() {
    for decoder in ["avdec_h264", "avdec_aac"] {
        assert!(common::has_element(decoder), "{decoder} is needed");
    }
    let media = make_media();
    let server = vod_server(&media);
    common::init_plugin();
    let playbin = gst::ElementFactory::make("playbin")
        .property("uri", server.url("/vod"))
        .build()
        .unwrap();
    let logs: Vec<Arc<Mutex<PadLog>>> = ["video-sink", "audio-sink"]
        .iter()
        .map(|property| {
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", true)
                .build()
                .unwrap();
            let log = Arc::new(Mutex::new(PadLog::default()));
            log_pad(&sink.static_pad("sink").unwrap(), log.clone());
            playbin.set_property(property, &sink);
            log
        })
        .collect();
    let pipeline = playbin.clone().downcast::<gst::Pipeline>().unwrap();
    let source = Arc::new(Mutex::new(None::<String>));
    let seen = source.clone();
    playbin.connect("source-setup", false, move |args| {
        let element = args[1].get::<gst::Element>().unwrap();
        *seen.lock().unwrap() = element.factory().map(|f| f.name().to_string());
        None
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let position = || {
        pipeline
            .query_position::<gst::ClockTime>()
            .map(|t| t.seconds_f64())
    };
    let outcome = common::wait_until(&pipeline, Duration::from_secs(10), || {
        position().is_some_and(|p| p >= 1.0)
            && logs.iter().all(|l| !l.lock().unwrap().buffers.is_empty())
    });
    assert_eq!(outcome, common::Outcome::Stopped, "playbin did not play");
    assert_eq!(source.lock().unwrap().as_deref(), Some("rtspsrc2"));

    assert!(
        pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                gst::ClockTime::from_mseconds(5500)
            )
            .is_ok()
    );
    let outcome = common::wait_until(&pipeline, Duration::from_secs(10), || {
        logs.iter().all(|l| {
            let l = l.lock().unwrap();
            l.flushes > 0 && l.buffers.iter().filter(|b| b.2 == l.flushes).count() >= 5
        })
    });
    assert_eq!(
        outcome,
        common::Outcome::Stopped,
        "no decoded buffers after the seek"
    );
    let firsts: Vec<(f64, f64)> = logs
        .iter()
        .map(|l| {
            let l = l.lock().unwrap();
            let first = l.buffers.iter().find(|b| b.2 == l.flushes).unwrap();
            (first.0, first.1)
        })
        .collect();
    let (video, audio) = (firsts[0], firsts[1]);
    println!(
        "after the seek to 5.5: first video frame at stream time {:.4} (running {:.4}), first audio at {:.4} (running {:.4})",
        video.0, video.1, audio.0, audio.1
    );
    assert!(
        (video.0 - 5.0).abs() <= FRAME,
        "video starts at {:.4}",
        video.0
    );
    assert!(
        (audio.0 - video.0).abs() <= FRAME,
        "audio starts at {:.4}, video at {:.4}",
        audio.0,
        video.0
    );
    // Same stream time → running time mapping on both: in sync.
    let skew = (video.1 - video.0) - (audio.1 - audio.0);
    assert!(skew.abs() <= FRAME, "audio and video {skew:.4} s apart");
    assert!(
        wait_for(Duration::from_secs(5), || position()
            .is_some_and(|p| p >= 6.0)),
        "playback stalled after the seek: {:?}",
        position()
    );
    common::stop_pipeline(&pipeline);
}

/// `pause-live` (default TRUE): a paused live stream's server gets PAUSE
/// and stops sending, and PLAY on PLAYING; with FALSE no PAUSE goes out
/// and the data goes on (dropped by the paused element).
#[test]
fn live_pause_follows_pause_live() {
    let server = TestServer::builder()
        .mount(Mount::play("/live", launch::h264_video(0)).shared(false))
        .start();
    for pause_live in [true, false] {
        let player = Player::new(
            &server.url("/live"),
            &[("pause-live", pause_live.to_value())],
        );
        player.start(1, 0.3);
        player.set_state(gst::State::Paused);
        if pause_live {
            assert_eq!(player.wait_answer("PAUSE", 0).0, 200);
        }
        let packets = player.packets();
        // Observation window: what arrives while paused.
        std::thread::sleep(Duration::from_millis(700));
        let arrived = player.packets() - packets;
        println!("pause-live={pause_live}: {arrived} packets in 0.7 s while paused");
        if pause_live {
            assert_eq!(arrived, 0, "data while the server is paused");
        } else {
            assert!(arrived > 10, "the server stopped without PAUSE");
            assert!(
                !player.answers().iter().any(|a| a.0 == "PAUSE"),
                "PAUSE sent"
            );
        }
        let answered = player.answers().len();
        player.set_state(gst::State::Playing);
        if pause_live {
            assert_eq!(player.wait_answer("PLAY", answered).0, 200);
        }
        let video = player.pad("video");
        assert_plays_on(&video, &format!("resuming with pause-live={pause_live}"));
        assert!(player.errors().is_empty(), "{:?}", player.errors());
    }
}

/// The connection to a VOD server breaks (a proxy closes it): the element
/// reconnects and asks for the position where its data stopped (the
/// server snaps back to a key frame, at most a second here), not for the
/// start; the stream goes on to its EOS.
#[test]
fn a_reconnected_vod_goes_on_where_it_stopped() {
    let media = make_media();
    let server = vod_server(&media);
    let proxy = TcpProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], server.port())));
    let url = server.url("/vod").replace(
        &format!(":{}/", server.port()),
        &format!(":{}/", proxy.port),
    );
    let player = Player::new(
        &url,
        &[
            ("protocols", "tcp".to_value()),
            ("reconnect-backoff-min", 50u32.to_value()),
        ],
    );
    player.start(2, 3.0);
    let video = player.pad("video");
    proxy.cut();
    assert!(
        wait_for(Duration::from_secs(10), || player
            .count_messages("rtspclient-reconnected")
            == 1),
        "no reconnection: {:?}",
        player.errors()
    );
    // The largest stream time that left before the cut; the element
    // flushes its pads for the new session.
    let last = {
        let log = video.lock().unwrap();
        log.buffers.iter().map(|b| b.0).fold(0.0, f64::max)
    };
    let audio = player.pad("audio");
    assert!(
        wait_for(Duration::from_secs(5), || [&video, &audio].iter().all(
            |l| {
                let log = l.lock().unwrap();
                log.flushes == 1 && log.first_after_flush().is_some()
            }
        )),
        "no video and audio after reconnecting"
    );
    let resumed = video.lock().unwrap().first_after_flush().unwrap();
    let resumed_audio = audio.lock().unwrap().first_after_flush().unwrap();
    assert!(
        (resumed_audio - resumed).abs() <= FRAME,
        "after reconnecting video goes on at {resumed:.3}, audio at {resumed_audio:.3}"
    );
    println!(
        "data stopped at stream time {last:.3}; after reconnecting it goes on at {resumed:.3}"
    );
    assert!(
        resumed >= last.floor() - 1.0 - FRAME && resumed <= last + FRAME,
        "resumed at {resumed:.3} after stopping at {last:.3}"
    );
    assert!(
        wait_for(Duration::from_secs(MEDIA_SECONDS as u64), || player
            .bus_eos()),
        "no EOS after the reconnection: {:?}",
        player.errors()
    );
}

/// A flushing key-unit seek to `target` at `rate`, then on every pad:
/// the segment's applied rate is `rate` and stream time advances `rate`
/// times as fast as running time; on video, the key frames (one per
/// second of media) are at whole seconds of stream time, `1 / rate`
/// seconds of running time apart. That holds only when the server really
/// sends the media at `rate` and the element maps its RTP time to the
/// presentation at that rate; at the wrong rate the key frames fall
/// between whole seconds.
fn check_rate(player: &Player, proxy: &RecordingProxy, target: f64, rate: f64, header: &str) {
    let answered = player.answers().len();
    let sent_before = proxy.to_server().len();
    let flushes = player.pad("video").lock().unwrap().flushes;
    player
        .pipeline
        .seek(
            rate,
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds((target * 1e9) as u64),
            gst::SeekType::None,
            gst::ClockTime::NONE,
        )
        .expect("seek with a rate");
    let (status, start) = player.wait_answer("PLAY", answered);
    assert_eq!(status, 200);
    let start = start.expect("PLAY answer's Range");
    let sent = proxy.to_server()[sent_before..].to_owned();
    let play = sent
        .split("PLAY rtsp://")
        .nth(1)
        .and_then(|r| r.split("\r\n\r\n").next())
        .expect("a PLAY after the seek");
    assert!(
        play.contains(&format!("\r\n{header}: {rate:.1}")),
        "PLAY without {header}: {play}"
    );
    assert!(play.contains("Range: npt="), "{play}");

    // Three key frames at rate 2 (1 s), two at 0.5 (2 s) and 1 s of data.
    let keys_needed = if rate > 1.0 { 3 } else { 2 };
    let video = player.pad("video");
    let after = |log: &PadLog| -> Vec<(f64, f64, u32)> {
        log.keys
            .iter()
            .filter(|k| k.2 > flushes)
            .copied()
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(Duration::from_secs(10), || {
            let log = video.lock().unwrap();
            let mut seconds: Vec<i64> = after(&log).iter().map(|k| k.0.round() as i64).collect();
            seconds.dedup();
            seconds.len() >= keys_needed
        }),
        "rate {rate}: not {keys_needed} key frames within 10 s: {:?}",
        after(&video.lock().unwrap())
    );
    let media: Vec<String> = player
        .pads
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.clone())
        .collect();
    assert!(
        wait_for(Duration::from_secs(5), || {
            media.iter().all(|m| {
                let log = player.pad(m);
                let log = log.lock().unwrap();
                let buffers: Vec<_> = log.buffers.iter().filter(|b| b.2 > flushes).collect();
                buffers.len() > 2 && buffers.last().unwrap().1 - buffers[0].1 >= 1.0
            })
        }),
        "rate {rate}: less than 1 s of data after the seek"
    );
    for media in &media {
        let log = player.pad(media);
        let log = log.lock().unwrap();
        let applied = log.segment.as_ref().unwrap().applied_rate();
        assert!(
            (applied - rate).abs() < 1e-6,
            "{media}: applied rate {applied} for rate {rate}"
        );
        let buffers: Vec<_> = log.buffers.iter().filter(|b| b.2 > flushes).collect();
        let (first, last) = (buffers[0], buffers[buffers.len() - 1]);
        let measured = (last.0 - first.0) / (last.1 - first.1);
        println!(
            "rate {rate}: {media} from {:.3} to {:.3} s of media in {:.3} s: {measured:.3}",
            first.0,
            last.0,
            last.1 - first.1
        );
        assert!(
            (measured / rate - 1.0).abs() < 0.1,
            "{media}: media advanced at {measured:.3} for rate {rate}"
        );
        assert!(
            (first.0 - start).abs() <= FRAME + 0.001,
            "{media}: first buffer at {:.4} after a seek answered at {start:.4}",
            first.0
        );
    }
    let log = video.lock().unwrap();
    let keys = after(&log);
    println!("rate {rate}: key frames (stream, running) {keys:?}");
    for (stream, _, _) in &keys {
        assert!(
            (stream - stream.round()).abs() <= 1.5 * FRAME,
            "rate {rate}: key frame at {stream:.3} s of stream time, not a whole second"
        );
    }
    let (first, last) = (keys[0], keys[keys.len() - 1]);
    let spacing = (last.1 - first.1) / (last.0 - first.0);
    assert!(
        (spacing * rate - 1.0).abs() < 0.1,
        "rate {rate}: key frames {spacing:.3} s of running time per second of media"
    );
}

/// Rate 2.0 with `Scale` (the default) on video and audio; a PAUSE and
/// resume keep the rate (every PLAY carries it). Reverse rates:
/// tests/vod_reverse.rs.
#[test]
fn rate_2_plays_twice_as_fast_and_keeps_its_rate_over_a_pause() {
    let media = make_media();
    let server = vod_server(&media);
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(&proxy.url("/vod"), &[("protocols", "tcp".to_value())]);
    player.start(2, 0.5);

    check_rate(&player, &proxy, 1.0, 2.0, "Scale");
    let sent_before = proxy.to_server().len();
    let answered = player.answers().len();
    player.set_state(gst::State::Paused);
    assert_eq!(player.wait_answer("PAUSE", answered).0, 200);
    let answered = player.answers().len();
    player.set_state(gst::State::Playing);
    assert_eq!(player.wait_answer("PLAY", answered).0, 200);
    let resume = proxy.to_server()[sent_before..].to_owned();
    let resume = resume.split("PLAY rtsp://").nth(1).expect("resume PLAY");
    let resume = resume.split("\r\n\r\n").next().unwrap();
    assert!(resume.contains("\r\nScale: 2.0"), "{resume}");
    assert!(!resume.contains("Range:"), "{resume}");

    assert!(player.errors().is_empty(), "{:?}", player.errors());
    assert_eq!(player.count_messages("rtspclient-reconnect"), 0);
}

/// Rate 0.5 with `Scale`, on a video-only mount (see `vod_video_launch`).
#[test]
fn rate_half_plays_half_as_fast() {
    let media = make_media();
    let server = TestServer::builder()
        .mount(Mount::play("/vod", vod_video_launch(&media)).shared(false))
        .start();
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(&proxy.url("/vod"), &[("protocols", "tcp".to_value())]);
    player.start(1, 0.5);
    check_rate(&player, &proxy, 2.0, 0.5, "Scale");
    assert!(player.errors().is_empty(), "{:?}", player.errors());
}

/// `rate-header=speed`: the rate goes as `Speed` (gst-rtsp-server plays
/// it as a scale all the same, see `answered_rates`).
#[test]
fn the_speed_header_when_asked() {
    let media = make_media();
    let server = vod_server(&media);
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(
        &proxy.url("/vod"),
        &[
            ("protocols", "tcp".to_value()),
            ("rate-header", "speed".to_value()),
        ],
    );
    player.start(2, 0.5);
    check_rate(&player, &proxy, 1.0, 2.0, "Speed");
    assert!(player.errors().is_empty(), "{:?}", player.errors());
}

/// The PLAY of the seek that `seek` makes, from what the proxy saw after
/// `sent_before` bytes: its head.
fn seek_play(proxy: &RecordingProxy, sent_before: usize) -> String {
    let sent = proxy.to_server()[sent_before..].to_owned();
    sent.split("PLAY rtsp://")
        .find(|r| r.contains("Range: npt="))
        .and_then(|r| r.split("\r\n\r\n").next())
        .expect("a PLAY with a Range")
        .to_owned()
}

/// An accurate seek asks for it (`Seek-Style: RAP`, which gst-rtsp-server
/// takes as an accurate seek, in RTSP 1.0 too) and starts at the target;
/// a key-unit seek sends no `Seek-Style` in 1.0 and starts at the key
/// frame before it. Both on video and audio.
#[test]
fn accurate_and_key_unit_seeks() {
    let media = make_media();
    let server = vod_server(&media);
    let proxy = RecordingProxy::start(server.port());
    let player = Player::new(&proxy.url("/vod"), &[("protocols", "tcp".to_value())]);
    player.start(2, 0.5);

    for (flags, target, expected, style) in [
        (gst::SeekFlags::ACCURATE, 5.5, 5.5, Some("RAP")),
        (gst::SeekFlags::KEY_UNIT, 3.5, 3.0, None),
        (gst::SeekFlags::ACCURATE, 7.25, 7.25, Some("RAP")),
    ] {
        let sent_before = proxy.to_server().len();
        let answered = player.answers().len();
        let flushes: Vec<u32> = ["video", "audio"]
            .iter()
            .map(|m| player.pad(m).lock().unwrap().flushes)
            .collect();
        player
            .pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | flags,
                gst::ClockTime::from_nseconds((target * 1e9) as u64),
            )
            .expect("seek");
        let (status, start) = player.wait_answer("PLAY", answered);
        assert_eq!(status, 200);
        let start = start.expect("PLAY answer's Range");
        let play = seek_play(&proxy, sent_before);
        match style {
            Some(style) => assert!(play.contains(&format!("\r\nSeek-Style: {style}")), "{play}"),
            None => assert!(!play.contains("Seek-Style"), "{play}"),
        }
        assert!(
            (start - expected).abs() <= FRAME,
            "{flags:?} seek to {target}: server started at {start}"
        );
        assert_first_buffers_at(&player, &flushes, target, expected);
    }
    assert!(player.errors().is_empty(), "{:?}", player.errors());
}
