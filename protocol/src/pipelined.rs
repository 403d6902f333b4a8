//! RTSP 2.0 pipelined requests (RFC 7826 §13.3, §18.33): SETUPs sent
//! back-to-back before any answer, bound to one session by a
//! client-chosen `Pipelined-Requests` id instead of the `Session` id that
//! only the first answer brings; and what their answers say about the
//! session(s) the server made of them.
//!
//! Support of the header is optional for a 2.0 server, and no feature
//! tag announces it: a server that ignores it makes a new session of each
//! SETUP (gst-rtsp-server 1.22, the one the tests run, honours it). So
//! the answers are judged, not trusted: the session of the first
//! successful answer that names one is the session; any other session an
//! answer names is a stray one to tear down, and a stream set up in one
//! is set up again in the session.

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

/// The verdict on one pipelined round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// Which answer names the round's session: the first 2xx with a
    /// `Session` header. Adoption and the verdicts follow this one rule,
    /// so a session-less 2xx before it cannot leave a later session
    /// unjudged.
    pub session: Option<usize>,
    /// One verdict per answer, in the order sent.
    pub answers: Vec<PipelinedAnswer>,
    /// Every other session the answers name (once each, in order): those
    /// of 2xx answers in another session, and those of refusals (a
    /// refused SETUP may still have made one), all to be torn down.
    pub strays: Vec<String>,
}

/// Judge the answers of one pipelined round, in the order sent: each is
/// `(status, Session id)`.
pub fn judge_pipelined(answers: &[(u16, Option<&str>)]) -> Judged {
    let success = |status: u16| (200..300).contains(&status);
    let session = answers
        .iter()
        .position(|(status, id)| success(*status) && id.is_some());
    let round = session.and_then(|nth| answers[nth].1);
    let mut strays: Vec<String> = Vec::new();
    for id in answers.iter().filter_map(|(_, id)| *id) {
        if Some(id) != round && !strays.iter().any(|s| s == id) {
            strays.push(id.to_owned());
        }
    }
    let verdicts = answers
        .iter()
        .map(|(status, id)| match (success(*status), id) {
            (false, _) => PipelinedAnswer::Refused,
            (true, Some(id)) if Some(*id) != round => PipelinedAnswer::Stray((*id).to_owned()),
            (true, _) => PipelinedAnswer::InSession,
        })
        .collect();
    Judged {
        session,
        answers: verdicts,
        strays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PipelinedAnswer::*;

    fn verdicts(answers: &[(u16, Option<&str>)]) -> Vec<PipelinedAnswer> {
        judge_pipelined(answers).answers
    }

    #[test]
    fn one_session_for_all() {
        let got = judge_pipelined(&[(200, Some("a")), (200, Some("a")), (200, Some("a"))]);
        assert_eq!(got.answers, vec![InSession, InSession, InSession]);
        assert_eq!(got.session, Some(0));
        assert!(got.strays.is_empty());
    }

    #[test]
    fn a_server_ignoring_the_header_makes_strays() {
        let got = judge_pipelined(&[(200, Some("a")), (200, Some("b")), (200, Some("c"))]);
        assert_eq!(
            got.answers,
            vec![InSession, Stray("b".into()), Stray("c".into())]
        );
        assert_eq!(got.strays, ["b", "c"]);
    }

    /// The session is the first 2xx that names one, for adoption and
    /// verdicts alike: a session-less 2xx first must not make every later
    /// session "the round's" (c was kept unjudged and leaked).
    #[test]
    fn a_sessionless_success_first_does_not_hide_strays() {
        let got = judge_pipelined(&[(200, None), (200, Some("b")), (200, Some("c"))]);
        assert_eq!(got.session, Some(1));
        assert_eq!(got.answers, vec![InSession, InSession, Stray("c".into())]);
        assert_eq!(got.strays, ["c"]);
    }

    /// A refusal that names a session other than the round's leaves one
    /// on the server: torn down, and its stream sent again.
    #[test]
    fn a_refusal_naming_a_session_is_a_stray() {
        let got = judge_pipelined(&[(200, Some("a")), (454, Some("b"))]);
        assert_eq!(got.answers, vec![InSession, Refused]);
        assert_eq!(got.strays, ["b"]);
        let got = judge_pipelined(&[(461, Some("a")), (461, Some("a"))]);
        assert_eq!(got.session, None);
        assert_eq!(got.strays, ["a"]);
        let got = judge_pipelined(&[(200, Some("a")), (454, Some("a"))]);
        assert!(got.strays.is_empty());
    }

    #[test]
    fn refusals_and_the_session_of_the_first_success() {
        // gst-rtsp-server 1.22: a first SETUP refused (461) leaves the id
        // bound to a session it removed, and the next ones get 454.
        assert_eq!(
            verdicts(&[(461, None), (454, None)]),
            vec![Refused, Refused]
        );
        // A 401 to all (credentials not accepted yet).
        assert_eq!(
            verdicts(&[(401, None), (401, None)]),
            vec![Refused, Refused]
        );
        assert_eq!(
            verdicts(&[(404, None), (200, Some("b")), (200, Some("b"))]),
            vec![Refused, InSession, InSession]
        );
        // No Session header at all: taken as a sequential SETUP would be.
        assert_eq!(
            verdicts(&[(200, None), (200, Some("b"))]),
            vec![InSession, InSession]
        );
        assert_eq!(
            verdicts(&[(200, Some("a")), (200, None)]),
            vec![InSession, InSession]
        );
    }
}
