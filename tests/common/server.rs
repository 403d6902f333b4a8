//! In-process gst-rtsp-server fixtures.
//!
//! ```ignore
//! let server = TestServer::start();            // all standard mounts
//! let url = server.url(paths::H264);            // rtsp://127.0.0.1:PORT/h264
//! let server = TestServer::builder()            // or pick mounts
//!     .mount(Mount::play("/cam", launch::h264_video()).tcp_only())
//!     .mount(Mount::record("/rec", 1))
//!     .start();
//! server.record_stats("/rec").unwrap().stream(0).wait_for(60, Duration::from_secs(10));
//! ```
//!
//! Every server binds 127.0.0.1 on an ephemeral port and runs its own
//! `glib::MainContext` + `MainLoop` in a dedicated thread. `Drop` closes all
//! clients and sessions, quits the loop, destroys the server source and joins
//! the thread (bounded wait).
//!
//! Authentication: one `RTSPAuth` subclass serves all mounts of a server and
//! decides per request path. Public mounts need no credentials; a mount made
//! with `.auth(AuthScheme::Basic)` only challenges/accepts Basic, one with
//! `.auth(AuthScheme::Digest)` only Digest (gst-rtsp-server 1.22 digest is
//! MD5 only, no `qop`, no SHA-256; SHA-256 is tested against a scripted
//! server). Credentials: [`USER`] / [`PASSWORD`] (the password needs
//! percent-encoding in URLs: [`PASSWORD_ENCODED`]).
//!
//! Multicast: mounts made with `.multicast_only()` (or `.with_multicast()`)
//! get an `RTSPAddressPool` with group 224.3.0.X (X derived from the server
//! port so that concurrently running servers don't collide), TTL 1, ports
//! derived from the server port as well. Such mounts are good for testing
//! the multicast SETUP negotiation only: gst-rtsp-server binds the group port
//! on 0.0.0.0 without SO_REUSEADDR and turns IP_MULTICAST_LOOP off, so a
//! receiver on the same host can neither bind the port nor get the packets.
//! [`MulticastServer`] (scripted RTSP + plain `udpsink` sender) is the
//! fixture for actually receiving multicast on this host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst_rtsp::RTSPLowerTrans;
use gst_rtsp_server::prelude::*;

use super::{FrameCounter, RawRequest, Reply, ScriptedServer, init, join_bounded, rtsp_response};

/// User name accepted by the auth mounts.
pub const USER: &str = "user";
/// Password accepted by the auth mounts (contains `@` and a space).
pub const PASSWORD: &str = "p@ss w0rd";
/// [`PASSWORD`] percent-encoded for use in `rtsp://user:pass@host/` URLs.
pub const PASSWORD_ENCODED: &str = "p%40ss%20w0rd";
/// Realm announced in challenges.
pub const REALM: &str = "rtspclient-tests";

/// Paths of the mounts created by [`TestServerBuilder::standard_mounts`]
/// (and [`TestServer::start`]).
pub mod paths {
    /// H.264 video only, all transports.
    pub const H264: &str = "/h264";
    /// H.264 (pay0) + AAC as RTP/MPEG4-GENERIC (`rtpmp4gpay`, pay1).
    pub const H264_AAC: &str = "/h264-aac";
    /// H.264 (pay0) + AAC as RTP/MP4A-LATM (`rtpmp4apay`, pay1).
    pub const H264_AAC_LATM: &str = "/h264-aac-latm";
    /// H.264 (pay0) + Opus (pay1).
    pub const H264_OPUS: &str = "/h264-opus";
    /// H.265 video only.
    pub const H265: &str = "/h265";
    /// MJPEG (RTP/JPEG, static payload type 26).
    pub const MJPEG: &str = "/mjpeg";
    /// AAC audio only (`rtpmp4gpay`).
    pub const AAC: &str = "/aac";
    /// H.264 that ends after 60 frames (2 s): the server sends EOS/BYE.
    /// Not shared (each client gets a fresh 2 s stream).
    pub const H264_SHORT: &str = "/h264-short";
    /// H.264, TCP (interleaved) only.
    pub const H264_TCP: &str = "/h264-tcp";
    /// H.264, UDP unicast only.
    pub const H264_UDP: &str = "/h264-udp";
    /// H.264, UDP multicast only. NEGOTIATION ONLY: gst-rtsp-server binds
    /// the group port on 0.0.0.0 without SO_REUSEADDR and disables multicast
    /// loop, so a client on the same host cannot receive the data. Use
    /// [`super::MulticastServer`] to receive multicast data.
    pub const H264_MCAST: &str = "/h264-mcast";
    /// H.264 behind Basic auth ([`super::USER`] / [`super::PASSWORD`]).
    pub const BASIC_H264: &str = "/basic-auth/h264";
    /// H.264 behind Digest (MD5) auth.
    pub const DIGEST_H264: &str = "/digest-auth/h264";
    /// RECORD, one stream (any codec decodebin can depayload+decode), counted.
    pub const RECORD: &str = "/record";
    /// RECORD, two streams (e.g. H.264 + AAC/Opus), counted per stream.
    pub const RECORD_AV: &str = "/record-av";
    /// RECORD, one stream, behind Basic auth.
    pub const BASIC_RECORD: &str = "/basic-auth/record";
    /// RECORD, one stream, behind Digest auth.
    pub const DIGEST_RECORD: &str = "/digest-auth/record";
}

/// Launch-line building blocks (without the surrounding parentheses).
pub mod launch {
    use super::super::has_element;

    /// Raw test video caps used everywhere: small so that 2 cores suffice.
    pub const VIDEO_CAPS: &str = "video/x-raw,format=I420,width=320,height=240,framerate=30/1";

    fn video_src(num_buffers: Option<u32>) -> String {
        let nb = num_buffers
            .map(|n| format!(" num-buffers={n}"))
            .unwrap_or_default();
        format!("videotestsrc is-live=true pattern=ball{nb} ! {VIDEO_CAPS}")
    }

    fn x264() -> &'static str {
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 threads=1"
    }

    /// Live H.264 test video payloaded as `pay{pay}`.
    pub fn h264_video(pay: u32) -> String {
        h264_video_n(pay, None)
    }

    /// Like [`h264_video`] but ends after `num_buffers` frames when given.
    pub fn h264_video_n(pay: u32, num_buffers: Option<u32>) -> String {
        format!(
            "{} ! {} ! rtph264pay name=pay{pay} pt={} config-interval=-1",
            video_src(num_buffers),
            x264(),
            96 + pay
        )
    }

    /// Live H.265 test video.
    pub fn h265_video(pay: u32) -> String {
        format!(
            "{} ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! \
             rtph265pay name=pay{pay} pt={} config-interval=-1",
            video_src(None),
            96 + pay
        )
    }

    /// Live MJPEG test video (RTP/JPEG, pt 26).
    pub fn mjpeg_video(pay: u32) -> String {
        format!(
            "{} ! jpegenc quality=50 ! rtpjpegpay name=pay{pay} pt=26",
            video_src(None)
        )
    }

    /// The AAC encoder available here: `avenc_aac` preferred, else
    /// `voaacenc`, else `fdkaacenc` (any of them makes the AAC the tests
    /// need). With none, `avenc_aac`: a test that uses the launch line
    /// then fails naming it and its package (the check happens when the
    /// line is parsed or its mount's URL is asked for, so a server that
    /// merely has an AAC mount does not fail tests that never play it).
    pub fn aac_encoder() -> &'static str {
        ["avenc_aac", "voaacenc", "fdkaacenc"]
            .into_iter()
            .find(|e| has_element(e))
            .unwrap_or("avenc_aac")
    }

    fn audio_src() -> &'static str {
        "audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=960 ! \
         audio/x-raw,rate=48000,channels=2 ! audioconvert ! audioresample"
    }

    /// Live AAC (RTP/MPEG4-GENERIC, `rtpmp4gpay`).
    pub fn aac_audio(pay: u32) -> String {
        format!(
            "{} ! {} ! aacparse ! rtpmp4gpay name=pay{pay} pt={}",
            audio_src(),
            aac_encoder(),
            96 + pay
        )
    }

    /// Live AAC (RTP/MP4A-LATM, `rtpmp4apay`).
    pub fn aac_latm_audio(pay: u32) -> String {
        format!(
            "{} ! {} ! aacparse ! rtpmp4apay name=pay{pay} pt={}",
            audio_src(),
            aac_encoder(),
            96 + pay
        )
    }

    /// Live Opus.
    pub fn opus_audio(pay: u32) -> String {
        format!(
            "{} ! opusenc ! rtpopuspay name=pay{pay} pt={}",
            audio_src(),
            96 + pay
        )
    }

    /// RECORD-side receiving chain for `n` streams: `decodebin name=depayI !
    /// queue ! fakesink name=sinkI` (decodebin autoplugs depayloader + decoder
    /// for whatever the ANNOUNCE SDP carries, so the counters count decoded
    /// frames / audio buffers).
    pub fn record_decode(n: u32) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "decodebin name=depay{i} ! queue ! fakesink name=sink{i} sync=false async=false"
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Which authentication a mount requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    Basic,
    Digest,
}

impl AuthScheme {
    fn method(self) -> gst_rtsp::RTSPAuthMethod {
        match self {
            AuthScheme::Basic => gst_rtsp::RTSPAuthMethod::Basic,
            AuthScheme::Digest => gst_rtsp::RTSPAuthMethod::Digest,
        }
    }
}

/// Description of one mount point.
#[derive(Clone, Debug)]
pub struct Mount {
    pub path: String,
    /// Launch line without parentheses.
    pub launch: String,
    pub shared: bool,
    pub protocols: RTSPLowerTrans,
    pub auth: Option<AuthScheme>,
    /// RECORD mode (the launch must contain `depay%d` elements and, for
    /// counting, `sink%d` elements).
    pub record: bool,
    /// Number of `sink%d` elements to count on (RECORD mounts).
    pub record_streams: u32,
    /// Attach a multicast address pool.
    pub multicast_pool: bool,
    /// rtpbin latency of the media in ms (gst-rtsp-server default 200).
    pub latency_ms: Option<u32>,
}

impl Mount {
    /// A PLAY mount (shared, all lower transports).
    pub fn play(path: &str, launch: impl Into<String>) -> Self {
        Mount {
            path: normalize_path(path),
            launch: launch.into(),
            shared: true,
            protocols: RTSPLowerTrans::TCP | RTSPLowerTrans::UDP | RTSPLowerTrans::UDP_MCAST,
            auth: None,
            record: false,
            record_streams: 0,
            multicast_pool: false,
            latency_ms: None,
        }
    }

    /// A RECORD mount accepting `n_streams` streams (decoded and counted, see
    /// [`launch::record_decode`]).
    pub fn record(path: &str, n_streams: u32) -> Self {
        Self::record_launch(path, launch::record_decode(n_streams), n_streams)
    }

    /// A RECORD mount with a custom launch line; `sink0..sink{n-1}` (if
    /// present) are counted.
    pub fn record_launch(path: &str, launch: impl Into<String>, n_streams: u32) -> Self {
        Mount {
            path: normalize_path(path),
            launch: launch.into(),
            shared: false,
            protocols: RTSPLowerTrans::TCP | RTSPLowerTrans::UDP,
            auth: None,
            record: true,
            record_streams: n_streams,
            multicast_pool: false,
            latency_ms: None,
        }
    }

    pub fn shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }
    pub fn protocols(mut self, protocols: RTSPLowerTrans) -> Self {
        self.protocols = protocols;
        self
    }
    pub fn tcp_only(self) -> Self {
        self.protocols(RTSPLowerTrans::TCP)
    }
    pub fn udp_only(self) -> Self {
        self.protocols(RTSPLowerTrans::UDP)
    }
    pub fn multicast_only(mut self) -> Self {
        self.multicast_pool = true;
        self.protocols(RTSPLowerTrans::UDP_MCAST)
    }
    /// Keep the allowed protocols but add a multicast address pool.
    pub fn with_multicast(mut self) -> Self {
        self.multicast_pool = true;
        self
    }
    pub fn auth(mut self, scheme: AuthScheme) -> Self {
        self.auth = Some(scheme);
        self
    }
    pub fn latency_ms(mut self, ms: u32) -> Self {
        self.latency_ms = Some(ms);
        self
    }
}

fn normalize_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// Counters of a RECORD mount: one [`FrameCounter`] per stream (on the
/// `sink%d` sink pad), accumulated over all sessions of the mount.
#[derive(Clone, Debug, Default)]
pub struct RecordStats {
    streams: Vec<FrameCounter>,
    medias: Arc<AtomicUsize>,
}

impl RecordStats {
    fn new(n: u32) -> Self {
        RecordStats {
            streams: (0..n).map(|_| FrameCounter::new()).collect(),
            medias: Arc::new(AtomicUsize::new(0)),
        }
    }
    /// Counter of stream `idx` (`sink{idx}`).
    pub fn stream(&self, idx: usize) -> &FrameCounter {
        &self.streams[idx]
    }
    pub fn streams(&self) -> &[FrameCounter] {
        &self.streams
    }
    /// Counter of the first stream that decoded to `video/…`.
    pub fn video(&self) -> Option<&FrameCounter> {
        self.by_prefix("video/")
    }
    /// Counter of the first stream that decoded to `audio/…`.
    pub fn audio(&self) -> Option<&FrameCounter> {
        self.by_prefix("audio/")
    }
    fn by_prefix(&self, prefix: &str) -> Option<&FrameCounter> {
        self.streams.iter().find(|c| {
            c.media_type()
                .map(|t| t.starts_with(prefix))
                .unwrap_or(false)
        })
    }
    /// Number of medias constructed (≈ number of ANNOUNCEs accepted).
    pub fn medias(&self) -> usize {
        self.medias.load(Ordering::SeqCst)
    }
    pub fn total(&self) -> u64 {
        self.streams.iter().map(|c| c.count()).sum()
    }
}

/// Builder for [`TestServer`].
#[derive(Default)]
pub struct TestServerBuilder {
    mounts: Vec<Mount>,
    multicast_iface: Option<String>,
    tls: Option<ServerTls>,
}

/// RTSP over TLS on the server: every connection must speak TLS.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The server's certificate chain and private key, PEM.
    pub certificate_and_key_pem: String,
    /// Clients must present a certificate issued by the CA in this file
    /// (mutual TLS).
    pub client_ca_file: Option<std::path::PathBuf>,
}

impl TestServerBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Add every mount listed in [`paths`].
    pub fn standard_mounts(self) -> Self {
        use AuthScheme::*;
        let av = |a: String| format!("{} {}", launch::h264_video(0), a);
        self.mount(Mount::play(paths::H264, launch::h264_video(0)))
            .mount(Mount::play(paths::H264_AAC, av(launch::aac_audio(1))))
            .mount(Mount::play(
                paths::H264_AAC_LATM,
                av(launch::aac_latm_audio(1)),
            ))
            .mount(Mount::play(paths::H264_OPUS, av(launch::opus_audio(1))))
            .mount(Mount::play(paths::H265, launch::h265_video(0)))
            .mount(Mount::play(paths::MJPEG, launch::mjpeg_video(0)))
            .mount(Mount::play(paths::AAC, launch::aac_audio(0)))
            .mount(Mount::play(paths::H264_SHORT, launch::h264_video_n(0, Some(60))).shared(false))
            .mount(Mount::play(paths::H264_TCP, launch::h264_video(0)).tcp_only())
            .mount(Mount::play(paths::H264_UDP, launch::h264_video(0)).udp_only())
            .mount(Mount::play(paths::H264_MCAST, launch::h264_video(0)).multicast_only())
            .mount(Mount::play(paths::BASIC_H264, launch::h264_video(0)).auth(Basic))
            .mount(Mount::play(paths::DIGEST_H264, launch::h264_video(0)).auth(Digest))
            .mount(Mount::record(paths::RECORD, 1))
            .mount(Mount::record(paths::RECORD_AV, 2))
            .mount(Mount::record(paths::BASIC_RECORD, 1).auth(Basic))
            .mount(Mount::record(paths::DIGEST_RECORD, 1).auth(Digest))
    }

    /// Network interface for multicast sending (`multicast-iface` of the
    /// media). Default: none (kernel routing table decides).
    pub fn multicast_iface(mut self, iface: &str) -> Self {
        self.multicast_iface = Some(iface.to_string());
        self
    }

    /// Speak RTSP over TLS only (URLs from [`TestServer::url_with_scheme`]).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn start(self) -> TestServer {
        TestServer::start_with(self)
    }
}

/// An RTSP server (gst-rtsp-server) running in its own thread.
pub struct TestServer {
    server: gst_rtsp_server::RTSPServer,
    auth: path_auth::PathAuth,
    port: u16,
    multicast_iface: Option<String>,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
    records: Mutex<HashMap<String, RecordStats>>,
    /// Launch line of each mount, and whether its elements were checked.
    launches: Mutex<HashMap<String, (String, bool)>>,
}

impl TestServer {
    /// A server with all [`paths`] mounted.
    pub fn start() -> Self {
        TestServerBuilder::new().standard_mounts().start()
    }

    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::new()
    }

    fn start_with(builder: TestServerBuilder) -> Self {
        init();
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");

        let auth = path_auth::PathAuth::new();
        if let Some(tls) = &builder.tls {
            let certificate = gio::TlsCertificate::from_pem(&tls.certificate_and_key_pem)
                .expect("server certificate and key");
            auth.set_tls_certificate(Some(&certificate));
            if let Some(ca) = &tls.client_ca_file {
                // GIO checks the client's chain against this database.
                let database = gio::TlsFileDatabase::new(ca).expect("client CA file");
                auth.set_tls_database(Some(&database));
                auth.set_tls_authentication_mode(gio::TlsAuthenticationMode::Required);
                gst_rtsp_server::prelude::RTSPAuthExt::connect_accept_certificate(
                    &auth,
                    |_, _, _, errors| {
                        // GIO checked the chain against the database; RTSPAuth
                        // 1.22 has no default handler and would refuse all.
                        errors.is_empty()
                    },
                );
            }
        }
        server.set_auth(Some(&auth));

        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let source_id = server
            .attach(Some(&context))
            .expect("failed to attach RTSP server");
        let port = u16::try_from(server.bound_port()).expect("no bound port");

        let (ready_tx, ready_rx) = mpsc::channel();
        let ml = main_loop.clone();
        let ctx = context.clone();
        let thread = thread::Builder::new()
            .name(format!("rtsp-test-server-{port}"))
            .spawn(move || {
                let _ = ready_tx.send(());
                ml.run();
                // Detach the listening source from our context.
                if let Some(src) = ctx.find_source_by_id(&source_id) {
                    src.destroy();
                }
            })
            .expect("spawn server thread");
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("server thread did not start");

        let s = TestServer {
            server,
            auth,
            port,
            multicast_iface: builder.multicast_iface,
            main_loop,
            thread: Some(thread),
            records: Mutex::new(HashMap::new()),
            launches: Mutex::new(HashMap::new()),
        };
        for m in builder.mounts {
            s.add_mount(m);
        }
        // Make sure the loop is really running before handing out URLs.
        super::wait_for(Duration::from_secs(5), || s.main_loop.is_running());
        s
    }

    /// Add (or replace) a mount while the server runs.
    pub fn add_mount(&self, m: Mount) {
        self.launches
            .lock()
            .unwrap()
            .insert(m.path.clone(), (m.launch.clone(), false));
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&format!("( {} )", m.launch));
        factory.set_shared(m.shared);
        factory.set_protocols(m.protocols);
        if let Some(l) = m.latency_ms {
            factory.set_latency(l);
        }
        if m.record {
            factory.set_transport_mode(gst_rtsp_server::RTSPTransportMode::RECORD);
        }
        if m.multicast_pool {
            factory.set_address_pool(Some(&self.multicast_pool()));
            factory.set_max_mcast_ttl(1);
            if let Some(iface) = &self.multicast_iface {
                factory.set_multicast_iface(Some(iface));
            }
        }
        if let Some(scheme) = m.auth {
            let role = gst::Structure::builder(USER)
                .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                .build();
            factory.add_role_from_structure(&role);
            self.auth.protect(&m.path, scheme);
        } else {
            self.auth.unprotect(&m.path);
        }
        if m.record {
            let stats = RecordStats::new(m.record_streams);
            let st = stats.clone();
            let who = format!("record mount {}", m.path);
            factory.connect_media_configure(move |_f, media| {
                st.medias.fetch_add(1, Ordering::SeqCst);
                let Ok(bin) = media.element().downcast::<gst::Bin>() else {
                    return;
                };
                for (i, counter) in st.streams.iter().enumerate() {
                    if let Some(sink) = bin.by_name(&format!("sink{i}")) {
                        counter.attach_to_element(&sink, "sink");
                    }
                    if let Some(decodebin) = bin.by_name(&format!("depay{i}"))
                        && decodebin.factory().is_some_and(|f| f.name() == "decodebin")
                    {
                        super::tools::explain_missing_decoders(&decodebin, &who);
                    }
                }
            });
            self.records.lock().unwrap().insert(m.path.clone(), stats);
        }
        self.server
            .mount_points()
            .expect("server without mount points")
            .add_factory(&m.path, factory);
    }

    /// Remove a mount while the server runs.
    pub fn remove_mount(&self, path: &str) {
        let path = normalize_path(path);
        if let Some(mp) = self.server.mount_points() {
            mp.remove_factory(&path);
        }
        self.auth.unprotect(&path);
    }

    /// A fresh multicast pool: group 224.3.0.X..X+3 and 20 ports, both
    /// derived from the (unique while we live) RTSP port, TTL 1.
    fn multicast_pool(&self) -> gst_rtsp_server::RTSPAddressPool {
        let pool = gst_rtsp_server::RTSPAddressPool::new();
        let x = 1 + (self.port as u32 % 250);
        let base = (20000 + (self.port as u32 % 20000) * 2).min(65000) as u16 & !1;
        pool.add_range(
            &format!("224.3.0.{x}"),
            &format!("224.3.0.{}", x + 3),
            base,
            base + 19,
            1,
        )
        .expect("add multicast range");
        pool
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Fail the test (in its own thread, not the server's) if the mount at
    /// `path` uses an element that is not installed: the first time a
    /// test asks for the mount's URL, its launch line is parsed once.
    fn require_mount_elements(&self, path: &str) {
        let launch = {
            let mut launches = self.launches.lock().unwrap();
            match launches.get_mut(&normalize_path(path)) {
                Some((launch, checked)) if !*checked => {
                    *checked = true;
                    launch.clone()
                }
                _ => return,
            }
        };
        super::tools::require_launch(&launch);
    }

    /// `rtsp://127.0.0.1:PORT/path`
    pub fn url(&self, path: &str) -> String {
        self.require_mount_elements(path);
        format!(
            "rtsp://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// `SCHEME://HOST:PORT/path`, e.g. `rtsps://localhost:PORT/path`.
    pub fn url_with_scheme(&self, scheme: &str, host: &str, path: &str) -> String {
        self.require_mount_elements(path);
        format!(
            "{scheme}://{host}:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// `rtsp://USER:PASSWORD_ENCODED@127.0.0.1:PORT/path`
    pub fn url_with_credentials(&self, path: &str) -> String {
        self.url_with_userinfo(path, USER, PASSWORD_ENCODED)
    }

    /// `rtsp://user:pass@127.0.0.1:PORT/path` (user/pass inserted verbatim:
    /// percent-encode them yourself).
    pub fn url_with_userinfo(&self, path: &str, user: &str, pass: &str) -> String {
        self.require_mount_elements(path);
        format!(
            "rtsp://{user}:{pass}@127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Counters of the RECORD mount at `path`.
    pub fn record_stats(&self, path: &str) -> Option<RecordStats> {
        self.records
            .lock()
            .unwrap()
            .get(&normalize_path(path))
            .cloned()
    }

    /// Number of RTSP sessions currently alive.
    pub fn n_sessions(&self) -> u32 {
        self.server
            .session_pool()
            .map(|p| p.n_sessions())
            .unwrap_or(0)
    }

    /// Number of connected RTSP clients (TCP connections).
    pub fn n_clients(&self) -> usize {
        self.server
            .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Ref))
            .len()
    }

    /// Forcefully disconnect all clients (e.g. to test reconnection).
    pub fn disconnect_all_clients(&self) {
        self.in_server_thread(|server| {
            server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        });
    }

    /// Run `f` on the server's own thread and wait (bounded) for it:
    /// closing a client from another thread leaves its watch spinning on
    /// the closed socket (GIO CRITICALs) until the loop stops.
    fn in_server_thread(&self, f: impl FnOnce(&gst_rtsp_server::RTSPServer) + Send + 'static) {
        let (done_tx, done_rx) = mpsc::channel();
        let server = self.server.clone();
        self.main_loop.context().invoke(move || {
            f(&server);
            let _ = done_tx.send(());
        });
        let _ = done_rx.recv_timeout(Duration::from_secs(5));
    }

    /// The underlying server, for anything not covered here.
    pub fn server(&self) -> &gst_rtsp_server::RTSPServer {
        &self.server
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Stop the loop first, then close clients and sessions (which takes
        // their media pipelines down): a closed client's watch would
        // otherwise spin on its dead socket for as long as the loop runs,
        // with a GIO CRITICAL per pass.
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            join_bounded(t, Duration::from_secs(5));
        }
        self.server
            .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        if let Some(pool) = self.server.session_pool() {
            pool.filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        }
    }
}

/// Per-path Basic/Digest authentication (see module docs).
mod path_auth {
    use std::sync::Mutex;

    use gst::glib;
    use gst::glib::subclass::prelude::*;
    use gst_rtsp_server::prelude::*;
    use gst_rtsp_server::subclass::prelude::*;

    use super::{AuthScheme, PASSWORD, REALM, USER};

    glib::wrapper! {
        pub struct PathAuth(ObjectSubclass<imp::PathAuth>)
            @extends gst_rtsp_server::RTSPAuth;
    }

    impl PathAuth {
        pub fn new() -> Self {
            let auth: Self = glib::Object::new();
            let token = gst_rtsp_server::RTSPToken::builder()
                .field(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, USER)
                .build();
            auth.add_basic(
                &gst_rtsp_server::RTSPAuth::make_basic(USER, PASSWORD),
                &token,
            );
            auth.add_digest(USER, PASSWORD, &token);
            auth.set_realm(Some(REALM));
            auth
        }

        pub fn protect(&self, path: &str, scheme: AuthScheme) {
            let mut rules = self.imp().rules.lock().unwrap();
            rules.retain(|(p, _)| p != path);
            rules.push((path.to_string(), scheme));
        }

        pub fn unprotect(&self, path: &str) {
            self.imp().rules.lock().unwrap().retain(|(p, _)| p != path);
        }
    }

    mod imp {
        use super::*;

        #[derive(Default)]
        pub struct PathAuth {
            pub(super) rules: Mutex<Vec<(String, AuthScheme)>>,
            header_lock: Mutex<()>,
        }

        #[glib::object_subclass]
        impl ObjectSubclass for PathAuth {
            const NAME: &'static str = "RtspClientTestPathAuth";
            type Type = super::PathAuth;
            type ParentType = gst_rtsp_server::RTSPAuth;
        }

        impl ObjectImpl for PathAuth {}

        impl PathAuth {
            /// Scheme protecting the request path of `ctx`, if any (longest
            /// matching mount path wins).
            fn scheme_for(&self, ctx: &gst_rtsp_server::RTSPContext) -> Option<AuthScheme> {
                let uri = ctx.uri()?.request_uri();
                let path = uri
                    .split_once("://")
                    .map(|(_, rest)| rest.find('/').map(|i| &rest[i..]).unwrap_or("/"))
                    .unwrap_or(uri.as_str());
                let path = path.split('?').next().unwrap_or(path);
                let rules = self.rules.lock().unwrap();
                rules
                    .iter()
                    .filter(|(p, _)| {
                        path == p
                            || (path.starts_with(p.as_str())
                                && path.as_bytes().get(p.len()) == Some(&b'/'))
                    })
                    .max_by_key(|(p, _)| p.len())
                    .map(|(_, s)| *s)
            }
        }

        impl RTSPAuthImpl for PathAuth {
            fn authenticate(&self, ctx: &gst_rtsp_server::RTSPContext) -> bool {
                if let (Some(scheme), Some(req)) = (self.scheme_for(ctx), ctx.request()) {
                    let creds = req.parse_auth_credentials();
                    if creds.iter().any(|c| c.scheme() != scheme.method()) {
                        // Wrong scheme for this mount: treat as no credentials
                        // (token stays unset -> 401 with the right challenge).
                        return true;
                    }
                }
                self.parent_authenticate(ctx)
            }

            fn check(&self, ctx: &gst_rtsp_server::RTSPContext, check: &glib::GString) -> bool {
                // The connect check is where RTSPAuth starts TLS (and
                // checks client certificates): for every mount.
                if check.as_str() == gst_rtsp_server::RTSP_AUTH_CHECK_CONNECT
                    || self.scheme_for(ctx).is_some()
                {
                    self.parent_check(ctx, check)
                } else {
                    // Public mount: behave like a server without auth.
                    check.as_str() != gst_rtsp_server::RTSP_AUTH_CHECK_TRANSPORT_CLIENT_SETTINGS
                }
            }

            fn generate_authenticate_header(&self, ctx: &gst_rtsp_server::RTSPContext) {
                let scheme = self.scheme_for(ctx).unwrap_or(AuthScheme::Basic);
                let _guard = self.header_lock.lock().unwrap();
                self.obj().set_supported_methods(scheme.method());
                self.parent_generate_authenticate_header(ctx);
            }
        }
    }
}

/// One stream of a [`MulticastServer`]: the SDP media line parts and the
/// launch piece that produces its RTP (ending in a payloader).
#[derive(Debug, Clone)]
pub struct McastStream {
    pub media: &'static str,
    pub rtpmap: &'static str,
    pub fmtp: &'static str,
    pub launch: String,
}

impl McastStream {
    pub fn h264(pay: u32) -> Self {
        McastStream {
            media: "video",
            rtpmap: "H264/90000",
            fmtp: "packetization-mode=1",
            launch: launch::h264_video(pay),
        }
    }
    pub fn h265(pay: u32) -> Self {
        McastStream {
            media: "video",
            rtpmap: "H265/90000",
            fmtp: "",
            launch: launch::h265_video(pay),
        }
    }
    pub fn opus(pay: u32) -> Self {
        McastStream {
            media: "audio",
            rtpmap: "OPUS/48000/2",
            fmtp: "",
            launch: launch::opus_audio(pay),
        }
    }
}

/// Multicast PLAY server usable with a client on the same host.
///
/// gst-rtsp-server's multicast cannot be received on the same host: for a
/// multicast stream it binds its own sending socket to `0.0.0.0:<group
/// port>` without `SO_REUSEADDR` (so a local receiver cannot bind the port)
/// and disables `IP_MULTICAST_LOOP`. This fixture therefore answers RTSP
/// with a scripted server (OPTIONS/DESCRIBE/SETUP/PLAY/GET_PARAMETER/
/// TEARDOWN; SETUP only accepts `multicast` transports, anything else gets
/// 461) and sends H.264 RTP (+ RTCP SR) with a plain `udpsink` (ephemeral
/// source port, loop=true, TTL 1) to `group:port` / `group:port+1`, which a
/// local receiver can join.
pub struct MulticastServer {
    rtsp: ScriptedServer,
    pipeline: gst::Pipeline,
    group: String,
    rtp_port: u16,
}

impl MulticastServer {
    /// Send H.264 via the interface chosen by the routing table.
    pub fn start() -> Self {
        Self::start_with_iface(None)
    }

    /// Send via `iface` (e.g. `"lo"`) when given. Receivers must then join
    /// on the same interface.
    pub fn start_with_iface(iface: Option<&str>) -> Self {
        Self::start_streams(&[McastStream::h264(0)], iface)
    }

    /// Serve `streams`; stream `i` goes to `group:rtp_port + 4 i` (RTCP +1).
    pub fn start_streams(streams: &[McastStream], iface: Option<&str>) -> Self {
        Self::start_placed(streams, iface, |rtsp_port| {
            let x = 1 + (rtsp_port as u32 % 250);
            // Below Linux's ephemeral range (32768-60999), so no UDP socket
            // of a concurrently running test can hold these ports; 8 ports
            // per server leave room for two streams' RTP/RTCP pairs.
            let rtp_port = (12000 + (rtsp_port as u32 % 2500) * 8) as u16;
            (format!("224.3.0.{x}"), rtp_port)
        })
    }

    /// Like [`Self::start_streams`] at a chosen group and port: a second
    /// sender on another group with the port of a first one.
    pub fn start_streams_at(
        streams: &[McastStream],
        iface: Option<&str>,
        group: &str,
        rtp_port: u16,
    ) -> Self {
        Self::start_placed(streams, iface, |_| (group.to_string(), rtp_port))
    }

    /// `place` gives the group and first RTP port from the RTSP port.
    fn start_placed(
        streams: &[McastStream],
        iface: Option<&str>,
        place: impl FnOnce(u16) -> (String, u16),
    ) -> Self {
        init();
        // Reserve the RTSP port first: `place` may derive a group/port
        // unique among concurrently running fixtures from it.
        let slot = Arc::new(Mutex::new(None::<(String, u16)>));
        let sl = slot.clone();
        let described: Vec<McastStream> = streams.to_vec();
        let rtsp = ScriptedServer::start_with(move |req| {
            let (group, port) = sl.lock().unwrap().clone().unwrap_or_default();
            multicast_reply(req, &group, port, &described)
        });
        let (group, rtp_port) = place(rtsp.port());
        *slot.lock().unwrap() = Some((group.clone(), rtp_port));

        let iface = iface
            .map(|i| format!(" multicast-iface={i}"))
            .unwrap_or_default();
        let mut launch = String::from("rtpbin name=rb ");
        for (i, stream) in streams.iter().enumerate() {
            let rtp = rtp_port + 4 * i as u16;
            launch.push_str(&format!(
                "{piece} ! rb.send_rtp_sink_{i} \
                 rb.send_rtp_src_{i} ! udpsink host={group} port={rtp} auto-multicast=true \
                   loop=true ttl-mc=1{iface} \
                 rb.send_rtcp_src_{i} ! udpsink host={group} port={rtcp} auto-multicast=true \
                   loop=true ttl-mc=1 sync=false async=false{iface} ",
                piece = stream.launch,
                rtcp = rtp + 1,
            ));
        }
        let pipeline = super::parse_pipeline(&launch);
        pipeline
            .set_state(gst::State::Playing)
            .expect("multicast sender pipeline failed to start");
        MulticastServer {
            rtsp,
            pipeline,
            group,
            rtp_port,
        }
    }

    /// `rtsp://127.0.0.1:PORT/mcast` (any path is accepted).
    pub fn url(&self) -> String {
        self.rtsp.url("/mcast")
    }
    pub fn port(&self) -> u16 {
        self.rtsp.port()
    }
    /// Multicast group the RTP is sent to.
    pub fn group(&self) -> &str {
        &self.group
    }
    /// RTP port (RTCP is `rtp_port + 1`).
    pub fn rtp_port(&self) -> u16 {
        self.rtp_port
    }
    /// The sending pipeline (its payloaders are `pay0`, `pay1`, …).
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }
    /// All RTSP requests received so far.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.rtsp.requests()
    }
    pub fn methods(&self) -> Vec<String> {
        self.rtsp.methods()
    }
}

impl Drop for MulticastServer {
    fn drop(&mut self) {
        super::stop_pipeline(&self.pipeline);
    }
}

const MCAST_SESSION: &str = "4d43415354";

fn multicast_reply(req: &RawRequest, group: &str, port: u16, streams: &[McastStream]) -> Reply {
    let cseq = req.cseq();
    let session = format!("{MCAST_SESSION};timeout=60");
    let ok = |headers: &[(&str, &str)], body: &[u8]| {
        Reply::Send(rtsp_response(cseq, 200, "OK", headers, body))
    };
    match req.method.as_str() {
        "OPTIONS" => ok(
            &[(
                "Public",
                "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, TEARDOWN",
            )],
            b"",
        ),
        "DESCRIBE" => {
            let mut sdp = format!(
                "v=0\r\n\
                 o=- 1 1 IN IP4 127.0.0.1\r\n\
                 s=rtspclient multicast test\r\n\
                 c=IN IP4 {group}/1\r\n\
                 t=0 0\r\n\
                 a=type:broadcast\r\n\
                 a=control:*\r\n"
            );
            for (i, stream) in streams.iter().enumerate() {
                let pt = 96 + i;
                sdp.push_str(&format!(
                    "m={} {} RTP/AVP {pt}\r\na=rtpmap:{pt} {}\r\n",
                    stream.media,
                    port + 4 * i as u16,
                    stream.rtpmap
                ));
                if !stream.fmtp.is_empty() {
                    sdp.push_str(&format!("a=fmtp:{pt} {}\r\n", stream.fmtp));
                }
                sdp.push_str(&format!("a=control:stream={i}\r\n"));
            }
            let base = format!("{}/", req.uri.trim_end_matches('/'));
            ok(
                &[
                    ("Content-Type", "application/sdp"),
                    ("Content-Base", base.as_str()),
                ],
                sdp.as_bytes(),
            )
        }
        "SETUP" => {
            let wants_mcast = req
                .header("Transport")
                .map(|t| {
                    t.split(',')
                        .any(|t| t.split(';').any(|p| p.trim() == "multicast"))
                })
                .unwrap_or(false);
            if !wants_mcast {
                return Reply::Send(rtsp_response(cseq, 461, "Unsupported transport", &[], b""));
            }
            let index: u16 = req
                .uri
                .rsplit("stream=")
                .next()
                .and_then(|i| i.trim_end_matches('/').parse().ok())
                .unwrap_or(0);
            let rtp = port + 4 * index;
            let transport = format!(
                "RTP/AVP;multicast;destination={group};port={rtp}-{};ttl=1",
                rtp + 1
            );
            ok(
                &[
                    ("Transport", transport.as_str()),
                    ("Session", session.as_str()),
                ],
                b"",
            )
        }
        "PLAY" => ok(&[("Session", session.as_str()), ("Range", "npt=now-")], b""),
        "TEARDOWN" => Reply::SendAndClose(rtsp_response(
            cseq,
            200,
            "OK",
            &[("Session", session.as_str())],
            b"",
        )),
        "GET_PARAMETER" | "SET_PARAMETER" | "PAUSE" => ok(&[("Session", session.as_str())], b""),
        _ => Reply::Send(rtsp_response(cseq, 501, "Not Implemented", &[], b"")),
    }
}
