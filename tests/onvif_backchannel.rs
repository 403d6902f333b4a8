//! The ONVIF audio backchannel of `rtspsrc2` (`backchannel=onvif`) against
//! gst-rtsp-server's `RTSPOnvifServer` + `RTSPOnvifMediaFactory`: the
//! server sends PCMA and receives PCMU on its backchannel, whose
//! depayloaded output goes into an appsink here. Audio sent from the
//! client through the action signals (RTP packets made here, one by one
//! and as a buffer list) and through the `backchannel_0` request pad
//! (`appsrc ! rtppcmupay`), over TCP and UDP, must arrive bit-exact, every
//! payload in order, also after a reconnection. Without
//! `backchannel=onvif` no backchannel is asked for and the element plays
//! as usual; a server without ONVIF support (551) plays without one.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server_thread::ServerThread;
use common::{FrameCounter, init, wait_for};
use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

const WAIT: Duration = Duration::from_secs(10);
/// Payloads per run: 20 ms of 8 kHz µ-law each.
const PACKETS: usize = 40;
const PAYLOAD: usize = 160;

const SERVER_LAUNCH: &str = "( audiotestsrc is-live=true wave=ticks ! \
    audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay0 pt=8 )";
/// gst-rtsp-server's documented form: a depayloader named
/// `depay_backchannel` whose sink caps are complete RTP caps, then sinks
/// that do not wait for preroll.
const BACKCHANNEL_LAUNCH: &str = "( capsfilter name=depay_backchannel \
    caps=\"application/x-rtp,media=audio,payload=0,clock-rate=8000,encoding-name=PCMU\" ! \
    rtppcmudepay ! appsink name=received async=false sync=false )";

/// What the server's backchannel appsinks received, one entry per buffer,
/// and how many media were made with a backchannel.
#[derive(Clone, Default)]
struct Received {
    buffers: Arc<Mutex<Vec<Vec<u8>>>>,
    media_with_backchannel: Arc<Mutex<u32>>,
}

/// An RTSPOnvifServer in its own thread on 127.0.0.1, ephemeral port.
struct OnvifServer {
    running: ServerThread,
    received: Received,
}

impl OnvifServer {
    /// `onvif`: an ONVIF server and factory with the backchannel;
    /// otherwise a plain server and factory, which know no `Require` tag.
    fn start(onvif: bool) -> OnvifServer {
        init();
        common::tools::require_launch(SERVER_LAUNCH);
        common::tools::require_launch(BACKCHANNEL_LAUNCH);
        let received = Received::default();
        let (server, factory) = if onvif {
            let factory = gst_rtsp_server::RTSPOnvifMediaFactory::new();
            factory.set_backchannel_launch(Some(BACKCHANNEL_LAUNCH));
            // The factory makes plain media (and refuses to construct)
            // unless told to make ONVIF media.
            factory.set_media_gtype(gst_rtsp_server::RTSPOnvifMedia::static_type());
            (
                gst_rtsp_server::RTSPOnvifServer::new().upcast::<gst_rtsp_server::RTSPServer>(),
                factory.upcast::<gst_rtsp_server::RTSPMediaFactory>(),
            )
        } else {
            (
                gst_rtsp_server::RTSPServer::new(),
                gst_rtsp_server::RTSPMediaFactory::new(),
            )
        };
        factory.set_launch(SERVER_LAUNCH);
        let sink_data = received.clone();
        factory.connect_media_configure(move |_, media| {
            let Ok(bin) = media.element().downcast::<gst::Bin>() else {
                return;
            };
            let Some(sink) = bin
                .by_name("received")
                .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            else {
                return;
            };
            *sink_data.media_with_backchannel.lock().unwrap() += 1;
            let buffers = sink_data.buffers.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                            buffers.lock().unwrap().push(map.to_vec());
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        });
        server
            .mount_points()
            .expect("mount points")
            .add_factory("/onvif", factory);
        OnvifServer {
            running: ServerThread::start(server),
            received,
        }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/onvif", self.running.port)
    }

    fn received(&self) -> Vec<Vec<u8>> {
        self.received.buffers.lock().unwrap().clone()
    }

    fn disconnect_all(&self) {
        self.running.disconnect_all();
    }
}

/// Deterministic, non-silent µ-law payloads (every byte value is valid
/// µ-law), different per run.
fn payloads(seed: u32) -> Vec<Vec<u8>> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..PACKETS)
        .map(|_| {
            (0..PAYLOAD)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect()
        })
        .collect()
}

/// An rtspsrc2 pipeline whose received streams go to fakesinks (counted);
/// `pad_source`: also `appsrc ! rtppcmupay ! src.backchannel_0`.
struct Client {
    pipeline: gst::Pipeline,
    src: gst::Element,
    received: FrameCounter,
    /// select-stream calls: (stream id, caps had a-sendonly).
    selected: Arc<Mutex<Vec<(u32, bool)>>>,
    appsrc: Option<gst_app::AppSrc>,
    /// RTP payloads that left rtppcmupay for the backchannel pad.
    paid: Arc<Mutex<Vec<Vec<u8>>>>,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl Client {
    fn new(url: &str, protocols: &str, backchannel: &str, pad_source: bool) -> Client {
        common::init_plugin();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtspsrc2")
            .property("location", url)
            .build()
            .unwrap();
        src.set_property_from_str("protocols", protocols);
        src.set_property_from_str("backchannel", backchannel);
        pipeline.add(&src).unwrap();
        let selected = Arc::new(Mutex::new(Vec::new()));
        let log = selected.clone();
        src.connect("select-stream", false, move |args| {
            let id = args[1].get::<u32>().unwrap();
            let caps = args[2].get::<gst::Caps>().unwrap();
            let sendonly = caps.structure(0).unwrap().has_field("a-sendonly");
            log.lock().unwrap().push((id, sendonly));
            Some(true.to_value())
        });
        let received = FrameCounter::new();
        let (weak, counter) = (pipeline.downgrade(), received.clone());
        src.connect_pad_added(move |_, pad| {
            // The backchannel request pad is announced too.
            let Some(pipeline) = weak
                .upgrade()
                .filter(|_| pad.direction() == gst::PadDirection::Src)
            else {
                return;
            };
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
            counter.attach_to_pad(pad);
        });
        let paid = Arc::new(Mutex::new(Vec::new()));
        let appsrc = pad_source.then(|| {
            let appsrc = gst_app::AppSrc::builder()
                .caps(
                    &gst::Caps::builder("audio/x-mulaw")
                        .field("rate", 8000i32)
                        .field("channels", 1i32)
                        .build(),
                )
                .format(gst::Format::Time)
                .is_live(true)
                .build();
            let pay = gst::ElementFactory::make("rtppcmupay").build().unwrap();
            pipeline.add_many([appsrc.upcast_ref(), &pay]).unwrap();
            appsrc.link(&pay).unwrap();
            let sink_pad = src.request_pad_simple("backchannel_%u").unwrap();
            assert_eq!(sink_pad.name(), "backchannel_0");
            let log = paid.clone();
            sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
                    let map = buffer.map_readable().unwrap();
                    log.lock().unwrap().push(map[12..].to_vec());
                }
                gst::PadProbeReturn::Ok
            });
            pay.static_pad("src").unwrap().link(&sink_pad).unwrap();
            appsrc
        });
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let log = warnings.clone();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            if let gst::MessageView::Warning(w) = msg.view() {
                log.lock().unwrap().push(w.error().to_string());
            }
            gst::BusSyncReply::Pass
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Client {
            pipeline,
            src,
            received,
            selected,
            appsrc,
            paid,
            warnings,
        }
    }

    /// Data arrived on the received stream: PLAY was answered.
    fn wait_playing(&self) {
        assert!(
            self.received.wait_for(3, WAIT),
            "no data on the received stream"
        );
    }

    fn backchannel_id(&self) -> u32 {
        let selected = self.selected.lock().unwrap();
        let ids: Vec<u32> = selected.iter().filter(|s| s.1).map(|s| s.0).collect();
        assert_eq!(
            ids.len(),
            1,
            "one backchannel in select-stream: {selected:?}"
        );
        ids[0]
    }

    /// Every payload as an RTP packet (PCMU, one SSRC, 20 ms steps)
    /// through `push-backchannel-sample`.
    fn push_signal(&self, payloads: &[Vec<u8>]) {
        let id = self.backchannel_id();
        let packets: Vec<gst::Buffer> = payloads
            .iter()
            .enumerate()
            .map(|(n, payload)| {
                let mut packet = vec![0x80, if n == 0 { 0x80 } else { 0 }];
                packet.extend_from_slice(&(1000 + n as u16).to_be_bytes());
                packet.extend_from_slice(&(n as u32 * PAYLOAD as u32).to_be_bytes());
                packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                packet.extend_from_slice(payload);
                gst::Buffer::from_mut_slice(packet)
            })
            .collect();
        // Most one by one; the last quarter as one buffer list through
        // the older signal name.
        let (single, listed) = packets.split_at(packets.len() * 3 / 4);
        for (n, packet) in single.iter().enumerate() {
            let sample = gst::Sample::builder().buffer(packet).build();
            let flow = self
                .src
                .emit_by_name::<gst::FlowReturn>("push-backchannel-sample", &[&id, &sample]);
            assert_eq!(flow, gst::FlowReturn::Ok, "packet {n}");
        }
        let mut list = gst::BufferList::new();
        for packet in listed {
            list.get_mut().unwrap().add(packet.clone());
        }
        let sample = gst::Sample::builder().buffer_list(&list).build();
        let flow = self
            .src
            .emit_by_name::<gst::FlowReturn>("push-backchannel-buffer", &[&id, &sample]);
        assert_eq!(flow, gst::FlowReturn::Ok, "buffer list");
    }

    /// Every payload as 20 ms of audio into `appsrc ! rtppcmupay`.
    fn push_pad(&self, payloads: &[Vec<u8>]) {
        let appsrc = self.appsrc.as_ref().unwrap();
        for (n, payload) in payloads.iter().enumerate() {
            let mut buffer = gst::Buffer::from_slice(payload.clone());
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(20 * n as u64));
            b.set_duration(gst::ClockTime::from_mseconds(20));
            appsrc.push_buffer(buffer).unwrap();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        common::stop_pipeline(&self.pipeline);
    }
}

/// `stats`' counts of the one backchannel: sent packets, bytes, dropped.
fn backchannel_counts(src: &gst::Element) -> (u64, u64, u64) {
    let stats = src.property::<gst::Structure>("stats");
    let list = stats.get::<gst::Array>("backchannels").unwrap();
    assert_eq!(list.len(), 1, "{stats}");
    let s = list.as_slice()[0].get::<gst::Structure>().unwrap();
    (
        s.get("packets-sent").unwrap(),
        s.get("bytes-sent").unwrap(),
        s.get("packets-dropped").unwrap(),
    )
}

/// What the server's depayloader put out must be what was sent, payload
/// for payload.
fn check_arrived(server: &OnvifServer, sent: &[Vec<u8>]) {
    let complete = wait_for(WAIT, || server.received().len() >= sent.len());
    let received = server.received();
    assert!(
        complete,
        "{} of {} payloads arrived at the server",
        received.len(),
        sent.len()
    );
    assert_eq!(
        received.len(),
        sent.len(),
        "more payloads than sent arrived"
    );
    for (n, (got, want)) in received.iter().zip(sent).enumerate() {
        assert!(
            got == want,
            "payload {n} differs ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }
}

fn signal_round_trip(protocols: &str, seed: u32) {
    let server = OnvifServer::start(true);
    let client = Client::new(&server.url(), protocols, "onvif", false);
    client.wait_playing();
    // The server's stream and its backchannel, in SDP order.
    assert_eq!(
        *client.selected.lock().unwrap(),
        vec![(0, false), (1, true)]
    );
    let sent = payloads(seed);
    client.push_signal(&sent);
    check_arrived(&server, &sent);
    let rtp_bytes = (PACKETS * (12 + PAYLOAD)) as u64;
    assert_eq!(
        backchannel_counts(&client.src),
        (PACKETS as u64, rtp_bytes, 0)
    );
    // A payload type the server did not describe (PCMA) is refused, with
    // a warning, and does not arrive.
    let pcma = gst::Buffer::from_mut_slice(
        [&[0x80u8, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1][..], &[0xd5; 160]].concat(),
    );
    let flow = client.src.emit_by_name::<gst::FlowReturn>(
        "push-backchannel-sample",
        &[&1u32, &gst::Sample::builder().buffer(&pcma).build()],
    );
    assert_eq!(flow, gst::FlowReturn::Error);
    assert!(
        client
            .warnings
            .lock()
            .unwrap()
            .iter()
            .any(|w| w.contains("payload type 8")),
        "{:?}",
        client.warnings.lock().unwrap()
    );
    assert_eq!(
        backchannel_counts(&client.src),
        (PACKETS as u64, rtp_bytes, 1)
    );
    // Only the received stream has a pad.
    let pads: Vec<String> = client
        .src
        .src_pads()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert_eq!(pads, vec!["stream_0"]);
    // ...and only it is a received stream (rtpbin session, statistics).
    let stats = client.src.property::<gst::Structure>("stats");
    let streams = stats.get::<gst::Array>("streams").unwrap();
    assert_eq!(streams.len(), 1, "{stats}");
    let rtpbin = client
        .src
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("rtpbin")
        .unwrap();
    let session = rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&1u32]);
    assert!(
        session.is_none(),
        "rtpbin made a session for the backchannel"
    );
}

fn pad_round_trip(protocols: &str, seed: u32) {
    let server = OnvifServer::start(true);
    let client = Client::new(&server.url(), protocols, "onvif", true);
    client.wait_playing();
    // The pad offers the server's payload for the payloader to negotiate,
    // without the SDP's attribute fields.
    let pad = client.src.static_pad("backchannel_0").unwrap();
    let offered = pad.query_caps(None);
    let expected = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("payload", 0i32)
        .field("clock-rate", 8000i32)
        .field("encoding-name", "PCMU")
        .build();
    assert!(offered.is_strictly_equal(&expected), "{offered}");
    let sent = payloads(seed);
    client.push_pad(&sent);
    check_arrived(&server, &sent);
    let paid_bytes: usize = client
        .paid
        .lock()
        .unwrap()
        .iter()
        .map(|p| 12 + p.len())
        .sum();
    let packets = client.paid.lock().unwrap().len() as u64;
    assert_eq!(
        backchannel_counts(&client.src),
        (packets, paid_bytes as u64, 0)
    );
    // rtppcmupay kept one input buffer per packet here; whatever it does,
    // the packets it made are what the server depayloaded.
    assert_eq!(*client.paid.lock().unwrap(), server.received());
    assert!(client.warnings.lock().unwrap().is_empty());
}

/// After the connection is lost and the element reconnected, the same
/// request pad feeds the new session's backchannel (a new SETUP, a new
/// route): what is sent then arrives too, after what was sent before.
#[test]
fn request_pad_feeds_the_session_after_a_reconnection() {
    let server = OnvifServer::start(true);
    let client = Client::new(&server.url(), "tcp", "onvif", true);
    client.wait_playing();
    let sent = payloads(5);
    let (before, after) = sent.split_at(PACKETS / 2);
    client.push_pad(before);
    check_arrived(&server, before);
    server.disconnect_all();
    let reconnected = wait_for(WAIT, || {
        let stats = client.src.property::<gst::Structure>("stats");
        stats.get::<u64>("reconnections").unwrap_or(0) >= 1
    });
    assert!(reconnected, "no reconnection");
    assert_eq!(*server.received.media_with_backchannel.lock().unwrap(), 2);
    let appsrc = client.appsrc.as_ref().unwrap();
    for (n, payload) in after.iter().enumerate() {
        let mut buffer = gst::Buffer::from_slice(payload.clone());
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(
            20 * (before.len() + n) as u64,
        ));
        appsrc.push_buffer(buffer).unwrap();
    }
    check_arrived(&server, &sent);
}

#[test]
fn signal_over_tcp_arrives_bit_exact() {
    signal_round_trip("tcp", 1);
}

#[test]
fn signal_over_udp_arrives_bit_exact() {
    signal_round_trip("udp", 2);
}

#[test]
fn request_pad_over_tcp_arrives_bit_exact() {
    pad_round_trip("tcp", 3);
}

#[test]
fn request_pad_over_udp_arrives_bit_exact() {
    pad_round_trip("udp", 4);
}

/// `backchannel=none` (the default): DESCRIBE without the tag, so the
/// server makes no backchannel; one stream, played as usual; the signal
/// has nothing to send to.
#[test]
fn without_backchannel_property_plays_normally() {
    let server = OnvifServer::start(true);
    let client = Client::new(&server.url(), "tcp", "none", false);
    client.wait_playing();
    assert_eq!(*client.selected.lock().unwrap(), vec![(0, false)]);
    assert_eq!(*server.received.media_with_backchannel.lock().unwrap(), 0);
    let sample = gst::Sample::builder()
        .buffer(&gst::Buffer::from_mut_slice(vec![
            0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff,
        ]))
        .build();
    let flow = client
        .src
        .emit_by_name::<gst::FlowReturn>("push-backchannel-sample", &[&1u32, &sample]);
    assert_eq!(flow, gst::FlowReturn::Error);
    assert!(server.received().is_empty());
    // A request pad can still be had (and given back); with no
    // backchannel it has nothing to send to.
    let pad = client.src.request_pad_simple("backchannel_%u").unwrap();
    assert_eq!(pad.name(), "backchannel_0");
    client.src.release_request_pad(&pad);
    assert!(client.src.static_pad("backchannel_0").is_none());
}

/// A server without ONVIF support answers the tag with 551: the element
/// warns, describes again without it and plays.
#[test]
fn server_without_backchannel_support_plays_with_warning() {
    let server = OnvifServer::start(false);
    let client = Client::new(&server.url(), "tcp", "onvif", false);
    client.wait_playing();
    assert_eq!(*client.selected.lock().unwrap(), vec![(0, false)]);
    let warnings = client.warnings.lock().unwrap().clone();
    assert!(
        warnings.iter().any(|w| w.contains("551")),
        "no 551 warning: {warnings:?}"
    );
}
