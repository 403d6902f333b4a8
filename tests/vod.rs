//! VOD control in rtspsrc2 against gst-rtsp-server serving a file made in
//! the test (10 s of H.264 with a key frame every second, and AAC): pause
//! and resume (PAUSE/PLAY, position and stream time continuous, no data
//! while paused, no data-timeout reconnection), duration and seeking
//! queries, flushing seeks (first buffers at the position the server
//! answered), EOS on every pad at the end, and a live mount refusing seeks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Mount, TestServer, launch};
use common::tcp_proxy::TcpProxy;
use common::vod_media::{Media, make_media, vod_launch};
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
                            if log.buffers.last().is_some_and(|b| b.2 != flushes) {
                                let key = buffer.map_readable().is_ok_and(|m| h264_key(&m));
                                log.key_after_flush.push(key);
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
    for (media, before) in ["video", "audio"].iter().zip(flushes) {
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
            "seek to {target:.3}: server started at {start:.3}, first {media} buffer at {first:.4}"
        );
        // Audio frames are 1024 samples (21 ms); video frames 33 ms.
        assert!(
            (first - start).abs() <= FRAME + 0.001,
            "{media}: first buffer at {first:.4} after a seek answered at {start:.4}"
        );
    }
    start
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
    let count = video.lock().unwrap().buffers.len();
    assert!(
        wait_for(Duration::from_secs(5), || video
            .lock()
            .unwrap()
            .buffers
            .len()
            >= count + 30),
        "playback stopped after a refused seek"
    );
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
        let count = video.lock().unwrap().buffers.len();
        assert!(
            wait_for(Duration::from_secs(5), || video
                .lock()
                .unwrap()
                .buffers
                .len()
                >= count + 30),
            "pause-live={pause_live}: no playback after resuming"
        );
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
