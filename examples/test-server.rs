//! A small RTSP server for trying the elements by hand:
//! `cargo run --example test-server -- [PORT]` serves
//! `rtsp://127.0.0.1:PORT/test` (H.264 test pattern, live) and
//! `rtsp://127.0.0.1:PORT/test-av` (H.264 + Opus), and takes H.264
//! published to `rtsp://127.0.0.1:PORT/record` (RECORD), printing
//! `recorded N` for every 10th access unit received. A second argument
//! sets the session timeout in seconds (default: gst-rtsp-server's 60).
//! Stop with Ctrl-C.

use gst::prelude::*;
use gst_rtsp_server::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    let port = std::env::args().nth(1).unwrap_or_else(|| "8554".into());
    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    if let Some(timeout) = std::env::args().nth(2).and_then(|t| t.parse::<u32>().ok()) {
        server.connect_client_connected(move |_, client| {
            client.connect_new_session(move |_, session| session.set_timeout(timeout));
        });
    }
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
    mounts.add_factory("/record", record_factory());
    let _source = server.attach(None)?;
    println!(
        "serving rtsp://127.0.0.1:{}/test and /test-av",
        server.bound_port()
    );
    main_loop.run();
    Ok(())
}

/// A RECORD mount that counts the H.264 access units it receives.
fn record_factory() -> gst_rtsp_server::RTSPMediaFactory {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RECORDED: AtomicU64 = AtomicU64::new(0);
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_transport_mode(gst_rtsp_server::RTSPTransportMode::RECORD);
    factory.set_launch(
        "( rtph264depay name=depay0 ! video/x-h264,alignment=au ! \
           fakesink name=recorded signal-handoffs=true sync=false async=false )",
    );
    factory.connect_media_configure(|_, media| {
        let Ok(bin) = media.element().downcast::<gst::Bin>() else {
            return;
        };
        if let Some(sink) = bin.by_name_recurse_up("recorded") {
            sink.connect("handoff", false, |_| {
                let n = RECORDED.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(10) {
                    println!("recorded {n}");
                }
                None
            });
        }
    });
    factory
}
