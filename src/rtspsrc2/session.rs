//! The RTSP play task of one `rtspsrc2` instance: OPTIONS, DESCRIBE, SETUP
//! per stream over the preferred transport, PLAY, then the playing loop
//! (routing data, keep-alive, server requests, UDP silence watchdog), and
//! TEARDOWN. It runs on the shared runtime and talks to the element only
//! through [`PlayHost`], so a slow server never blocks a state change.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rtspclient_protocol::auth::Credentials;
use rtspclient_protocol::caps::{StreamDescription, streams_from_sdp};
use rtspclient_protocol::headers::{RtpInfo, parse_rtp_info};
use rtspclient_protocol::message::{Headers, Response};
use rtspclient_protocol::sdp::SessionDescription;
use rtspclient_protocol::transport::{Delivery, LowerTransport, Transport};
use rtspclient_protocol::url::{RtspUrl, control_urls, resolve_location};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::settings::Protocol;
use super::streams::{RtcpTarget, StreamOutput};
use crate::caps_convert::to_gst_caps;
use crate::driver::client::{
    ClientConfig, Incoming, RtspClient, check_setup_transport, expect_success,
};
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::udp::{self, UdpOptions, UdpPair};

/// Bound on TEARDOWN when stopping: the element does not wait for it, but
/// the task should not linger either.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Packets that arrive between sending PLAY and reading its answer are held
/// (so RTP-Info applies before them); beyond this many they are dropped.
const MAX_EARLY_PACKETS: usize = 1024;
/// Packets taken from one socket read (or one UDP wake-up) before they are
/// handed to rtpbin, so other sessions on the same I/O thread get a turn.
const MAX_BATCH: usize = 64;
/// Output backlog (packets) above which a TCP session stops reading, and
/// below which it reads again: about 45 ms and 10 ms at 2 Gbit/s; a camera
/// stream never gets near (the worker takes its output every 5 ms).
const OUTPUT_BACKLOG_HIGH: usize = 8192;
const OUTPUT_BACKLOG_LOW: usize = 2048;
/// How long one wait for the output may last, and how often it looks.
const OUTPUT_WAIT_LIMIT: Duration = Duration::from_millis(200);
const OUTPUT_WAIT_STEP: Duration = Duration::from_millis(1);
/// How often the UDP watchdog looks at packet counters.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(200);

/// Everything the task needs to know, copied from the element's settings
/// when it starts.
#[derive(Debug, Clone)]
pub struct PlayConfig {
    pub url: RtspUrl,
    pub credentials: Option<Credentials>,
    pub protocols: Vec<Protocol>,
    pub udp_timeout: Duration,
    pub client: ClientConfig,
    pub keep_alive: bool,
    pub udp: UdpOptions,
    pub max_redirects: u32,
    pub do_rtcp: bool,
}

/// What the play task needs from the element.
pub trait PlayHost: Send + Sync + 'static {
    /// Create (or return the existing) output for stream `index`; the first
    /// caps are the stream's preferred payload, the others its alternatives.
    fn ensure_stream(
        &self,
        index: usize,
        payloads: Vec<gst::Caps>,
    ) -> Result<Arc<StreamOutput>, String>;
    /// Post a progress message.
    fn progress(&self, kind: gst::ProgressType, code: &str, text: &str);
    /// Post a warning.
    fn warning(&self, text: &str);
    /// Post an error: the task ends after this.
    fn error(&self, error: &ClientError);
    /// The server ended the presentation.
    fn end_of_stream(&self);
    /// A session is playing over `protocol` (counts restarts for `stats`).
    fn playing(&self, protocol: Protocol);
    /// Whether the application wants stream `index` (`select-stream`).
    fn select_stream(&self, index: usize, caps: &gst::Caps) -> bool;
}

/// A GET_PARAMETER or SET_PARAMETER the application asked for with an
/// action signal. Its promise is always answered: with the server's reply,
/// or with an error if the request cannot be made or the session ends.
pub struct ParameterRequest {
    pub method: &'static str,
    pub content_type: String,
    pub body: String,
    promise: Option<gst::Promise>,
}

impl ParameterRequest {
    pub fn new(
        method: &'static str,
        content_type: Option<String>,
        body: String,
        promise: gst::Promise,
    ) -> Self {
        ParameterRequest {
            method,
            content_type: content_type.unwrap_or_else(|| "text/parameters".into()),
            body,
            promise: Some(promise),
        }
    }

    fn reply(mut self, code: u16, reason: &str, body: &str) {
        if let Some(promise) = self.promise.take() {
            promise.reply(Some(
                gst::Structure::builder("rtsp-parameter-reply")
                    .field(
                        "rtsp-result",
                        if (200..300).contains(&code) {
                            0i32
                        } else {
                            -1i32
                        },
                    )
                    .field("rtsp-code", code as u32)
                    .field("rtsp-reason", reason)
                    .field("body", body)
                    .build(),
            ));
        }
    }
}

impl Drop for ParameterRequest {
    fn drop(&mut self) {
        if let Some(promise) = self.promise.take() {
            promise.reply(Some(
                gst::Structure::builder("rtsp-parameter-reply")
                    .field("rtsp-result", -1i32)
                    .field("rtsp-code", 0u32)
                    .field("rtsp-reason", "No RTSP session")
                    .field("body", "")
                    .build(),
            ));
        }
    }
}

/// Outstanding parameter requests kept at once; more are refused.
const MAX_PENDING_PARAMETERS: usize = 32;

/// Run until stopped, failed or ended. Posts errors and EOS through `host`.
pub async fn run(
    config: PlayConfig,
    host: Arc<dyn PlayHost>,
    commands: mpsc::Receiver<ParameterRequest>,
    mut stop: watch::Receiver<bool>,
) {
    let mut session = PlaySession {
        config,
        commands,
        host: host.clone(),
        client: None,
        aggregate_url: None,
        udp_tasks: Vec::new(),
    };
    let result = tokio::select! {
        result = session.run() => result,
        _ = stop.wait_for(|stop| *stop) => Err(ClientError::new(ErrorKind::Cancelled, "stopped")),
    };
    session.shutdown().await;
    match result {
        Ok(()) => host.end_of_stream(),
        Err(err) if err.kind == ErrorKind::Cancelled => {}
        Err(err) => host.error(&err),
    }
}

/// Why one connection's session ended without an error.
enum Ended {
    /// REDIRECT or 3xx: start again at this URL.
    Redirect(String),
    /// UDP brought nothing within the timeout: start again over TCP.
    FallbackToTcp,
    /// The server tore the session down or the stream ended.
    Finished,
}

/// A stream the application wants, before SETUP.
struct SelectedStream<'a> {
    index: usize,
    description: &'a StreamDescription,
    output: Arc<StreamOutput>,
}

/// One stream after SETUP.
struct SetUpStream {
    output: Arc<StreamOutput>,
    control_url: String,
    transport: ActiveTransport,
}

enum ActiveTransport {
    Interleaved {
        rtp: u8,
        rtcp: u8,
    },
    Udp {
        pair: UdpPair,
        server_rtcp: Option<SocketAddr>,
    },
}

struct PlaySession {
    config: PlayConfig,
    commands: mpsc::Receiver<ParameterRequest>,
    host: Arc<dyn PlayHost>,
    client: Option<RtspClient>,
    aggregate_url: Option<String>,
    udp_tasks: Vec<JoinHandle<()>>,
}

impl PlaySession {
    async fn run(&mut self) -> Result<(), ClientError> {
        let mut url = self.config.url.clone();
        let mut protocols = self.config.protocols.clone();
        let mut redirects = 0;
        loop {
            let ended = self.play_once(&url, &protocols).await?;
            self.shutdown().await;
            match ended {
                Ended::Finished => return Ok(()),
                Ended::FallbackToTcp => {
                    protocols = vec![Protocol::Tcp];
                }
                Ended::Redirect(target) => {
                    redirects += 1;
                    if redirects > self.config.max_redirects {
                        return Err(ClientError::new(
                            ErrorKind::Redirect,
                            format!("More than {} redirects", self.config.max_redirects),
                        ));
                    }
                    url = crate::element_config::redirect_url(&target)?;
                    self.host.progress(
                        gst::ProgressType::Continue,
                        "redirect",
                        &format!("Redirected to {}", url.redacted()),
                    );
                }
            }
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
                .aggregate_url
                .take()
                .unwrap_or_else(|| client.url().request_url().to_string());
            // 454 or 500 answers mean the session is gone already
            // (docs/QUIRKS.md, "TEARDOWN answers"); nothing to do either way.
            let _ = tokio::time::timeout(
                TEARDOWN_TIMEOUT,
                client.request("TEARDOWN", &url, &Headers::new(), &[], &mut |_| {}),
            )
            .await;
        }
    }

    async fn play_once(
        &mut self,
        url: &RtspUrl,
        protocols: &[Protocol],
    ) -> Result<Ended, ClientError> {
        let host = self.host.clone();
        host.progress(
            gst::ProgressType::Start,
            "connect",
            &format!("Connecting to {}", url.redacted()),
        );
        let credentials = url
            .credentials
            .clone()
            .or_else(|| self.config.credentials.clone());
        let client =
            RtspClient::connect(url.clone(), credentials, self.config.client.clone()).await?;
        host.progress(gst::ProgressType::Complete, "connect", "Connected");
        let client = self.client.insert(client);
        let request_url = url.request_url().to_string();

        host.progress(
            gst::ProgressType::Start,
            "open",
            "Retrieving server options",
        );
        let options = client
            .request("OPTIONS", &request_url, &Headers::new(), &[], &mut |_| {})
            .await?;
        if let Some(target) = redirect_target(&options, &request_url) {
            return Ok(Ended::Redirect(target));
        }
        if options.is_success() {
            client.set_public_from(&options);
        }

        host.progress(gst::ProgressType::Continue, "open", "Retrieving media info");
        let mut accept = Headers::new();
        accept.set("Accept", "application/sdp");
        let describe = client
            .request("DESCRIBE", &request_url, &accept, &[], &mut |_| {})
            .await?;
        if let Some(target) = redirect_target(&describe, &request_url) {
            return Ok(Ended::Redirect(target));
        }
        expect_success(&describe, "DESCRIBE")?;
        let sdp = SessionDescription::parse(&describe.body).map_err(|err| {
            ClientError::new(
                ErrorKind::Protocol,
                format!("Invalid SDP in DESCRIBE answer: {}", err.0),
            )
        })?;
        let base = describe
            .headers
            .get("Content-Base")
            .or_else(|| describe.headers.get("Content-Location"))
            .map(str::to_string)
            .unwrap_or_else(|| request_url.clone());
        let descriptions = streams_from_sdp(&sdp);
        if descriptions.is_empty() {
            return Err(ClientError::new(
                ErrorKind::NoUsableStream,
                "The server describes no stream this element can receive",
            ));
        }
        let aggregate = match sdp.control() {
            Some(control) => control_urls(&base, control).0,
            None => base.clone(),
        };
        self.aggregate_url = Some(aggregate.clone());

        let mut selected = Vec::with_capacity(descriptions.len());
        for (index, description) in descriptions.iter().enumerate() {
            let payloads: Vec<gst::Caps> = description.payloads.iter().map(to_gst_caps).collect();
            if !payloads
                .first()
                .is_some_and(|caps| host.select_stream(index, caps))
            {
                gst::info!(
                    super::imp::CAT,
                    "Stream {index} deselected by the application"
                );
                continue;
            }
            let output = host
                .ensure_stream(index, payloads)
                .map_err(|err| ClientError::new(ErrorKind::Resource, err))?;
            selected.push(SelectedStream {
                index,
                description,
                output,
            });
        }
        if selected.is_empty() {
            return Err(ClientError::new(
                ErrorKind::NoUsableStream,
                "The application deselected every stream",
            ));
        }

        host.progress(gst::ProgressType::Continue, "open", "Setting up streams");
        let mut streams = None;
        let mut last_error = None;
        for (attempt, protocol) in protocols.iter().enumerate() {
            match self.setup_all(*protocol, &selected, &base).await {
                Ok(set_up) => {
                    streams = Some((set_up, *protocol));
                    break;
                }
                Err(err) => {
                    let retryable = matches!(
                        err.status(),
                        Some((461, _)) | Some((400, _)) | Some((501, _))
                    ) || err.kind == ErrorKind::Resource;
                    if !retryable || attempt + 1 == protocols.len() {
                        return Err(err);
                    }
                    gst::info!(
                        super::imp::CAT,
                        "SETUP over {} failed ({err}), trying the next protocol",
                        protocol.name()
                    );
                    last_error = Some(err);
                }
            }
        }
        let Some((streams, protocol)) = streams else {
            return Err(last_error.unwrap_or_else(|| {
                ClientError::new(ErrorKind::Resource, "No transport protocol allowed")
            }));
        };
        self.play(streams, protocol, &aggregate).await
    }

    /// SETUP every stream over `protocol`.
    async fn setup_all(
        &mut self,
        protocol: Protocol,
        selected: &[SelectedStream<'_>],
        base: &str,
    ) -> Result<Vec<SetUpStream>, ClientError> {
        let client = self.client.as_mut().expect("connected");
        let peer = client.connection().peer_addr();
        let mut set_up = Vec::with_capacity(selected.len());
        for SelectedStream {
            index,
            description,
            output,
        } in selected.iter()
        {
            let index = *index;
            let control = description.control.as_deref().unwrap_or("*");
            let mut request_transport;
            let mut local_pair = None;
            match protocol {
                Protocol::Tcp => {
                    request_transport = Transport::new(LowerTransport::Tcp, Delivery::Unicast);
                    let rtp = (index * 2).min(254) as u8;
                    request_transport.interleaved = Some((rtp, Some(rtp + 1)));
                }
                Protocol::Udp => {
                    let pair = udp::bind_unicast_pair(peer.is_ipv6(), &self.config.udp).map_err(
                        |err| {
                            ClientError::new(
                                ErrorKind::Resource,
                                format!("Could not bind UDP ports: {err}"),
                            )
                        },
                    )?;
                    request_transport = Transport::new(LowerTransport::Udp, Delivery::Unicast);
                    request_transport.client_port = Some((pair.rtp_port(), Some(pair.rtcp_port())));
                    local_pair = Some(pair);
                }
                Protocol::UdpMulticast => {
                    request_transport = Transport::new(LowerTransport::Udp, Delivery::Multicast);
                }
            }
            let mut headers = Headers::new();
            headers.set("Transport", request_transport.to_header_value());

            let (control_url, response) = client.setup(base, control, &headers).await?;
            expect_success(&response, "SETUP")?;
            let transport = response
                .headers
                .get("Transport")
                .and_then(|value| Transport::parse_list(value).into_iter().next())
                .ok_or_else(|| {
                    ClientError::new(
                        ErrorKind::Protocol,
                        "SETUP answer has no usable Transport header",
                    )
                })?;
            check_setup_transport(&response, &transport, &request_transport)?;
            if let Some(ssrc) = transport.ssrc {
                let mut caps = output.caps();
                caps.make_mut().set("ssrc", ssrc);
                output.update_caps(caps);
            }
            let active = match (transport.lower, transport.delivery) {
                (LowerTransport::Tcp, _) => {
                    let (rtp, rtcp) = match transport.interleaved.or(request_transport.interleaved)
                    {
                        Some((rtp, rtcp)) => (rtp, rtcp.unwrap_or(rtp.wrapping_add(1))),
                        None => {
                            return Err(ClientError::new(
                                ErrorKind::Protocol,
                                "TCP transport without channels",
                            ));
                        }
                    };
                    ActiveTransport::Interleaved { rtp, rtcp }
                }
                (LowerTransport::Udp, Some(Delivery::Multicast)) => {
                    multicast_transport(&transport, description, &self.config.udp)?
                }
                (LowerTransport::Udp, _) => {
                    let pair = match local_pair.take() {
                        Some(pair) => pair,
                        None => {
                            return Err(ClientError::new(
                                ErrorKind::Protocol,
                                "Server answered a multicast request with unicast UDP",
                            ));
                        }
                    };
                    let server_ip = transport
                        .source
                        .as_deref()
                        .and_then(|s| s.parse::<IpAddr>().ok())
                        .unwrap_or(peer.ip());
                    let server_ports = transport.rtp_rtcp_ports_server();
                    if let Some((rtp_port, rtcp_port)) = server_ports {
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
            };
            set_up.push(SetUpStream {
                output: output.clone(),
                control_url,
                transport: active,
            });
        }
        Ok(set_up)
    }

    /// PLAY and the playing loop.
    async fn play(
        &mut self,
        streams: Vec<SetUpStream>,
        protocol: Protocol,
        aggregate: &str,
    ) -> Result<Ended, ClientError> {
        let client = self.client.as_mut().expect("connected");
        // Route interleaved channels; remember RTCP destinations.
        let mut channels: Vec<Option<(Arc<StreamOutput>, bool)>> = vec![None; 256];
        for stream in &streams {
            match &stream.transport {
                ActiveTransport::Interleaved { rtp, rtcp } => {
                    channels[*rtp as usize] = Some((stream.output.clone(), false));
                    channels[*rtcp as usize] = Some((stream.output.clone(), true));
                    if self.config.do_rtcp {
                        stream.output.set_rtcp_target(Some(RtcpTarget::Interleaved {
                            writer: client.writer(),
                            channel: *rtcp,
                        }));
                    }
                }
                ActiveTransport::Udp { pair, server_rtcp } => {
                    if let (Some(destination), true) = (server_rtcp, self.config.do_rtcp) {
                        stream.output.set_rtcp_target(Some(RtcpTarget::Udp {
                            socket: pair.rtcp.clone(),
                            destination: *destination,
                        }));
                    }
                }
            }
        }

        let mut range = Headers::new();
        range.set("Range", "npt=0.000-");
        let mut early: Vec<(u8, Bytes)> = Vec::new();
        let response = client
            .request("PLAY", aggregate, &range, &[], &mut |incoming| {
                if let Incoming::Data { channel, payload } = incoming
                    && early.len() < MAX_EARLY_PACKETS
                {
                    early.push((channel, payload));
                }
            })
            .await?;
        expect_success(&response, "PLAY")?;
        let rtp_info: Vec<RtpInfo> = response
            .headers
            .get("RTP-Info")
            .map(parse_rtp_info)
            .unwrap_or_default();
        apply_rtp_info(&streams, &rtp_info);
        for (channel, payload) in early {
            route(&channels, channel, payload);
        }

        let udp_outputs: Vec<Arc<StreamOutput>> = streams
            .iter()
            .filter(|s| matches!(s.transport, ActiveTransport::Udp { .. }))
            .map(|s| s.output.clone())
            .collect();
        for stream in &streams {
            if let ActiveTransport::Udp { pair, .. } = &stream.transport {
                self.udp_tasks.push(tokio::spawn(receive_udp(
                    pair.clone(),
                    stream.output.clone(),
                )));
            }
        }
        self.host.playing(protocol);
        self.host.progress(
            gst::ProgressType::Complete,
            "open",
            &format!("Playing over {}", protocol.name()),
        );

        let keep_alive_every = client
            .session()
            .map(|s| Duration::from_secs(s.timeout_or_default()))
            .unwrap_or(Duration::from_secs(60))
            / 2;
        let keep_alive_every = keep_alive_every.max(Duration::from_secs(1));
        gst::debug!(
            super::imp::CAT,
            "Session {:?}, keep-alive every {keep_alive_every:?}",
            client.session()
        );
        let mut keep_alive = tokio::time::interval_at(
            tokio::time::Instant::now() + keep_alive_every,
            keep_alive_every,
        );
        let mut keep_alive_pending: Option<(u32, &'static str)> = None;
        let mut parameters_pending: Vec<(u32, ParameterRequest)> = Vec::new();
        let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
        let udp_started = tokio::time::Instant::now();
        let mut udp_seen = 0u64;
        let mut udp_last_change = udp_started;
        let mut control_closed = false;
        let tcp_allowed =
            self.config.protocols.contains(&Protocol::Tcp) && protocol != Protocol::Tcp;
        let mut warned_channels = [false; 256];
        let mut batch = ChannelBatch::default();

        loop {
            tokio::select! {
                incoming = client.next_incoming(), if !control_closed => match incoming {
                    Ok(Incoming::Data { channel, payload }) => {
                        // Take every packet that came with the same read and
                        // hand each channel's share to rtpbin as one list.
                        batch.push(channel, payload);
                        while batch.len() < MAX_BATCH {
                            match client.next_buffered_data() {
                                Some((channel, payload)) => batch.push(channel, payload),
                                None => break,
                            }
                        }
                        for channel in batch.route(&channels) {
                            if !warned_channels[channel as usize] {
                                warned_channels[channel as usize] = true;
                                gst::warning!(super::imp::CAT, "Ignoring data on channel {channel} that was never set up");
                            }
                        }
                        wait_for_output(&channels).await;
                    }
                    Ok(Incoming::ServerRequest(request)) => {
                        let method = request.method.to_ascii_uppercase();
                        if method == "TEARDOWN" {
                            for stream in &streams {
                                stream.output.push_eos();
                            }
                            return Ok(Ended::Finished);
                        }
                        if method == "REDIRECT"
                            && let Some(target) = request.headers.get("Location")
                                .and_then(|l| resolve_location(aggregate, l))
                            {
                                return Ok(Ended::Redirect(target));
                            }
                    }
                    Ok(Incoming::Answer { id, response }) => {
                        if let Some(at) = parameters_pending.iter().position(|(c, _)| *c == id) {
                            let (_, request) = parameters_pending.swap_remove(at);
                            if matches!(response.status, 405 | 501 | 551) {
                                client.mark_refused(request.method);
                            }
                            request.reply(response.status, &response.reason, &String::from_utf8_lossy(&response.body));
                            continue;
                        }
                        if let Some((cseq, method)) = keep_alive_pending
                            && id == cseq {
                                keep_alive_pending = None;
                                // 405/501/551: the server does not want this
                                // method; keep alive with OPTIONS instead.
                                if matches!(response.status, 405 | 501 | 551) {
                                    client.mark_refused(method);
                                } else if response.status == 401 {
                                    gst::warning!(super::imp::CAT, "Keep-alive refused: {} {}", response.status, response.reason);
                                }
                            }
                    }
                    Ok(Incoming::Response(_)) => {}
                    Err(err) => {
                        if udp_outputs.is_empty() {
                            return Err(ClientError::new(
                                ErrorKind::Closed,
                                format!("Lost the connection to the server: {}", err.message),
                            ));
                        }
                        // Over UDP the data may go on; the watchdog ends
                        // the session if it stops.
                        gst::warning!(super::imp::CAT, "Control connection lost: {err}");
                        control_closed = true;
                    }
                },
                Some(request) = self.commands.recv(), if !control_closed => {
                    if !client.supports(request.method) {
                        request.reply(501, "Not supported by the server", "");
                    } else if parameters_pending.len() >= MAX_PENDING_PARAMETERS {
                        request.reply(503, "Too many parameter requests in flight", "");
                    } else {
                        let mut headers = Headers::new();
                        headers.set("Content-Type", request.content_type.clone());
                        match client
                            .send_only_with_body(request.method, aggregate, &headers, request.body.as_bytes())
                            .await
                        {
                            Ok(cseq) => parameters_pending.push((cseq, request)),
                            Err(err) => request.reply(0, &err.message, ""),
                        }
                    }
                }
                _ = keep_alive.tick(), if self.config.keep_alive && !control_closed => {
                    let method = if client.public_lists("GET_PARAMETER") { "GET_PARAMETER" } else { "OPTIONS" };
                    gst::debug!(super::imp::CAT, "Keep-alive with {method}");
                    match client.send_only(method, aggregate, &Headers::new()).await {
                        Ok(cseq) => keep_alive_pending = Some((cseq, method)),
                        Err(err) => gst::warning!(super::imp::CAT, "Keep-alive failed: {err}"),
                    }
                }
                _ = watchdog.tick(), if !udp_outputs.is_empty() => {
                    let seen: u64 = udp_outputs.iter().map(|o| o.packets.load(Ordering::Relaxed)).sum();
                    let now = tokio::time::Instant::now();
                    if seen != udp_seen {
                        udp_seen = seen;
                        udp_last_change = now;
                    } else if now - udp_last_change >= self.config.udp_timeout {
                        if seen == 0 && tcp_allowed && !control_closed {
                            self.host.warning(&format!(
                                "No UDP packets arrived within {:?}: a firewall may block them. Retrying over TCP.",
                                self.config.udp_timeout
                            ));
                            return Ok(Ended::FallbackToTcp);
                        }
                        if control_closed {
                            return Err(ClientError::new(
                                ErrorKind::Closed,
                                "The server closed the connection and stopped sending",
                            ));
                        }
                        if seen == 0 {
                            return Err(ClientError::new(
                                ErrorKind::Timeout,
                                format!("No UDP packets arrived within {:?}", self.config.udp_timeout),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Interleaved packets of one socket read, grouped by channel (order kept
/// within each channel, which is all RTP needs).
#[derive(Default)]
struct ChannelBatch {
    groups: Vec<(u8, Vec<Bytes>)>,
    len: usize,
}

impl ChannelBatch {
    fn push(&mut self, channel: u8, payload: Bytes) {
        self.len += 1;
        match self
            .groups
            .iter_mut()
            .find(|(c, packets)| *c == channel || packets.is_empty())
        {
            Some((c, packets)) => {
                *c = channel;
                packets.push(payload);
            }
            None => self.groups.push((channel, vec![payload])),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Deliver and empty the batch (the group vectors are kept for reuse);
    /// returns the channels nobody set up.
    fn route(&mut self, channels: &[Option<(Arc<StreamOutput>, bool)>]) -> Vec<u8> {
        let mut unknown = Vec::new();
        self.len = 0;
        for (channel, packets) in &mut self.groups {
            if packets.is_empty() {
                continue;
            }
            match channels.get(*channel as usize) {
                Some(Some((output, false))) => output.push_rtp_batch(packets.drain(..)),
                Some(Some((output, true))) => packets.drain(..).for_each(|p| output.push_rtcp(&p)),
                _ => {
                    unknown.push(*channel);
                    packets.clear();
                }
            }
        }
        unknown
    }
}

/// Over TCP the server can be slowed down: while a stream's jitterbuffer
/// has more output waiting than its worker takes, stop reading (bounded),
/// so the TCP window closes and the server sends at the pace the pipeline
/// consumes. Without this, a consumer slower than the link made the
/// jitterbuffer drop a second's worth of packets at a time, and the I/O
/// thread spent the CPU the consumer needed on packets that were then
/// dropped (at 2.4 Gbit/s offered, 0.6–0.9 Gbit/s arrived, at 2.0 all of
/// it). The wait is bounded so that a stalled consumer cannot stop the
/// session: its output then ages out in the jitterbuffer as before.
async fn wait_for_output(channels: &[Option<(Arc<StreamOutput>, bool)>]) {
    let behind = |limit: usize| {
        channels
            .iter()
            .flatten()
            .any(|(output, rtcp)| !rtcp && output.output_backlog() > limit)
    };
    if !behind(OUTPUT_BACKLOG_HIGH) {
        return;
    }
    let deadline = tokio::time::Instant::now() + OUTPUT_WAIT_LIMIT;
    while behind(OUTPUT_BACKLOG_LOW) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(OUTPUT_WAIT_STEP).await;
    }
}

/// Deliver an interleaved packet; false if the channel is not set up.
fn route(channels: &[Option<(Arc<StreamOutput>, bool)>], channel: u8, payload: Bytes) -> bool {
    match channels.get(channel as usize) {
        Some(Some((output, false))) => {
            output.push_rtp(&payload);
            true
        }
        Some(Some((output, true))) => {
            output.push_rtcp(&payload);
            true
        }
        _ => false,
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

/// Send one small datagram from each socket to the server's ports so NAT
/// and stateful firewalls let the server's packets in (as C rtspsrc does).
fn punch_holes(pair: &UdpPair, rtp: SocketAddr, rtcp: SocketAddr) {
    // An RTP-version-0 byte pattern is ignored by RTP stacks.
    const DUMMY: [u8; 4] = [0, 0, 0, 0];
    let _ = pair.rtp.try_send_to(&DUMMY, rtp);
    let _ = pair.rtcp.try_send_to(&DUMMY, rtcp);
}

/// Put RTP-Info's seq and rtptime into the stream caps as seqnum-base and
/// clock-base. Entries for streams that were not set up are skipped
/// (docs/QUIRKS.md, "RTP-Info").
fn apply_rtp_info(streams: &[SetUpStream], entries: &[RtpInfo]) {
    for entry in entries {
        let Some(stream) = streams
            .iter()
            .find(|s| rtp_info_matches(&entry.url, &s.control_url))
        else {
            continue;
        };
        let mut caps = stream.output.caps();
        {
            let caps = caps.make_mut();
            if let Some(seq) = entry.seq {
                caps.set("seqnum-base", seq as u32);
            }
            if let Some(rtptime) = entry.rtptime {
                caps.set("clock-base", rtptime);
            }
            if let Some(ssrc) = entry.ssrc {
                caps.set("ssrc", ssrc);
            }
        }
        stream.output.update_caps(caps);
    }
}

/// RTP-Info URLs are absolute or relative to the base, with or without a
/// trailing slash, depending on the server.
fn rtp_info_matches(info_url: &str, control_url: &str) -> bool {
    let a = info_url.trim().trim_end_matches('/');
    let b = control_url.trim().trim_end_matches('/');
    !a.is_empty() && (a == b || b.ends_with(&format!("/{a}")) || a.ends_with(&format!("/{b}")))
}

async fn receive_udp(pair: UdpPair, output: Arc<StreamOutput>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            ready = pair.rtp.readable() => {
                if ready.is_err() { return; }
                // Up to a batch of what waits in the socket goes to rtpbin
                // in one turn; stopping before WouldBlock keeps the socket
                // ready, so the rest follows on the next one.
                while batch.len() < MAX_BATCH {
                    match recv_now(&pair.rtp, &output) {
                        Some(packet) => batch.push(packet),
                        None => break,
                    }
                }
                output.push_rtp_buffers(batch.drain(..));
            }
            ready = pair.rtcp.readable() => {
                if ready.is_err() { return; }
                while let Some(packet) = recv_now(&pair.rtcp, &output) {
                    output.push_rtcp_buffer(packet);
                }
            }
        }
    }
}

thread_local! {
    /// One receive buffer per runtime thread instead of one per stream: a
    /// UDP datagram can be 64 KiB, and hundreds of streams would each hold
    /// one otherwise.
    static RECEIVE_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 65536]);
}

/// One datagram if one is waiting, copied into a buffer of this thread's
/// pool.
fn recv_now(socket: &tokio::net::UdpSocket, output: &StreamOutput) -> Option<gst::Buffer> {
    RECEIVE_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        loop {
            match socket.try_recv(&mut buffer) {
                // Hole-punch echoes and empty datagrams carry nothing.
                Ok(n) if n < 4 => continue,
                Ok(n) => return Some(output.packet_buffer(&buffer[..n])),
                Err(_) => return None,
            }
        }
    })
}

fn redirect_target(response: &Response, current: &str) -> Option<String> {
    if !(300..400).contains(&response.status) {
        return None;
    }
    response
        .headers
        .get("Location")
        .and_then(|location| resolve_location(current, location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_info_url_matching() {
        assert!(rtp_info_matches("rtsp://h/a/track1", "rtsp://h/a/track1"));
        assert!(rtp_info_matches("track1", "rtsp://h/a/track1"));
        assert!(rtp_info_matches("rtsp://h/a/track1/", "rtsp://h/a/track1"));
        assert!(!rtp_info_matches("track1", "rtsp://h/a/track10"));
        assert!(!rtp_info_matches("", "rtsp://h/a/track1"));
    }
}
