//! Compound RTCP packets read straight from their bytes (RFC 3550 §6.1,
//! §6.4.1, §6.6; RFC 5761 §4): walking the packets, the first sender
//! report, whether a BYE is among them.

/// Sender report (RFC 3550 §6.4.1).
pub const SENDER_REPORT: u8 = 200;
/// Goodbye (RFC 3550 §6.6).
pub const BYE: u8 = 203;

/// RTCP packet types SR, RR, SDES, BYE and APP, which RFC 5761 §4 tells
/// apart from RTP payload types 72 to 76 on a shared port.
const PACKET_TYPES: std::ops::RangeInclusive<u8> = 200..=204;

/// Whether a packet that arrived on an RTP port is RTCP multiplexed on it
/// (RFC 5761 §4: version 2 and an RTCP packet type in the second octet).
pub fn is_muxed_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] >> 6 == 2 && PACKET_TYPES.contains(&data[1])
}

/// One packet of a compound RTCP packet: its common header and as much of
/// the rest as there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    bytes: &'a [u8],
    complete: bool,
}

impl<'a> RtcpPacket<'a> {
    pub fn version(&self) -> u8 {
        self.bytes[0] >> 6
    }

    pub fn packet_type(&self) -> u8 {
        self.bytes[1]
    }

    /// False when the length field runs past the end of the compound
    /// packet: `bytes` is then what there is.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The packet, common header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The packets of a compound RTCP packet, in order. A packet whose length
/// runs past the end is the last one (incomplete): its type can still be
/// read, its body cannot be trusted. Trailing bytes too few for a common
/// header end the walk.
pub fn packets(data: &[u8]) -> impl Iterator<Item = RtcpPacket<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        let packet = if len > rest.len() {
            RtcpPacket {
                bytes: std::mem::take(&mut rest),
                complete: false,
            }
        } else {
            let (bytes, after) = rest.split_at(len);
            rest = after;
            RtcpPacket {
                bytes,
                complete: true,
            }
        };
        Some(packet)
    })
}

/// What the jitterbuffer takes from a sender report for lip-sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    pub ntp: u64,
    pub rtptime: u32,
}

/// The first sender report in a compound RTCP packet; None when a packet
/// before it is not version 2 or runs past the end.
pub fn find_sender_report(data: &[u8]) -> Option<SenderReport> {
    for packet in packets(data) {
        if packet.version() != 2 || !packet.is_complete() {
            return None;
        }
        let data = packet.bytes();
        if packet.packet_type() == SENDER_REPORT && data.len() >= 28 {
            let word = |at: usize| {
                u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
            };
            return Some(SenderReport {
                ssrc: word(4),
                ntp: (word(8) as u64) << 32 | word(12) as u64,
                rtptime: word(16),
            });
        }
    }
    None
}

/// Whether a compound RTCP packet contains a BYE, complete or cut short:
/// either way the sender is leaving.
pub fn contains_bye(data: &[u8]) -> bool {
    packets(data).any(|packet| packet.packet_type() == BYE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver report, a sender report and an SDES, in one compound.
    fn compound() -> Vec<u8> {
        let mut compound = vec![0x80, 201, 0, 1, 0, 0, 0, 9];
        compound.extend_from_slice(&[0x80, 200, 0, 6]);
        compound.extend_from_slice(&0xdeadbeefu32.to_be_bytes());
        compound.extend_from_slice(&0x0102030405060708u64.to_be_bytes());
        compound.extend_from_slice(&90_000u32.to_be_bytes());
        compound.extend_from_slice(&[0; 8]);
        compound.extend_from_slice(&[0x81, 202, 0, 0]);
        compound
    }

    #[test]
    fn walks_the_packets_of_a_compound() {
        let data = compound();
        let types: Vec<(u8, usize, bool)> = packets(&data)
            .map(|p| (p.packet_type(), p.bytes().len(), p.is_complete()))
            .collect();
        assert_eq!(types, [(201, 8, true), (200, 28, true), (202, 4, true)]);
        // Cut inside the sender report: it is the last, incomplete one.
        let types: Vec<(u8, usize, bool)> = packets(&data[..20])
            .map(|p| (p.packet_type(), p.bytes().len(), p.is_complete()))
            .collect();
        assert_eq!(types, [(201, 8, true), (200, 12, false)]);
        // Fewer bytes than a common header: nothing.
        assert_eq!(packets(&data[..3]).count(), 0);
    }

    #[test]
    fn finds_the_sender_report_after_a_receiver_report() {
        let data = compound();
        assert_eq!(
            find_sender_report(&data),
            Some(SenderReport {
                ssrc: 0xdeadbeef,
                ntp: 0x0102030405060708,
                rtptime: 90_000
            })
        );
        // Truncated: no report, no panic.
        assert_eq!(find_sender_report(&data[..20]), None);
        // A packet of another version before it ends the search.
        let mut v1 = data.clone();
        v1[0] = 0x40;
        assert_eq!(find_sender_report(&v1), None);
    }

    #[test]
    fn finds_a_bye_anywhere_in_the_compound() {
        let mut data = compound();
        assert!(!contains_bye(&data));
        data.extend_from_slice(&[0x81, BYE, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
        assert!(contains_bye(&data));
        // A BYE whose length runs past the end still says goodbye.
        assert!(contains_bye(&data[..data.len() - 2]));
        // Behind a packet whose length runs past the end: not reached.
        let mut hidden = vec![0x80, 201, 0, 9];
        hidden.extend_from_slice(&[0x81, BYE, 0, 0]);
        assert!(!contains_bye(&hidden));
        assert!(!contains_bye(&[]));
    }

    #[test]
    fn tells_muxed_rtcp_from_rtp() {
        assert!(is_muxed_rtcp(&[0x80, 200, 0, 6, 1, 2, 3, 4]));
        assert!(is_muxed_rtcp(&[0x81, 201, 0, 1]));
        assert!(!is_muxed_rtcp(&[0x80, 96, 0, 1]));
        // Payload type 72 without the marker bit (with it, it is an SR).
        assert!(!is_muxed_rtcp(&[0x80, 72]));
        assert!(!is_muxed_rtcp(&[0x40, 200]));
        assert!(!is_muxed_rtcp(&[0x80]));
    }
}
