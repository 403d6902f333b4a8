//! RTSP tunnelled over HTTP (`rtsph://`) and HTTPS (`rtspsh://`) against
//! gst-rtsp-server, which answers the QuickTime tunnel on its RTSP port:
//! video and audio compared bit for bit, keep-alive through a run longer
//! than the session timeout, authentication, a clean TEARDOWN, and an
//! HTTP proxy (absolute-form requests with Basic proxy credentials, and
//! CONNECT for HTTPS) that records what it was asked.

mod common;
// Shared with tests/integrity_play.rs; this file uses part of it.
#[allow(dead_code)]
mod integrity_play {
    pub mod capture;
    pub mod compare;
    pub mod media;
    pub mod player;
    pub mod timing;
}

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::certs::{Authority, Validity, scratch_dir};
use common::server::{AuthScheme, Mount, ServerTls, TestServer, launch};
use common::{Outcome, stop_pipeline, wait_for, wait_until};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use integrity_play::capture::{Capture, all_received};
use integrity_play::compare::compare_exact;
use integrity_play::media::{Stream, mount_captured};
use integrity_play::player::Player;

const WAIT: Duration = Duration::from_secs(30);

/// A server whose sessions time out after `session_timeout` seconds.
/// TEARDOWNs the server handled, over all its clients.
static TEARDOWNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn server(tls: Option<ServerTls>, session_timeout: u32) -> TestServer {
    common::init_plugin();
    let mut builder = TestServer::builder()
        // Not shared, as in tests/tls.rs: sessions follow each other at once.
        .mount(Mount::play("/live", launch::h264_video(0)).shared(false))
        .mount(
            Mount::play("/basic", launch::h264_video(0))
                .shared(false)
                .auth(AuthScheme::Basic),
        );
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let server = builder.start();
    server.server().connect_client_connected(move |_, client| {
        client.connect_new_session(move |_, session| session.set_timeout(session_timeout));
        client.connect_teardown_request(|_, _| {
            TEARDOWNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    });
    server
}

/// Plays `location` with `props` until `frames` video frames decoded or
/// an error; returns the outcome and the element.
fn play_frames(
    location: &str,
    props: &[(&str, &str)],
    frames: u64,
) -> (Outcome, gst::Pipeline, gst::Element) {
    let (pipeline, src, counters) = common::rtspsrc2_player(location, &[]);
    for (name, value) in props {
        src.set_property_from_str(name, value);
    }
    let outcome = wait_until(&pipeline, WAIT, || counters.video.count() >= frames);
    (outcome, pipeline, src)
}

#[test]
fn video_and_audio_arrive_bit_exact_through_the_tunnel() {
    let server = server(None, 60);
    let streams = [Stream::H264, Stream::Aac];
    let path = "/exact";
    let sent = mount_captured(&server, path, &streams);
    // Through a recording proxy in front of the server (not an HTTP
    // proxy: it passes bytes), to see the two tunnel connections.
    let recorder = Recorder::start(server.port());
    let location = format!("rtsph://127.0.0.1:{}{path}", recorder.port);
    let player = Player::new(&location, "tcp", "light", &streams);
    let got = player.captures.clone();
    let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent, &got));
    assert!(outcome.is_stopped(), "{outcome:?}");
    for (i, (s, g)) in sent.iter().zip(&got).enumerate() {
        s.with(|s| g.with(|g| compare_exact(s, g)))
            .unwrap_or_else(|err| panic!("stream {i}: {err}"));
    }
    let firsts = recorder.first_lines();
    assert_eq!(firsts.len(), 2, "{firsts:?}");
    assert!(
        firsts[0].starts_with(&format!("GET {path} HTTP/1.0")),
        "{firsts:?}"
    );
    assert!(
        firsts[1].starts_with(&format!("POST {path} HTTP/1.0")),
        "{firsts:?}"
    );
    eprintln!(
        "units {:?} bit-exact through {firsts:?}",
        sent.iter().map(Capture::units).collect::<Vec<_>>()
    );
}

#[test]
fn keep_alive_teardown_and_auth_through_the_tunnel() {
    // Sessions time out after 2 s: playing for 5 s needs keep-alives.
    let server = server(None, 2);
    let location = format!("rtsph://127.0.0.1:{}/live", server.port());
    let (pipeline, src, counters) = common::rtspsrc2_player(&location, &[]);
    let started = Instant::now();
    let outcome = wait_until(&pipeline, WAIT, || {
        started.elapsed() > Duration::from_secs(5) && counters.video.count() > 100
    });
    assert!(outcome.is_stopped(), "{outcome:?}");
    let before = counters.video.count();
    assert!(
        wait_for(Duration::from_secs(3), || counters.video.count()
            > before + 20),
        "frames stopped after the session timeout"
    );
    assert_eq!(server.n_sessions(), 1);
    let teardowns = TEARDOWNS.load(std::sync::atomic::Ordering::SeqCst);
    drop(src);
    stop_pipeline(&pipeline);
    // Handled by the server (not the session expiring after 2 s), within
    // the element's background TEARDOWN bound and some slack.
    assert!(
        wait_for(Duration::from_secs(4), || {
            TEARDOWNS.load(std::sync::atomic::Ordering::SeqCst) > teardowns
        }),
        "no TEARDOWN through the tunnel"
    );

    let with_credentials = server
        .url_with_credentials("/basic")
        .replacen("rtsp://", "rtsph://", 1);
    let (outcome, pipeline, _) = play_frames(&with_credentials, &[], 5);
    stop_pipeline(&pipeline);
    assert!(outcome.is_stopped(), "Basic auth: {outcome:?}");
    let without = format!("rtsph://127.0.0.1:{}/basic", server.port());
    let (outcome, pipeline, _) = play_frames(&without, &[], 5);
    stop_pipeline(&pipeline);
    assert!(outcome.is_error(), "{outcome:?}");
}

#[test]
fn through_an_http_proxy_with_credentials() {
    let server = server(None, 60);
    let proxy = HttpProxy::start(Some("proxyuser:proxypass"));
    let location = format!("rtsph://127.0.0.1:{}/live", server.port());
    let props = [
        ("proxy", format!("http://127.0.0.1:{}", proxy.port)),
        ("proxy-id", "proxyuser".to_string()),
        ("proxy-pw", "proxypass".to_string()),
    ];
    let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (outcome, pipeline, src) = play_frames(&location, &props, 10);
    // The proxy setting reads back without credentials.
    let proxy_setting: Option<String> = src.property("proxy");
    stop_pipeline(&pipeline);
    assert!(outcome.is_stopped(), "{outcome:?}");
    assert_eq!(
        proxy_setting.as_deref(),
        Some(format!("http://127.0.0.1:{}", proxy.port).as_str())
    );
    let seen = proxy.requests();
    let target = format!("http://127.0.0.1:{}/live", server.port());
    assert!(seen.len() >= 2, "{seen:?}");
    assert_eq!(seen[0], format!("GET {target} HTTP/1.0"));
    assert_eq!(seen[1], format!("POST {target} HTTP/1.0"));

    // Wrong proxy password: the proxy's 407 is the element's error.
    let wrong: Vec<(&str, &str)> = vec![props[0], ("proxy-id", "proxyuser"), ("proxy-pw", "nope")];
    let (outcome, pipeline, _) = play_frames(&location, &wrong, 1);
    stop_pipeline(&pipeline);
    let Outcome::Error { message, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(message.contains("407"), "{message}");
    assert!(!message.contains("nope"), "{message}");
}

#[test]
fn over_https_directly_and_through_a_connect_proxy() {
    let dir = scratch_dir("https-tunnel");
    let ca = Authority::new(&dir, "tunnel-ca");
    let certificate = ca.issue("server", &["localhost", "127.0.0.1"], Validity::Current);
    let server = server(
        Some(ServerTls {
            certificate_and_key_pem: certificate.certificate_and_key(),
            client_ca_file: None,
        }),
        60,
    );
    let location = format!("rtspsh://localhost:{}/live", server.port());
    let ca_file = ca.file.to_str().unwrap();
    let (outcome, pipeline, _) = play_frames(&location, &[("tls-ca-file", ca_file)], 10);
    stop_pipeline(&pipeline);
    assert!(outcome.is_stopped(), "{outcome:?}");

    // Not trusted without the CA.
    let (outcome, pipeline, _) = play_frames(&location, &[], 1);
    stop_pipeline(&pipeline);
    assert!(outcome.is_error(), "{outcome:?}");

    let proxy = HttpProxy::start(None);
    let proxy_url = format!("127.0.0.1:{}", proxy.port);
    let (outcome, pipeline, _) = play_frames(
        &location,
        &[("tls-ca-file", ca_file), ("proxy", &proxy_url)],
        10,
    );
    stop_pipeline(&pipeline);
    assert!(outcome.is_stopped(), "{outcome:?}");
    let seen = proxy.requests();
    let connect = format!("CONNECT localhost:{} HTTP/1.1", server.port());
    assert_eq!(seen[..2], [connect.clone(), connect], "{seen:?}");
}

/// Passes bytes to a server and records the first line each connection
/// sends.
struct Recorder {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(target: u16) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = seen.clone();
                thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    seen.lock().unwrap().push(line.trim_end().to_string());
                    let mut server = TcpStream::connect(("127.0.0.1", target)).unwrap();
                    server.write_all(line.as_bytes()).unwrap();
                    let buffered = reader.buffer().to_vec();
                    server.write_all(&buffered).unwrap();
                    splice(reader.into_inner(), server);
                });
            }
        });
        Recorder { port, lines }
    }

    fn first_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// Copy both ways until either side closes.
fn splice(client: TcpStream, server: TcpStream) {
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut client, mut server) = (client, server);
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

/// A minimal HTTP proxy: absolute-form GET/POST forwarded in origin-form,
/// CONNECT answered 200 and spliced; `credentials` (`user:password`)
/// required as `Proxy-Authorization: Basic` when given. Records every
/// request line.
struct HttpProxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpProxy {
    fn start(credentials: Option<&str>) -> HttpProxy {
        use base64::Engine as _;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let expected = credentials.map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        });
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (seen, expected) = (seen.clone(), expected.clone());
                thread::spawn(move || proxy_one(client, &seen, expected.as_deref()));
            }
        });
        HttpProxy { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn proxy_one(client: TcpStream, seen: &Mutex<Vec<String>>, expected: Option<&str>) {
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    client.set_read_timeout(None).unwrap();
    let request_line = head[0].clone();
    seen.lock().unwrap().push(request_line.clone());
    let authorized = head
        .iter()
        .find_map(|h| h.strip_prefix("Proxy-Authorization: "))
        .map(str::to_string);
    // The POST body may have followed its head at once.
    let early = reader.buffer().to_vec();
    let mut client = reader.into_inner();
    if expected.is_some() && authorized.as_deref() != expected {
        let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
        return;
    }
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
    if method == "CONNECT" {
        let server = TcpStream::connect(target.replace("localhost", "127.0.0.1")).unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let mut server = server;
        server.write_all(&early).unwrap();
        splice(client, server);
        return;
    }
    let rest = target
        .strip_prefix("http://")
        .expect("absolute-form target");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut server = TcpStream::connect(authority).unwrap();
    let mut forwarded = format!("{method} {path} HTTP/1.0\r\n");
    for header in &head[1..] {
        if !header.starts_with("Proxy-Authorization") {
            forwarded.push_str(header);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("\r\n");
    server.write_all(forwarded.as_bytes()).unwrap();
    server.write_all(&early).unwrap();
    splice(client, server);
}
