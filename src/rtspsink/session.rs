//! The record task of one `rtspsink` instance, on the shared runtime:
//! connect and OPTIONS, wait until every stream has its first buffer,
//! ANNOUNCE the SDP built from their caps, SETUP each stream in record
//! mode over the preferred transport, RECORD, then the recording loop
//! (server RTCP into rtpbin, keep-alive, server requests, EOS) and
//! TEARDOWN. It talks to the element only through [`RecordHost`] and the
//! shared [`Control`], so a slow server never blocks a state change.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rtspclient_protocol::auth::Credentials;
use rtspclient_protocol::caps::{CapsValue, RtpCaps, media_from_caps};
use rtspclient_protocol::message::Headers;
use rtspclient_protocol::sdp::{Attribute, Connection, SessionDescription};
use rtspclient_protocol::transport::{Delivery, LowerTransport, Transport};
use rtspclient_protocol::url::{RtspUrl, resolve_location};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::datagrams::Segmentation;
use super::imp::CAT;
use super::sender::{Control, Readiness, Reporter, Route, StreamSender, UdpRoute};
use super::settings::Protocol;
use crate::caps_convert::from_gst_caps;
use crate::driver::client::{
    ClientConfig, Incoming, RtspClient, check_setup_transport, expect_success,
};
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::udp::{self, UdpOptions, UdpPair};

/// Bound on TEARDOWN when stopping: the element does not wait for it, but
/// the task should not linger either.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// After the last RTP EOS, how long to wait for rtpbin's RTCP BYE.
const BYE_TIMEOUT: Duration = Duration::from_millis(500);
/// Over UDP nothing orders the last datagrams before the TEARDOWN on the
/// TCP connection: a server that has not read its sockets yet when the
/// TEARDOWN arrives loses the end of the recording (gst-rtsp-server ends
/// the media with EOS from its sources then; under load the test suite
/// lost the last 1-5 of 45 frames that way). The datagrams get this long to
/// be read first. It only delays EOS after a recording over UDP; going to
/// NULL does not wait for it (`shutdown`).
const UDP_DRAIN_GRACE: Duration = Duration::from_millis(200);
const MAX_REDIRECTS: u32 = 5;

/// Everything the task needs, copied from the settings when it starts.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    pub url: RtspUrl,
    pub credentials: Option<Credentials>,
    pub protocols: Vec<Protocol>,
    pub client: ClientConfig,
    pub keep_alive: bool,
    pub udp: UdpOptions,
    /// SO_SNDBUF for the UDP sockets; 0 = system default.
    pub udp_send_buffer: usize,
}

/// What the record task needs from the element beyond errors/warnings.
pub trait RecordHost: Reporter {
    fn progress(&self, kind: gst::ProgressType, code: &str, text: &str);
    /// Everything was sent and the session torn down: post EOS.
    fn end_of_stream(&self, seqnum: Option<gst::Seqnum>);
}

/// Run until stopped, failed or done; errors are posted through `control`
/// (once), EOS through `host`.
pub async fn run(
    config: RecordConfig,
    control: Arc<Control>,
    epoch: u64,
    host: Arc<dyn RecordHost>,
    mut stop: watch::Receiver<bool>,
) {
    let mut session = RecordSession {
        url: config.url.clone(),
        config,
        control: control.clone(),
        host: host.clone(),
        client: None,
        aggregate: None,
        udp_tasks: Vec::new(),
        asking: None,
    };
    let result = tokio::select! {
        result = session.run() => result,
        _ = stop.wait_for(|stop| *stop) => Err(ClientError::new(ErrorKind::Cancelled, "stopped")),
    };
    session.shutdown().await;
    match result {
        Ok(seqnum) => host.end_of_stream(seqnum),
        Err(err) if err.kind == ErrorKind::Cancelled => {}
        Err(err) => control.fail(Some(epoch), &err),
    }
}

/// One stream as negotiated.
struct Announced {
    sender: Arc<StreamSender>,
    /// The payload type in the SDP if the packets must be rewritten to it.
    pt_rewrite: Option<u8>,
}

struct RecordSession {
    config: RecordConfig,
    /// The URL being published to (after redirects).
    url: RtspUrl,
    control: Arc<Control>,
    host: Arc<dyn RecordHost>,
    client: Option<RtspClient>,
    aggregate: Option<String>,
    udp_tasks: Vec<JoinHandle<()>>,
    /// The request waiting for its answer, for the error when ANNOUNCE to
    /// RECORD as a whole takes too long: a server whose handler died
    /// (rtsp-server-perl on a control URL it does not expect) never
    /// answers, and this bound usually ends the wait before the request's
    /// own timeout does.
    asking: Option<&'static str>,
}

impl RecordSession {
    async fn run(&mut self) -> Result<Option<gst::Seqnum>, ClientError> {
        // Connect right away so refused connections and bad addresses show
        // up without waiting for data.
        self.connect().await?;
        let streams = self.wait_for_streams().await?;
        if streams.is_empty() {
            // Every stream ended before it had any data: nothing to publish.
            return Ok(self.control.streams().iter().find_map(|s| s.eos()));
        }
        let timeout = self.config.client.timeout;
        let announced = match tokio::time::timeout(timeout, self.negotiate(streams)).await {
            Ok(result) => result?,
            Err(_) => {
                let mut err = ClientError::new(
                    ErrorKind::Timeout,
                    format!("ANNOUNCE, SETUP and RECORD took longer than {timeout:?}"),
                );
                if let (Some(method), Some(client)) = (self.asking, &self.client) {
                    err = err.with_request(method, client.cseq());
                }
                return Err(err);
            }
        };
        let seqnum = self.record(&announced).await?;
        self.teardown().await;
        Ok(seqnum)
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        self.host.progress(
            gst::ProgressType::Start,
            "connect",
            &format!("Connecting to {}", self.url.redacted()),
        );
        let credentials = self
            .url
            .credentials
            .clone()
            .or_else(|| self.config.credentials.clone());
        self.asking = None;
        let mut client =
            RtspClient::connect(self.url.clone(), credentials, self.config.client.clone()).await?;
        self.host
            .progress(gst::ProgressType::Complete, "connect", "Connected");
        let request_url = self.url.request_url().to_string();
        self.asking = Some("OPTIONS");
        let options = client
            .request("OPTIONS", &request_url, &Headers::new(), &[], &mut |_| {})
            .await?;
        if options.is_success() {
            client.set_public_from(&options);
        }
        self.client = Some(client);
        Ok(())
    }

    /// Wait until every requested stream had its first buffer (or ended),
    /// then fix the set of streams. Once one stream is ready the others
    /// get `timeout` to follow.
    async fn wait_for_streams(
        &mut self,
    ) -> Result<Vec<(Arc<StreamSender>, gst::Caps)>, ClientError> {
        let timeout = self.config.client.timeout;
        let mut first_ready: Option<tokio::time::Instant> = None;
        loop {
            let streams = self.control.streams();
            let states: Vec<Readiness> = streams.iter().map(|s| s.readiness()).collect();
            if !streams.is_empty() && !states.contains(&Readiness::Waiting) {
                let mut control = self.control.lock();
                // A pad requested meanwhile must be waited for as well.
                if control.streams.len() == streams.len() {
                    control.announced = true;
                    drop(control);
                    return Ok(streams
                        .into_iter()
                        .zip(states)
                        .filter_map(|(stream, state)| match state {
                            Readiness::Ready(caps) => Some((stream, caps)),
                            _ => None,
                        })
                        .collect());
                }
                continue;
            }
            if first_ready.is_none() && states.iter().any(|s| *s != Readiness::Waiting) {
                first_ready = Some(tokio::time::Instant::now());
            }
            let deadline = first_ready.map(|t| t + timeout);
            let expired = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let control = self.control.clone();
            let client = self.client.as_mut();
            let has_client = client.is_some();
            let incoming = async {
                match client {
                    Some(client) => client.next_incoming().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = control.changed.notified() => {}
                _ = expired => {
                    let waiting: Vec<String> = streams
                        .iter()
                        .zip(&states)
                        .filter(|(_, s)| **s == Readiness::Waiting)
                        .map(|(stream, _)| format!("sink_{}", stream.index))
                        .collect();
                    return Err(ClientError::new(
                        ErrorKind::Timeout,
                        format!(
                            "No data on {} within {timeout:?} of the first stream: every requested pad must get data before recording starts",
                            waiting.join(", ")
                        ),
                    ));
                }
                result = incoming, if has_client => {
                    if let Err(err) = result {
                        // Idle connections get closed by some servers; a
                        // new one is made for ANNOUNCE.
                        gst::debug!(CAT, "Connection closed while waiting for data: {err}");
                        self.client = None;
                    }
                }
            }
        }
    }

    async fn negotiate(
        &mut self,
        streams: Vec<(Arc<StreamSender>, gst::Caps)>,
    ) -> Result<Vec<Announced>, ClientError> {
        let epoch = self.control.epoch();
        let mut descriptions = Vec::with_capacity(streams.len());
        for (stream, caps) in &streams {
            let description = from_gst_caps(caps).ok_or_else(|| {
                ClientError::new(
                    ErrorKind::NoUsableStream,
                    format!("Stream {} has no RTP caps", stream.index),
                )
            })?;
            descriptions.push(description);
        }

        let mut redirects = 0;
        let (base, rewrites) = loop {
            if self.client.is_none() {
                self.connect().await?;
            }
            let client = self.client.as_mut().expect("connected");
            let local = client.connection().local_addr().ip();
            let peer = client.connection().peer_addr().ip();
            let (sdp, rewrites) = build_sdp(&descriptions, local, peer);
            gst::debug!(CAT, "ANNOUNCE SDP:\n{sdp}");
            self.host
                .progress(gst::ProgressType::Start, "open", "Announcing the streams");
            let request_url = self.url.request_url().to_string();
            let mut headers = Headers::new();
            headers.set("Content-Type", "application/sdp");
            self.asking = Some("ANNOUNCE");
            let response = client
                .request(
                    "ANNOUNCE",
                    &request_url,
                    &headers,
                    sdp.as_bytes(),
                    &mut |_| {},
                )
                .await?;
            if (300..400).contains(&response.status)
                && let Some(target) = response
                    .headers
                    .get("Location")
                    .and_then(|l| resolve_location(&request_url, l))
            {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(ClientError::new(
                        ErrorKind::Redirect,
                        format!("More than {MAX_REDIRECTS} redirects"),
                    ));
                }
                self.url = crate::element_config::redirect_url(&target)?;
                self.host.progress(
                    gst::ProgressType::Continue,
                    "redirect",
                    &format!("Redirected to {}", self.url.redacted()),
                );
                self.client = None;
                continue;
            }
            expect_success(&response, "ANNOUNCE")?;
            // A server may name where the new presentation lives.
            let base = response
                .headers
                .get("Content-Base")
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty())
                .or_else(|| {
                    response
                        .headers
                        .get("Location")
                        .and_then(|l| resolve_location(&request_url, l))
                })
                .unwrap_or(request_url);
            break (base, rewrites);
        };
        self.aggregate = Some(base.clone());

        self.host
            .progress(gst::ProgressType::Continue, "open", "Setting up streams");
        let protocols = self.config.protocols.clone();
        let mut routes = None;
        for (attempt, protocol) in protocols.iter().enumerate() {
            match self.setup_all(*protocol, &streams, &base).await {
                Ok(set_up) => {
                    routes = Some((set_up, *protocol));
                    break;
                }
                Err(err) => {
                    let retryable = matches!(err.status(), Some((461 | 400 | 501, _)))
                        || err.kind == ErrorKind::Resource;
                    if !retryable || attempt + 1 == protocols.len() {
                        return Err(err);
                    }
                    gst::info!(
                        CAT,
                        "SETUP over {} failed ({err}), trying the next protocol",
                        protocol.name()
                    );
                    for task in self.udp_tasks.drain(..) {
                        task.abort();
                    }
                }
            }
        }
        let (routes, protocol) = routes.ok_or_else(|| {
            ClientError::new(ErrorKind::Resource, "No transport protocol allowed")
        })?;

        let client = self.client.as_mut().expect("connected");
        let mut range = Headers::new();
        range.set("Range", "npt=0.000-");
        self.asking = Some("RECORD");
        let response = client
            .request("RECORD", &base, &range, &[], &mut |_| {})
            .await?;
        expect_success(&response, "RECORD")?;

        let mut announced = Vec::with_capacity(streams.len());
        for (((stream, _), route), pt_rewrite) in streams.into_iter().zip(routes).zip(rewrites) {
            stream.set_route(Some(route), pt_rewrite);
            announced.push(Announced {
                sender: stream,
                pt_rewrite,
            });
        }
        for stream in &announced {
            if let Some(pt) = stream.pt_rewrite {
                gst::info!(
                    CAT,
                    "Stream {} announced with payload type {pt} (another stream uses its own)",
                    stream.sender.index
                );
            }
        }
        if !self.control.set_recording(epoch) {
            return Err(ClientError::new(ErrorKind::Cancelled, "stopped"));
        }
        self.host.progress(
            gst::ProgressType::Complete,
            "open",
            &format!("Recording over {}", protocol.name()),
        );
        Ok(announced)
    }

    /// SETUP every stream in record mode over `protocol`.
    async fn setup_all(
        &mut self,
        protocol: Protocol,
        streams: &[(Arc<StreamSender>, gst::Caps)],
        base: &str,
    ) -> Result<Vec<Route>, ClientError> {
        let client = self.client.as_mut().expect("connected");
        let peer = client.connection().peer_addr();
        let mut routes = Vec::with_capacity(streams.len());
        for (index, (stream, _)) in streams.iter().enumerate() {
            let mut request = match protocol {
                Protocol::Tcp => {
                    let mut t = Transport::new(LowerTransport::Tcp, Delivery::Unicast);
                    let rtp = (index * 2).min(254) as u8;
                    t.interleaved = Some((rtp, Some(rtp + 1)));
                    t
                }
                // `protocols` refuses multicast for publishing, so UDP here
                // is always unicast.
                Protocol::Udp | Protocol::UdpMulticast => {
                    Transport::new(LowerTransport::Udp, Delivery::Unicast)
                }
            };
            request.mode = Some("record".into());
            let mut pair = None;
            if protocol != Protocol::Tcp {
                let bound =
                    udp::bind_unicast_pair(peer.is_ipv6(), &self.config.udp).map_err(|err| {
                        ClientError::new(
                            ErrorKind::Resource,
                            format!("Could not bind UDP ports: {err}"),
                        )
                    })?;
                if self.config.udp_send_buffer > 0 {
                    for socket in [&bound.rtp, &bound.rtcp] {
                        let _ = socket2::SockRef::from(socket.as_ref())
                            .set_send_buffer_size(self.config.udp_send_buffer);
                    }
                }
                request.client_port = Some((bound.rtp_port(), Some(bound.rtcp_port())));
                pair = Some(bound);
            }
            let mut headers = Headers::new();
            headers.set("Transport", request.to_header_value());
            let control = format!("stream={index}");
            self.asking = Some("SETUP");
            let (_, response) = client.setup(base, &control, &headers).await?;
            expect_success(&response, "SETUP")?;
            let answer = response
                .headers
                .get("Transport")
                .and_then(|value| Transport::parse_list(value).into_iter().next());
            if let Some(answer) = &answer {
                check_setup_transport(&response, answer, &request)?;
            }
            let route = match (protocol, pair) {
                (Protocol::Tcp, _) => {
                    let (rtp, rtcp) = answer
                        .as_ref()
                        .and_then(Transport::interleaved_channels)
                        .or_else(|| request.interleaved_channels())
                        .expect("requested channels");
                    Route::Interleaved {
                        writer: client.writer(),
                        rtp,
                        rtcp,
                    }
                }
                (Protocol::Udp | Protocol::UdpMulticast, Some(pair)) => {
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
                    let (rtp_port, rtcp_port) =
                        answer.rtp_rtcp_ports_server().ok_or_else(|| {
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
                    self.udp_tasks.push(tokio::spawn(receive_rtcp(
                        udp.rtcp_socket.clone(),
                        stream.clone(),
                    )));
                    Route::Udp(Arc::new(udp))
                }
                (Protocol::Udp | Protocol::UdpMulticast, None) => {
                    unreachable!("UDP without sockets")
                }
            };
            routes.push(route);
        }
        Ok(routes)
    }

    /// The recording loop, until every stream got EOS. Returns the EOS
    /// seqnum to post.
    async fn record(&mut self, streams: &[Announced]) -> Result<Option<gst::Seqnum>, ClientError> {
        let aggregate = self
            .aggregate
            .clone()
            .unwrap_or_else(|| self.url.request_url().to_string());
        let control = self.control.clone();
        let client = self.client.as_mut().expect("connected");
        let keep_alive_every = client
            .session()
            .map(|s| Duration::from_secs(s.timeout_or_default()))
            .unwrap_or(Duration::from_secs(60))
            / 2;
        let keep_alive_every = keep_alive_every.max(Duration::from_secs(1));
        let mut keep_alive = tokio::time::interval_at(
            tokio::time::Instant::now() + keep_alive_every,
            keep_alive_every,
        );
        let mut keep_alive_pending: Option<(u32, &'static str)> = None;
        let mut bye_deadline: Option<tokio::time::Instant> = None;
        let mut warned_channels = [false; 256];

        loop {
            let all_eos = streams.iter().all(|s| s.sender.eos().is_some());
            if all_eos {
                let all_bye = streams.iter().all(|s| s.sender.rtcp_eos());
                let deadline =
                    *bye_deadline.get_or_insert_with(|| tokio::time::Instant::now() + BYE_TIMEOUT);
                if all_bye || tokio::time::Instant::now() >= deadline {
                    gst::debug!(
                        CAT,
                        "All streams ended ({}), tearing down",
                        if all_bye {
                            "BYE sent"
                        } else {
                            "no BYE in time"
                        }
                    );
                    return Ok(streams.iter().find_map(|s| s.sender.eos()));
                }
            } else {
                bye_deadline = None;
            }
            let bye_wait = async {
                match bye_deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = control.changed.notified() => {}
                _ = bye_wait => {}
                incoming = client.next_incoming() => match incoming {
                    Ok(Incoming::Data { channel, payload }) => {
                        if !route_rtcp(streams, channel, payload) && !warned_channels[channel as usize] {
                            warned_channels[channel as usize] = true;
                            gst::warning!(CAT, "Ignoring data on channel {channel} that was never set up");
                        }
                    }
                    Ok(Incoming::ServerRequest(request)) => {
                        if request.method.eq_ignore_ascii_case("TEARDOWN") {
                            return Err(ClientError::new(
                                ErrorKind::Closed,
                                "The server ended the recording session",
                            ));
                        }
                    }
                    Ok(Incoming::Answer { id, response }) => {
                        if let Some((cseq, method)) = keep_alive_pending
                            && id == cseq
                        {
                            keep_alive_pending = None;
                            // 405/501/551: keep alive with OPTIONS.
                            if matches!(response.status, 405 | 501 | 551) {
                                client.mark_refused(method);
                            } else if response.status == 401 {
                                gst::warning!(CAT, "Keep-alive refused: {} {}", response.status, response.reason);
                            }
                        }
                    }
                    Ok(Incoming::Response(_)) => {}
                    // Every stream ended and we were only waiting for the
                    // RTCP BYE to go out: a server that closes now has all
                    // the data (ffmpeg's listen mode ends on BYE). rtpbin
                    // sends a stream's BYE when EOS passes its session, and
                    // that can reach ffmpeg before the same EOS reaches our
                    // sender: BYE sent on every stream also means that all
                    // their RTP was written before it.
                    Err(_) if all_eos || streams.iter().all(|s| s.sender.rtcp_eos()) => {
                        gst::debug!(CAT, "The server closed the connection after the end of all streams");
                        return Ok(streams.iter().find_map(|s| s.sender.eos()));
                    }
                    Err(err) => {
                        return Err(ClientError::new(
                            ErrorKind::Closed,
                            format!("Lost the connection to the server while publishing: {}", err.message),
                        ));
                    }
                },
                _ = keep_alive.tick(), if self.config.keep_alive => {
                    let method = if client.public_lists("GET_PARAMETER") { "GET_PARAMETER" } else { "OPTIONS" };
                    match client.send_only(method, &aggregate, &Headers::new()).await {
                        Ok(cseq) => keep_alive_pending = Some((cseq, method)),
                        Err(err) => gst::warning!(CAT, "Keep-alive failed: {err}"),
                    }
                }
            }
        }
    }

    /// TEARDOWN after EOS. Over TCP the request queues behind every packet
    /// already accepted (one FIFO write queue), so its answer means the
    /// server has read them all; over UDP it follows a short grace.
    async fn teardown(&mut self) {
        if !self.udp_tasks.is_empty() && self.client.is_some() {
            tokio::time::sleep(UDP_DRAIN_GRACE).await;
        }
        for task in self.udp_tasks.drain(..) {
            task.abort();
        }
        if let Some(mut client) = self.client.take() {
            let url = self
                .aggregate
                .take()
                .unwrap_or_else(|| self.url.request_url().to_string());
            self.host.progress(
                gst::ProgressType::Start,
                "close",
                "Closing the recording session",
            );
            if let Err(err) = client
                .request("TEARDOWN", &url, &Headers::new(), &[], &mut |_| {})
                .await
            {
                // ffmpeg's listen mode closes without answering.
                gst::info!(CAT, "No answer to TEARDOWN: {err}");
            }
            self.host
                .progress(gst::ProgressType::Complete, "close", "Closed");
        }
    }

    /// Stop UDP receivers and send TEARDOWN (bounded) if a session exists.
    async fn shutdown(&mut self) {
        for task in self.udp_tasks.drain(..) {
            task.abort();
        }
        if let Some(mut client) = self.client.take()
            && client.session().is_some()
        {
            let url = self
                .aggregate
                .take()
                .unwrap_or_else(|| self.url.request_url().to_string());
            // 454 or 500 mean the session is gone already.
            let _ = tokio::time::timeout(
                TEARDOWN_TIMEOUT,
                client.request("TEARDOWN", &url, &Headers::new(), &[], &mut |_| {}),
            )
            .await;
        }
    }
}

/// Server RTCP on an interleaved channel into the stream's rtpbin session.
fn route_rtcp(streams: &[Announced], channel: u8, payload: Bytes) -> bool {
    for stream in streams {
        if let Some(Route::Interleaved { rtp, rtcp, .. }) = stream.sender.route() {
            if channel == rtcp {
                stream.sender.push_rtcp(payload);
                return true;
            }
            if channel == rtp {
                // The server has nothing to send on the RTP channel.
                return true;
            }
        }
    }
    false
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

/// The SDP for ANNOUNCE: one media section per stream with control
/// `stream=N`, and the payload type each stream must be rewritten to
/// (`Some`) when its dynamic type is already taken by an earlier stream.
pub fn build_sdp(streams: &[RtpCaps], local: IpAddr, peer: IpAddr) -> (String, Vec<Option<u8>>) {
    let original: Vec<u8> = streams.iter().map(|c| c.payload().unwrap_or(96)).collect();
    let mut used: Vec<u8> = Vec::new();
    let mut rewrites = Vec::with_capacity(streams.len());
    let mut media = Vec::with_capacity(streams.len());
    for (index, caps) in streams.iter().enumerate() {
        let mut caps = caps.clone();
        let mut pt = original[index];
        let mut rewrite = None;
        if pt >= 96 && used.contains(&pt) {
            // Prefer a type no later stream uses either, so one collision
            // does not cause another.
            if let Some(free) = (96u8..=127).find(|p| !used.contains(p) && !original.contains(p)) {
                pt = free;
                rewrite = Some(free);
                caps.set("payload", CapsValue::Int(free as i32));
            }
        }
        used.push(pt);
        rewrites.push(rewrite);
        media.push(media_from_caps(&caps, &format!("stream={index}")));
    }
    let ip_kind = |ip: &IpAddr| if ip.is_ipv6() { "IP6" } else { "IP4" };
    let session_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let sdp = SessionDescription {
        version: Some(0),
        origin: Some(format!("- {session_id} 1 IN {} {local}", ip_kind(&local))),
        session_name: Some("Session streamed by GStreamer rtspsink".into()),
        connection: Connection::parse(&format!("IN {} {peer}", ip_kind(&peer))),
        bandwidths: Vec::new(),
        attributes: vec![Attribute {
            name: "tool".into(),
            value: Some(format!("GStreamer rtspsink {}", env!("CARGO_PKG_VERSION"))),
        }],
        media,
    };
    (sdp.to_sdp_string(), rewrites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(fields: &[(&str, CapsValue)]) -> RtpCaps {
        let mut caps = RtpCaps::default();
        for (name, value) in fields {
            caps.set(name, value.clone());
        }
        caps
    }

    fn h264(pt: i32) -> RtpCaps {
        caps(&[
            ("media", CapsValue::Str("video".into())),
            ("clock-rate", CapsValue::Int(90000)),
            ("encoding-name", CapsValue::Str("H264".into())),
            ("payload", CapsValue::Int(pt)),
            ("packetization-mode", CapsValue::Str("1".into())),
            ("ssrc", CapsValue::UInt(1234)),
        ])
    }

    fn opus(pt: i32) -> RtpCaps {
        caps(&[
            ("media", CapsValue::Str("audio".into())),
            ("clock-rate", CapsValue::Int(48000)),
            ("encoding-name", CapsValue::Str("OPUS".into())),
            ("encoding-params", CapsValue::Str("2".into())),
            ("payload", CapsValue::Int(pt)),
        ])
    }

    #[test]
    fn sdp_has_one_section_per_stream_with_controls() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let (sdp, rewrites) = build_sdp(&[h264(96), opus(97)], local, local);
        assert_eq!(rewrites, vec![None, None]);
        let parsed = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(parsed.media.len(), 2);
        assert_eq!(parsed.media[0].media, "video");
        assert_eq!(parsed.media[0].control(), Some("stream=0"));
        assert_eq!(parsed.media[0].attribute("rtpmap"), Some("96 H264/90000"));
        assert_eq!(
            parsed.media[0].attribute("fmtp"),
            Some("96 packetization-mode=1")
        );
        assert_eq!(parsed.media[1].attribute("rtpmap"), Some("97 OPUS/48000/2"));
        assert_eq!(parsed.media[1].control(), Some("stream=1"));
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(!sdp.contains("ssrc"));
    }

    #[test]
    fn duplicate_dynamic_payload_types_are_made_unique() {
        let local: IpAddr = "::1".parse().unwrap();
        let (sdp, rewrites) = build_sdp(&[h264(96), opus(96), opus(97)], local, local);
        // The second stream may not take 97: the third one uses it.
        assert_eq!(rewrites, vec![None, Some(98), None]);
        let parsed = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(parsed.media[1].formats, vec!["98".to_string()]);
        assert_eq!(parsed.media[1].attribute("rtpmap"), Some("98 OPUS/48000/2"));
        assert!(sdp.contains("c=IN IP6 ::1\r\n"));
    }

    #[test]
    fn static_payload_types_are_kept() {
        let pcmu = caps(&[
            ("media", CapsValue::Str("audio".into())),
            ("payload", CapsValue::Int(0)),
            ("clock-rate", CapsValue::Int(8000)),
            ("encoding-name", CapsValue::Str("PCMU".into())),
        ]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let (_, rewrites) = build_sdp(&[pcmu.clone(), pcmu], local, local);
        assert_eq!(rewrites, vec![None, None]);
    }
}
