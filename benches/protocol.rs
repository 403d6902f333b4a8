//! Micro-benchmarks of the protocol core's hot parsing paths:
//! `cargo bench --bench protocol` (criterion; `-- --quick` for a short run).
//!
//! - interleaved framing: `$` frames pushed in 64 KiB reads (as the driver
//!   does) and taken out with `Framer::next_message`, in bytes per second;
//! - RTSP responses (DESCRIBE with SDP body, SETUP, PLAY) through the framer;
//! - SDP → caps: `SessionDescription::parse` + `caps::streams_from_sdp` on
//!   a typical two-stream (H.264 + AAC) description.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rtspclient_protocol::caps::streams_from_sdp;
use rtspclient_protocol::message::{Framer, Limits, Message, encode_interleaved};
use rtspclient_protocol::sdp::SessionDescription;

/// The driver's read size (src/driver/connection.rs READ_CHUNK).
const READ_CHUNK: usize = 64 * 1024;

const SDP: &str = "v=0\r\n\
o=- 1188340656180883 1 IN IP4 192.168.0.10\r\n\
s=Session streamed by the camera\r\n\
i=live\r\n\
t=0 0\r\n\
a=tool:LIVE555 Streaming Media v2017.10.28\r\n\
a=type:broadcast\r\n\
a=control:*\r\n\
a=range:npt=0-\r\n\
a=x-qt-text-nam:Session streamed by the camera\r\n\
m=video 0 RTP/AVP 96\r\n\
c=IN IP4 0.0.0.0\r\n\
b=AS:4000\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1;profile-level-id=64001F;sprop-parameter-sets=Z2QAH6zZQFAFuhAAAAMAEAAAAwPI8YMZYA==,aOvjyyLA\r\n\
a=framerate:30\r\n\
a=control:trackID=1\r\n\
m=audio 0 RTP/AVP 97\r\n\
c=IN IP4 0.0.0.0\r\n\
b=AS:128\r\n\
a=rtpmap:97 MPEG4-GENERIC/48000/2\r\n\
a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1190\r\n\
a=control:trackID=2\r\n";

fn describe_response() -> Vec<u8> {
    format!(
        "RTSP/1.0 200 OK\r\n\
CSeq: 3\r\n\
Date: Sat, 21 Nov 2026 10:00:00 GMT\r\n\
Content-Base: rtsp://192.168.0.10:554/stream1/\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

const SETUP_RESPONSE: &[u8] = b"RTSP/1.0 200 OK\r\n\
CSeq: 4\r\n\
Date: Sat, 21 Nov 2026 10:00:00 GMT\r\n\
Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5E3A2B1C;mode=\"play\"\r\n\
Session: 4F8A2C31D9B0E7;timeout=60\r\n\r\n";

const PLAY_RESPONSE: &[u8] = b"RTSP/1.0 200 OK\r\n\
CSeq: 6\r\n\
Date: Sat, 21 Nov 2026 10:00:00 GMT\r\n\
Range: npt=0.000-\r\n\
Session: 4F8A2C31D9B0E7\r\n\
RTP-Info: url=rtsp://192.168.0.10:554/stream1/trackID=1;seq=27152;rtptime=3440562541,url=rtsp://192.168.0.10:554/stream1/trackID=2;seq=4012;rtptime=1939181616\r\n\r\n";

/// `frames` interleaved RTP packets of `size` bytes (RTP header + payload)
/// on channel 0, with an RTCP packet on channel 1 every 100.
fn interleaved_stream(frames: usize, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * (size + 4));
    let mut pkt = vec![0u8; size];
    pkt[0] = 0x80;
    pkt[1] = 96;
    for i in 0..frames {
        pkt[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        encode_interleaved(0, &pkt, &mut out).unwrap();
        if i % 100 == 99 {
            encode_interleaved(1, &[0x80, 200, 0, 6, 1, 2, 3, 4], &mut out).unwrap();
        }
    }
    out
}

/// Pushes `wire` in driver-sized reads and takes every message out.
fn drain(framer: &mut Framer, wire: &[u8]) -> usize {
    let mut n = 0;
    for chunk in wire.chunks(READ_CHUNK) {
        framer.push(chunk);
        while let Some(m) = framer.next_message().unwrap() {
            if let Message::Data { payload, .. } = &m {
                black_box(payload.len());
            }
            n += 1;
        }
    }
    n
}

fn framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framer");
    for size in [200usize, 1400] {
        let wire = interleaved_stream(4096, size);
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(format!("interleaved {size} B packets"), |b| {
            b.iter_batched_ref(
                || Framer::new(Limits::default()),
                |f| drain(f, &wire),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn responses(c: &mut Criterion) {
    let mut g = c.benchmark_group("response");
    let describe = describe_response();
    for (name, bytes) in [
        ("DESCRIBE (SDP body)", describe.as_slice()),
        ("SETUP", SETUP_RESPONSE),
        ("PLAY (RTP-Info)", PLAY_RESPONSE),
    ] {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut f = Framer::new(Limits::default());
                f.push(black_box(bytes));
                f.next_message().unwrap().unwrap()
            })
        });
    }
    g.finish();
}

fn sdp_to_caps(c: &mut Criterion) {
    let mut g = c.benchmark_group("sdp");
    g.throughput(Throughput::Bytes(SDP.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| SessionDescription::parse(black_box(SDP.as_bytes())).unwrap())
    });
    g.bench_function("parse + streams_from_sdp", |b| {
        b.iter(|| {
            let sdp = SessionDescription::parse(black_box(SDP.as_bytes())).unwrap();
            let streams = streams_from_sdp(&sdp);
            assert_eq!(streams.len(), 2);
            streams
        })
    });
    g.bench_function("parse + streams_from_sdp + caps strings", |b| {
        b.iter(|| {
            let sdp = SessionDescription::parse(black_box(SDP.as_bytes())).unwrap();
            streams_from_sdp(&sdp)
                .iter()
                .map(|s| s.payloads[0].to_caps_string())
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, framing, responses, sdp_to_caps);
criterion_main!(benches);
