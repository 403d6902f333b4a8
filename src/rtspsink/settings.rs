//! Property values of `rtspsink` and their defaults.

use std::time::Duration;

use gst::glib;

/// Try UDP first and fall back to TCP when the server refuses it (461),
/// the order C `rtspclientsink` and ffmpeg use.
pub const DEFAULT_PROTOCOLS: &str = "udp,tcp";
pub const DEFAULT_TCP_TIMEOUT_US: u64 = 20_000_000;
pub const DEFAULT_SYNC: bool = true;
pub const DEFAULT_BACKPRESSURE: Backpressure = Backpressure::Block;
pub const DEFAULT_DO_RTSP_KEEP_ALIVE: bool = true;
/// Kernel send buffer of the UDP sockets: a 320x240 key frame is ~30
/// packets, a 1080p one several hundred; 512 KiB takes a burst of them.
pub const DEFAULT_UDP_BUFFER_SIZE: i32 = 524_288;

pub fn default_user_agent() -> String {
    format!("GStreamer rtspsink {}", env!("CARGO_PKG_VERSION"))
}

/// What to do when the server (or the link to it) cannot take the data as
/// fast as it comes.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSinkBackpressure")]
pub enum Backpressure {
    #[enum_value(
        name = "Block upstream until the queued data has been written",
        nick = "block"
    )]
    Block = 0,
    #[enum_value(
        name = "Drop packets while the write queue is full (counted in 'dropped')",
        nick = "drop"
    )]
    Drop = 1,
}

pub use crate::element_config::{Protocol, protocols_to_string};

#[derive(Debug, Clone)]
pub struct Settings {
    pub location: crate::element_config::Location,
    pub user_id: Option<String>,
    pub user_pw: Option<String>,
    pub protocols: Vec<Protocol>,
    pub tcp_timeout: Duration,
    pub sync: bool,
    pub backpressure: Backpressure,
    pub user_agent: String,
    pub do_rtsp_keep_alive: bool,
    pub udp_buffer_size: i32,
    pub port_range: Option<String>,
    pub extra_headers: Option<gst::Structure>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: Default::default(),
            user_id: None,
            user_pw: None,
            protocols: crate::element_config::parse_protocols(DEFAULT_PROTOCOLS, false)
                .expect("valid default"),
            tcp_timeout: Duration::from_micros(DEFAULT_TCP_TIMEOUT_US),
            sync: DEFAULT_SYNC,
            backpressure: DEFAULT_BACKPRESSURE,
            user_agent: default_user_agent(),
            do_rtsp_keep_alive: DEFAULT_DO_RTSP_KEEP_ALIVE,
            udp_buffer_size: DEFAULT_UDP_BUFFER_SIZE,
            port_range: None,
            extra_headers: None,
        }
    }
}
