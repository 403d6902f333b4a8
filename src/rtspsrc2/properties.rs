//! The properties `rtspsrc2` has of its own (those both elements share
//! are in `crate::settings`): their specs, with nick, blurb and default,
//! and how each one sets and reads the element's [`Settings`]. `stats`
//! reads the element itself and stays in `imp.rs`; `proxy-pw` is
//! write-only, so GObject never asks [`get`] for it.

use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use super::settings::{self, Settings};

const CHECKED: &str = "type checked upstream";

/// The specs, in the order gst-inspect-1.0 lists them.
pub fn specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt64::builder("timeout")
            .nick("Data timeout")
            .blurb("Microseconds without data after which the session counts as lost: UDP that never brought anything is retried over TCP (if allowed), otherwise the element reconnects (see reconnect) or fails; 0 = wait forever")
            .default_value(settings::DEFAULT_TIMEOUT_US)
            .build(),
        glib::ParamSpecUInt::builder("latency")
            .nick("Latency")
            .blurb("Jitterbuffer size in milliseconds")
            .default_value(settings::DEFAULT_LATENCY_MS)
            .build(),
        glib::ParamSpecBoolean::builder("drop-on-latency")
            .nick("Drop on latency")
            .blurb("Drop packets that arrive later than the latency allows instead of delaying the stream")
            .default_value(settings::DEFAULT_DROP_ON_LATENCY)
            .build(),
        glib::ParamSpecEnum::builder_with_default("buffer-mode", settings::DEFAULT_BUFFER_MODE)
            .nick("Buffer mode")
            .blurb("How the jitterbuffer maps RTP time to running time")
            .build(),
        glib::ParamSpecEnum::builder_with_default("jitterbuffer", settings::DEFAULT_JITTERBUFFER)
            .nick("Jitterbuffer")
            .blurb("The jitterbuffer rtpbin uses per stream: light (rtplightjitterbuffer: reorders within latency, loss events, skew and lip-sync; one thread per stream, much cheaper with many streams) or rtpjitterbuffer (GStreamer's: also RTX; two threads per stream). buffer-mode buffer or synced, rfc7273-sync, add-reference-timestamp-meta and max-ts-offset-adjustment other than 0 always use rtpjitterbuffer")
            .build(),
        glib::ParamSpecBoolean::builder("ntp-sync")
            .nick("NTP sync")
            .blurb("Synchronise received streams to the NTP clock of the sender reports")
            .default_value(settings::DEFAULT_NTP_SYNC)
            .build(),
        glib::ParamSpecBoolean::builder("do-rtcp")
            .nick("Do RTCP")
            .blurb("Send RTCP receiver reports to the server")
            .default_value(settings::DEFAULT_DO_RTCP)
            .build(),
        glib::ParamSpecBoolean::builder("do-retransmission")
            .nick("Do retransmission")
            .blurb("Ask the server to resend lost packets (RFC 4588 RTX with RTCP NACKs) on the streams whose SDP offers an rtx payload type; those streams use rtpjitterbuffer whatever the jitterbuffer property says, since the light one cannot ask for packets. Needs do-rtcp and a UDP transport to matter (TCP loses nothing)")
            .default_value(settings::DEFAULT_DO_RETRANSMISSION)
            .build(),
        glib::ParamSpecEnum::builder_with_default("nat-method", settings::DEFAULT_NAT_METHOD)
            .nick("NAT method")
            .blurb("How to open NATs and stateful firewalls for the server's UDP packets: dummy sends one small datagram from each local RTP and RTCP port to the server's ports after SETUP (ignored by RTP stacks), none sends nothing")
            .build(),
        glib::ParamSpecFlags::builder::<gst_rtsp::RTSPProfile>("profiles")
            .default_value(settings::DEFAULT_PROFILES)
            .nick("Profiles")
            .blurb("RTP profiles the element may play: avp, avpf, savp and savpf (SRTP, RFC 3711, with the server's key from the SDP's MIKEY key-mgmt and ours for RTCP in the SETUP KeyMgmt header). A stream described with another profile is not played; when none is left, the element posts an error")
            .build(),
        glib::ParamSpecString::builder("proxy")
            .nick("Proxy")
            .blurb("HTTP proxy for rtsph:// and rtspsh:// locations: [http://][user:password@]host[:port] (port 3128 if not given); rtspsh:// goes through a CONNECT tunnel. Reads back without user and password")
            .build(),
        glib::ParamSpecString::builder("proxy-id")
            .nick("Proxy user ID")
            .blurb("User name for the HTTP proxy (Basic authentication); wins over a user in proxy")
            .build(),
        glib::ParamSpecString::builder("proxy-pw")
            .nick("Proxy password")
            .blurb("Password for the HTTP proxy; write-only, so that no notify, gst-launch -v or log can show it")
            .write_only()
            .build(),
        glib::ParamSpecBoolean::builder("pause-live")
            .nick("Pause live streams")
            .blurb("Send PAUSE to the server when the element pauses a live stream (one whose SDP has no finite range), as C rtspsrc does; on PLAYING the server resumes at its live edge. FALSE keeps the server sending and drops the packets while paused, for servers that end or mishandle paused live sessions. On-demand streams are always paused (when the server allows PAUSE)")
            .default_value(settings::DEFAULT_PAUSE_LIVE)
            .build(),
        glib::ParamSpecEnum::builder_with_default("rate-header", settings::DEFAULT_RATE_HEADER)
            .nick("Rate header")
            .blurb("How a seek with a rate other than 1.0 on an on-demand stream is asked of the server: scale (the Scale header: the server plays the media faster or slower and sends it in real time) or speed (the Speed header: the server sends faster or slower than real time; gst-rtsp-server treats both alike). The segments after the seek carry the rate the server answered as their applied rate. A negative rate is reverse playback: Scale carries it, or with speed Scale: -1.0 and Speed its magnitude; in onvif-mode the ONVIF rules for Scale and Speed apply instead")
            .build(),
        glib::ParamSpecString::builder("multicast-iface")
            .nick("Multicast interface")
            .blurb("IPv4 address of the interface to join multicast groups on (default: system choice)")
            .build(),
        glib::ParamSpecBoolean::builder("rfc7273-sync")
            .nick("Sync on RFC7273 clock")
            .blurb("Synchronize received streams to the RFC7273 clock (requires clock and offset to be provided: a=ts-refclk and a=mediaclk in the SDP; set on rtpbin). Needs rtpjitterbuffer: when TRUE the streams get it whatever jitterbuffer says")
            .default_value(settings::DEFAULT_RFC7273_SYNC)
            .build(),
        glib::ParamSpecBoolean::builder("add-reference-timestamp-meta")
            .nick("Add Reference Timestamp Meta")
            .blurb("Add Reference Timestamp Meta to buffers with the original clock timestamp before any adjustments when syncing to an RFC7273 clock or after clock synchronization via RTCP or inband NTP-64 header extensions has happened (reference caps timestamp/x-ntp, set on rtpbin). Needs rtpjitterbuffer: when TRUE the streams get it whatever jitterbuffer says")
            .default_value(settings::DEFAULT_ADD_REFERENCE_TIMESTAMP_META)
            .build(),
        glib::ParamSpecBoolean::builder("use-pipeline-clock")
            .nick("Use pipeline clock")
            .blurb("Use the pipeline running-time to set the NTP time in the RTCP SR messages (DEPRECATED: Use ntp-time-source property; set on rtpbin)")
            .default_value(settings::DEFAULT_USE_PIPELINE_CLOCK)
            .flags(glib::ParamFlags::READWRITE | glib::ParamFlags::DEPRECATED)
            .build(),
        glib::ParamSpecInt64::builder("max-ts-offset")
            .nick("Max TS Offset")
            .blurb("The maximum absolute value of the time offset in (nanoseconds). Note, if the ntp-sync parameter is set the default value is changed to 0 (no limit). Given to rtpbin only when set, as C rtspsrc does; rtpbin applies the offsets to both jitterbuffers")
            .minimum(0)
            .default_value(settings::DEFAULT_MAX_TS_OFFSET_NS)
            .build(),
        glib::ParamSpecUInt64::builder("max-ts-offset-adjustment")
            .nick("Max Timestamp Offset Adjustment")
            .blurb("The maximum number of nanoseconds per frame that time stamp offsets may be adjusted (0 = no limit; set on rtpbin and its jitterbuffers). The light jitterbuffer applies an offset at once: a value other than 0 gives the streams rtpjitterbuffer")
            .default_value(settings::DEFAULT_MAX_TS_OFFSET_ADJUSTMENT_NS)
            .build(),
        glib::ParamSpecBoolean::builder("is-live")
            .nick("Is live")
            .blurb("Whether to act as a live source: TRUE returns NO_PREROLL from PAUSED and answers the latency query live; FALSE makes the state changes succeed like a non-live source's, asks the server to PLAY already in PAUSED so the pipeline prerolls, stamps packets from the element's start and answers the latency query not live. FALSE needs the light jitterbuffer: rtpjitterbuffer holds its output until PLAYING")
            .default_value(settings::DEFAULT_IS_LIVE)
            .build(),
        glib::ParamSpecUInt64::builder("teardown-timeout")
            .nick("Teardown Timeout")
            .blurb("When transitioning PAUSED-READY, allow up to timeout (in nanoseconds) delay in order to send teardown (0 = disabled: TEARDOWN is sent without waiting; it is always bounded by at least 2 s in the background)")
            .default_value(settings::DEFAULT_TEARDOWN_TIMEOUT_NS)
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("sdes")
            .nick("SDES")
            .blurb("The SDES items of this session (set on rtpbin, which puts them into our RTCP; unset keeps rtpbin's own cname and tool)")
            .build(),
        glib::ParamSpecUInt::builder("probation")
            .nick("Number of probations")
            .blurb("Consecutive packet sequence numbers to accept the source (set on each rtpbin session)")
            .default_value(settings::DEFAULT_PROBATION)
            .build(),
        glib::ParamSpecInt::builder("max-rtcp-rtp-time-diff")
            .nick("Max RTCP RTP Time Diff")
            .blurb("Maximum amount of time in ms that the RTP time in RTCP SRs is allowed to be ahead (-1 disabled; set on rtpbin, which passes it to either jitterbuffer)")
            .minimum(-1)
            .default_value(settings::DEFAULT_MAX_RTCP_RTP_TIME_DIFF_MS)
            .build(),
        glib::ParamSpecEnum::builder::<settings::Backchannel>("backchannel")
            .nick("Backchannel type")
            .blurb("The type of backchannel to setup. Default is 'none'. onvif: DESCRIBE and SETUP require www.onvif.org/ver20/backchannel, and the server's a=sendonly stream is set up for sending (no stream_%u pad): select-stream sees it with an a-sendonly field, RTP goes to it through the backchannel_%u request pads or push-backchannel-sample. A server answering 551 plays without it (warning)")
            .build(),
        glib::ParamSpecBoolean::builder("onvif-mode")
            .nick("Onvif Mode")
            .blurb("Act as an ONVIF replay client (as C rtspsrc): SETUP and PLAY carry Require: onvif-replay, only TCP is offered, seeks are in nanoseconds since 1900-01-01 (the NTP epoch) and go out as Range: clock=..., a negative rate is reverse playback (Scale), trick mode key units and forward predicted seeks ask for Frames: intra[/<interval ms>] and predicted; buffers get the absolute time of the ONVIF RTP header extension as PTS and as a reference timestamp meta (timestamp/x-ntp), in a segment of absolute time with the rate the server answered. Taken when the element starts")
            .default_value(settings::DEFAULT_ONVIF_MODE)
            .build(),
        glib::ParamSpecBoolean::builder("onvif-rate-control")
            .nick("Onvif Rate Control")
            .blurb("When in onvif-mode, whether to set Rate-Control to yes or no (no: the server sends as fast as it can, for export or analysis)")
            .default_value(settings::DEFAULT_ONVIF_RATE_CONTROL)
            .build(),
    ]
}

/// Set property `name`; false if it is not one of these.
pub fn set(settings: &mut Settings, name: &str, value: &glib::Value) -> bool {
    match name {
        "timeout" => settings.timeout = Duration::from_micros(value.get().expect(CHECKED)),
        "latency" => settings.latency_ms = value.get().expect(CHECKED),
        "drop-on-latency" => settings.drop_on_latency = value.get().expect(CHECKED),
        "buffer-mode" => settings.buffer_mode = value.get().expect(CHECKED),
        "ntp-sync" => settings.ntp_sync = value.get().expect(CHECKED),
        "jitterbuffer" => settings.jitterbuffer = value.get().expect(CHECKED),
        "do-rtcp" => settings.do_rtcp = value.get().expect(CHECKED),
        "multicast-iface" => settings.multicast_iface = value.get().expect(CHECKED),
        "pause-live" => settings.pause_live = value.get().expect(CHECKED),
        "rate-header" => settings.rate_header = value.get().expect(CHECKED),
        "do-retransmission" => settings.do_retransmission = value.get().expect(CHECKED),
        "nat-method" => settings.nat_method = value.get().expect(CHECKED),
        "profiles" => settings.profiles = value.get().expect(CHECKED),
        "proxy" => settings.proxy = value.get().expect(CHECKED),
        "proxy-id" => settings.proxy_id = value.get().expect(CHECKED),
        "proxy-pw" => settings.proxy_pw = value.get().expect(CHECKED),
        "rfc7273-sync" => settings.rfc7273_sync = value.get().expect(CHECKED),
        "add-reference-timestamp-meta" => {
            settings.add_reference_timestamp_meta = value.get().expect(CHECKED)
        }
        "use-pipeline-clock" => settings.use_pipeline_clock = value.get().expect(CHECKED),
        "max-ts-offset" => {
            settings.max_ts_offset_ns = value.get().expect(CHECKED);
            settings.max_ts_offset_set = true;
        }
        "max-ts-offset-adjustment" => {
            settings.max_ts_offset_adjustment_ns = value.get().expect(CHECKED)
        }
        "is-live" => settings.is_live = value.get().expect(CHECKED),
        "teardown-timeout" => settings.teardown_timeout_ns = value.get().expect(CHECKED),
        "sdes" => settings.sdes = value.get().expect(CHECKED),
        "probation" => settings.probation = value.get().expect(CHECKED),
        "max-rtcp-rtp-time-diff" => {
            settings.max_rtcp_rtp_time_diff_ms = value.get().expect(CHECKED)
        }
        "backchannel" => settings.backchannel = value.get().expect(CHECKED),
        "onvif-mode" => settings.onvif_mode = value.get().expect(CHECKED),
        "onvif-rate-control" => settings.onvif_rate_control = value.get().expect(CHECKED),
        _ => return false,
    }
    true
}

/// Read property `name`; `None` if it is not one of these.
pub fn get(settings: &Settings, name: &str) -> Option<glib::Value> {
    let value = match name {
        "timeout" => (settings.timeout.as_micros() as u64).to_value(),
        "latency" => settings.latency_ms.to_value(),
        "drop-on-latency" => settings.drop_on_latency.to_value(),
        "buffer-mode" => settings.buffer_mode.to_value(),
        "ntp-sync" => settings.ntp_sync.to_value(),
        "jitterbuffer" => settings.jitterbuffer.to_value(),
        "do-rtcp" => settings.do_rtcp.to_value(),
        "multicast-iface" => settings.multicast_iface.to_value(),
        "pause-live" => settings.pause_live.to_value(),
        "rate-header" => settings.rate_header.to_value(),
        "do-retransmission" => settings.do_retransmission.to_value(),
        "nat-method" => settings.nat_method.to_value(),
        "profiles" => settings.profiles.to_value(),
        "proxy" => settings.proxy_without_credentials().to_value(),
        "proxy-id" => settings.proxy_id.to_value(),
        "rfc7273-sync" => settings.rfc7273_sync.to_value(),
        "add-reference-timestamp-meta" => settings.add_reference_timestamp_meta.to_value(),
        "use-pipeline-clock" => settings.use_pipeline_clock.to_value(),
        "max-ts-offset" => settings.max_ts_offset_ns.to_value(),
        "max-ts-offset-adjustment" => settings.max_ts_offset_adjustment_ns.to_value(),
        "is-live" => settings.is_live.to_value(),
        "teardown-timeout" => settings.teardown_timeout_ns.to_value(),
        "sdes" => settings.sdes.to_value(),
        "probation" => settings.probation.to_value(),
        "max-rtcp-rtp-time-diff" => settings.max_rtcp_rtp_time_diff_ms.to_value(),
        "backchannel" => settings.backchannel.to_value(),
        "onvif-mode" => settings.onvif_mode.to_value(),
        "onvif-rate-control" => settings.onvif_rate_control.to_value(),
        _ => return None,
    };
    Some(value)
}
