//! Certificates for the TLS tests, made at run time with rcgen: a private
//! CA and the server and client certificates it issues, self-signed,
//! expired and wrong-name ones. Written as PEM files into a directory of
//! the test's own under the system's temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

/// A directory for one test's files (emptied first).
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtspclient-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A certificate and its key, in memory and as files.
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: String,
    pub certificate_file: PathBuf,
    pub key_file: PathBuf,
    /// SHA-256 of the DER certificate, colon-separated hex.
    pub fingerprint: String,
}

impl Issued {
    /// Certificate then key, as gst-rtsp-server (GIO) takes them.
    pub fn certificate_and_key(&self) -> String {
        format!("{}{}", self.certificate_pem, self.key_pem)
    }
}

/// Validity of a certificate.
#[derive(Clone, Copy)]
pub enum Validity {
    Current,
    Expired,
}

fn params(names: &[&str], validity: Validity) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("certificate names");
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("test"));
    if let Validity::Expired = validity {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    params
}

fn write(dir: &Path, stem: &str, certificate_pem: String, key: &KeyPair, der: &[u8]) -> Issued {
    let key_pem = key.serialize_pem();
    let certificate_file = dir.join(format!("{stem}.pem"));
    let key_file = dir.join(format!("{stem}.key"));
    std::fs::write(&certificate_file, &certificate_pem).expect("write certificate");
    std::fs::write(&key_file, &key_pem).expect("write key");
    let fingerprint = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Issued {
        certificate_pem,
        key_pem,
        certificate_file,
        key_file,
        fingerprint,
    }
}

/// A private certificate authority.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA certificate (PEM), to give as `tls-ca-file`.
    pub file: PathBuf,
}

impl Authority {
    pub fn new(dir: &Path, name: &str) -> Authority {
        let mut params = params(&[], Validity::Current);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let file = dir.join(format!("{name}.pem"));
        std::fs::write(&file, issuer.pem()).expect("write CA");
        Authority {
            issuer,
            dir: dir.to_path_buf(),
            file,
        }
    }

    /// A certificate for `names` (host names or IP addresses) issued by
    /// this CA, stored as `stem.pem` / `stem.key`.
    pub fn issue(&self, stem: &str, names: &[&str], validity: Validity) -> Issued {
        let key = KeyPair::generate().expect("key");
        let certificate = params(names, validity)
            .signed_by(&key, &self.issuer)
            .expect("issue certificate");
        write(&self.dir, stem, certificate.pem(), &key, certificate.der())
    }
}

/// A self-signed certificate for `names`, as cameras ship them.
pub fn self_signed(dir: &Path, stem: &str, names: &[&str], validity: Validity) -> Issued {
    let key = KeyPair::generate().expect("key");
    let certificate = params(names, validity)
        .self_signed(&key)
        .expect("self-signed certificate");
    write(dir, stem, certificate.pem(), &key, certificate.der())
}
