//! "Send now, read the answer later": requests sent back-to-back before
//! any answer (RTSP 2.0 pipelining, RFC 7826 §18.33), whose answers are
//! then read in the order sent, each matched by its CSeq and bounded by
//! the response timeout like [`RtspClient::request`].
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
/// be read with [`RtspClient::answer_to`].
#[must_use = "its answer is to be read"]
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
        Ok(SentRequest {
            method: method.to_string(),
            cseq: self.cseq,
            attempt,
        })
    }

    /// The answer to `sent`; answers are expected in the order the
    /// requests went (a later one first is a protocol error, see
    /// [`crate::driver::answers::AnsweredCseqs::check_stray_cseq`]). Interleaved data
    /// meanwhile is dropped: nothing plays before the SETUPs are answered.
    pub async fn answer_to(&mut self, mut sent: SentRequest) -> Result<Response, ClientError> {
        let response = self
            .wait_response(&sent.method, sent.cseq, &mut |_| {})
            .await?;
        let challenges = response.headers.get_all("WWW-Authenticate");
        // A 401 adopts its challenge (the step is the caller's to take);
        // a success confirms the credentials sent.
        let _ = self
            .auth
            .on_response(response.status, challenges, &mut sent.attempt);
        self.check_version(&response, &sent.method, sent.cseq)?;
        Ok(response)
    }

    /// Take the `Session` of `response` as the connection's session.
    pub fn adopt_session(&mut self, response: &Response) {
        self.note_session(response);
    }
}
