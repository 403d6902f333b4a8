//! Server certificate checks with GIO's semantics, so that
//! `tls-validation-flags` means what it means for C `rtspsrc`: every
//! problem a certificate has is found, and the certificate is refused when
//! one of them is among the flags (`G_TLS_CERTIFICATE_VALIDATE_ALL` by
//! default). rustls' own verifier stops at the first problem, so a user who
//! lets an unknown issuer through (a camera's self-signed certificate)
//! would also let through a wrong host name or an expired certificate.
//!
//! The chain and dates are checked by `webpki` (the checker rustls uses)
//! against the configured roots; names separately. Only what is decided
//! here is ours; every signature check is webpki's or rustls'.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256};

/// GIO's `GTlsCertificateFlags` values (the same bits, so the elements'
/// `tls-validation-flags` property carries them unchanged).
pub mod problem {
    pub const UNKNOWN_CA: u32 = 1 << 0;
    pub const BAD_IDENTITY: u32 = 1 << 1;
    pub const NOT_ACTIVATED: u32 = 1 << 2;
    pub const EXPIRED: u32 = 1 << 3;
    pub const REVOKED: u32 = 1 << 4;
    pub const INSECURE: u32 = 1 << 5;
    pub const GENERIC_ERROR: u32 = 1 << 6;
    pub const VALIDATE_ALL: u32 = 0x7f;
}

/// One problem of a certificate: its flag and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub flag: u32,
    pub what: String,
}

/// The certificate was refused; carried through rustls to the handshake's
/// caller, who turns it into the element error.
#[derive(Debug, Clone)]
pub struct Refused {
    pub problems: Vec<Problem>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<&str> = self.problems.iter().map(|p| p.what.as_str()).collect();
        write!(f, "{}", list.join("; "))
    }
}

impl std::error::Error for Refused {}

/// The verifier given to rustls.
#[derive(Debug)]
pub struct Verifier {
    roots: Arc<Vec<TrustAnchor<'static>>>,
    /// Problems that refuse a certificate (GIO flags).
    refuse: u32,
    /// SHA-256 of a certificate the user accepts as it is.
    accepted_fingerprint: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    pub fn new(
        roots: Arc<Vec<TrustAnchor<'static>>>,
        refuse: u32,
        accepted_fingerprint: Option<[u8; 32]>,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        Verifier {
            roots,
            refuse,
            accepted_fingerprint,
            provider,
        }
    }

    /// Every problem of `end_entity` for `server_name` at `now`.
    pub fn problems(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Vec<Problem> {
        let cert = match webpki::EndEntityCert::try_from(end_entity) {
            Ok(cert) => cert,
            Err(err) => {
                return vec![Problem {
                    flag: problem::GENERIC_ERROR,
                    what: format!("the certificate cannot be read ({err})"),
                }];
            }
        };
        let mut problems = Vec::new();
        if cert.verify_is_valid_for_subject_name(server_name).is_err() {
            problems.push(Problem {
                flag: problem::BAD_IDENTITY,
                what: format!("it is not valid for the host name {}", server_name.to_str()),
            });
        }
        problems.extend(self.chain_problems(&cert, intermediates, now));
        problems
    }

    /// The chain's problems. webpki checks a certificate's dates before it
    /// looks for its issuer and stops at the first problem, so a date
    /// problem would hide an unknown issuer (and with it a self-signed
    /// certificate from anyone, for a user who lets only expired ones
    /// through): after a date problem the chain is checked again at a time
    /// inside that certificate's validity, until no date problem is left.
    fn chain_problems(
        &self,
        cert: &webpki::EndEntityCert<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Vec<Problem> {
        let algorithms = self.provider.signature_verification_algorithms.all;
        let mut problems: Vec<Problem> = Vec::new();
        let mut at = now;
        // One date problem per certificate of a chain at most; bounded
        // all the same.
        for _ in 0..8 {
            let result = cert.verify_for_usage(
                algorithms,
                &self.roots,
                intermediates,
                at,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            );
            let err = match result {
                Ok(_) => return problems,
                Err(err) => err,
            };
            let inside = match &err {
                webpki::Error::CertExpired { not_after, .. } => UnixTime::since_unix_epoch(
                    Duration::from_secs(not_after.as_secs().saturating_sub(1)),
                ),
                webpki::Error::CertNotValidYet { not_before, .. } => UnixTime::since_unix_epoch(
                    Duration::from_secs(not_before.as_secs().saturating_add(1)),
                ),
                webpki::Error::UnknownIssuer => {
                    problems.push(Problem {
                        flag: problem::UNKNOWN_CA,
                        what: "it is issued by an unknown certificate authority \
                               (self-signed, or a private CA not given in tls-ca-file)"
                            .into(),
                    });
                    return problems;
                }
                other => {
                    problems.push(chain_problem(other));
                    return problems;
                }
            };
            if let Some(p) = date_problem(&err)
                && !problems.contains(&p)
            {
                problems.push(p);
            }
            if inside == at {
                break;
            }
            at = inside;
        }
        problems.push(Problem {
            flag: problem::GENERIC_ERROR,
            what: "its chain's validity periods do not overlap".into(),
        });
        problems
    }
}

fn date_problem(err: &webpki::Error) -> Option<Problem> {
    match err {
        webpki::Error::CertExpired { .. } => Some(Problem {
            flag: problem::EXPIRED,
            what: "it has expired".into(),
        }),
        webpki::Error::CertNotValidYet { .. } => Some(Problem {
            flag: problem::NOT_ACTIVATED,
            what: "it is not valid yet".into(),
        }),
        _ => None,
    }
}

fn chain_problem(err: &webpki::Error) -> Problem {
    use webpki::Error as E;
    match err {
        E::CertRevoked => Problem {
            flag: problem::REVOKED,
            what: "it has been revoked".into(),
        },
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => Problem {
            flag: problem::INSECURE,
            what: format!("it uses an insecure or unsupported algorithm ({err})"),
        },
        _ => Problem {
            flag: problem::GENERIC_ERROR,
            what: format!("its chain is invalid ({err})"),
        },
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(accepted) = self.accepted_fingerprint
            && Sha256::digest(end_entity.as_ref()).as_slice() == accepted
        {
            return Ok(ServerCertVerified::assertion());
        }
        let refused: Vec<Problem> = self
            .problems(end_entity, intermediates, server_name, now)
            .into_iter()
            .filter(|p| p.flag & self.refuse != 0)
            .collect();
        if refused.is_empty() {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(Refused { problems: refused })),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Parse a SHA-256 fingerprint as printed by `openssl x509 -fingerprint
/// -sha256` (colons) or as plain hex; case and spaces do not matter.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b':' | b' ' | b'\t'))
        .collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_in_both_spellings() {
        let plain = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let colons = plain
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let a = parse_fingerprint(plain).unwrap();
        assert_eq!(parse_fingerprint(&colons), Some(a));
        assert_eq!(a[1], 0x11);
        assert_eq!(a[31], 0xff);
        assert_eq!(parse_fingerprint("00:11"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }
}
