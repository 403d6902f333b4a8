//! Bridges a secured or tunnelled server connection to the local socket
//! the RTSP connection reads and writes (see [`super::socket`]): one task
//! per connection copies bytes both ways.
//!
//! The pump ends when either side ends: the server closing (its reason,
//! e.g. a TLS alert, is kept for the connection's error message) or the
//! connection being dropped (then our side is shut down cleanly, which for
//! TLS sends close_notify, bounded by [`SHUTDOWN_WAIT`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Copy buffer per direction: a burst of interleaved packets in one read.
const COPY_BUFFER: usize = 64 * 1024;

/// Bound on the clean shutdown towards the server once we are done.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Why the server side ended, for the connection's error message.
#[derive(Debug, Clone, Default)]
pub struct PumpStatus(Arc<Mutex<Option<String>>>);

impl PumpStatus {
    fn set(&self, reason: String) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(reason);
    }

    /// The reason the server side ended, if it ended with an error.
    pub fn reason(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Start a pump between the server side (`from_server`, `to_server`) and
/// a new local socket pair; returns our end of the pair, the status and
/// the task. `what` names the transport in error reasons ("TLS").
pub fn start<R, W>(
    from_server: R,
    to_server: W,
    what: &'static str,
) -> std::io::Result<(UnixStream, PumpStatus, tokio::task::JoinHandle<()>)>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = UnixStream::pair()?;
    let status = PumpStatus::default();
    let task = tokio::spawn(run(from_server, to_server, theirs, status.clone(), what));
    Ok((ours, status, task))
}

async fn run<R, W>(
    from_server: R,
    mut to_server: W,
    local: UnixStream,
    status: PumpStatus,
    what: &'static str,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let (local_read, mut local_write) = local.into_split();
    let mut from_server = BufReader::with_capacity(COPY_BUFFER, from_server);
    let mut local_read = BufReader::with_capacity(COPY_BUFFER, local_read);
    enum Ended {
        Server(std::io::Result<u64>),
        Local(std::io::Result<u64>),
    }
    let ended = {
        let down = tokio::io::copy_buf(&mut from_server, &mut local_write);
        let up = tokio::io::copy_buf(&mut local_read, &mut to_server);
        tokio::select! {
            result = down => Ended::Server(result),
            result = up => Ended::Local(result),
        }
    };
    match ended {
        Ended::Server(result) => {
            if let Err(err) = result {
                status.set(format!("{what}: {err}"));
            }
            // The connection then reads the end of the stream.
            let _ = local_write.shutdown().await;
        }
        Ended::Local(result) => {
            if let Err(err) = result {
                status.set(format!("{what}: {err}"));
            }
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, to_server.shutdown()).await;
        }
    }
}
