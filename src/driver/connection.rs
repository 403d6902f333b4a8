//! One RTSP control connection: a read side owned by exactly one task (so
//! responses, server requests and interleaved data are seen in wire order) and
//! a write side that any thread may use (a [`Writer`], see
//! [`super::writer`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtspclient_protocol::message::{Framer, Limits, Message};
use rtspclient_protocol::url::RtspUrl;
use tokio::io::{AsyncRead, AsyncReadExt, Interest};
use tokio::net::TcpStream;

use super::error::{ClientError, ErrorKind};
use super::http_tunnel::{self, TunnelOptions};
use super::pump;
use super::read_bounds::{Deadline, GARBAGE_ANSWER_WAIT, ReadBounds};
use super::socket::ControlSocket;
use super::tls::{self, TlsOptions};
use super::writer::Writer;

/// Size of one socket read. Large enough to take a burst of interleaved
/// packets in one system call.
const READ_CHUNK: usize = 64 * 1024;

/// The read side plus a writer handle.
pub struct Connection {
    stream: Arc<ControlSocket>,
    framer: Framer,
    eof: bool,
    /// How long the rest of a started message may take (the connect
    /// timeout, i.e. the elements' `tcp-timeout`).
    completion_wait: Duration,
    bounds: ReadBounds,
    writer: Writer,
    local_addr: SocketAddr,
    peer_addr: SocketAddr,
    writer_task: tokio::task::JoinHandle<()>,
    /// For TLS and HTTP tunnels: what the server sends, read here
    /// directly (the decrypted stream, the GET answer's body), and the task
    /// that carries our writes from the local socket to the server.
    secured: Option<(ServerReader, tokio::task::JoinHandle<()>)>,
}

/// The read side of a secured or tunnelled server connection.
type ServerReader = Box<dyn AsyncRead + Send + Unpin>;

/// How the control connection reaches its server.
#[derive(Debug, Clone, Copy)]
pub enum Security<'a> {
    Plain,
    /// TLS, checking the certificate for `host`.
    Tls {
        host: &'a str,
        options: &'a TlsOptions,
    },
    /// Tunnelled over HTTP (and TLS, as the URL says) to `url`.
    HttpTunnel {
        url: &'a RtspUrl,
        options: TunnelOptions<'a>,
    },
}

impl<'a> Security<'a> {
    /// What `url`'s scheme asks for; `tunnel` holds the TLS options too.
    pub fn for_url(url: &'a RtspUrl, tunnel: TunnelOptions<'a>) -> Self {
        if url.scheme.tunnels_over_http() {
            Security::HttpTunnel {
                url,
                options: tunnel,
            }
        } else if url.scheme.tls() {
            Security::Tls {
                host: &url.host,
                options: tunnel.tls,
            }
        } else {
            Security::Plain
        }
    }
}

impl Connection {
    /// Connect over TCP with a bounded wait.
    pub async fn connect(host_port: &str, timeout: Duration) -> Result<Connection, ClientError> {
        Self::connect_with(host_port, Security::Plain, timeout).await
    }

    /// Connect, then secure the connection as asked; `timeout` bounds the
    /// TCP connect and the TLS handshake each.
    pub async fn connect_with(
        host_port: &str,
        security: Security<'_>,
        timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let (socket, secured, local_addr, peer_addr) = match security {
            Security::Plain => {
                let stream = tcp_connect(host_port, timeout).await?;
                let (local_addr, peer_addr) = (stream.local_addr()?, stream.peer_addr()?);
                (ControlSocket::Tcp(stream), None, local_addr, peer_addr)
            }
            Security::Tls { host, options } => {
                let stream = tcp_connect(host_port, timeout).await?;
                let (local_addr, peer_addr) = (stream.local_addr()?, stream.peer_addr()?);
                let tls = tls::handshake(stream, host, options, timeout).await?;
                let (from_server, to_server) = tokio::io::split(tls);
                let (local, task) = pump::start(to_server)?;
                let reader: ServerReader = Box::new(from_server);
                let secured = Some((reader, task));
                (ControlSocket::Local(local), secured, local_addr, peer_addr)
            }
            Security::HttpTunnel { url, options } => {
                let tunnel = http_tunnel::open(url, &options).await?;
                let (local, task) = pump::start(tunnel.to_server)?;
                let reader: ServerReader = Box::new(tunnel.from_server);
                let secured = Some((reader, task));
                let (local_addr, peer_addr) = (tunnel.local_addr, tunnel.peer_addr);
                (ControlSocket::Local(local), secured, local_addr, peer_addr)
            }
        };
        let stream = Arc::new(socket);
        let (writer, writer_task) = Writer::start(stream.clone());
        Ok(Connection {
            stream,
            framer: Framer::new(Limits::default()),
            eof: false,
            completion_wait: timeout,
            bounds: ReadBounds::default(),
            writer,
            local_addr,
            peer_addr,
            writer_task,
            secured,
        })
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
        let message = self.framer.next_message().map_err(invalid_data)?;
        if message.is_some() {
            self.message_done();
        }
        Ok(message)
    }

    /// Whether the caller now waits for an answer to a request: garbage is
    /// then bounded by [`GARBAGE_ANSWER_WAIT`] (see there). Off while
    /// playing, when stray bytes between packets are only skipped.
    pub fn expect_answer(&mut self, expected: bool) {
        self.bounds.expect_answer(expected, &self.framer);
    }

    fn message_done(&mut self) {
        self.bounds.message_done(&self.framer);
    }

    /// Next message in wire order. Cancel-safe: all partial state lives in
    /// the framer and in `self`, so this can sit in a `select!`. Every wait
    /// for more bytes is bounded once a message has begun (see
    /// [`ReadBounds::next`]).
    pub async fn read_message(&mut self) -> Result<Message, ClientError> {
        loop {
            if let Some(message) = self.framer.next_message().map_err(invalid_data)? {
                self.message_done();
                return Ok(message);
            }
            if self.eof {
                // A body that ends at connection close (DESCRIBE answers
                // without Content-Length from some cameras) completes here.
                return match self.framer.finish() {
                    Ok(Some(message)) => {
                        self.message_done();
                        Ok(message)
                    }
                    _ => Err(ClientError::new(
                        ErrorKind::Closed,
                        "The server closed the connection",
                    )),
                };
            }
            let deadline = self.bounds.next(&self.framer, self.completion_wait);
            let read = match deadline {
                None => Ok(self.read_some().await),
                Some((at, _)) => tokio::time::timeout_at(at, self.read_some()).await,
            };
            let n = match read {
                Ok(result) => result.map_err(|err| {
                    ClientError::new(ErrorKind::Io, format!("Could not read from server: {err}"))
                })?,
                // Only a read with a deadline can time out.
                Err(_) => {
                    let which = deadline.map_or(Deadline::Completion, |(_, which)| which);
                    return self.deadline_passed(which);
                }
            };
            if n == 0 {
                self.eof = true;
            }
        }
    }

    fn deadline_passed(&mut self, which: Deadline) -> Result<Message, ClientError> {
        match which {
            Deadline::QuietBody => match self.framer.finish() {
                Ok(Some(message)) => {
                    self.message_done();
                    Ok(message)
                }
                Ok(None) => Err(ClientError::new(
                    ErrorKind::Protocol,
                    "The server's answer ended without a body",
                )),
                Err(err) => Err(invalid_data(err)),
            },
            Deadline::Garbage => {
                let garbage = self.bounds.garbage_bytes(&self.framer);
                Err(ClientError::new(
                    ErrorKind::Protocol,
                    format!(
                        "The server's answer is not an RTSP response ({garbage} bytes that are \
                         no RTSP message, nothing valid within {GARBAGE_ANSWER_WAIT:?})"
                    ),
                ))
            }
            Deadline::Completion => Err(ClientError::new(
                ErrorKind::Timeout,
                format!(
                    "The server started a message and did not complete it within {:?} \
                     ({} bytes received)",
                    self.completion_wait,
                    self.framer.buffered()
                ),
            )),
        }
    }

    /// One read of whatever the socket has, straight into the framer's
    /// buffer (no per-connection read chunk, no copy). Cancel-safe: the
    /// bytes are appended to the framer by the read itself, nothing is
    /// kept between the readiness wait and the read.
    ///
    /// Interleaved packets split off that buffer are copied into pooled
    /// packet buffers and dropped right away, so `reserve` normally moves
    /// the partial tail to the front of the same allocation instead of
    /// allocating. Only the pages a read actually fills count towards the
    /// process's memory, so a quiet camera stays small.
    ///
    /// A read that does not fill the room has drained the socket, so the
    /// readiness is cleared right away instead of by a second read that
    /// would only get `EAGAIN` (tokio does the same in its `AsyncRead`, see
    /// tokio-rs/tokio#5866; edge-triggered epoll reports data that arrives
    /// later). `try_read_buf` cannot do that, and the stream is shared with
    /// the writer, so the read runs inside `try_io`, which clears readiness
    /// when the closure says `WouldBlock`. With hundreds of mostly idle
    /// streams this halves the receive system calls.
    async fn read_some(&mut self) -> io::Result<usize> {
        let buffer = self.framer.buffer_mut();
        buffer.reserve(READ_CHUNK);
        if let Some((reader, _)) = &mut self.secured {
            // Cancel-safe too: `read_buf` appends what one read returns.
            return reader.read_buf(buffer).await;
        }
        let stream = &self.stream;
        let room = buffer.capacity() - buffer.len();
        loop {
            stream.readable().await?;
            let mut drained = None;
            let result = stream.try_io(Interest::READABLE, || {
                let n = stream.try_read_buf(buffer)?;
                if n > 0 && n < room {
                    drained = Some(n);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            if let Some(n) = drained {
                return Ok(n);
            }
            match result {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

fn invalid_data(err: rtspclient_protocol::message::FramingError) -> ClientError {
    ClientError::new(
        ErrorKind::Protocol,
        format!("Invalid data from server: {err}"),
    )
}

pub(super) async fn tcp_connect(
    host_port: &str,
    timeout: Duration,
) -> Result<TcpStream, ClientError> {
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
    Ok(stream)
}

/// Bound on a pump's clean end after its connection is dropped (it sends
/// TLS close_notify; a server that does not read must not keep it).
const PUMP_LINGER: Duration = Duration::from_secs(2);

impl Drop for Connection {
    fn drop(&mut self) {
        // Clones of the Writer live on in GStreamer pads: take the socket
        // out of the shared state and stop the writer task, so that the
        // connection closes now.
        self.writer.close();
        self.writer_task.abort();
        // The pump sees our socket close and ends by itself; in case the
        // server side is stuck, it is stopped after a bound.
        if let Some((_, pump)) = self.secured.take() {
            let abort = pump.abort_handle();
            crate::runtime::handle().spawn(async move {
                tokio::time::sleep(PUMP_LINGER).await;
                abort.abort();
            });
        }
    }
}
