//! A small RTSP server for trying the elements by hand:
//! `cargo run --example test-server -- [PORT]` serves
//! `rtsp://127.0.0.1:PORT/test` (H.264 test pattern, live) and
//! `rtsp://127.0.0.1:PORT/test-av` (H.264 + Opus). Stop with Ctrl-C.

use gst_rtsp_server::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    let port = std::env::args().nth(1).unwrap_or_else(|| "8554".into());
    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    let mounts = server.mount_points().ok_or("no mount points")?;
    let video = "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! \
                 x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay name=pay0 pt=96";
    for (path, launch) in [
        ("/test", format!("( {video} )")),
        (
            "/test-av",
            format!(
                "( {video} audiotestsrc is-live=true ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay name=pay1 pt=97 )"
            ),
        ),
    ] {
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&launch);
        factory.set_shared(true);
        mounts.add_factory(path, factory);
    }
    let _source = server.attach(None)?;
    println!(
        "serving rtsp://127.0.0.1:{}/test and /test-av",
        server.bound_port()
    );
    main_loop.run();
    Ok(())
}
