//! The RTSP side of the ONVIF audio backchannel (`backchannel=onvif`):
//! DESCRIBE with `Require: www.onvif.org/ver20/backchannel` (and again
//! without it when the server answers 551), the choice of the `sendonly`
//! streams, and their SETUP over the transport the received streams got.
//! The element's side (pads, signals, sending) is [`super::backchannel`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rtspclient_protocol::backchannel::{self, REQUIRE_TAG};
use rtspclient_protocol::caps::StreamDescription;
use rtspclient_protocol::message::{Headers, Response};
use rtspclient_protocol::transport::LowerTransport;

use super::session::PlayHost;
use super::setup::{PlaySetup, SetupRequest};
use crate::caps_convert::to_gst_caps;
use crate::driver::answers::expect_success;
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::packet_route::PacketRoute;
use crate::session::transports::checked_answer;
use crate::session::{Link, Protocol};

/// DESCRIBE, with the backchannel's tag in `Require` while `*require`.
/// A server without the backchannel answers 551 Option not supported
/// (RFC 2326 §11.3.14; the ONVIF Streaming Specification asks servers to):
/// then the presentation is described again without the tag and plays
/// without a backchannel, with a warning, and `*require` becomes false.
pub async fn describe(
    link: &mut Link,
    request_url: &str,
    require: &mut bool,
    host: &Arc<dyn PlayHost>,
) -> Result<Response, ClientError> {
    loop {
        let mut headers = Headers::new();
        headers.set("Accept", "application/sdp");
        if *require {
            // gst-rtsp-server compares each Require header whole with the
            // tag (docs/QUIRKS.md, "ONVIF backchannel Require"): one tag
            // per header.
            headers.append("Require", REQUIRE_TAG);
        }
        let describe = link
            .client()
            .request("DESCRIBE", request_url, &headers, &[], &mut |_| {})
            .await?;
        if *require && backchannel::refused(describe.status, describe.headers.get("Unsupported")) {
            host.warning(
                "The server does not offer the ONVIF backchannel (551 Option not supported): playing without it",
            );
            *require = false;
            continue;
        }
        return Ok(describe);
    }
}

/// The `Require` header every SETUP of a session with the backchannel
/// carries, so that a server which makes its media per request (as
/// gst-rtsp-server does, keyed by the tag) finds the same one.
pub fn require_header(require: bool) -> Option<&'static str> {
    require.then_some(REQUIRE_TAG)
}

/// A backchannel stream the application kept (`select-stream`).
pub struct SelectedBackchannel<'a> {
    pub index: usize,
    pub description: &'a StreamDescription,
}

/// The caps `select-stream` gets for a backchannel: its first payload's
/// with `a-sendonly`, as C `rtspsrc` (whose applications look for that
/// field to find the backchannel's id).
pub fn select_caps(description: &StreamDescription) -> Option<gst::Caps> {
    let mut caps = description.payloads.first().map(to_gst_caps)?;
    caps.make_mut().structure_mut(0)?.set("a-sendonly", "");
    Some(caps)
}

/// Tell the element which streams are backchannels (all payloads of
/// each, for its pads' caps and the payload types it lets through).
pub fn announce(host: &Arc<dyn PlayHost>, selected: &[SelectedBackchannel<'_>]) {
    host.backchannels_described(
        selected
            .iter()
            .map(|s| {
                (
                    s.index,
                    s.description.payloads.iter().map(to_gst_caps).collect(),
                )
            })
            .collect(),
    );
}

/// SETUP of each backchannel over `protocol`, the transport the received
/// streams got. A backchannel that cannot be set up is warned about and
/// left out: the streams to receive play on.
pub async fn setup(
    link: &mut Link,
    protocol: Protocol,
    base: &str,
    selected: &[SelectedBackchannel<'_>],
    round: &PlaySetup<'_>,
    host: &Arc<dyn PlayHost>,
) -> Result<(), ClientError> {
    for stream in selected {
        if protocol == Protocol::UdpMulticast {
            host.warning(&format!(
                "Backchannel stream {}: not sent over multicast; the received streams use it, the backchannel is left out",
                stream.index
            ));
            continue;
        }
        match setup_one(link, protocol, base, stream, round).await {
            Ok(route) => host.backchannel_route(stream.index, route),
            // A refusal of this SETUP, an answer that cannot carry it, or
            // no local ports: the connection itself still works (if it
            // does not, PLAY fails next and says so).
            Err(err)
                if err.status().is_some()
                    || matches!(err.kind, ErrorKind::Resource | ErrorKind::Protocol) =>
            {
                host.warning(&format!(
                    "SETUP of backchannel stream {} failed ({err}): playing without it",
                    stream.index
                ));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

async fn setup_one(
    link: &mut Link,
    protocol: Protocol,
    base: &str,
    stream: &SelectedBackchannel<'_>,
    round: &PlaySetup<'_>,
) -> Result<PacketRoute, ClientError> {
    if stream.description.secure {
        return Err(ClientError::new(
            ErrorKind::Resource,
            "SRTP backchannels are not supported",
        ));
    }
    // The same request as every other SETUP of the session (its Require
    // tags, the backchannel's among them).
    let SetupRequest {
        transport: request,
        headers,
        local,
        ..
    } = round.request(link, protocol, stream.index, stream.description)?;
    let control = stream.description.control.as_deref().unwrap_or("*");
    let client = link.client();
    let peer = client.connection().peer_addr();
    let (_, response) = client.setup(base, control, &headers).await?;
    expect_success(&response, "SETUP")?;
    let transport = checked_answer(&response, &request)?;
    match (transport.lower, local) {
        (LowerTransport::Tcp, _) => {
            let (rtp, _) = transport
                .interleaved_channels()
                .or_else(|| request.interleaved_channels())
                .ok_or_else(|| {
                    ClientError::new(ErrorKind::Protocol, "TCP transport without channels")
                })?;
            Ok(PacketRoute::Interleaved {
                writer: client.writer(),
                channel: rtp,
            })
        }
        (LowerTransport::Udp, Some(pair)) => {
            // From our RTP port (the client_port the server knows) to its
            // RTP port: RFC 3550 §11 symmetric ports, which NATs and the
            // server's source checks expect.
            let (server_rtp, _) = transport.rtp_rtcp_ports_server().ok_or_else(|| {
                ClientError::new(
                    ErrorKind::Protocol,
                    "SETUP answer for the backchannel has no server_port",
                )
            })?;
            let server_ip = transport
                .source
                .as_deref()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .unwrap_or(peer.ip());
            Ok(PacketRoute::Udp {
                socket: pair.rtp.clone(),
                destination: SocketAddr::new(server_ip, server_rtp),
            })
        }
        (LowerTransport::Udp, None) => Err(ClientError::new(
            ErrorKind::Protocol,
            "Server answered a TCP request for the backchannel with UDP",
        )),
    }
}

/// Ends the backchannels' routes when the session ends, however it ends
/// (an error returned with `?` included): packets must not go on to a
/// server port of a session that is over.
pub struct SessionGuard<'a>(pub &'a Arc<dyn PlayHost>);

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.0.backchannels_ended();
    }
}
