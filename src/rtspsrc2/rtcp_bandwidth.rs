//! Each stream's RTCP bandwidth from its description's `b=` lines.
//!
//! RTCP gets a share of the session bandwidth (RFC 3550 §6.2: 5 %, or
//! what RFC 3556's `b=RS`/`b=RR` say), and the interval between reports
//! follows from it. Without a figure rtpsession assumes 64 kbit/s until
//! it has measured the stream (two seconds of packets), which for video
//! means a regular interval of about half a second. With RTP/AVPF that
//! interval (T_rr) is also how far apart early feedback may be (RFC 4585
//! §3.5.2 step 4a/6: one early packet, then none until T_rr after it), so
//! the NACKs of retransmission (RFC 4588) would leave up to half a second
//! after the loss: too late for the sender's history and the latency.
//! With the server's `b=AS` a 1.5 Mbit/s stream gets T_rr of about 15 ms
//! and each NACK leaves at once. C `rtspsrc` sizes its sessions from the
//! same lines.

use gst::prelude::*;
use rtspclient_protocol::caps::Bandwidth;

use super::imp::CAT;

/// Apply `bandwidth` to session `session` of `rtpbin`; what the
/// description does not say goes back to rtpsession's default (a restarted
/// session may describe less than the last one).
pub fn configure(rtpbin: &gst::Element, session: usize, bandwidth: Bandwidth) {
    let Some(element) =
        rtpbin.emit_by_name::<Option<gst::Element>>("get-session", &[&(session as u32)])
    else {
        return;
    };
    // rtpsession counts in bits per second (its interval is 8 × the average
    // RTCP packet size over these), whatever its property blurbs say; 0 =
    // measure, -1 = derive from the others.
    let session_bps = bandwidth
        .application_kbps
        .map_or(0.0, |kbps| f64::from(kbps) * 1000.0);
    let rtcp = |bps: Option<u32>| bps.map_or(-1, |bps| i32::try_from(bps).unwrap_or(i32::MAX));
    gst::debug!(
        CAT,
        "Session {session}: bandwidth {session_bps} bit/s, RTCP senders {}, receivers {}",
        rtcp(bandwidth.rtcp_senders_bps),
        rtcp(bandwidth.rtcp_receivers_bps)
    );
    element.set_property("bandwidth", session_bps);
    element.set_property("rtcp-rs-bandwidth", rtcp(bandwidth.rtcp_senders_bps));
    element.set_property("rtcp-rr-bandwidth", rtcp(bandwidth.rtcp_receivers_bps));
}
