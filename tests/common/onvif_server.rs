//! gst-rtsp-server's ONVIF replay support for the ONVIF tests: an
//! `RTSPOnvifServer` (its clients honour `Require: onvif-replay`, `Frames`
//! and `Rate-Control`) with one `RTSPOnvifMediaFactory` mount with replay
//! support, serving the VOD test media's video through `rtponviftimestamp`
//! with `ntp-offset=0` (not `set-t-bit`: with it no packet with the T flag
//! reached the client at the end of a range, and after two seeks the
//! server sent nothing for a third): the absolute time of every access unit is then its
//! stream time in the file, counted from 1900-01-01 (as in gst-rtsp-server's
//! own ONVIF tests), and a `clock=` range seeks the file to the same time.
//!
//! [`OnvifServer::media_times`] are the stream times the server's payloader
//! got (its sink pad), to compare the client's absolute times with, and
//! [`super::recording_proxy::RecordingProxy`] records the requests the
//! client sent.

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_rtsp_server::prelude::*;

use super::init;
use super::server_thread::ServerThread;
use super::vod_media::Media;

/// Stream times (ns) of the access units the server's payloader got.
pub type MediaTimes = Arc<Mutex<Vec<u64>>>;

pub struct OnvifServer {
    running: ServerThread,
    pub port: u16,
    media_times: MediaTimes,
}

/// The launch line: `media`'s H.264 as pay0, the payloader followed by
/// `rtponviftimestamp` (named pay0, so that the server takes its RTP).
fn launch(media: &Media) -> String {
    format!(
        "( filesrc location={} ! qtdemux ! h264parse ! \
         rtph264pay name=pay pt=96 aggregate-mode=zero-latency ! \
         rtponviftimestamp name=pay0 ntp-offset=0 )",
        media.file.display()
    )
}

impl OnvifServer {
    pub fn start(media: &Media, path: &str) -> OnvifServer {
        Self::start_with_backchannel(media, path, None)
    }

    /// [`Self::start`], the media also offering an audio backchannel
    /// made from `backchannel` (a launch line) to clients that require it.
    pub fn start_with_backchannel(
        media: &Media,
        path: &str,
        backchannel: Option<&str>,
    ) -> OnvifServer {
        init();
        let server = gst_rtsp_server::RTSPOnvifServer::new();
        let factory = gst_rtsp_server::RTSPOnvifMediaFactory::new();
        factory.set_launch(&launch(media));
        factory.set_replay_support(true);
        factory.set_backchannel_launch(backchannel);
        // Its construct() makes nothing (DESCRIBE: 400) unless the media
        // type is an ONVIF media, and the default one is not.
        factory.set_media_gtype(gst_rtsp_server::RTSPOnvifMedia::static_type());
        factory.set_protocols(gst_rtsp::RTSPLowerTrans::TCP);
        let media_times: MediaTimes = Arc::default();
        let times = media_times.clone();
        factory.connect_media_configure(move |_, rtsp_media| {
            let Ok(bin) = rtsp_media.element().downcast::<gst::Bin>() else {
                return;
            };
            let Some(pad) = bin.by_name("pay").and_then(|p| p.static_pad("sink")) else {
                return;
            };
            let times = times.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
                    && let Some(segment) = pad
                        .sticky_event::<gst::event::Segment>(0)
                        .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned())
                    && let Some(time) = buffer.pts().and_then(|p| segment.to_stream_time(p))
                {
                    times.lock().unwrap().push(time.nseconds());
                }
                gst::PadProbeReturn::Ok
            });
        });
        server
            .mount_points()
            .expect("mount points")
            .add_factory(path, factory);

        let running = ServerThread::start(server.upcast());
        OnvifServer {
            port: running.port,
            running,
            media_times,
        }
    }

    /// Close every client connection (the server's side of a network
    /// cut); their sessions stay until they time out.
    pub fn drop_clients(&self) {
        self.running.disconnect_all();
    }

    /// Stream times the payloader got so far (ns, in arrival order).
    pub fn media_times(&self) -> Vec<u64> {
        self.media_times.lock().unwrap().clone()
    }
}
