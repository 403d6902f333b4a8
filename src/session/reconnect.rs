//! When and how soon to connect again after a session was lost.
//!
//! Only a session that was established (PLAY or RECORD answered) is
//! recovered: a failure on the way there is the user's to see at once, as
//! with the C elements. Only failures that a later attempt can fix are
//! retried: the connection refused, lost or silent, a response timeout, a
//! server that forgot the session (454) or is busy (503). A server that
//! answers 401, 404, 415 or 461 after a restart is not going to change its
//! mind, and retrying forever would hide it.

use std::time::{Duration, Instant};

use crate::driver::error::{ClientError, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub enabled: bool,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Failed attempts in a row before giving up; 0 = never.
    pub max_attempts: u32,
}

/// A loss being recovered from.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub since: Instant,
    /// Attempts made so far (the one about to be made included).
    pub attempts: u32,
}

/// Whether another attempt may fix `err`.
pub fn is_transient(err: &ClientError) -> bool {
    match &err.kind {
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Closed | ErrorKind::Io => true,
        // 454 Session Not Found: the server restarted; 503: it is busy
        // starting up; 500/502/504: its back end is not there yet.
        ErrorKind::Status { code, .. } => matches!(code, 454 | 500 | 502 | 503 | 504),
        ErrorKind::Protocol
        | ErrorKind::NotAuthorized { .. }
        | ErrorKind::Redirect
        | ErrorKind::NoUsableStream
        | ErrorKind::Decrypt
        | ErrorKind::Resource
        | ErrorKind::Cancelled
        | ErrorKind::Certificate
        | ErrorKind::Settings => false,
    }
}

/// The wait before attempt `attempt` (1 for the first): the minimum,
/// doubled per failed attempt, at most the maximum.
pub fn backoff(policy: &ReconnectPolicy, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    policy
        .backoff_min
        .saturating_mul(1 << doublings)
        .min(policy.backoff_max)
}

/// After `err` ended a session: the outage state with the attempt about to
/// be made, or `None` when the error must be reported instead.
pub fn next_attempt(
    policy: &ReconnectPolicy,
    established_once: bool,
    outage: Option<Outage>,
    err: &ClientError,
    now: Instant,
) -> Option<Outage> {
    if !policy.enabled || !established_once || !is_transient(err) {
        return None;
    }
    let outage = match outage {
        Some(outage) => Outage {
            attempts: outage.attempts + 1,
            ..outage
        },
        None => Outage {
            since: now,
            attempts: 1,
        },
    };
    if policy.max_attempts != 0 && outage.attempts > policy.max_attempts {
        return None;
    }
    Some(outage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: true,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_attempts,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = policy(0);
        let waits: Vec<u64> = (1..=8).map(|a| backoff(&p, a).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff(&p, u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn only_established_sessions_with_transient_errors_are_retried() {
        let now = Instant::now();
        let closed = ClientError::new(ErrorKind::Closed, "gone");
        assert!(next_attempt(&policy(0), false, None, &closed, now).is_none());
        let first = next_attempt(&policy(0), true, None, &closed, now).unwrap();
        assert_eq!(first.attempts, 1);
        let second = next_attempt(&policy(0), true, Some(first), &closed, now).unwrap();
        assert_eq!(second.attempts, 2);
        assert_eq!(second.since, first.since);

        let mut disabled = policy(0);
        disabled.enabled = false;
        assert!(next_attempt(&disabled, true, None, &closed, now).is_none());

        for (code, retried) in [(454, true), (503, true), (401, false), (404, false)] {
            let err = ClientError::new(
                ErrorKind::Status {
                    code,
                    reason: String::new(),
                },
                "x",
            );
            assert_eq!(is_transient(&err), retried, "{code}");
        }
        let auth = ClientError::new(
            ErrorKind::NotAuthorized {
                code: 401,
                reason: String::new(),
            },
            "x",
        );
        assert!(next_attempt(&policy(0), true, None, &auth, now).is_none());
    }

    #[test]
    fn attempts_are_bounded_when_asked() {
        let now = Instant::now();
        let refused = ClientError::new(ErrorKind::Connect, "refused");
        let mut outage = None;
        for _ in 0..3 {
            outage = next_attempt(&policy(3), true, outage, &refused, now);
            assert!(outage.is_some());
        }
        assert!(next_attempt(&policy(3), true, outage, &refused, now).is_none());
    }
}
