//! Judging what the server answered: a 2xx or an error that carries the
//! status, a SETUP `Transport` the client can use, a refused
//! authentication, and responses whose CSeq cannot be the awaited answer.

use std::collections::VecDeque;

use rtspclient_protocol::auth_flow::AuthFailure;
use rtspclient_protocol::headers::SessionHeader;
use rtspclient_protocol::message::Response;
use rtspclient_protocol::transport::{Transport, check_answer};

use super::error::{ClientError, ErrorKind};
use super::in_flight::InFlightRequests;

/// How many answered CSeqs are remembered to recognise a duplicated
/// answer; older duplicates are ignored like any stray response.
const ANSWERED_CSEQS: usize = 16;

/// The CSeqs of the latest answers taken, and of the latest requests
/// given up on (at most [`ANSWERED_CSEQS`] each).
#[derive(Debug)]
pub struct AnsweredCseqs {
    recent: VecDeque<u32>,
    /// Requests whose answer is no longer awaited (it timed out, or an
    /// earlier pipelined answer failed): should it still come, it must
    /// not be taken for a later request's, nor its `Session` adopted (a
    /// stray session's TEARDOWN answered late named the dead session).
    abandoned: VecDeque<u32>,
}

impl Default for AnsweredCseqs {
    fn default() -> Self {
        AnsweredCseqs {
            recent: VecDeque::with_capacity(ANSWERED_CSEQS),
            abandoned: VecDeque::with_capacity(ANSWERED_CSEQS),
        }
    }
}

impl AnsweredCseqs {
    /// A response whose CSeq is not the awaited one's cannot be the answer,
    /// and waiting on would only end at the response timeout if it is
    /// what the server sent instead: a CSeq above the last one sent
    /// answers a request never sent, a CSeq answered already is a
    /// duplicate. Anything else (a late keep-alive answer) is let through.
    pub fn check_stray_cseq(
        &self,
        got: u32,
        awaited: u32,
        in_flight: &InFlightRequests,
    ) -> Result<(), ClientError> {
        if got > awaited {
            return Err(ClientError::new(
                ErrorKind::Protocol,
                format!("The server answered a request never sent (CSeq {got})"),
            ));
        }
        if self.recent.contains(&got) && !in_flight.contains(got) {
            return Err(ClientError::new(
                ErrorKind::Protocol,
                format!("The server answered CSeq {got} a second time"),
            ));
        }
        Ok(())
    }

    /// An answer to `cseq` was taken.
    pub fn note(&mut self, cseq: u32) {
        push_bounded(&mut self.recent, cseq);
    }

    /// The answer to `cseq` is no longer awaited.
    pub fn abandon(&mut self, cseq: u32) {
        push_bounded(&mut self.abandoned, cseq);
    }

    /// Whether `cseq` is that of a request given up on.
    pub fn is_abandoned(&self, cseq: u32) -> bool {
        self.abandoned.contains(&cseq)
    }
}

fn push_bounded(cseqs: &mut VecDeque<u32>, cseq: u32) {
    if cseqs.len() >= ANSWERED_CSEQS {
        cseqs.pop_front();
    }
    cseqs.push_back(cseq);
}

/// The `Session` an answer names, if this client can parse it.
pub fn session_of(response: &Response) -> Option<SessionHeader> {
    response
        .headers
        .get("Session")
        .and_then(SessionHeader::parse)
}

/// The error for a request refused with 401 that cannot be retried; the
/// text never contains the credentials.
pub fn not_authorized(response: &Response, failure: AuthFailure) -> ClientError {
    ClientError::new(
        ErrorKind::NotAuthorized {
            code: response.status,
            reason: response.reason.clone(),
        },
        failure.describe(),
    )
}

/// `Ok` for a 2xx answer, else an error carrying the status, reason,
/// method and CSeq.
pub fn expect_success(response: &Response, method: &str) -> Result<(), ClientError> {
    if response.is_success() {
        return Ok(());
    }
    let error = ClientError::new(
        ErrorKind::Status {
            code: response.status,
            reason: response.reason.clone(),
        },
        format!("{method} failed"),
    );
    Err(match response.headers.cseq() {
        Some(cseq) => error.with_request(method, cseq),
        None => error,
    })
}

/// `Ok` if the `Transport` of a SETUP answer can carry what `request`
/// asked for ([`check_answer`]); else a protocol error naming SETUP and
/// its CSeq, posted at once instead of waiting for data on channels or
/// ports that cannot exist.
pub fn check_setup_transport(
    response: &Response,
    answer: &Transport,
    request: &Transport,
) -> Result<(), ClientError> {
    check_answer(answer, request).map_err(|err| {
        let error = ClientError::new(ErrorKind::Protocol, format!("SETUP answer refused: {err}"));
        match response.headers.cseq() {
            Some(cseq) => error.with_request("SETUP", cseq),
            None => error,
        }
    })
}
