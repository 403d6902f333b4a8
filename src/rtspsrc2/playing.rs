//! PLAY and the playing loop of one `rtspsrc2` session: interleaved data
//! to the streams, server requests, parameter requests and their answers,
//! keep-alive, and the data watchdog (UDP that never arrives falls back to
//! TCP; data that stops on any transport ends the session, for the runner
//! to reconnect).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rtspclient_protocol::headers::format_npt_range;
use rtspclient_protocol::message::{Headers, Response};
use rtspclient_protocol::play_control::{
    SeekTarget, Target, VodRange, answered_start, reached_end,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::channels::{ChannelBatch, Channels, MAX_BATCH, route, wait_for_output};
use super::control::{
    Control, PlayAsk, Played, StreamRef, answer_rates, apply_position, current_rate, play_headers,
    range_header, rtp_info,
};
use super::parameters::{MAX_PENDING_PARAMETERS, ParameterRequest};
use super::session::{PlayConfig, PlayHost};
use super::setup::{ActiveTransport, SetUpStream};
use super::streams::StreamOutput;
use super::udp_receive::receive_udp;
use crate::driver::answers::expect_success;
use crate::driver::client::{Incoming, RtspClient};
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::packet_route::PacketRoute;
use crate::session::keep_alive::KeepAlive;
use crate::session::rtsp2::MediaHeaders;
use crate::session::{Ended, Link, Protocol};

/// Packets that arrive between sending PLAY and reading its answer are held
/// (so RTP-Info applies before them); beyond this many they are dropped.
mod server_requests;

const MAX_EARLY_PACKETS: usize = 1024;
/// How often the watchdog looks at packet counters.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(200);
/// A VOD stream whose data stopped this long within [`END_TOLERANCE_S`]
/// of the range end has ended (a server that sends no RTCP BYE).
const END_SILENCE: Duration = Duration::from_secs(1);
const END_TOLERANCE_S: f64 = 0.5;

/// The player's wishes and what the task knows of the presentation,
/// kept by the role across the sessions of one element start.
pub struct Presentation<'a> {
    pub target: &'a watch::Receiver<Target>,
    /// Generation of the last seek sent to a server.
    pub applied_seek: &'a mut u64,
    /// The last ONVIF replay request sent to a server.
    pub last_replay: &'a mut Option<rtspclient_protocol::onvif::ReplayRequest>,
    /// The seek generation whose PLAY the server refused, and how often.
    pub refused_seek: &'a mut (u64, u32),
    pub vod: Option<VodRange>,
}

/// PLAY the set-up streams and run until the session ends.
pub async fn play(
    link: &mut Link,
    config: &PlayConfig,
    host: &Arc<dyn PlayHost>,
    commands: &mut mpsc::Receiver<ParameterRequest>,
    streams: Vec<SetUpStream>,
    protocol: Protocol,
    presentation: Presentation<'_>,
) -> Result<Ended<()>, ClientError> {
    let aggregate = link.aggregate();
    let channels = route_streams(link.client(), &streams, config.do_rtcp);

    // A seek made before this PLAY goes with it; otherwise from the start
    // (also after a reconnection: the server's new session starts there).
    let target = *presentation.target.borrow();
    let pending_seek = target
        .seek
        .filter(|s| s.generation > *presentation.applied_seek);
    let (range_value, requested, precision) = match pending_seek {
        Some(seek) => (range_header(&seek), seek.start, seek.precision),
        None => {
            // After a reconnection a VOD goes on where its data stopped
            // (the server snaps to a key frame before it), not from the
            // start: the pads and their segments are still there.
            // What left the element is downstream and gets played; the
            // rest is flushed, and packets are held until the answer.
            let resume = presentation
                .vod
                .filter(|_| link.recovering() && config.replay.is_none())
                .and_then(|_| {
                    // The stream that got least far: in reverse the highest.
                    let positions = streams
                        .iter()
                        .filter_map(|s| s.output.timeline.last_output_npt());
                    match current_rate(&target) < 0.0 {
                        true => positions.reduce(f64::max),
                        false => positions.reduce(f64::min),
                    }
                });
            if resume.is_some() {
                host.reposition();
            }
            let start = resume.unwrap_or(presentation.vod.map_or(0.0, |v| v.start));
            // A reconnection goes on at a key frame (the server's choice).
            (format_npt_range(start, None), start, Default::default())
        }
    };
    let replay_request = match pending_seek.and_then(|s| s.replay) {
        Some(request) => Some(request),
        // After a reconnection a replay goes on where its output got to,
        // in its mode and towards its range's end; no flush: the absolute
        // times carry on.
        None if config.replay.is_some() && link.recovering() => {
            let outputs: Vec<_> = streams.iter().map(|s| s.output.clone()).collect();
            super::onvif::resume_request(presentation.last_replay.as_ref(), &outputs)
        }
        None => None,
    };
    // A live presentation with the ONVIF backchannel gets no Range: with
    // one, gst-rtsp-server seeks its media and fails (docs/QUIRKS.md, "PLAY
    // Range on media with an ONVIF backchannel"), and without one a live
    // stream starts at its live edge anyway (RFC 2326 §10.5). In ONVIF
    // replay a Range goes only with a request: without one the server
    // starts where its recording starts.
    let range_value = (presentation.vod.is_some() || !config.backchannel).then_some(range_value);
    let ask = PlayAsk {
        replay: config.replay.map(|replay| (replay, replay_request)),
        range: range_value.map(|r| (r, precision)),
        rate: current_rate(&target),
        rate_header: config.rate_header,
    };
    let range = play_headers(&ask, link.client().version());
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
    if let Err(err) = expect_success(&response, "PLAY") {
        give_up_refused_seek(
            pending_seek,
            presentation.refused_seek,
            presentation.applied_seek,
            host,
        );
        return Err(err);
    }
    if let Some(seek) = pending_seek {
        *presentation.applied_seek = seek.generation;
    }
    if replay_request.is_some() {
        *presentation.last_replay = replay_request;
    }
    MediaHeaders::read(&response.headers, "PLAY answer");
    let refs: Vec<StreamRef> = streams
        .iter()
        .map(|s| StreamRef {
            control_url: s.control_url.clone(),
            output: s.output.clone(),
        })
        .collect();
    let range = presentation.vod.map(|vod| Played {
        start: answered_start(response.headers.get("Range")).unwrap_or(requested),
        end: pending_seek.and_then(|s| s.end).or(Some(vod.end)),
        rates: answer_rates(&response.headers),
    });
    if config.replay.is_some() {
        super::onvif::after_play(&refs, &response, replay_request.as_ref());
    }
    let held_for_seek = range.is_none() && pending_seek.is_some();
    apply_position(&refs, &rtp_info(&response.headers), range);
    if held_for_seek {
        // A seek made before this PLAY holds the streams; without an NPT
        // range (ONVIF recordings describe `clock=` ones) apply_position
        // does not end the hold: the PLAY's answer does.
        for stream in &streams {
            stream.output.end_seek(None, false);
        }
    }
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
    host.playing(protocol, link.client().version());
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
        control: Control::new(
            presentation.target.clone(),
            *presentation.applied_seek,
            presentation.vod,
            config.pause_live,
            config.rate_header,
        )
        .with_replay(
            config.replay,
            replay_request,
            streams.iter().map(|s| s.output.clone()).collect(),
        ),
        streams: refs,
        vod_end: presentation.vod.map(|v| v.end),
    };
    let result = playing.run(link.client(), commands).await;
    *presentation.applied_seek = playing.control.applied_seek;
    *presentation.last_replay = playing.control.last_replay();
    result
}

/// After this many refusals of the PLAY of one seek (each ends the
/// session, and reconnection tries again), the seek is given up.
const MAX_SEEK_REFUSALS: u32 = 3;

/// The first PLAY of a session was refused: if it carried a seek that
/// was refused [`MAX_SEEK_REFUSALS`] times, the next session goes on
/// without it (where the output stopped), with a warning, rather than
/// asking for it for ever.
fn give_up_refused_seek(
    seek: Option<SeekTarget>,
    refused: &mut (u64, u32),
    applied_seek: &mut u64,
    host: &Arc<dyn PlayHost>,
) {
    let Some(seek) = seek else {
        return;
    };
    if refused.0 != seek.generation {
        *refused = (seek.generation, 0);
    }
    refused.1 += 1;
    if refused.1 >= MAX_SEEK_REFUSALS {
        *applied_seek = seek.generation;
        host.warning(&format!(
            "The server refused the seek to {:.3} s {MAX_SEEK_REFUSALS} times: going on without it",
            seek.start
        ));
    }
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
                    stream
                        .output
                        .set_rtcp_target(Some(PacketRoute::Interleaved {
                            writer: client.writer(),
                            channel: *rtcp,
                        }));
                }
            }
            ActiveTransport::Udp { pair, server_rtcp } => {
                if let (Some(destination), true) = (server_rtcp, do_rtcp) {
                    stream.output.set_rtcp_target(Some(PacketRoute::Udp {
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
    /// Each stream's packet count at the previous tick.
    per_stream: Vec<u64>,
}

impl Watchdog {
    fn new() -> Watchdog {
        Watchdog {
            interval: tokio::time::interval(WATCHDOG_PERIOD),
            seen: 0,
            last_change: Instant::now(),
            per_stream: Vec::new(),
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
    control: Control,
    streams: Vec<StreamRef>,
    /// NPT end of a VOD presentation.
    vod_end: Option<f64>,
}

impl Playing<'_> {
    async fn run(
        &mut self,
        client: &mut RtspClient,
        commands: &mut mpsc::Receiver<ParameterRequest>,
    ) -> Result<Ended<()>, ClientError> {
        // The element may have paused (or sought) while PLAY was on its way.
        self.control
            .step(client, &self.aggregate, self.host)
            .await?;
        loop {
            tokio::select! {
                incoming = client.next_incoming(), if !self.control_closed => match incoming {
                    Ok(Incoming::Data { channel, payload }) => self.on_data(client, channel, payload).await,
                    Ok(Incoming::ServerRequest(request)) => {
                        if let Some(ended) = self.on_server_request(&request) {
                            return Ok(ended);
                        }
                    }
                    Ok(Incoming::Answer { id, response }) => self.on_answer(client, id, response).await?,
                    Ok(Incoming::Response(_)) => {}
                    Err(err) => self.on_connection_lost(err)?,
                },
                Some(request) = commands.recv(), if !self.control_closed => {
                    self.on_parameter_request(client, request).await;
                }
                _ = self.control.changed(), if !self.control_closed => {
                    self.control.step(client, &self.aggregate, self.host).await?;
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

    async fn on_answer(
        &mut self,
        client: &mut RtspClient,
        id: u32,
        response: Response,
    ) -> Result<(), ClientError> {
        if self
            .control
            .on_answer(client, id, &response, &self.streams, self.host)?
        {
            self.watchdog.last_change = Instant::now();
            return self.control.step(client, &self.aggregate, self.host).await;
        }
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

    /// EOS on the streams whose server said BYE and whose packets have
    /// stopped since the last tick.
    fn end_after_bye(&mut self) {
        let counts: Vec<u64> = self
            .outputs
            .iter()
            .map(|o| o.packets.load(Ordering::Relaxed))
            .collect();
        for (index, output) in self.outputs.iter().enumerate() {
            if output.timeline.bye_pending()
                && self.watchdog.per_stream.get(index) == Some(&counts[index])
            {
                gst::info!(super::imp::CAT, "Stream {index} ended (RTCP BYE): EOS");
                output.push_eos();
            }
        }
        self.watchdog.per_stream = counts;
    }

    /// Every stream of a VOD presentation (or of an ONVIF replay range)
    /// got to the end of its range.
    fn at_end_of_range(&self) -> bool {
        let vod = self.vod_end.is_some()
            && self
                .outputs
                .iter()
                .all(|o| match o.replay.is_reverse_vod() {
                    // Down to the range's lower bound.
                    true => o.replay.at_range_end((END_TOLERANCE_S * 1e9) as u64),
                    false => reached_end(o.timeline.last_npt(), self.vod_end, END_TOLERANCE_S),
                });
        vod || (self.config.replay.is_some()
            && super::onvif::replay_at_end(&self.outputs, END_TOLERANCE_S))
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
        if let Some(stuck) = self.control.overdue(self.config.session.client.timeout) {
            return Err(stuck);
        }
        // While paused or waiting for PAUSE/PLAY no packets come: that is
        // no end of a stream.
        if !self.control.quiet() {
            self.end_after_bye();
        }
        super::onvif::end_terminated(&self.outputs);
        let now = Instant::now();
        // No data is due while the server is paused or a PAUSE/PLAY is on
        // its way, nor once every stream of a VOD ended: not an outage.
        // (One ended stream must not hide another one that stalls.)
        // A replay whose streams all ended (T flag, BYE) is done too.
        let finite = self.vod_end.is_some() || self.config.replay.is_some();
        let ended = finite && self.outputs.iter().all(|o| o.timeline.ended());
        if seen != self.watchdog.seen || self.control.quiet() || ended {
            self.watchdog.seen = seen;
            self.watchdog.last_change = now;
            return Ok(None);
        }
        if now - self.watchdog.last_change >= END_SILENCE && self.at_end_of_range() {
            gst::info!(super::imp::CAT, "Data stopped at the end of the range: EOS");
            for output in &self.outputs {
                output.push_eos();
            }
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
