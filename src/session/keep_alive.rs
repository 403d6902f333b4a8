//! Keep-alive of a playing or recording session: GET_PARAMETER if the
//! server lists it in `Public:`, else OPTIONS, at half the session
//! timeout; a method the server refuses (405, 501, 551) is not used again.
//! The request is sent without waiting; its answer comes back through the
//! element's loop ([`KeepAlive::on_answer`]). A server that no longer
//! knows the session (454) ends it, so that it can be reconnected.

use std::time::Duration;

use rtspclient_protocol::message::{Headers, Response};

use crate::driver::client::RtspClient;
use crate::driver::error::{ClientError, ErrorKind};

/// Session timeout assumed when the server names none (RFC 2326 12.37).
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(60);

pub struct KeepAlive {
    enabled: bool,
    interval: tokio::time::Interval,
    pending: Option<(u32, &'static str)>,
}

impl KeepAlive {
    pub fn new(client: &RtspClient, enabled: bool) -> KeepAlive {
        let every = client
            .session()
            .map(|s| Duration::from_secs(s.timeout_or_default()))
            .unwrap_or(DEFAULT_SESSION_TIMEOUT)
            / 2;
        let every = every.max(Duration::from_secs(1));
        gst::debug!(
            super::CAT,
            "Session {:?}, keep-alive every {every:?}",
            client.session()
        );
        KeepAlive {
            enabled,
            interval: tokio::time::interval_at(tokio::time::Instant::now() + every, every),
            pending: None,
        }
    }

    /// Resolves when the next keep-alive is due; never when disabled.
    pub async fn due(&mut self) {
        if self.enabled {
            self.interval.tick().await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// Send the keep-alive for the presentation at `url`.
    pub async fn send(&mut self, client: &mut RtspClient, url: &str) {
        let method = if client.public_lists("GET_PARAMETER") {
            "GET_PARAMETER"
        } else {
            "OPTIONS"
        };
        gst::debug!(super::CAT, "Keep-alive with {method}");
        match client.send_only(method, url, &Headers::new()).await {
            Ok(cseq) => self.pending = Some((cseq, method)),
            Err(err) => gst::warning!(super::CAT, "Keep-alive failed: {err}"),
        }
    }

    /// Look at an answer to a request sent without waiting: `Ok(true)` if
    /// it was the keep-alive's, `Err` when it says the session is gone.
    pub fn on_answer(
        &mut self,
        client: &mut RtspClient,
        id: u32,
        response: &Response,
    ) -> Result<bool, ClientError> {
        let Some((cseq, method)) = self.pending else {
            return Ok(false);
        };
        if id != cseq {
            return Ok(false);
        }
        self.pending = None;
        match response.status {
            // The server does not want this method: keep alive with OPTIONS.
            405 | 501 | 551 => client.mark_refused(method),
            454 => {
                return Err(ClientError::new(
                    ErrorKind::Status {
                        code: 454,
                        reason: response.reason.clone(),
                    },
                    "The server no longer knows the session",
                )
                .with_request(method, cseq));
            }
            401 => gst::warning!(
                super::CAT,
                "Keep-alive refused: {} {}",
                response.status,
                response.reason
            ),
            _ => {}
        }
        Ok(true)
    }
}
