//! SRTP (RTP/SAVP with MIKEY) against gst-rtsp-server in-process:
//!
//! * playing a mount that allows only RTP/SAVP, over UDP and TCP: the
//!   access units out of the depayloader are byte for byte the ones the
//!   server's payloader took, the DESCRIBE answer says RTP/SAVP with a
//!   MIKEY key-mgmt, and every packet went through `srtpdec` (`stats`);
//! * publishing with `profiles=savp` to a RECORD mount that allows only
//!   RTP/SAVP: the server's depayloader puts out what entered ours; with
//!   `profiles=avp` the server refuses the stream (an error, not silence);
//! * a proxy that swaps the key in the DESCRIBE answer for another valid
//!   one: `rtspsrc2` posts STREAM/DECRYPT within a few seconds; one that
//!   puts garbage there, or a `profiles` that refuses SAVP: an error at
//!   once.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::access_units::Codec;
use common::media_hash::{Capture, compare, wait_for_units};
use common::server::{Mount, TestServer};
use common::{Control, Outcome, parse_pipeline, run_pipeline_until, stop_pipeline, wait_until};
use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const FRAMES: usize = 60;
const WAIT: Duration = Duration::from_secs(30);

/// 2 s of H.264, one access unit per buffer.
fn source(frames: usize) -> String {
    format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 threads=1 ! \
         video/x-h264,stream-format=byte-stream,alignment=au"
    )
}

/// A server with an SRTP-only play mount at /savp whose payloader input
/// is captured into the returned capture (reset for every new media).
fn play_server(frames: usize) -> (TestServer, Capture) {
    common::init_plugin();
    let server = TestServer::builder().start();
    server.add_mount(
        Mount::play(
            "/savp",
            format!("{} ! rtph264pay name=pay0 pt=96", source(frames)),
        )
        .shared(false),
    );
    let factory = server.server().mount_points().unwrap().match_("/savp").0;
    factory.set_profiles(gst_rtsp::RTSPProfile::SAVP);
    let sent = Capture::new();
    let s = sent.clone();
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().unwrap();
        s.attach_by_name(&bin, "pay0", "sink");
    });
    (server, sent)
}

fn player(url: &str, protocols: &str, extra: &str) -> (gst::Pipeline, Capture) {
    let pipeline = parse_pipeline(&format!(
        "rtspsrc2 name=src location={url} protocols={protocols} {extra} ! rtph264depay ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! identity name=units ! \
         fakesink sync=false"
    ));
    let got = Capture::new();
    got.attach_by_name(&pipeline, "units", "src");
    (pipeline, got)
}

fn stream_stats(src: &gst::Element) -> gst::Structure {
    src.property::<gst::Structure>("stats")
        .get::<gst::Array>("streams")
        .unwrap()
        .first()
        .unwrap()
        .get::<gst::Structure>()
        .unwrap()
}

fn play_bit_exact(protocols: &str) {
    let (server, sent) = play_server(FRAMES);
    let (pipeline, got) = player(&server.url("/savp"), protocols, "");
    let outcome = wait_until(&pipeline, WAIT, || got.len() >= FRAMES);
    let src = pipeline.by_name("src").unwrap();
    let stats = stream_stats(&src);
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Stopped, "{protocols}: {outcome:?}");
    let (sent, got) = (sent.units(), got.units());
    // After the capture: this DESCRIBE makes a media of its own, which
    // prerolls a frame into the capture.
    let describe = common::send_raw_request(
        server.port(),
        format!(
            "DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n",
            server.url("/savp")
        )
        .as_bytes(),
        Duration::from_secs(10),
    )
    .expect("DESCRIBE answer");
    assert!(describe.contains("m=video 0 RTP/SAVP 96"), "{describe}");
    assert!(describe.contains("a=key-mgmt:mikey "), "{describe}");

    assert_eq!(sent.len(), FRAMES, "{protocols}");
    compare(Codec::H264, &sent, &got).unwrap_or_else(|e| panic!("{protocols}: {e}"));
    // Every RTP packet went through srtpdec and was decrypted: the server
    // encrypted them (a plain depayloader could not have read them).
    let packets = stats.get::<u64>("packets").unwrap();
    let through = stats.get::<u64>("srtp-packets").unwrap();
    let decrypted = stats.get::<u64>("srtp-decrypted").unwrap();
    eprintln!("{protocols}: {packets} packets, {through} into srtpdec, {decrypted} decrypted");
    assert!(packets >= FRAMES as u64, "{stats}");
    assert_eq!(through, packets, "{stats}");
    assert_eq!(decrypted, packets, "{stats}");
}

#[test]
fn play_savp_over_udp_is_bit_exact() {
    play_bit_exact("udp");
}

#[test]
fn play_savp_over_tcp_is_bit_exact() {
    play_bit_exact("tcp");
}

/// Our RTCP receiver reports, encrypted with the key we announced in the
/// SETUP `KeyMgmt` header, are decrypted by gst-rtsp-server: its RTP
/// session learns our source from them (RTCP that fails SRTCP
/// authentication is dropped by its srtpdec before the session sees it).
#[test]
fn our_rtcp_reaches_the_server_decrypted() {
    common::init_plugin();
    let server = TestServer::builder().start();
    server.add_mount(Mount::play(
        "/savp-live",
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96",
    ));
    let factory = server
        .server()
        .mount_points()
        .unwrap()
        .match_("/savp-live")
        .0;
    factory.set_profiles(gst_rtsp::RTSPProfile::SAVP);
    let media = Arc::new(std::sync::Mutex::new(None));
    let m = media.clone();
    factory.connect_media_configure(move |_, configured| {
        *m.lock().unwrap() = Some(configured.clone());
    });
    let (pipeline, got) = player(&server.url("/savp-live"), "udp", "");
    // A receiver that is a source of RTCP only, known to the server's
    // session: its report arrived and was decrypted.
    let remote_receivers = || -> usize {
        let Some(media) = media.lock().unwrap().clone() else {
            return 0;
        };
        let Some(session) = media.stream(0).and_then(|s| s.rtpsession()) else {
            return 0;
        };
        let stats = session.property::<gst::Structure>("stats");
        let Ok(sources) = stats.get::<glib::ValueArray>("source-stats") else {
            return 0;
        };
        sources
            .iter()
            .filter_map(|v| v.get::<gst::Structure>().ok())
            .filter(|s| {
                !s.get::<bool>("internal").unwrap_or(true)
                    && !s.get::<bool>("is-sender").unwrap_or(true)
                    && s.has_field("rtcp-from")
            })
            .count()
    };
    // rtpbin's first report leaves within a few seconds (RFC 3550 6.2).
    let outcome = wait_until(&pipeline, Duration::from_secs(15), || {
        got.len() >= 5 && remote_receivers() > 0
    });
    stop_pipeline(&pipeline);
    assert_eq!(
        outcome,
        Outcome::Stopped,
        "frames {}, receivers known to the server {}",
        got.len(),
        remote_receivers()
    );
}

/// The first ERROR within `bound`: (domain matches STREAM/DECRYPT, text,
/// when).
fn first_error(pipeline: &gst::Pipeline, bound: Duration) -> Option<(bool, String, Duration)> {
    let started = Instant::now();
    let mut found = None;
    let _ = run_pipeline_until(pipeline, bound, |msg| {
        if let gst::MessageView::Error(err) = msg.view() {
            found = Some((
                err.error().matches(gst::StreamError::Decrypt),
                err.error().to_string(),
                started.elapsed(),
            ));
            return Control::Stop;
        }
        Control::Continue
    });
    stop_pipeline(pipeline);
    found
}

/// What the proxy does to the MIKEY data of the DESCRIBE answer.
#[derive(Clone, Copy)]
enum Tamper {
    /// Another valid message: same everything, other key bits.
    OtherKey,
    /// Not MIKEY at all.
    Garbage,
}

/// A TCP proxy that rewrites the `a=key-mgmt:mikey` data of the first
/// server message carrying one, and passes everything else unchanged.
struct KeyProxy {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl KeyProxy {
    fn start(target: SocketAddr, tamper: Tamper) -> KeyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(target)) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(Shutdown::Both);
                });
                std::thread::spawn(move || rewrite_answers(server, client, tamper));
            }
        });
        KeyProxy { port, stop }
    }
}

impl Drop for KeyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn rewrite_answers(mut from: TcpStream, mut to: TcpStream, tamper: Tamper) {
    const MARK: &[u8] = b"a=key-mgmt:mikey ";
    let mut pending: Vec<u8> = Vec::new();
    let mut done = false;
    let mut buffer = vec![0u8; 65536];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if done {
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
            continue;
        }
        pending.extend_from_slice(&buffer[..n]);
        // Hold back until a whole line after the mark is there.
        if let Some(at) = pending.windows(MARK.len()).position(|w| w == MARK) {
            let start = at + MARK.len();
            let Some(len) = pending[start..]
                .iter()
                .position(|b| *b == b'\r' || *b == b'\n')
            else {
                continue;
            };
            let old = String::from_utf8(pending[start..start + len].to_vec()).unwrap();
            let new = tampered(&old, tamper);
            // The same length: Content-Length stays right.
            assert_eq!(new.len(), old.len());
            pending[start..start + len].copy_from_slice(new.as_bytes());
            done = true;
        } else if pending.len() < 64 * 1024 && !pending.ends_with(b"\r\n\r\n") {
            continue;
        }
        if to.write_all(&pending).is_err() {
            break;
        }
        pending.clear();
    }
    let _ = to.shutdown(Shutdown::Both);
}

fn tampered(data: &str, tamper: Tamper) -> String {
    match tamper {
        Tamper::Garbage => "A".repeat(data.len()),
        Tamper::OtherKey => {
            let content = gstrtspclient::srtp::mikey::parse(data).expect("server MIKEY");
            let key = &content.kemac.as_ref().expect("KEMAC").1[0].key;
            let mut raw = gst::glib::base64_decode(data);
            let at = raw
                .windows(key.len())
                .position(|w| w == key.as_slice())
                .expect("key bytes in the message");
            for byte in &mut raw[at..at + key.len()] {
                *byte ^= 0x5a;
            }
            let encoded = gst::glib::base64_encode(&raw).to_string();
            // Still a valid message with a key of the right length.
            gstrtspclient::srtp::mikey::keys(&encoded).expect("tampered MIKEY is usable");
            encoded
        }
    }
}

#[test]
fn a_wrong_key_is_a_decrypt_error_within_seconds() {
    // Long enough to outlast the bound: the server keeps sending.
    let (server, _) = play_server(600);
    let proxy = KeyProxy::start(
        SocketAddr::from(([127, 0, 0, 1], server.port())),
        Tamper::OtherKey,
    );
    let url = format!("rtsp://127.0.0.1:{}/savp", proxy.port);
    let (pipeline, got) = player(&url, "tcp", "");
    let error = first_error(&pipeline, Duration::from_secs(15));
    let (decrypt, text, after) = error.expect("no error within 15 s: the wrong key went unnoticed");
    eprintln!("wrong key: {text} after {after:?}");
    assert!(decrypt, "not STREAM/DECRYPT: {text}");
    assert!(text.contains("Cannot decrypt"), "{text}");
    assert!(after < Duration::from_secs(10), "{after:?}");
    assert_eq!(got.len(), 0, "units came out with a wrong key");
}

#[test]
fn unusable_mikey_is_an_error_at_once() {
    let (server, _) = play_server(600);
    let proxy = KeyProxy::start(
        SocketAddr::from(([127, 0, 0, 1], server.port())),
        Tamper::Garbage,
    );
    let url = format!("rtsp://127.0.0.1:{}/savp", proxy.port);
    let (pipeline, _) = player(&url, "tcp", "");
    let (decrypt, text, after) =
        first_error(&pipeline, Duration::from_secs(15)).expect("garbage MIKEY went unnoticed");
    eprintln!("garbage MIKEY: {text} after {after:?}");
    assert!(decrypt, "not STREAM/DECRYPT: {text}");
    assert!(text.contains("MIKEY"), "{text}");
}

#[test]
fn refusing_savp_when_the_server_offers_only_savp_is_an_error() {
    let (server, _) = play_server(600);
    let (pipeline, _) = player(&server.url("/savp"), "tcp", "profiles=avp+avpf");
    let (_, text, _) =
        first_error(&pipeline, Duration::from_secs(15)).expect("no error for a refused profile");
    assert!(text.contains("RTP/SAVP"), "{text}");
    assert!(text.contains("profiles"), "{text}");
}

const RECORD_PATH: &str = "/savp-record";

fn record_server(profiles: gst_rtsp::RTSPProfile) -> (TestServer, Capture) {
    common::init_plugin();
    let server = TestServer::builder()
        .mount(Mount::record_launch(
            RECORD_PATH,
            "rtph264depay name=depay0 ! video/x-h264,stream-format=byte-stream,alignment=au ! \
             fakesink name=sink0 sync=false async=false",
            1,
        ))
        .start();
    let factory = server
        .server()
        .mount_points()
        .unwrap()
        .match_(RECORD_PATH)
        .0;
    factory.set_eos_shutdown(true);
    factory.set_profiles(profiles);
    // NACKs and RTX when the stream offers them (SAVPF).
    factory.set_do_retransmission(true);
    let received = Capture::new();
    let r = received.clone();
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().unwrap();
        r.attach_by_name(&bin, "sink0", "sink");
    });
    (server, received)
}

fn publish(
    mount: gst_rtsp::RTSPProfile,
    protocols: &str,
    profiles: &str,
) -> (Outcome, Vec<Vec<u8>>, Capture) {
    let (server, received) = record_server(mount);
    let pipeline = parse_pipeline(&format!(
        "{} ! identity name=units ! rtph264pay pt=96 config-interval=-1 ! \
         rtspsink location={} protocols={protocols} {profiles}",
        source(FRAMES),
        server.url(RECORD_PATH)
    ));
    let sent = Capture::new();
    sent.attach_by_name(&pipeline, "units", "src");
    // What leaves rtpbin for the network: SRTP, and without the key
    // srtpenc puts into its caps.
    let sink = pipeline
        .iterate_all_by_element_factory_name("rtspsink")
        .next()
        .unwrap()
        .unwrap();
    let rtpbin = sink
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("rtpbin")
        .unwrap();
    let wire_caps = Arc::new(std::sync::Mutex::new(None));
    let w = wire_caps.clone();
    rtpbin.static_pad("send_rtp_src_0").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |pad, _| {
            *w.lock().unwrap() = pad.current_caps();
            gst::PadProbeReturn::Remove
        },
    );
    let outcome = run_pipeline_until(&pipeline, WAIT, |_| Control::Continue);
    stop_pipeline(&pipeline);
    let secure = profiles.contains("savp");
    let wire_caps = wire_caps
        .lock()
        .unwrap()
        .clone()
        .expect("nothing left rtpbin");
    let s = wire_caps.structure(0).unwrap();
    let expected = if secure {
        "application/x-srtp"
    } else {
        "application/x-rtp"
    };
    assert_eq!(s.name(), expected, "{wire_caps}");
    assert!(
        !s.has_field("srtp-key"),
        "the key travels in caps: {wire_caps}"
    );
    if outcome == Outcome::Eos {
        wait_for_units(&received, sent.len(), Duration::from_secs(10));
    }
    drop(server);
    (outcome, sent.units(), received)
}

fn publish_bit_exact(protocols: &str) {
    let (outcome, sent, received) =
        publish(gst_rtsp::RTSPProfile::SAVP, protocols, "profiles=savp");
    assert_eq!(outcome, Outcome::Eos, "{protocols}");
    assert_eq!(sent.len(), FRAMES, "{protocols}");
    compare(Codec::H264, &sent, &received.units()).unwrap_or_else(|e| panic!("{protocols}: {e}"));
}

#[test]
fn publish_savp_over_udp_is_bit_exact() {
    publish_bit_exact("udp");
}

#[test]
fn publish_savp_over_tcp_is_bit_exact() {
    publish_bit_exact("tcp");
}

#[test]
fn publishing_plain_rtp_to_an_srtp_only_mount_fails() {
    let (outcome, _, received) = publish(gst_rtsp::RTSPProfile::SAVP, "tcp", "profiles=avp");
    assert!(outcome.is_error(), "{outcome:?}");
    assert_eq!(received.len(), 0);
}

/// SRTP with retransmission: announced and set up as RTP/SAVPF (a mount
/// that allows only SAVPF refuses anything else), the RTX SSRC in our
/// MIKEY. Over loopback nothing is lost, so this shows the negotiation and
/// the data, not repairs.
#[test]
fn publish_savpf_with_rtx_time_is_bit_exact() {
    let (outcome, sent, received) = publish(
        gst_rtsp::RTSPProfile::SAVPF,
        "udp",
        "profiles=savp rtx-time=500",
    );
    assert_eq!(outcome, Outcome::Eos);
    assert_eq!(sent.len(), FRAMES);
    compare(Codec::H264, &sent, &received.units()).unwrap();
}
