//! Receiving a stream's UDP sockets (unicast or multicast) into its
//! output, and opening the path to the server before PLAY.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::driver::udp::UdpPair;

use super::streams::StreamOutput;

use super::channels::MAX_BATCH;

/// Send one small datagram from each socket to the server's ports so NAT
/// and stateful firewalls let the server's packets in (as C rtspsrc does).
pub fn punch_holes(pair: &UdpPair, rtp: SocketAddr, rtcp: SocketAddr) {
    // An RTP-version-0 byte pattern is ignored by RTP stacks.
    const DUMMY: [u8; 4] = [0, 0, 0, 0];
    let _ = pair.rtp.try_send_to(&DUMMY, rtp);
    let _ = pair.rtcp.try_send_to(&DUMMY, rtcp);
}

pub async fn receive_udp(pair: UdpPair, output: Arc<StreamOutput>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            ready = pair.rtp.readable() => {
                if ready.is_err() { return; }
                // Up to a batch of what waits in the socket goes to rtpbin
                // in one turn; stopping before WouldBlock keeps the socket
                // ready, so the rest follows on the next one.
                while batch.len() < MAX_BATCH {
                    match recv_now(&pair.rtp, &output) {
                        Some(packet) => batch.push(packet),
                        None => break,
                    }
                }
                output.push_rtp_buffers(batch.drain(..));
            }
            ready = pair.rtcp.readable() => {
                if ready.is_err() { return; }
                while let Some(packet) = recv_now(&pair.rtcp, &output) {
                    output.push_rtcp_buffer(packet);
                }
            }
        }
    }
}

thread_local! {
    /// One receive buffer per runtime thread instead of one per stream: a
    /// UDP datagram can be 64 KiB, and hundreds of streams would each hold
    /// one otherwise.
    static RECEIVE_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 65536]);
}

/// One datagram if one is waiting, copied into a buffer of this thread's
/// pool.
fn recv_now(socket: &tokio::net::UdpSocket, output: &StreamOutput) -> Option<gst::Buffer> {
    RECEIVE_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        loop {
            match socket.try_recv(&mut buffer) {
                // Hole-punch echoes and empty datagrams carry nothing.
                Ok(n) if n < 4 => continue,
                Ok(n) => return Some(output.packet_buffer(&buffer[..n])),
                Err(_) => return None,
            }
        }
    })
}
