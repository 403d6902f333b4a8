//! Carries what the RTSP connection writes (requests, interleaved RTP and
//! RTCP from any thread, see [`super::writer`]) from its local socket
//! pair (see [`super::socket`]) to a secured or tunnelled server
//! connection: TLS encryption, or the HTTP tunnel's base64 POST body. One
//! task per connection. What the server sends does not pass through
//! here: the connection reads it from the secured stream itself, so a
//! received packet costs no more system calls than over plain TCP.
//!
//! The pump ends when the connection is dropped (its socket closes; our
//! side is then shut down cleanly, which for TLS sends close_notify,
//! bounded by [`SHUTDOWN_WAIT`]) or when the server side fails.

use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Copy buffer: a burst of interleaved packets in one read.
const COPY_BUFFER: usize = 64 * 1024;

/// Bound on the clean shutdown towards the server once we are done.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Start a pump from a new local socket pair to `to_server`; returns our
/// end of the pair (to write to) and the task.
pub fn start<W>(to_server: W) -> std::io::Result<(UnixStream, tokio::task::JoinHandle<()>)>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = UnixStream::pair()?;
    let task = tokio::spawn(run(to_server, theirs));
    Ok((ours, task))
}

async fn run<W>(mut to_server: W, local: UnixStream)
where
    W: AsyncWrite + Unpin + Send,
{
    let mut local = BufReader::with_capacity(COPY_BUFFER, local);
    // Ends at our EOF (the connection is gone) or a write error (the
    // server side is broken: dropping `local` then fails the writer's
    // next send, and the connection's read sees the server's end).
    if tokio::io::copy_buf(&mut local, &mut to_server)
        .await
        .is_ok()
    {
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, to_server.shutdown()).await;
    }
}
