//! A record-and-serve RTSP server for round trips: `/publish` takes a
//! published H.264 stream (RECORD) and `/watch` serves it to players, through
//! an in-process appsink → appsrc relay. Used by the demo
//! (`examples/demo.rs`) and by the round-trip tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_rtsp_server::prelude::*;

/// The server: `/publish` (RECORD) hands every H.264 access unit to the
/// `/watch` (PLAY) media through an appsink → appsrc relay.
pub struct RelayServer {
    pub port: u32,
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    pub published_frames: Arc<AtomicU64>,
}

/// Start on 127.0.0.1, an ephemeral port.
pub fn start() -> Result<RelayServer, Box<dyn std::error::Error>> {
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service("0");
    // gst-rtsp-server serves all clients from one thread by default; the
    // watch client's DESCRIBE waits for the relay's first data, which
    // arrives through the publishing client's TCP connection: give each
    // client its own thread or they wait for each other.
    if let Some(pool) = server.thread_pool() {
        pool.set_max_threads(8);
    }
    let mounts = server.mount_points().ok_or("no mount points")?;
    let relay: Arc<Mutex<Option<gst_app::AppSrc>>> = Arc::new(Mutex::new(None));
    let published_frames = Arc::new(AtomicU64::new(0));

    let record = gst_rtsp_server::RTSPMediaFactory::new();
    record.set_transport_mode(gst_rtsp_server::RTSPTransportMode::RECORD);
    record.set_launch(
        "( rtph264depay name=depay0 ! h264parse config-interval=-1 ! \
           video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=relay sync=false )",
    );
    let (r, count) = (relay.clone(), published_frames.clone());
    record.connect_media_configure(move |_, media| {
        let Some(bin) = media.element().downcast::<gst::Bin>().ok() else {
            return;
        };
        let Some(sink) = bin
            .by_name_recurse_up("relay")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        else {
            return;
        };
        let (r, count) = (r.clone(), count.clone());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    count.fetch_add(1, Ordering::Relaxed);
                    if let (Some(src), Some(buffer)) =
                        (r.lock().unwrap().as_ref(), sample.buffer_owned())
                    {
                        let mut buffer = buffer;
                        // The watch side stamps buffers itself (do-timestamp).
                        let b = buffer.make_mut();
                        b.set_pts(gst::ClockTime::NONE);
                        b.set_dts(gst::ClockTime::NONE);
                        let _ = src.push_buffer(buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    });
    mounts.add_factory("/publish", record);

    let watch = gst_rtsp_server::RTSPMediaFactory::new();
    watch.set_shared(true);
    watch.set_launch(
        "( appsrc name=relay is-live=true do-timestamp=true format=time \
             caps=video/x-h264,stream-format=byte-stream,alignment=au ! \
           h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
    );
    let r = relay.clone();
    watch.connect_media_configure(move |_, media| {
        let Some(bin) = media.element().downcast::<gst::Bin>().ok() else {
            return;
        };
        if let Some(src) = bin
            .by_name_recurse_up("relay")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        {
            *r.lock().unwrap() = Some(src);
        }
    });
    mounts.add_factory("/watch", watch);

    let context = gst::glib::MainContext::new();
    let main_loop = gst::glib::MainLoop::new(Some(&context), false);
    let source = server.attach(Some(&context))?;
    let port = server.bound_port() as u32;
    let ml = main_loop.clone();
    let ctx = context.clone();
    let thread = std::thread::spawn(move || {
        let _server = server;
        ml.run();
        if let Some(source) = ctx.find_source_by_id(&source) {
            source.destroy();
        }
    });
    Ok(RelayServer {
        port,
        main_loop,
        thread: Some(thread),
        published_frames,
    })
}

impl RelayServer {
    /// `rtsp://127.0.0.1:PORT/publish` or `/watch`.
    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }

    /// H.264 access units that arrived through `/publish`.
    pub fn published(&self) -> u64 {
        self.published_frames.load(Ordering::Relaxed)
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
