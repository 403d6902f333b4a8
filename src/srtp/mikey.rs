//! MIKEY messages (RFC 3830) through GStreamer's own implementation
//! (`GstMIKEYMessage` in libgstsdp, the one gst-rtsp-server and C
//! `rtspsrc` use). The `gstreamer-sdp` crate has no binding for it, so
//! this is a thin safe wrapper over `gstreamer-sdp-sys`: parsing reads a
//! message into the protocol core's [`MikeyContent`], whose meaning is
//! decided there ([`keys_from_mikey`]); writing goes through
//! `gst_mikey_message_new_from_caps`, so what we send is exactly what a
//! GStreamer peer writes and reads.

use std::ptr;

use gst::glib;
use gst::glib::translate::*;
use gst_sdp_sys as ffi;
use rtspclient_protocol::srtp::{
    CryptoSession, KeyData, MikeyContent, MikeyError, SecurityPolicy, SrtpKeys, keys_from_mikey,
};

/// An owned `GstMIKEYMessage`.
struct Message(ptr::NonNull<ffi::GstMIKEYMessage>);

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: we hold the only reference, from a constructor that
        // returned a new one.
        unsafe { gst::ffi::gst_mini_object_unref(self.0.as_ptr().cast()) }
    }
}

impl Message {
    fn as_ptr(&self) -> *mut ffi::GstMIKEYMessage {
        self.0.as_ptr()
    }
}

/// Copy `len` bytes at `data` (NULL or 0 long: nothing).
///
/// SAFETY: `data` must point at `len` readable bytes when not NULL.
unsafe fn bytes(data: *const u8, len: usize) -> Vec<u8> {
    if data.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: see the function's contract.
    unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
}

/// What the base64 MIKEY data of an `a=key-mgmt:mikey` attribute or a
/// `KeyMgmt` header holds.
pub fn parse(base64: &str) -> Result<MikeyContent, MikeyError> {
    let data = glib::base64_decode(base64.trim());
    if data.is_empty() {
        return Err(MikeyError("MIKEY data is not base64".into()));
    }
    let mut error: *mut glib::ffi::GError = ptr::null_mut();
    // SAFETY: data outlives the call; no decryption info (NULL) means
    // keys encrypted in the KEMAC stay encrypted, which keys_from_mikey
    // refuses.
    let raw = unsafe {
        ffi::gst_mikey_message_new_from_data(
            data.as_ptr().cast(),
            data.len(),
            ptr::null_mut(),
            &mut error,
        )
    };
    let Some(raw) = ptr::NonNull::new(raw) else {
        let reason = if error.is_null() {
            "not a MIKEY message".to_string()
        } else {
            // SAFETY: a GError the call gave us, freed here.
            let err: glib::Error = unsafe { from_glib_full(error) };
            err.message().to_string()
        };
        return Err(MikeyError(format!("Cannot parse MIKEY data: {reason}")));
    };
    let message = Message(raw);
    // SAFETY: the message is valid while `message` lives; every pointer
    // read below comes from its accessors and is checked for NULL.
    unsafe { read(&message) }
}

/// SAFETY: `message` must be a valid parsed message.
unsafe fn read(message: &Message) -> Result<MikeyContent, MikeyError> {
    let msg = message.as_ptr();
    // SAFETY: valid message (the caller's contract).
    let header = unsafe { &*msg };
    let mut content = MikeyContent {
        data_type: header.type_,
        map_type: header.map_type,
        ..MikeyContent::default()
    };
    if header.map_type == ffi::GST_MIKEY_MAP_TYPE_SRTP {
        // SAFETY: the map is an array of GstMIKEYMapSRTP for this type.
        let n = unsafe { ffi::gst_mikey_message_get_n_cs(msg) };
        for i in 0..n {
            // SAFETY: index below the count.
            let cs = unsafe { ffi::gst_mikey_message_get_cs_srtp(msg, i) };
            if let Some(cs) = unsafe { cs.as_ref() } {
                content.crypto_sessions.push(CryptoSession {
                    policy: cs.policy,
                    ssrc: cs.ssrc,
                    roc: cs.roc,
                });
            }
        }
    }
    for nth in 0.. {
        // SAFETY: find_payload returns NULL past the last one.
        let payload =
            unsafe { ffi::gst_mikey_message_find_payload(msg, ffi::GST_MIKEY_PT_SP, nth) };
        if payload.is_null() {
            break;
        }
        // SAFETY: an SP payload is a GstMIKEYPayloadSP.
        let sp = unsafe { &*(payload as *const ffi::GstMIKEYPayloadSP) };
        let mut params = Vec::new();
        let n = unsafe { ffi::gst_mikey_payload_sp_get_n_params(payload) };
        for i in 0..n {
            // SAFETY: index below the count; val holds len bytes.
            let param = unsafe { ffi::gst_mikey_payload_sp_get_param(payload, i) };
            if let Some(param) = unsafe { param.as_ref() } {
                params.push((param.type_, unsafe { bytes(param.val, param.len as usize) }));
            }
        }
        content.policies.push(SecurityPolicy {
            policy: sp.policy as u8,
            srtp: sp.proto == ffi::GST_MIKEY_SEC_PROTO_SRTP,
            params,
        });
    }
    // SAFETY: as above.
    let payload = unsafe { ffi::gst_mikey_message_find_payload(msg, ffi::GST_MIKEY_PT_KEMAC, 0) };
    if !payload.is_null() {
        // SAFETY: a KEMAC payload is a GstMIKEYPayloadKEMAC.
        let kemac = unsafe { &*(payload as *const ffi::GstMIKEYPayloadKEMAC) };
        let clear =
            kemac.enc_alg == ffi::GST_MIKEY_ENC_NULL && kemac.mac_alg == ffi::GST_MIKEY_MAC_NULL;
        let mut keys = Vec::new();
        let n = unsafe { ffi::gst_mikey_payload_kemac_get_n_sub(payload) };
        for i in 0..n {
            let sub = unsafe { ffi::gst_mikey_payload_kemac_get_sub(payload, i) };
            let Some(sub) = (unsafe { sub.as_ref() }) else {
                continue;
            };
            if sub.type_ != ffi::GST_MIKEY_PT_KEY_DATA {
                continue;
            }
            // SAFETY: a key data sub-payload is a GstMIKEYPayloadKeyData
            // whose key and salt hold key_len and salt_len bytes.
            let data = unsafe {
                &*(sub as *const ffi::GstMIKEYPayload as *const ffi::GstMIKEYPayloadKeyData)
            };
            keys.push(KeyData {
                key_type: data.key_type as u8,
                key: unsafe { bytes(data.key_data, data.key_len as usize) },
                salt: unsafe { bytes(data.salt_data, data.salt_len as usize) },
            });
        }
        content.kemac = Some((clear, keys));
    }
    Ok(content)
}

/// The SRTP keys and crypto sessions of base64 MIKEY data.
pub fn keys(base64: &str) -> Result<(SrtpKeys, Vec<CryptoSession>), MikeyError> {
    keys_from_mikey(&parse(base64)?)
}

/// Base64 MIKEY data announcing `keys` for the crypto sessions of
/// `ssrcs` (rollover counter 0: nothing sent yet), as GStreamer writes
/// it: pre-shared-key init, keys in the clear (RFC 4567 §7.1 leaves
/// protecting them to the RTSP transport, TLS).
pub fn announce(keys: &SrtpKeys, ssrcs: &[u32]) -> Option<String> {
    let caps = super::key_caps(keys, None);
    // SAFETY: the caps stay alive during the call (transfer none); the
    // message returned is new and owned by `message`.
    let raw = unsafe { ffi::gst_mikey_message_new_from_caps(caps.as_ptr() as *mut _) };
    let message = Message(ptr::NonNull::new(raw)?);
    for &ssrc in ssrcs {
        // SAFETY: valid message; policy 0 is the one new_from_caps wrote.
        unsafe { ffi::gst_mikey_message_add_cs_srtp(message.as_ptr(), 0, ssrc, 0) };
    }
    // SAFETY: a new string, owned by the result.
    let encoded: Option<String> =
        unsafe { from_glib_full(ffi::gst_mikey_message_base64_encode(message.as_ptr())) };
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtspclient_protocol::srtp::{Auth, Cipher};

    #[test]
    fn round_trip_through_gstreamer() {
        gst::init().unwrap();
        let keys = SrtpKeys::default_transforms((0u8..30).collect());
        let data = announce(&keys, &[0xdead_beef, 7]).unwrap();
        let (parsed, sessions) = super::keys(&data).unwrap();
        assert_eq!(parsed, keys);
        assert_eq!(
            sessions.iter().map(|s| s.ssrc).collect::<Vec<_>>(),
            vec![0xdead_beef, 7]
        );
        let mut short = keys.clone();
        short.rtp_auth = Auth::HmacSha1_32;
        short.rtcp_auth = Auth::HmacSha1_32;
        let (parsed, _) = super::keys(&announce(&short, &[1]).unwrap()).unwrap();
        assert_eq!(parsed.rtp_auth, Auth::HmacSha1_32);
        assert_eq!(parsed.rtp_cipher, Cipher::Aes128Icm);
    }

    #[test]
    fn garbage_is_an_error() {
        gst::init().unwrap();
        assert!(parse("not base64 at all!").is_err());
        assert!(parse("AAAA").is_err());
    }
}
