//! Authentication across the requests of one connection: when to send
//! `Authorization`, and what a 401 answer means for the request it refused.
//!
//! One [`ClientAuth`] per connection holds the credentials and the
//! [`Authenticator`] made from the server's challenge; one [`AuthAttempt`]
//! per request (kept across its re-sends) bounds the retries, so that a
//! server refusing everything is never answered in a loop: a request is
//! sent without credentials only before any challenge is known, renews the
//! challenge at most once, and is sent at most [`MAX_SENDS`] times in all.

use crate::auth::{Authenticator, Challenge, Credentials, RetryDecision, parse_challenges};

/// Sends of one request at most: without credentials, with the first
/// challenge, with a challenge another request renewed meanwhile, with its
/// own renewal.
pub const MAX_SENDS: u8 = 4;

/// What happened to one request so far, across its re-sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthAttempt {
    /// The challenge generation the last send answered; `None` when it
    /// carried no `Authorization`.
    sent_with: Option<u32>,
    /// It renewed the challenge once already.
    renewed: bool,
    sends: u8,
}

/// Why a request refused with 401 cannot be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The server wants credentials and none were given.
    NoCredentials,
    /// No challenge uses a scheme this client implements.
    UnsupportedScheme,
    /// The server refused the credentials.
    Rejected,
    /// The server refused the credentials again after a renewed challenge.
    RejectedAgain,
}

impl AuthFailure {
    /// Text for an error message (never contains the credentials).
    pub fn describe(self) -> &'static str {
        match self {
            AuthFailure::NoCredentials => "Authentication required but no credentials were given",
            AuthFailure::UnsupportedScheme => {
                "Server requires an unsupported authentication scheme"
            }
            AuthFailure::Rejected => "Wrong user name or password",
            AuthFailure::RejectedAgain => {
                "The server refused the credentials again after renewing its challenge"
            }
        }
    }
}

/// What to do with the answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStep {
    /// Not a 401: the answer is the request's answer.
    Done,
    /// Send the request again (new CSeq, new `Authorization`).
    Retry,
    /// A 401 that ends the request.
    Fail(AuthFailure),
}

/// The authentication state of one connection.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    credentials: Option<Credentials>,
    authenticator: Option<Authenticator>,
    /// Counts the challenges adopted, so that a request refused after
    /// another one renewed the challenge is just sent again with it.
    generation: u32,
}

impl ClientAuth {
    pub fn new(credentials: Option<Credentials>) -> Self {
        ClientAuth {
            credentials,
            authenticator: None,
            generation: 0,
        }
    }

    /// The `Authorization` value for a request about to be sent: none until
    /// the server has challenged us. Records in `attempt` whether one went.
    pub fn authorize(
        &mut self,
        method: &str,
        uri: &str,
        attempt: &mut AuthAttempt,
    ) -> Option<String> {
        let value = self
            .authenticator
            .as_mut()
            .map(|auth| auth.authorization(method, uri));
        attempt.sent_with = value.as_ref().map(|_| self.generation);
        attempt.sends = attempt.sends.saturating_add(1);
        value
    }

    /// The server answered a request with `status`; `challenges` are its
    /// `WWW-Authenticate` values.
    pub fn on_response<'a>(
        &mut self,
        status: u16,
        challenges: impl IntoIterator<Item = &'a str>,
        attempt: &mut AuthAttempt,
    ) -> AuthStep {
        if status != 401 {
            if attempt.sent_with == Some(self.generation)
                && let Some(auth) = &mut self.authenticator
            {
                auth.on_accepted();
            }
            return AuthStep::Done;
        }
        let step = self.on_unauthorized(&parse_challenges(challenges), attempt);
        if step == AuthStep::Retry && attempt.sends >= MAX_SENDS {
            return AuthStep::Fail(AuthFailure::RejectedAgain);
        }
        step
    }

    fn on_unauthorized(&mut self, challenges: &[Challenge], attempt: &mut AuthAttempt) -> AuthStep {
        let current = Some(self.generation);
        match (&mut self.authenticator, &self.credentials) {
            // Sent without credentials or with an older challenge, and
            // another request's 401 has brought a newer one meanwhile
            // (requests in flight together): send it again with that.
            (Some(_), _) if attempt.sent_with != current => AuthStep::Retry,
            (Some(_), _) if attempt.renewed => AuthStep::Fail(AuthFailure::RejectedAgain),
            (Some(auth), _) => match auth.on_unauthorized(challenges) {
                RetryDecision::Retry => {
                    attempt.renewed = true;
                    self.generation = self.generation.wrapping_add(1);
                    AuthStep::Retry
                }
                RetryDecision::GiveUp => AuthStep::Fail(AuthFailure::Rejected),
            },
            (None, None) => AuthStep::Fail(AuthFailure::NoCredentials),
            (None, Some(credentials)) => {
                match Authenticator::new(credentials.clone(), challenges) {
                    Some(auth) => {
                        self.authenticator = Some(auth);
                        self.generation = self.generation.wrapping_add(1);
                        AuthStep::Retry
                    }
                    None => AuthStep::Fail(AuthFailure::UnsupportedScheme),
                }
            }
        }
    }

    /// Scheme in use for logs ("Digest MD5", "Basic"), if any yet.
    pub fn scheme_name(&self) -> Option<&'static str> {
        self.authenticator.as_ref().map(Authenticator::scheme_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientAuth {
        ClientAuth::new(Some(Credentials::new("admin", "pw")))
    }

    fn nonce_of(header: &str) -> &str {
        header
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
    }

    const FIRST: &str = "Digest realm=\"cam\", nonce=\"n1\", qop=\"auth\", stale=\"FALSE\"";

    /// Sends one request the way the driver does: authorize, answer, until
    /// the flow says stop. Returns the steps and the nonces sent.
    fn run(auth: &mut ClientAuth, answers: &[(u16, &str)]) -> (Vec<AuthStep>, Vec<Option<String>>) {
        let mut attempt = AuthAttempt::default();
        let mut steps = Vec::new();
        let mut sent = Vec::new();
        for (status, challenge) in answers {
            let header = auth.authorize("GET_PARAMETER", "rtsp://h/x", &mut attempt);
            sent.push(header.as_deref().map(|h| nonce_of(h).to_string()));
            let step = auth.on_response(*status, [*challenge], &mut attempt);
            steps.push(step);
            if step != AuthStep::Retry {
                break;
            }
        }
        (steps, sent)
    }

    fn logged_in() -> ClientAuth {
        let mut auth = client();
        let (steps, _) = run(&mut auth, &[(401, FIRST), (200, "")]);
        assert_eq!(steps, vec![AuthStep::Retry, AuthStep::Done]);
        auth
    }

    #[test]
    fn first_challenge_then_success() {
        let mut auth = client();
        let (_, sent) = run(&mut auth, &[(401, FIRST), (200, "")]);
        assert_eq!(sent, vec![None, Some("n1".to_string())]);
        assert_eq!(auth.scheme_name(), Some("Digest MD5"));
    }

    #[test]
    fn stale_nonce_mid_session_is_adopted_at_once() {
        // The field report: first challenge with stale="FALSE" quoted, the
        // keep-alive refused with stale=true unquoted and a new nonce.
        let mut auth = logged_in();
        let renewed = "Digest realm=\"cam\", nonce=\"NEW\", stale=true";
        let (steps, sent) = run(&mut auth, &[(401, renewed), (200, "")]);
        assert_eq!(steps, vec![AuthStep::Retry, AuthStep::Done]);
        assert_eq!(sent, vec![Some("n1".into()), Some("NEW".into())]);
        // And it stays: the next request uses the new nonce.
        let (_, sent) = run(&mut auth, &[(200, "")]);
        assert_eq!(sent, vec![Some("NEW".into())]);
    }

    #[test]
    fn new_challenge_without_stale_after_success_is_retried_once() {
        let mut auth = logged_in();
        let other_realm = "Digest realm=\"cam-2\", nonce=\"m1\", qop=\"auth\"";
        let (steps, sent) = run(&mut auth, &[(401, other_realm), (200, "")]);
        assert_eq!(steps, vec![AuthStep::Retry, AuthStep::Done]);
        assert_eq!(sent[1].as_deref(), Some("m1"));
    }

    #[test]
    fn one_renewal_per_request_never_a_loop() {
        for stale in ["", ", stale=true"] {
            let mut auth = logged_in();
            let answers: Vec<String> = (0..10)
                .map(|i| format!("Digest realm=\"cam\", nonce=\"k{i}\", qop=\"auth\"{stale}"))
                .collect();
            let answers: Vec<(u16, &str)> = answers.iter().map(|a| (401, a.as_str())).collect();
            let (steps, _) = run(&mut auth, &answers);
            assert_eq!(
                steps,
                vec![AuthStep::Retry, AuthStep::Fail(AuthFailure::RejectedAgain)],
                "{stale:?}"
            );
        }
    }

    #[test]
    fn wrong_password_is_not_retried() {
        let mut auth = client();
        let (steps, _) = run(&mut auth, &[(401, FIRST), (401, FIRST), (401, FIRST)]);
        assert_eq!(
            steps,
            vec![AuthStep::Retry, AuthStep::Fail(AuthFailure::Rejected)]
        );
        // A new nonce without stale before any success: still the password.
        let mut auth = client();
        let other = "Digest realm=\"cam\", nonce=\"n2\", qop=\"auth\"";
        let (steps, _) = run(&mut auth, &[(401, FIRST), (401, other), (401, other)]);
        assert_eq!(
            steps,
            vec![AuthStep::Retry, AuthStep::Fail(AuthFailure::Rejected)]
        );
    }

    #[test]
    fn a_failed_renewal_is_not_renewed_again_on_the_next_request() {
        let mut auth = logged_in();
        let k1 = "Digest realm=\"cam\", nonce=\"k1\", qop=\"auth\"";
        let k2 = "Digest realm=\"cam\", nonce=\"k2\", qop=\"auth\"";
        run(&mut auth, &[(401, k1), (401, k2)]);
        // k1 never worked: a plain 401 now means the credentials.
        let (steps, _) = run(&mut auth, &[(401, k2), (401, k2)]);
        assert_eq!(steps, vec![AuthStep::Fail(AuthFailure::Rejected)]);
    }

    #[test]
    fn failures_without_usable_challenge() {
        let mut none = ClientAuth::new(None);
        let (steps, _) = run(&mut none, &[(401, FIRST)]);
        assert_eq!(steps, vec![AuthStep::Fail(AuthFailure::NoCredentials)]);
        let mut auth = client();
        let (steps, _) = run(&mut auth, &[(401, "Negotiate")]);
        assert_eq!(steps, vec![AuthStep::Fail(AuthFailure::UnsupportedScheme)]);
        assert!(!AuthFailure::Rejected.describe().contains("pw"));
    }

    #[test]
    fn requests_in_flight_together_follow_one_renewal() {
        // A keep-alive and a GET_PARAMETER both sent with n1, both refused
        // with the same stale challenge: the first renews, the second is
        // sent again with the renewed nonce (not refused as a repeat).
        let mut auth = logged_in();
        let (mut a, mut b) = (AuthAttempt::default(), AuthAttempt::default());
        auth.authorize("GET_PARAMETER", "rtsp://h/", &mut a);
        auth.authorize("GET_PARAMETER", "rtsp://h/", &mut b);
        let renewed = "Digest realm=\"cam\", nonce=\"NEW\", stale=true";
        assert_eq!(auth.on_response(401, [renewed], &mut a), AuthStep::Retry);
        assert_eq!(auth.on_response(401, [renewed], &mut b), AuthStep::Retry);
        for attempt in [&mut a, &mut b] {
            let header = auth
                .authorize("GET_PARAMETER", "rtsp://h/", attempt)
                .unwrap();
            assert_eq!(nonce_of(&header), "NEW");
            assert_eq!(auth.on_response(200, [], attempt), AuthStep::Done);
        }
    }

    #[test]
    fn sends_are_capped_whatever_the_interleaving() {
        // A request whose every send is overtaken by another request's
        // renewal still ends.
        let mut auth = logged_in();
        let mut victim = AuthAttempt::default();
        let mut steps = Vec::new();
        for i in 0..10 {
            auth.authorize("GET_PARAMETER", "rtsp://h/", &mut victim);
            let mut other = AuthAttempt::default();
            auth.authorize("OPTIONS", "rtsp://h/", &mut other);
            let stale = format!("Digest realm=\"cam\", nonce=\"g{i}\", stale=true");
            auth.on_response(401, [stale.as_str()], &mut other);
            let step = auth.on_response(401, [stale.as_str()], &mut victim);
            steps.push(step);
            if step != AuthStep::Retry {
                break;
            }
        }
        assert_eq!(steps.len(), usize::from(MAX_SENDS));
        assert_eq!(
            steps.last(),
            Some(&AuthStep::Fail(AuthFailure::RejectedAgain))
        );
    }

    #[test]
    fn request_sent_before_the_challenge_is_resent_with_it() {
        // Two requests in flight without credentials: the first 401 makes
        // the authenticator, the second only needs sending again.
        let mut auth = client();
        let (mut a, mut b) = (AuthAttempt::default(), AuthAttempt::default());
        assert_eq!(auth.authorize("OPTIONS", "rtsp://h/", &mut a), None);
        assert_eq!(auth.authorize("OPTIONS", "rtsp://h/", &mut b), None);
        assert_eq!(auth.on_response(401, [FIRST], &mut a), AuthStep::Retry);
        assert_eq!(auth.on_response(401, [FIRST], &mut b), AuthStep::Retry);
        assert!(auth.authorize("OPTIONS", "rtsp://h/", &mut b).is_some());
        assert_eq!(auth.on_response(200, [], &mut b), AuthStep::Done);
    }
}
