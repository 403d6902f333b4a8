//! The few RTP and RTCP fields the jitterbuffer needs, read straight from
//! the bytes (RFC 3550 §5.1 and §6.4.1); everything else passes through
//! untouched.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub payload_type: u8,
    pub seq: u16,
    pub rtptime: u32,
    pub ssrc: u32,
}

/// The fixed RTP header, or None when this is not an RTP version 2 packet.
pub fn parse_rtp(data: &[u8]) -> Option<RtpHeader> {
    if data.len() < 12 || data[0] >> 6 != 2 {
        return None;
    }
    Some(RtpHeader {
        payload_type: data[1] & 0x7f,
        seq: u16::from_be_bytes([data[2], data[3]]),
        rtptime: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    pub ntp: u64,
    pub rtptime: u32,
}

const RTCP_SR: u8 = 200;

/// The first sender report in a compound RTCP packet.
pub fn find_sender_report(mut data: &[u8]) -> Option<SenderReport> {
    while data.len() >= 4 {
        if data[0] >> 6 != 2 {
            return None;
        }
        let length = (u16::from_be_bytes([data[2], data[3]]) as usize + 1) * 4;
        if length > data.len() {
            return None;
        }
        if data[1] == RTCP_SR && length >= 28 {
            let word = |at: usize| {
                u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
            };
            return Some(SenderReport {
                ssrc: word(4),
                ntp: (word(8) as u64) << 32 | word(12) as u64,
                rtptime: word(16),
            });
        }
        data = &data[length..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rtp_header() {
        let packet = [
            0x80, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2,
        ];
        assert_eq!(
            parse_rtp(&packet),
            Some(RtpHeader {
                payload_type: 96,
                seq: 0x1234,
                rtptime: 0x1000,
                ssrc: 0xdeadbeef
            })
        );
        assert_eq!(parse_rtp(&packet[..11]), None);
        let mut v1 = packet;
        v1[0] = 0x40;
        assert_eq!(parse_rtp(&v1), None);
    }

    #[test]
    fn finds_the_sender_report_after_a_receiver_report() {
        let mut compound = vec![0x80, 201, 0, 1, 0, 0, 0, 9];
        compound.extend_from_slice(&[0x80, 200, 0, 6]);
        compound.extend_from_slice(&0xdeadbeefu32.to_be_bytes());
        compound.extend_from_slice(&0x0102030405060708u64.to_be_bytes());
        compound.extend_from_slice(&90_000u32.to_be_bytes());
        compound.extend_from_slice(&[0; 8]);
        compound.extend_from_slice(&[0x81, 202, 0, 0]);
        assert_eq!(
            find_sender_report(&compound),
            Some(SenderReport {
                ssrc: 0xdeadbeef,
                ntp: 0x0102030405060708,
                rtptime: 90_000
            })
        );
        // Truncated: no report, no panic.
        assert_eq!(find_sender_report(&compound[..20]), None);
    }
}
