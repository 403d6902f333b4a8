//! The `test-server` example as a process of its own, so that a test can
//! kill it (as a camera reboots) and start it again on the same port. It
//! serves `/test` (H.264, live, a key frame a second) and `/test-av`, and
//! records to `/record`, reporting what it received. Sessions time out
//! after [`SESSION_TIMEOUT_S`], so that keep-alives come every few seconds.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const SESSION_TIMEOUT_S: u32 = 4;

pub struct ServerProcess {
    pub child: Child,
    /// `rtsp://127.0.0.1:PORT/test`.
    pub url: String,
    pub port: u16,
    recorded: Arc<AtomicU64>,
}

impl ServerProcess {
    /// Start on an ephemeral port.
    pub fn start() -> ServerProcess {
        Self::start_on(0)
    }

    /// Start on `port` (0: an ephemeral one); returns once it listens.
    pub fn start_on(port: u16) -> ServerProcess {
        let exe = std::env::current_exe().unwrap();
        let examples = exe.parent().unwrap().parent().unwrap().join("examples");
        let mut child = Command::new(examples.join("test-server"))
            .arg(port.to_string())
            .arg(SESSION_TIMEOUT_S.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("test-server example (built by cargo test)");
        // It prints its URL once it listens; the read ends when it exits.
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // Then `recorded N` lines, read until it exits (a closed pipe would
        // make its printing fail).
        let recorded = Arc::new(AtomicU64::new(0));
        let r = recorded.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("recorded ").and_then(|n| n.parse().ok()) {
                    r.store(n, Ordering::SeqCst);
                }
            }
        });
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("rtsp://"))
            .unwrap_or_else(|| panic!("no server URL in {line:?}"))
            .to_string();
        let port = url
            .trim_start_matches("rtsp://127.0.0.1:")
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the URL");
        ServerProcess {
            child,
            url,
            port,
            recorded,
        }
    }

    /// Access units received on `/record` so far (in tens).
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::SeqCst)
    }

    /// Freeze it (SIGSTOP): connections stay open, nothing is sent or
    /// answered, as a hung camera.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Let a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Kill it (no TEARDOWN, no FIN from a clean exit: as a power cut).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
