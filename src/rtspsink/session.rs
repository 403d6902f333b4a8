//! The record task of one `rtspsink` instance: the shared session runner
//! ([`crate::session`]) with this element's part: wait until every stream
//! has its first buffer, ANNOUNCE the SDP built from their caps, SETUP
//! each stream in record mode, RECORD, the recording loop
//! ([`super::recording`]) and TEARDOWN. It talks to the element only
//! through [`RecordHost`] and the shared [`Control`], so a slow server
//! never blocks a state change.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rtspclient_protocol::message::Headers;
use rtspclient_protocol::rtsp2::publish_in_1_0;
use rtspclient_protocol::url::resolve_location;
use tokio::sync::watch;

use super::imp::CAT;
use super::record_setup::RecordSetup;
use super::recording::record;
use super::sdp::{MediaClock, Security, application_kbps, build_sdp, clock_signalling};
use super::sender::{Control, Readiness, Reporter, StreamSender};
use crate::caps_convert::from_gst_caps;
use crate::driver::answers::expect_success;
use crate::driver::error::{ClientError, ErrorKind};
use crate::session::link::redirect_target;
use crate::session::transports::setup_with_fallback;
use crate::session::{Ended, Events, Link, Protocol, Role, SessionConfig, runner};

/// Over UDP nothing orders the last datagrams before the TEARDOWN on the
/// TCP connection: a server that has not read its sockets yet when the
/// TEARDOWN arrives loses the end of the recording (gst-rtsp-server ends
/// the media with EOS from its sources then; under load the test suite
/// lost the last 1-5 of 45 frames that way). The datagrams get this long to
/// be read first. It only delays EOS after a recording over UDP; going to
/// NULL does not wait for it.
const UDP_DRAIN_GRACE: Duration = Duration::from_millis(200);

/// How much longer than `tcp-timeout` ANNOUNCE to RECORD may take as a
/// whole.
const NEGOTIATION_GRACE: Duration = Duration::from_millis(500);

/// Everything the task needs, copied from the settings when it starts.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    pub session: SessionConfig,
    /// SO_SNDBUF for the UDP sockets; 0 = system default.
    pub udp_send_buffer: usize,
}

/// What the record task needs from the element beyond errors/warnings.
pub trait RecordHost: Reporter + Events {
    /// Everything was sent and the session torn down: post EOS.
    fn end_of_stream(&self, seqnum: Option<gst::Seqnum>);
    /// The reference clock to announce (`publish-clock-mode`), if any.
    fn media_clock(&self) -> Option<MediaClock>;
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
    let mut role = RecordRole {
        config,
        control: control.clone(),
        host: host.clone(),
        streams: None,
        asking: None,
        avp_only: false,
    };
    let session = role.config.session.clone();
    match runner::run_until_stopped(&mut role, session, host.clone(), &mut stop).await {
        Ok(Some(seqnum)) => host.end_of_stream(seqnum),
        Ok(None) => {}
        Err(err) => control.fail(Some(epoch), &err),
    }
}

struct RecordRole {
    config: RecordConfig,
    control: Arc<Control>,
    host: Arc<dyn RecordHost>,
    /// The streams announced, with the caps of their first buffers; fixed
    /// by the first session.
    streams: Option<Vec<(Arc<StreamSender>, gst::Caps)>>,
    /// The request waiting for its answer, for the error when ANNOUNCE to
    /// RECORD as a whole takes too long: a server whose handler died
    /// (rtsp-server-perl on a control URL it does not expect) never
    /// answers, and this bound usually ends the wait before the request's
    /// own timeout does.
    asking: Option<&'static str>,
    /// The server refused our RTP/AVPF announcement with RTX: for the
    /// rest of the run (reconnections too) it gets plain RTP/AVP.
    avp_only: bool,
}

/// Whether a status refusing an ANNOUNCE or SETUP of ours with RTP/AVPF
/// and RTX may be about that: gst-rtsp-server answers 415 to an SDP whose
/// profile its mount does not take and 461 to such a SETUP; others use
/// 400, 406, 451, 501... Authentication (401, 403, 407), a wrong URL (404,
/// 410) and redirects are not (an RTP/AVP announcement would meet them
/// too). One more try without RTX costs one round trip; when it is
/// refused as well, its error is the one reported.
fn may_refuse_feedback(status: u16) -> bool {
    (400..600).contains(&status) && !matches!(status, 401 | 403 | 404 | 407 | 410)
}

impl Role for RecordRole {
    type Done = Option<gst::Seqnum>;

    async fn run_session(
        &mut self,
        link: &mut Link,
        protocols: &[Protocol],
    ) -> Result<Ended<Option<gst::Seqnum>>, ClientError> {
        if self.streams.is_none() {
            let streams = self.wait_for_streams(link).await?;
            if streams.is_empty() {
                // Every stream ended before it had any data: nothing to
                // publish.
                return Ok(Ended::Done(
                    self.control.streams().iter().find_map(|s| s.eos()),
                ));
            }
            self.streams = Some(streams);
        }
        // A little longer than one request may take, so that a single
        // unanswered request ends with its own, more precise, error.
        let timeout = self.config.session.client.timeout + NEGOTIATION_GRACE;
        match tokio::time::timeout(timeout, self.negotiate(link, protocols)).await {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(redirect))) => return Ok(Ended::Redirect(redirect)),
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                let mut err = ClientError::new(
                    ErrorKind::Timeout,
                    format!("ANNOUNCE, SETUP and RECORD took longer than {timeout:?}"),
                );
                if let (Some(method), Some(client)) = (self.asking, link.client_if_open()) {
                    err = err.with_request(method, client.cseq());
                }
                return Err(err);
            }
        }
        let senders: Vec<Arc<StreamSender>> = self.senders();
        let aggregate = link.aggregate();
        let keep_alive = self.config.session.keep_alive;
        let seqnum = record(
            link.client(),
            &aggregate,
            &self.control,
            &senders,
            keep_alive,
        )
        .await?;
        self.teardown(link).await;
        Ok(Ended::Done(seqnum))
    }

    fn session_lost(&mut self) {
        self.control.set_reconnecting(self.control.epoch());
    }
}

impl RecordRole {
    fn senders(&self) -> Vec<Arc<StreamSender>> {
        self.streams
            .iter()
            .flatten()
            .map(|(sender, _)| sender.clone())
            .collect()
    }

    /// Wait until every requested stream had its first buffer (or ended),
    /// then fix the set of streams. Once one stream is ready the others
    /// get `timeout` to follow.
    async fn wait_for_streams(
        &mut self,
        link: &mut Link,
    ) -> Result<Vec<(Arc<StreamSender>, gst::Caps)>, ClientError> {
        let timeout = self.config.session.client.timeout;
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
            let client = link.client_if_open();
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
                        link.drop_connection();
                    }
                }
            }
        }
    }

    /// ANNOUNCE, SETUP and RECORD; `Some(target)` when redirected.
    async fn negotiate(
        &mut self,
        link: &mut Link,
        protocols: &[Protocol],
    ) -> Result<Option<String>, ClientError> {
        let epoch = self.control.epoch();
        let senders = self.senders();
        // RTX repairs losses; over TCP (interleaved, RFC 2326 §10.12)
        // nothing is lost, so a TCP-only session announces none: no
        // RTP/AVPF, no rtx payload, nothing kept by rtprtxsend.
        let udp_possible = protocols.iter().any(|p| *p != Protocol::Tcp);
        let (routes, protocol, base, rewrites) = loop {
            if !link.is_open()
                && let Some(target) = link.open().await?
            {
                return Ok(Some(target));
            }
            let with_rtx = udp_possible
                && !self.avp_only
                && senders.iter().any(|s| s.retransmission().is_some());
            let (base, rewrites) = match self.announce(link, with_rtx).await {
                Ok(Announced::Base { base, rewrites }) => (base, rewrites),
                Ok(Announced::Redirect(target)) => return Ok(Some(target)),
                Err(err) if with_rtx && self.refused_feedback(&err, "ANNOUNCE") => continue,
                Err(err) => return Err(err),
            };
            link.set_aggregate(base.clone());

            self.host
                .progress(gst::ProgressType::Continue, "open", "Setting up streams");
            let round = RecordSetup {
                streams: &senders,
                udp: &self.config.session.udp,
                udp_send_buffer: self.config.udp_send_buffer,
            };
            self.asking = Some("SETUP");
            match setup_with_fallback(&round, link, protocols, &base).await {
                Ok((routes, protocol)) => break (routes, protocol, base, rewrites),
                Err(err) if with_rtx && self.refused_feedback(&err, "SETUP") => {
                    // The server holds the RTP/AVPF presentation of our
                    // ANNOUNCE: a new connection announces the plain one.
                    link.abort_tasks();
                    link.drop_connection();
                }
                Err(err) => return Err(err),
            }
        };
        if protocol == Protocol::Tcp {
            // Announced with RTX (UDP was allowed) but set up over TCP:
            // the SETUP kept the announced profile, but nothing will be
            // lost, so nothing is kept to repeat.
            for sender in &senders {
                if let Some(rtx) = sender.retransmission() {
                    rtx.clear();
                }
            }
        }

        let mut range = Headers::new();
        range.set("Range", "npt=0.000-");
        self.asking = Some("RECORD");
        let response = link
            .client()
            .request("RECORD", &base, &range, &[], &mut |_| {})
            .await?;
        expect_success(&response, "RECORD")?;

        for ((sender, route), pt_rewrite) in senders.iter().zip(routes).zip(rewrites) {
            sender.set_route(Some(route), pt_rewrite);
            if let Some(pt) = pt_rewrite {
                gst::info!(
                    CAT,
                    "Stream {} announced with payload type {pt} (another stream uses its own)",
                    sender.index
                );
            }
        }
        if !self.control.set_recording(epoch) {
            return Err(ClientError::new(ErrorKind::Cancelled, "stopped"));
        }
        if link.recovering() {
            // The server's new session can only be decoded from a key
            // frame on: ask the encoders for one now rather than at their
            // next interval.
            for sender in &senders {
                sender.request_key_frame();
            }
        }
        link.established();
        self.host.progress(
            gst::ProgressType::Complete,
            "open",
            &format!("Recording over {}", protocol.name()),
        );
        Ok(None)
    }

    /// The server refused `method` (ANNOUNCE or SETUP) of our RTP/AVPF
    /// announcement with RTX: true when it gets plain RTP/AVP instead
    /// (warned about and counted once per run).
    fn refused_feedback(&mut self, err: &ClientError, method: &str) -> bool {
        if !err
            .status()
            .is_some_and(|(code, _)| may_refuse_feedback(code))
        {
            return false;
        }
        self.avp_only = true;
        self.control.avp_fallbacks.fetch_add(1, Ordering::Relaxed);
        let text = format!(
            "The server refused the RTP/AVPF {method} that rtx-time needs ({err}): \
             publishing with plain RTP/AVP, without retransmission"
        );
        gst::warning!(CAT, "{text}");
        self.host.warning(&text);
        true
    }

    /// ANNOUNCE the SDP of the chosen streams, with RFC 4588 RTX (and so
    /// RTP/AVPF) for the streams that have `rtx-time` when `with_rtx`.
    async fn announce(
        &mut self,
        link: &mut Link,
        with_rtx: bool,
    ) -> Result<Announced, ClientError> {
        let mut descriptions = Vec::new();
        let mut rtx_time = Vec::new();
        let mut security = Vec::new();
        let mut bandwidths = Vec::new();
        let mut clock = Vec::new();
        let media_clock = self.host.media_clock();
        for (stream, caps) in self.streams.iter().flatten() {
            let rtx = stream.retransmission().filter(|_| with_rtx);
            rtx_time.push(rtx.as_ref().map(|rtx| rtx.time_ms));
            let key_mgmt = match stream.srtp() {
                Some(keys) => {
                    // Our RTX packets need a crypto session too: their
                    // SSRC is fixed now and announced with the stream's.
                    let mut more = Vec::new();
                    if let (Some(rtx), Some(ssrc)) = (&rtx, keys.ssrc()) {
                        rtx.set_ssrc_map(ssrc, keys.rtx_ssrc());
                        more.push(keys.rtx_ssrc());
                    }
                    Some(keys.announce(&more).ok_or_else(|| {
                        ClientError::new(
                            ErrorKind::Decrypt,
                            "Could not write a MIKEY message for our key",
                        )
                    })?)
                }
                None => None,
            };
            stream.set_key_mgmt(key_mgmt.clone());
            security.push(Security {
                profile: stream.chosen_profile(),
                key_mgmt,
            });
            let description = from_gst_caps(caps).ok_or_else(|| {
                ClientError::new(
                    ErrorKind::NoUsableStream,
                    format!("Stream {} has no RTP caps", stream.index),
                )
            })?;
            bandwidths.push(application_kbps(&description, stream.stated_bitrate()));
            clock.push(media_clock.as_ref().map_or_else(Vec::new, |media_clock| {
                clock_signalling(media_clock, description.clock_rate(), stream.first_rtp())
            }));
            descriptions.push(description);
        }
        let client = link.client();
        let local = client.connection().local_addr().ip();
        let peer = client.connection().peer_addr().ip();
        let announcement = build_sdp(
            &descriptions,
            &rtx_time,
            &security,
            &bandwidths,
            &clock,
            local,
            peer,
        );
        let sdp = announcement.sdp;
        // Without the keys our MIKEY carries in the clear.
        let loggable: Vec<&str> = sdp
            .lines()
            .map(|line| {
                if line.starts_with("a=key-mgmt:") {
                    "a=key-mgmt:<not logged>"
                } else {
                    line
                }
            })
            .collect();
        gst::debug!(CAT, "ANNOUNCE SDP:\n{}", loggable.join("\n"));
        self.host
            .progress(gst::ProgressType::Start, "open", "Announcing the streams");
        let request_url = link.request_url();
        let mut headers = Headers::new();
        headers.set("Content-Type", "application/sdp");
        self.asking = Some("ANNOUNCE");
        let client = link.client();
        // At most twice: after the fall-back the version is 1.0.
        let response = loop {
            let response = client
                .request(
                    "ANNOUNCE",
                    &request_url,
                    &headers,
                    sdp.as_bytes(),
                    &mut |_| {},
                )
                .await?;
            if !publish_in_1_0(client.version(), response.status) {
                break response;
            }
            gst::info!(
                CAT,
                "ANNOUNCE refused in RTSP/2.0 ({} {}): RFC 7826 has no publishing, going on in RTSP/1.0",
                response.status,
                response.reason
            );
            client.fall_back_to_1_0();
        };
        if let Some(target) = redirect_target(&response, &request_url) {
            return Ok(Announced::Redirect(target));
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
        // The aux senders repeat the payload type the payloader writes,
        // as the announced RTX type (apt= names the announced one).
        for (((stream, _), description), rtx_pt) in self
            .streams
            .iter()
            .flatten()
            .zip(&descriptions)
            .zip(&announcement.rtx)
        {
            if let Some(rtx) = stream.retransmission() {
                match (rtx_pt, description.payload()) {
                    (Some(rtx_pt), Some(pt)) => {
                        rtx.set_active(true);
                        rtx.set_payload_types(pt, *rtx_pt);
                    }
                    _ => rtx.set_active(false),
                }
            }
        }
        Ok(Announced::Base {
            base,
            rewrites: announcement.rewrites,
        })
    }

    /// TEARDOWN after EOS. Over TCP the request queues behind every packet
    /// already accepted (one FIFO write queue), so its answer means the
    /// server has read them all; over UDP it follows a short grace.
    async fn teardown(&mut self, link: &mut Link) {
        if !link.is_open() {
            return;
        }
        if link.has_tasks() {
            tokio::time::sleep(UDP_DRAIN_GRACE).await;
        }
        self.host.progress(
            gst::ProgressType::Start,
            "close",
            "Closing the recording session",
        );
        if let Err(err) = link.teardown().await {
            // ffmpeg's listen mode closes without answering.
            gst::info!(CAT, "No answer to TEARDOWN: {err}");
        }
        self.host
            .progress(gst::ProgressType::Complete, "close", "Closed");
    }
}

/// What ANNOUNCE led to.
enum Announced {
    /// The presentation's URL, and the payload type each stream is
    /// rewritten to (see [`build_sdp`]).
    Base {
        base: String,
        rewrites: Vec<Option<u8>>,
    },
    Redirect(String),
}

#[cfg(test)]
mod tests {
    use super::may_refuse_feedback;

    #[test]
    fn which_refusals_fall_back_to_avp() {
        // gst-rtsp-server: 415 to the ANNOUNCE, 461 to a SETUP.
        for status in [400, 406, 415, 451, 461, 500, 501, 551] {
            assert!(may_refuse_feedback(status), "{status}");
        }
        for status in [200, 301, 401, 403, 404, 407, 410] {
            assert!(!may_refuse_feedback(status), "{status}");
        }
    }
}
