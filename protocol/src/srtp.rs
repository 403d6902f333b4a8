//! SRTP for RTSP, the pure parts: which RTP profile a media section or a
//! SETUP uses (RFC 3711 RTP/SAVP, RFC 5124 RTP/SAVPF), what a MIKEY
//! message (RFC 3830) carried by `a=key-mgmt` (RFC 4567 §3.2) or the
//! `KeyMgmt` header (RFC 4567 §3.3) means as SRTP parameters, and that
//! header's syntax.
//!
//! MIKEY's binary format is parsed and written by GStreamer (the element
//! glue reads a parsed message into a [`MikeyContent`]); what is decided
//! here is whether its content is something this client can use, and
//! how: pre-shared-key MIKEY only (the key travels in the clear inside
//! RTSP, which is what gst-rtsp-server and C `rtspsrc` do), SRTP crypto
//! sessions, AES-CM or NULL encryption, HMAC-SHA1 or NULL authentication.
//!
//! Key material never appears in `Debug` output: [`SrtpKeys`] redacts it.

use std::fmt;

/// Salt length of every cipher supported here (RFC 3711 §8.2: 112 bits).
pub const SALT_LEN: usize = 14;

/// An RTP profile: AVP (RFC 3551), AVPF (RFC 4585), SAVP (RFC 3711),
/// SAVPF (RFC 5124).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Profile {
    /// SRTP: the S in SAVP.
    pub secure: bool,
    /// RTCP feedback (early NACKs): the F in AVPF.
    pub feedback: bool,
}

impl Profile {
    pub const AVP: Profile = Profile {
        secure: false,
        feedback: false,
    };

    /// The profile of an SDP `m=` proto or a Transport spec, in any case,
    /// with or without a lower transport (`RTP/SAVP/TCP`); None for what
    /// is not one of the four RTP profiles.
    pub fn from_proto(proto: &str) -> Option<Profile> {
        let upper = proto.trim().to_ascii_uppercase();
        let name = upper
            .strip_suffix("/TCP")
            .or_else(|| upper.strip_suffix("/UDP"))
            .unwrap_or(&upper);
        let (secure, feedback) = match name {
            "RTP/AVP" => (false, false),
            "RTP/AVPF" => (false, true),
            "RTP/SAVP" => (true, false),
            "RTP/SAVPF" => (true, true),
            _ => return None,
        };
        Some(Profile { secure, feedback })
    }

    /// `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP` or `RTP/SAVPF`.
    pub fn name(self) -> &'static str {
        match (self.secure, self.feedback) {
            (false, false) => "RTP/AVP",
            (false, true) => "RTP/AVPF",
            (true, false) => "RTP/SAVP",
            (true, true) => "RTP/SAVPF",
        }
    }

    /// The bit of this profile in GStreamer's `GstRTSPProfile` flags.
    pub fn flag(self) -> u32 {
        match (self.secure, self.feedback) {
            (false, false) => PROFILE_AVP,
            (true, false) => PROFILE_SAVP,
            (false, true) => PROFILE_AVPF,
            (true, true) => PROFILE_SAVPF,
        }
    }
}

/// `GstRTSPProfile` flag values (gst/rtsp/gstrtsptransport.h).
pub const PROFILE_AVP: u32 = 1;
pub const PROFILE_SAVP: u32 = 2;
pub const PROFILE_AVPF: u32 = 4;
pub const PROFILE_SAVPF: u32 = 8;

/// The profile `rtspsink` announces and sets up a stream with, from its
/// `profiles` flags: secure when any secure profile is allowed (asking
/// for SRTP means wanting it); with feedback when the stream retransmits
/// (`rtx-time`: NACKs need early feedback, as before SRTP existed here)
/// or when the allowed profiles of that security all have feedback.
pub fn sink_profile(profiles: u32, retransmits: bool) -> Profile {
    let secure = profiles & (PROFILE_SAVP | PROFILE_SAVPF) != 0;
    let (plain, with_feedback) = if secure {
        (PROFILE_SAVP, PROFILE_SAVPF)
    } else {
        (PROFILE_AVP, PROFILE_AVPF)
    };
    let feedback = retransmits || (profiles & with_feedback != 0 && profiles & plain == 0);
    Profile { secure, feedback }
}

/// An SRTP encryption transform (RFC 3711 §4.1) as `srtpenc`/`srtpdec`
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Null,
    Aes128Icm,
    Aes256Icm,
}

impl Cipher {
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Null => "null",
            Cipher::Aes128Icm => "aes-128-icm",
            Cipher::Aes256Icm => "aes-256-icm",
        }
    }

    /// Master key length without the salt. NULL encryption still derives
    /// the authentication key from a 128-bit master key (libsrtp, as
    /// GStreamer's `srtp` elements use it).
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Null | Cipher::Aes128Icm => 16,
            Cipher::Aes256Icm => 32,
        }
    }
}

/// An SRTP message authentication (RFC 3711 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Null,
    HmacSha1_32,
    HmacSha1_80,
}

impl Auth {
    pub fn name(self) -> &'static str {
        match self {
            Auth::Null => "null",
            Auth::HmacSha1_32 => "hmac-sha1-32",
            Auth::HmacSha1_80 => "hmac-sha1-80",
        }
    }
}

/// The master key and salt of one direction of a stream and the
/// transforms they are used with.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Master key followed by the master salt (what `srtpenc`'s `key`
    /// and the `srtp-key` caps field hold).
    pub master: Vec<u8>,
    pub rtp_cipher: Cipher,
    pub rtp_auth: Auth,
    pub rtcp_cipher: Cipher,
    pub rtcp_auth: Auth,
}

impl fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("master", &format_args!("<{} bytes>", self.master.len()))
            .field("rtp_cipher", &self.rtp_cipher)
            .field("rtp_auth", &self.rtp_auth)
            .field("rtcp_cipher", &self.rtcp_cipher)
            .field("rtcp_auth", &self.rtcp_auth)
            .finish()
    }
}

impl SrtpKeys {
    /// AES-128-CM with HMAC-SHA1-80 for RTP and RTCP (RFC 3711's default
    /// transforms, and `srtpenc`'s) with `master` (30 bytes).
    pub fn default_transforms(master: Vec<u8>) -> SrtpKeys {
        SrtpKeys {
            master,
            rtp_cipher: Cipher::Aes128Icm,
            rtp_auth: Auth::HmacSha1_80,
            rtcp_cipher: Cipher::Aes128Icm,
            rtcp_auth: Auth::HmacSha1_80,
        }
    }

    /// Master key and salt length for the default transforms.
    pub const DEFAULT_MASTER_LEN: usize = 16 + SALT_LEN;
}

/// One crypto session of a MIKEY CS ID map of type SRTP (RFC 3830
/// §6.1.1): the security policy that applies to an SSRC and the
/// rollover counter to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoSession {
    pub policy: u8,
    pub ssrc: u32,
    pub roc: u32,
}

/// A Security Policy payload (RFC 3830 §6.10): its number, whether it is
/// for SRTP, and its parameters as (type, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPolicy {
    pub policy: u8,
    pub srtp: bool,
    pub params: Vec<(u8, Vec<u8>)>,
}

/// One Key data sub-payload (RFC 3830 §6.13).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyData {
    /// Key type: 0 TGK, 1 TGK+SALT, 2 TEK, 3 TEK+SALT.
    pub key_type: u8,
    pub key: Vec<u8>,
    pub salt: Vec<u8>,
}

impl fmt::Debug for KeyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyData {{ type {}, <{} key bytes>, <{} salt bytes> }}",
            self.key_type,
            self.key.len(),
            self.salt.len()
        )
    }
}

/// What a parsed MIKEY message holds that matters for SRTP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MikeyContent {
    /// The common header's data type: 0 is "Pre-shared key init message".
    pub data_type: i32,
    /// CS ID map type: 0 is SRTP.
    pub map_type: i32,
    pub crypto_sessions: Vec<CryptoSession>,
    pub policies: Vec<SecurityPolicy>,
    /// The KEMAC payload, if any: whether its keys are in the clear
    /// (encryption NULL, MAC NULL, RFC 3830 §6.2) and its key data.
    pub kemac: Option<(bool, Vec<KeyData>)>,
}

/// MIKEY data types (RFC 3830 §6.1).
pub const MIKEY_PSK_INIT: i32 = 0;
/// CS ID map type SRTP-ID (RFC 3830 §6.1).
pub const MIKEY_MAP_SRTP: i32 = 0;

/// Why a MIKEY message cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MikeyError(pub String);

impl fmt::Display for MikeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MikeyError {}

fn unsupported(what: impl Into<String>) -> MikeyError {
    MikeyError(what.into())
}

// Security policy parameter types for SRTP (RFC 3830 §6.10.1).
const SP_ENC_ALG: u8 = 0;
const SP_ENC_KEY_LEN: u8 = 1;
const SP_AUTH_ALG: u8 = 2;
const SP_AUTH_KEY_LEN: u8 = 3;
const SP_SALT_KEY_LEN: u8 = 4;
const SP_PRF: u8 = 5;
const SP_KEY_DERIVATION_RATE: u8 = 6;
const SP_SRTP_ENC: u8 = 7;
const SP_SRTCP_ENC: u8 = 8;
const SP_SRTP_AUTH: u8 = 10;
const SP_AUTH_TAG_LEN: u8 = 11;
const SP_PREFIX_LEN: u8 = 12;

/// The SRTP keys a MIKEY message gives, and its crypto sessions (SSRC,
/// rollover counter).
///
/// Accepted: a pre-shared-key init message (RFC 3830 §3.1) with an SRTP
/// CS ID map, a KEMAC in the clear with a TEK (with or without a
/// separate salt, key and salt making the master key and salt), and a
/// security policy (RFC 3830 §6.10.1, defaults where a parameter is
/// absent) of AES-CM or NULL encryption with a 128 or 256-bit key, a
/// 112-bit salt, HMAC-SHA1 or NULL authentication with a 32 or 80-bit
/// tag, the default PRF and no key derivation rate. Anything else is an
/// error naming it: a message this client cannot decrypt with must fail
/// loudly rather than leave the stream silent.
pub fn keys_from_mikey(
    content: &MikeyContent,
) -> Result<(SrtpKeys, Vec<CryptoSession>), MikeyError> {
    if content.data_type != MIKEY_PSK_INIT {
        return Err(unsupported(format!(
            "MIKEY message of type {} is not a pre-shared-key init message (only MIKEY-PSK with keys in the clear is supported, RFC 3830 §3.1)",
            content.data_type
        )));
    }
    if content.map_type != MIKEY_MAP_SRTP {
        return Err(unsupported(format!(
            "MIKEY CS ID map type {} is not SRTP",
            content.map_type
        )));
    }
    let (clear, keys) = content
        .kemac
        .as_ref()
        .ok_or_else(|| unsupported("MIKEY message carries no key (no KEMAC payload)"))?;
    if !clear {
        return Err(unsupported(
            "MIKEY keys are encrypted or MACed (only NULL KEMAC encryption is supported)",
        ));
    }
    let key = keys
        .first()
        .ok_or_else(|| unsupported("MIKEY KEMAC payload holds no key data"))?;
    if !matches!(key.key_type, 2 | 3) {
        return Err(unsupported(format!(
            "MIKEY key data of type {} (a TGK would need MIKEY's PRF, RFC 3830 §4.1.3); only TEKs are supported",
            key.key_type
        )));
    }
    // The policy of the first crypto session applies (all sessions of a
    // bundle use the same one in practice; GStreamer writes policy 0).
    let policy_no = content.crypto_sessions.first().map_or(0, |cs| cs.policy);
    let policy = content
        .policies
        .iter()
        .find(|p| p.policy == policy_no)
        .or(content.policies.first());
    let mut keys = policy_keys(policy)?;
    let mut master = key.key.clone();
    master.extend_from_slice(&key.salt);
    let wanted = keys.rtp_cipher.key_len() + SALT_LEN;
    if master.len() != wanted {
        return Err(unsupported(format!(
            "MIKEY master key and salt are {} bytes, {} needs {wanted}",
            master.len(),
            keys.rtp_cipher.name()
        )));
    }
    keys.master = master;
    Ok((keys, content.crypto_sessions.clone()))
}

/// The transforms of a security policy, RFC 3830 §6.10.1 defaults for
/// what it does not say.
fn policy_keys(policy: Option<&SecurityPolicy>) -> Result<SrtpKeys, MikeyError> {
    let mut keys = SrtpKeys::default_transforms(Vec::new());
    let Some(policy) = policy else {
        return Ok(keys);
    };
    if !policy.srtp {
        return Err(unsupported("MIKEY security policy is not for SRTP"));
    }
    let mut aes = true;
    let mut key_len = 16usize;
    let mut auth = true;
    let mut tag = Auth::HmacSha1_80;
    let mut rtp_enc = true;
    let mut rtcp_enc = true;
    for (kind, value) in &policy.params {
        let byte = value.first().copied().unwrap_or(0);
        let bad = || {
            unsupported(format!(
                "MIKEY SRTP policy parameter {kind} = {byte} is not supported"
            ))
        };
        match *kind {
            SP_ENC_ALG => match byte {
                0 => aes = false,
                1 => aes = true,
                // 2 is AES-F8, which srtpdec does not implement.
                _ => return Err(bad()),
            },
            SP_ENC_KEY_LEN => match byte {
                16 | 32 => key_len = byte as usize,
                _ => return Err(bad()),
            },
            SP_AUTH_ALG => match byte {
                0 => auth = false,
                1 => auth = true,
                _ => return Err(bad()),
            },
            // 20 is HMAC-SHA1's key length (RFC 3711 §8.2). GStreamer's
            // gst-rtsp-server reads 4 and 10 here as the tag length
            // (docs/QUIRKS.md, "MIKEY"), so those mean that too.
            SP_AUTH_KEY_LEN => match byte {
                20 => {}
                4 => tag = Auth::HmacSha1_32,
                10 => tag = Auth::HmacSha1_80,
                _ => return Err(bad()),
            },
            SP_SALT_KEY_LEN if byte as usize != SALT_LEN => return Err(bad()),
            SP_PRF | SP_KEY_DERIVATION_RATE | SP_PREFIX_LEN if byte != 0 => return Err(bad()),
            SP_SRTP_ENC => rtp_enc = byte != 0,
            SP_SRTCP_ENC => rtcp_enc = byte != 0,
            SP_SRTP_AUTH => auth = auth && byte != 0,
            // In bytes in GStreamer's messages, in bits in some others.
            SP_AUTH_TAG_LEN => match byte {
                4 | 32 => tag = Auth::HmacSha1_32,
                10 | 80 => tag = Auth::HmacSha1_80,
                _ => return Err(bad()),
            },
            _ => {}
        }
    }
    let cipher = match (aes, key_len) {
        (false, _) => Cipher::Null,
        (true, 32) => Cipher::Aes256Icm,
        (true, _) => Cipher::Aes128Icm,
    };
    let auth = if auth { tag } else { Auth::Null };
    // The master key length follows the cipher; NULL encryption keeps
    // AES-128's (see Cipher::key_len).
    keys.rtp_cipher = if rtp_enc { cipher } else { Cipher::Null };
    keys.rtcp_cipher = if rtcp_enc { cipher } else { Cipher::Null };
    if keys.rtp_cipher == Cipher::Null && cipher == Cipher::Aes256Icm {
        return Err(unsupported(
            "MIKEY policy with a 256-bit key but SRTP encryption off",
        ));
    }
    keys.rtp_auth = auth;
    keys.rtcp_auth = auth;
    Ok(keys)
}

/// The MIKEY data of an SDP `a=key-mgmt` value (`mikey <base64>`, RFC
/// 4567 §3.2); None for other key management protocols.
pub fn mikey_from_attribute(value: &str) -> Option<&str> {
    let mut parts = value.trim().splitn(2, char::is_whitespace);
    let prot = parts.next()?;
    let data = parts.next()?.trim();
    (prot.eq_ignore_ascii_case("mikey") && !data.is_empty()).then_some(data)
}

/// A `KeyMgmt` header value (RFC 4567 §3.3): `prot=mikey;
/// uri="<url>"; data="<base64>"`, the form gst-rtsp-server parses.
pub fn key_mgmt_header(uri: &str, data: &str) -> String {
    format!("prot=mikey; uri=\"{uri}\"; data=\"{data}\"")
}

/// One key-mgmt-spec of a `KeyMgmt` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMgmtSpec {
    pub prot: String,
    pub uri: Option<String>,
    pub data: Option<String>,
}

/// The specs of a `KeyMgmt` header (RFC 4567 §3.3: comma-separated, each
/// `prot=...` and `;`-separated `uri="..."` and `data="..."`). A comma
/// inside a quoted URI does not split.
pub fn parse_key_mgmt(value: &str) -> Vec<KeyMgmtSpec> {
    split_outside_quotes(value, ',')
        .into_iter()
        .filter_map(|spec| {
            let mut prot = None;
            let mut uri = None;
            let mut data = None;
            for part in split_outside_quotes(spec, ';') {
                let Some((name, value)) = part.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"').to_string();
                match name.trim().to_ascii_lowercase().as_str() {
                    "prot" => prot = Some(value),
                    "uri" => uri = Some(value),
                    "data" => data = Some(value),
                    _ => {}
                }
            }
            Some(KeyMgmtSpec {
                prot: prot?,
                uri,
                data,
            })
        })
        .collect()
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..at]);
            start = at + 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gstreamer_policy() -> SecurityPolicy {
        // What GStreamer's gst_mikey_message_new_from_caps writes for
        // aes-128-icm / hmac-sha1-80.
        SecurityPolicy {
            policy: 0,
            srtp: true,
            params: vec![
                (SP_ENC_ALG, vec![1]),
                (SP_ENC_KEY_LEN, vec![16]),
                (SP_AUTH_ALG, vec![1]),
                (SP_AUTH_KEY_LEN, vec![20]),
                (SP_SRTP_ENC, vec![1]),
                (SP_SRTCP_ENC, vec![1]),
            ],
        }
    }

    fn content(policy: SecurityPolicy, key: Vec<u8>, salt: Vec<u8>) -> MikeyContent {
        MikeyContent {
            data_type: MIKEY_PSK_INIT,
            map_type: MIKEY_MAP_SRTP,
            crypto_sessions: vec![CryptoSession {
                policy: 0,
                ssrc: 0x1234_5678,
                roc: 3,
            }],
            policies: vec![policy],
            kemac: Some((
                true,
                vec![KeyData {
                    key_type: 2,
                    key,
                    salt,
                }],
            )),
        }
    }

    #[test]
    fn profiles_from_proto() {
        assert_eq!(Profile::from_proto("RTP/AVP"), Some(Profile::AVP));
        let savp = Profile::from_proto("rtp/savp").unwrap();
        assert!(savp.secure && !savp.feedback);
        let savpf = Profile::from_proto("RTP/SAVPF/TCP").unwrap();
        assert!(savpf.secure && savpf.feedback);
        assert_eq!(savpf.name(), "RTP/SAVPF");
        assert_eq!(Profile::from_proto("RTP/AVPF").unwrap().name(), "RTP/AVPF");
        assert_eq!(Profile::from_proto("UDP/TLS/RTP/SAVPF"), None);
        assert_eq!(savpf.flag(), PROFILE_SAVPF);
    }

    #[test]
    fn sink_profile_choice() {
        let p = |profiles, rtx| sink_profile(profiles, rtx).name();
        assert_eq!(p(PROFILE_AVP, false), "RTP/AVP");
        assert_eq!(p(PROFILE_AVP, true), "RTP/AVPF");
        assert_eq!(p(PROFILE_SAVP, false), "RTP/SAVP");
        assert_eq!(p(PROFILE_SAVP, true), "RTP/SAVPF");
        assert_eq!(p(PROFILE_SAVPF, false), "RTP/SAVPF");
        assert_eq!(p(PROFILE_AVPF, false), "RTP/AVPF");
        assert_eq!(p(PROFILE_AVP | PROFILE_SAVP, false), "RTP/SAVP");
        assert_eq!(p(PROFILE_SAVP | PROFILE_SAVPF, false), "RTP/SAVP");
    }

    #[test]
    fn gstreamer_mikey_gives_default_transforms() {
        let (keys, sessions) =
            keys_from_mikey(&content(gstreamer_policy(), vec![7; 30], vec![])).unwrap();
        assert_eq!(keys, SrtpKeys::default_transforms(vec![7; 30]));
        assert_eq!(sessions[0].ssrc, 0x1234_5678);
        assert_eq!(sessions[0].roc, 3);
        // Never the key in Debug output.
        assert!(!format!("{keys:?}").contains('7'));
    }

    #[test]
    fn separate_salt_and_256_bit_keys() {
        let mut policy = gstreamer_policy();
        policy.params[1] = (SP_ENC_KEY_LEN, vec![32]);
        policy.params.push((SP_AUTH_TAG_LEN, vec![4]));
        let (keys, _) = keys_from_mikey(&content(policy, vec![1; 32], vec![2; 14])).unwrap();
        assert_eq!(keys.rtp_cipher, Cipher::Aes256Icm);
        assert_eq!(keys.rtcp_auth, Auth::HmacSha1_32);
        assert_eq!(keys.master.len(), 46);
        assert_eq!(&keys.master[32..], &[2; 14]);
    }

    #[test]
    fn gst_rtsp_server_auth_key_len_quirk_and_null_transforms() {
        let mut policy = gstreamer_policy();
        policy.params[3] = (SP_AUTH_KEY_LEN, vec![4]);
        policy.params.push((SP_SRTCP_ENC, vec![0]));
        let (keys, _) = keys_from_mikey(&content(policy, vec![0; 30], vec![])).unwrap();
        assert_eq!(keys.rtp_auth, Auth::HmacSha1_32);
        assert_eq!(keys.rtp_cipher, Cipher::Aes128Icm);
        assert_eq!(keys.rtcp_cipher, Cipher::Null);
        // No policy at all: RFC 3830 defaults.
        let mut bare = content(gstreamer_policy(), vec![0; 30], vec![]);
        bare.policies.clear();
        assert_eq!(
            keys_from_mikey(&bare).unwrap().0,
            SrtpKeys::default_transforms(vec![0; 30])
        );
    }

    #[test]
    fn unusable_messages_are_errors() {
        let good = content(gstreamer_policy(), vec![0; 30], vec![]);
        let mut dh = good.clone();
        dh.data_type = 4;
        assert!(keys_from_mikey(&dh).unwrap_err().0.contains("pre-shared"));
        let mut encrypted = good.clone();
        encrypted.kemac.as_mut().unwrap().0 = false;
        assert!(keys_from_mikey(&encrypted).is_err());
        let mut no_key = good.clone();
        no_key.kemac = None;
        assert!(keys_from_mikey(&no_key).is_err());
        let mut f8 = good.clone();
        f8.policies[0].params[0] = (SP_ENC_ALG, vec![2]);
        assert!(
            keys_from_mikey(&f8)
                .unwrap_err()
                .0
                .contains("parameter 0 = 2")
        );
        let mut short = good.clone();
        short.kemac.as_mut().unwrap().1[0].key.truncate(16);
        assert!(keys_from_mikey(&short).unwrap_err().0.contains("needs 30"));
        let mut tgk = good.clone();
        tgk.kemac.as_mut().unwrap().1[0].key_type = 0;
        assert!(keys_from_mikey(&tgk).is_err());
        let mut kdr = good;
        kdr.policies[0]
            .params
            .push((SP_KEY_DERIVATION_RATE, vec![1]));
        assert!(keys_from_mikey(&kdr).is_err());
    }

    #[test]
    fn key_mgmt_attribute_and_header() {
        assert_eq!(mikey_from_attribute("mikey AQAFgM0="), Some("AQAFgM0="));
        assert_eq!(mikey_from_attribute("MIKEY  abc "), Some("abc"));
        assert_eq!(mikey_from_attribute("kerberos abc"), None);
        assert_eq!(mikey_from_attribute("mikey"), None);
        let header = key_mgmt_header("rtsp://h/a/stream=0", "AQAF");
        assert_eq!(
            header,
            "prot=mikey; uri=\"rtsp://h/a/stream=0\"; data=\"AQAF\""
        );
        let specs = parse_key_mgmt(&header);
        assert_eq!(
            specs,
            vec![KeyMgmtSpec {
                prot: "mikey".into(),
                uri: Some("rtsp://h/a/stream=0".into()),
                data: Some("AQAF".into()),
            }]
        );
        let two = parse_key_mgmt("prot=mikey;uri=\"rtsp://h/a,b\";data=\"X\", prot=other");
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].uri.as_deref(), Some("rtsp://h/a,b"));
        assert_eq!(two[1].prot, "other");
        assert!(parse_key_mgmt("garbage").is_empty());
    }
}
