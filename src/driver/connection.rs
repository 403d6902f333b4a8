//! One RTSP control connection: a read side owned by exactly one task (so
//! responses, server requests and interleaved data are seen in wire order) and
//! a write side behind a bounded queue drained by a writer task, so that
//! GStreamer streaming threads (RTCP, published RTP) can send without locks on
//! the socket.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rtspclient_protocol::message::{Framer, Limits, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::error::{ClientError, ErrorKind};

/// Frames queued for the writer task. Bounded so that a stalled peer cannot
/// grow memory: 1024 frames is about 1.4 MB of full-size RTP packets.
pub const WRITE_QUEUE_FRAMES: usize = 1024;

/// Size of one socket read. Large enough to take a burst of interleaved
/// packets in one system call.
const READ_CHUNK: usize = 64 * 1024;

type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxedWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Why the writer refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (only from [`Writer::try_send`]).
    Full,
    /// The connection is gone.
    Closed,
}

/// Cloneable handle to the write side of a connection.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Bytes>,
}

impl Writer {
    /// Queue bytes, waiting for room (async contexts).
    pub async fn send(&self, data: Bytes) -> Result<(), SendError> {
        self.tx.send(data).await.map_err(|_| SendError::Closed)
    }

    /// Queue bytes without waiting (any thread; used for RTCP).
    pub fn try_send(&self, data: Bytes) -> Result<(), SendError> {
        self.tx.try_send(data).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queue bytes, blocking the calling thread while the queue is full. Only
    /// for GStreamer streaming threads, never from the runtime.
    pub fn blocking_send(&self, data: Bytes) -> Result<(), SendError> {
        self.tx.blocking_send(data).map_err(|_| SendError::Closed)
    }

    /// Frames currently queued and not yet written.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The read side plus a writer handle.
pub struct Connection {
    reader: BoxedRead,
    framer: Framer,
    chunk: Vec<u8>,
    eof: bool,
    writer: Writer,
    local_addr: SocketAddr,
    peer_addr: SocketAddr,
    writer_task: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Connect over TCP with a bounded wait.
    pub async fn connect(host_port: &str, timeout: Duration) -> Result<Connection, ClientError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(host_port)).await {
            Err(_) => {
                return Err(ClientError::new(
                    ErrorKind::Timeout,
                    format!("Could not connect to {host_port}: no answer within {timeout:?}"),
                ));
            }
            Ok(Err(err)) => {
                return Err(ClientError::new(
                    ErrorKind::Connect,
                    format!("Could not connect to {host_port}: {err}"),
                ));
            }
            Ok(Ok(stream)) => stream,
        };
        // Small RTSP requests must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let local_addr = stream.local_addr()?;
        let peer_addr = stream.peer_addr()?;
        let (read, write) = stream.into_split();
        Ok(Self::from_parts(
            Box::new(read),
            Box::new(write),
            local_addr,
            peer_addr,
        ))
    }

    fn from_parts(
        reader: BoxedRead,
        write: BoxedWrite,
        local_addr: SocketAddr,
        peer_addr: SocketAddr,
    ) -> Connection {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_FRAMES);
        let writer_task = tokio::spawn(write_loop(write, rx));
        Connection {
            reader,
            framer: Framer::new(Limits::default()),
            chunk: vec![0; READ_CHUNK],
            eof: false,
            writer: Writer { tx },
            local_addr,
            peer_addr,
            writer_task,
        }
    }

    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The next message if it has already been received in full, without
    /// reading the socket.
    pub fn try_buffered_message(&mut self) -> Result<Option<Message>, ClientError> {
        self.framer.next_message().map_err(|err| {
            ClientError::new(
                ErrorKind::Protocol,
                format!("Invalid data from server: {err}"),
            )
        })
    }

    /// Next message in wire order. Cancel-safe: all partial state lives in
    /// the framer, so this can sit in a `select!`.
    pub async fn read_message(&mut self) -> Result<Message, ClientError> {
        loop {
            match self.framer.next_message() {
                Ok(Some(message)) => return Ok(message),
                Ok(None) => {}
                Err(err) => {
                    return Err(ClientError::new(
                        ErrorKind::Protocol,
                        format!("Invalid data from server: {err}"),
                    ));
                }
            }
            if self.eof {
                // A body that ends at connection close (DESCRIBE answers
                // without Content-Length from some cameras) completes here.
                return match self.framer.finish() {
                    Ok(Some(message)) => Ok(message),
                    _ => Err(ClientError::new(
                        ErrorKind::Closed,
                        "The server closed the connection",
                    )),
                };
            }
            let n = self.reader.read(&mut self.chunk).await.map_err(|err| {
                ClientError::new(ErrorKind::Io, format!("Could not read from server: {err}"))
            })?;
            if n == 0 {
                self.eof = true;
            } else {
                self.framer.push(&self.chunk[..n]);
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer task ends by itself once all Writer clones are gone, but
        // clones may live in GStreamer pads; stop it now so the socket closes.
        self.writer_task.abort();
    }
}

async fn write_loop(mut write: BoxedWrite, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch: Vec<Bytes> = Vec::with_capacity(64);
    loop {
        // Take whatever is queued, so a burst of small frames costs one
        // flush rather than one per frame.
        if rx.recv_many(&mut batch, 64).await == 0 {
            break;
        }
        for frame in batch.drain(..) {
            if write.write_all(&frame).await.is_err() {
                return;
            }
        }
        if write.flush().await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}
