//! RTSP authentication: parsing `WWW-Authenticate` challenges and computing
//! `Authorization` values for Basic (RFC 7617) and Digest (RFC 2069, RFC 2617,
//! RFC 7616), as RTSP uses them (RFC 2326 section 12.5/12.44 and RFC 7826
//! section 19, which both defer to the HTTP authentication RFCs).
//!
//! Passwords never appear in `Debug` output of anything in this module.

use std::fmt;

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// User name and password. `Debug` prints the user and `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Digest hash algorithms this client implements (RFC 7616 3.3).
/// SHA-512-256 is not implemented; challenges using it are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl DigestAlgorithm {
    /// The token as written in the `algorithm` parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn from_token(token: &str) -> Option<Self> {
        let token = token.trim();
        [
            DigestAlgorithm::Md5,
            DigestAlgorithm::Md5Sess,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    fn is_session(self) -> bool {
        matches!(self, DigestAlgorithm::Md5Sess | DigestAlgorithm::Sha256Sess)
    }

    /// Lowercase hex of H(data).
    fn hash_hex(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => {
                hex(&Sha256::digest(data.as_bytes()))
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// One authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        algorithm: DigestAlgorithm,
        /// qop options offered, lowercased (`auth`, `auth-int`); empty for RFC 2069 servers.
        qop: Vec<String>,
        stale: bool,
    },
}

/// Scheme names from the IANA HTTP authentication scheme registry. A bare
/// token followed by a comma is a new challenge only if it is one of these;
/// otherwise it is a valueless parameter of the current challenge (cameras
/// send junk like `Digest realm="x", stale, nonce="y"`).
const KNOWN_SCHEMES: &[&str] = &[
    "basic",
    "digest",
    "bearer",
    "negotiate",
    "ntlm",
    "hoba",
    "mutual",
    "vapid",
    "scram-sha-1",
    "scram-sha-256",
    "privatetoken",
    "concealed",
    "dpop",
    "gnap",
];

struct RawChallenge<'a> {
    scheme: &'a str,
    params: Vec<(&'a str, String)>,
}

impl RawChallenge<'_> {
    /// First parameter with that name, case-insensitively (RFC 7235 2.1).
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Reads a quoted-string starting at the opening quote `value[start]`.
/// Returns the unescaped content and the index just past the closing quote
/// (or the end of input for an unterminated string, which we accept).
fn read_quoted(value: &str, start: usize) -> (String, usize) {
    let body = &value[start + 1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, start + 1 + i + 1),
            // quoted-pair (RFC 7230 3.2.6); a trailing lone backslash is dropped.
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    out.push(escaped);
                }
            }
            _ => out.push(c),
        }
    }
    (out, value.len())
}

/// Splits one header value into challenges (RFC 7235 section 2.1 and 4.1):
/// `scheme [token68 | param=value *("," param=value)] *("," challenge)`.
fn parse_raw(value: &str) -> Vec<RawChallenge<'_>> {
    let b = value.as_bytes();
    let len = b.len();
    let mut out: Vec<RawChallenge<'_>> = Vec::new();
    let mut i = 0;
    loop {
        while i < len && (is_space(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i >= len {
            break;
        }
        if b[i] == b'"' {
            // A stray quoted string where a token belongs: skip it whole.
            i = read_quoted(value, i).1;
            continue;
        }
        let start = i;
        while i < len && !is_space(b[i]) && !matches!(b[i], b',' | b'=' | b'"') {
            i += 1;
        }
        let token = &value[start..i];
        if token.is_empty() {
            // A stray '='.
            i += 1;
            continue;
        }
        let mut j = i;
        while j < len && is_space(b[j]) {
            j += 1;
        }
        if j < len && b[j] == b'=' {
            j += 1;
            while j < len && is_space(b[j]) {
                j += 1;
            }
            let (val, next) = if j < len && b[j] == b'"' {
                read_quoted(value, j)
            } else {
                // Unquoted value: a token, or a token68 with '=' padding.
                let vs = j;
                while j < len && !is_space(b[j]) && b[j] != b',' {
                    j += 1;
                }
                (value[vs..j].to_string(), j)
            };
            i = next;
            // Missing commas between parameters (`realm="x" nonce="y"`) land
            // here too and are accepted.
            if let Some(current) = out.last_mut() {
                current.params.push((token, val));
            }
            continue;
        }
        let bare = j >= len || b[j] == b',';
        let known = KNOWN_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(token));
        if bare && !known && !out.is_empty() {
            i = j;
            continue;
        }
        out.push(RawChallenge {
            scheme: token,
            params: Vec::new(),
        });
        i = j;
    }
    out
}

/// The scheme and parameters of an `Authorization`-style value (the same
/// grammar as a challenge), for checking what this client writes.
pub(crate) fn parse_credentials(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let raw = parse_raw(value).into_iter().next()?;
    let params = raw
        .params
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    Some((raw.scheme.to_string(), params))
}

/// Parses every `WWW-Authenticate` header value: a server may send several
/// headers (Hikvision sends Digest and Basic separately) or several challenges
/// in one value (`Digest realm="x", nonce="y", Basic realm="x"`).
///
/// Unknown schemes and Digest algorithms are skipped, as are Digest challenges
/// without a nonce. Scheme and parameter names are case-insensitive, values may
/// be quoted (with `\"` escapes) or not, `stale` is compared case-insensitively
/// (`stale=TRUE`, `stale="true"`). A missing realm is taken as empty.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        for raw in parse_raw(value) {
            if raw.scheme.eq_ignore_ascii_case("basic") {
                out.push(Challenge::Basic {
                    realm: raw.param("realm").unwrap_or_default().to_string(),
                });
            } else if raw.scheme.eq_ignore_ascii_case("digest") {
                let Some(nonce) = raw.param("nonce") else {
                    continue;
                };
                let algorithm = match raw.param("algorithm") {
                    None => DigestAlgorithm::Md5, // RFC 7616 3.3: absent means MD5
                    Some(a) => match DigestAlgorithm::from_token(a) {
                        Some(a) => a,
                        None => continue,
                    },
                };
                let qop = raw
                    .param("qop")
                    .map(|q| {
                        q.split(',')
                            .map(|t| t.trim().to_ascii_lowercase())
                            .filter(|t| !t.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Challenge::Digest {
                    realm: raw.param("realm").unwrap_or_default().to_string(),
                    nonce: nonce.to_string(),
                    opaque: raw.param("opaque").map(str::to_string),
                    algorithm,
                    qop,
                    stale: raw
                        .param("stale")
                        .is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
                });
            }
        }
    }
    out
}

/// What to do after a request carrying our `Authorization` got 401 again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    Retry,
    GiveUp,
}

/// Consecutive stale rejections of a nonce that was never used successfully
/// before giving up: a broken server that marks every nonce stale must not
/// make us loop forever.
const MAX_STALE_STREAK: u8 = 3;

#[derive(Clone)]
struct DigestState {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: DigestAlgorithm,
    /// qop=auth offered; otherwise RFC 2069 compatibility mode.
    qop_auth: bool,
    /// Requests sent with the current nonce (the nc value of the last one).
    nc: u32,
    /// For -sess algorithms: the cnonce that went into the session key.
    sess_cnonce: Option<String>,
    /// Whether the current nonce came from a stale=true retry.
    from_stale: bool,
    stale_streak: u8,
}

#[derive(Clone)]
enum AuthKind {
    Basic,
    Digest(DigestState),
}

/// Produces `Authorization` values for one server (one challenge set).
#[derive(Clone)]
pub struct Authenticator {
    credentials: Credentials,
    scheme: AuthKind,
    /// The server answered a request carrying our `Authorization` with
    /// something other than 401 since the current challenge was adopted:
    /// the credentials are right.
    accepted: bool,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Authenticator");
        d.field("scheme", &self.scheme_name())
            .field("credentials", &self.credentials);
        if let AuthKind::Digest(state) = &self.scheme {
            d.field("realm", &state.realm).field("nc", &state.nc);
        }
        d.finish()
    }
}

/// Preference among challenges; `None` if this client cannot answer it.
fn rank(challenge: &Challenge) -> Option<u8> {
    match challenge {
        Challenge::Basic { .. } => Some(0),
        Challenge::Digest { algorithm, qop, .. } => {
            let has_auth = qop.iter().any(|q| q.eq_ignore_ascii_case("auth"));
            // Only auth-int offered: we do not hash bodies, so we cannot answer.
            if !qop.is_empty() && !has_auth {
                return None;
            }
            // -sess needs a cnonce, which RFC 2617 only allows together with qop.
            if algorithm.is_session() && !has_auth {
                return None;
            }
            Some(match algorithm {
                DigestAlgorithm::Sha256 => 4,
                DigestAlgorithm::Sha256Sess => 3,
                DigestAlgorithm::Md5 => 2,
                DigestAlgorithm::Md5Sess => 1,
            })
        }
    }
}

fn digest_state(challenge: &Challenge) -> Option<DigestState> {
    match challenge {
        Challenge::Basic { .. } => None,
        Challenge::Digest {
            realm,
            nonce,
            opaque,
            algorithm,
            qop,
            ..
        } => Some(DigestState {
            realm: realm.clone(),
            nonce: nonce.clone(),
            opaque: opaque.clone(),
            algorithm: *algorithm,
            qop_auth: qop.iter().any(|q| q.eq_ignore_ascii_case("auth")),
            nc: 0,
            sess_cnonce: None,
            from_stale: false,
            stale_streak: 0,
        }),
    }
}

/// Inputs of the Digest response computation (RFC 7616 3.4.1).
struct DigestInput<'a> {
    algorithm: DigestAlgorithm,
    user: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
    /// `Some(("00000001", "auth"))` with qop, `None` for RFC 2069.
    qop: Option<(&'a str, &'a str)>,
    method: &'a str,
    uri: &'a str,
}

/// The `response` parameter value.
fn digest_response(input: &DigestInput<'_>) -> String {
    let h = |s: &str| input.algorithm.hash_hex(s);
    let mut ha1 = h(&format!(
        "{}:{}:{}",
        input.user, input.realm, input.password
    ));
    if input.algorithm.is_session() {
        ha1 = h(&format!("{ha1}:{}:{}", input.nonce, input.cnonce));
    }
    let ha2 = h(&format!("{}:{}", input.method, input.uri));
    match input.qop {
        Some((nc, qop)) => h(&format!(
            "{ha1}:{}:{nc}:{}:{qop}:{ha2}",
            input.nonce, input.cnonce
        )),
        None => h(&format!("{ha1}:{}:{ha2}", input.nonce)),
    }
}

/// Appends `"value"` as a quoted-string: `"` and `\` escaped (RFC 7230 3.2.6),
/// CR and LF dropped so that no value can break out of the header line.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => {}
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn random_cnonce() -> String {
    hex(&rand::random::<[u8; 16]>())
}

impl Authenticator {
    /// Picks the strongest challenge this client can answer:
    /// Digest SHA-256 > SHA-256-sess > MD5 > MD5-sess > Basic; among equals the
    /// first one listed (the server's preference). `None` if nothing is usable.
    pub fn new(credentials: Credentials, challenges: &[Challenge]) -> Option<Self> {
        let mut best: Option<(u8, &Challenge)> = None;
        for c in challenges {
            if let Some(r) = rank(c)
                && best.is_none_or(|(b, _)| r > b)
            {
                best = Some((r, c));
            }
        }
        let (_, chosen) = best?;
        let scheme = match digest_state(chosen) {
            Some(state) => AuthKind::Digest(state),
            None => AuthKind::Basic,
        };
        Some(Authenticator {
            credentials,
            scheme,
            accepted: false,
        })
    }

    /// Called when a request that carried our `Authorization` got an answer
    /// other than 401: the credentials work, so a later 401 is the server
    /// changing its challenge, not a wrong password.
    pub fn on_accepted(&mut self) {
        self.accepted = true;
        if let AuthKind::Digest(state) = &mut self.scheme {
            state.stale_streak = 0;
        }
    }

    /// Value for the `Authorization` header of a request. `uri` is the request
    /// URI exactly as sent in the request line. For Digest with qop=auth this
    /// increments nc and uses a fresh random cnonce (except for -sess, see
    /// [`Self::authorization_with_cnonce`]).
    pub fn authorization(&mut self, method: &str, uri: &str) -> String {
        let cnonce = random_cnonce();
        self.authorization_with_cnonce(method, uri, &cnonce)
    }

    /// [`Self::authorization`] with a given cnonce (fixed in tests).
    ///
    /// For -sess algorithms the session key H(H(A1):nonce:cnonce) is computed
    /// once per nonce with the first cnonce (RFC 2617 3.2.2.2), so that cnonce is
    /// kept and sent again for the life of the nonce; the response then always
    /// uses the same cnonce as the key, which every server reading accepts.
    fn authorization_with_cnonce(&mut self, method: &str, uri: &str, cnonce: &str) -> String {
        let state = match &mut self.scheme {
            AuthKind::Basic => {
                let pair = format!("{}:{}", self.credentials.user, self.credentials.password);
                return format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
            }
            AuthKind::Digest(state) => state,
        };
        state.nc = state.nc.wrapping_add(1);
        if state.nc == 0 {
            // nc must never be 0 (RFC 7616 3.4); after 2^32 requests just wrap to 1.
            state.nc = 1;
        }
        if state.from_stale && state.nc > 1 {
            // The nonce adopted after a stale retry has served a request and we
            // are making another one: it worked, so the streak is over.
            state.stale_streak = 0;
        }
        let cnonce = if state.algorithm.is_session() {
            state
                .sess_cnonce
                .get_or_insert_with(|| cnonce.to_string())
                .clone()
        } else {
            cnonce.to_string()
        };
        let nc = format!("{:08x}", state.nc);
        let response = digest_response(&DigestInput {
            algorithm: state.algorithm,
            user: &self.credentials.user,
            realm: &state.realm,
            password: &self.credentials.password,
            nonce: &state.nonce,
            cnonce: &cnonce,
            qop: state.qop_auth.then_some((nc.as_str(), "auth")),
            method,
            uri,
        });

        let mut out = String::from("Digest username=");
        push_quoted(&mut out, &self.credentials.user);
        out.push_str(", realm=");
        push_quoted(&mut out, &state.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &state.nonce);
        out.push_str(", uri=");
        push_quoted(&mut out, uri);
        out.push_str(", response=");
        push_quoted(&mut out, &response);
        // Plain MD5 is the default when the parameter is absent (RFC 2617
        // 3.2.1); old cameras and the live555/GStreamer clients they are tested
        // with do not send it, so we don't either. Every other algorithm must be
        // named or the server would verify with MD5.
        if state.algorithm != DigestAlgorithm::Md5 {
            out.push_str(", algorithm=");
            out.push_str(state.algorithm.as_str());
        }
        if state.qop_auth {
            out.push_str(", qop=auth, nc=");
            out.push_str(&nc);
            out.push_str(", cnonce=");
            push_quoted(&mut out, &cnonce);
        }
        if let Some(opaque) = &state.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        out
    }

    /// Called when a request that carried our `Authorization` got 401 again.
    ///
    /// Retries when the new challenges include a usable Digest challenge
    /// with `stale=true` (RFC 7616 3.3: the nonce expired but the credentials
    /// were right): the new nonce is adopted and nc restarts. Gives up when
    /// that "new" nonce is the one just rejected, or when fresh nonces keep
    /// being called stale before serving a single request (broken server).
    ///
    /// Without `stale=true`, a 401 means wrong credentials, unless these
    /// credentials were accepted since the current challenge was adopted:
    /// then the server changed its challenge (new nonce or realm without
    /// `stale`, e.g. a camera whose nonces expire or that restarted its
    /// authentication; docs/QUIRKS.md, "Digest nonce renewed mid-session"),
    /// and, as a browser would, the strongest usable new challenge is
    /// adopted for one more try. That try must succeed before another such
    /// renewal is allowed, so a server that refuses everything is not
    /// answered in a loop.
    pub fn on_unauthorized(&mut self, challenges: &[Challenge]) -> RetryDecision {
        if let Some(decision) = self.renew_stale(challenges) {
            return decision;
        }
        if !self.accepted {
            return RetryDecision::GiveUp;
        }
        match Authenticator::new(self.credentials.clone(), challenges) {
            Some(next) => {
                *self = next;
                RetryDecision::Retry
            }
            None => RetryDecision::GiveUp,
        }
    }

    /// The `stale=true` renewal of [`Self::on_unauthorized`]; `None` when no
    /// usable stale Digest challenge was offered.
    fn renew_stale(&mut self, challenges: &[Challenge]) -> Option<RetryDecision> {
        let AuthKind::Digest(state) = &mut self.scheme else {
            return None;
        };
        let stale: Vec<&Challenge> = challenges
            .iter()
            .filter(|c| matches!(c, Challenge::Digest { stale: true, .. }) && rank(c).is_some())
            .collect();
        // Prefer the algorithm already in use, else the strongest offered.
        let same = stale.iter().copied().find(
            |c| matches!(c, Challenge::Digest { algorithm, .. } if *algorithm == state.algorithm),
        );
        let chosen = same.or_else(|| stale.iter().copied().max_by_key(|c| rank(c)));
        let mut next = chosen.and_then(digest_state)?;
        if next.nonce == state.nonce {
            return Some(RetryDecision::GiveUp);
        }
        let streak = if state.from_stale && state.nc <= 1 {
            state.stale_streak.saturating_add(1)
        } else {
            1
        };
        if streak > MAX_STALE_STREAK {
            return Some(RetryDecision::GiveUp);
        }
        next.from_stale = true;
        next.stale_streak = streak;
        *state = next;
        self.accepted = false;
        Some(RetryDecision::Retry)
    }

    /// Human-readable scheme for logs: "Basic", "Digest MD5", "Digest SHA-256",
    /// "Digest MD5-sess", "Digest SHA-256-sess".
    pub fn scheme_name(&self) -> &'static str {
        match &self.scheme {
            AuthKind::Basic => "Basic",
            AuthKind::Digest(state) => match state.algorithm {
                DigestAlgorithm::Md5 => "Digest MD5",
                DigestAlgorithm::Md5Sess => "Digest MD5-sess",
                DigestAlgorithm::Sha256 => "Digest SHA-256",
                DigestAlgorithm::Sha256Sess => "Digest SHA-256-sess",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

    fn mufasa() -> Credentials {
        Credentials::new("Mufasa", "Circle of Life")
    }

    /// Extracts a parameter value from an Authorization header we produced.
    fn param(header: &str, name: &str) -> Option<String> {
        let raw = parse_raw(header);
        raw.first()?.param(name).map(str::to_string)
    }

    fn rfc7616_challenge(algorithm: &str) -> Vec<Challenge> {
        let v = format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
             algorithm={algorithm}, nonce=\"{RFC7616_NONCE}\", opaque=\"{RFC7616_OPAQUE}\""
        );
        parse_challenges([v.as_str()])
    }

    #[test]
    fn rfc7616_md5_example() {
        let challenges = rfc7616_challenge("MD5");
        let mut auth = Authenticator::new(mufasa(), &challenges).unwrap();
        assert_eq!(auth.scheme_name(), "Digest MD5");
        let h = auth.authorization_with_cnonce("GET", "/dir/index.html", RFC7616_CNONCE);
        assert_eq!(
            h,
            format!(
                "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
                 nonce=\"{RFC7616_NONCE}\", uri=\"/dir/index.html\", \
                 response=\"8ca523f5e9506fed4657c9700eebdbec\", qop=auth, nc=00000001, \
                 cnonce=\"{RFC7616_CNONCE}\", opaque=\"{RFC7616_OPAQUE}\""
            )
        );
    }

    #[test]
    fn rfc7616_sha256_example() {
        let challenges = rfc7616_challenge("SHA-256");
        let mut auth = Authenticator::new(mufasa(), &challenges).unwrap();
        assert_eq!(auth.scheme_name(), "Digest SHA-256");
        let h = auth.authorization_with_cnonce("GET", "/dir/index.html", RFC7616_CNONCE);
        assert_eq!(
            param(&h, "response").as_deref(),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
        assert_eq!(param(&h, "algorithm").as_deref(), Some("SHA-256"));
        assert_eq!(param(&h, "nc").as_deref(), Some("00000001"));
        assert_eq!(param(&h, "qop").as_deref(), Some("auth"));
        assert_eq!(param(&h, "opaque").as_deref(), Some(RFC7616_OPAQUE));
    }

    #[test]
    fn session_variants_use_first_cnonce() {
        // Expected values computed independently from RFC 7616 3.4.2 formulas.
        for (alg, expected) in [
            ("MD5-sess", "e783283f46242139c486a698fec7211d"),
            (
                "SHA-256-sess",
                "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
            ),
        ] {
            let mut auth = Authenticator::new(mufasa(), &rfc7616_challenge(alg)).unwrap();
            let h = auth.authorization_with_cnonce("GET", "/dir/index.html", RFC7616_CNONCE);
            assert_eq!(param(&h, "response").as_deref(), Some(expected), "{alg}");
            assert_eq!(param(&h, "algorithm").as_deref(), Some(alg));
            let h2 = auth.authorization("GET", "/dir/index.html");
            assert_eq!(param(&h2, "cnonce").as_deref(), Some(RFC7616_CNONCE));
            assert_eq!(param(&h2, "nc").as_deref(), Some("00000002"));
        }
    }

    #[test]
    fn rfc2617_example_with_qop() {
        let challenges = parse_challenges([
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        ]);
        let mut auth =
            Authenticator::new(Credentials::new("Mufasa", "Circle Of Life"), &challenges).unwrap();
        let h = auth.authorization_with_cnonce("GET", "/dir/index.html", "0a4f113b");
        assert_eq!(
            param(&h, "response").as_deref(),
            Some("6629fae49393a05397450978507c4ef1")
        );
        // MD5 not named by the server: no algorithm parameter.
        assert_eq!(param(&h, "algorithm"), None);
    }

    #[test]
    fn rfc2069_without_qop() {
        let challenges = parse_challenges([
            "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"",
        ]);
        let mut auth =
            Authenticator::new(Credentials::new("Mufasa", "CircleOfLife"), &challenges).unwrap();
        let h = auth.authorization("GET", "/dir/index.html");
        assert_eq!(
            h,
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"1949323746fe6a43ef61f9606e7febea\""
        );
    }

    #[test]
    fn nc_increments_and_cnonce_is_fresh() {
        let mut auth = Authenticator::new(mufasa(), &rfc7616_challenge("MD5")).unwrap();
        let a = auth.authorization("DESCRIBE", "rtsp://h/x");
        let b = auth.authorization("SETUP", "rtsp://h/x/trackID=0");
        assert_eq!(param(&a, "nc").as_deref(), Some("00000001"));
        assert_eq!(param(&b, "nc").as_deref(), Some("00000002"));
        let (ca, cb) = (param(&a, "cnonce").unwrap(), param(&b, "cnonce").unwrap());
        assert_ne!(ca, cb);
        assert_eq!(ca.len(), 32);
        assert_eq!(param(&b, "uri").as_deref(), Some("rtsp://h/x/trackID=0"));
    }

    #[test]
    fn basic_authorization() {
        let challenges = parse_challenges(["Basic realm=\"WallyWorld\""]);
        let mut auth =
            Authenticator::new(Credentials::new("Aladdin", "open sesame"), &challenges).unwrap();
        assert_eq!(auth.scheme_name(), "Basic");
        // RFC 7617 section 2 example.
        assert_eq!(
            auth.authorization("DESCRIBE", "rtsp://h/"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(
            auth.on_unauthorized(&challenges),
            RetryDecision::GiveUp,
            "Basic rejected again means wrong password"
        );
    }

    #[test]
    fn parses_multiple_challenges_in_one_value() {
        let c = parse_challenges(["Digest realm=\"x\", nonce=\"y\", Basic realm=\"x\", \
             Digest realm=\"x\", nonce=\"z\", algorithm=SHA-256, qop=\"auth\""]);
        assert_eq!(
            c,
            vec![
                Challenge::Digest {
                    realm: "x".into(),
                    nonce: "y".into(),
                    opaque: None,
                    algorithm: DigestAlgorithm::Md5,
                    qop: vec![],
                    stale: false,
                },
                Challenge::Basic { realm: "x".into() },
                Challenge::Digest {
                    realm: "x".into(),
                    nonce: "z".into(),
                    opaque: None,
                    algorithm: DigestAlgorithm::Sha256,
                    qop: vec!["auth".into()],
                    stale: false,
                },
            ]
        );
        let auth = Authenticator::new(mufasa(), &c).unwrap();
        assert_eq!(auth.scheme_name(), "Digest SHA-256");
    }

    #[test]
    fn parses_several_headers_and_skips_unknown() {
        // Hikvision-style: one challenge per header, plus schemes we don't do.
        let c = parse_challenges([
            "Negotiate",
            "NTLM TlRMTVNTUAABAAAAB4IIog==",
            "Digest realm=\"IP Camera(C1234)\", nonce=\"a1b2\", algorithm=SHA-512-256",
            "Digest realm=\"IP Camera(C1234)\", nonce=\"c3d4\", stale=\"FALSE\"",
            "Basic realm=\"IP Camera(C1234)\"",
            "Bearer realm=\"x\", scope=\"y\"",
            "Digest realm=\"no nonce\"",
            "",
        ]);
        assert_eq!(c.len(), 2);
        assert!(matches!(&c[0], Challenge::Digest { nonce, stale: false, .. } if nonce == "c3d4"));
        assert!(matches!(&c[1], Challenge::Basic { realm } if realm == "IP Camera(C1234)"));
        let auth = Authenticator::new(mufasa(), &c).unwrap();
        assert_eq!(auth.scheme_name(), "Digest MD5");
    }

    #[test]
    fn tolerant_parsing() {
        let c = parse_challenges([
            // Odd case, unquoted values, extra spaces, escaped quote, stale=TRUE,
            // a valueless junk parameter and a missing comma.
            "  dIgEsT   REALM = Cam\\x ,  Nonce=abc==,stale=TRUE, junk, \
             opaque=\"o\\\"p\" algorithm=md5-SESS qop=auth",
        ]);
        assert_eq!(
            c,
            vec![Challenge::Digest {
                realm: "Cam\\x".into(),
                nonce: "abc==".into(),
                opaque: Some("o\"p".into()),
                algorithm: DigestAlgorithm::Md5Sess,
                qop: vec!["auth".into()],
                stale: true,
            }]
        );
        let c = parse_challenges(["Digest realm=\"a, b\", nonce=\"n\", stale=true"]);
        assert!(matches!(&c[0], Challenge::Digest { realm, stale: true, .. } if realm == "a, b"));
        let c = parse_challenges(["BASIC"]);
        assert_eq!(
            c,
            vec![Challenge::Basic {
                realm: String::new()
            }]
        );
    }

    #[test]
    fn preference_and_unusable_challenges() {
        let only_int = parse_challenges(["Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""]);
        assert!(Authenticator::new(mufasa(), &only_int).is_none());
        let mut with_basic = only_int.clone();
        with_basic.extend(parse_challenges(["Basic realm=\"r\""]));
        assert_eq!(
            Authenticator::new(mufasa(), &with_basic)
                .unwrap()
                .scheme_name(),
            "Basic"
        );
        let sess_no_qop = parse_challenges(["Digest realm=r, nonce=n, algorithm=MD5-sess"]);
        assert!(Authenticator::new(mufasa(), &sess_no_qop).is_none());
        assert!(Authenticator::new(mufasa(), &[]).is_none());
        let both = parse_challenges([
            "Basic realm=r",
            "Digest realm=r, nonce=n",
            "Digest realm=r, nonce=m, algorithm=SHA-256",
        ]);
        assert_eq!(
            Authenticator::new(mufasa(), &both).unwrap().scheme_name(),
            "Digest SHA-256"
        );
    }

    #[test]
    fn stale_nonce_is_adopted() {
        let mut auth = Authenticator::new(mufasa(), &rfc7616_challenge("MD5")).unwrap();
        auth.authorization("DESCRIBE", "rtsp://h/");
        auth.authorization("OPTIONS", "rtsp://h/");
        let renewed = parse_challenges([
            "Digest realm=\"http-auth@example.org\", nonce=\"fresh\", qop=auth, stale=true",
        ]);
        assert_eq!(auth.on_unauthorized(&renewed), RetryDecision::Retry);
        let h = auth.authorization("OPTIONS", "rtsp://h/");
        assert_eq!(param(&h, "nonce").as_deref(), Some("fresh"));
        assert_eq!(param(&h, "nc").as_deref(), Some("00000001"));
        // The new challenge carried no opaque: none is sent.
        assert_eq!(param(&h, "opaque"), None);
    }

    #[test]
    fn stale_quoted_or_not_in_any_case() {
        // The camera of the field report (docs/QUIRKS.md, "Digest nonce
        // renewed mid-session"): stale="FALSE" quoted in its first
        // challenge, stale=true unquoted when the nonce expired.
        let first =
            parse_challenges(["Digest realm=\"IP Camera(21120)\", nonce=\"OLD\", stale=\"FALSE\""]);
        let renewed =
            parse_challenges(["Digest realm=\"IP Camera(21120)\", nonce=\"NEW\", stale=true"]);
        assert!(
            matches!(&first[..], [Challenge::Digest { nonce, stale: false, .. }] if nonce == "OLD")
        );
        assert!(
            matches!(&renewed[..], [Challenge::Digest { nonce, stale: true, .. }] if nonce == "NEW")
        );
        for (value, stale) in [
            ("stale=TRUE", true),
            ("stale=\"true\"", true),
            ("stale=\"True\"", true),
            ("stale = true", true),
            ("stale=true ", true),
            ("stale=false", false),
            ("stale=\"FALSE\"", false),
            ("stale=yes", false),
        ] {
            let c = parse_challenges([format!("Digest realm=r, nonce=n, {value}").as_str()]);
            assert!(
                matches!(&c[..], [Challenge::Digest { stale: s, .. }] if *s == stale),
                "{value}: {c:?}"
            );
        }
        let mut auth = Authenticator::new(mufasa(), &first).unwrap();
        auth.authorization("PLAY", "rtsp://h/");
        assert_eq!(auth.on_unauthorized(&renewed), RetryDecision::Retry);
        let h = auth.authorization("GET_PARAMETER", "rtsp://h/");
        assert_eq!(param(&h, "nonce").as_deref(), Some("NEW"));
    }

    #[test]
    fn new_challenge_after_success_is_adopted_once() {
        let mut auth = Authenticator::new(mufasa(), &rfc7616_challenge("MD5")).unwrap();
        auth.authorization("DESCRIBE", "rtsp://h/");
        auth.on_accepted();
        // New realm and nonce, no stale: the credentials were accepted, so
        // this is the server changing its challenge.
        let other = parse_challenges(["Digest realm=\"other\", nonce=\"m1\", qop=auth"]);
        assert_eq!(auth.on_unauthorized(&other), RetryDecision::Retry);
        let h = auth.authorization("TEARDOWN", "rtsp://h/");
        assert_eq!(param(&h, "realm").as_deref(), Some("other"));
        assert_eq!(param(&h, "nonce").as_deref(), Some("m1"));
        assert_eq!(param(&h, "nc").as_deref(), Some("00000001"));
        // Not accepted since: another plain re-challenge is refused.
        let again = parse_challenges(["Digest realm=\"other\", nonce=\"m2\", qop=auth"]);
        assert_eq!(auth.on_unauthorized(&again), RetryDecision::GiveUp);
        // Unusable challenges after success: nothing to retry with.
        auth.on_accepted();
        assert_eq!(auth.on_unauthorized(&[]), RetryDecision::GiveUp);
        // Basic re-challenge after a Basic success: one more try too.
        let basic = parse_challenges(["Basic realm=r"]);
        let mut auth = Authenticator::new(mufasa(), &basic).unwrap();
        auth.on_accepted();
        assert_eq!(auth.on_unauthorized(&basic), RetryDecision::Retry);
        assert_eq!(auth.on_unauthorized(&basic), RetryDecision::GiveUp);
    }

    #[test]
    fn repeated_401_without_stale_gives_up() {
        let challenges = rfc7616_challenge("MD5");
        let mut auth = Authenticator::new(mufasa(), &challenges).unwrap();
        auth.authorization("DESCRIBE", "rtsp://h/");
        assert_eq!(auth.on_unauthorized(&challenges), RetryDecision::GiveUp);
        // A fresh nonce without stale=true still means wrong credentials.
        let other = parse_challenges(["Digest realm=r, nonce=other, qop=auth"]);
        assert_eq!(auth.on_unauthorized(&other), RetryDecision::GiveUp);
        assert_eq!(auth.on_unauthorized(&[]), RetryDecision::GiveUp);
    }

    #[test]
    fn stale_loops_are_bounded() {
        let mut auth = Authenticator::new(mufasa(), &rfc7616_challenge("MD5")).unwrap();
        auth.authorization("DESCRIBE", "rtsp://h/");
        // Same nonce marked stale: retrying cannot help.
        let same = parse_challenges([format!(
            "Digest realm=r, nonce=\"{RFC7616_NONCE}\", qop=auth, stale=true"
        )
        .as_str()]);
        assert_eq!(auth.on_unauthorized(&same), RetryDecision::GiveUp);
        // Every fresh nonce immediately stale: give up after a few.
        let mut retries = 0;
        for i in 0..10 {
            let v = format!("Digest realm=r, nonce=n{i}, qop=auth, stale=true");
            if auth.on_unauthorized(&parse_challenges([v.as_str()])) == RetryDecision::GiveUp {
                break;
            }
            retries += 1;
            auth.authorization("DESCRIBE", "rtsp://h/");
        }
        assert_eq!(retries, usize::from(MAX_STALE_STREAK));

        // But nonces that expire during a long session (each used for many
        // requests) are renewed indefinitely.
        let mut auth = Authenticator::new(mufasa(), &rfc7616_challenge("MD5")).unwrap();
        for i in 0..20 {
            for _ in 0..3 {
                auth.authorization("GET_PARAMETER", "rtsp://h/");
            }
            let v = format!("Digest realm=r, nonce=k{i}, qop=auth, stale=true");
            assert_eq!(
                auth.on_unauthorized(&parse_challenges([v.as_str()])),
                RetryDecision::Retry
            );
        }
    }

    #[test]
    fn debug_never_leaks_password() {
        const PW: &str = "Tr0ub4dor&3";
        let creds = Credentials::new("admin", PW);
        assert!(!format!("{creds:?}").contains(PW));
        assert!(format!("{creds:?}").contains("admin"));
        for challenges in [
            parse_challenges(["Basic realm=r"]),
            rfc7616_challenge("SHA-256"),
        ] {
            let mut auth = Authenticator::new(creds.clone(), &challenges).unwrap();
            auth.authorization("DESCRIBE", "rtsp://h/");
            let dbg = format!("{auth:?} {auth:#?}");
            assert!(!dbg.contains(PW), "{dbg}");
            assert!(dbg.contains("<redacted>"));
        }
    }

    #[test]
    fn header_values_are_escaped() {
        let challenges = parse_challenges(["Digest realm=\"r\", nonce=\"n\""]);
        let mut auth =
            Authenticator::new(Credentials::new("we\"ird\\user\r\nX: y", "pw"), &challenges)
                .unwrap();
        let h = auth.authorization("DESCRIBE", "rtsp://h/");
        assert!(!h.contains('\r') && !h.contains('\n'));
        assert!(
            h.starts_with("Digest username=\"we\\\"ird\\\\userX: y\""),
            "{h}"
        );
    }

    #[test]
    fn parser_never_panics() {
        for v in [
            "\"",
            "\\",
            "=",
            "==,,==",
            "Digest \"",
            "Digest realm=\"",
            "Digest realm=\"\\",
            "Digest realm",
            "Digest =x",
            ",,,",
            "é=é, Digest é=\"é\\é\", nonce=é",
            "Digest nonce=\"n\", realm=\"é",
            "\u{0}\u{7f}",
        ] {
            let _ = parse_challenges([v]);
        }
    }

    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        const ALPHABET: &[&str] = &[
            "Digest",
            "Basic",
            "realm",
            "nonce",
            "qop",
            "auth",
            "stale",
            "true",
            "algorithm",
            "SHA-256",
            "MD5-sess",
            "opaque",
            "=",
            "\"",
            "\\",
            ",",
            " ",
            "\t",
            "é",
            "x",
            "==",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let n = rng.gen_range(0..16);
            let v: String = (0..n)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
                .collect();
            let challenges = parse_challenges([v.as_str()]);
            if let Some(mut auth) = Authenticator::new(mufasa(), &challenges) {
                let _ = auth.authorization("OPTIONS", &v);
                let _ = auth.on_unauthorized(&challenges);
            }
        }
    }
}
