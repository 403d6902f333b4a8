//! The RTSP session both elements run, below the elements and above the
//! driver: connecting with OPTIONS ([`link`]), SETUP of every stream with
//! the fallback from one lower transport to the next ([`transports`];
//! pipelined in RTSP 2.0, `pipelined_setup`),
//! keep-alive ([`keep_alive`]), redirects, the bounded TEARDOWN, and
//! reconnection with backoff ([`reconnect`], [`runner`]). What differs
//! between playing and recording (DESCRIBE and PLAY or ANNOUNCE and
//! RECORD, and what happens to the media) is the element's [`runner::Role`].

use std::time::Duration;

use rtspclient_protocol::auth::Credentials;
use rtspclient_protocol::url::RtspUrl;

use crate::driver::client::ClientConfig;
use crate::driver::udp::UdpOptions;
pub use crate::element_config::Protocol;

pub mod keep_alive;
pub mod link;
pub mod messages;
mod pipelined_setup;
pub mod reconnect;
pub mod rtsp2;
pub mod runner;
pub mod transports;

pub use link::{Events, Link};
pub use reconnect::ReconnectPolicy;
pub use runner::{Ended, Role};

/// Everything a session needs from the shared settings, copied when the
/// element starts.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub url: RtspUrl,
    pub credentials: Option<Credentials>,
    /// Lower transports in the user's order, narrowed by the URL scheme.
    pub protocols: Vec<Protocol>,
    pub client: ClientConfig,
    pub keep_alive: bool,
    pub udp: UdpOptions,
    pub max_redirects: u32,
    pub reconnect: ReconnectPolicy,
    /// How long the TEARDOWN at the end of a session may take (the
    /// request and its answer); [`TEARDOWN_TIMEOUT`] unless the element
    /// has a property for it.
    pub teardown_timeout: Duration,
}

/// Default bound on TEARDOWN when a session ends or the element stops: the
/// element does not wait for it (unless `rtspsrc2`'s `teardown-timeout`
/// says so), but the task should not linger either.
pub const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);

pub static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtspsession",
        gst::DebugColorFlags::empty(),
        Some("RTSP session shared by rtspsrc2 and rtspsink"),
    )
});
