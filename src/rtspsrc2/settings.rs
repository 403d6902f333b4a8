//! Property values of `rtspsrc2` and their defaults.

use std::time::Duration;

use gst::glib;

pub const DEFAULT_PROTOCOLS: &str = "udp,udp-mcast,tcp";
/// C `rtspsrc` waits 5 s for UDP before trying TCP; same here.
pub const DEFAULT_TIMEOUT_US: u64 = 5_000_000;
pub const DEFAULT_TCP_TIMEOUT_US: u64 = 20_000_000;
/// Jitter buffer size. C `rtspsrc` uses 2000 ms; for live cameras 200 ms is
/// the better default (the issue asks for at most 200 ms).
pub const DEFAULT_LATENCY_MS: u32 = 200;
pub const DEFAULT_DROP_ON_LATENCY: bool = false;
pub const DEFAULT_BUFFER_MODE: BufferMode = BufferMode::Auto;
pub const DEFAULT_NTP_SYNC: bool = false;
pub const DEFAULT_DO_RTCP: bool = true;
pub const DEFAULT_UDP_BUFFER_SIZE: i32 = 524_288;
pub const DEFAULT_DO_RTSP_KEEP_ALIVE: bool = true;
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;
pub const DEFAULT_JITTERBUFFER: Jitterbuffer = Jitterbuffer::Light;

pub fn default_user_agent() -> String {
    format!("GStreamer rtspsrc2 {}", env!("CARGO_PKG_VERSION"))
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

impl Jitterbuffer {
    /// The light jitterbuffer has no buffering messages and no synced
    /// clocks: those modes get GStreamer's own.
    pub fn effective(self, mode: BufferMode) -> Jitterbuffer {
        match mode {
            BufferMode::Buffer | BufferMode::Synced => Jitterbuffer::Standard,
            _ => self,
        }
    }
}

pub use crate::element_config::{Protocol, protocols_to_string};

#[derive(Debug, Clone)]
pub struct Settings {
    pub location: crate::element_config::Location,
    pub user_id: Option<String>,
    pub user_pw: Option<String>,
    pub protocols: Vec<Protocol>,
    pub timeout: Duration,
    pub tcp_timeout: Duration,
    pub latency_ms: u32,
    pub drop_on_latency: bool,
    pub buffer_mode: BufferMode,
    pub ntp_sync: bool,
    pub do_rtcp: bool,
    pub udp_buffer_size: i32,
    pub port_range: Option<String>,
    pub multicast_iface: Option<String>,
    pub user_agent: String,
    pub do_rtsp_keep_alive: bool,
    pub max_redirects: u32,
    pub extra_headers: Option<gst::Structure>,
    pub jitterbuffer: Jitterbuffer,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: Default::default(),
            user_id: None,
            user_pw: None,
            protocols: crate::element_config::parse_protocols(DEFAULT_PROTOCOLS, true)
                .expect("valid default"),
            timeout: Duration::from_micros(DEFAULT_TIMEOUT_US),
            tcp_timeout: Duration::from_micros(DEFAULT_TCP_TIMEOUT_US),
            latency_ms: DEFAULT_LATENCY_MS,
            drop_on_latency: DEFAULT_DROP_ON_LATENCY,
            buffer_mode: DEFAULT_BUFFER_MODE,
            ntp_sync: DEFAULT_NTP_SYNC,
            do_rtcp: DEFAULT_DO_RTCP,
            udp_buffer_size: DEFAULT_UDP_BUFFER_SIZE,
            port_range: None,
            multicast_iface: None,
            user_agent: default_user_agent(),
            do_rtsp_keep_alive: DEFAULT_DO_RTSP_KEEP_ALIVE,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            extra_headers: None,
            jitterbuffer: DEFAULT_JITTERBUFFER,
        }
    }
}
