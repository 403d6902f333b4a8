//! The demo: publish a live test pattern with `rtspsink` into an embedded
//! RTSP server, play it back from the server with `rtspsrc2`, and leave a
//! PNG snapshot, a short MP4 and a one-line summary in `demo-output/`.
//!
//! The demo checks its own picture: the publisher also decodes what it
//! encodes, and every frame the player decodes after it caught the stream
//! (its first key frame) must be pixel for pixel one of those. Any
//! difference fails the demo, naming the frames.
//!
//! ```text
//! videotestsrc ! x264enc ! rtph264pay ! rtspsink ──RECORD──▶ server /publish
//!                                                        │ (in-process relay)
//! PNG + MP4 ◀── decode ◀── rtspsrc2 ◀──────PLAY─────── server /watch
//! ```
//!
//! `cargo run --release --example demo -- [SECONDS] [OUTPUT_DIR]`

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

#[path = "../tests/common/relay.rs"]
mod relay;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

/// Run a pipeline's bus until `done` or an error; errors are fatal.
fn pump(
    pipeline: &gst::Pipeline,
    until: Instant,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    let bus = pipeline.bus().ok_or("no bus")?;
    while Instant::now() < until && !done() {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20))
            && let gst::MessageView::Error(err) = msg.view()
        {
            return Err(format!(
                "{}: {}",
                msg.src().map(|s| s.path_string()).unwrap_or_default(),
                err.error()
            ));
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "demo-output".into()));
    std::fs::create_dir_all(&out_dir)?;
    gst::init()?;
    gstrtspclient::plugin_register_static()?;

    let server = relay::start()?;
    let (publish_url, watch_url) = (server.url("/publish"), server.url("/watch"));

    // Publisher: rtspsink over TCP interleaved.
    let publisher = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=smpte ! video/x-raw,width={WIDTH},height={HEIGHT},framerate=30/1 ! \
         timeoverlay font-desc=\"Sans 20\" halignment=left valignment=top text=\"published by rtspsink, running time\" ! \
         clockoverlay font-desc=\"Sans 20\" halignment=right valignment=bottom ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=2000 ! tee name=encoded \
         encoded. ! queue ! rtph264pay config-interval=-1 pt=96 ! rtspsink location={publish_url} protocols=tcp \
         encoded. ! queue ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! appsink name=published sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "publisher is not a pipeline")?;
    // Checksums of every frame published, decoded here.
    let published_frames = Arc::new(Mutex::new(HashSet::<u64>::new()));
    let sums = published_frames.clone();
    appsink(&publisher, "published")?.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                sums.lock().unwrap().insert(frame_checksum(&sample));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    publisher.set_state(gst::State::Playing)?;
    let published = server.published_frames.clone();
    pump(&publisher, Instant::now() + Duration::from_secs(10), || {
        published.load(Ordering::Relaxed) > 0
    })
    .map_err(|e| format!("publishing failed: {e}"))?;
    if published.load(Ordering::Relaxed) == 0 {
        return Err("the server received nothing from rtspsink within 10 s".into());
    }

    // Player: rtspsrc2 over UDP, decoded; one PNG snapshot and an MP4.
    let mp4 = out_dir.join("playback.mp4");
    let png = out_dir.join("snapshot.png");
    let player = gst::parse::launch(&format!(
        "rtspsrc2 name=src location={watch_url} protocols=udp,tcp latency=200 ! rtph264depay ! h264parse ! tee name=t \
         t. ! queue name=to_mp4 ! mp4mux name=mux ! filesink location={} \
         t. ! queue ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! appsink name=frames sync=false",
        mp4.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "player is not a pipeline")?;
    let frames_sink = appsink(&player, "frames")?;
    let played = Arc::new(AtomicU64::new(0));
    let played_sums = Arc::new(Mutex::new(Vec::<u64>::new()));
    let first_frame = Arc::new(Mutex::new(None::<Duration>));
    let snapshot = Arc::new(Mutex::new(None::<gst::Sample>));
    let started = Instant::now();
    let (p, f, s, sums) = (
        played.clone(),
        first_frame.clone(),
        snapshot.clone(),
        played_sums.clone(),
    );
    frames_sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let n = p.fetch_add(1, Ordering::Relaxed) + 1;
                sums.lock().unwrap().push(frame_checksum(&sample));
                f.lock().unwrap().get_or_insert_with(|| started.elapsed());
                if n == 45 {
                    *s.lock().unwrap() = Some(sample);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let transport = Arc::new(Mutex::new(String::from("?")));
    player.set_state(gst::State::Playing)?;
    let bus = player.bus().ok_or("no bus")?;
    let deadline = Instant::now() + Duration::from_secs(seconds + 10);
    let mut playing_since = None;
    while Instant::now() < deadline {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) {
            match msg.view() {
                gst::MessageView::Error(err) => {
                    return Err(format!("playback failed: {}", err.error()).into());
                }
                gst::MessageView::Progress(progress) => {
                    let text = progress.get().2.to_string();
                    if let Some(t) = text.strip_prefix("Playing over ") {
                        *transport.lock().unwrap() = t.to_string();
                    }
                }
                _ => {}
            }
        }
        if played.load(Ordering::Relaxed) > 0 && playing_since.is_none() {
            playing_since = Some(Instant::now());
        }
        if playing_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(seconds)) {
            break;
        }
    }
    // Finish the MP4 properly: EOS through the muxer, bounded.
    player.send_event(gst::event::Eos::new());
    let _ = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(5),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    player.set_state(gst::State::Null)?;
    publisher.set_state(gst::State::Null)?;

    let played_so_far = played.load(Ordering::Relaxed);
    let sample = snapshot.lock().unwrap().take().ok_or_else(|| {
        format!(
            "no frame to snapshot: played {played_so_far}, published {}",
            server.published()
        )
    })?;
    write_png(&sample, &png)?;
    let verdict = verify_picture(
        &played_sums.lock().unwrap(),
        &published_frames.lock().unwrap(),
        44,
    )?;
    let played = played.load(Ordering::Relaxed);
    let first = first_frame
        .lock()
        .unwrap()
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let summary = format!(
        "published {} frames with rtspsink (tcp); played back {played} frames with rtspsrc2 over {}; \
         time to first frame {first} ms; picture verified ({verdict}); wrote {} and {}",
        server.published(),
        transport.lock().unwrap(),
        png.display(),
        mp4.display()
    );
    std::fs::write(out_dir.join("summary.txt"), format!("{summary}\n"))?;
    println!("{summary}");
    Ok(())
}

fn appsink(pipeline: &gst::Pipeline, name: &str) -> Result<gst_app::AppSink, String> {
    pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| format!("no appsink {name}"))
}

/// A checksum of an RGB frame's pixels (rows without their padding).
fn frame_checksum(sample: &gst::Sample) -> u64 {
    let mut hasher = DefaultHasher::new();
    if let (Some(buffer), Some(info)) = (
        sample.buffer(),
        sample
            .caps()
            .and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok()),
    ) && let Ok(frame) = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        && let Ok(data) = frame.plane_data(0)
    {
        let (row, stride) = (info.width() as usize * 3, info.stride()[0] as usize);
        for y in 0..info.height() as usize {
            data[y * stride..y * stride + row].hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Every frame played from the first one that matches a published frame
/// on (the player joins a live stream and needs a key frame) must match
/// one, and so must the snapshot (frame `snapshot`, counted from 0).
fn verify_picture(
    played: &[u64],
    published: &HashSet<u64>,
    snapshot: usize,
) -> Result<String, String> {
    let first = played
        .iter()
        .position(|sum| published.contains(sum))
        .ok_or_else(|| {
            format!(
                "PICTURE DAMAGED: none of the {} frames played back equals a published frame",
                played.len()
            )
        })?;
    let damaged: Vec<usize> = (first..played.len())
        .filter(|&i| !published.contains(&played[i]))
        .collect();
    if !damaged.is_empty() {
        return Err(format!(
            "PICTURE DAMAGED: {} of the {} frames played back after frame {first} differ from \
             every published frame (first ones: {:?})",
            damaged.len(),
            played.len() - first,
            &damaged[..damaged.len().min(10)]
        ));
    }
    if snapshot < first {
        return Err(format!(
            "the snapshot (frame {snapshot}) precedes the first verified frame ({first})"
        ));
    }
    Ok(format!(
        "{} of {} frames identical to the published ones",
        played.len() - first,
        played.len()
    ))
}

/// Encode one RGB sample as PNG with GStreamer's pngenc.
fn write_png(
    sample: &gst::Sample,
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let caps = sample.caps().ok_or("sample without caps")?.to_owned();
    let buffer = sample.buffer_owned().ok_or("sample without buffer")?;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=in ! videoconvert ! pngenc ! filesink location={}",
        path.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "png pipeline")?;
    let src = pipeline
        .by_name("in")
        .ok_or("no appsrc")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    src.set_caps(Some(&caps));
    pipeline.set_state(gst::State::Playing)?;
    src.push_buffer(buffer)?;
    src.end_of_stream()?;
    let bus = pipeline.bus().ok_or("no bus")?;
    bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(5),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null)?;
    Ok(())
}
