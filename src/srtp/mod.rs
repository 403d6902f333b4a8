//! SRTP (RFC 3711) for both elements, through `rtpbin`'s encoder and
//! decoder signals and GStreamer's `srtpenc`/`srtpdec`:
//!
//! * what we send (`rtspsink`'s RTP, both elements' RTCP) is encrypted
//!   with a master key of our own, drawn from the operating system's
//!   CSPRNG and announced in MIKEY (RFC 3830) in the SDP (`rtspsink`) and
//!   the SETUP `KeyMgmt` header (RFC 4567 §3.3);
//! * what we receive is decrypted with the key the server announced
//!   (`rtspsrc2`: the DESCRIBE SDP's `a=key-mgmt`), given to `srtpdec`
//!   through its `request-key` signal, never in caps;
//! * a key that decrypts nothing is noticed ([`DecryptWatch`]) and
//!   becomes an element error instead of silence.
//!
//! Key material is never logged by this crate, and [`StreamKeys`] does
//! not print it. One leak is GStreamer's own: `srtpenc` puts its key into
//! the caps of its source pads, which `gst-launch-1.0 -v` prints and
//! GStreamer logs at DEBUG; the caps that travel on from there are
//! stripped of it ([`strip_key_probe`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use rtspclient_protocol::srtp::{CryptoSession, SrtpKeys};

pub mod mikey;

/// The peer's key and the crypto sessions (SSRC, rollover counter) its
/// MIKEY named.
pub type RemoteKeys = (SrtpKeys, Vec<CryptoSession>);

pub static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtspsrtp",
        gst::DebugColorFlags::empty(),
        Some("SRTP of rtspsrc2 and rtspsink"),
    )
});

/// Caps fields that carry key material or its parameters.
const KEY_FIELDS: &[&str] = &[
    "srtp-key",
    "srtp-cipher",
    "srtp-auth",
    "srtcp-cipher",
    "srtcp-auth",
    "mki",
    "roc",
];

/// A new master key and salt for the default transforms (AES-128-CM,
/// HMAC-SHA1-80), from the operating system's CSPRNG.
pub fn generate_keys() -> Result<SrtpKeys, String> {
    let mut master = vec![0u8; SrtpKeys::DEFAULT_MASTER_LEN];
    getrandom::getrandom(&mut master).map_err(|err| format!("No random key: {err}"))?;
    Ok(SrtpKeys::default_transforms(master))
}

/// A random SSRC for a stream we send RTCP on (RFC 3550 §8.1).
pub fn random_ssrc() -> u32 {
    let mut bytes = [0u8; 4];
    // A failing CSPRNG fails generate_keys first; an SSRC needs no secrecy.
    let _ = getrandom::getrandom(&mut bytes);
    u32::from_ne_bytes(bytes)
}

/// `application/x-srtp` caps with `keys`, as `srtpdec`'s `request-key`
/// answer and GStreamer's MIKEY writer take them.
pub fn key_caps(keys: &SrtpKeys, roc: Option<u32>) -> gst::Caps {
    let mut builder = gst::Caps::builder("application/x-srtp")
        .field("srtp-key", gst::Buffer::from_slice(keys.master.clone()))
        .field("srtp-cipher", keys.rtp_cipher.name())
        .field("srtp-auth", keys.rtp_auth.name())
        .field("srtcp-cipher", keys.rtcp_cipher.name())
        .field("srtcp-auth", keys.rtcp_auth.name());
    if let Some(roc) = roc {
        builder = builder.field("roc", roc);
    }
    builder.build()
}

/// `caps` renamed for the encrypted side of a stream (`application/x-srtp`
/// or `-srtcp`), as `srtpdec`'s sink pads take them.
pub fn encrypted_caps(caps: &gst::Caps) -> gst::Caps {
    let mut caps = caps.clone();
    for s in caps.make_mut().iter_mut() {
        let name = match s.name().as_str() {
            "application/x-rtp" => "application/x-srtp",
            "application/x-rtcp" => "application/x-srtcp",
            _ => continue,
        };
        s.set_name(name);
    }
    caps
}

/// A probe that removes key material from the caps leaving `pad` (an
/// `srtpenc` source pad): everything downstream, our own pads and logs
/// included, sees the stream's caps without the key.
pub fn strip_key_probe(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_pad, info| {
        let Some(gst::PadProbeData::Event(event)) = &mut info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let stripped = match event.view() {
            gst::EventView::Caps(c)
                if c.caps()
                    .iter()
                    .any(|s| KEY_FIELDS.iter().any(|f| s.has_field(*f))) =>
            {
                let mut caps = c.caps_owned();
                for s in caps.make_mut().iter_mut() {
                    s.remove_fields(KEY_FIELDS.iter().copied());
                }
                Some(
                    gst::event::Caps::builder(&caps)
                        .seqnum(event.seqnum())
                        .build(),
                )
            }
            _ => None,
        };
        if let Some(stripped) = stripped {
            *event = stripped;
        }
        gst::PadProbeReturn::Ok
    });
}

/// One stream's SRTP, shared by the element, `rtpbin`'s signal handlers
/// and the session task.
pub struct StreamKeys {
    session: u32,
    /// Our master key: for what we send.
    local: SrtpKeys,
    /// The SSRC we send RTCP (and, publishing, RTP) with.
    ssrc: Mutex<Option<u32>>,
    /// The SSRC of our retransmissions (RFC 4588), chosen once.
    rtx_ssrc: Mutex<Option<u32>>,
    /// The peer's key and crypto sessions: for what we receive.
    remote: Mutex<Option<RemoteKeys>>,
    encoder: Mutex<Option<gst::Element>>,
    decoder: Mutex<Option<gst::Element>>,
    /// Set for streams whose received RTP must decrypt (playing).
    watch: Option<Arc<DecryptWatch>>,
}

impl std::fmt::Debug for StreamKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamKeys")
            .field("session", &self.session)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl StreamKeys {
    /// A stream with a new key of our own; `watch` notices a remote key
    /// that decrypts none of the received RTP.
    pub fn new(session: u32, watch: Option<Arc<DecryptWatch>>) -> Result<Arc<StreamKeys>, String> {
        Ok(Arc::new(StreamKeys {
            session,
            local: generate_keys()?,
            ssrc: Mutex::new(None),
            rtx_ssrc: Mutex::new(None),
            remote: Mutex::new(None),
            encoder: Mutex::new(None),
            decoder: Mutex::new(None),
            watch,
        }))
    }

    pub fn set_ssrc(&self, ssrc: u32) {
        *self.ssrc.lock().unwrap() = Some(ssrc);
    }

    pub fn ssrc(&self) -> Option<u32> {
        *self.ssrc.lock().unwrap()
    }

    /// The SSRC for our RTX stream: random, the same for every session
    /// (rtprtxsend keeps the one it took first).
    pub fn rtx_ssrc(&self) -> u32 {
        let mut rtx = self.rtx_ssrc.lock().unwrap();
        *rtx.get_or_insert_with(|| {
            loop {
                let ssrc = random_ssrc();
                if Some(ssrc) != self.ssrc() {
                    break ssrc;
                }
            }
        })
    }

    /// Base64 MIKEY announcing our key for our SSRC and `more` (RTX).
    pub fn announce(&self, more: &[u32]) -> Option<String> {
        let ssrcs: Vec<u32> = self
            .ssrc()
            .into_iter()
            .chain(more.iter().copied())
            .collect();
        mikey::announce(&self.local, &ssrcs)
    }

    /// The peer's key (a new session may bring another one): `srtpdec`
    /// forgets the old one and asks again.
    pub fn set_remote(&self, remote: Option<RemoteKeys>) {
        let changed = {
            let mut current = self.remote.lock().unwrap();
            let changed = *current != remote;
            *current = remote;
            changed
        };
        if let (true, Some(decoder)) = (changed, self.decoder.lock().unwrap().clone()) {
            decoder.emit_by_name::<()>("clear-keys", &[]);
        }
        if let Some(watch) = &self.watch {
            watch.restart();
        }
    }

    pub fn has_remote(&self) -> bool {
        self.remote.lock().unwrap().is_some()
    }

    pub fn watch(&self) -> Option<&Arc<DecryptWatch>> {
        self.watch.as_ref()
    }

    /// `srtpdec`'s `request-key` answer for `ssrc`: the peer's key (one
    /// master key for every crypto session of its MIKEY bundle, RFC 3830
    /// §2.1) with the rollover counter its crypto session names (RFC 3711
    /// §3.3.1: a sender that has sent 65536 packets or more is past 0).
    fn key_for(&self, ssrc: u32) -> Option<gst::Caps> {
        let remote = self.remote.lock().unwrap();
        let (keys, sessions) = remote.as_ref()?;
        let roc = sessions.iter().find(|cs| cs.ssrc == ssrc).map(|cs| cs.roc);
        gst::debug!(CAT, "Session {}: key for SSRC {ssrc:#010x}", self.session);
        Some(key_caps(keys, Some(roc.unwrap_or(0))))
    }

    /// The session's `srtpenc` with our key, its `<kind>_sink_<session>`
    /// pad requested (rtpbin links static pads by name).
    fn encoder(&self, kind: &str) -> Option<gst::Element> {
        let mut encoder = self.encoder.lock().unwrap();
        if encoder.is_none() {
            let made = gst::ElementFactory::make("srtpenc")
                .name(format!("srtpenc_{}", self.session))
                .property("key", gst::Buffer::from_slice(self.local.master.clone()))
                .property_from_str("rtp-cipher", self.local.rtp_cipher.name())
                .property_from_str("rtp-auth", self.local.rtp_auth.name())
                .property_from_str("rtcp-cipher", self.local.rtcp_cipher.name())
                .property_from_str("rtcp-auth", self.local.rtcp_auth.name())
                .build();
            match made {
                Ok(made) => *encoder = Some(made),
                Err(err) => {
                    gst::error!(CAT, "No srtpenc (gst-plugins-bad): {err}");
                    return None;
                }
            }
        }
        let element = encoder.clone()?;
        let session = self.session;
        element.request_pad_simple(&format!("{kind}_sink_{session}"))?;
        if let Some(src) = element.static_pad(&format!("{kind}_src_{session}")) {
            strip_key_probe(&src);
        }
        Some(element)
    }

    /// The session's `srtpdec`, asking us for keys.
    fn decoder(self: &Arc<Self>) -> Option<gst::Element> {
        let mut decoder = self.decoder.lock().unwrap();
        if let Some(existing) = decoder.as_ref() {
            return Some(existing.clone());
        }
        let element = match gst::ElementFactory::make("srtpdec")
            .name(format!("srtpdec_{}", self.session))
            .build()
        {
            Ok(element) => element,
            Err(err) => {
                gst::error!(CAT, "No srtpdec (gst-plugins-bad): {err}");
                return None;
            }
        };
        let weak = Arc::downgrade(self);
        element.connect("request-key", false, move |args| {
            let ssrc = args.get(1).and_then(|v| v.get::<u32>().ok());
            let caps = weak
                .upgrade()
                .zip(ssrc)
                .and_then(|(keys, ssrc)| keys.key_for(ssrc));
            // A GstCaps value even when there is none: glib-rs panics on a
            // bare None, and the panic would abort.
            Some(caps.to_value())
        });
        if let Some(watch) = &self.watch {
            watch.attach(&element);
        }
        *decoder = Some(element.clone());
        Some(element)
    }
}

/// The SRTP streams of one element's `rtpbin`, by session.
#[derive(Default)]
pub struct Sessions {
    streams: Mutex<HashMap<u32, Arc<StreamKeys>>>,
}

impl Sessions {
    /// Stream `keys.session` is secure; before its rtpbin pads exist.
    pub fn insert(&self, keys: Arc<StreamKeys>) {
        self.streams.lock().unwrap().insert(keys.session, keys);
    }

    pub fn get(&self, session: u32) -> Option<Arc<StreamKeys>> {
        self.streams.lock().unwrap().get(&session).cloned()
    }

    pub fn remove(&self, session: u32) {
        self.streams.lock().unwrap().remove(&session);
    }

    pub fn clear(&self) {
        self.streams.lock().unwrap().clear();
    }

    /// Answer `rtpbin`'s requests for encoders and decoders. `sends_rtp`:
    /// publishing (RTP is encrypted, not decrypted). The handlers run
    /// while rtpbin holds its lock: they do not call into it.
    pub fn connect(self: &Arc<Self>, rtpbin: &gst::Element, sends_rtp: bool) {
        let signals = [
            ("request-rtp-encoder", Some("rtp"), sends_rtp),
            ("request-rtcp-encoder", Some("rtcp"), true),
            ("request-rtp-decoder", None, !sends_rtp),
            ("request-rtcp-decoder", None, true),
        ];
        for (signal, encoder, wanted) in signals {
            let this = self.clone();
            rtpbin.connect(signal, false, move |args| {
                let element = args
                    .get(1)
                    .and_then(|v| v.get::<u32>().ok())
                    .filter(|_| wanted)
                    .and_then(|session| this.get(session))
                    .and_then(|keys| match encoder {
                        Some(kind) => keys.encoder(kind),
                        None => keys.decoder(),
                    });
                // A GstElement value even when there is none (see above).
                Some(element.to_value())
            });
        }
    }
}

/// Undecryptable packets in a row, at least, before a key counts as wrong.
const MIN_FAILURES: u64 = 10;
/// For at least this long.
const FAILING_FOR: Duration = Duration::from_secs(2);

/// Notices a key that decrypts nothing. `srtpdec` drops a packet that
/// fails authentication (or decryption) with a log line and nothing
/// else, so a wrong key would leave the stream silent. Pad probes count
/// the RTP packets that enter `srtpdec` and the ones that leave it: when
/// at least [`MIN_FAILURES`] entered in a row over at least
/// [`FAILING_FOR`] and none came out, the element posts a
/// `STREAM/DECRYPT` error, once. Both probes run in the streaming thread
/// of the packet, the exit one inside the entry's chain call, so when a
/// packet enters, every earlier one has come out or been dropped.
pub struct DecryptWatch {
    element: glib::WeakRef<gst::Element>,
    stream: usize,
    arrived: AtomicU64,
    decrypted: AtomicU64,
    /// Since when, and from which arrival count on, nothing came out.
    failing: Mutex<Option<(Instant, u64)>>,
    reported: AtomicBool,
}

impl DecryptWatch {
    pub fn new(element: &gst::Element, stream: usize) -> Arc<DecryptWatch> {
        Arc::new(DecryptWatch {
            element: element.downgrade(),
            stream,
            arrived: AtomicU64::new(0),
            decrypted: AtomicU64::new(0),
            failing: Mutex::new(None),
            reported: AtomicBool::new(false),
        })
    }

    /// (packets that entered the decoder, packets that left it decrypted).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.arrived.load(Ordering::Relaxed),
            self.decrypted.load(Ordering::Relaxed),
        )
    }

    /// A new key: judge it afresh.
    fn restart(&self) {
        *self.failing.lock().unwrap() = None;
        self.reported.store(false, Ordering::SeqCst);
    }

    fn attach(self: &Arc<Self>, decoder: &gst::Element) {
        let count = |info: &gst::PadProbeInfo| match &info.data {
            Some(gst::PadProbeData::Buffer(_)) => 1,
            Some(gst::PadProbeData::BufferList(list)) => list.len() as u64,
            _ => 0,
        };
        let types = gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST;
        if let Some(pad) = decoder.static_pad("rtp_sink") {
            let this = self.clone();
            pad.add_probe(types, move |_, info| {
                this.entered(count(info));
                gst::PadProbeReturn::Ok
            });
        }
        if let Some(pad) = decoder.static_pad("rtp_src") {
            let this = self.clone();
            pad.add_probe(types, move |_, info| {
                this.left(count(info));
                gst::PadProbeReturn::Ok
            });
        }
    }

    fn entered(&self, n: u64) {
        let before = self.arrived.fetch_add(n, Ordering::Relaxed);
        let verdict = {
            let mut failing = self.failing.lock().unwrap();
            match *failing {
                None => {
                    *failing = Some((Instant::now(), before));
                    None
                }
                Some((since, from)) => {
                    let failed = before - from;
                    let elapsed = since.elapsed();
                    (failed >= MIN_FAILURES && elapsed >= FAILING_FOR).then_some((failed, elapsed))
                }
            }
        };
        if let Some((failed, elapsed)) = verdict
            && !self.reported.swap(true, Ordering::SeqCst)
            && let Some(element) = self.element.upgrade()
        {
            gst::element_error!(
                element,
                gst::StreamError::Decrypt,
                (
                    "Cannot decrypt stream {}: none of the last {failed} SRTP packets passed authentication in {:.1} s (wrong key?)",
                    self.stream,
                    elapsed.as_secs_f64()
                ),
                [
                    "srtpdec dropped every packet since the last one it decrypted; {} of {} decrypted in all",
                    self.decrypted.load(Ordering::Relaxed),
                    before + n
                ]
            );
        }
    }

    fn left(&self, n: u64) {
        self.decrypted.fetch_add(n, Ordering::Relaxed);
        *self.failing.lock().unwrap() = None;
    }
}
