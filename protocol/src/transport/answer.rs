//! Whether a server's SETUP answer describes a transport the client can
//! use for what it asked. Pure: the elements call [`check_answer`] right
//! where they read the answer, and fail the SETUP with its error instead
//! of waiting for data that cannot come (channels past 255, a UDP answer
//! to a TCP request) or sending to port 0.
//!
//! The parser stays tolerant ([`Transport::parse`] keeps unusable values
//! aside); this check is strict only about what the client would act on:
//! the lower transport, the interleaved channels of a TCP answer and the
//! ports of a UDP one (README, "Limits").

use super::{Delivery, LowerTransport, Transport, TransportError};

/// `Ok` if `answer` can carry the stream that `request` asked for.
///
/// Refused: a lower transport other than the requested one (RFC 2326
/// section 12.39 lets the server choose parameters, not the transport);
/// channels or ports that do not parse (past 255 or 65535, not numbers)
/// for the transport in use; port 0; a single interleaved channel 255
/// (no room for RTCP). An answer without channels or ports is left to
/// the caller, which falls back to what it requested.
pub fn check_answer(answer: &Transport, request: &Transport) -> Result<(), TransportError> {
    if answer.lower != request.lower {
        return Err(TransportError(format!(
            "the server answered a {} SETUP with a {} transport ({})",
            lower_name(request.lower),
            lower_name(answer.lower),
            answer.to_header_value()
        )));
    }
    let used: &[&str] = match (answer.lower, answer.delivery) {
        (LowerTransport::Tcp, _) => &["interleaved"],
        (LowerTransport::Udp, Some(Delivery::Multicast)) => &["port"],
        (LowerTransport::Udp, _) => &["server_port", "client_port"],
    };
    // An unusable value of a parameter we act on was kept aside by the
    // parser; naming it is the clearest error.
    if let Some((name, value)) = answer
        .other
        .iter()
        .find(|(name, _)| used.iter().any(|u| u.eq_ignore_ascii_case(name)))
    {
        let range = if name.eq_ignore_ascii_case("interleaved") {
            "channels are 0-255"
        } else {
            "ports are 1-65535"
        };
        return Err(TransportError(format!(
            "{name}={} is out of range ({range})",
            printable(value.as_deref().unwrap_or(""))
        )));
    }
    if answer.lower == LowerTransport::Tcp
        && answer.interleaved.is_some()
        && answer.interleaved_channels().is_none()
    {
        return Err(TransportError(
            "interleaved=255 leaves no channel for RTCP".to_owned(),
        ));
    }
    for (name, ports) in [
        ("server_port", answer.server_port),
        ("client_port", answer.client_port),
        ("port", answer.port),
    ] {
        if let Some((rtp, rtcp)) = ports
            && (rtp == 0 || rtcp == Some(0))
        {
            return Err(TransportError(format!("{name} 0 is not a port")));
        }
    }
    Ok(())
}

fn lower_name(lower: LowerTransport) -> &'static str {
    match lower {
        LowerTransport::Udp => "UDP",
        LowerTransport::Tcp => "TCP",
    }
}

/// At most 32 characters of a server-sent value, control characters
/// replaced, for an error message.
fn printable(value: &str) -> String {
    value
        .chars()
        .take(32)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_request() -> Transport {
        let mut t = Transport::new(LowerTransport::Tcp, Delivery::Unicast);
        t.interleaved = Some((0, Some(1)));
        t
    }

    fn udp_request() -> Transport {
        let mut t = Transport::new(LowerTransport::Udp, Delivery::Unicast);
        t.client_port = Some((5000, Some(5001)));
        t
    }

    fn check(answer: &str, request: &Transport) -> Result<(), String> {
        let answer = Transport::parse(answer).map_err(|e| e.to_string())?;
        check_answer(&answer, request).map_err(|e| e.to_string())
    }

    #[test]
    fn usable_answers_pass() {
        assert!(check("RTP/AVP/TCP;unicast;interleaved=0-1", &tcp_request()).is_ok());
        // docs/QUIRKS.md, "Transport header": TCP implied by interleaved.
        assert!(check("RTP/AVP;unicast;interleaved=4-5", &tcp_request()).is_ok());
        assert!(check("RTP/AVP/TCP;unicast", &tcp_request()).is_ok());
        assert!(
            check(
                "RTP/AVP;unicast;client_port=5000-5001;server_port=6970",
                &udp_request()
            )
            .is_ok()
        );
        assert!(check("RTP/AVP;unicast", &udp_request()).is_ok());
        // A bad value of a parameter the transport does not use is let be.
        assert!(
            check(
                "RTP/AVP/TCP;interleaved=0-1;ttl=999;ssrc=zz",
                &tcp_request()
            )
            .is_ok()
        );
    }

    #[test]
    fn channels_past_255_are_refused() {
        let err = check("RTP/AVP/TCP;unicast;interleaved=300-301", &tcp_request()).unwrap_err();
        assert!(
            err.contains("interleaved=300-301") && err.contains("0-255"),
            "{err}"
        );
        assert!(check("RTP/AVP/TCP;interleaved=255", &tcp_request()).is_err());
    }

    #[test]
    fn other_lower_transport_is_refused() {
        for answer in [
            "RTP/AVP;unicast;client_port=0-0",
            "RTP/AVP;unicast;client_port=70000-70001",
            "RTP/AVP/UDP;unicast;server_port=6970-6971",
        ] {
            let err = check(answer, &tcp_request()).unwrap_err();
            assert!(err.contains("TCP SETUP with a UDP"), "{answer}: {err}");
        }
        let err = check("RTP/AVP/TCP;interleaved=0-1", &udp_request()).unwrap_err();
        assert!(err.contains("UDP SETUP with a TCP"), "{err}");
    }

    #[test]
    fn bad_ports_are_refused() {
        for answer in [
            "RTP/AVP;unicast;server_port=0-0",
            "RTP/AVP;unicast;server_port=6970-0",
            "RTP/AVP;unicast;client_port=0-0;server_port=6970-6971",
            "RTP/AVP;unicast;server_port=70000-70001",
            "RTP/AVP;unicast;server_port=\u{1}\u{2}",
        ] {
            assert!(check(answer, &udp_request()).is_err(), "{answer}");
        }
        let mut multicast = Transport::new(LowerTransport::Udp, Delivery::Multicast);
        multicast.port = None;
        assert!(
            check(
                "RTP/AVP;multicast;destination=224.1.1.1;port=0-1",
                &multicast
            )
            .is_err()
        );
        assert!(
            check(
                "RTP/AVP;multicast;destination=224.1.1.1;port=5000-5001",
                &multicast
            )
            .is_ok()
        );
    }
}
