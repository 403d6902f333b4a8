//! `gst-play-1.0 rtsp://…/vod` with `rtspsrc2` (playbin picks it by rank)
//! driven from its keyboard as a person would: space pauses and resumes,
//! the arrow keys seek. `gst-play-1.0` only reads keys from a terminal, so
//! it runs under `script`, which gives it one (a pseudo-terminal) and
//! passes what the test writes on. What the test reads is gst-play's own
//! position line (`0:00:02.7 / 0:00:10.0 Paused`) and, to be sure that
//! `rtspsrc2` and not C `rtspsrc` played, rtspsrc2's debug log.

mod common;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::server::{Mount, TestServer};
use common::vod_media::{make_media, vod_launch};
use common::wait_for;

const RIGHT: &[u8] = b"\x1b[C";
const LEFT: &[u8] = b"\x1b[D";

struct GstPlay {
    child: Child,
    keys: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    log: std::path::PathBuf,
}

impl GstPlay {
    fn start(url: &str, log: std::path::PathBuf) -> GstPlay {
        common::tools::require_program_with(
            "gst-play-1.0",
            "--version",
            "gstreamer1.0-plugins-base-apps",
        );
        common::tools::require_program_with("script", "--version", "bsdutils");
        let command = format!(
            "gst-play-1.0 --videosink='fakesink sync=true' --audiosink='fakesink sync=true' {url}"
        );
        let mut child = Command::new("script")
            .args(["-q", "-f", "-e", "-c", &command, "/dev/null"])
            .env("GST_PLUGIN_PATH", plugin_dir())
            .env("GST_DEBUG", "rtspsrc2:4")
            .env("GST_DEBUG_NO_COLOR", "1")
            .env("GST_DEBUG_FILE", &log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting script/gst-play-1.0");
        let keys = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let output: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = output.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        GstPlay {
            child,
            keys,
            output,
            reader: Some(reader),
            log,
        }
    }

    fn press(&mut self, key: &[u8]) {
        self.keys.write_all(key).unwrap();
        self.keys.flush().unwrap();
    }

    /// The last position line: (seconds, paused).
    fn position(&self) -> Option<(f64, bool)> {
        let output = self.output.lock().unwrap();
        let text = String::from_utf8_lossy(&output);
        text.rsplit(['\r', '\n'])
            .filter_map(|line| {
                let (position, rest) = line.trim().split_once(" / ")?;
                Some((parse_time(position)?, rest.contains("Paused")))
            })
            .next()
    }

    fn seconds(&self) -> f64 {
        self.position().map_or(-1.0, |p| p.0)
    }

    /// The seek targets rtspsrc2 logged so far (its INFO line
    /// `Seeking to <seconds> s …`).
    fn seeks(&self) -> Vec<f64> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                l.split_once("Seeking to ")?
                    .1
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }
}

impl Drop for GstPlay {
    fn drop(&mut self) {
        let _ = self.keys.write_all(b"q");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            common::join_bounded(reader, Duration::from_secs(5));
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Where cargo put the plugin for this test binary (`target/debug`, the
/// folder above `deps/`): gst-play-1.0 loads it from there.
fn plugin_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    assert!(
        dir.join("libgstrtspclient.so").exists(),
        "no libgstrtspclient.so in {}: build the plugin (cargo build) first",
        dir.display()
    );
    dir
}

/// `H:MM:SS.f` as gst-play prints it.
fn parse_time(text: &str) -> Option<f64> {
    let mut parts = text.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

#[test]
fn gst_play_pauses_seeks_and_resumes_through_rtspsrc2() {
    let media = make_media();
    let server = TestServer::builder()
        .mount(Mount::play("/vod", vod_launch(&media)).shared(false))
        .start();
    let log = std::env::temp_dir().join(format!("rtspclient-gst-play-{}.log", std::process::id()));
    let mut play = GstPlay::start(&server.url("/vod"), log);

    assert!(
        wait_for(Duration::from_secs(15), || play.seconds() >= 1.5),
        "gst-play-1.0 did not play: position {:?}",
        play.position()
    );

    // Space: paused, and the position stays where it is.
    play.press(b" ");
    assert!(
        wait_for(Duration::from_secs(5), || play
            .position()
            .is_some_and(|p| p.1)),
        "not paused"
    );
    let paused_at = play.seconds();
    let still = Instant::now();
    while still.elapsed() < Duration::from_millis(1500) {
        let (now, paused) = play.position().unwrap();
        assert!(
            paused && (now - paused_at).abs() < 0.05,
            "moved while paused: {now}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("paused at {paused_at:.1} for 1.5 s");

    // Space again: playing from there.
    play.press(b" ");
    assert!(
        wait_for(Duration::from_secs(5), || play
            .position()
            .is_some_and(|p| !p.1 && p.0 >= paused_at + 0.5)),
        "did not resume from {paused_at}: {:?}",
        play.position()
    );
    assert!(play.seconds() < paused_at + 1.5, "resume jumped");

    // Right arrow: rtspsrc2 seeks forward and playback goes on.
    let before = play.seconds();
    let seeks = play.seeks().len();
    play.press(RIGHT);
    assert!(
        wait_for(Duration::from_secs(5), || play.seeks().len() > seeks),
        "no seek reached rtspsrc2"
    );
    let forward = play.seeks()[seeks];
    assert!(
        forward > before,
        "right arrow sought to {forward} from {before}"
    );
    assert!(
        wait_for(Duration::from_secs(5), || play.seconds()
            >= forward.floor() + 0.5),
        "no playback after seeking to {forward}: {:?}",
        play.position()
    );

    // Left arrow (gst-play reads one key per read: one press): back
    // behind where it was.
    let before = play.seconds();
    let seeks = play.seeks().len();
    play.press(LEFT);
    assert!(
        wait_for(Duration::from_secs(5), || play.seeks().len() > seeks),
        "no backward seek reached rtspsrc2"
    );
    assert!(
        wait_for(Duration::from_secs(5), || play.seconds() < before - 0.3),
        "left arrow did not go back from {before}: {:?}",
        play.position()
    );
    let back = play.seconds();
    assert!(
        wait_for(Duration::from_secs(5), || play.seconds() >= back + 0.5),
        "no playback after seeking back to {back}"
    );
    println!(
        "sought forward to {forward:.3}, back to {back:.1}; rtspsrc2 seeks {:?}",
        play.seeks()
    );
}
