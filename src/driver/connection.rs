//! One RTSP control connection: a read side owned by exactly one task (so
//! responses, server requests and interleaved data are seen in wire order) and
//! a write side that any thread may use.
//!
//! Writing. Published RTP (rtspsink), RTCP from `rtpbin` (both elements) and
//! RTSP requests (the session tasks) all go out on this one socket. A sender
//! writes **from its own thread** when the socket can take the data at once:
//! a non-blocking `sendmsg` of all its pieces in one call. Only when the
//! kernel's send buffer is full (`EAGAIN`), or takes part of the data, does
//! the rest go into a bounded queue that a writer task on the runtime drains
//! when the socket becomes writable again. Handing every packet to the
//! writer task instead (as this module first did) cost a futex wake-up and a
//! context switch per packet, about half of rtspsink's CPU (BENCHMARKS.md);
//! C's `rtspclientsink` also writes on the streaming thread.
//!
//! Byte order on the wire is what keeps the RTSP stream parseable, so:
//! - every write to the socket, direct or by the writer task, happens under
//!   one mutex (the "write lock"), so an interleaved frame from a streaming
//!   thread and a request from the session task never mix;
//! - a sender writes directly only while the queue is empty; otherwise it
//!   appends to the queue, so queued bytes (including the remainder of a
//!   partly written frame) always go out before anything newer.
//!
//! The lock is only ever held across non-blocking system calls, never
//! across a wait: senders that must wait for room do so outside it
//! ([`Writer::send`]), and can be interrupted by whoever drives them.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rtspclient_protocol::message::{Framer, Limits, Message};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::error::{ClientError, ErrorKind};
use super::read_bounds::{Deadline, GARBAGE_ANSWER_WAIT, ReadBounds};

/// Bytes that may wait in the write queue before senders are told
/// [`SendError::Full`] (and block or drop, as they choose). Bounded so a
/// stalled peer cannot grow memory; about 700 full-size RTP packets, on
/// top of what the kernel's send buffer holds. A single send is accepted
/// whole while the queue is below the bound, so the queue can exceed it
/// by one send (a large buffer list).
pub const WRITE_QUEUE_BYTES: usize = 1024 * 1024;

/// Size of one socket read. Large enough to take a burst of interleaved
/// packets in one system call.
const READ_CHUNK: usize = 64 * 1024;

/// At most this many pieces per `sendmsg` (the kernel's IOV_MAX is 1024).
const MAX_IOV: usize = 512;

/// Why the writer refused data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (only from the `try_` methods); nothing was sent.
    Full,
    /// The connection is gone.
    Closed,
}

/// What the write lock guards: the socket (taken away when the connection
/// is dropped, so that clones of the [`Writer`] held by GStreamer pads do
/// not keep it open) and the queue of bytes not yet written.
struct WriteState {
    stream: Option<Arc<TcpStream>>,
    /// Bytes waiting for the writer task, oldest first. The front may be
    /// the unwritten rest of a frame whose beginning is on the wire.
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
}

impl WriteState {
    fn close(&mut self) {
        self.stream = None;
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// Write queued bytes until the queue is empty (`Ok`) or the socket
    /// would block (`Err(WouldBlock)`); other errors mean the connection
    /// is broken.
    fn flush(&mut self) -> io::Result<()> {
        let Some(stream) = self.stream.clone() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        while !self.queue.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .queue
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            let mut written = send_nonblocking(&stream, &slices)?;
            if written == 0 {
                // Not expected from TCP; never spin under the lock.
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.queued_bytes -= written;
            while written > 0 {
                let front = self.queue.front_mut().expect("written bytes were queued");
                if written >= front.len() {
                    written -= front.len();
                    self.queue.pop_front();
                } else {
                    front.advance(written);
                    written = 0;
                }
            }
        }
        Ok(())
    }
}

/// The write side shared by the connection, its writer task and every
/// [`Writer`] clone.
struct WriteShared {
    /// The write lock (see the module documentation).
    state: Mutex<WriteState>,
    /// Wakes the writer task: the queue went from empty to not empty, or
    /// the connection closed.
    queued: Notify,
    /// Wakes senders waiting for room in the queue (and on close).
    room: Notify,
}

impl WriteShared {
    fn lock(&self) -> MutexGuard<'_, WriteState> {
        // A panic under the lock leaves a consistent queue (or none).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self) {
        self.lock().close();
        self.queued.notify_one();
        self.room.notify_waiters();
    }
}

/// Cloneable handle to the write side of a connection. Every method is
/// safe to call from any thread, including GStreamer streaming threads;
/// only [`Writer::send`] waits.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<WriteShared>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without taking the write lock: Debug may run anywhere.
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Send bytes, waiting (asynchronously) for room in the queue. The
    /// caller bounds the wait (timeouts, `select!` with a stop signal).
    pub async fn send(&self, data: Bytes) -> Result<(), SendError> {
        self.send_with(|writer| writer.try_send(data.clone())).await
    }

    /// [`Writer::try_send_vectored`], waiting for room when the queue is
    /// full. `parts` are copied only if (part of) them must be queued.
    pub async fn send_vectored(&self, parts: &[IoSlice<'_>]) -> Result<(), SendError> {
        self.send_with(|writer| writer.try_send_vectored(parts))
            .await
    }

    async fn send_with(
        &self,
        mut attempt: impl FnMut(&Writer) -> Result<(), SendError>,
    ) -> Result<(), SendError> {
        loop {
            // Registered before the attempt, so room made between the
            // attempt and the wait is not missed.
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match attempt(self) {
                Err(SendError::Full) => room.await,
                other => return other,
            }
        }
    }

    /// Send bytes without waiting: written now if the socket takes them,
    /// queued otherwise; `Full` (nothing sent) when the queue is full.
    pub fn try_send(&self, data: Bytes) -> Result<(), SendError> {
        self.offer(&[IoSlice::new(&data)], Some(&data))
    }

    /// Send the concatenation of `parts` (e.g. several interleaved frames,
    /// each as header + payload pieces) without waiting and without
    /// copying them when the socket takes them at once, with one system
    /// call. All or nothing: either every byte is written or queued, or
    /// `Full` and none is.
    pub fn try_send_vectored(&self, parts: &[IoSlice<'_>]) -> Result<(), SendError> {
        self.offer(parts, None)
    }

    /// Bytes currently queued and not yet written.
    pub fn queued(&self) -> usize {
        self.shared.lock().queued_bytes
    }

    pub fn is_closed(&self) -> bool {
        self.shared.lock().stream.is_none()
    }

    /// Write `parts` directly if nothing is queued, queue what the socket
    /// did not take. `owned`: `parts` as one `Bytes`, queued without a copy.
    fn offer(&self, parts: &[IoSlice<'_>], owned: Option<&Bytes>) -> Result<(), SendError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let Some(stream) = state.stream.as_ref() else {
            return Err(SendError::Closed);
        };
        let mut written = 0;
        if state.queue.is_empty() {
            while written < total {
                match send_parts_from(stream, parts, written) {
                    Ok(0) => break,
                    Ok(n) => written += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        drop(guard);
                        self.shared.close();
                        return Err(SendError::Closed);
                    }
                }
            }
            if written == total {
                return Ok(());
            }
        } else if state.queued_bytes >= WRITE_QUEUE_BYTES {
            return Err(SendError::Full);
        }
        // The rest waits for the writer task. A remainder must be queued
        // even beyond the bound: its frame has begun on the wire.
        let rest = match owned {
            Some(bytes) => bytes.slice(written..),
            None => copy_from(parts, written, total - written),
        };
        let was_empty = state.queue.is_empty();
        state.queued_bytes += rest.len();
        state.queue.push_back(rest);
        drop(guard);
        if was_empty {
            self.shared.queued.notify_one();
        }
        Ok(())
    }
}

/// The bytes of `parts` from offset `skip`, `len` of them, as one buffer.
fn copy_from(parts: &[IoSlice<'_>], mut skip: usize, len: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(len);
    for part in parts {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        out.extend_from_slice(&part[skip..]);
        skip = 0;
    }
    out.freeze()
}

/// One non-blocking `sendmsg` of `parts` from byte offset `skip` (at most
/// [`MAX_IOV`] pieces).
fn send_parts_from(
    stream: &TcpStream,
    parts: &[IoSlice<'_>],
    mut skip: usize,
) -> io::Result<usize> {
    let mut first = 0;
    while first < parts.len() && skip >= parts[first].len() {
        skip -= parts[first].len();
        first += 1;
    }
    if skip == 0 {
        let end = parts.len().min(first + MAX_IOV);
        return send_nonblocking(stream, &parts[first..end]);
    }
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOV.min(parts.len() - first));
    slices.push(IoSlice::new(&parts[first][skip..]));
    slices.extend(parts[first + 1..].iter().take(MAX_IOV - 1).copied());
    send_nonblocking(stream, &slices)
}

/// `sendmsg` without blocking (the socket is non-blocking) and without
/// SIGPIPE (MSG_NOSIGNAL: a GStreamer application does not ignore it, and
/// a peer that closed must give an error, not kill the process). Through
/// tokio's readiness tracking, so that `WouldBlock` arms the writer task's
/// `writable()` wait.
fn send_nonblocking(stream: &TcpStream, parts: &[IoSlice<'_>]) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || {
        socket2::SockRef::from(stream).send_vectored_with_flags(parts, libc::MSG_NOSIGNAL)
    })
}

/// The read side plus a writer handle.
pub struct Connection {
    stream: Arc<TcpStream>,
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
        let stream = Arc::new(stream);
        let shared = Arc::new(WriteShared {
            state: Mutex::new(WriteState {
                stream: Some(stream.clone()),
                queue: VecDeque::new(),
                queued_bytes: 0,
            }),
            queued: Notify::new(),
            room: Notify::new(),
        });
        let writer_task = tokio::spawn(write_loop(shared.clone(), stream.clone()));
        Ok(Connection {
            stream,
            framer: Framer::new(Limits::default()),
            eof: false,
            completion_wait: timeout,
            bounds: ReadBounds::default(),
            writer: Writer { shared },
            local_addr,
            peer_addr,
            writer_task,
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
        let stream = &self.stream;
        let buffer = self.framer.buffer_mut();
        buffer.reserve(READ_CHUNK);
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

impl Drop for Connection {
    fn drop(&mut self) {
        // Clones of the Writer live on in GStreamer pads: take the socket
        // out of the shared state and stop the writer task, so that the
        // connection closes now.
        self.writer.shared.close();
        self.writer_task.abort();
    }
}

/// Drains the queue whenever senders could not write directly: waits until
/// something is queued, then until the socket is writable, then writes
/// under the write lock until the queue is empty or the socket is full.
async fn write_loop(shared: Arc<WriteShared>, stream: Arc<TcpStream>) {
    loop {
        let queued = shared.queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let (closed, empty) = {
            let state = shared.lock();
            (state.stream.is_none(), state.queue.is_empty())
        };
        if closed {
            break;
        }
        if empty {
            queued.await;
            continue;
        }
        if stream.writable().await.is_err() {
            break;
        }
        let result = {
            let mut state = shared.lock();
            let before = state.queued_bytes;
            let result = state.flush();
            (result, state.queued_bytes < before)
        };
        match result {
            (Ok(()), _) => shared.room.notify_waiters(),
            (Err(err), progressed) if err.kind() == io::ErrorKind::WouldBlock => {
                if progressed {
                    shared.room.notify_waiters();
                }
            }
            (Err(err), _) if err.kind() == io::ErrorKind::Interrupted => {}
            (Err(_), _) => break,
        }
    }
    shared.close();
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    const THREADS: u8 = 4;
    const FRAMES: u32 = 3000;
    /// Frames per vectored send (like a payloader's buffer list).
    const PER_SEND: u32 = 3;

    /// Frame `seq` of `channel`: `$`, channel, length, then the sequence
    /// number and a pattern that depends on both, sized 200…1400 bytes.
    fn frame_parts(channel: u8, seq: u32) -> ([u8; 8], Vec<u8>) {
        let len = 200 + (seq as usize * 7919) % 1200;
        let mut head = [b'$', channel, 0, 0, 0, 0, 0, 0];
        head[2..4].copy_from_slice(&((len + 4) as u16).to_be_bytes());
        head[4..8].copy_from_slice(&seq.to_be_bytes());
        let body = (0..len)
            .map(|i| (i as u32 ^ seq ^ channel as u32) as u8)
            .collect();
        (head, body)
    }

    /// Many threads write frames (several per vectored send) while the
    /// peer does not read at first, so the socket fills, sends go partly
    /// to the queue and the writer task finishes them; RTSP-like requests
    /// go in between from the runtime. Every frame must arrive whole and
    /// in each sender's order.
    #[test]
    fn concurrent_writers_keep_frames_whole_and_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (done_tx, done_rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            // Let the sender fill the socket buffers first.
            thread::sleep(Duration::from_millis(300));
            let mut data = Vec::new();
            let _ = socket.read_to_end(&mut data);
            let _ = done_tx.send(data);
        });

        let handle = crate::runtime::handle();
        let conn = handle
            .block_on(Connection::connect(&addr, Duration::from_secs(5)))
            .unwrap();
        let writer = conn.writer();
        let requests = {
            let writer = writer.clone();
            handle.spawn(async move {
                for i in 0..50u32 {
                    let text = format!("GET_PARAMETER rtsp://x RTSP/1.0\r\nCSeq: {i}\r\n\r\n");
                    writer.send(Bytes::from(text)).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let senders: Vec<_> = (0..THREADS)
            .map(|channel| {
                let writer = writer.clone();
                let handle = handle.clone();
                thread::spawn(move || {
                    for first in (0..FRAMES).step_by(PER_SEND as usize) {
                        let frames: Vec<_> = (first..first + PER_SEND)
                            .map(|seq| frame_parts(channel, seq))
                            .collect();
                        let parts: Vec<IoSlice<'_>> = frames
                            .iter()
                            .flat_map(|(head, body)| {
                                [IoSlice::new(&head[..]), IoSlice::new(&body[..])]
                            })
                            .collect();
                        match writer.try_send_vectored(&parts) {
                            Ok(()) => {}
                            Err(SendError::Full) => handle
                                .block_on(async {
                                    tokio::time::timeout(
                                        Duration::from_secs(20),
                                        writer.send_vectored(&parts),
                                    )
                                    .await
                                })
                                .expect("room within 20 s")
                                .unwrap(),
                            Err(SendError::Closed) => panic!("closed"),
                        }
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        handle.block_on(requests).unwrap();
        // Everything accepted is written before the connection goes away.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while writer.queued() > 0 {
            assert!(std::time::Instant::now() < deadline, "queue not drained");
            thread::sleep(Duration::from_millis(10));
        }
        handle.block_on(async move { drop(conn) });
        drop(writer);
        let data = done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        reader.join().unwrap();

        let mut next = [0u32; THREADS as usize];
        let mut requests = 0;
        let mut at = 0;
        while at < data.len() {
            if data[at] == b'$' {
                let channel = data[at + 1];
                let len = u16::from_be_bytes([data[at + 2], data[at + 3]]) as usize;
                let seq = u32::from_be_bytes(data[at + 4..at + 8].try_into().unwrap());
                assert_eq!(
                    seq, next[channel as usize],
                    "channel {channel} out of order"
                );
                let (head, body) = frame_parts(channel, seq);
                assert_eq!(&data[at..at + 8], &head[..]);
                assert_eq!(
                    &data[at + 8..at + 4 + len],
                    &body[..],
                    "frame {seq} damaged"
                );
                next[channel as usize] += 1;
                at += 4 + len;
            } else {
                let end = data[at..]
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("a request cut by a frame");
                assert!(data[at..].starts_with(b"GET_PARAMETER "));
                requests += 1;
                at += end + 4;
            }
        }
        assert_eq!(next, [FRAMES; THREADS as usize]);
        assert_eq!(requests, 50);
    }
}
