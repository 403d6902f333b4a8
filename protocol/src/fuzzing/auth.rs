//! Fuzz target `auth_challenge`: `WWW-Authenticate` parsing and the client
//! authentication flow answering a server's sequence of 401s.

use crate::auth::{Challenge, Credentials, parse_challenges, parse_credentials};
use crate::auth_flow::{AuthAttempt, AuthStep, ClientAuth, MAX_SENDS};
use base64::Engine;

const URI: &str = "rtsp://camera.example/stream";

/// Input: lines. The first is `user:password` (no `:`: no credentials);
/// each further line is the server's answer to the request just sent: an
/// empty line is a 200, any other a 401 with that `WWW-Authenticate`
/// value.
///
/// Checks: every `Authorization` is one line; Basic carries the
/// credentials; Digest echoes the user, URI and a realm and nonce (and
/// opaque) of a challenge the server sent, with a response of the
/// algorithm's length; and no request is sent more than
/// [`MAX_SENDS`] times however the server answers.
pub fn auth_challenge(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Header values reach the parser one line each, without line ends.
    let mut lines = text.split(['\n', '\r']);
    let credentials = lines
        .next()
        .and_then(|l| l.split_once(':'))
        .map(|(user, password)| Credentials::new(user, password));
    let mut client = ClientAuth::new(credentials.clone());
    let mut seen: Vec<Challenge> = Vec::new();
    let mut attempt = AuthAttempt::default();
    let mut sends = 0u8;

    for line in lines.take(64) {
        let authorization = client.authorize("DESCRIBE", URI, &mut attempt);
        sends += 1;
        if let (Some(value), Some(credentials)) = (&authorization, &credentials) {
            check_authorization(value, credentials, &seen);
        }
        let status = if line.is_empty() { 200 } else { 401 };
        seen.extend(parse_challenges([line]));
        match client.on_response(status, [line], &mut attempt) {
            AuthStep::Retry => {
                assert!(
                    sends < MAX_SENDS,
                    "request sent {sends} times, retried again"
                );
                if credentials.is_none() {
                    panic!("retry without credentials");
                }
            }
            AuthStep::Done | AuthStep::Fail(_) => {
                attempt = AuthAttempt::default();
                sends = 0;
            }
        }
    }
}

fn check_authorization(value: &str, credentials: &Credentials, seen: &[Challenge]) {
    assert!(!value.contains(['\r', '\n']), "{value:?}");
    let (scheme, params) = parse_credentials(value).expect("scheme");
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let clean = |s: &str| s.replace(['\r', '\n'], "");
    if scheme == "Basic" {
        let token = value.strip_prefix("Basic ").expect("Basic token");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .expect("base64");
        let expected = format!("{}:{}", credentials.user, credentials.password);
        assert_eq!(decoded, expected.as_bytes());
        return;
    }
    assert_eq!(scheme, "Digest", "{value:?}");
    assert_eq!(param("username"), Some(clean(&credentials.user).as_str()));
    assert_eq!(param("uri"), Some(URI));
    let response = param("response").expect("response");
    let sha256 = param("algorithm").is_some_and(|a| a.starts_with("SHA-256"));
    assert_eq!(response.len(), if sha256 { 64 } else { 32 }, "{value:?}");
    let (realm, nonce) = (param("realm"), param("nonce"));
    let from_server = seen.iter().any(|c| match c {
        Challenge::Digest {
            realm: r,
            nonce: n,
            opaque,
            ..
        } => {
            realm == Some(clean(r).as_str())
                && nonce == Some(clean(n).as_str())
                && param("opaque") == opaque.as_deref().map(clean).as_deref()
        }
        Challenge::Basic { .. } => false,
    });
    assert!(from_server, "{value:?} answers no challenge sent");
}
