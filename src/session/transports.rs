//! SETUP of every stream over one lower transport, falling back to the
//! next one the user allows when the server refuses a transport (461, or
//! 400/501 from servers that do not know the status) or local sockets
//! cannot be had; and what both elements ask for in a Transport header.

use std::future::Future;

use rtspclient_protocol::message::{Headers, Response, Version};
use rtspclient_protocol::srtp::Profile;
use rtspclient_protocol::transport::{Delivery, LowerTransport, Transport};

use super::Protocol;
use super::link::Link;
use super::pipelined_setup;
use crate::driver::answers::check_setup_transport;
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::udp::{self, UdpOptions, UdpPair};

/// The SETUP of one stream, built before it is sent: what goes in the
/// request, and what reading its answer needs (`Pending`: the Transport
/// asked for, the UDP ports bound for it).
pub struct PreparedSetup<Pending> {
    /// The stream's `a=control`, not yet joined to the base: the
    /// sequential path ([`SetupRound::setup_one`]) joins it with
    /// [`RtspClient::setup`](crate::driver::client::RtspClient::setup),
    /// which tries the other join after a refusal; the pipelined one
    /// sends the first join only, and a refusal is sent again the
    /// sequential way.
    pub control: String,
    pub headers: Headers,
    pub pending: Pending,
}

/// The element's SETUP of its streams over one transport, in two halves
/// (the request, then its answer) so that the same code serves a SETUP
/// waited for and one pipelined with the others
/// (`session::pipelined_setup`).
pub trait SetupRound: Sync {
    /// One stream after its SETUP (its route or receiver).
    type SetUp: Send;
    /// What reading the answer of one SETUP needs.
    type Pending: Send;

    /// How many streams to set up.
    fn streams(&self) -> usize;

    /// Whether stream number `nth` is SRTP (RTP/SAVP or RTP/SAVPF): only
    /// then may it leave a TLS session's connection for UDP.
    fn encrypted(&self, nth: usize) -> bool;

    /// Whether the SETUPs may go pipelined in an RTSP 2.0 session
    /// (`session::pipelined_setup`). Opt-in: only rtspsrc2's is shown
    /// against servers (tests/rtsp2_pipelined.rs); rtspsink's RECORD
    /// SETUPs stay one after the other, as before.
    fn pipelined(&self) -> bool {
        false
    }

    /// The SETUP request of stream number `nth` (0-based, in SDP order).
    fn prepare(
        &self,
        link: &mut Link,
        protocol: Protocol,
        base: &str,
        nth: usize,
    ) -> Result<PreparedSetup<Self::Pending>, ClientError>;

    /// Stream number `nth` after the successful or refused `response` to
    /// its SETUP, sent to `control_url`.
    fn complete(
        &self,
        link: &mut Link,
        nth: usize,
        pending: Self::Pending,
        control_url: String,
        response: &Response,
    ) -> Result<Self::SetUp, ClientError>;

    /// SETUP of stream number `nth`, waiting for its answer.
    fn setup_one(
        &self,
        link: &mut Link,
        protocol: Protocol,
        base: &str,
        nth: usize,
    ) -> impl Future<Output = Result<Self::SetUp, ClientError>> + Send {
        async move {
            let prepared = self.prepare(link, protocol, base, nth)?;
            let (control_url, response) = link
                .client()
                .setup(base, &prepared.control, &prepared.headers)
                .await?;
            self.complete(link, nth, prepared.pending, control_url, &response)
        }
    }
}

/// SETUP every stream over `protocol`: pipelined where RTSP 2.0 allows
/// it (`pipelined_setup::worth_pipelining`), else one after the other.
async fn setup_all<R: SetupRound>(
    round: &R,
    link: &mut Link,
    protocol: Protocol,
    base: &str,
) -> Result<Vec<R::SetUp>, ClientError> {
    if pipelined_setup::worth_pipelining(round, link) {
        return pipelined_setup::setup_all_pipelined(round, link, protocol, base).await;
    }
    let mut set_up = Vec::with_capacity(round.streams());
    for nth in 0..round.streams() {
        set_up.push(round.setup_one(link, protocol, base, nth).await?);
    }
    Ok(set_up)
}

/// Whether SETUP over the next protocol may succeed where `err` failed.
fn worth_next_protocol(err: &ClientError) -> bool {
    matches!(err.status(), Some((461 | 400 | 501, _))) || err.kind == ErrorKind::Resource
}

/// The protocols a session may use: over TLS (`rtsps://`), media that is
/// not SRTP stays interleaved in the encrypted connection, since RTP over
/// plain UDP would give a user who asked for TLS an unencrypted stream;
/// SRTP may use UDP as negotiated.
fn allowed_protocols<R: SetupRound>(
    round: &R,
    link: &Link,
    protocols: &[Protocol],
) -> Vec<Protocol> {
    let all_encrypted = (0..round.streams()).all(|nth| round.encrypted(nth));
    if !link.url().scheme.tls() || all_encrypted {
        return protocols.to_vec();
    }
    protocols
        .iter()
        .copied()
        .filter(|p| *p == Protocol::Tcp)
        .collect()
}

/// SETUP every stream over the first of `protocols` the server accepts.
pub async fn setup_with_fallback<R: SetupRound>(
    round: &R,
    link: &mut Link,
    protocols: &[Protocol],
    base: &str,
) -> Result<(Vec<R::SetUp>, Protocol), ClientError> {
    let protocols = allowed_protocols(round, link, protocols);
    if protocols.is_empty() {
        return Err(ClientError::new(
            ErrorKind::Settings,
            "Over TLS, media that is not SRTP goes interleaved in the encrypted connection, \
             and the protocols allow none: add tcp",
        ));
    }
    let protocols = &protocols[..];
    let mut last_error = None;
    for (attempt, protocol) in protocols.iter().enumerate() {
        match setup_all(round, link, *protocol, base).await {
            Ok(set_up) => return Ok((set_up, *protocol)),
            Err(err) => {
                if !worth_next_protocol(&err) || attempt + 1 == protocols.len() {
                    return Err(err);
                }
                gst::info!(
                    super::CAT,
                    "SETUP over {} failed ({err}), trying the next protocol",
                    protocol.name()
                );
                link.abort_tasks();
                last_error = Some(err);
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| ClientError::new(ErrorKind::Resource, "No transport protocol allowed")))
}

/// The Transport to ask for stream number `index` (interleaved channels
/// 2n and 2n+1, as C `rtspsrc`); UDP client ports are added by the caller
/// once bound. `profile` is the one the media's description named
/// (RTP/AVPF, RTP/SAVP...): servers refuse a SETUP for a profile they did
/// not offer (gst-rtsp-server answers 461). In an RTSP/2.0 session the
/// header takes the 2.0 form (RFC 7826 §18.54, see [`Transport::rtsp2`]).
pub fn requested_transport(
    protocol: Protocol,
    index: usize,
    record: bool,
    profile: Profile,
    version: Version,
) -> Transport {
    let mut transport = match protocol {
        Protocol::Tcp => {
            let mut t = Transport::new(LowerTransport::Tcp, Delivery::Unicast);
            let rtp = (index * 2).min(254) as u8;
            t.interleaved = Some((rtp, Some(rtp + 1)));
            t
        }
        Protocol::Udp => Transport::new(LowerTransport::Udp, Delivery::Unicast),
        Protocol::UdpMulticast => Transport::new(LowerTransport::Udp, Delivery::Multicast),
    };
    if record {
        transport.mode = Some("record".into());
    }
    transport.profile = profile.name().into();
    transport.rtsp2 = version == Version::Rtsp20;
    transport
}

/// An SRTP SETUP must be answered with a secure profile: anything else
/// would carry plain RTP that the peer's or our srtpdec drops.
pub fn check_secure_answer(answer: &Transport, asked: Profile) -> Result<(), ClientError> {
    let answered = Profile::from_proto(&answer.profile);
    if asked.secure && !answered.is_some_and(|p| p.secure) {
        return Err(ClientError::new(
            ErrorKind::Decrypt,
            format!(
                "Asked for {} but the server answered {}",
                asked.name(),
                answer.profile
            ),
        ));
    }
    Ok(())
}

/// A UDP port pair for one stream, on the server's address family.
pub fn bind_udp(link: &mut Link, options: &UdpOptions) -> Result<UdpPair, ClientError> {
    let ipv6 = link.client().connection().peer_addr().is_ipv6();
    udp::bind_unicast_pair(ipv6, options).map_err(|err| {
        ClientError::new(
            ErrorKind::Resource,
            format!("Could not bind UDP ports: {err}"),
        )
    })
}

/// The Transport of a successful SETUP answer, checked against what
/// `request` asked for ([`check_setup_transport`]); a protocol error when
/// there is none this client can parse or it cannot carry the request.
pub fn checked_answer(response: &Response, request: &Transport) -> Result<Transport, ClientError> {
    let transport = answered_transport(response).ok_or_else(|| {
        ClientError::new(
            ErrorKind::Protocol,
            "SETUP answer has no usable Transport header",
        )
    })?;
    check_setup_transport(response, &transport, request)?;
    Ok(transport)
}

/// The first Transport of a SETUP answer that this client can parse.
pub fn answered_transport(response: &Response) -> Option<Transport> {
    response
        .headers
        .get("Transport")
        .and_then(|value| Transport::parse_list(value).into_iter().next())
}
