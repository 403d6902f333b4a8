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
//! [`RequestTap`] records the requests the client sent.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

use super::vod_media::Media;
use super::{init, join_bounded, wait_for};

/// Stream times (ns) of the access units the server's payloader got.
pub type MediaTimes = Arc<Mutex<Vec<u64>>>;

pub struct OnvifServer {
    server: gst_rtsp_server::RTSPOnvifServer,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
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
        init();
        let server = gst_rtsp_server::RTSPOnvifServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        let factory = gst_rtsp_server::RTSPOnvifMediaFactory::new();
        factory.set_launch(&launch(media));
        factory.set_replay_support(true);
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

        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let source_id = server.attach(Some(&context)).expect("attach server");
        let port = u16::try_from(server.bound_port()).expect("bound port");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (ml, ctx) = (main_loop.clone(), context.clone());
        let thread = thread::spawn(move || {
            let _ = ready_tx.send(());
            ml.run();
            if let Some(source) = ctx.find_source_by_id(&source_id) {
                source.destroy();
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("server thread");
        wait_for(Duration::from_secs(5), || main_loop.is_running());
        OnvifServer {
            server,
            main_loop,
            thread: Some(thread),
            port,
            media_times,
        }
    }

    /// Stream times the payloader got so far (ns, in arrival order).
    pub fn media_times(&self) -> Vec<u64> {
        self.media_times.lock().unwrap().clone()
    }
}

impl Drop for OnvifServer {
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

/// A TCP relay in front of a server that records the RTSP requests the
/// client sends (start line and headers), skipping interleaved frames.
pub struct RequestTap {
    pub port: u16,
    sent: Arc<Mutex<Vec<u8>>>,
    stopping: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

/// One recorded request: method and headers (names lower case).
#[derive(Debug, Clone)]
pub struct TappedRequest {
    pub method: String,
    pub headers: Vec<(String, String)>,
}

impl TappedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl RequestTap {
    pub fn start(server_port: u16) -> RequestTap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind tap");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent: Arc<Mutex<Vec<u8>>> = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, stop, l) = (sent.clone(), stopping.clone(), links.clone());
        let accept = thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let server = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
                        l.lock().unwrap().push(client.try_clone().unwrap());
                        l.lock().unwrap().push(server.try_clone().unwrap());
                        relay(&client, &server, Some(s.clone()));
                        relay(&server, &client, None);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        RequestTap {
            port,
            sent,
            stopping,
            links,
            accept: Some(accept),
        }
    }

    /// The requests sent so far, in order.
    pub fn requests(&self) -> Vec<TappedRequest> {
        parse_requests(&self.sent.lock().unwrap())
    }
}

impl Drop for RequestTap {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            let _ = link.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            join_bounded(accept, Duration::from_secs(5));
        }
    }
}

fn relay(from: &TcpStream, to: &TcpStream, record: Option<Arc<Mutex<Vec<u8>>>>) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(record) = &record {
                record.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// Requests out of the client's byte stream: RTSP messages and `$`
/// interleaved frames (its RTCP), in any order.
fn parse_requests(mut bytes: &[u8]) -> Vec<TappedRequest> {
    let mut requests = Vec::new();
    loop {
        match bytes.first() {
            None => break,
            Some(b'$') => {
                let Some(len) = bytes.get(2..4).map(|l| u16::from_be_bytes([l[0], l[1]])) else {
                    break;
                };
                match bytes.get(4 + len as usize..) {
                    Some(rest) => bytes = rest,
                    None => break,
                }
            }
            Some(b'\r' | b'\n') => bytes = &bytes[1..],
            Some(_) => {
                let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                let text = String::from_utf8_lossy(&bytes[..end]).to_string();
                let mut lines = text.lines();
                let method = lines
                    .next()
                    .and_then(|l| l.split_whitespace().next())
                    .unwrap_or_default()
                    .to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let body = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                requests.push(TappedRequest { method, headers });
                match bytes.get(end + 4 + body..) {
                    Some(rest) => bytes = rest,
                    None => break,
                }
            }
        }
    }
    requests
}
