//! Where a session sends its own packets to the server, one at a time and
//! never waiting: rtpbin's RTCP (both elements) and the RTP of an ONVIF
//! backchannel. Over TCP a packet becomes an interleaved frame on the RTSP
//! connection (RFC 2326 §10.12); over UDP a datagram to the server's port.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rtspclient_protocol::message::encode_interleaved;

use super::writer::{SendError, Writer};

/// The way out for one kind of packet of one stream.
#[derive(Debug, Clone)]
pub enum PacketRoute {
    Udp {
        socket: Arc<tokio::net::UdpSocket>,
        destination: SocketAddr,
    },
    Interleaved {
        writer: Writer,
        channel: u8,
    },
}

/// Why a packet did not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The connection's write queue or the socket's send buffer is full:
    /// this packet is dropped, later ones may pass.
    Full,
    /// The connection is gone, or the socket failed, or the packet cannot
    /// be framed (over 64 KiB for an interleaved frame).
    Failed,
}

impl PacketRoute {
    /// Send one packet without blocking the caller (a streaming thread or
    /// the runtime).
    pub fn try_send(&self, data: &[u8]) -> Result<(), RouteError> {
        match self {
            PacketRoute::Udp {
                socket,
                destination,
            } => match socket.try_send_to(data, *destination) {
                Ok(_) => Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => Err(RouteError::Full),
                Err(_) => Err(RouteError::Failed),
            },
            PacketRoute::Interleaved { writer, channel } => {
                let mut frame = Vec::with_capacity(data.len() + 4);
                encode_interleaved(*channel, data, &mut frame).map_err(|_| RouteError::Failed)?;
                writer
                    .try_send(Bytes::from(frame))
                    .map_err(|err| match err {
                        SendError::Full => RouteError::Full,
                        SendError::Closed => RouteError::Failed,
                    })
            }
        }
    }
}
