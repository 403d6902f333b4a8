//! RTP packets read straight from their bytes (RFC 3550 §5.1, §5.3.1):
//! the few fields the elements act on, nothing copied or rewritten.
//! Compound RTCP packets are in [`crate::rtcp`].

/// Length of the fixed RTP header, up to and including the SSRC.
pub const FIXED_HEADER: usize = 12;

/// The fields of the fixed header the jitterbuffer orders and times by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub payload_type: u8,
    pub seq: u16,
    pub rtptime: u32,
    pub ssrc: u32,
}

/// The fixed RTP header, or None when this is not an RTP version 2 packet.
pub fn parse_header(data: &[u8]) -> Option<RtpHeader> {
    if data.len() < FIXED_HEADER || data[0] >> 6 != 2 {
        return None;
    }
    Some(RtpHeader {
        payload_type: data[1] & 0x7f,
        seq: u16::from_be_bytes([data[2], data[3]]),
        rtptime: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
    })
}

/// The marker bit (for video, the last packet of a frame: RFC 3551 §4.1)
/// from a packet's first two bytes; None when fewer are there.
pub fn marker(data: &[u8]) -> Option<bool> {
    data.get(1).map(|second| second & 0x80 != 0)
}

/// The length of an RTP packet's header: the fixed part, the CSRC list
/// and the header extension. None when the packet is not RTP version 2
/// or the header runs past its end.
pub fn header_len(data: &[u8]) -> Option<usize> {
    if data.len() < FIXED_HEADER || data[0] >> 6 != 2 {
        return None;
    }
    let csrc_count = (data[0] & 0x0f) as usize;
    let mut header = FIXED_HEADER + 4 * csrc_count;
    if data[0] & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16 bits profile data, 16 bits length in words.
        let at = header + 2;
        let words = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]) as usize;
        header += 4 + 4 * words;
    }
    (header <= data.len()).then_some(header)
}

/// The length of the payload of an RTP packet: what is left after the
/// fixed header, the CSRC list, the header extension and the padding.
/// None when the packet is not RTP version 2 or one of these runs past
/// its end, or the padding count is 0 (RFC 3550 §5.1: it counts itself).
pub fn payload_len(data: &[u8]) -> Option<usize> {
    let header = header_len(data)?;
    let after_header = data.len() - header;
    let padding = if data[0] & 0x20 != 0 {
        match *data.last()? as usize {
            0 => return None,
            count => count,
        }
    } else {
        0
    };
    after_header.checked_sub(padding)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first two bytes as given, sequence number 1, timestamp 2,
    /// SSRC 3, then `body`.
    fn packet(first: u8, pt: u8, body: &[u8]) -> Vec<u8> {
        [&[first, pt, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3][..], body].concat()
    }

    #[test]
    fn reads_the_fixed_header() {
        let packet = [
            0x80, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2,
        ];
        assert_eq!(
            parse_header(&packet),
            Some(RtpHeader {
                payload_type: 96,
                seq: 0x1234,
                rtptime: 0x1000,
                ssrc: 0xdeadbeef
            })
        );
        assert_eq!(parse_header(&packet[..11]), None);
        let mut v1 = packet;
        v1[0] = 0x40;
        assert_eq!(parse_header(&v1), None);
    }

    #[test]
    fn reads_the_marker_bit() {
        assert_eq!(marker(&packet(0x80, 0x80 | 96, b"x")), Some(true));
        assert_eq!(marker(&packet(0x80, 96, b"x")), Some(false));
        assert_eq!(marker(&[0x80, 0xe0]), Some(true));
        assert_eq!(marker(&[0x80]), None);
        assert_eq!(marker(&[]), None);
    }

    #[test]
    fn payload_length_after_padding() {
        assert_eq!(payload_len(&packet(0x80, 96, b"abc")), Some(3));
        assert_eq!(payload_len(&packet(0x80, 96, b"")), Some(0));
        // All padding: eight octets, the last one counting them all.
        assert_eq!(
            payload_len(&packet(0xa0, 96, &[0, 0, 0, 0, 0, 0, 0, 8])),
            Some(0)
        );
        assert_eq!(payload_len(&packet(0xa0, 96, &[7, 7, 2])), Some(1));
        // More padding than payload, and a padding count of zero.
        assert_eq!(payload_len(&packet(0xa0, 96, &[1, 2, 3, 200])), None);
        assert_eq!(payload_len(&packet(0xa0, 96, &[1, 2, 3, 0])), None);
        // Padding bit on a packet that ends with its header: the count
        // would be read from the header itself.
        assert_eq!(payload_len(&packet(0xa0, 96, b"")), None);
        // One CSRC and a one-word extension before the payload.
        let mut data = packet(0x91, 96, &[0, 0, 0, 9]);
        data.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4, b'p']);
        assert_eq!(payload_len(&data), Some(1));
    }
}
