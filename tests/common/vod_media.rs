//! A seekable VOD media for the VOD and RTSP 2.0 tests: a 10 s MP4 made at
//! run time, and the gst-rtsp-server launch line that serves it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::server::launch;

/// A temporary MP4 file, removed with its folder on drop.
pub struct Media {
    dir: PathBuf,
    pub file: PathBuf,
}

impl Drop for Media {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 10 s of 320x240 H.264 (no B-frames, a key frame every 30 frames, so at
/// every whole second) and 48 kHz stereo AAC, muxed into MP4.
pub fn make_media() -> Media {
    let audio = format!(
        "audiotestsrc num-buffers=469 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! \
         {} ! aacparse ! mux.",
        launch::aac_encoder()
    );
    make_mp4(&audio)
}

/// The same video alone: a key unit seek then lands on the key frame
/// (with audio, qtdemux aligns the video segment to an audio sample and
/// sends the key frame before it, outside the segment).
pub fn make_video_media() -> Media {
    make_mp4("")
}

fn make_mp4(audio: &str) -> Media {
    super::init();
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rtspclient-vod-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("media.mp4");
    let line = format!(
        "videotestsrc num-buffers=300 pattern=ball ! {} ! \
         x264enc speed-preset=ultrafast key-int-max=30 bframes=0 threads=1 ! h264parse ! \
         mp4mux name=mux ! filesink location={} {audio}",
        launch::VIDEO_CAPS,
        file.display(),
    );
    let pipeline = super::parse_pipeline(&line);
    let outcome = super::run_pipeline_until(&pipeline, Duration::from_secs(60), |_| {
        super::Control::Continue
    });
    super::stop_pipeline(&pipeline);
    assert!(
        matches!(outcome, super::Outcome::Eos),
        "making the media: {outcome:?}"
    );
    Media { dir, file }
}

/// gst-rtsp-server serving only the video of `media`, as pay0: at rates
/// below 1.0 gst-rtsp-server 1.22 often never answers a PLAY for the
/// audio and video media (docs/QUIRKS.md "Slow motion on gst-rtsp-server").
pub fn vod_video_launch(media: &Media) -> String {
    format!(
        "filesrc location={} ! qtdemux name=d \
         d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96",
        media.file.display()
    )
}

/// gst-rtsp-server serving `media`: H.264 as pay0, AAC as pay1.
pub fn vod_launch(media: &Media) -> String {
    format!(
        "filesrc location={} ! qtdemux name=d \
         d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 \
         d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97",
        media.file.display()
    )
}
