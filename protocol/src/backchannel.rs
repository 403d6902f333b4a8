//! The ONVIF audio backchannel (ONVIF Streaming Specification, "Back
//! channel connection"): the client asks for it with a feature tag in
//! `Require` (RFC 2326 §12.32), the server then describes one more media
//! section marked `a=sendonly` (the client sends, the server receives),
//! and the client sends RTP to it on the transport SETUP negotiated for
//! that section.
//!
//! What to ask, which stream is the backchannel, whether the server
//! refused it and which packets may go out: decisions only, no I/O.

use crate::caps::StreamDescription;
use crate::rtp;

/// The feature tag of the ONVIF backchannel, for `Require`.
pub const REQUIRE_TAG: &str = "www.onvif.org/ver20/backchannel";

/// Whether `description` is a stream the client sends on: ONVIF marks the
/// backchannel `a=sendonly`, from the client's point of view
/// (gst-rtsp-server marks the streams it sends `a=recvonly`).
pub fn is_backchannel(description: &StreamDescription) -> bool {
    description.direction.as_deref() == Some("sendonly")
}

/// Whether an answer refuses the backchannel: 551 Option not supported
/// (RFC 2326 §11.3.14), whose `Unsupported` header lists the tags the
/// server does not know (§12.40). A 551 without that header counts too:
/// ours is the only tag sent.
pub fn refused(status: u16, unsupported: Option<&str>) -> bool {
    status == 551
        && unsupported.is_none_or(|tags| {
            tags.split(',')
                .any(|tag| tag.trim().eq_ignore_ascii_case(REQUIRE_TAG))
        })
}

/// Why a packet handed to the backchannel does not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsendable {
    /// Not an RTP version 2 packet (shorter than its fixed header, or
    /// another version): the application handed something else.
    NotRtp,
    /// Its payload type is not one the server described for the
    /// backchannel, so the server has no depayloader for it.
    UnknownPayloadType(u8),
}

/// Check one RTP packet against the payload types the description of the
/// backchannel lists.
pub fn check_packet(packet: &[u8], payload_types: &[u8]) -> Result<(), Unsendable> {
    let header = rtp::parse_header(packet).ok_or(Unsendable::NotRtp)?;
    if payload_types.contains(&header.payload_type) {
        Ok(())
    } else {
        Err(Unsendable::UnknownPayloadType(header.payload_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::streams_from_sdp;
    use crate::sdp::SessionDescription;

    /// gst-rtsp-server's ONVIF answer to a DESCRIBE with the tag: the
    /// stream it sends `recvonly`, the backchannel `sendonly`.
    const ONVIF_SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Session\r\nt=0 0\r\n\
        a=range:npt=now-\r\n\
        m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n\
        a=control:stream=0\r\na=x-onvif-track:VIDEO000\r\na=recvonly\r\n\
        m=audio 0 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\n\
        a=control:stream=1\r\na=x-onvif-track:AUDIO001\r\na=sendonly\r\n";

    #[test]
    fn sendonly_section_is_the_backchannel() {
        let sdp = SessionDescription::parse(ONVIF_SDP.as_bytes()).unwrap();
        let streams = streams_from_sdp(&sdp);
        assert_eq!(streams.len(), 2);
        assert!(!is_backchannel(&streams[0]));
        assert!(is_backchannel(&streams[1]));
        assert_eq!(streams[1].control.as_deref(), Some("stream=1"));
    }

    #[test]
    fn session_level_sendonly_marks_every_section() {
        let sdp = SessionDescription::parse(
            b"v=0\r\ns=x\r\nt=0 0\r\na=sendonly\r\nm=audio 0 RTP/AVP 8\r\n",
        )
        .unwrap();
        assert!(is_backchannel(&streams_from_sdp(&sdp)[0]));
    }

    #[test]
    fn refusals() {
        assert!(refused(551, Some(REQUIRE_TAG)));
        assert!(refused(551, Some("foo, WWW.ONVIF.ORG/ver20/backchannel ")));
        assert!(refused(551, None));
        assert!(!refused(551, Some("www.onvif.org/ver20/replay")));
        assert!(!refused(200, None));
        assert!(!refused(404, Some(REQUIRE_TAG)));
    }

    #[test]
    fn packets_checked_against_described_payload_types() {
        let mut packet = [0u8; 14];
        packet[0] = 0x80;
        packet[1] = 0x80; // marker, payload type 0
        assert_eq!(check_packet(&packet, &[0, 8]), Ok(()));
        packet[1] = 96;
        assert_eq!(
            check_packet(&packet, &[0, 8]),
            Err(Unsendable::UnknownPayloadType(96))
        );
        assert_eq!(check_packet(&packet[..11], &[96]), Err(Unsendable::NotRtp));
        packet[0] = 0x40;
        assert_eq!(check_packet(&packet, &[96]), Err(Unsendable::NotRtp));
    }
}
