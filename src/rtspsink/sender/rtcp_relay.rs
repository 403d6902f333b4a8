//! RTCP between `rtpbin` and the server: sender reports and BYE out over
//! the stream's route, receiver reports in.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use gst::prelude::*;
use rtspclient_protocol::rtcp;

use super::{Route, StreamSender};
use crate::driver::packet_route::PacketRoute;
use crate::rtspsink::imp::CAT;

impl StreamSender {
    /// RTCP from rtpbin (sender reports, BYE): never blocks the RTCP
    /// thread; a report that does not fit is dropped, the next follows.
    pub(super) fn send_rtcp(&self, buffer: &gst::BufferRef) {
        let route = self.state.lock().unwrap().route.clone();
        let (Some(route), Ok(map)) = (route, buffer.map_readable()) else {
            return;
        };
        let bye = rtcp::contains_bye(&map);
        if bye {
            // rtpbin sends BYE right after EOS; its RTCP EOS event does not
            // always follow, so the BYE itself marks the stream done. Marked
            // before it goes out: ffmpeg's listen mode closes the connection
            // as soon as the BYE arrives, and the session task must know
            // by then that the close is the normal end (a fresh-clone CI
            // run lost that race once, with this thread preempted between
            // the send and the mark).
            self.state.lock().unwrap().rtcp_eos = true;
        }
        let rtcp_route = match route {
            Route::Interleaved { writer, rtcp, .. } => PacketRoute::Interleaved {
                writer,
                channel: rtcp,
            },
            Route::Udp(udp) => PacketRoute::Udp {
                socket: udp.rtcp_socket.clone(),
                destination: udp.rtcp,
            },
        };
        let _ = rtcp_route.try_send(&map);
        if bye {
            gst::debug!(CAT, obj = self.rtcp_pad, "BYE sent");
            if let Some(control) = self.control.upgrade() {
                control.changed.notify_one();
            }
        }
    }

    /// RTCP from the server (receiver reports) into rtpbin.
    pub fn push_rtcp(&self, data: Bytes) {
        if self.flushing.load(Ordering::SeqCst) {
            return;
        }
        // SRTCP from a server that announced no key of its own cannot be
        // read (gst-rtsp-server sends none when recording): dropped here
        // rather than fed to a decoder that has no key for it.
        if self.srtp().is_some_and(|keys| !keys.has_remote()) {
            return;
        }
        {
            let mut state = self.state.lock().unwrap();
            if !state.rtcp_in_started {
                state.rtcp_in_started = true;
                self.rtcp_in
                    .push_event(gst::event::StreamStart::builder(&self.stream_id).build());
                self.rtcp_in
                    .push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple(
                        "application/x-rtcp",
                    )));
                self.rtcp_in
                    .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
            }
        }
        // Flushing / not-linked while shutting down is nobody's error.
        let _ = self.rtcp_in.push(gst::Buffer::from_slice(data));
    }
}
