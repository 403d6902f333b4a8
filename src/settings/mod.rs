//! The properties both elements share (location, credentials, transports,
//! timeouts, keep-alive, redirects, reconnection, UDP ports, headers),
//! registered, set and read in one place. Each element keeps its own
//! settings type for the rest and embeds a [`CommonSettings`].

use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use rtspclient_protocol::message::Version;

use crate::driver::client::ClientConfig;
use crate::driver::udp::{UdpOptions, parse_port_range};
use crate::element_config::{self, Location, Protocol};
use crate::session::{ReconnectPolicy, SessionConfig};

mod tls;
mod values;
pub use tls::TlsSettings;
pub use values::*;

pub const DEFAULT_TCP_TIMEOUT_US: u64 = 20_000_000;
pub const DEFAULT_DO_RTSP_KEEP_ALIVE: bool = true;
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;
/// Kernel socket buffer of the UDP sockets: a 1080p key frame is several
/// hundred packets; 512 KiB takes a burst of them.
pub const DEFAULT_UDP_BUFFER_SIZE: i32 = 524_288;
pub const DEFAULT_RECONNECT: bool = true;
pub const DEFAULT_RECONNECT_BACKOFF_MIN_MS: u32 = 500;
pub const DEFAULT_RECONNECT_BACKOFF_MAX_MS: u32 = 30_000;
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 0;
/// What differs between the elements in the shared properties.
pub struct Flavour {
    /// `rtspsrc2` or `rtspsink`, for the default User-Agent.
    pub element: &'static str,
    pub default_protocols: &'static str,
    pub allow_multicast: bool,
    /// Whether the element tunnels over HTTP (`rtsph://`, `rtspsh://`).
    pub http_tunnel: bool,
    pub location_blurb: &'static str,
    pub protocols_blurb: &'static str,
    pub tcp_timeout_blurb: &'static str,
    pub udp_buffer_blurb: &'static str,
}

impl Flavour {
    pub fn default_user_agent(&self) -> String {
        format!("GStreamer {} {}", self.element, env!("CARGO_PKG_VERSION"))
    }
}

#[derive(Debug, Clone)]
pub struct CommonSettings {
    pub location: Location,
    pub user_id: Option<String>,
    pub user_pw: Option<String>,
    pub protocols: Vec<Protocol>,
    pub tcp_timeout: Duration,
    pub user_agent: String,
    pub do_rtsp_keep_alive: bool,
    pub max_redirects: u32,
    pub udp_buffer_size: i32,
    pub port_range: Option<String>,
    pub extra_headers: Option<gst::Structure>,
    pub reconnect: bool,
    pub reconnect_backoff_min: Duration,
    pub reconnect_backoff_max: Duration,
    pub reconnect_attempts: u32,
    pub rtsp_version: RtspVersion,
    pub ntp_time_source: NtpTimeSource,
    pub tls: TlsSettings,
}

impl CommonSettings {
    pub fn new(flavour: &Flavour) -> Self {
        CommonSettings {
            location: Location::new(flavour.http_tunnel),
            user_id: None,
            user_pw: None,
            protocols: element_config::parse_protocols(
                flavour.default_protocols,
                flavour.allow_multicast,
            )
            .expect("valid default"),
            tcp_timeout: Duration::from_micros(DEFAULT_TCP_TIMEOUT_US),
            user_agent: flavour.default_user_agent(),
            do_rtsp_keep_alive: DEFAULT_DO_RTSP_KEEP_ALIVE,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            udp_buffer_size: DEFAULT_UDP_BUFFER_SIZE,
            port_range: None,
            extra_headers: None,
            reconnect: DEFAULT_RECONNECT,
            reconnect_backoff_min: Duration::from_millis(DEFAULT_RECONNECT_BACKOFF_MIN_MS.into()),
            reconnect_backoff_max: Duration::from_millis(DEFAULT_RECONNECT_BACKOFF_MAX_MS.into()),
            reconnect_attempts: DEFAULT_RECONNECT_ATTEMPTS,
            rtsp_version: DEFAULT_RTSP_VERSION,
            ntp_time_source: DEFAULT_NTP_TIME_SOURCE,
            tls: TlsSettings::default(),
        }
    }

    /// The shared properties, in the order `gst-inspect-1.0` lists them.
    pub fn properties(flavour: &Flavour) -> Vec<glib::ParamSpec> {
        let mut list = vec![
            glib::ParamSpecString::builder("location")
                .nick("Location")
                .blurb(flavour.location_blurb)
                .build(),
            glib::ParamSpecString::builder("user-id")
                .nick("User ID")
                .blurb("User name for authentication; credentials in the location take precedence")
                .build(),
            glib::ParamSpecString::builder("user-pw")
                .nick("User password")
                .blurb("Password for authentication; write-only, so that no notify, gst-launch -v or log can show it")
                .write_only()
                .build(),
            glib::ParamSpecString::builder("protocols")
                .nick("Protocols")
                .blurb(flavour.protocols_blurb)
                .default_value(Some(flavour.default_protocols))
                .build(),
            glib::ParamSpecUInt64::builder("tcp-timeout")
                .nick("TCP timeout")
                .blurb(flavour.tcp_timeout_blurb)
                .minimum(1000)
                .default_value(DEFAULT_TCP_TIMEOUT_US)
                .build(),
            glib::ParamSpecString::builder("user-agent")
                .nick("User agent")
                .blurb("User-Agent header sent with every request")
                .default_value(Some(flavour.default_user_agent().as_str()))
                .build(),
            glib::ParamSpecBoolean::builder("do-rtsp-keep-alive")
                .nick("Do RTSP keep-alive")
                .blurb("Send keep-alive requests (GET_PARAMETER if the server lists it, else OPTIONS) at half the session timeout")
                .default_value(DEFAULT_DO_RTSP_KEEP_ALIVE)
                .build(),
            glib::ParamSpecUInt::builder("max-redirects")
                .nick("Maximum redirects")
                .blurb("How many 3xx answers or REDIRECT requests to follow before failing")
                .maximum(32)
                .default_value(DEFAULT_MAX_REDIRECTS)
                .build(),
            glib::ParamSpecBoolean::builder("reconnect")
                .nick("Reconnect")
                .blurb("After a session was established, recover from a lost connection, a server restart, a keep-alive answered 454 (or, when publishing, not answered within tcp-timeout) or data that stops (rtspsrc2's timeout) by connecting again with backoff, staying in PLAYING; errors no retry can fix (401, 404, 415, 461 on every transport) still fail at once. Each loss and recovery is posted as an element message (rtspclient-reconnect, rtspclient-reconnected)")
                .default_value(DEFAULT_RECONNECT)
                .build(),
            glib::ParamSpecUInt::builder("reconnect-backoff-min")
                .nick("Reconnect backoff minimum")
                .blurb("Milliseconds to wait before the first reconnection attempt; each failed attempt doubles the wait")
                .minimum(10)
                .default_value(DEFAULT_RECONNECT_BACKOFF_MIN_MS)
                .build(),
            glib::ParamSpecUInt::builder("reconnect-backoff-max")
                .nick("Reconnect backoff maximum")
                .blurb("Milliseconds the wait between reconnection attempts grows to at most")
                .minimum(10)
                .default_value(DEFAULT_RECONNECT_BACKOFF_MAX_MS)
                .build(),
            glib::ParamSpecUInt::builder("reconnect-attempts")
                .nick("Reconnect attempts")
                .blurb("Failed reconnection attempts in a row after which the element fails (0 = never give up)")
                .default_value(DEFAULT_RECONNECT_ATTEMPTS)
                .build(),
            glib::ParamSpecInt::builder("udp-buffer-size")
                .nick("UDP buffer size")
                .blurb(flavour.udp_buffer_blurb)
                .minimum(0)
                .default_value(DEFAULT_UDP_BUFFER_SIZE)
                .build(),
            glib::ParamSpecString::builder("port-range")
                .nick("Port range")
                .blurb("Local UDP port range for RTP/RTCP, e.g. \"3000-3005\" (default: any free ports)")
                .build(),
            glib::ParamSpecEnum::builder_with_default("default-rtsp-version", DEFAULT_RTSP_VERSION)
                .nick("Default RTSP version")
                .blurb("The RTSP version to try first (as rtspsrc's): with 2-0 (RFC 7826) requests go as RTSP/2.0 and a server answering the first OPTIONS with 505 or in RTSP/1.0 is spoken to in 1.0; 1-1 means 1.0 (there is no RTSP 1.1)")
                .build(),
            glib::ParamSpecBoxed::builder::<gst::Structure>("extra-http-request-headers")
                .nick("Extra request headers")
                .blurb("Extra headers added to every RTSP request: field name = header name, string value")
                .build(),
            glib::ParamSpecEnum::builder_with_default("ntp-time-source", DEFAULT_NTP_TIME_SOURCE)
                .nick("NTP time source")
                .blurb("NTP time source for RTCP packets (set on rtpbin, as C rtspsrc and rtspclientsink do): ntp and unix are the realtime clock (since 1900 or 1970), running-time the pipeline's running time, clock-time the pipeline clock's time")
                .build(),
        ];
        list.extend(TlsSettings::properties());
        list
    }

    /// Set a shared property; `Ok(false)` when `name` is not one of them.
    /// `running` says whether a session runs (the location is fixed then).
    /// A value refused is reported as `Err` and leaves the setting as it
    /// was (the location: unset, see [`Location::set`]).
    pub fn set(
        &mut self,
        flavour: &Flavour,
        name: &str,
        value: &glib::Value,
        running: bool,
    ) -> Result<bool, String> {
        const CHECKED: &str = "type checked upstream";
        match name {
            "location" => {
                let location: Option<String> = value.get().expect(CHECKED);
                self.location
                    .set(running, location.as_deref())
                    .map_err(|err| format!("Refusing location: {}", err.message()))?;
            }
            "user-id" => self.user_id = value.get().expect(CHECKED),
            "user-pw" => self.user_pw = value.get().expect(CHECKED),
            "protocols" => {
                let text: Option<String> = value.get().expect(CHECKED);
                self.protocols = element_config::parse_protocols(
                    text.as_deref().unwrap_or(flavour.default_protocols),
                    flavour.allow_multicast,
                )
                .map_err(|err| format!("Ignoring protocols: {err}"))?;
            }
            "tcp-timeout" => self.tcp_timeout = Duration::from_micros(value.get().expect(CHECKED)),
            "user-agent" => {
                self.user_agent = value
                    .get::<Option<String>>()
                    .expect(CHECKED)
                    .unwrap_or_else(|| flavour.default_user_agent())
            }
            "do-rtsp-keep-alive" => self.do_rtsp_keep_alive = value.get().expect(CHECKED),
            "max-redirects" => self.max_redirects = value.get().expect(CHECKED),
            "reconnect" => self.reconnect = value.get().expect(CHECKED),
            "reconnect-backoff-min" => {
                self.reconnect_backoff_min =
                    Duration::from_millis(value.get::<u32>().expect(CHECKED).into())
            }
            "reconnect-backoff-max" => {
                self.reconnect_backoff_max =
                    Duration::from_millis(value.get::<u32>().expect(CHECKED).into())
            }
            "reconnect-attempts" => self.reconnect_attempts = value.get().expect(CHECKED),
            "udp-buffer-size" => self.udp_buffer_size = value.get().expect(CHECKED),
            "port-range" => {
                let range: Option<String> = value.get().expect(CHECKED);
                match range.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                    None => self.port_range = None,
                    Some(r) if parse_port_range(r).is_some() => {
                        self.port_range = Some(r.to_string())
                    }
                    Some(r) => return Err(format!("Ignoring invalid port-range '{r}'")),
                }
            }
            "extra-http-request-headers" => self.extra_headers = value.get().expect(CHECKED),
            "default-rtsp-version" => {
                let version: RtspVersion = value.get().expect(CHECKED);
                if version == RtspVersion::Invalid {
                    return Err("Ignoring default-rtsp-version 'invalid'".into());
                }
                self.rtsp_version = version;
            }
            "ntp-time-source" => self.ntp_time_source = value.get().expect(CHECKED),
            _ => return self.tls.set(name, value),
        }
        Ok(true)
    }

    /// [`CommonSettings::set`] for a property setter, which cannot fail: a
    /// refused value is logged on `object` (and a refused location makes
    /// starting fail with the reason). True when `name` is a shared
    /// property.
    pub fn apply(
        &mut self,
        flavour: &Flavour,
        object: &gst::Object,
        name: &str,
        value: &glib::Value,
        running: bool,
    ) -> bool {
        match self.set(flavour, name, value, running) {
            Ok(shared) => shared,
            Err(err) => {
                gst::error!(crate::session::CAT, obj = object, "{err}");
                true
            }
        }
    }

    /// A shared property's value; `None` when `name` is not one of them.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        let to_ms = |d: Duration| d.as_millis().min(u32::MAX as u128) as u32;
        Some(match name {
            "location" => self.location.get().to_value(),
            "user-id" => self.user_id.to_value(),
            "protocols" => element_config::protocols_to_string(&self.protocols).to_value(),
            "tcp-timeout" => (self.tcp_timeout.as_micros() as u64).to_value(),
            "user-agent" => self.user_agent.to_value(),
            "do-rtsp-keep-alive" => self.do_rtsp_keep_alive.to_value(),
            "max-redirects" => self.max_redirects.to_value(),
            "reconnect" => self.reconnect.to_value(),
            "reconnect-backoff-min" => to_ms(self.reconnect_backoff_min).to_value(),
            "reconnect-backoff-max" => to_ms(self.reconnect_backoff_max).to_value(),
            "reconnect-attempts" => self.reconnect_attempts.to_value(),
            "udp-buffer-size" => self.udp_buffer_size.to_value(),
            "port-range" => self.port_range.to_value(),
            "extra-http-request-headers" => self.extra_headers.to_value(),
            "default-rtsp-version" => self.rtsp_version.to_value(),
            "ntp-time-source" => self.ntp_time_source.to_value(),
            _ => return self.tls.get(name),
        })
    }

    /// What a session needs from these settings; the UDP buffer size and
    /// multicast interface are the element's to fill in.
    pub fn session_config(&self) -> Result<SessionConfig, gst::ErrorMessage> {
        let url = self.location.url()?;
        let protocols = element_config::protocols_for_scheme(&url, &self.protocols)?;
        let credentials =
            element_config::credentials(self.user_id.as_deref(), self.user_pw.as_deref());
        Ok(SessionConfig {
            url,
            credentials,
            protocols,
            client: ClientConfig {
                user_agent: self.user_agent.clone(),
                timeout: self.tcp_timeout,
                extra_headers: element_config::extra_headers(self.extra_headers.as_ref()),
                tls: self.tls.options.clone(),
                http_proxy: None,
                version: protocol_version(self.rtsp_version),
            },
            keep_alive: self.do_rtsp_keep_alive,
            udp: UdpOptions {
                port_range: self.port_range.as_deref().and_then(parse_port_range),
                buffer_size: 0,
                multicast_iface: None,
            },
            max_redirects: self.max_redirects,
            reconnect: ReconnectPolicy {
                enabled: self.reconnect,
                backoff_min: self.reconnect_backoff_min,
                backoff_max: self.reconnect_backoff_max.max(self.reconnect_backoff_min),
                max_attempts: self.reconnect_attempts,
            },
            teardown_timeout: crate::session::TEARDOWN_TIMEOUT,
        })
    }
}

/// The version requests start with: 2.0 when asked for, else 1.0 (1.1
/// was never specified).
fn protocol_version(version: RtspVersion) -> Version {
    match version {
        RtspVersion::V2_0 => Version::Rtsp20,
        _ => Version::Rtsp10,
    }
}

/// An element whose shared properties are a [`CommonSettings`] inside its
/// own settings: the property and URI handler glue both need, once.
pub trait CommonSettingsOwner {
    fn flavour() -> &'static Flavour;
    /// Whether a session runs (the location is fixed then). Called
    /// without the settings locked.
    fn session_running(&self) -> bool;
    fn with_common<R>(&self, f: impl FnOnce(&mut CommonSettings) -> R) -> R;
    fn as_object(&self) -> gst::Object;

    /// `set_property` of a shared property; false when `name` is not one.
    fn set_common_property(&self, name: &str, value: &glib::Value) -> bool {
        let running = self.session_running();
        let object = self.as_object();
        self.with_common(|common| common.apply(Self::flavour(), &object, name, value, running))
    }

    /// `property` of a shared property; `None` when `name` is not one.
    fn common_property(&self, name: &str) -> Option<glib::Value> {
        self.with_common(|common| common.get(name))
    }

    /// `GstURIHandler::get_uri`: the location, without credentials.
    fn location_uri(&self) -> Option<String> {
        self.with_common(|common| common.location.get())
    }

    /// `GstURIHandler::set_uri`.
    fn set_location_uri(&self, uri: &str) -> Result<(), glib::Error> {
        let running = self.session_running();
        self.with_common(|common| common.location.set(running, Some(uri)))
    }
}

/// The `GstURIHandler` and [`CommonSettingsOwner`] implementations of an
/// element `$element` (the subclass implementation type) whose settings
/// are `self.settings: Mutex<_>` with a `common` field, whose running
/// session is `self.state: Mutex<_>` with a `task` option, and whose
/// module has `URI_PROTOCOLS` and `settings::FLAVOUR`.
macro_rules! common_settings_glue {
    ($element:ty, $uri_type:expr) => {
        impl URIHandlerImpl for $element {
            const URI_TYPE: gst::URIType = $uri_type;

            fn protocols() -> &'static [&'static str] {
                URI_PROTOCOLS
            }

            fn uri(&self) -> Option<String> {
                self.location_uri()
            }

            fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
                self.set_location_uri(uri)
            }
        }

        impl $crate::settings::CommonSettingsOwner for $element {
            fn flavour() -> &'static $crate::settings::Flavour {
                &settings::FLAVOUR
            }

            fn session_running(&self) -> bool {
                self.state.lock().unwrap().task.is_some()
            }

            fn with_common<R>(
                &self,
                f: impl FnOnce(&mut $crate::settings::CommonSettings) -> R,
            ) -> R {
                f(&mut self.settings.lock().unwrap().common)
            }

            fn as_object(&self) -> gst::Object {
                self.obj().clone().upcast()
            }
        }
    };
}
pub(crate) use common_settings_glue;
