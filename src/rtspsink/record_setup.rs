//! SETUP of the streams `rtspsink` records, in record mode over one lower
//! transport, and the route each stream's packets take afterwards.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rtspclient_protocol::message::{Headers, Response};
use rtspclient_protocol::transport::{LowerTransport, Transport};

use super::sender::{Route, StreamSender, UdpRoute};
use crate::driver::answers::{check_setup_transport, expect_success};
use crate::driver::datagrams::Segmentation;
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::udp::{UdpOptions, UdpPair};
use crate::session::rtsp2::MediaHeaders;
use crate::session::transports::{
    PreparedSetup, SetupRound, answered_transport, bind_udp, check_secure_answer,
    requested_transport,
};
use crate::session::{Link, Protocol};
use crate::srtp::{RemoteKeys, mikey};
use rtspclient_protocol::srtp::{Profile, key_mgmt_header, parse_key_mgmt};
use rtspclient_protocol::url::control_urls;

/// What reading the answer to one stream's SETUP needs.
pub struct RecordRequest {
    /// The Transport asked for.
    request: Transport,
    /// The UDP ports bound for it (over UDP).
    pair: Option<UdpPair>,
    profile: Profile,
}

/// SETUP of every announced stream.
pub struct RecordSetup<'a> {
    pub streams: &'a [Arc<StreamSender>],
    pub udp: &'a UdpOptions,
    /// SO_SNDBUF for the UDP sockets; 0 = system default.
    pub udp_send_buffer: usize,
}

impl SetupRound for RecordSetup<'_> {
    type SetUp = Route;
    type Pending = RecordRequest;

    fn streams(&self) -> usize {
        self.streams.len()
    }

    fn encrypted(&self, index: usize) -> bool {
        self.streams[index].profile().secure
    }

    fn prepare(
        &self,
        link: &mut Link,
        protocol: Protocol,
        base: &str,
        index: usize,
    ) -> Result<PreparedSetup<RecordRequest>, ClientError> {
        let stream = &self.streams[index];
        // `protocols` refuses multicast for publishing: UDP is unicast.
        let udp = protocol != Protocol::Tcp;
        let protocol = if udp { Protocol::Udp } else { protocol };
        // As announced: RTP/AVPF when retransmitting, SRTP per profiles.
        let profile = stream.profile();
        let mut request =
            requested_transport(protocol, index, true, profile, link.client().version());
        let mut pair = None;
        if udp {
            let bound = bind_udp(link, self.udp)?;
            if self.udp_send_buffer > 0 {
                for socket in [&bound.rtp, &bound.rtcp] {
                    let _ = socket2::SockRef::from(socket.as_ref())
                        .set_send_buffer_size(self.udp_send_buffer);
                }
            }
            request.client_port = Some((bound.rtp_port(), Some(bound.rtcp_port())));
            pair = Some(bound);
        }
        let mut headers = Headers::new();
        headers.set("Transport", request.to_header_value());
        let control = format!("stream={index}");
        if let Some(data) = stream.key_mgmt() {
            // The key of what we send (RFC 4567 §3.3, 7.1): gst-rtsp-server
            // takes it from SETUP, per SSRC of its crypto sessions.
            let uri = control_urls(base, &control).0;
            headers.set("KeyMgmt", key_mgmt_header(&uri, &data));
        }
        Ok(PreparedSetup {
            control,
            headers,
            pending: RecordRequest {
                request,
                pair,
                profile,
            },
        })
    }

    fn complete(
        &self,
        link: &mut Link,
        index: usize,
        pending: RecordRequest,
        _control_url: String,
        response: &Response,
    ) -> Result<Route, ClientError> {
        let stream = &self.streams[index];
        let RecordRequest {
            request,
            pair,
            profile,
        } = pending;
        let peer = link.client().connection().peer_addr();
        expect_success(response, "SETUP")?;
        MediaHeaders::read(&response.headers, "SETUP answer");
        let answer = answered_transport(response);
        if let Some(answer) = &answer {
            check_setup_transport(response, answer, &request)?;
            check_secure_answer(answer, profile)?;
        }
        if let Some(keys) = stream.srtp() {
            keys.set_remote(server_keys(response.headers.get("KeyMgmt"))?);
        }
        match pair {
            None => {
                let (rtp, rtcp) = answer
                    .as_ref()
                    .and_then(Transport::interleaved_channels)
                    .or_else(|| request.interleaved_channels())
                    .expect("requested channels");
                Ok(Route::Interleaved {
                    writer: link.client().writer(),
                    rtp,
                    rtcp,
                })
            }
            Some(pair) => {
                let answer = answer.ok_or_else(|| {
                    ClientError::new(
                        ErrorKind::Protocol,
                        "SETUP answer has no usable Transport header",
                    )
                })?;
                if answer.lower == LowerTransport::Tcp {
                    return Err(ClientError::new(
                        ErrorKind::Protocol,
                        "The server answered a UDP SETUP with a TCP transport",
                    ));
                }
                let (rtp_port, rtcp_port) = answer.rtp_rtcp_ports_server().ok_or_else(|| {
                    ClientError::new(
                        ErrorKind::Protocol,
                        "SETUP answer has no server_port to send to",
                    )
                })?;
                let udp = udp_route(
                    pair,
                    SocketAddr::new(peer.ip(), rtp_port),
                    SocketAddr::new(peer.ip(), rtcp_port),
                )?;
                link.spawn(receive_rtcp(udp.rtcp_socket.clone(), stream.clone()));
                Ok(Route::Udp(Arc::new(udp)))
            }
        }
    }
}

/// The server's key for the SRTCP it sends us, from a `KeyMgmt` header
/// in its SETUP answer (RFC 4567 §3.3); None without one (its reports are
/// then dropped unread). A MIKEY that is there but unusable is an error.
fn server_keys(header: Option<&str>) -> Result<Option<RemoteKeys>, ClientError> {
    let Some(data) = header
        .map(parse_key_mgmt)
        .unwrap_or_default()
        .into_iter()
        .find(|spec| spec.prot.eq_ignore_ascii_case("mikey"))
        .and_then(|spec| spec.data)
    else {
        return Ok(None);
    };
    mikey::keys(&data).map(Some).map_err(|err| {
        ClientError::new(
            ErrorKind::Decrypt,
            format!("Unusable MIKEY in the server's KeyMgmt: {err}"),
        )
    })
}

/// A stream's UDP route from its freshly bound pair: the RTP socket leaves
/// the reactor (see [`UdpRoute`] for why) and, since nothing is expected
/// on it, gets the smallest receive buffer, so stray datagrams cost the
/// kernel almost nothing.
fn udp_route(pair: UdpPair, rtp: SocketAddr, rtcp: SocketAddr) -> Result<UdpRoute, ClientError> {
    let unique = |_| ClientError::new(ErrorKind::Resource, "The RTP socket is shared");
    let rtp_socket = Arc::try_unwrap(pair.rtp)
        .map_err(unique)?
        .into_std()
        .map_err(|err| {
            ClientError::new(
                ErrorKind::Resource,
                format!("Could not set up the RTP socket: {err}"),
            )
        })?;
    let _ = socket2::SockRef::from(&rtp_socket).set_recv_buffer_size(0);
    Ok(UdpRoute {
        rtp_socket,
        rtcp_socket: pair.rtcp,
        rtp,
        rtcp,
        segmentation: Segmentation::new(),
    })
}

/// Receiver reports from the server over UDP.
async fn receive_rtcp(socket: Arc<tokio::net::UdpSocket>, stream: Arc<StreamSender>) {
    let mut buffer = vec![0u8; 65536];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((n, _)) if n >= 4 => stream.push_rtcp(Bytes::copy_from_slice(&buffer[..n])),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
