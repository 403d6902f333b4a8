//! The `tls-*` properties of both elements (RTSP over TLS, `rtsps://`).

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;

use crate::driver::tls::TlsOptions;
use crate::driver::tls_verify::parse_fingerprint;

const CHECKED: &str = "type checked upstream";

/// The TLS part of the shared settings; `options` is what the driver uses.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub options: TlsOptions,
    /// `tls-accepted-certificate` as the user wrote it, to read back.
    accepted_text: Option<String>,
}

fn path_value(path: &Option<PathBuf>) -> glib::Value {
    path.as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .to_value()
}

fn path_from(value: &glib::Value) -> Option<PathBuf> {
    value
        .get::<Option<String>>()
        .expect(CHECKED)
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
}

impl TlsSettings {
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecFlags::builder::<gio::TlsCertificateFlags>("tls-validation-flags")
                .nick("TLS validation flags")
                .blurb("Problems of the server's certificate that refuse an rtsps:// server (GIO's flags, as C rtspsrc); e.g. without unknown-ca a self-signed certificate is accepted, but a wrong host name or an expired certificate still are not")
                .default_value(gio::TlsCertificateFlags::VALIDATE_ALL)
                .build(),
            glib::ParamSpecString::builder("tls-ca-file")
                .nick("TLS CA file")
                .blurb("PEM file of the certificate authorities to trust for rtsps:// instead of the system's trust store (for a private CA)")
                .build(),
            glib::ParamSpecString::builder("tls-certificate-file")
                .nick("TLS client certificate file")
                .blurb("PEM file with the client certificate chain to present to servers that ask for one (mutual TLS); may hold the private key too")
                .build(),
            glib::ParamSpecString::builder("tls-key-file")
                .nick("TLS client key file")
                .blurb("PEM file with the private key of tls-certificate-file, when that file does not hold it")
                .build(),
            glib::ParamSpecString::builder("tls-accepted-certificate")
                .nick("TLS accepted certificate")
                .blurb("SHA-256 fingerprint (hex, colons allowed, as openssl x509 -fingerprint -sha256 prints it) of one server certificate to accept as it is, whatever tls-validation-flags say: a camera's self-signed certificate, pinned")
                .build(),
        ]
    }

    /// Set a `tls-*` property; `Ok(false)` when `name` is not one.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> Result<bool, String> {
        match name {
            "tls-validation-flags" => {
                let flags: gio::TlsCertificateFlags = value.get().expect(CHECKED);
                self.options.validation_flags = flags.bits();
            }
            "tls-ca-file" => self.options.ca_file = path_from(value),
            "tls-certificate-file" => self.options.certificate_file = path_from(value),
            "tls-key-file" => self.options.key_file = path_from(value),
            "tls-accepted-certificate" => {
                let text: Option<String> = value.get().expect(CHECKED);
                match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    None => {
                        self.options.accepted_fingerprint = None;
                        self.accepted_text = None;
                    }
                    Some(t) => {
                        let fingerprint = parse_fingerprint(t).ok_or_else(|| {
                            format!("Ignoring tls-accepted-certificate '{t}': not a SHA-256 fingerprint (64 hex digits)")
                        })?;
                        self.options.accepted_fingerprint = Some(fingerprint);
                        self.accepted_text = Some(t.to_string());
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "tls-validation-flags" => {
                gio::TlsCertificateFlags::from_bits_truncate(self.options.validation_flags)
                    .to_value()
            }
            "tls-ca-file" => path_value(&self.options.ca_file),
            "tls-certificate-file" => path_value(&self.options.certificate_file),
            "tls-key-file" => path_value(&self.options.key_file),
            "tls-accepted-certificate" => self.accepted_text.to_value(),
            _ => return None,
        })
    }
}
