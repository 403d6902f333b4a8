//! rtspsrc2 against a scripted "camera" whose RTP and RTCP are not what
//! the SDP promised: payload types nobody announced, packets that are all
//! padding or whose padding is malformed, sender reports from an SSRC that
//! sends no RTP. None of it may take the process down or stop the stream.

mod common;

use std::collections::VecDeque;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    MediaCounters, Outcome, RawRequest, Reply, ScriptedServer, interleaved_frame, rtsp_response,
    stop_pipeline, wait_for, wait_until,
};
use gst::glib;
use gst::prelude::*;

const VIDEO_SSRC: u32 = 0x1234_5678;
/// The SSRC of the sender reports in the foreign-SR camera (issue report).
const FOREIGN_SSRC: u32 = 0x0BAD_C0DE;
/// The camera's tick: one video frame.
const TICK: Duration = Duration::from_millis(33);

/// What the camera sends in one tick.
#[derive(Clone)]
enum Packet {
    Rtp(Vec<u8>),
    Rtcp(Vec<u8>),
}

/// Ticks of packets, sent one tick every [`TICK`] after the PLAY answer.
type Script = VecDeque<Vec<Packet>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lower {
    Tcp,
    Udp,
}

/// Gives the video packets the camera's SSRC and consecutive sequence
/// numbers, including the crafted ones that share the video's sequence.
struct Sequencer {
    seq: u16,
}

impl Sequencer {
    fn next(&mut self, mut packet: Vec<u8>) -> Vec<u8> {
        packet[2..4].copy_from_slice(&self.seq.to_be_bytes());
        packet[8..12].copy_from_slice(&VIDEO_SSRC.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        packet
    }
}

/// An RTP header (version 2) with these fields.
fn rtp_header(padding: bool, pt: u8, seq: u16, rtptime: u32, ssrc: u32) -> Vec<u8> {
    let mut header = vec![if padding { 0xA0 } else { 0x80 }, pt];
    header.extend_from_slice(&seq.to_be_bytes());
    header.extend_from_slice(&rtptime.to_be_bytes());
    header.extend_from_slice(&ssrc.to_be_bytes());
    header
}

fn rtptime(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]])
}

/// An RTCP sender report (RFC 3550 §6.4.1) from `ssrc`, without report
/// blocks, with the wall clock as NTP time.
fn sender_report(ssrc: u32, rtptime: u32) -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let ntp_seconds = now.as_secs() + 2_208_988_800;
    let ntp_fraction = ((now.subsec_nanos() as u64) << 32) / 1_000_000_000;
    let mut sr = vec![0x80, 200, 0, 6];
    sr.extend_from_slice(&ssrc.to_be_bytes());
    sr.extend_from_slice(&((ntp_seconds << 32) | ntp_fraction).to_be_bytes());
    sr.extend_from_slice(&rtptime.to_be_bytes());
    sr.extend_from_slice(&100u32.to_be_bytes());
    sr.extend_from_slice(&10_000u32.to_be_bytes());
    sr
}

/// The camera's shared state: the script (taken at PLAY) and, over UDP,
/// its sockets and the client's ports from SETUP.
struct Camera {
    lower: Lower,
    /// The `ssrc` of the SETUP answer's Transport header, if any.
    transport_ssrc: Option<u32>,
    script: Mutex<Option<Script>>,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    client_ports: Mutex<Option<(u16, u16)>>,
}

impl Camera {
    fn start(lower: Lower, script: Script) -> ScriptedServer {
        Self::start_with_ssrc(lower, script, Some(VIDEO_SSRC))
    }

    fn start_with_ssrc(
        lower: Lower,
        script: Script,
        transport_ssrc: Option<u32>,
    ) -> ScriptedServer {
        let camera = Arc::new(Camera {
            lower,
            transport_ssrc,
            script: Mutex::new(Some(script)),
            rtp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            rtcp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            client_ports: Mutex::new(None),
        });
        ScriptedServer::start_with(move |req| camera.reply(req))
    }

    fn reply(self: &Arc<Self>, req: &RawRequest) -> Reply {
        let cseq = req.cseq();
        match req.method.as_str() {
            "OPTIONS" => Reply::Send(rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")],
                b"",
            )),
            "DESCRIBE" => {
                let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Camera\r\nc=IN IP4 127.0.0.1\r\n\
                           t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                           a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n";
                let base = format!("{}/", req.uri.trim_end_matches('/'));
                Reply::Send(rtsp_response(
                    cseq,
                    200,
                    "OK",
                    &[("Content-Type", "application/sdp"), ("Content-Base", &base)],
                    sdp.as_bytes(),
                ))
            }
            "SETUP" => {
                let ssrc = self
                    .transport_ssrc
                    .map(|ssrc| format!(";ssrc={ssrc:08X}"))
                    .unwrap_or_default();
                let transport = match self.lower {
                    Lower::Tcp => format!("RTP/AVP/TCP;unicast;interleaved=0-1{ssrc}"),
                    Lower::Udp => {
                        let ports = req.header("Transport").and_then(client_ports);
                        let Some((rtp, rtcp)) = ports else {
                            return Reply::Send(rtsp_response(
                                cseq,
                                461,
                                "Unsupported Transport",
                                &[],
                                b"",
                            ));
                        };
                        *self.client_ports.lock().unwrap() = Some((rtp, rtcp));
                        format!(
                            "RTP/AVP;unicast;client_port={rtp}-{rtcp};server_port={}-{}{ssrc}",
                            self.rtp.local_addr().unwrap().port(),
                            self.rtcp.local_addr().unwrap().port()
                        )
                    }
                };
                Reply::Send(rtsp_response(
                    cseq,
                    200,
                    "OK",
                    &[("Session", "4242;timeout=60"), ("Transport", &transport)],
                    b"",
                ))
            }
            "PLAY" => {
                let reply = rtsp_response(cseq, 200, "OK", &[("Session", "4242")], b"");
                let Some(mut script) = self.script.lock().unwrap().take() else {
                    return Reply::Send(reply);
                };
                let camera = self.clone();
                Reply::SendThenStream(
                    reply,
                    TICK,
                    Box::new(move || {
                        let tick = script.pop_front()?;
                        Some(camera.send(tick))
                    }),
                )
            }
            _ => Reply::Send(rtsp_response(cseq, 200, "OK", &[("Session", "4242")], b"")),
        }
    }

    /// Send one tick: over UDP straight to the client's ports; over TCP
    /// the interleaved bytes to write on the connection.
    fn send(&self, tick: Vec<Packet>) -> Vec<u8> {
        let mut out = Vec::new();
        let ports = *self.client_ports.lock().unwrap();
        for packet in tick {
            match (self.lower, packet, ports) {
                (Lower::Tcp, Packet::Rtp(data), _) => out.extend(interleaved_frame(0, &data)),
                (Lower::Tcp, Packet::Rtcp(data), _) => out.extend(interleaved_frame(1, &data)),
                (Lower::Udp, Packet::Rtp(data), Some((rtp, _))) => {
                    let _ = self.rtp.send_to(&data, ("127.0.0.1", rtp));
                }
                (Lower::Udp, Packet::Rtcp(data), Some((_, rtcp))) => {
                    let _ = self.rtcp.send_to(&data, ("127.0.0.1", rtcp));
                }
                (Lower::Udp, _, None) => {}
            }
        }
        out
    }
}

/// `client_port=a-b` of a Transport header.
fn client_ports(transport: &str) -> Option<(u16, u16)> {
    let value = transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix("client_port="))?;
    let (rtp, rtcp) = value.split_once('-')?;
    Some((rtp.trim().parse().ok()?, rtcp.trim().parse().ok()?))
}

/// `stats` of the element's stream 0.
fn stream_stats(src: &gst::Element) -> Option<gst::Structure> {
    let stats = src.property::<gst::Structure>("stats");
    let streams = stats.get::<gst::Array>("streams").ok()?;
    streams
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .find(|s| s.get::<u32>("index").ok() == Some(0))
}

fn stat(src: &gst::Element, field: &str) -> u64 {
    stream_stats(src)
        .and_then(|s| s.get::<u64>(field).ok())
        .unwrap_or(0)
}

/// Play until `frames` decoded frames; the outcome and the frames seen.
fn play_until(
    pipeline: &gst::Pipeline,
    counters: &MediaCounters,
    frames: u64,
    within: Duration,
) -> (Outcome, u64) {
    let c = counters.clone();
    let outcome = wait_until(pipeline, within, move || c.video.count() >= frames);
    (outcome, counters.video.count())
}

#[test]
fn unknown_payload_types_are_dropped_and_counted() {
    common::init_plugin();
    let frames = common::h264_rtp_frames(120, 600);
    let mut seq = Sequencer { seq: 1000 };
    let mut script = Script::new();
    let mut injected = 0u64;
    for (index, frame) in frames.iter().enumerate() {
        let mut tick: Vec<Packet> = frame
            .iter()
            .map(|p| Packet::Rtp(seq.next(p.clone())))
            .collect();
        let ts = rtptime(&frame[0]);
        if (5..65).contains(&index) && index % 5 == 0 {
            // G.711 from the camera's unannounced audio (own SSRC and
            // sequence), a PT 97 packet in the video's own sequence, and
            // garbage that only happens to parse as RTP.
            let mut pcmu = rtp_header(false, 0, index as u16, ts, 0x0A0D_10A0);
            pcmu.extend_from_slice(&[0xff; 160]);
            let mut pt97 = rtp_header(false, 97, 0, ts, VIDEO_SSRC);
            pt97.extend_from_slice(&[0x42; 40]);
            let pt97 = seq.next(pt97);
            let mut garbage = rtp_header(false, 0x7f, 0xBEEF, 0xDEAD_BEEF, 0x1BAD_1BAD);
            garbage.extend_from_slice(&[0x55; 23]);
            tick.extend([Packet::Rtp(pcmu), Packet::Rtp(pt97), Packet::Rtp(garbage)]);
            injected += 3;
        }
        script.push_back(tick);
    }
    let server = Camera::start(Lower::Tcp, script);
    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    let (outcome, decoded) = play_until(&pipeline, &counters, 80, Duration::from_secs(20));
    let all_counted = wait_for(Duration::from_secs(5), || {
        stat(&src, "packets-unknown-pt") >= injected
    });
    let stats = stream_stats(&src);

    // rtpbin asks us for a payload type the SDP does not list: the answer
    // is "no caps", never a panic (which would abort the process).
    let rtpbin = src
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("rtpbin")
        .expect("rtpbin");
    let unknown = rtpbin.emit_by_name::<Option<gst::Caps>>("request-pt-map", &[&0u32, &97u32]);
    let out_of_range = rtpbin.emit_by_name::<Option<gst::Caps>>("request-pt-map", &[&7u32, &96u32]);
    let known = rtpbin.emit_by_name::<Option<gst::Caps>>("request-pt-map", &[&0u32, &96u32]);
    stop_pipeline(&pipeline);

    assert_eq!(outcome, Outcome::Stopped, "decoded {decoded}");
    assert!(all_counted, "stats: {stats:?}, injected {injected}");
    let stats = stats.expect("stream 0 stats");
    assert_eq!(
        stats.get::<u64>("packets-unknown-pt").unwrap(),
        injected,
        "{stats}"
    );
    assert!(unknown.is_none(), "caps for PT 97: {unknown:?}");
    assert!(
        out_of_range.is_none(),
        "caps for session 7: {out_of_range:?}"
    );
    assert!(known.is_some(), "no caps for the announced PT 96");
}

/// An H.264 FU-A packet (RFC 6184 §5.8) that starts a NAL unit and does
/// not end it: more fragments of the same NAL unit follow.
fn starts_fragmented_nal(packet: &[u8]) -> bool {
    let payload = &packet[12..];
    payload.len() > 2 && payload[0] & 0x1f == 28 && payload[1] & 0xc0 == 0x80
}

#[test]
fn packets_without_payload_are_dropped_and_counted() {
    packets_without_payload("light");
}

/// The mark that carries an empty packet through `rtpbin` survives
/// GStreamer's own jitterbuffer too.
#[test]
fn packets_without_payload_are_dropped_with_rtpjitterbuffer() {
    packets_without_payload("rtpjitterbuffer");
}

fn packets_without_payload(jitterbuffer: &str) {
    common::init_plugin();
    // Small packets, so that every frame is fragmented.
    let frames = common::h264_rtp_frames(120, 200);
    let mut seq = Sequencer { seq: 65_000 };
    let mut script = Script::new();
    let (mut empty, mut malformed) = (0u64, 0u64);
    for (index, frame) in frames.iter().enumerate() {
        let mut tick: Vec<Packet> = Vec::new();
        let ts = rtptime(&frame[0]);
        let pad_this_frame = (5..65).contains(&index) && index % 4 == 0;
        let mut padded = false;
        for packet in frame {
            tick.push(Packet::Rtp(seq.next(packet.clone())));
            if pad_this_frame && !padded && starts_fragmented_nal(packet) {
                // All padding (RFC 3550 §5.1: the last octet counts the
                // padding, itself included): eight octets, no payload,
                // between two fragments of a NAL unit. GStreamer 1.22's
                // rtph264depay then loses track of the fragments and
                // crashes on the next NAL unit.
                let mut padding = rtp_header(true, 96, 0, ts, VIDEO_SSRC);
                padding.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 8]);
                tick.push(Packet::Rtp(seq.next(padding)));
                empty += 1;
                padded = true;
            }
        }
        if pad_this_frame {
            // And between frames, without the padding bit.
            tick.push(Packet::Rtp(
                seq.next(rtp_header(false, 96, 0, ts, VIDEO_SSRC)),
            ));
            empty += 1;
        }
        if (5..65).contains(&index) && index % 10 == 0 {
            // Malformed: the padding count exceeds what follows the header.
            let mut bad = rtp_header(true, 96, 0, ts, VIDEO_SSRC);
            bad.extend_from_slice(&[1, 2, 3, 200]);
            tick.push(Packet::Rtp(seq.next(bad)));
            malformed += 1;
        }
        script.push_back(tick);
    }
    assert!(empty >= 20, "only {empty} packets without payload");
    let server = Camera::start(Lower::Tcp, script);
    let (pipeline, src, counters) =
        common::rtspsrc2_player(&server.url("/cam"), &[("protocols", "tcp".to_value())]);
    src.set_property_from_str("jitterbuffer", jitterbuffer);
    let (outcome, decoded) = play_until(&pipeline, &counters, 80, Duration::from_secs(20));
    let all_counted = wait_for(Duration::from_secs(5), || {
        stat(&src, "packets-no-payload") >= empty && stat(&src, "packets-malformed") >= malformed
    });
    let stats = stream_stats(&src);
    stop_pipeline(&pipeline);

    assert_eq!(outcome, Outcome::Stopped, "decoded {decoded}");
    assert!(all_counted, "stats: {stats:?}");
    let stats = stats.expect("stream 0 stats");
    assert_eq!(
        stats.get::<u64>("packets-no-payload").unwrap(),
        empty,
        "{stats}"
    );
    assert_eq!(
        stats.get::<u64>("packets-malformed").unwrap(),
        malformed,
        "{stats}"
    );
}

/// Which of the foreign SR and the first RTP packet the client sees first.
#[derive(Clone, Copy, Debug)]
enum FirstPacket {
    /// Sender reports alone for a while (longer than the client needs to
    /// start reading after PLAY), then RTP.
    SenderReport,
    Rtp,
}

/// H.264 over UDP with sender reports from an SSRC that sends no RTP.
fn foreign_sr_script(frames: &[Vec<Vec<u8>>], first: FirstPacket) -> Script {
    let mut seq = Sequencer { seq: 20_000 };
    let mut script = Script::new();
    let first_ts = rtptime(&frames[0][0]);
    if let FirstPacket::SenderReport = first {
        for _ in 0..8 {
            script.push_back(vec![Packet::Rtcp(sender_report(FOREIGN_SSRC, first_ts))]);
        }
    }
    for (index, frame) in frames.iter().enumerate() {
        let mut tick: Vec<Packet> = frame
            .iter()
            .map(|p| Packet::Rtp(seq.next(p.clone())))
            .collect();
        if index % 15 == 3 {
            tick.push(Packet::Rtcp(sender_report(
                FOREIGN_SSRC,
                rtptime(&frame[0]),
            )));
        }
        script.push_back(tick);
    }
    script
}

#[test]
fn sender_reports_of_a_foreign_ssrc_over_udp_play_every_time() {
    common::init_plugin();
    let frames = common::h264_rtp_frames(120, 600);
    // Which SSRC the SETUP answer announces varies too: the RTP's, the
    // reports', none.
    let runs = [
        (FirstPacket::SenderReport, Some(VIDEO_SSRC)),
        (FirstPacket::Rtp, Some(VIDEO_SSRC)),
        (FirstPacket::SenderReport, Some(FOREIGN_SSRC)),
        (FirstPacket::Rtp, Some(FOREIGN_SSRC)),
        (FirstPacket::SenderReport, None),
    ];
    for (run, (first, transport_ssrc)) in runs.into_iter().enumerate() {
        let script = foreign_sr_script(&frames, first);
        let server = Camera::start_with_ssrc(Lower::Udp, script, transport_ssrc);
        let (pipeline, src, counters) =
            common::rtspsrc2_player(&server.url("/cam"), &[("protocols", "udp".to_value())]);
        let (outcome, decoded) = play_until(&pipeline, &counters, 60, Duration::from_secs(15));
        let transport = src
            .property::<gst::Structure>("stats")
            .get::<String>("transport")
            .unwrap_or_default();
        // Paused, no packet goes into rtpbin: our stats and rtpbin's
        // figures for the camera's RTP SSRC can be compared.
        let _ = pipeline.set_state(gst::State::Paused);
        let _ = pipeline.state(gst::ClockTime::from_seconds(5));
        let ours = stream_stats(&src);
        let rtpbin = src.downcast_ref::<gst::Bin>().unwrap().by_name("rtpbin");
        let video_source = rtpbin
            .as_ref()
            .and_then(|rtpbin| source_stats(rtpbin, VIDEO_SSRC));
        stop_pipeline(&pipeline);
        assert_eq!(
            outcome,
            Outcome::Stopped,
            "run {run} ({first:?} first, SETUP ssrc {transport_ssrc:08X?}): decoded {decoded} \
             frames over {transport}"
        );
        assert_eq!(transport, "udp", "run {run}");
        // The loss and jitter reported are those of the SSRC that sent the
        // RTP, not of the one that only sent reports.
        let ours = ours.expect("stream 0 stats");
        let video_source = video_source.expect("rtpbin knows the video SSRC");
        for (field, theirs) in [
            ("packets-lost", video_source.value("packets-lost")),
            ("jitter", video_source.value("jitter")),
        ] {
            let theirs = theirs.unwrap_or_else(|_| panic!("no {field} in {video_source}"));
            assert_eq!(
                ours.value(field).ok().map(|v| format!("{v:?}")),
                Some(format!("{theirs:?}")),
                "run {run}: {field} of {ours} vs {video_source}"
            );
        }
    }
}

/// rtpbin's statistics of the remote source `ssrc` in session 0.
fn source_stats(rtpbin: &gst::Element, ssrc: u32) -> Option<gst::Structure> {
    let session = rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&0u32])?;
    let stats = session.property::<gst::Structure>("stats");
    let sources = stats.get::<glib::ValueArray>("source-stats").ok()?;
    sources
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .find(|s| s.get::<u32>("ssrc").ok() == Some(ssrc))
}
