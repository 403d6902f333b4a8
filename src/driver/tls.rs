//! RTSP over TLS (`rtsps://`, RFC 7826 section 19.3): the rustls client
//! configuration from the elements' `tls-*` properties, and the bounded
//! handshake.
//!
//! rustls, not GIO's TLS as C `rtspsrc` uses: it is memory-safe, needs no
//! GLib main context or TLS backend module at run time (glib-networking is
//! often missing from minimal images, and then GIO has no TLS at all), and
//! its sans-IO core fits this driver's tokio tasks. The cryptography is
//! `ring`'s, through rustls; nothing here is home-made.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::error::{ClientError, ErrorKind};
use super::tls_verify::{Refused, Verifier, problem};

/// What the user configured for TLS (the elements' `tls-*` properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Certificate problems that refuse the server (GIO's
    /// `GTlsCertificateFlags` bits, see [`problem`]).
    pub validation_flags: u32,
    /// PEM file of the certificate authorities to trust instead of the
    /// system's.
    pub ca_file: Option<PathBuf>,
    /// PEM file with our certificate chain for servers that ask for one
    /// (mutual TLS); the key is in `key_file`, or in this file too.
    pub certificate_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// SHA-256 of a server certificate to accept whatever its problems
    /// (a camera's self-signed certificate, pinned).
    pub accepted_fingerprint: Option<[u8; 32]>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            validation_flags: problem::VALIDATE_ALL,
            ca_file: None,
            certificate_file: None,
            key_file: None,
            accepted_fingerprint: None,
        }
    }
}

/// The system's trust store, read once per process (hundreds of sessions
/// must not each parse `/etc/ssl/certs`). Unreadable entries are skipped;
/// an empty store refuses every server, with the unknown-issuer reason.
static SYSTEM_ROOTS: LazyLock<Arc<Vec<TrustAnchor<'static>>>> = LazyLock::new(|| {
    let found = rustls_native_certs::load_native_certs();
    Arc::new(
        found
            .certs
            .iter()
            .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
            .map(|a| a.to_owned())
            .collect(),
    )
});

fn settings_error(message: String) -> ClientError {
    ClientError::new(ErrorKind::Settings, message)
}

fn read_certificates(
    path: &PathBuf,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|err| {
            settings_error(format!(
                "Could not read the {what} {}: {err}",
                path.display()
            ))
        })?
        .collect();
    let certs = certs.map_err(|err| {
        settings_error(format!(
            "Invalid PEM in the {what} {}: {err}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(settings_error(format!(
            "The {what} {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn roots(options: &TlsOptions) -> Result<Arc<Vec<TrustAnchor<'static>>>, ClientError> {
    let Some(path) = &options.ca_file else {
        return Ok(SYSTEM_ROOTS.clone());
    };
    let anchors: Result<Vec<_>, _> = read_certificates(path, "tls-ca-file")?
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).map(|a| a.to_owned()))
        .collect();
    anchors.map(Arc::new).map_err(|err| {
        settings_error(format!(
            "A certificate in tls-ca-file {} cannot be a trust anchor: {err}",
            path.display()
        ))
    })
}

/// The rustls configuration for `options`. Files are read here, once per
/// connection, so that a renewed certificate is used at the next connect.
pub fn client_config(options: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier::new(
        roots(options)?,
        options.validation_flags,
        options.accepted_fingerprint,
        provider.clone(),
    );
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| settings_error(format!("TLS set-up failed: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match &options.certificate_file {
        None => builder.with_no_client_auth(),
        Some(cert_path) => {
            let chain = read_certificates(cert_path, "tls-certificate-file")?;
            let key_path = options.key_file.as_ref().unwrap_or(cert_path);
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|err| {
                settings_error(format!(
                    "Could not read a private key from {}: {err}",
                    key_path.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|err| {
                settings_error(format!("The client certificate cannot be used: {err}"))
            })?
        }
    };
    Ok(Arc::new(config))
}

/// TLS handshake on a connected socket, within `timeout`.
pub async fn handshake(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let config = client_config(options)?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| settings_error(format!("\"{host}\" is not a host name TLS can check")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(ClientError::new(
            ErrorKind::Timeout,
            format!("TLS handshake with {host} not finished within {timeout:?}"),
        )),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(handshake_error(host, &err)),
    }
}

fn handshake_error(host: &str, err: &std::io::Error) -> ClientError {
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
        rustls_error
        && let Some(refused) = other.0.downcast_ref::<Refused>()
    {
        return ClientError::new(
            ErrorKind::Certificate,
            format!(
                "The certificate of {host} was refused: {refused} (see tls-validation-flags, \
                 tls-ca-file and tls-accepted-certificate)"
            ),
        );
    }
    match rustls_error {
        Some(err) => ClientError::new(
            ErrorKind::Connect,
            format!("TLS handshake with {host} failed: {err}"),
        ),
        None => ClientError::new(
            ErrorKind::Connect,
            format!("TLS handshake with {host} failed: {err}"),
        ),
    }
}
