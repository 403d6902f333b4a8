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
    /// When the pending keep-alive went out.
    sent_at: Option<tokio::time::Instant>,
    /// How long an answer may take before the session counts as lost;
    /// `None`: never (a player notices a hung server by its data).
    answer_limit: Option<Duration>,
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
            sent_at: None,
            answer_limit: None,
        }
    }

    /// Count the session as lost when a keep-alive is not answered within
    /// `limit`: for a recording, whose server sends nothing else that
    /// could show it hung.
    pub fn require_answers(mut self, limit: Duration) -> KeepAlive {
        self.answer_limit = Some(limit);
        self
    }

    /// Resolves when the next keep-alive is due (never when disabled), or
    /// with an error when the last one was not answered in time.
    pub async fn due(&mut self) -> Result<(), ClientError> {
        if !self.enabled {
            return std::future::pending().await;
        }
        let overdue = match (self.answer_limit, self.sent_at, self.pending) {
            (Some(limit), Some(sent_at), Some((cseq, method))) => {
                Some((sent_at + limit, limit, cseq, method))
            }
            _ => None,
        };
        match overdue {
            Some((deadline, limit, cseq, method)) => tokio::select! {
                _ = self.interval.tick() => Ok(()),
                _ = tokio::time::sleep_until(deadline) => Err(ClientError::new(
                    ErrorKind::Timeout,
                    format!("The keep-alive was not answered within {limit:?}"),
                )
                .with_request(method, cseq)),
            },
            None => {
                self.interval.tick().await;
                Ok(())
            }
        }
    }

    /// Send the keep-alive for the presentation at `url`.
    pub async fn send(&mut self, client: &mut RtspClient, url: &str) {
        let method = if client.methods().public_lists("GET_PARAMETER") {
            "GET_PARAMETER"
        } else {
            "OPTIONS"
        };
        gst::debug!(super::CAT, "Keep-alive with {method}");
        match client.send_only(method, url, &Headers::new()).await {
            Ok(cseq) => {
                // An earlier one still unanswered keeps its time: the
                // server has not answered since then.
                if self.pending.is_none() {
                    self.sent_at = Some(tokio::time::Instant::now());
                }
                self.pending = Some((cseq, method));
            }
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
        self.sent_at = None;
        match response.status {
            // The server does not want this method: keep alive with OPTIONS.
            405 | 501 | 551 => client.methods_mut().mark_refused(method),
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
