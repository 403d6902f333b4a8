//! The SETUPs of an RTSP 2.0 session sent back-to-back (RFC 7826 §13.3,
//! §18.33): every request carries the same client-chosen
//! `Pipelined-Requests` id, which binds the requests after the first to
//! the session the first one creates, so that they need not wait for its
//! `Session` id. One round trip for all streams instead of one each.
//!
//! Why it is safe to try without knowing the server supports it: the
//! header is optional for a 2.0 server and nothing announces it (no
//! feature tag, no `Public` entry), so the answers are checked instead
//! ([`judge_pipelined`]). The session of the first successful answer
//! that names one is the session. A server that ignored the header
//! answers the later SETUPs in sessions of their own: those (and any a
//! refusal names) are torn down at once (no session is left to time out
//! on the server) and their streams set up again in the session, one
//! after the other. Answers may come in any order; each is matched by
//! its CSeq. Any refused SETUP (401,
//! 3xx, 454, 461...) is likewise sent again the sequential way, which
//! answers it as it always did: credentials after a 401, the other
//! control join, or the error that makes [`super::transports`] try the
//! next lower transport. A refusal costs one more round trip; the common
//! case saves one per stream after the first.
//!
//! PLAY is not pipelined with them: what it asks for depends on the
//! answers (the session they ended in, whether the round moves to
//! another transport after a 461, the backchannel's own SETUP), and a
//! PLAY accepted while a SETUP was refused would start the media of a
//! half set-up session that the fallback then has to undo.

use rtspclient_protocol::message::{Headers, Response, Version};
use rtspclient_protocol::pipelined::{PIPELINED_REQUESTS, PipelinedAnswer, judge_pipelined};
use rtspclient_protocol::url::control_urls;

use super::link::Link;
use super::transports::SetupRound;
use super::{CAT, Protocol};
use crate::driver::answers::session_of;
use crate::driver::client::SentRequest;
use crate::driver::error::ClientError;

/// Whether the SETUPs of `round` are to be pipelined: if the element
/// opts in ([`SetupRound::pipelined`]), in RTSP 2.0 only (1.0 has no
/// such header, RFC 2326), with more than one stream (one SETUP has
/// nothing to wait for), and before the connection has a session (then
/// its `Session` id binds the requests already).
pub(super) fn worth_pipelining<R: SetupRound>(round: &R, link: &mut Link) -> bool {
    let client = link.client();
    round.pipelined()
        && round.streams() > 1
        && client.version() == Version::Rtsp20
        && client.session().is_none()
}

/// SETUP every stream of `round` over `protocol`, pipelined.
pub(super) async fn setup_all_pipelined<R: SetupRound>(
    round: &R,
    link: &mut Link,
    protocol: Protocol,
    base: &str,
) -> Result<Vec<R::SetUp>, ClientError> {
    // All requests are built (their UDP ports bound) before the first
    // goes: a failure there leaves no answer pending on the wire.
    let prepared = (0..round.streams())
        .map(|nth| round.prepare(link, protocol, base, nth))
        .collect::<Result<Vec<_>, _>>()?;
    let id = pipeline_id();
    let mut sent = Vec::with_capacity(prepared.len());
    for setup in &prepared {
        let url = control_urls(base, &setup.control).0;
        let mut headers = setup.headers.clone();
        headers.set(PIPELINED_REQUESTS, id.to_string());
        match link.client().send_now("SETUP", &url, &headers).await {
            Ok(request) => sent.push((url, request)),
            Err(err) => {
                // Nothing is read after a failed send: the answers of
                // the ones sent are dropped should they come.
                for (_, request) in sent {
                    link.client().abandon(request);
                }
                return Err(err);
            }
        }
    }
    gst::debug!(CAT, "{} SETUPs pipelined (id {id})", sent.len());
    let (answers, failure) = read_answers(link, sent).await;
    let statuses: Vec<(u16, Option<String>)> = answers
        .iter()
        .map(|(_, r)| (r.status, session_of(r).map(|s| s.id)))
        .collect();
    let statuses: Vec<(u16, Option<&str>)> = statuses
        .iter()
        .map(|(status, id)| (*status, id.as_deref()))
        .collect();
    let judged = judge_pipelined(&statuses);
    // The round's session is taken before anything else goes, and every
    // other one the answers named is torn down, even when reading an
    // answer failed: the link's TEARDOWN then ends the round's session,
    // and no stray one is left to time out on the server.
    if let Some(nth) = judged.session {
        link.client().adopt_session(&answers[nth].1);
    }
    tear_down_strays(link, &judged.strays).await;
    if let Some(err) = failure {
        return Err(err);
    }

    let mut set_up = Vec::with_capacity(answers.len());
    let rounds = prepared.into_iter().zip(answers).zip(judged.answers);
    for (nth, ((setup, (url, response)), verdict)) in rounds.enumerate() {
        let stream = match verdict {
            PipelinedAnswer::InSession => {
                round.complete(link, nth, setup.pending, url, &response)?
            }
            _ => {
                gst::info!(
                    CAT,
                    "Pipelined SETUP of stream {nth} answered {} {} ({verdict:?}): sent again \
                     without pipelining",
                    response.status,
                    response.reason
                );
                // Its UDP ports are closed before new ones are bound.
                drop(setup);
                round.setup_one(link, protocol, base, nth).await?
            }
        };
        set_up.push(stream);
    }
    Ok(set_up)
}

/// The answers to `sent`, in the order sent, up to the first that could
/// not be read (returned with them); the requests after it are given up.
async fn read_answers(
    link: &mut Link,
    sent: Vec<(String, SentRequest)>,
) -> (Vec<(String, Response)>, Option<ClientError>) {
    let mut answers = Vec::with_capacity(sent.len());
    let mut failure = None;
    for (url, request) in sent {
        let client = link.client();
        if failure.is_some() {
            client.abandon(request);
            continue;
        }
        match client.answer_to(request).await {
            Ok(response) => answers.push((url, response)),
            Err(err) => failure = Some(err),
        }
    }
    (answers, failure)
}

/// TEARDOWN of each session other than the round's that the answers
/// named (a server that ignored `Pipelined-Requests`, or a refusal that
/// still made one). Its answer is awaited (bounded by the response
/// timeout); one that times out is given up, so that arriving late it is
/// neither taken for the next request's answer nor its `Session`
/// adopted. A failure is only logged: the session then times out on the
/// server.
async fn tear_down_strays(link: &mut Link, strays: &[String]) {
    let url = link.aggregate();
    for id in strays {
        gst::info!(
            CAT,
            "A pipelined SETUP was answered in session {id}, not the round's: tearing it down"
        );
        let mut headers = Headers::new();
        headers.set("Session", id.clone());
        let client = link.client();
        let answer = match client.send_now("TEARDOWN", &url, &headers).await {
            Ok(sent) => client.answer_to(sent).await.map(|_| ()),
            Err(err) => Err(err),
        };
        if let Err(err) = answer {
            gst::warning!(CAT, "TEARDOWN of stray session {id} failed: {err}");
        }
    }
}
/// A fresh id for one pipelined round (RFC 7826 §18.33: a 32-bit value
/// the client chooses). Random, so that it cannot match an id the server
/// still binds to an earlier session (gst-rtsp-server 1.22 keeps the id
/// of a refused first SETUP bound to the session it removed).
fn pipeline_id() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Unique enough within one connection: the clock's nanoseconds.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        return nanos;
    }
    u32::from_be_bytes(bytes)
}
