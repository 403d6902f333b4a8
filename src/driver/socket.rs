//! The socket the RTSP control connection reads and writes: the TCP
//! connection to the server itself, or, for TLS and HTTP tunnelling, one
//! end of a local socket pair whose other end a [`super::pump`] task
//! bridges to the secured or tunnelled connection.
//!
//! Both kinds are plain non-blocking sockets, so the framing, the bounded
//! reads and the writer's direct `sendmsg` from streaming threads
//! ([`super::writer`]) are one code path for every transport. A socket pair
//! is private to the process: unlike a loopback TCP port, nothing else can
//! connect to it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

#[derive(Debug)]
pub enum ControlSocket {
    Tcp(TcpStream),
    Local(UnixStream),
}

impl ControlSocket {
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            ControlSocket::Tcp(s) => s.readable().await,
            ControlSocket::Local(s) => s.readable().await,
        }
    }

    pub async fn writable(&self) -> io::Result<()> {
        match self {
            ControlSocket::Tcp(s) => s.writable().await,
            ControlSocket::Local(s) => s.writable().await,
        }
    }

    /// Run a non-blocking operation through tokio's readiness tracking:
    /// `WouldBlock` from `f` clears the readiness, so the next
    /// [`ControlSocket::readable`]/[`ControlSocket::writable`] waits.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        match self {
            ControlSocket::Tcp(s) => s.try_io(interest, f),
            ControlSocket::Local(s) => s.try_io(interest, f),
        }
    }

    pub fn try_read_buf(&self, buffer: &mut BytesMut) -> io::Result<usize> {
        match self {
            ControlSocket::Tcp(s) => s.try_read_buf(buffer),
            ControlSocket::Local(s) => s.try_read_buf(buffer),
        }
    }
}

impl AsFd for ControlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ControlSocket::Tcp(s) => s.as_fd(),
            ControlSocket::Local(s) => s.as_fd(),
        }
    }
}
