//! ONVIF replay (`onvif-mode`) against gst-rtsp-server's ONVIF support
//! (`RTSPOnvifServer`, `RTSPOnvifMediaFactory` with replay): the 10 s VOD
//! test media's video goes through `rtponviftimestamp ntp-offset=0`, so the
//! absolute time of each access unit is its stream time in the file
//! counted from 1900-01-01 (tests/common/onvif_server.rs).
//!
//! Checked: the requests (`Require: onvif-replay` on SETUP and PLAY,
//! `Range: clock=…`, `Rate-Control: no`, `Scale: -1.0`, `Frames: intra`);
//! each buffer's absolute time (PTS and `timestamp/x-ntp` reference meta)
//! is the 0xABAC header extension's time in the packet and one of the
//! stream times the server's payloader got; a forward seek starts at the
//! key frame of the requested start and stays in the range; reverse
//! playback comes group of pictures by group of pictures from the latest
//! back (key frame times decreasing) in a segment with a negative rate;
//! `Frames: intra` brings key frames only; a paused key frame replay
//! resumes in its mode from where it stopped.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::onvif_server::OnvifServer;
use common::recording_proxy::RecordingProxy;
use common::vod_media::{Media, make_video_media};
use common::wait_for;
use gst::prelude::*;

const S: u64 = 1_000_000_000;
/// The media's frames are 1/30 s apart; its key frames on whole seconds.
const FRAME_NS: u64 = S / 30;
/// ns → NTP 32.32 → ns loses less than a nanosecond each way.
const ROUNDING_NS: u64 = 2;

/// One buffer out of `stream_0`.
#[derive(Debug, Clone)]
struct Out {
    pts: Option<u64>,
    /// The `timestamp/x-ntp` reference timestamp.
    meta: Option<u64>,
    /// The time in the packet's 0xABAC extension, read here from the bytes.
    extension: Option<u64>,
    /// The extension's C (clean point) flag.
    key: bool,

    rtp_timestamp: u32,
    /// Flushes (seeks) before it.
    flushes: u32,
    at: Instant,
}

#[derive(Default)]
struct Log {
    buffers: Vec<Out>,
    segments: Vec<(u32, gst::FormattedSegment<gst::ClockTime>)>,
    flushes: u32,
    /// The flush count at each EOS.
    eos: Vec<u32>,
}

/// The time and C flag of an ONVIF replay header extension (ONVIF
/// Streaming Specification §6.3), read independently of the element.
fn extension(packet: &[u8]) -> Option<(u64, bool)> {
    if packet.len() < 12 || packet[0] & 0x10 == 0 {
        return None;
    }
    let at = 12 + 4 * (packet[0] & 0x0f) as usize;
    let ext = packet.get(at..at + 16)?;
    if ext[..2] != [0xAB, 0xAC] {
        return None;
    }
    let seconds = u32::from_be_bytes(ext[4..8].try_into().unwrap()) as u64;
    let fraction = u32::from_be_bytes(ext[8..12].try_into().unwrap()) as u64;
    Some((seconds * S + ((fraction * S) >> 32), ext[12] & 0x80 != 0))
}

fn log_pad(pad: &gst::Pad, log: Arc<Mutex<Log>>) {
    let ntp = gst::Caps::new_empty_simple("timestamp/x-ntp");
    pad.add_probe(
        gst::PadProbeType::BUFFER
            | gst::PadProbeType::BUFFER_LIST
            | gst::PadProbeType::EVENT_DOWNSTREAM
            | gst::PadProbeType::EVENT_FLUSH,
        move |_, info| {
            let mut log = log.lock().unwrap();
            let add = |buffer: &gst::BufferRef, log: &mut Log| {
                let map = buffer.map_readable().unwrap();
                let ext = extension(&map);
                let out = Out {
                    pts: buffer.pts().map(|t| t.nseconds()),
                    meta: buffer
                        .iter_meta::<gst::ReferenceTimestampMeta>()
                        .find(|m| m.reference().is_subset(&ntp))
                        .map(|m| m.timestamp().nseconds()),
                    extension: ext.map(|e| e.0),
                    key: ext.is_some_and(|e| e.1),

                    rtp_timestamp: u32::from_be_bytes(map[4..8].try_into().unwrap()),
                    flushes: log.flushes,
                    at: Instant::now(),
                };
                log.buffers.push(out);
            };
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => add(buffer, &mut log),
                Some(gst::PadProbeData::BufferList(list)) => {
                    for buffer in list.iter() {
                        add(buffer, &mut log);
                    }
                }
                Some(gst::PadProbeData::Event(event)) => match event.view() {
                    gst::EventView::Segment(s) => {
                        if let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>() {
                            let flushes = log.flushes;
                            log.segments.push((flushes, segment.clone()));
                        }
                    }
                    gst::EventView::FlushStop(_) => log.flushes += 1,
                    gst::EventView::Eos(_) => {
                        let flushes = log.flushes;
                        log.eos.push(flushes);
                    }
                    _ => {}
                },
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

struct Player {
    pipeline: gst::Pipeline,
    src: gst::Element,
    log: Arc<Mutex<Log>>,
}

impl Player {
    fn new(url: &str, rate_control: bool) -> Player {
        Self::with(url, rate_control, &[])
    }

    /// [`Self::new`] with more properties, from strings.
    fn with(url: &str, rate_control: bool, more: &[(&str, &str)]) -> Player {
        common::init_plugin();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", url)
            .property("onvif-mode", true)
            .property("onvif-rate-control", rate_control)
            .build()
            .unwrap();
        for (name, value) in more {
            src.set_property_from_str(name, value);
        }
        pipeline.add(&src).unwrap();
        let log: Arc<Mutex<Log>> = Arc::default();
        let (weak, l) = (pipeline.downgrade(), log.clone());
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            log_pad(pad, l.clone());
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Player { pipeline, src, log }
    }

    /// Buffers after the `flushes`-th flush.
    fn after(&self, flushes: u32) -> Vec<Out> {
        let log = self.log.lock().unwrap();
        log.buffers
            .iter()
            .filter(|b| b.flushes == flushes)
            .cloned()
            .collect()
    }

    fn segment_after(&self, flushes: u32) -> Option<gst::FormattedSegment<gst::ClockTime>> {
        let log = self.log.lock().unwrap();
        log.segments
            .iter()
            .rev()
            .find(|(f, _)| *f == flushes)
            .map(|(_, s)| s.clone())
    }

    fn seek(&self, rate: f64, flags: gst::SeekFlags, start: u64, stop: u64) -> u32 {
        let flushes = self.log.lock().unwrap().flushes;
        assert!(self.src.send_event(gst::event::Seek::new(
            rate,
            gst::SeekFlags::FLUSH | flags,
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds(start),
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds(stop),
        )));
        flushes + 1
    }

    /// The data after `flushes` flushes, once its EOS came (the server
    /// sends RTCP BYE at the end of the range).
    fn settle(&self, flushes: u32) -> Vec<Out> {
        assert!(
            wait_for(Duration::from_secs(15), || self
                .log
                .lock()
                .unwrap()
                .eos
                .contains(&flushes)),
            "no EOS after seek {flushes}: {} buffers",
            self.after(flushes).len()
        );
        self.after(flushes)
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        common::stop_pipeline(&self.pipeline);
    }
}

/// Every buffer's absolute time: PTS, meta and the extension agree; a
/// packet without the extension has its access unit's time; and each is a
/// stream time the server's payloader got.
fn check_times(out: &[Out], media_times: &[u64]) {
    assert!(!out.is_empty());
    let mut last: Option<(u32, u64)> = None;
    for b in out {
        let time = match b.extension {
            Some(time) => time,
            None => {
                let (ts, time) = last.expect("first packet without an extension");
                assert_eq!(ts, b.rtp_timestamp, "packet without extension: {b:?}");
                time
            }
        };
        last = Some((b.rtp_timestamp, time));
        assert_eq!(b.meta, Some(time), "reference meta: {b:?}");
        assert_eq!(b.pts, Some(time), "PTS: {b:?}");
        assert!(
            media_times.iter().any(|m| m.abs_diff(time) <= ROUNDING_NS),
            "{time} ns is no stream time of the media"
        );
    }
}

/// Absolute times of the key frames (first packet of each).
fn key_times(out: &[Out]) -> Vec<u64> {
    out.iter()
        .filter(|b| b.key)
        .filter_map(|b| b.extension)
        .collect()
}

fn seconds(times: &[u64]) -> Vec<f64> {
    times.iter().map(|t| *t as f64 / 1e9).collect()
}

#[test]
fn replay_forward_reverse_and_key_frames_with_absolute_times() {
    let media = make_video_media();
    let server = OnvifServer::start(&media, "/replay");
    let tap = RecordingProxy::start(server.port);
    let player = Player::new(&tap.url("/replay"), false);

    // The first PLAY, without a range: from the start of the recording.
    assert!(
        wait_for(Duration::from_secs(10), || player.after(0).len() >= 60),
        "no data from the first PLAY"
    );
    let first = player.after(0);
    check_times(&first, &server.media_times());
    assert_eq!(first[0].extension, Some(0), "the recording starts at 1900");

    // Forward: 3 s to 6 s; the server starts at the key frame at 3 s.
    let n = player.seek(1.0, gst::SeekFlags::ACCURATE, 3 * S, 6 * S);
    let forward = player.settle(n);
    check_times(&forward, &server.media_times());
    let times: Vec<u64> = forward.iter().filter_map(|b| b.extension).collect();
    println!(
        "forward: {} buffers, {:.3} s to {:.3} s, in {:?}",
        forward.len(),
        times[0] as f64 / 1e9,
        *times.last().unwrap() as f64 / 1e9,
        forward.last().unwrap().at - forward[0].at
    );
    assert_eq!(times[0], 3 * S, "first buffer after the seek");
    assert!(forward[0].key, "the first access unit is a key frame");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "forward order");
    assert!(
        *times.last().unwrap() < 6 * S + FRAME_NS,
        "stays in the range"
    );
    assert!(
        *times.last().unwrap() >= 6 * S - 2 * FRAME_NS,
        "reaches the end"
    );
    // Rate-Control: no: 3 s of media in well under 3 s.
    assert!(forward.last().unwrap().at - forward[0].at < Duration::from_secs(2));
    let segment = player.segment_after(n).expect("segment after the seek");
    assert_eq!(segment.rate(), 1.0);
    assert_eq!(segment.start(), Some(gst::ClockTime::from_seconds(3)));
    assert_eq!(segment.time(), Some(gst::ClockTime::from_seconds(3)));

    // Reverse: from 6 s back to 2 s, group of pictures by group.
    let n = player.seek(-1.0, gst::SeekFlags::empty(), 2 * S, 6 * S);
    let reverse = player.settle(n);
    check_times(&reverse, &server.media_times());
    let keys = key_times(&reverse);
    println!("reverse key frames: {:?} s", seconds(&keys));
    assert!(
        keys.len() >= 4,
        "at least the groups at 5, 4, 3, 2 s: {keys:?}"
    );
    assert!(
        keys.windows(2).all(|w| w[1] + S == w[0]),
        "key frames a second apart, latest first: {:?}",
        seconds(&keys)
    );
    assert!(keys[0] <= 6 * S && *keys.last().unwrap() >= 2 * S - S);
    assert!(keys.contains(&(2 * S)) && keys.contains(&(5 * S)));
    let segment = player
        .segment_after(n)
        .expect("segment after the reverse seek");
    assert!(segment.rate() < 0.0, "reverse segment: {segment:?}");
    assert_eq!(segment.stop(), Some(gst::ClockTime::from_seconds(6)));
    // Within each group the frames go forward.
    let mut group_start = None;
    for b in reverse
        .iter()
        .filter_map(|b| b.extension.map(|t| (t, b.key)))
    {
        match b {
            (t, true) => group_start = Some(t),
            (t, false) => {
                let start = group_start.expect("a group starts with a key frame");
                assert!(t >= start && t < start + S, "{t} outside its group {start}");
            }
        }
    }

    // Key frames only (Frames: intra), 1 s to 5 s.
    let n = player.seek(1.0, gst::SeekFlags::TRICKMODE_KEY_UNITS, S, 5 * S);
    let intra = player.settle(n);
    check_times(&intra, &server.media_times());
    let times: Vec<u64> = intra.iter().filter_map(|b| b.extension).collect();
    println!("intra: {:?} s", seconds(&times));
    assert!(
        times.iter().all(|t| t % S == 0),
        "key frames only: {times:?}"
    );
    assert!(times.len() >= 4);
    let segment = player.segment_after(n).unwrap();
    assert!(
        segment
            .flags()
            .contains(gst::SegmentFlags::TRICKMODE_KEY_UNITS)
    );

    // What went to the server.
    let requests = tap.requests();
    let of = |method: &str| -> Vec<_> { requests.iter().filter(|r| r.method == method).collect() };
    for request in of("SETUP").into_iter().chain(of("PLAY")) {
        assert_eq!(
            request.headers_all("Require"),
            vec!["onvif-replay"],
            "{request:?}"
        );
        if request.method == "PLAY" {
            assert_eq!(request.header("Rate-Control"), Some("no"));
        }
    }
    let plays = of("PLAY");
    let ranges: Vec<_> = plays.iter().map(|r| r.header("Range")).collect();
    println!("PLAY ranges: {ranges:?}");
    assert!(ranges.contains(&Some("clock=19000101T000003.000Z-19000101T000006.000Z")));
    let reverse_play = plays
        .iter()
        .find(|r| r.header("Range") == Some("clock=19000101T000006.000Z-19000101T000002.000Z"))
        .expect("reverse PLAY");
    assert_eq!(reverse_play.header("Scale"), Some("-1.0"));
    let intra_play = plays
        .iter()
        .find(|r| r.header("Frames").is_some())
        .expect("Frames PLAY");
    assert_eq!(intra_play.header("Frames"), Some("intra"));
    assert_eq!(
        intra_play.header("Range"),
        Some("clock=19000101T000001.000Z-19000101T000005.000Z")
    );
}

/// A key frame replay at the server's pace (`Rate-Control: yes`, one key
/// frame a second), paused after its second key frame: the PLAY that
/// resumes repeats the mode (`Frames: intra`) for the rest of the range
/// from the last key frame out (gst-rtsp-server fails a PLAY with
/// `Frames` and no `Range`), and the key frames go on from there.
#[test]
fn paused_key_frame_replay_resumes_in_its_mode() {
    let media = make_video_media();
    let (server, tap, player, n) =
        replay_until_second_key(&media, gst::SeekFlags::TRICKMODE_KEY_UNITS, 5 * S);
    let pauses = || {
        tap.requests()
            .iter()
            .filter(|r| r.method == "PAUSE")
            .count()
    };
    // The seek sent one PAUSE before its PLAY already.
    let before = pauses();
    player.pipeline.set_state(gst::State::Paused).unwrap();
    assert!(wait_for(Duration::from_secs(10), || pauses() > before));
    // What the jitterbuffer still had goes out after the PAUSE; the
    // resume's Range starts where the output stopped, so wait for it to
    // stop (no new key frame for 1.5 s, more than the 1 s between key
    // frames; bounded).
    let mut seen = key_times(&player.after(n));
    let mut still_since = std::time::Instant::now();
    assert!(
        wait_for(Duration::from_secs(10), || {
            let now = key_times(&player.after(n));
            if now != seen {
                seen = now;
                still_since = std::time::Instant::now();
            }
            still_since.elapsed() >= Duration::from_millis(1500)
        }),
        "output did not stop while paused"
    );
    let before_resume = key_times(&player.after(n));
    let last_out = *before_resume.iter().max().unwrap();
    player.pipeline.set_state(gst::State::Playing).unwrap();
    let out = player.settle(n);
    check_times(&out, &server.media_times());
    let keys = key_times(&out);
    println!(
        "key frames across a pause: {:?} s (before resuming: {:?})",
        seconds(&keys),
        seconds(&before_resume)
    );
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "forward order");
    // The last key frame before the pause may come again (the resume
    // starts there).
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(distinct, vec![S, 2 * S, 3 * S, 4 * S]);
    assert!(keys.len() <= 5, "at most one key frame twice: {keys:?}");
    assert!(
        before_resume.last().is_some_and(|&k| k < 4 * S),
        "paused before the end: {before_resume:?}"
    );

    let requests = tap.requests();
    let pause = requests.iter().rposition(|r| r.method == "PAUSE").unwrap();
    let resume = requests[pause..]
        .iter()
        .find(|r| r.method == "PLAY")
        .expect("PLAY after the PAUSE");
    println!("resume: {:?}", resume.headers);
    assert_eq!(
        resume.header("Range"),
        Some(
            format!(
                "clock=19000101T0000{:02}.000Z-19000101T000005.000Z",
                last_out / S
            )
            .as_str()
        )
    );
    assert_eq!(resume.header("Frames"), Some("intra"));
    assert_eq!(resume.headers_all("Require"), vec!["onvif-replay"]);
    assert_eq!(resume.header("Rate-Control"), Some("yes"));
}

/// A replay at the server's pace (`Rate-Control: yes`) through a recording
/// proxy, sought to 1 s – `upper` with `flags`, once its key frame at 2 s
/// came out: the server, proxy, player and the flush count of the seek.
fn replay_until_second_key(
    media: &Media,
    flags: gst::SeekFlags,
    upper: u64,
) -> (OnvifServer, RecordingProxy, Player, u32) {
    let server = OnvifServer::start(media, "/replay");
    let tap = RecordingProxy::start(server.port);
    let player = Player::new(&tap.url("/replay"), true);
    assert!(
        wait_for(Duration::from_secs(10), || !player.after(0).is_empty()),
        "no data from the first PLAY"
    );
    let n = player.seek(1.0, flags, S, upper);
    assert!(
        wait_for(Duration::from_secs(10), || key_times(&player.after(n))
            .contains(&(2 * S))),
        "no second key frame after the seek"
    );
    (server, tap, player, n)
}

/// A replay of 1–8 s at the server's pace loses its connection after its
/// second key frame: the new session's PLAY goes on in the same mode from
/// where the output got to (not from the recording's start), and the
/// absolute times carry on to the end of the range.
#[test]
fn a_reconnected_replay_goes_on_where_it_stopped() {
    let media = make_video_media();
    let (server, tap, player, n) = replay_until_second_key(&media, gst::SeekFlags::empty(), 8 * S);
    let plays = || tap.requests().iter().filter(|r| r.method == "PLAY").count();
    let before = plays();
    server.drop_clients();
    assert!(
        wait_for(Duration::from_secs(15), || plays() > before),
        "no new PLAY after the connection was closed"
    );
    let out = player.settle(n);
    check_times(&out, &server.media_times());
    let keys = key_times(&out);
    println!("key frames across the reconnection: {:?} s", seconds(&keys));
    let mut distinct = keys.clone();
    distinct.dedup();
    assert!(
        distinct.windows(2).all(|w| w[0] < w[1]),
        "went back: {:?}",
        seconds(&keys)
    );
    assert_eq!(distinct.first(), Some(&S));
    assert_eq!(distinct.last(), Some(&(7 * S)));

    let requests = tap.requests();
    let resume = requests
        .iter()
        .filter(|r| r.method == "PLAY")
        .nth(before)
        .unwrap();
    println!("PLAY of the new session: {:?}", resume.headers);
    let range = resume.header("Range").expect("the new PLAY has a Range");
    assert!(
        range.starts_with("clock=19000101T0000") && range.ends_with("-19000101T000008.000Z"),
        "{range}"
    );
    assert_ne!(range, "clock=19000101T000001.000Z-19000101T000008.000Z");
    assert_eq!(resume.headers_all("Require"), vec!["onvif-replay"]);
}

/// `onvif-mode` and `backchannel=onvif` together, against a replay media
/// that also offers a backchannel: every SETUP (the backchannel's too)
/// carries both feature tags, each in a header of its own, the PLAY the
/// replay tag, and the replay plays from the recording's start with its
/// absolute times. (gst-rtsp-server 1.22 cannot seek a media with a
/// backchannel, docs/QUIRKS.md "PLAY Range on media with an ONVIF
/// backchannel", so no seek here.)
#[test]
fn replay_and_backchannel_together() {
    let media = make_video_media();
    let backchannel = "( capsfilter name=depay_backchannel \
        caps=\"application/x-rtp,media=audio,payload=0,clock-rate=8000,encoding-name=PCMU\" ! \
        rtppcmudepay ! fakesink async=false )";
    let server = OnvifServer::start_with_backchannel(&media, "/replay", Some(backchannel));
    let tap = RecordingProxy::start(server.port);
    let player = Player::with(&tap.url("/replay"), false, &[("backchannel", "onvif")]);
    assert!(
        wait_for(Duration::from_secs(10), || !player.after(0).is_empty()),
        "no data from the first PLAY"
    );
    assert!(
        wait_for(Duration::from_secs(10), || key_times(&player.after(0))
            .contains(&S)),
        "no key frame at 1 s"
    );
    let out = player.after(0);
    check_times(&out, &server.media_times());
    assert_eq!(key_times(&out)[0], 0, "not from the recording's start");
    let requests = tap.requests();
    let setups: Vec<_> = requests.iter().filter(|r| r.method == "SETUP").collect();
    assert_eq!(setups.len(), 2, "the video and the backchannel");
    for setup in setups {
        let mut tags = setup.headers_all("Require");
        tags.sort();
        assert_eq!(
            tags,
            vec!["onvif-replay", "www.onvif.org/ver20/backchannel"],
            "{setup:?}"
        );
    }
    for play in requests.iter().filter(|r| r.method == "PLAY") {
        assert!(
            play.headers_all("Require").contains(&"onvif-replay"),
            "{play:?}"
        );
    }
}
