//! The RTSP play task of one `rtspsrc2` instance: the shared session
//! runner ([`crate::session`]) with this element's part, DESCRIBE, the
//! choice of streams, SETUP and PLAY ([`super::playing`]). It runs on the
//! shared runtime and talks to the element only through [`PlayHost`], so
//! a slow server never blocks a state change.

use std::sync::Arc;
use std::time::Duration;

use rtspclient_protocol::caps::{Bandwidth, StreamDescription, streams_from_sdp};
use rtspclient_protocol::message::Headers;
use rtspclient_protocol::sdp::SessionDescription;
use rtspclient_protocol::url::control_urls;
use tokio::sync::{mpsc, watch};

pub use super::parameters::ParameterRequest;
use super::playing::play;
use super::setup::{PlaySetup, SelectedStream};
use super::streams::StreamOutput;
use crate::caps_convert::to_gst_caps;
use crate::driver::answers::expect_success;
use crate::driver::error::{ClientError, ErrorKind};
use crate::session::link::redirect_target;
use crate::session::transports::setup_with_fallback;
use crate::session::{Ended, Events, Link, Protocol, Role, SessionConfig, runner};

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
}

/// What the play task needs from the element.
pub trait PlayHost: Events {
    /// Create (or return the existing) output for stream `index`; the first
    /// caps are the stream's preferred payload, the others its alternatives;
    /// `bandwidth` sizes its RTCP.
    fn ensure_stream(
        &self,
        index: usize,
        payloads: Vec<gst::Caps>,
        bandwidth: Bandwidth,
    ) -> Result<Arc<StreamOutput>, String>;
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

/// Run until stopped, failed or ended. Posts errors and EOS through `host`.
pub async fn run(
    config: PlayConfig,
    host: Arc<dyn PlayHost>,
    commands: mpsc::Receiver<ParameterRequest>,
    mut stop: watch::Receiver<bool>,
) {
    let mut role = PlayRole {
        config,
        host: host.clone(),
        commands,
        described: None,
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
        let mut accept = Headers::new();
        accept.set("Accept", "application/sdp");
        let describe = link
            .client()
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

        let selected = self.select(&descriptions)?;
        host.progress(gst::ProgressType::Continue, "open", "Setting up streams");
        let round = PlaySetup {
            selected: &selected,
            udp: &self.config.session.udp,
            nat_dummy: self.config.nat_dummy,
        };
        let (streams, protocol) = setup_with_fallback(&round, link, protocols, &base).await?;
        play(
            link,
            &self.config,
            &self.host,
            &mut self.commands,
            streams,
            protocol,
        )
        .await
    }
}

impl PlayRole {
    /// The streams the application wants, each with its output (pad).
    fn select<'a>(
        &self,
        descriptions: &'a [StreamDescription],
    ) -> Result<Vec<SelectedStream<'a>>, ClientError> {
        let mut selected = Vec::with_capacity(descriptions.len());
        for (index, description) in descriptions.iter().enumerate() {
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
            let output = self
                .host
                .ensure_stream(index, payloads, description.bandwidth)
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
        Ok(selected)
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

/// "video H264/90000": what must not change for a pad to go on.
fn stream_summary(description: &StreamDescription) -> String {
    let payload = description.payloads.first();
    format!(
        "{} {}/{}",
        description.media,
        payload
            .and_then(|caps| caps.get_str("encoding-name"))
            .unwrap_or("?"),
        payload.and_then(|caps| caps.clock_rate()).unwrap_or(0)
    )
}
