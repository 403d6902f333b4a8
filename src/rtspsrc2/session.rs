//! The RTSP play task of one `rtspsrc2` instance: the shared session
//! runner ([`crate::session`]) with this element's part, DESCRIBE, the
//! choice of streams, SETUP and PLAY ([`super::playing`]). It runs on the
//! shared runtime and talks to the element only through [`PlayHost`], so
//! a slow server never blocks a state change.

use std::sync::Arc;
use std::time::Duration;

use rtspclient_protocol::backchannel;
use rtspclient_protocol::caps::{Bandwidth, StreamDescription, streams_from_sdp};
use rtspclient_protocol::message::Version;
use rtspclient_protocol::play_control::{Target, VodRange, vod_range};
use rtspclient_protocol::sdp::SessionDescription;
use rtspclient_protocol::srtp::Profile;
use rtspclient_protocol::url::control_urls;
use tokio::sync::{mpsc, watch};

use super::backchannel_session::{self, SelectedBackchannel, select_caps};
pub use super::parameters::ParameterRequest;
use super::playing::{Presentation, play};
use super::setup::{PlaySetup, SelectedStream};
use super::streams::StreamOutput;
use crate::caps_convert::to_gst_caps;
use crate::driver::answers::expect_success;
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::packet_route::PacketRoute;
use crate::session::link::redirect_target;
use crate::session::transports::setup_with_fallback;
use crate::session::{Ended, Events, Link, Protocol, Role, SessionConfig, runner};
use crate::srtp::{RemoteKeys, mikey};

/// Everything the task needs to know, copied from the element's settings
/// when it starts.
#[derive(Debug, Clone)]
pub struct PlayConfig {
    pub session: SessionConfig,
    /// Silence after which data is given up on: UDP retried over TCP, a
    /// session whose data stopped ended (and reconnected).
    pub data_timeout: Duration,
    pub do_rtcp: bool,
    /// `nat-method=dummy`: open the UDP path before PLAY.
    pub nat_dummy: bool,
    /// `profiles`: GstRTSPProfile bits the user allows.
    pub profiles: u32,
    /// `pause-live`: send PAUSE for live streams too.
    pub pause_live: bool,
    /// `rate-header`: Scale or Speed for rates other than 1.0.
    pub rate_header: rtspclient_protocol::play_rate::RateHeader,
    /// `backchannel=onvif`: ask for the ONVIF audio backchannel.
    pub backchannel: bool,
    /// `onvif-mode`: an ONVIF replay client (see [`super::onvif`]).
    pub replay: Option<super::onvif::ReplayConfig>,
}

/// What the play task needs from the element.
pub trait PlayHost: Events {
    /// Create (or return the existing) output for stream `index`; the first
    /// caps are the stream's preferred payload, the others its alternatives;
    /// `bandwidth` sizes its RTCP. An SRTP stream comes with the server's
    /// key (`remote`) and gets our MIKEY (base64) for the SETUP `KeyMgmt`
    /// header.
    fn ensure_stream(
        &self,
        index: usize,
        payloads: Vec<gst::Caps>,
        remote: Option<RemoteKeys>,
        bandwidth: Bandwidth,
    ) -> Result<(Arc<StreamOutput>, Option<String>), String>;
    /// Post a warning.
    fn warning(&self, text: &str);
    /// Post an error: the task ends after this.
    fn error(&self, error: &ClientError);
    /// The server ended the presentation.
    fn end_of_stream(&self);
    /// A session is playing over `protocol` in RTSP `version` (counts
    /// restarts for `stats`).
    fn playing(&self, protocol: Protocol, version: Version);
    /// Whether the application wants stream `index` (`select-stream`).
    fn select_stream(&self, index: usize, caps: &gst::Caps) -> bool;
    /// What DESCRIBE said: on demand with this range, or live (`None`).
    fn presentation(&self, vod: Option<VodRange>);
    /// The server answered a PAUSE or PLAY the element asked for;
    /// `npt_start` is where a PLAY with a `Range` (a seek) starts.
    fn control_answered(&self, method: &str, status: u16, npt_start: Option<f64>);
    /// Flush the streams and hold their packets until the next PLAY with
    /// a `Range` is answered (a VOD set up again after a reconnection).
    fn reposition(&self);
    /// The ONVIF backchannels of a new description: SDP number and the
    /// caps of every payload the server receives on it.
    fn backchannels_described(&self, streams: Vec<(usize, Vec<gst::Caps>)>);
    /// SETUP of backchannel `index` gave this route (used from PLAY on).
    fn backchannel_route(&self, index: usize, route: PacketRoute);
    /// The session ended: the backchannels' routes are gone.
    fn backchannels_ended(&self);
}

/// Run until stopped, failed or ended. Posts errors and EOS through `host`.
pub async fn run(
    config: PlayConfig,
    host: Arc<dyn PlayHost>,
    commands: mpsc::Receiver<ParameterRequest>,
    target: watch::Receiver<Target>,
    mut stop: watch::Receiver<bool>,
) {
    let mut role = PlayRole {
        config,
        host: host.clone(),
        commands,
        described: None,
        target,
        applied_seek: 0,
        last_replay: None,
        refused_seek: (0, 0),
    };
    let session = role.config.session.clone();
    match runner::run_until_stopped(&mut role, session, host.clone(), &mut stop).await {
        Ok(Some(())) => host.end_of_stream(),
        Ok(None) => {}
        Err(err) => host.error(&err),
    }
}

struct PlayRole {
    config: PlayConfig,
    host: Arc<dyn PlayHost>,
    commands: mpsc::Receiver<ParameterRequest>,
    /// What the first session's SDP described, to tell after a reconnection
    /// whether the server still offers the same streams.
    described: Option<Vec<String>>,
    /// What the element wants: playing or paused, and its latest seek.
    target: watch::Receiver<Target>,
    /// Generation of the last seek sent to the server.
    applied_seek: u64,
    /// The last ONVIF replay request (`onvif-mode`), whose mode and range
    /// a reconnected session goes on with.
    last_replay: Option<rtspclient_protocol::onvif::ReplayRequest>,
    /// The seek generation whose PLAY the server refused, and how often.
    refused_seek: (u64, u32),
}

impl Role for PlayRole {
    type Done = ();

    async fn run_session(
        &mut self,
        link: &mut Link,
        protocols: &[Protocol],
    ) -> Result<Ended<()>, ClientError> {
        let host = self.host.clone();
        host.progress(gst::ProgressType::Continue, "open", "Retrieving media info");
        let request_url = link.request_url();
        let mut backchannel = self.config.backchannel;
        let describe =
            backchannel_session::describe(link, &request_url, &mut backchannel, &host).await?;
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
            .unwrap_or(request_url);
        let descriptions = streams_from_sdp(&sdp);
        if descriptions.is_empty() {
            return Err(ClientError::new(
                ErrorKind::NoUsableStream,
                "The server describes no stream this element can receive",
            ));
        }
        self.check_same_streams(link, &descriptions)?;
        link.set_aggregate(match sdp.control() {
            Some(control) => control_urls(&base, control).0,
            None => base.clone(),
        });

        let vod = vod_range(&sdp);
        host.presentation(vod);
        let (selected, backchannels) = self.select(&descriptions, backchannel)?;
        backchannel_session::announce(&host, &backchannels);
        for stream in &selected {
            stream.output.timeline.set_vod(vod.is_some());
            if self.config.replay.is_some() {
                stream.output.replay.activate();
                let mut caps = stream.output.caps();
                super::onvif::mark_caps(&mut caps);
                stream.output.update_caps(caps);
            }
        }
        host.progress(gst::ProgressType::Continue, "open", "Setting up streams");
        let require: Vec<&'static str> = [
            backchannel_session::require_header(backchannel),
            self.config
                .replay
                .map(|_| rtspclient_protocol::onvif::REPLAY_FEATURE),
        ]
        .into_iter()
        .flatten()
        .collect();
        let round = PlaySetup {
            selected: &selected,
            udp: &self.config.session.udp,
            nat_dummy: self.config.nat_dummy,
            require: &require,
        };
        let _backchannel_routes = backchannel_session::SessionGuard(&host);
        let (streams, protocol) = setup_with_fallback(&round, link, protocols, &base).await?;
        backchannel_session::setup(link, protocol, &base, &backchannels, &round, &host).await?;
        play(
            link,
            &self.config,
            &self.host,
            &mut self.commands,
            streams,
            protocol,
            Presentation {
                target: &self.target,
                applied_seek: &mut self.applied_seek,
                last_replay: &mut self.last_replay,
                refused_seek: &mut self.refused_seek,
                vod,
            },
        )
        .await
    }
}

impl PlayRole {
    /// The streams the application wants, each with its output (pad),
    /// and the backchannels it wants (`backchannel`: the server was asked
    /// for them).
    fn select<'a>(
        &self,
        descriptions: &'a [StreamDescription],
        backchannel: bool,
    ) -> Result<(Vec<SelectedStream<'a>>, Vec<SelectedBackchannel<'a>>), ClientError> {
        let mut selected = Vec::with_capacity(descriptions.len());
        let mut backchannels = Vec::new();
        let mut refused = Vec::new();
        for (index, description) in descriptions.iter().enumerate() {
            // Sent, not received: no output, no pad (ONVIF Streaming
            // Specification, back channel connection).
            if backchannel && backchannel::is_backchannel(description) {
                if select_caps(description).is_some_and(|c| self.host.select_stream(index, &c)) {
                    backchannels.push(SelectedBackchannel { index, description });
                }
                continue;
            }
            let profile = Profile {
                secure: description.secure,
                feedback: description.avpf,
            };
            if self.config.profiles & profile.flag() == 0 {
                gst::info!(
                    super::imp::CAT,
                    "Stream {index} is {}, which profiles does not allow",
                    profile.name()
                );
                refused.push(profile.name());
                continue;
            }
            let payloads: Vec<gst::Caps> = description.payloads.iter().map(to_gst_caps).collect();
            if !payloads
                .first()
                .is_some_and(|caps| self.host.select_stream(index, caps))
            {
                gst::info!(
                    super::imp::CAT,
                    "Stream {index} deselected by the application"
                );
                continue;
            }
            let remote = match description.secure {
                true => Some(server_keys(index, description)?),
                false => None,
            };
            let (output, key_mgmt) = self
                .host
                .ensure_stream(index, payloads, remote, description.bandwidth)
                .map_err(|err| ClientError::new(ErrorKind::Resource, err))?;
            selected.push(SelectedStream {
                index,
                description,
                output,
                key_mgmt,
            });
        }
        if selected.is_empty() && !refused.is_empty() {
            refused.dedup();
            return Err(ClientError::new(
                ErrorKind::NoUsableStream,
                format!(
                    "The server offers only {} streams, which the profiles property does not allow",
                    refused.join(", ")
                ),
            ));
        }
        if selected.is_empty() {
            return Err(ClientError::new(
                ErrorKind::NoUsableStream,
                "The application deselected every stream",
            ));
        }
        Ok((selected, backchannels))
    }

    /// After a reconnection the pads stay: the server must still describe
    /// the same streams (media and encoding, in order). Anything else would
    /// feed the existing depayloaders something they cannot take.
    fn check_same_streams(
        &mut self,
        link: &Link,
        descriptions: &[StreamDescription],
    ) -> Result<(), ClientError> {
        let now: Vec<String> = descriptions.iter().map(stream_summary).collect();
        match &self.described {
            Some(before) if link.recovering() && *before != now => Err(ClientError::new(
                ErrorKind::NoUsableStream,
                format!(
                    "After reconnecting, the server describes other streams ({}) than before ({}): not resuming on the existing pads",
                    now.join(", "),
                    before.join(", ")
                ),
            )),
            _ => {
                self.described = Some(now);
                Ok(())
            }
        }
    }
}

/// The server's SRTP key for a secure stream, from the MIKEY of its
/// `a=key-mgmt` (RFC 4567 §3.2): without a usable one nothing it sends
/// could be decrypted, which must fail loudly.
fn server_keys(index: usize, description: &StreamDescription) -> Result<RemoteKeys, ClientError> {
    let data = description.key_mgmt.as_deref().ok_or_else(|| {
        ClientError::new(
            ErrorKind::Decrypt,
            format!("Stream {index} is SRTP but its description has no MIKEY key-mgmt attribute"),
        )
    })?;
    mikey::keys(data).map_err(|err| {
        ClientError::new(
            ErrorKind::Decrypt,
            format!("Stream {index}: unusable MIKEY key-mgmt: {err}"),
        )
    })
}

/// "video H264/90000 RTP/SAVP": what must not change for a pad to go on.
fn stream_summary(description: &StreamDescription) -> String {
    let payload = description.payloads.first();
    let profile = Profile {
        secure: description.secure,
        feedback: description.avpf,
    };
    format!(
        "{} {}/{} {}",
        description.media,
        payload
            .and_then(|caps| caps.get_str("encoding-name"))
            .unwrap_or("?"),
        payload.and_then(|caps| caps.clock_rate()).unwrap_or(0),
        profile.name()
    )
}
