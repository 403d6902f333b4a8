//! What a received RTP packet is, read from its bytes (RFC 3550 §5.1,
//! §5.3.1; RFC 5761 §4), before it goes into `rtpbin` or leaves the
//! element. Whatever a camera or an attacker sends, a packet is one of
//! these, and only well-formed packets of an announced payload type get
//! through: `rtpbin` and the depayloaders behind it cannot all take the
//! rest (docs/QUIRKS.md, "Hostile RTP").

/// What to do with a packet that arrived on an RTP port or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// RTP of a payload type the SDP announced for this stream; `empty`:
    /// nothing is left after the padding (see `StreamOutput::mark_empty`).
    Rtp { empty: bool },
    /// RTCP multiplexed on the RTP port (RFC 5761 §4: the second octet is
    /// an RTCP packet type, 200 to 204): it belongs on the RTCP path.
    MuxedRtcp,
    /// Not an RTP packet: too short, not version 2, or its CSRC list,
    /// header extension or padding run past its end.
    Malformed,
    /// Well-formed RTP of a payload type the SDP did not list.
    UnknownPayloadType(u8),
}

const FIXED_HEADER: usize = 12;

/// RTCP packet types SR, RR, SDES, BYE and APP, which RFC 5761 §4 tells
/// apart from RTP payload types 72 to 76 on a shared port.
const RTCP_TYPES: std::ops::RangeInclusive<u8> = 200..=204;

/// Classify a packet received for a stream whose announced payload types
/// are `payload_types`.
pub fn classify(data: &[u8], payload_types: &PayloadTypes) -> Verdict {
    if data.len() >= 2 && data[0] >> 6 == 2 && RTCP_TYPES.contains(&data[1]) {
        return Verdict::MuxedRtcp;
    }
    let Some(len) = payload_len(data) else {
        return Verdict::Malformed;
    };
    let pt = data[1] & 0x7f;
    if payload_types.contains(pt) {
        Verdict::Rtp { empty: len == 0 }
    } else {
        Verdict::UnknownPayloadType(pt)
    }
}

/// The length of the payload of an RTP packet: what is left after the
/// fixed header, the CSRC list, the header extension and the padding.
/// None when the packet is not RTP version 2 or one of these runs past
/// its end, or the padding count is 0 (RFC 3550 §5.1: it counts itself).
pub fn payload_len(data: &[u8]) -> Option<usize> {
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
    let after_header = data.len().checked_sub(header)?;
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

/// The payload types announced for one stream: a 128-bit set that the
/// receive path reads without a lock while the session may update it.
#[derive(Debug, Default)]
pub struct PayloadTypes {
    bits: [std::sync::atomic::AtomicU64; 2],
}

impl PayloadTypes {
    pub fn set(&self, types: impl IntoIterator<Item = u8>) {
        let mut bits = [0u64; 2];
        for pt in types {
            let pt = pt & 0x7f;
            bits[(pt / 64) as usize] |= 1 << (pt % 64);
        }
        for (word, value) in self.bits.iter().zip(bits) {
            word.store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn contains(&self, pt: u8) -> bool {
        let pt = pt & 0x7f;
        self.bits[(pt / 64) as usize].load(std::sync::atomic::Ordering::Relaxed) & (1 << (pt % 64))
            != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(list: &[u8]) -> PayloadTypes {
        let set = PayloadTypes::default();
        set.set(list.iter().copied());
        set
    }

    fn packet(first: u8, pt: u8, body: &[u8]) -> Vec<u8> {
        let mut data = vec![first, pt, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        data.extend_from_slice(body);
        data
    }

    #[test]
    fn announced_payload_types_pass() {
        let set = types(&[96, 0, 127]);
        assert_eq!(
            classify(&packet(0x80, 96, b"x"), &set),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 0x80 | 96, b"x"), &set),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 0, b"x"), &set),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 127, b"x"), &set),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 97, b"x"), &set),
            Verdict::UnknownPayloadType(97)
        );
        assert_eq!(
            classify(&packet(0x80, 0x80 | 8, b"x"), &set),
            Verdict::UnknownPayloadType(8)
        );
        // All padding (P bit, 4 bytes counting themselves): RTP, empty.
        assert_eq!(
            classify(&packet(0xa0, 96, &[0, 0, 0, 4]), &set),
            Verdict::Rtp { empty: true }
        );
        set.set([97]);
        assert_eq!(
            classify(&packet(0x80, 97, b"x"), &set),
            Verdict::Rtp { empty: false }
        );
        assert!(!set.contains(96));
    }

    #[test]
    fn rtcp_on_the_rtp_port_is_told_apart() {
        let set = types(&[96]);
        let sender_report = [0x80, 200, 0, 6, 1, 2, 3, 4];
        assert_eq!(classify(&sender_report, &set), Verdict::MuxedRtcp);
        assert_eq!(classify(&[0x81, 201, 0, 1], &set), Verdict::MuxedRtcp);
    }

    #[test]
    fn not_rtp_is_malformed() {
        let set = types(&[96]);
        assert_eq!(classify(&[], &set), Verdict::Malformed);
        assert_eq!(classify(&[0x80, 96, 0, 1], &set), Verdict::Malformed);
        assert_eq!(classify(&packet(0x40, 96, b"x"), &set), Verdict::Malformed);
        // Two CSRCs announced, one present.
        assert_eq!(
            classify(&packet(0x82, 96, &[0; 4]), &set),
            Verdict::Malformed
        );
        // An extension header cut short, and one longer than the packet.
        assert_eq!(
            classify(&packet(0x90, 96, &[0xbe, 0xde]), &set),
            Verdict::Malformed
        );
        assert_eq!(
            classify(&packet(0x90, 96, &[0xbe, 0xde, 0, 2, 0, 0, 0, 0]), &set),
            Verdict::Malformed
        );
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
