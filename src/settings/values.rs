//! The enumerated values of shared properties, with the nicks of the C
//! elements' types.

use gst::glib;

/// RTSP 1.0 first, as C `rtspsrc`; 2.0 (RFC 7826) when asked for.
pub const DEFAULT_RTSP_VERSION: RtspVersion = RtspVersion::V1_0;

/// `default-rtsp-version`: the values and nicks of C `rtspsrc`'s
/// `GstRTSPVersion` (which gstreamer-rs does not bind), so that
/// `default-rtsp-version=2-0` reads the same for both.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspClientVersion")]
pub enum RtspVersion {
    #[enum_value(name = "GST_RTSP_VERSION_INVALID", nick = "invalid")]
    Invalid = 0x00,
    #[enum_value(name = "GST_RTSP_VERSION_1_0", nick = "1-0")]
    V1_0 = 0x10,
    #[enum_value(name = "GST_RTSP_VERSION_1_1", nick = "1-1")]
    V1_1 = 0x11,
    #[enum_value(name = "GST_RTSP_VERSION_2_0", nick = "2-0")]
    V2_0 = 0x20,
}

/// As both C elements and rtpbin: NTP time from the realtime clock.
pub const DEFAULT_NTP_TIME_SOURCE: NtpTimeSource = NtpTimeSource::Ntp;

/// Where the NTP time of the RTCP reports the element sends comes from
/// (rtpbin's sessions stamp them): the values of
/// C `rtspsrc`'s and `rtspclientsink`'s `ntp-time-source` and of rtpbin's,
/// which both elements hand it to by nick. Its own type name: the C
/// elements' types may be registered in the same process (an in-process
/// gst-rtsp-server, C `rtspsrc`), and a GType name can exist once.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspClientNtpTimeSource")]
pub enum NtpTimeSource {
    #[enum_value(name = "NTP time based on realtime clock", nick = "ntp")]
    Ntp = 0,
    #[enum_value(name = "UNIX time based on realtime clock", nick = "unix")]
    Unix = 1,
    #[enum_value(name = "Running time based on pipeline clock", nick = "running-time")]
    RunningTime = 2,
    #[enum_value(name = "Pipeline clock time", nick = "clock-time")]
    ClockTime = 3,
}

impl NtpTimeSource {
    /// The nick, which is also rtpbin's for the same value.
    pub fn nick(self) -> &'static str {
        match self {
            NtpTimeSource::Ntp => "ntp",
            NtpTimeSource::Unix => "unix",
            NtpTimeSource::RunningTime => "running-time",
            NtpTimeSource::ClockTime => "clock-time",
        }
    }
}
