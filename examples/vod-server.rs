//! A small on-demand RTSP server for trying VOD control by hand:
//! `cargo run --example vod-server -- FILE.mp4 [PORT]` serves the file's
//! first H.264 video and AAC audio tracks at `rtsp://127.0.0.1:PORT/vod`
//! (default port 8554), seekable, one media per client (not shared). Make a
//! file with, for example:
//! `gst-launch-1.0 -e videotestsrc num-buffers=300 ! x264enc key-int-max=30 ! mp4mux name=m ! filesink location=vod.mp4 audiotestsrc num-buffers=469 samplesperbuffer=1024 ! avenc_aac ! m.`
//! Stop with Ctrl-C.

use gst_rtsp_server::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    let file = std::env::args()
        .nth(1)
        .ok_or("usage: vod-server FILE.mp4 [PORT]")?;
    let port = std::env::args().nth(2).unwrap_or_else(|| "8554".into());
    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    let mounts = server.mount_points().ok_or("no mount points")?;
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( filesrc location=\"{file}\" ! qtdemux name=d \
           d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 \
           d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
    ));
    factory.set_shared(false);
    mounts.add_factory("/vod", factory);
    let _source = server.attach(None)?;
    println!("serving rtsp://127.0.0.1:{}/vod", server.bound_port());
    main_loop.run();
    Ok(())
}
