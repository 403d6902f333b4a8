//! An `RTSPServer` (or a subclass: `RTSPOnvifServer`) running on its own
//! main context in a thread of its own, on 127.0.0.1 with an ephemeral
//! port; stopped, its clients and sessions removed, on drop (bounded).

use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gst::glib;
use gst_rtsp_server::prelude::*;

use super::{join_bounded, wait_for};

const WAIT: Duration = Duration::from_secs(10);

pub struct ServerThread {
    pub server: gst_rtsp_server::RTSPServer,
    pub port: u16,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Bind `server` (mounts already added) and run it.
    pub fn start(server: gst_rtsp_server::RTSPServer) -> ServerThread {
        server.set_address("127.0.0.1");
        server.set_service("0");
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let source = server.attach(Some(&context)).expect("attach server");
        let port = u16::try_from(server.bound_port()).expect("bound port");
        let (ready_tx, ready_rx) = mpsc::channel();
        let ml = main_loop.clone();
        let thread = thread::spawn(move || {
            let _ = ready_tx.send(());
            ml.run();
            if let Some(source) = context.find_source_by_id(&source) {
                source.destroy();
            }
        });
        ready_rx.recv_timeout(WAIT).expect("server thread started");
        assert!(wait_for(WAIT, || main_loop.is_running()));
        ServerThread {
            server,
            port,
            main_loop,
            thread: Some(thread),
        }
    }

    /// Close every client connection, on the server's own thread (bounded
    /// wait); their sessions stay until they time out.
    pub fn disconnect_all(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        let server = self.server.clone();
        self.main_loop.context().invoke(move || {
            server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(WAIT)
            .expect("server thread closed its clients");
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            join_bounded(thread, Duration::from_secs(5));
        }
        self.server
            .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        if let Some(pool) = self.server.session_pool() {
            pool.filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        }
    }
}
