//! Property values of `rtspsrc2` and their defaults.

use crate::driver::http_proxy::{HttpProxy, without_userinfo};
use std::time::Duration;

use gst::glib;
use rtspclient_protocol::play_rate::RateHeader;

pub use super::backchannel::Backchannel;
use crate::settings::{CommonSettings, Flavour};

/// What `rtspsrc2` makes of the shared properties.
pub static FLAVOUR: Flavour = Flavour {
    element: "rtspsrc2",
    default_protocols: "udp,udp-mcast,tcp",
    http_tunnel: true,
    allow_multicast: true,
    location_blurb: "RTSP URL to play: rtsp://[user[:password]@]host[:port]/path (rtspt:// forces TCP, rtspu:// UDP; rtsps:// and rtspst:// speak TLS, default port 322, media interleaved in the TLS connection; rtsph:// and rtspsh:// tunnel through HTTP and HTTPS, see proxy). Reads back without user and password, which stay in use: a location read back must not show them in gst-launch -v, logs or bus messages",
    protocols_blurb: "Allowed lower transports in priority order, comma separated: udp, udp-mcast, tcp",
    tcp_timeout_blurb: "Microseconds to wait for a TCP connection and for each RTSP response",
    udp_buffer_blurb: "Kernel receive buffer size of UDP sockets in bytes (0 = system default)",
};

/// C `rtspsrc` waits 5 s for UDP before trying TCP; same here.
pub const DEFAULT_TIMEOUT_US: u64 = 5_000_000;
/// Jitter buffer size. C `rtspsrc` uses 2000 ms; for live cameras 200 ms is
/// the better default (the issue asks for at most 200 ms).
pub const DEFAULT_LATENCY_MS: u32 = 200;
pub const DEFAULT_DROP_ON_LATENCY: bool = false;
pub const DEFAULT_BUFFER_MODE: BufferMode = BufferMode::Auto;
pub const DEFAULT_NTP_SYNC: bool = false;
pub const DEFAULT_DO_RTCP: bool = true;
pub const DEFAULT_JITTERBUFFER: Jitterbuffer = Jitterbuffer::Light;
/// As C `rtspsrc`: retransmission when the server offers it.
pub const DEFAULT_DO_RETRANSMISSION: bool = true;
pub const DEFAULT_NAT_METHOD: NatMethod = NatMethod::Dummy;
/// As C `rtspsrc`: PAUSE goes to live servers too.
pub const DEFAULT_PAUSE_LIVE: bool = true;
/// The timing properties' defaults are C `rtspsrc`'s (and rtpbin's).
pub const DEFAULT_RFC7273_SYNC: bool = false;
pub const DEFAULT_ADD_REFERENCE_TIMESTAMP_META: bool = false;
pub const DEFAULT_USE_PIPELINE_CLOCK: bool = false;
pub const DEFAULT_MAX_TS_OFFSET_NS: i64 = 3_000_000_000;
pub const DEFAULT_MAX_TS_OFFSET_ADJUSTMENT_NS: u64 = 0;
pub const DEFAULT_IS_LIVE: bool = true;
/// C `rtspsrc`: 100 ms for the TEARDOWN at PAUSED to READY.
pub const DEFAULT_TEARDOWN_TIMEOUT_NS: u64 = 100_000_000;
pub const DEFAULT_PROBATION: u32 = 2;
pub const DEFAULT_MAX_RTCP_RTP_TIME_DIFF_MS: i32 = 1000;
/// C `rtspsrc` 1.22: not an ONVIF replay client unless asked.
pub const DEFAULT_ONVIF_MODE: bool = false;
/// C `rtspsrc` 1.22: `Rate-Control: yes` (the server paces the data).
pub const DEFAULT_ONVIF_RATE_CONTROL: bool = true;
/// Every profile: play what the server offers, SRTP included.
pub const DEFAULT_PROFILES: gst_rtsp::RTSPProfile = gst_rtsp::RTSPProfile::from_bits_truncate(
    gst_rtsp::RTSPProfile::AVP.bits()
        | gst_rtsp::RTSPProfile::SAVP.bits()
        | gst_rtsp::RTSPProfile::AVPF.bits()
        | gst_rtsp::RTSPProfile::SAVPF.bits(),
);

/// How the path for the server's UDP packets is opened before PLAY, with
/// C `rtspsrc`'s values.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSrc2NatMethod")]
pub enum NatMethod {
    #[enum_value(name = "None: send nothing before PLAY", nick = "none")]
    None = 0,
    #[enum_value(
        name = "Dummy: one small datagram from each local port to the server's ports",
        nick = "dummy"
    )]
    Dummy = 1,
}

/// Jitterbuffer mode, mirroring C `rtspsrc`'s `buffer-mode` values.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSrc2BufferMode")]
pub enum BufferMode {
    #[enum_value(name = "Only use RTP timestamps", nick = "none")]
    None = 0,
    #[enum_value(name = "Slave receiver to sender clock", nick = "slave")]
    Slave = 1,
    #[enum_value(name = "Do low/high watermark buffering", nick = "buffer")]
    Buffer = 2,
    #[enum_value(name = "Choose mode depending on stream live", nick = "auto")]
    Auto = 3,
    #[enum_value(name = "Synchronized sender and receiver clocks", nick = "synced")]
    Synced = 4,
}

impl BufferMode {
    /// The `rtpbin` `buffer-mode` nick. Auto picks slave: rtspsrc2 plays
    /// live streams, where slaving to the sender clock is right.
    pub fn rtpbin_nick(self) -> &'static str {
        match self {
            BufferMode::None => "none",
            BufferMode::Slave | BufferMode::Auto => "slave",
            BufferMode::Buffer => "buffer",
            BufferMode::Synced => "synced",
        }
    }
}

/// Which header asks the server for a seek's rate other than 1.0.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSrc2RateHeader")]
pub enum RateHeaderSetting {
    #[enum_value(
        name = "Scale: the server plays the media faster or slower, RTP in real time (RFC 2326 12.34)",
        nick = "scale"
    )]
    Scale = 0,
    #[enum_value(
        name = "Speed: the server delivers faster or slower than real time, RTP in media time (RFC 2326 12.35)",
        nick = "speed"
    )]
    Speed = 1,
}

impl RateHeaderSetting {
    pub fn header(self) -> RateHeader {
        match self {
            RateHeaderSetting::Scale => RateHeader::Scale,
            RateHeaderSetting::Speed => RateHeader::Speed,
        }
    }
}

pub const DEFAULT_RATE_HEADER: RateHeaderSetting = RateHeaderSetting::Scale;

/// Which jitterbuffer `rtpbin` gets for each stream.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSrc2Jitterbuffer")]
pub enum Jitterbuffer {
    #[enum_value(
        name = "rtplightjitterbuffer: one thread per stream, batched output",
        nick = "light"
    )]
    Light = 0,
    #[enum_value(
        name = "rtpjitterbuffer: GStreamer's, two threads per stream",
        nick = "rtpjitterbuffer"
    )]
    Standard = 1,
}

impl Settings {
    /// The jitterbuffer the streams get. The light one has no buffering
    /// messages, no synced clocks, no RFC 7273 media clocks, no reference
    /// timestamp metas and applies rtpbin's `ts-offset` at once: settings
    /// that ask for any of these get GStreamer's own.
    pub fn effective_jitterbuffer(&self) -> Jitterbuffer {
        let needs_standard = matches!(self.buffer_mode, BufferMode::Buffer | BufferMode::Synced)
            || self.rfc7273_sync
            || self.add_reference_timestamp_meta
            || self.max_ts_offset_adjustment_ns != 0;
        if needs_standard {
            Jitterbuffer::Standard
        } else {
            self.jitterbuffer
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub timeout: Duration,
    pub latency_ms: u32,
    pub drop_on_latency: bool,
    pub buffer_mode: BufferMode,
    pub ntp_sync: bool,
    pub do_rtcp: bool,
    pub multicast_iface: Option<String>,
    /// `pause-live`: send PAUSE for live streams too.
    pub pause_live: bool,
    /// `rate-header`: Scale or Speed for rates other than 1.0.
    pub rate_header: RateHeaderSetting,
    pub jitterbuffer: Jitterbuffer,
    pub do_retransmission: bool,
    pub nat_method: NatMethod,
    pub profiles: gst_rtsp::RTSPProfile,
    /// `proxy` as set (it may carry user and password).
    pub proxy: Option<String>,
    pub proxy_id: Option<String>,
    pub proxy_pw: Option<String>,
    pub rfc7273_sync: bool,
    pub add_reference_timestamp_meta: bool,
    pub use_pipeline_clock: bool,
    pub max_ts_offset_ns: i64,
    /// Whether `max-ts-offset` was set: as C `rtspsrc`, rtpbin only gets
    /// it then, so that rtpbin's own rule (no limit with `ntp-sync`)
    /// applies otherwise.
    pub max_ts_offset_set: bool,
    pub max_ts_offset_adjustment_ns: u64,
    pub is_live: bool,
    pub teardown_timeout_ns: u64,
    pub sdes: Option<gst::Structure>,
    pub probation: u32,
    pub max_rtcp_rtp_time_diff_ms: i32,
    pub backchannel: Backchannel,
    /// `onvif-mode`: ONVIF replay client (see `super::onvif`).
    pub onvif_mode: bool,
    pub onvif_rate_control: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            common: CommonSettings::new(&FLAVOUR),
            timeout: Duration::from_micros(DEFAULT_TIMEOUT_US),
            latency_ms: DEFAULT_LATENCY_MS,
            drop_on_latency: DEFAULT_DROP_ON_LATENCY,
            buffer_mode: DEFAULT_BUFFER_MODE,
            ntp_sync: DEFAULT_NTP_SYNC,
            do_rtcp: DEFAULT_DO_RTCP,
            multicast_iface: None,
            pause_live: DEFAULT_PAUSE_LIVE,
            rate_header: DEFAULT_RATE_HEADER,
            jitterbuffer: DEFAULT_JITTERBUFFER,
            do_retransmission: DEFAULT_DO_RETRANSMISSION,
            nat_method: DEFAULT_NAT_METHOD,
            profiles: DEFAULT_PROFILES,
            proxy: None,
            proxy_id: None,
            proxy_pw: None,
            rfc7273_sync: DEFAULT_RFC7273_SYNC,
            add_reference_timestamp_meta: DEFAULT_ADD_REFERENCE_TIMESTAMP_META,
            use_pipeline_clock: DEFAULT_USE_PIPELINE_CLOCK,
            max_ts_offset_ns: DEFAULT_MAX_TS_OFFSET_NS,
            max_ts_offset_set: false,
            max_ts_offset_adjustment_ns: DEFAULT_MAX_TS_OFFSET_ADJUSTMENT_NS,
            is_live: DEFAULT_IS_LIVE,
            teardown_timeout_ns: DEFAULT_TEARDOWN_TIMEOUT_NS,
            sdes: None,
            probation: DEFAULT_PROBATION,
            max_rtcp_rtp_time_diff_ms: DEFAULT_MAX_RTCP_RTP_TIME_DIFF_MS,
            backchannel: Backchannel::None,
            onvif_mode: DEFAULT_ONVIF_MODE,
            onvif_rate_control: DEFAULT_ONVIF_RATE_CONTROL,
        }
    }
}

impl Settings {
    /// The HTTP proxy for tunnelled locations, if one is set.
    pub fn http_proxy(&self) -> Result<Option<HttpProxy>, gst::ErrorMessage> {
        let Some(text) = self.proxy.as_deref().filter(|p| !p.trim().is_empty()) else {
            return Ok(None);
        };
        HttpProxy::parse(text, self.proxy_id.as_deref(), self.proxy_pw.as_deref())
            .map(Some)
            .map_err(|err| gst::error_msg!(gst::ResourceError::Settings, ["Invalid proxy: {err}"]))
    }

    /// `proxy` as read back: without user and password.
    pub fn proxy_without_credentials(&self) -> Option<String> {
        let text = self.proxy.as_deref()?;
        Some(match HttpProxy::parse(text, None, None) {
            Ok(proxy) => format!("http://{}", proxy.host_port),
            Err(_) => without_userinfo(text),
        })
    }
}
