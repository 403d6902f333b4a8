//! SETUP of the streams `rtspsrc2` plays, over one lower transport: what
//! to ask for, and what the answer means for receiving (interleaved
//! channels, a UDP pair with the server's ports, a multicast group).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rtspclient_protocol::caps::StreamDescription;
use rtspclient_protocol::message::{Headers, Response};
use rtspclient_protocol::srtp::{Profile, key_mgmt_header};
use rtspclient_protocol::transport::{Delivery, LowerTransport, Transport};
use rtspclient_protocol::url::control_urls;

use super::streams::StreamOutput;
use super::udp_receive::punch_holes;
use crate::driver::answers::expect_success;
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::udp::{self, UdpOptions, UdpPair};
use crate::session::Link;
use crate::session::Protocol;
use crate::session::rtsp2::MediaHeaders;
use crate::session::transports::{
    PreparedSetup, SetupRound, bind_udp, check_secure_answer, checked_answer, requested_transport,
};

/// A stream the application wants, before SETUP.
pub struct SelectedStream<'a> {
    pub index: usize,
    pub description: &'a StreamDescription,
    pub output: Arc<StreamOutput>,
    /// SRTP: our MIKEY (base64) for the SETUP `KeyMgmt` header.
    pub key_mgmt: Option<String>,
}

/// One stream after SETUP.
pub struct SetUpStream {
    pub output: Arc<StreamOutput>,
    pub control_url: String,
    pub transport: ActiveTransport,
}

pub enum ActiveTransport {
    Interleaved {
        rtp: u8,
        rtcp: u8,
    },
    Udp {
        pair: UdpPair,
        server_rtcp: Option<SocketAddr>,
    },
}

/// SETUP of every selected stream.
pub struct PlaySetup<'a> {
    pub selected: &'a [SelectedStream<'a>],
    pub udp: &'a UdpOptions,
    /// Send the `nat-method=dummy` datagrams after SETUP.
    pub nat_dummy: bool,
    /// The feature tags every SETUP of the session requires (ONVIF
    /// backchannel, ONVIF replay), one `Require` header each.
    pub require: &'a [&'static str],
}

/// What the SETUP of one media sends: the Transport asked for (with the
/// UDP ports bound for it) and the headers.
pub struct SetupRequest {
    pub transport: Transport,
    pub headers: Headers,
    pub local: Option<UdpPair>,
    pub profile: Profile,
}

impl PlaySetup<'_> {
    /// The request of a SETUP of media `index` over `protocol`, received
    /// or (the ONVIF backchannel) sent: the profile its description names,
    /// the Transport, and the session's `Require` tags, one header each.
    pub fn request(
        &self,
        link: &mut Link,
        protocol: Protocol,
        index: usize,
        description: &StreamDescription,
    ) -> Result<SetupRequest, ClientError> {
        let profile = Profile {
            secure: description.secure,
            feedback: description.avpf,
        };
        let mut transport =
            requested_transport(protocol, index, false, profile, link.client().version());
        let mut local = None;
        if protocol == Protocol::Udp {
            let pair = bind_udp(link, self.udp)?;
            transport.client_port = Some((pair.rtp_port(), Some(pair.rtcp_port())));
            local = Some(pair);
        }
        let mut headers = Headers::new();
        headers.set("Transport", transport.to_header_value());
        for tag in self.require {
            headers.append("Require", *tag);
        }
        Ok(SetupRequest {
            transport,
            headers,
            local,
            profile,
        })
    }
}

impl SetupRound for PlaySetup<'_> {
    type SetUp = SetUpStream;
    type Pending = SetupRequest;

    fn streams(&self) -> usize {
        self.selected.len()
    }

    fn encrypted(&self, nth: usize) -> bool {
        self.selected[nth].description.secure
    }

    fn pipelined(&self) -> bool {
        true
    }

    fn prepare(
        &self,
        link: &mut Link,
        protocol: Protocol,
        base: &str,
        nth: usize,
    ) -> Result<PreparedSetup<SetupRequest>, ClientError> {
        let stream = &self.selected[nth];
        let mut request = self.request(link, protocol, stream.index, stream.description)?;
        let control = stream.description.control.as_deref().unwrap_or("*");
        if let Some(data) = &stream.key_mgmt {
            // Our key for the RTCP we send (RFC 4567 §3.3, 7.1), as C
            // rtspsrc announces it; gst-rtsp-server reads it per SSRC.
            let uri = control_urls(base, control).0;
            request.headers.set("KeyMgmt", key_mgmt_header(&uri, data));
        }
        Ok(PreparedSetup {
            control: control.to_string(),
            headers: std::mem::take(&mut request.headers),
            pending: request,
        })
    }

    fn complete(
        &self,
        link: &mut Link,
        nth: usize,
        pending: SetupRequest,
        control_url: String,
        response: &Response,
    ) -> Result<SetUpStream, ClientError> {
        let stream = &self.selected[nth];
        let SetupRequest {
            transport: request,
            local: local_pair,
            profile,
            ..
        } = pending;
        let peer = link.client().connection().peer_addr();
        expect_success(response, "SETUP")?;
        MediaHeaders::read(&response.headers, "SETUP answer");
        let transport = checked_answer(response, &request)?;
        check_secure_answer(&transport, profile)?;
        if let Some(ssrc) = transport.ssrc {
            let mut caps = stream.output.caps();
            caps.make_mut().set("ssrc", ssrc);
            stream.output.update_caps(caps);
        }
        let active = match (transport.lower, transport.delivery) {
            (LowerTransport::Tcp, _) => {
                let (rtp, rtcp) = transport
                    .interleaved_channels()
                    .or_else(|| request.interleaved_channels())
                    .ok_or_else(|| {
                        ClientError::new(ErrorKind::Protocol, "TCP transport without channels")
                    })?;
                ActiveTransport::Interleaved { rtp, rtcp }
            }
            (LowerTransport::Udp, Some(Delivery::Multicast)) => {
                multicast_transport(&transport, stream.description, self.udp)?
            }
            (LowerTransport::Udp, _) => {
                let pair = local_pair.ok_or_else(|| {
                    ClientError::new(
                        ErrorKind::Protocol,
                        "Server answered a multicast request with unicast UDP",
                    )
                })?;
                unicast_transport(&transport, pair, peer.ip(), self.nat_dummy)
            }
        };
        Ok(SetUpStream {
            output: stream.output.clone(),
            control_url,
            transport: active,
        })
    }
}

fn unicast_transport(
    transport: &Transport,
    pair: UdpPair,
    peer: IpAddr,
    nat_dummy: bool,
) -> ActiveTransport {
    let server_ip = transport
        .source
        .as_deref()
        .and_then(|s| s.parse::<IpAddr>().ok())
        .unwrap_or(peer);
    let server_ports = transport.rtp_rtcp_ports_server();
    if let Some((rtp_port, rtcp_port)) = server_ports.filter(|_| nat_dummy) {
        punch_holes(
            &pair,
            SocketAddr::new(server_ip, rtp_port),
            SocketAddr::new(server_ip, rtcp_port),
        );
    }
    ActiveTransport::Udp {
        pair,
        server_rtcp: server_ports.map(|(_, rtcp)| SocketAddr::new(server_ip, rtcp)),
    }
}

fn multicast_transport(
    transport: &Transport,
    description: &StreamDescription,
    options: &UdpOptions,
) -> Result<ActiveTransport, ClientError> {
    let group = transport
        .destination
        .as_deref()
        .or(description.connection.as_ref().map(|c| c.address.as_str()))
        .and_then(|d| d.parse::<IpAddr>().ok())
        .filter(IpAddr::is_multicast)
        .ok_or_else(|| {
            ClientError::new(
                ErrorKind::Protocol,
                "Multicast transport without a group address",
            )
        })?;
    let (rtp_port, rtcp_port) = match transport.port.or(transport.client_port) {
        Some((rtp, rtcp)) => (rtp, rtcp.unwrap_or(rtp.wrapping_add(1))),
        None if description.port != 0 => (description.port, description.port.wrapping_add(1)),
        None => {
            return Err(ClientError::new(
                ErrorKind::Protocol,
                "Multicast transport without ports",
            ));
        }
    };
    let pair = udp::bind_multicast_pair(group, rtp_port, rtcp_port, options).map_err(|err| {
        ClientError::new(
            ErrorKind::Resource,
            format!("Could not join multicast group {group}: {err}"),
        )
    })?;
    Ok(ActiveTransport::Udp {
        pair,
        server_rtcp: Some(SocketAddr::new(group, rtcp_port)),
    })
}
