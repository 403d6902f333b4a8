//! `ffmpeg -rtsp_flags listen` as an independent RECORD receiver.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// `ffmpeg` listening for one RTSP publisher; killed on drop.
pub struct FfmpegReceiver {
    child: Child,
    pub url: String,
    /// The file it writes, removed on drop.
    pub output: PathBuf,
}

impl FfmpegReceiver {
    /// Listen on an ephemeral loopback port and write what arrives,
    /// unchanged (`-c copy`), to a temporary file whose `extension` picks
    /// the container (`mkv`, or `h264` for the raw stream).
    pub fn start(extension: &str) -> FfmpegReceiver {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("rtsp://127.0.0.1:{port}/live");
        let output = std::env::temp_dir().join(format!(
            "rtspsink-ffmpeg-{}-{}.{extension}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-y", "-loglevel", "error"])
            // Give up by itself if nobody publishes.
            .args(["-rtsp_flags", "listen", "-listen_timeout", "20", "-i", &url])
            .args(["-c", "copy"])
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ffmpeg");
        let receiver = FfmpegReceiver { child, url, output };
        // Connecting to probe would use up ffmpeg's single accept; look at
        // the kernel's socket table instead.
        assert!(
            super::wait_for(Duration::from_secs(10), || super::is_listening(port)),
            "ffmpeg does not listen on {port}"
        );
        receiver
    }

    /// Wait (bounded) for ffmpeg to finish the file after TEARDOWN; whether
    /// it exited successfully.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let mut status = None;
        super::wait_for(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.is_some_and(|s| s.success())
    }
}

impl Drop for FfmpegReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.output);
    }
}
