//! What a received RTP packet is, read from its bytes (RFC 3550 §5.1,
//! §5.3.1; RFC 5761 §4), before it goes into `rtpbin` or leaves the
//! element. Whatever a camera or an attacker sends, a packet is one of
//! these, and only well-formed packets of an announced payload type get
//! through: `rtpbin` and the depayloaders behind it cannot all take the
//! rest (docs/QUIRKS.md, "Hostile RTP"). The bytes are read by the
//! protocol crate's `rtp` and `rtcp` views; this is the receive policy.

use rtspclient_protocol::{rtcp, rtp};

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

/// Classify a packet received for a stream whose announced payload types
/// are `payload_types`. `secure`: an SRTP packet (RFC 3711 §3.1), whose
/// padding is encrypted and followed by the authentication tag, so only
/// its header can be checked; srtpdec authenticates the rest.
pub fn classify(data: &[u8], payload_types: &PayloadTypes, secure: bool) -> Verdict {
    if rtcp::is_muxed_rtcp(data) {
        return Verdict::MuxedRtcp;
    }
    let len = if secure {
        rtp::header_len(data).map(|header| data.len() - header)
    } else {
        rtp::payload_len(data)
    };
    let Some(len) = len else {
        return Verdict::Malformed;
    };
    // An empty SRTP payload is still decrypted and authenticated.
    let len = if secure { len.max(1) } else { len };
    let pt = data[1] & 0x7f;
    if payload_types.contains(pt) {
        Verdict::Rtp { empty: len == 0 }
    } else {
        Verdict::UnknownPayloadType(pt)
    }
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
            classify(&packet(0x80, 96, b"x"), &set, false),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 0x80 | 96, b"x"), &set, false),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 0, b"x"), &set, false),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 127, b"x"), &set, false),
            Verdict::Rtp { empty: false }
        );
        assert_eq!(
            classify(&packet(0x80, 97, b"x"), &set, false),
            Verdict::UnknownPayloadType(97)
        );
        assert_eq!(
            classify(&packet(0x80, 0x80 | 8, b"x"), &set, false),
            Verdict::UnknownPayloadType(8)
        );
        // All padding (P bit, 4 bytes counting themselves): RTP, empty.
        assert_eq!(
            classify(&packet(0xa0, 96, &[0, 0, 0, 4]), &set, false),
            Verdict::Rtp { empty: true }
        );
        set.set([97]);
        assert_eq!(
            classify(&packet(0x80, 97, b"x"), &set, false),
            Verdict::Rtp { empty: false }
        );
        assert!(!set.contains(96));
    }

    #[test]
    fn rtcp_on_the_rtp_port_is_told_apart() {
        let set = types(&[96]);
        let sender_report = [0x80, 200, 0, 6, 1, 2, 3, 4];
        assert_eq!(classify(&sender_report, &set, false), Verdict::MuxedRtcp);
        assert_eq!(
            classify(&[0x81, 201, 0, 1], &set, false),
            Verdict::MuxedRtcp
        );
    }

    #[test]
    fn not_rtp_is_malformed() {
        let set = types(&[96]);
        assert_eq!(classify(&[], &set, false), Verdict::Malformed);
        assert_eq!(classify(&[0x80, 96, 0, 1], &set, false), Verdict::Malformed);
        assert_eq!(
            classify(&packet(0x40, 96, b"x"), &set, false),
            Verdict::Malformed
        );
        // Two CSRCs announced, one present.
        assert_eq!(
            classify(&packet(0x82, 96, &[0; 4]), &set, false),
            Verdict::Malformed
        );
        // An extension header cut short, and one longer than the packet.
        assert_eq!(
            classify(&packet(0x90, 96, &[0xbe, 0xde]), &set, false),
            Verdict::Malformed
        );
        assert_eq!(
            classify(
                &packet(0x90, 96, &[0xbe, 0xde, 0, 2, 0, 0, 0, 0]),
                &set,
                false
            ),
            Verdict::Malformed
        );
    }

    #[test]
    fn srtp_packets_are_judged_by_their_header() {
        let set = types(&[96]);
        // Padding bit set, and the last byte (part of the authentication
        // tag) claims more padding than there is: fine for SRTP, not RTP.
        let srtp = packet(0xa0, 96, &[1, 2, 3, 0xff]);
        assert_eq!(classify(&srtp, &set, true), Verdict::Rtp { empty: false });
        assert_eq!(classify(&srtp, &set, false), Verdict::Malformed);
        assert_eq!(
            classify(&packet(0x80, 97, b"x"), &set, true),
            Verdict::UnknownPayloadType(97)
        );
        assert_eq!(classify(&[0x80, 96, 0, 1], &set, true), Verdict::Malformed);
    }
}
