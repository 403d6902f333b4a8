//! "Send now, read the answer later": requests sent back-to-back before
//! any answer (RTSP 2.0 pipelining, RFC 7826 §18.33), whose answers are
//! then read one by one, each matched by its CSeq and bounded by the
//! response timeout like [`RtspClient::request`]. The server may answer
//! them in any order: one that comes before the awaited one is kept.
//!
//! Unlike [`RtspClient::request`], nothing is decided for the caller: a
//! 401 is returned (its challenge is adopted, so that a retry goes out
//! with it), and the `Session` of an answer is not taken (a server that
//! ignores `Pipelined-Requests` answers in sessions of its own; the
//! caller adopts the one it keeps with [`RtspClient::adopt_session`]).

use rtspclient_protocol::auth_flow::AuthAttempt;
use rtspclient_protocol::message::{Headers, Response};

use super::RtspClient;
use crate::driver::error::ClientError;

/// A request sent with [`RtspClient::send_now`], whose answer is still to
/// be read with [`RtspClient::answer_to`] or given up with
/// [`RtspClient::abandon`].
#[must_use = "its answer is to be read or abandoned"]
pub struct SentRequest {
    method: String,
    cseq: u32,
    attempt: AuthAttempt,
}

impl SentRequest {
    pub fn cseq(&self) -> u32 {
        self.cseq
    }
}

/// The CSeqs of requests sent with [`RtspClient::send_now`] and not
/// answered yet, and answers that came before the one awaited.
#[derive(Default)]
pub(super) struct SentAhead {
    pending: Vec<u32>,
    early: Vec<Response>,
}

impl SentAhead {
    /// Whether `cseq` is that of a pipelined request still unanswered.
    pub(super) fn is_pending(&self, cseq: u32) -> bool {
        self.pending.contains(&cseq)
    }

    /// An answer to a pending request that came before the one awaited.
    pub(super) fn keep(&mut self, response: Response) {
        self.early.push(response);
    }

    /// The request `cseq` is answered or given up: its kept answer, if any.
    fn take(&mut self, cseq: u32) -> Option<Response> {
        self.pending.retain(|c| *c != cseq);
        let at = self
            .early
            .iter()
            .position(|r| r.headers.cseq() == Some(cseq))?;
        Some(self.early.remove(at))
    }
}

impl RtspClient {
    /// Send a request without waiting for its answer: with the
    /// credentials of the latest challenge, and the connection's session
    /// unless `headers` name one.
    pub async fn send_now(
        &mut self,
        method: &str,
        uri: &str,
        headers: &Headers,
    ) -> Result<SentRequest, ClientError> {
        let mut attempt = AuthAttempt::default();
        let request = self.build_request(method, uri, headers, &[], &mut attempt);
        self.send_request(&request).await?;
        self.ahead.pending.push(self.cseq);
        Ok(SentRequest {
            method: method.to_string(),
            cseq: self.cseq,
            attempt,
        })
    }

    /// The answer to `sent`, whichever order the server answers the
    /// requests sent ahead in. Interleaved data meanwhile is dropped:
    /// nothing plays before the SETUPs are answered.
    pub async fn answer_to(&mut self, mut sent: SentRequest) -> Result<Response, ClientError> {
        let response = match self.ahead.take(sent.cseq) {
            Some(early) => {
                self.answered.note(sent.cseq);
                early
            }
            None => {
                self.wait_response(&sent.method, sent.cseq, &mut |_| {})
                    .await?
            }
        };
        let challenges = response.headers.get_all("WWW-Authenticate");
        // A 401 adopts its challenge (the step is the caller's to take);
        // a success confirms the credentials sent.
        let _ = self
            .auth
            .on_response(response.status, challenges, &mut sent.attempt);
        self.check_version(&response, &sent.method, sent.cseq)?;
        Ok(response)
    }

    /// Give up on the answer to `sent` (an earlier answer failed): should
    /// it still come, it is dropped.
    pub fn abandon(&mut self, sent: SentRequest) {
        let _ = self.ahead.take(sent.cseq);
        self.answered.abandon(sent.cseq);
    }

    /// Take the `Session` of `response` as the connection's session.
    pub fn adopt_session(&mut self, response: &Response) {
        self.note_session(response);
    }
}
