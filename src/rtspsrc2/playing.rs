//! PLAY and the playing loop of one `rtspsrc2` session: interleaved data
//! to the streams, server requests, parameter requests and their answers,
//! keep-alive, and the data watchdog (UDP that never arrives falls back to
//! TCP; data that stops on any transport ends the session, for the runner
//! to reconnect).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rtspclient_protocol::headers::{RtpInfo, parse_rtp_info};
use rtspclient_protocol::message::{Headers, Request, Response};
use rtspclient_protocol::url::resolve_location;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::channels::{ChannelBatch, Channels, MAX_BATCH, route, wait_for_output};
use super::parameters::{MAX_PENDING_PARAMETERS, ParameterRequest};
use super::session::{PlayConfig, PlayHost};
use super::setup::{ActiveTransport, SetUpStream};
use super::streams::{RtcpTarget, StreamOutput};
use super::udp_receive::receive_udp;
use crate::driver::answers::expect_success;
use crate::driver::client::{Incoming, RtspClient};
use crate::driver::error::{ClientError, ErrorKind};
use crate::session::keep_alive::KeepAlive;
use crate::session::{Ended, Link, Protocol};

/// Packets that arrive between sending PLAY and reading its answer are held
/// (so RTP-Info applies before them); beyond this many they are dropped.
const MAX_EARLY_PACKETS: usize = 1024;
/// How often the watchdog looks at packet counters.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(200);

/// PLAY the set-up streams and run until the session ends.
pub async fn play(
    link: &mut Link,
    config: &PlayConfig,
    host: &Arc<dyn PlayHost>,
    commands: &mut mpsc::Receiver<ParameterRequest>,
    streams: Vec<SetUpStream>,
    protocol: Protocol,
) -> Result<Ended<()>, ClientError> {
    let aggregate = link.aggregate();
    let channels = route_streams(link.client(), &streams, config.do_rtcp);

    let mut range = Headers::new();
    range.set("Range", "npt=0.000-");
    let mut early: Vec<(u8, Bytes)> = Vec::new();
    let response = link
        .client()
        .request("PLAY", &aggregate, &range, &[], &mut |incoming| {
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

    let mut udp_outputs = Vec::new();
    for stream in &streams {
        if let ActiveTransport::Udp { pair, .. } = &stream.transport {
            link.spawn(receive_udp(pair.clone(), stream.output.clone()));
            udp_outputs.push(stream.output.clone());
        }
    }
    host.playing(protocol);
    host.progress(
        gst::ProgressType::Complete,
        "open",
        &format!("Playing over {}", protocol.name()),
    );
    link.established();

    let keep_alive = KeepAlive::new(link.client(), config.session.keep_alive);
    let mut playing = Playing {
        config,
        host,
        aggregate,
        channels,
        outputs: streams.iter().map(|s| s.output.clone()).collect(),
        udp_outputs,
        keep_alive,
        parameters_pending: Vec::new(),
        watchdog: Watchdog::new(),
        control_closed: false,
        tcp_fallback: config.session.protocols.contains(&Protocol::Tcp)
            && protocol != Protocol::Tcp,
        warned_channels: [false; 256],
        batch: ChannelBatch::default(),
    };
    playing.run(link.client(), commands).await
}

/// Route interleaved channels to their streams; tell each stream where
/// its receiver reports go.
fn route_streams(client: &RtspClient, streams: &[SetUpStream], do_rtcp: bool) -> Channels {
    let mut channels: Channels = vec![None; 256];
    for stream in streams {
        match &stream.transport {
            ActiveTransport::Interleaved { rtp, rtcp } => {
                channels[*rtp as usize] = Some((stream.output.clone(), false));
                channels[*rtcp as usize] = Some((stream.output.clone(), true));
                if do_rtcp {
                    stream.output.set_rtcp_target(Some(RtcpTarget::Interleaved {
                        writer: client.writer(),
                        channel: *rtcp,
                    }));
                }
            }
            ActiveTransport::Udp { pair, server_rtcp } => {
                if let (Some(destination), true) = (server_rtcp, do_rtcp) {
                    stream.output.set_rtcp_target(Some(RtcpTarget::Udp {
                        socket: pair.rtcp.clone(),
                        destination: *destination,
                    }));
                }
            }
        }
    }
    channels
}

/// When data last moved, over any transport.
struct Watchdog {
    interval: tokio::time::Interval,
    seen: u64,
    last_change: Instant,
}

impl Watchdog {
    fn new() -> Watchdog {
        Watchdog {
            interval: tokio::time::interval(WATCHDOG_PERIOD),
            seen: 0,
            last_change: Instant::now(),
        }
    }
}

struct Playing<'a> {
    config: &'a PlayConfig,
    host: &'a Arc<dyn PlayHost>,
    aggregate: String,
    channels: Channels,
    outputs: Vec<Arc<StreamOutput>>,
    udp_outputs: Vec<Arc<StreamOutput>>,
    keep_alive: KeepAlive,
    parameters_pending: Vec<(u32, ParameterRequest)>,
    watchdog: Watchdog,
    /// The RTSP connection closed while UDP data may still come.
    control_closed: bool,
    /// UDP that never brings anything may be retried over TCP.
    tcp_fallback: bool,
    warned_channels: [bool; 256],
    batch: ChannelBatch,
}

impl Playing<'_> {
    async fn run(
        &mut self,
        client: &mut RtspClient,
        commands: &mut mpsc::Receiver<ParameterRequest>,
    ) -> Result<Ended<()>, ClientError> {
        loop {
            tokio::select! {
                incoming = client.next_incoming(), if !self.control_closed => match incoming {
                    Ok(Incoming::Data { channel, payload }) => self.on_data(client, channel, payload).await,
                    Ok(Incoming::ServerRequest(request)) => {
                        if let Some(ended) = self.on_server_request(&request) {
                            return Ok(ended);
                        }
                    }
                    Ok(Incoming::Answer { id, response }) => self.on_answer(client, id, response)?,
                    Ok(Incoming::Response(_)) => {}
                    Err(err) => self.on_connection_lost(err)?,
                },
                Some(request) = commands.recv(), if !self.control_closed => {
                    self.on_parameter_request(client, request).await;
                }
                due = self.keep_alive.due(), if !self.control_closed => {
                    due?;
                    self.keep_alive.send(client, &self.aggregate).await;
                }
                _ = self.watchdog.interval.tick() => {
                    if let Some(ended) = self.check_data_flow()? {
                        return Ok(ended);
                    }
                }
            }
        }
    }

    /// Take every packet that came with the same read and hand each
    /// channel's share to rtpbin as one list.
    async fn on_data(&mut self, client: &mut RtspClient, channel: u8, payload: Bytes) {
        self.batch.push(channel, payload);
        while self.batch.len() < MAX_BATCH {
            match client.next_buffered_data() {
                Some((channel, payload)) => self.batch.push(channel, payload),
                None => break,
            }
        }
        for channel in self.batch.route(&self.channels) {
            if !self.warned_channels[channel as usize] {
                self.warned_channels[channel as usize] = true;
                gst::warning!(
                    super::imp::CAT,
                    "Ignoring data on channel {channel} that was never set up"
                );
            }
        }
        wait_for_output(&self.channels).await;
    }

    fn on_server_request(&self, request: &Request) -> Option<Ended<()>> {
        let method = request.method.to_ascii_uppercase();
        if method == "TEARDOWN" {
            for output in &self.outputs {
                output.push_eos();
            }
            return Some(Ended::Done(()));
        }
        if method == "REDIRECT"
            && let Some(target) = request
                .headers
                .get("Location")
                .and_then(|l| resolve_location(&self.aggregate, l))
        {
            return Some(Ended::Redirect(target));
        }
        None
    }

    fn on_answer(
        &mut self,
        client: &mut RtspClient,
        id: u32,
        response: Response,
    ) -> Result<(), ClientError> {
        if let Some(at) = self.parameters_pending.iter().position(|(c, _)| *c == id) {
            let (_, request) = self.parameters_pending.swap_remove(at);
            if matches!(response.status, 405 | 501 | 551) {
                client.methods_mut().mark_refused(request.method);
            }
            request.reply(
                response.status,
                &response.reason,
                &String::from_utf8_lossy(&response.body),
            );
            return Ok(());
        }
        self.keep_alive.on_answer(client, id, &response).map(|_| ())
    }

    fn on_connection_lost(&mut self, err: ClientError) -> Result<(), ClientError> {
        if self.udp_outputs.is_empty() {
            return Err(ClientError::new(
                ErrorKind::Closed,
                format!("Lost the connection to the server: {}", err.message),
            ));
        }
        // Over UDP the data may go on; the watchdog ends the session if it
        // stops.
        gst::warning!(super::imp::CAT, "Control connection lost: {err}");
        self.control_closed = true;
        Ok(())
    }

    async fn on_parameter_request(&mut self, client: &mut RtspClient, request: ParameterRequest) {
        if !client.methods().supports(request.method) {
            request.reply(501, "Not supported by the server", "");
        } else if self.parameters_pending.len() >= MAX_PENDING_PARAMETERS {
            request.reply(503, "Too many parameter requests in flight", "");
        } else {
            let mut headers = Headers::new();
            headers.set("Content-Type", request.content_type.clone());
            match client
                .send_only_with_body(
                    request.method,
                    &self.aggregate,
                    &headers,
                    request.body.as_bytes(),
                )
                .await
            {
                Ok(cseq) => self.parameters_pending.push((cseq, request)),
                Err(err) => request.reply(0, &err.message, ""),
            }
        }
    }

    /// Data that never came over UDP: retry over TCP if allowed. Data that
    /// stopped for `timeout` on any transport, or never came: the session
    /// is dead (a camera that rebooted keeps no session), end it.
    fn check_data_flow(&mut self) -> Result<Option<Ended<()>>, ClientError> {
        let seen: u64 = self
            .outputs
            .iter()
            .map(|o| o.packets.load(Ordering::Relaxed))
            .sum();
        let now = Instant::now();
        if seen != self.watchdog.seen {
            self.watchdog.seen = seen;
            self.watchdog.last_change = now;
            return Ok(None);
        }
        let over_udp = !self.udp_outputs.is_empty();
        let mut timeout = self.config.data_timeout;
        if seen == 0 && !over_udp {
            // The first packet over TCP may be slow to come: a server that
            // starts its pipeline on PLAY under load. It gets as long as a
            // response would.
            timeout = timeout.max(self.config.session.client.timeout);
        }
        if now - self.watchdog.last_change < timeout {
            return Ok(None);
        }
        if seen == 0 && over_udp && self.tcp_fallback && !self.control_closed {
            self.host.warning(&format!(
                "No UDP packets arrived within {timeout:?}: a firewall may block them. Retrying over TCP."
            ));
            return Ok(Some(Ended::Restart(vec![Protocol::Tcp])));
        }
        let message = match (self.control_closed, seen, over_udp) {
            (true, _, _) => "The server closed the connection and stopped sending".to_string(),
            (false, 0, true) => format!("No UDP packets arrived within {timeout:?}"),
            (false, 0, false) => format!("No data arrived within {timeout:?}"),
            (false, _, _) => format!("No data for {timeout:?}"),
        };
        let kind = if self.control_closed {
            ErrorKind::Closed
        } else {
            ErrorKind::Timeout
        };
        Err(ClientError::new(kind, message))
    }
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
