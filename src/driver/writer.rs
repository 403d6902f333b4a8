//! The write side of an RTSP control connection, which any thread may use.
//!
//! Published RTP (rtspsink), RTCP from `rtpbin` (both elements) and
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
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::Interest;
use tokio::sync::Notify;

use super::socket::ControlSocket;

/// Bytes that may wait in the write queue before senders are told
/// [`SendError::Full`] (and block or drop, as they choose). Bounded so a
/// stalled peer cannot grow memory; about 700 full-size RTP packets, on
/// top of what the kernel's send buffer holds. A single send is accepted
/// whole while the queue is below the bound, so the queue can exceed it
/// by one send (a large buffer list).
pub const WRITE_QUEUE_BYTES: usize = 1024 * 1024;

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
    stream: Option<Arc<ControlSocket>>,
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
    /// The write side of a freshly connected `stream`, with its writer
    /// task on the current runtime; the connection aborts the task when
    /// it is dropped.
    pub(super) fn start(stream: Arc<ControlSocket>) -> (Writer, tokio::task::JoinHandle<()>) {
        let shared = Arc::new(WriteShared {
            state: Mutex::new(WriteState {
                stream: Some(stream.clone()),
                queue: VecDeque::new(),
                queued_bytes: 0,
            }),
            queued: Notify::new(),
            room: Notify::new(),
        });
        let writer_task = tokio::spawn(write_loop(shared.clone(), stream));
        (Writer { shared }, writer_task)
    }

    /// Take the socket away from every clone (see [`WriteState`]) and wake
    /// whoever waits on the write side.
    pub(super) fn close(&self) {
        self.shared.close();
    }

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
    stream: &ControlSocket,
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
fn send_nonblocking(stream: &ControlSocket, parts: &[IoSlice<'_>]) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || {
        socket2::SockRef::from(stream).send_vectored_with_flags(parts, libc::MSG_NOSIGNAL)
    })
}

/// Drains the queue whenever senders could not write directly: waits until
/// something is queued, then until the socket is writable, then writes
/// under the write lock until the queue is empty or the socket is full.
async fn write_loop(shared: Arc<WriteShared>, stream: Arc<ControlSocket>) {
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
    use std::time::Duration;

    use super::*;
    use crate::driver::connection::Connection;

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
