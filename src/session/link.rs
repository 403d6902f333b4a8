//! One element's link to its server: the current URL (after redirects),
//! the RTSP connection, the presentation's aggregate URL, the tasks that
//! serve the session's UDP sockets, and whether the session is in an
//! outage being recovered from. Connecting always sends OPTIONS first
//! (servers list their methods there, and some cameras want it first).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rtspclient_protocol::message::{Headers, Response, Version};
use rtspclient_protocol::rtsp2::{PLAY_BASIC, falls_back_to_1_0};
use rtspclient_protocol::url::{RtspUrl, resolve_location};
use tokio::task::JoinHandle;

use super::SessionConfig;
use super::reconnect::Outage;
use crate::driver::client::RtspClient;
use crate::driver::error::{ClientError, ErrorKind};

/// How long writing the TEARDOWN of an abandoned session may take.
const ABANDON_WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// What the session reports to its element, from the I/O thread.
pub trait Events: Send + Sync + 'static {
    /// Post a progress message.
    fn progress(&self, kind: gst::ProgressType, code: &str, text: &str);
    /// The connection was lost (`reason`); attempt `attempt` to connect
    /// again follows in `delay`.
    fn reconnecting(&self, reason: &str, attempt: u32, delay: Duration);
    /// The session runs again after `attempts` attempts and `outage`.
    fn reconnected(&self, attempts: u32, outage: Duration);
}

pub struct Link {
    pub config: SessionConfig,
    url: RtspUrl,
    client: Option<RtspClient>,
    aggregate: Option<String>,
    tasks: Vec<JoinHandle<()>>,
    events: Arc<dyn Events>,
    redirects: u32,
    /// Whether a session reached PLAY or RECORD since the element started:
    /// only then is a lost connection worth reconnecting.
    pub(super) established_once: bool,
    pub(super) outage: Option<Outage>,
}

impl Link {
    pub fn new(config: SessionConfig, events: Arc<dyn Events>) -> Link {
        Link {
            url: config.url.clone(),
            config,
            client: None,
            aggregate: None,
            tasks: Vec::new(),
            events,
            redirects: 0,
            established_once: false,
            outage: None,
        }
    }

    pub fn events(&self) -> &Arc<dyn Events> {
        &self.events
    }

    /// The URL requests about the whole presentation go to before the
    /// aggregate one is known.
    pub fn request_url(&self) -> String {
        self.url.request_url().to_string()
    }

    pub fn is_open(&self) -> bool {
        self.client.is_some()
    }

    /// The connection. Only called between [`Link::open`] and the end of
    /// the session, where there always is one.
    pub fn client(&mut self) -> &mut RtspClient {
        self.client.as_mut().expect("connected")
    }

    pub fn client_if_open(&mut self) -> Option<&mut RtspClient> {
        self.client.as_mut()
    }

    /// Forget the connection without TEARDOWN (the server closed it while
    /// nothing was set up).
    pub fn drop_connection(&mut self) {
        self.client = None;
    }

    /// The presentation's URL for PLAY, RECORD, keep-alive and TEARDOWN.
    pub fn aggregate(&self) -> String {
        self.aggregate.clone().unwrap_or_else(|| self.request_url())
    }

    pub fn set_aggregate(&mut self, url: String) {
        self.aggregate = Some(url);
    }

    /// Whether the current session had a predecessor that was lost: the
    /// element must then check the server still describes the same
    /// streams.
    pub fn recovering(&self) -> bool {
        self.outage.is_some()
    }

    /// The URL the session runs on (after redirects).
    pub fn url(&self) -> &RtspUrl {
        &self.url
    }

    /// Connect and send OPTIONS. `Some(target)` when the server redirects.
    pub async fn open(&mut self) -> Result<Option<String>, ClientError> {
        self.events.progress(
            gst::ProgressType::Start,
            "connect",
            &format!("Connecting to {}", self.url.redacted()),
        );
        let credentials = self
            .url
            .credentials
            .clone()
            .or_else(|| self.config.credentials.clone());
        let client =
            RtspClient::connect(self.url.clone(), credentials, self.config.client.clone()).await?;
        self.events
            .progress(gst::ProgressType::Complete, "connect", "Connected");
        let client = self.client.insert(client);
        let request_url = self.url.request_url().to_string();
        let asked = client.version();
        let mut headers = Headers::new();
        if asked == Version::Rtsp20 {
            // RFC 7826 §11.1: a 2.0 player says it is one.
            headers.set("Supported", PLAY_BASIC);
        }
        let mut options = client
            .request("OPTIONS", &request_url, &headers, &[], &mut |_| {})
            .await?;
        if falls_back_to_1_0(asked, &options) {
            // RFC 7826 §17.5.6: 505, or a 1.0 server answering in 1.0.
            gst::info!(
                super::CAT,
                "The server does not speak RTSP/2.0 ({} {} {}): going on in RTSP/1.0",
                options.version,
                options.status,
                options.reason
            );
            client.fall_back_to_1_0();
            options = client
                .request("OPTIONS", &request_url, &Headers::new(), &[], &mut |_| {})
                .await?;
        }
        if let Some(target) = redirect_target(&options, &request_url) {
            return Ok(Some(target));
        }
        if options.is_success() {
            client
                .methods_mut()
                .set_public(options.headers.get_all("Public"));
        }
        Ok(None)
    }

    /// Move to `target` (a 3xx `Location` or a REDIRECT request), within
    /// `max-redirects`.
    pub fn follow_redirect(&mut self, target: &str) -> Result<(), ClientError> {
        self.redirects += 1;
        if self.redirects > self.config.max_redirects {
            return Err(ClientError::new(
                ErrorKind::Redirect,
                format!("More than {} redirects", self.config.max_redirects),
            ));
        }
        let url = crate::element_config::redirect_url(target, self.url.scheme.tunnels_over_http())?;
        if self.url.scheme.tls() && !url.scheme.tls() {
            // A user who asked for TLS never gets plaintext, whoever asks.
            return Err(ClientError::new(
                ErrorKind::Redirect,
                format!(
                    "Refusing the redirect from {} to {}: it would leave TLS",
                    self.url.redacted(),
                    url.redacted()
                ),
            ));
        }
        self.url = url;
        self.aggregate = None;
        self.events.progress(
            gst::ProgressType::Continue,
            "redirect",
            &format!("Redirected to {}", self.url.redacted()),
        );
        Ok(())
    }

    /// Run `task` (a UDP receiver) for as long as this session lasts.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    pub fn has_tasks(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Stop the session's tasks (a SETUP round that failed half way).
    pub fn abort_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// The session reached PLAY or RECORD: ends an outage, if any.
    pub fn established(&mut self) {
        self.established_once = true;
        if let Some(outage) = self.outage.take() {
            self.events
                .reconnected(outage.attempts, outage.since.elapsed());
        }
    }

    /// TEARDOWN and close, taking the connection: `Err` when the server
    /// did not answer. Unbounded but for the connection's own response
    /// timeout; for the end of a recording, where the answer matters.
    pub async fn teardown(&mut self) -> Result<(), ClientError> {
        self.abort_tasks();
        let url = self.aggregate();
        match self.client.take() {
            Some(mut client) => client
                .request("TEARDOWN", &url, &Headers::new(), &[], &mut |_| {})
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// After a loss: stop the tasks and drop the connection. A server that
    /// still reads gets a TEARDOWN, but its answer is not waited for: a
    /// stalled one would hold the recovery for the teardown timeout.
    pub async fn abandon(&mut self) {
        self.abort_tasks();
        if let Some(mut client) = self.client.take()
            && client.session().is_some()
        {
            let url = self.aggregate.clone().unwrap_or_else(|| self.request_url());
            let _ = tokio::time::timeout(
                ABANDON_WRITE_TIMEOUT,
                client.send_only("TEARDOWN", &url, &Headers::new()),
            )
            .await;
        }
    }

    /// Stop the session's tasks and, if a session exists, send TEARDOWN
    /// bounded by the configured teardown timeout; the connection is closed after.
    pub async fn close(&mut self) {
        self.abort_tasks();
        if let Some(mut client) = self.client.take()
            && client.session().is_some()
        {
            let url = self.aggregate.clone().unwrap_or_else(|| self.request_url());
            // 454 or 500 answers mean the session is gone already
            // (docs/QUIRKS.md, "TEARDOWN answers"); nothing to do either way.
            let _ = tokio::time::timeout(
                self.config.teardown_timeout,
                client.request("TEARDOWN", &url, &Headers::new(), &[], &mut |_| {}),
            )
            .await;
        }
    }
}

/// The target of a 3xx answer, resolved against the URL asked.
pub fn redirect_target(response: &Response, current: &str) -> Option<String> {
    if !(300..400).contains(&response.status) {
        return None;
    }
    response
        .headers
        .get("Location")
        .and_then(|location| resolve_location(current, location))
}
