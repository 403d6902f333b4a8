//! Putting RTP packets on the wire from the streaming thread, with as few
//! copies and system calls as the buffers allow.
//!
//! A payloader's output buffer is an RTP header memory plus a region of its
//! input's memory, and a payloader pushes a frame's packets as one buffer
//! list. Mapping such a buffer whole makes GStreamer merge (allocate and
//! copy) its memories, for every packet; here each memory is mapped on its
//! own and handed to the kernel as an I/O slice, and a list goes out with
//! one `sendmsg` (TCP, the interleaved frames back to back) or, over UDP,
//! as few messages as `driver::datagrams` can make of it.

use std::io::{self, IoSlice};
use std::ops::Range;

use tokio::io::Interest;

use super::imp::CAT;

/// The RTP packets of one chain call.
#[derive(Clone, Copy)]
pub enum Packets<'a> {
    One(&'a gst::BufferRef),
    List(&'a gst::BufferListRef),
}

impl<'a> Packets<'a> {
    pub fn first(self) -> Option<&'a gst::BufferRef> {
        match self {
            Packets::One(buffer) => Some(buffer),
            Packets::List(list) => list.get(0),
        }
    }

    pub fn last(self) -> Option<&'a gst::BufferRef> {
        match self {
            Packets::One(buffer) => Some(buffer),
            Packets::List(list) => list.len().checked_sub(1).and_then(|i| list.get(i)),
        }
    }

    pub fn len(self) -> usize {
        match self {
            Packets::One(_) => 1,
            Packets::List(list) => list.len(),
        }
    }

    pub fn iter(self) -> impl Iterator<Item = &'a gst::BufferRef> {
        let (one, list) = match self {
            Packets::One(buffer) => (Some(buffer), None),
            Packets::List(list) => (None, Some(list.iter())),
        };
        one.into_iter().chain(list.into_iter().flatten())
    }
}

/// One packet to send and what to write into its first RTP bytes.
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    pub buffer: &'a gst::BufferRef,
    /// The sequence number to write, when it differs from the packet's
    /// (see `h26x::ParameterSetGuard`).
    pub seq: Option<u16>,
}

impl<'a> Outgoing<'a> {
    pub fn unchanged(buffer: &'a gst::BufferRef) -> Self {
        Outgoing { buffer, seq: None }
    }
}

/// A chain call's packets with their memories mapped, ready to be sent as
/// I/O slices.
pub struct MappedPackets<'a> {
    /// Mapped memories and how many bytes to skip at their start (carried
    /// by the packet's prefix instead).
    maps: Vec<(gst::MemoryMap<'a, gst::memory::Readable>, usize)>,
    /// Per packet: the bytes sent before its memories (interleaved header
    /// and/or the first four RTP bytes with a rewritten payload type or
    /// sequence number), their length, and the range of `maps` that
    /// follows.
    packets: Vec<([u8; 8], usize, Range<usize>)>,
    /// RTP bytes of the packets to send, for the statistics.
    pub bytes: u64,
}

impl<'a> MappedPackets<'a> {
    /// Map `packets`, skipping what cannot be sent (shorter than an RTP
    /// header; over 64 KiB for TCP). `channel`: prefix each packet with an
    /// interleaved header for that channel (RFC 2326 10.12). `pt_rewrite`:
    /// the payload type to write into each packet.
    pub fn map(
        pad: &gst::Pad,
        packets: &[Outgoing<'a>],
        channel: Option<u8>,
        pt_rewrite: Option<u8>,
    ) -> Result<MappedPackets<'a>, gst::FlowError> {
        let mut mapped = MappedPackets {
            maps: Vec::with_capacity(packets.len() * 2),
            packets: Vec::with_capacity(packets.len()),
            bytes: 0,
        };
        for &Outgoing { buffer, seq } in packets {
            let size = buffer.size();
            if size < 12 {
                continue;
            }
            let mut prefix = [0u8; 8];
            let mut prefix_len = 0;
            if let Some(channel) = channel {
                let Ok(len) = u16::try_from(size) else {
                    gst::warning!(CAT, obj = pad, "Packet too large for TCP, skipped");
                    continue;
                };
                prefix[0] = b'$';
                prefix[1] = channel;
                prefix[2..4].copy_from_slice(&len.to_be_bytes());
                prefix_len = 4;
            }
            let mut skip = 0;
            if pt_rewrite.is_some() || seq.is_some() {
                let mut start = [0u8; 4];
                if buffer.copy_to_slice(0, &mut start).is_err() {
                    continue;
                }
                if let Some(pt) = pt_rewrite {
                    start[1] = (start[1] & 0x80) | (pt & 0x7f);
                }
                if let Some(seq) = seq {
                    start[2..4].copy_from_slice(&seq.to_be_bytes());
                }
                prefix[prefix_len..prefix_len + 4].copy_from_slice(&start);
                prefix_len += 4;
                skip = 4;
            }
            let first = mapped.maps.len();
            for memory in buffer.iter_memories() {
                let map = memory.map_readable().map_err(|_| gst::FlowError::Error)?;
                if map.len() <= skip {
                    skip -= map.len();
                    continue;
                }
                mapped.maps.push((map, skip));
                skip = 0;
            }
            mapped
                .packets
                .push((prefix, prefix_len, first..mapped.maps.len()));
            mapped.bytes += size as u64;
        }
        Ok(mapped)
    }

    /// Packets to send.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Every packet's bytes as I/O slices, and each packet's range in them.
    pub fn slices(&self) -> (Vec<IoSlice<'_>>, Vec<Range<usize>>) {
        let mut slices = Vec::with_capacity(self.packets.len() + self.maps.len());
        let mut ranges = Vec::with_capacity(self.packets.len());
        for (prefix, prefix_len, maps) in &self.packets {
            let start = slices.len();
            if *prefix_len > 0 {
                slices.push(IoSlice::new(&prefix[..*prefix_len]));
            }
            slices.extend(
                self.maps[maps.clone()]
                    .iter()
                    .map(|(map, skip)| IoSlice::new(&map[*skip..])),
            );
            ranges.push(start..slices.len());
        }
        (slices, ranges)
    }
}

/// Send one datagram on a socket that is not registered with the reactor,
/// once it is writable: a duplicate of the socket is registered for this
/// wait only (see `sender::UdpRoute`).
pub async fn send_when_writable(
    socket: &std::net::UdpSocket,
    datagram: &[IoSlice<'_>],
    dest: &socket2::SockAddr,
) -> io::Result<()> {
    let registered = tokio::net::UdpSocket::from_std(socket.try_clone()?)?;
    loop {
        registered.writable().await?;
        match registered.try_io(Interest::WRITABLE, || {
            socket2::SockRef::from(&registered).send_to_vectored(datagram, dest)
        }) {
            Ok(_) => return Ok(()),
            // Still full: the readiness was cleared, wait for the next edge.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
}
