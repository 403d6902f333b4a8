//! RTSP over TLS (`rtsps://`) against gst-rtsp-server with TLS (GIO's
//! TLS on the server side, rustls on ours), with certificates made in the
//! test: playback and publishing compared bit for bit through a private
//! CA; a self-signed server refused by default and accepted the three
//! ways a user can say so; a wrong host name and an expired certificate
//! refused even when the issuer is let through (GIO's flag semantics);
//! mutual TLS with and without a client certificate; authentication
//! inside TLS.

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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::access_units::Codec;
use common::certs::{Authority, Issued, Validity, scratch_dir, self_signed};
use common::media_hash::{self, compare, wait_for_units};
use common::server::{AuthScheme, Mount, ServerTls, TestServer, launch};
use common::{Control, Outcome, parse_pipeline, run_pipeline_until, stop_pipeline, wait_until};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use integrity_play::capture::{Capture, all_received};
use integrity_play::compare::compare_exact;
use integrity_play::media::{Stream, mount_captured};
use integrity_play::player::Player;

const WAIT: Duration = Duration::from_secs(30);
/// A refused certificate is an error at connect time; generous for a
/// loaded CI machine, far below the 20 s `tcp-timeout`.
const REFUSAL_BOUND: Duration = Duration::from_secs(5);

/// A CA, the files of one test, and a server certificate for the names
/// the tests connect to.
struct Pki {
    dir: PathBuf,
    ca: Authority,
    server: Issued,
}

impl Pki {
    fn new(test: &str) -> Pki {
        let dir = scratch_dir(test);
        let ca = Authority::new(&dir, "test-ca");
        let server = ca.issue("server", &["localhost", "127.0.0.1"], Validity::Current);
        Pki { dir, ca, server }
    }
}

fn tls_server(certificate: &Issued, client_ca: Option<PathBuf>) -> TestServer {
    common::init_plugin();
    TestServer::builder()
        .tls(ServerTls {
            certificate_and_key_pem: certificate.certificate_and_key(),
            client_ca_file: client_ca,
        })
        // Not shared: the tests play one mount several times in a row,
        // and a shared media still being unprepared after the last
        // TEARDOWN can leave the next session's PLAY unanswered
        // (gst-rtsp-server; seen once in CI as a PLAY timeout).
        .mount(Mount::play("/video", launch::h264_video(0)).shared(false))
        .mount(
            Mount::play("/basic", launch::h264_video(0))
                .shared(false)
                .auth(AuthScheme::Basic),
        )
        .start()
}

/// Whether `rtspsrc2` with `props` gets decoded video from `location`;
/// `Err` with the error message otherwise (within [`WAIT`]).
fn play(location: &str, props: &[(&str, &str)]) -> Result<(), (Outcome, Duration)> {
    let (pipeline, src, counters) = common::rtspsrc2_player(location, &[]);
    for (name, value) in props {
        src.set_property_from_str(name, value);
    }
    let started = Instant::now();
    let outcome = wait_until(&pipeline, WAIT, || counters.video.count() >= 5);
    let took = started.elapsed();
    stop_pipeline(&pipeline);
    match outcome {
        Outcome::Stopped => Ok(()),
        other => Err((other, took)),
    }
}

/// The error `rtspsrc2` gives, checked to be RESOURCE/OPEN_READ within
/// [`REFUSAL_BOUND`] and to contain `reason`.
fn assert_refused(result: Result<(), (Outcome, Duration)>, reason: &str) {
    let (outcome, took) = result.expect_err("refused");
    let Outcome::Error { message, debug, .. } = &outcome else {
        panic!("expected an error, got {outcome:?}");
    };
    assert!(took < REFUSAL_BOUND, "refused only after {took:?}");
    // The reason is in the message, or for settings errors in the debug
    // text (GStreamer's generic message for RESOURCE/SETTINGS).
    assert!(
        message.contains(reason) || debug.as_deref().is_some_and(|d| d.contains(reason)),
        "error '{message}' does not say '{reason}' ({debug:?})"
    );
}

#[test]
fn plays_bit_exact_over_tls_with_a_private_ca() {
    let pki = Pki::new("tls-play");
    let server = tls_server(&pki.server, None);
    let streams = [Stream::H264, Stream::Aac];
    let path = "/exact";
    let sent = mount_captured(&server, path, &streams);

    for host in ["localhost", "127.0.0.1"] {
        let location = server.url_with_scheme("rtsps", host, path);
        let player = Player::new(&location, "tcp", "light", &streams);
        player
            .source()
            .set_property("tls-ca-file", pki.ca.file.to_str().unwrap());
        let got = player.captures.clone();
        let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent, &got));
        assert!(outcome.is_stopped(), "{host}: {outcome:?}");
        assert!(player.errors().is_empty(), "{:?}", player.errors());
        for (i, (s, g)) in sent.iter().zip(&got).enumerate() {
            s.with(|s| g.with(|g| compare_exact(s, g)))
                .unwrap_or_else(|err| panic!("{host}, stream {i}: {err}"));
        }
        eprintln!(
            "{host}: units sent {:?}, all received bit-exact over TLS",
            sent.iter().map(Capture::units).collect::<Vec<_>>()
        );
    }

    // The server speaks nothing but TLS: plain RTSP to it fails, so the
    // stream above came through TLS.
    let plain = play(&server.url("/video"), &[("tcp-timeout", "2000000")]);
    assert!(plain.is_err(), "plain RTSP played from the TLS server");
}

#[test]
fn publishes_bit_exact_over_tls() {
    let pki = Pki::new("tls-publish");
    common::init_plugin();
    let path = "/record";
    let server = TestServer::builder()
        .tls(ServerTls {
            certificate_and_key_pem: pki.server.certificate_and_key(),
            client_ca_file: None,
        })
        .mount(Mount::record_launch(
            path,
            "rtph264depay name=depay0 ! video/x-h264,stream-format=byte-stream,alignment=au \
             ! fakesink name=sink0 sync=false async=false",
            1,
        ))
        .start();
    let factory = server.server().mount_points().unwrap().match_(path).0;
    factory.set_eos_shutdown(true);
    let received = media_hash::Capture::new();
    let r = received.clone();
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().unwrap();
        r.attach_by_name(&bin, "sink0", "sink");
    });

    let pipeline = parse_pipeline(&format!(
        "videotestsrc num-buffers=45 pattern=ball ! \
         video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! identity name=units ! \
         rtph264pay ! rtspsink location={} tls-ca-file={}",
        server.url_with_scheme("rtsps", "localhost", path),
        pki.ca.file.display()
    ));
    let sent = media_hash::Capture::new();
    sent.attach_by_name(&pipeline, "units", "src");
    let outcome = run_pipeline_until(&pipeline, WAIT, |_| Control::Continue);
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "publishing over TLS failed");
    let sent = sent.units();
    assert_eq!(sent.len(), 45);
    let got = wait_for_units(&received, sent.len(), Duration::from_secs(10));
    eprintln!("published over TLS: sent {}, received {got}", sent.len());
    compare(Codec::H264, &sent, &received.units()).expect("bit-exact over TLS");
}

#[test]
fn a_self_signed_server_is_refused_by_default() {
    let dir = scratch_dir("tls-self-signed");
    let certificate = self_signed(&dir, "camera", &["127.0.0.1"], Validity::Current);
    let server = tls_server(&certificate, None);
    let location = server.url_with_scheme("rtsps", "127.0.0.1", "/video");
    assert_refused(play(&location, &[]), "unknown certificate authority");

    // rtspsink says the same, as a write-side error.
    common::init_plugin();
    let pipeline = parse_pipeline(&format!(
        "videotestsrc is-live=true ! x264enc tune=zerolatency ! rtph264pay ! \
         rtspsink location={}",
        server.url_with_scheme("rtsps", "127.0.0.1", "/record")
    ));
    let started = Instant::now();
    let mut domain_ok = false;
    let outcome = run_pipeline_until(&pipeline, WAIT, |message| {
        if let gst::MessageView::Error(err) = message.view() {
            domain_ok = err.error().matches(gst::ResourceError::OpenWrite);
        }
        Control::Continue
    });
    stop_pipeline(&pipeline);
    let Outcome::Error { message, .. } = outcome else {
        panic!("rtspsink: {outcome:?}");
    };
    assert!(domain_ok, "rtspsink: not RESOURCE/OPEN_WRITE: {message}");
    assert!(
        message.contains("unknown certificate authority"),
        "{message}"
    );
    assert!(started.elapsed() < REFUSAL_BOUND);
}

#[test]
fn a_self_signed_server_is_accepted_when_the_user_says_so() {
    let dir = scratch_dir("tls-self-signed-ok");
    let certificate = self_signed(&dir, "camera", &["127.0.0.1"], Validity::Current);
    let server = tls_server(&certificate, None);
    let location = server.url_with_scheme("rtsps", "127.0.0.1", "/video");
    let ca_file = certificate.certificate_file.to_str().unwrap();
    // Its own certificate as the CA to trust.
    play(&location, &[("tls-ca-file", ca_file)]).expect("trusted as CA");
    // Pinned by fingerprint.
    play(
        &location,
        &[("tls-accepted-certificate", &certificate.fingerprint)],
    )
    .expect("pinned");
    // Unknown issuers let through.
    play(
        &location,
        &[(
            "tls-validation-flags",
            "bad-identity+not-activated+expired+revoked+insecure+generic-error",
        )],
    )
    .expect("unknown-ca not validated");
    // A fingerprint of another certificate does not help.
    let other = self_signed(&dir, "other", &["127.0.0.1"], Validity::Current);
    assert_refused(
        play(
            &location,
            &[("tls-accepted-certificate", &other.fingerprint)],
        ),
        "unknown certificate authority",
    );
}

#[test]
fn a_wrong_host_name_is_refused_even_when_the_issuer_is_let_through() {
    let pki = Pki::new("tls-wrong-name");
    let elsewhere = pki
        .ca
        .issue("elsewhere", &["camera.example"], Validity::Current);
    let server = tls_server(&elsewhere, None);
    let location = server.url_with_scheme("rtsps", "127.0.0.1", "/video");
    let ca_file = pki.ca.file.to_str().unwrap();
    assert_refused(
        play(&location, &[("tls-ca-file", ca_file)]),
        "not valid for the host name 127.0.0.1",
    );
    // GIO's semantics: only the flags given are checked, each on its own.
    let self_signed = self_signed(&pki.dir, "wrong", &["camera.example"], Validity::Current);
    let server = tls_server(&self_signed, None);
    let location = server.url_with_scheme("rtsps", "127.0.0.1", "/video");
    assert_refused(
        play(
            &location,
            &[("tls-validation-flags", "bad-identity+expired")],
        ),
        "host name",
    );
    play(&location, &[("tls-validation-flags", "expired")]).expect("name not validated");
}

#[test]
fn an_expired_certificate_is_refused_even_when_the_issuer_is_let_through() {
    let dir = scratch_dir("tls-expired");
    let expired = self_signed(&dir, "old", &["127.0.0.1"], Validity::Expired);
    let server = tls_server(&expired, None);
    let location = server.url_with_scheme("rtsps", "127.0.0.1", "/video");
    assert_refused(
        play(
            &location,
            &[("tls-validation-flags", "bad-identity+expired+not-activated")],
        ),
        "expired",
    );
    // The other way round: letting expired certificates through does not
    // let an unknown issuer through (webpki reports the dates first).
    assert_refused(
        play(
            &location,
            &[(
                "tls-validation-flags",
                "unknown-ca+bad-identity+not-activated+revoked+insecure+generic-error",
            )],
        ),
        "unknown certificate authority",
    );
    // With both let through it plays.
    play(
        &location,
        &[("tls-validation-flags", "bad-identity+not-activated")],
    )
    .expect("expired and unknown issuer both allowed");
}

#[test]
fn mutual_tls_with_and_without_a_client_certificate() {
    let pki = Pki::new("tls-mutual");
    let clients = Authority::new(&pki.dir, "client-ca");
    let client = clients.issue("client", &["client.example"], Validity::Current);
    let server = tls_server(&pki.server, Some(clients.file.clone()));
    let location = server.url_with_scheme("rtsps", "localhost", "/video");
    let ca_file = pki.ca.file.to_str().unwrap();
    play(
        &location,
        &[
            ("tls-ca-file", ca_file),
            (
                "tls-certificate-file",
                client.certificate_file.to_str().unwrap(),
            ),
            ("tls-key-file", client.key_file.to_str().unwrap()),
        ],
    )
    .expect("plays with a client certificate");

    // Without one, gst-rtsp-server 1.22 drops the client but neither sends
    // a TLS alert nor closes the connection (seen here: nothing arrives),
    // so the refusal shows as the unanswered OPTIONS after `tcp-timeout`.
    let refused = play(
        &location,
        &[("tls-ca-file", ca_file), ("tcp-timeout", "2000000")],
    );
    let (outcome, took) = refused.expect_err("refused without a client certificate");
    assert!(outcome.is_error(), "{outcome:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A certificate from an issuer the server does not trust.
    let stranger = pki
        .ca
        .issue("stranger", &["client.example"], Validity::Current);
    let refused = play(
        &location,
        &[
            ("tls-ca-file", ca_file),
            (
                "tls-certificate-file",
                stranger.certificate_file.to_str().unwrap(),
            ),
            ("tls-key-file", stranger.key_file.to_str().unwrap()),
        ],
    );
    assert!(
        refused.is_err(),
        "a client certificate of another CA was accepted"
    );
}

#[test]
fn authentication_inside_tls() {
    let pki = Pki::new("tls-auth");
    let server = tls_server(&pki.server, None);
    let ca_file = pki.ca.file.to_str().unwrap();
    let with_credentials = server
        .url_with_credentials("/basic")
        .replacen("rtsp://", "rtsps://", 1);
    play(&with_credentials, &[("tls-ca-file", ca_file)]).expect("Basic auth over TLS");
    let without = server.url_with_scheme("rtsps", "127.0.0.1", "/basic");
    let (outcome, _) = play(&without, &[("tls-ca-file", ca_file)]).unwrap_err();
    assert!(outcome.is_error(), "{outcome:?}");
}

#[test]
fn tls_keeps_plain_rtp_interleaved_and_lets_srtp_use_udp() {
    let pki = Pki::new("tls-udp");
    let server = tls_server(&pki.server, None);
    server.add_mount(Mount::play("/savp", launch::h264_video(0)));
    let factory = server.server().mount_points().unwrap().match_("/savp").0;
    factory.set_profiles(gst_rtsp::RTSPProfile::SAVP);
    let ca_file = pki.ca.file.to_str().unwrap();
    let transport_of = |path: &str, protocols: &str| {
        let location = server.url_with_scheme("rtsps", "localhost", path);
        let (pipeline, src, counters) = common::rtspsrc2_player(&location, &[]);
        src.set_property("tls-ca-file", ca_file);
        src.set_property("protocols", protocols);
        let outcome = wait_until(&pipeline, WAIT, || counters.video.count() >= 5);
        let stats = src.property::<gst::Structure>("stats");
        stop_pipeline(&pipeline);
        (
            outcome,
            stats.get::<String>("transport").unwrap_or_default(),
        )
    };
    // Plain RTP: the default protocols include UDP, but over TLS the
    // media stays inside the encrypted connection.
    let (outcome, transport) = transport_of("/video", "udp,tcp");
    assert!(outcome.is_stopped(), "{outcome:?}");
    assert!(transport.contains("tcp"), "{transport}");
    // SRTP may leave it for UDP, encrypted on its own.
    let (outcome, transport) = transport_of("/savp", "udp,tcp");
    assert!(outcome.is_stopped(), "{outcome:?}");
    assert!(!transport.contains("tcp"), "{transport}");
    // Plain RTP with UDP only: refused, with the way out.
    let location = server.url_with_scheme("rtsps", "localhost", "/video");
    assert_refused(
        play(&location, &[("tls-ca-file", ca_file), ("protocols", "udp")]),
        "add tcp",
    );
}

/// A TLS RTSP server that answers every request with a redirect to
/// `location` (rustls on both ends here, the point is our client's rule).
fn redirecting_tls_server(
    certificate: &Issued,
    location: String,
) -> (u16, std::thread::JoinHandle<()>) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};

    let chain =
        vec![CertificateDer::from_pem_slice(certificate.certificate_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(certificate.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let connection = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if tls.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&request);
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .unwrap_or("1")
            .trim()
            .to_string();
        let answer = format!("RTSP/1.0 302 Found\r\nCSeq: {cseq}\r\nLocation: {location}\r\n\r\n");
        let _ = tls.write_all(answer.as_bytes());
        let _ = tls.flush();
        // Wait for the client to go.
        let _ = tls.read(&mut byte);
    });
    (port, thread)
}

#[test]
fn a_redirect_from_tls_to_plain_rtsp_is_refused() {
    let pki = Pki::new("tls-downgrade");
    common::init_plugin();
    let plain = common::HangingServer::start();
    let (port, thread) = redirecting_tls_server(
        &pki.server,
        format!("rtsp://127.0.0.1:{}/camera", plain.port()),
    );
    let location = format!("rtsps://127.0.0.1:{port}/camera");
    assert_refused(
        play(&location, &[("tls-ca-file", pki.ca.file.to_str().unwrap())]),
        "it would leave TLS",
    );
    assert_eq!(plain.connections(), 0, "the plain server was contacted");
    common::join_bounded(thread, Duration::from_secs(5));
}

/// Keep-alives over TLS hold a session past its timeout, and stopping
/// sends TEARDOWN through TLS (the server's session ends at once, not at
/// its timeout).
#[test]
fn keep_alive_and_teardown_over_tls() {
    let pki = Pki::new("tls-keepalive");
    let server = tls_server(&pki.server, None);
    let teardowns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = teardowns.clone();
    server.server().connect_client_connected(move |_, client| {
        client.connect_new_session(|_, session| session.set_timeout(2));
        let t = t.clone();
        client.connect_teardown_request(move |_, _| {
            t.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    });
    let location = server.url_with_scheme("rtsps", "localhost", "/video");
    let (pipeline, src, counters) = common::rtspsrc2_player(&location, &[]);
    src.set_property("tls-ca-file", pki.ca.file.to_str().unwrap());
    let started = Instant::now();
    let outcome = wait_until(&pipeline, WAIT, || {
        started.elapsed() > Duration::from_secs(5) && counters.video.count() > 100
    });
    assert!(outcome.is_stopped(), "{outcome:?}");
    let before = counters.video.count();
    assert!(
        common::wait_for(Duration::from_secs(3), || counters.video.count()
            > before + 20),
        "frames stopped after the 2 s session timeout"
    );
    assert_eq!(server.n_sessions(), 1);
    stop_pipeline(&pipeline);
    // The server got our TEARDOWN (counted when it handles it: not the
    // session's expiry, nor the connection's end). Its GIO TLS reads
    // sometimes handle the last request only when the connection closes,
    // so the bound is the element's background TEARDOWN bound (2 s) and
    // some slack, not the answer time.
    assert!(
        common::wait_for(Duration::from_secs(4), || {
            teardowns.load(std::sync::atomic::Ordering::SeqCst) == 1
        }),
        "no TEARDOWN reached the server over TLS"
    );
}
