//! RTSP 2.0 pipelined requests (RFC 7826 §13.3, §18.33): SETUPs sent
//! back-to-back before any answer, bound to one session by a
//! client-chosen `Pipelined-Requests` id instead of the `Session` id that
//! only the first answer brings; and what their answers say about the
//! session(s) the server made of them.
//!
//! Support of the header is optional for a 2.0 server, and no feature
//! tag announces it: a server that ignores it makes a new session of each
//! SETUP (gst-rtsp-server does honour it since 1.14). So the answers are
//! judged, not trusted: the session of the first successful answer is the
//! session; a successful answer in another session is a stray one to tear
//! down, and its stream is set up again in the session.

/// The header name (RFC 7826 §18.33).
pub const PIPELINED_REQUESTS: &str = "Pipelined-Requests";

/// What one answer of a pipelined round means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelinedAnswer {
    /// A 2xx in the round's session (or without a `Session` header, as a
    /// sequential SETUP would be taken): the stream is set up.
    InSession,
    /// A 2xx in another session: the server did not bind the request to
    /// the first one. That session is to be torn down and the stream set
    /// up again in the round's session.
    Stray(String),
    /// Any other status: the stream is set up again without pipelining
    /// (which also answers a 401, a redirect or a 461 as it always did).
    Refused,
}

/// Judge the answers of one pipelined round, in the order sent: each is
/// `(status, Session id)`. The round's session is that of the first 2xx
/// answer.
pub fn judge_pipelined(answers: &[(u16, Option<&str>)]) -> Vec<PipelinedAnswer> {
    let success = |status: u16| (200..300).contains(&status);
    let session = answers
        .iter()
        .find(|(status, _)| success(*status))
        .and_then(|(_, id)| *id);
    answers
        .iter()
        .map(|(status, id)| match (success(*status), id) {
            (false, _) => PipelinedAnswer::Refused,
            (true, Some(id)) if session.is_some_and(|s| s != *id) => {
                PipelinedAnswer::Stray((*id).to_owned())
            }
            (true, _) => PipelinedAnswer::InSession,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use PipelinedAnswer::*;

    #[test]
    fn one_session_for_all() {
        let got = judge_pipelined(&[(200, Some("a")), (200, Some("a")), (200, Some("a"))]);
        assert_eq!(got, vec![InSession, InSession, InSession]);
    }

    #[test]
    fn a_server_ignoring_the_header_makes_strays() {
        let got = judge_pipelined(&[(200, Some("a")), (200, Some("b")), (200, Some("c"))]);
        assert_eq!(got, vec![InSession, Stray("b".into()), Stray("c".into())]);
    }

    #[test]
    fn refusals_and_the_session_of_the_first_success() {
        // gst-rtsp-server 1.22: a first SETUP refused (461) leaves the id
        // bound to a session it removed, and the next ones get 454.
        assert_eq!(
            judge_pipelined(&[(461, None), (454, None)]),
            vec![Refused, Refused]
        );
        // A 401 to all (credentials not accepted yet).
        assert_eq!(
            judge_pipelined(&[(401, None), (401, None)]),
            vec![Refused, Refused]
        );
        assert_eq!(
            judge_pipelined(&[(404, None), (200, Some("b")), (200, Some("b"))]),
            vec![Refused, InSession, InSession]
        );
        // No Session header at all: taken as a sequential SETUP would be.
        assert_eq!(
            judge_pipelined(&[(200, None), (200, Some("b"))]),
            vec![InSession, InSession]
        );
        assert_eq!(
            judge_pipelined(&[(200, Some("a")), (200, None)]),
            vec![InSession, InSession]
        );
    }
}
