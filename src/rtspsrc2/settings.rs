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

/// A lower transport, in the order the user prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    UdpMulticast,
    Tcp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::UdpMulticast => "udp-mcast",
            Protocol::Tcp => "tcp",
        }
    }
}

/// Parse a `protocols` value: names in priority order, separated by commas,
/// `+`, `|` or spaces ("tcp", "udp,tcp", "udp-mcast+udp+tcp"). Unknown names
/// are an error so that typos do not silently change the transport.
pub fn parse_protocols(value: &str) -> Result<Vec<Protocol>, String> {
    let mut list = Vec::new();
    for name in value
        .split([',', '+', '|', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let protocol = match name.to_ascii_lowercase().as_str() {
            "udp" | "udp-unicast" => Protocol::Udp,
            "udp-mcast" | "multicast" | "udp-multicast" => Protocol::UdpMulticast,
            "tcp" | "interleaved" => Protocol::Tcp,
            other => return Err(format!("unknown protocol '{other}'")),
        };
        if !list.contains(&protocol) {
            list.push(protocol);
        }
    }
    if list.is_empty() {
        return Err("no protocol given".into());
    }
    Ok(list)
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub location: Option<String>,
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            user_id: None,
            user_pw: None,
            protocols: parse_protocols(DEFAULT_PROTOCOLS).expect("valid default"),
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
        }
    }
}

pub fn protocols_to_string(list: &[Protocol]) -> String {
    list.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_keep_priority_order() {
        assert_eq!(
            parse_protocols("tcp,udp").unwrap(),
            vec![Protocol::Tcp, Protocol::Udp]
        );
        assert_eq!(
            parse_protocols("udp-mcast+udp+tcp").unwrap(),
            vec![Protocol::UdpMulticast, Protocol::Udp, Protocol::Tcp]
        );
        assert_eq!(parse_protocols(" TCP ").unwrap(), vec![Protocol::Tcp]);
        assert_eq!(parse_protocols("udp,udp").unwrap(), vec![Protocol::Udp]);
        assert!(parse_protocols("tpc").is_err());
        assert!(parse_protocols("").is_err());
    }

    #[test]
    fn default_round_trips() {
        let list = parse_protocols(DEFAULT_PROTOCOLS).unwrap();
        assert_eq!(protocols_to_string(&list), DEFAULT_PROTOCOLS);
    }
}
