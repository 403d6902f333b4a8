//! Property values of `rtspsink` and their defaults.

use gst::glib;

use crate::settings::{CommonSettings, Flavour};

/// What `rtspsink` makes of the shared properties. Protocols: UDP first,
/// TCP when the server refuses it (461), the order C `rtspclientsink` and
/// ffmpeg use.
pub static FLAVOUR: Flavour = Flavour {
    element: "rtspsink",
    default_protocols: "udp,tcp",
    http_tunnel: false,
    allow_multicast: false,
    location_blurb: "RTSP URL to publish to: rtsp://[user[:password]@]host[:port]/path (rtspt:// forces TCP, rtspu:// UDP; rtsps:// and rtspst:// speak TLS, default port 322, media interleaved in the TLS connection; rtsph:// is refused: no HTTP tunnelling for publishing). Reads back without user and password, which stay in use: a location read back must not show them in gst-launch -v, logs or bus messages",
    protocols_blurb: "Allowed lower transports in priority order, comma separated: udp, tcp (the next one is tried when the server refuses one with 461)",
    tcp_timeout_blurb: "Microseconds to wait for a TCP connection, for each RTSP response, for the other pads' first buffers once one pad has data, and for ANNOUNCE to RECORD as a whole",
    udp_buffer_blurb: "Kernel send buffer size of the UDP sockets in bytes (0 = system default)",
};

pub const DEFAULT_SYNC: bool = true;
/// As C `rtspclientsink`: plain RTP/AVP.
pub const DEFAULT_PROFILES: gst_rtsp::RTSPProfile = gst_rtsp::RTSPProfile::AVP;
pub const DEFAULT_BACKPRESSURE: Backpressure = Backpressure::Block;
/// As C `rtspclientsink`: the payloaders' own packet size.
pub const DEFAULT_RTP_BLOCKSIZE: u32 = 0;
pub const DEFAULT_PUBLISH_CLOCK_MODE: PublishClockMode = PublishClockMode::Clock;

/// C `rtspclientsink`'s `publish-clock-mode` values (GstRTSPPublishClockMode;
/// our own type name, since gst-rtsp-server may register that one in the
/// same process).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSinkPublishClockMode")]
pub enum PublishClockMode {
    #[enum_value(name = "GST_RTSP_PUBLISH_CLOCK_MODE_NONE", nick = "none")]
    None = 0,
    #[enum_value(name = "GST_RTSP_PUBLISH_CLOCK_MODE_CLOCK", nick = "clock")]
    Clock = 1,
    #[enum_value(
        name = "GST_RTSP_PUBLISH_CLOCK_MODE_CLOCK_AND_OFFSET",
        nick = "clock-and-offset"
    )]
    ClockAndOffset = 2,
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub sync: bool,
    pub backpressure: Backpressure,
    pub profiles: gst_rtsp::RTSPProfile,
    pub rtp_blocksize: u32,
    pub publish_clock_mode: PublishClockMode,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            common: CommonSettings::new(&FLAVOUR),
            sync: DEFAULT_SYNC,
            backpressure: DEFAULT_BACKPRESSURE,
            profiles: DEFAULT_PROFILES,
            rtp_blocksize: DEFAULT_RTP_BLOCKSIZE,
            publish_clock_mode: DEFAULT_PUBLISH_CLOCK_MODE,
        }
    }
}
