//! Hostile behaviours of the media a server sends after PLAY (and, for
//! the publisher, after RECORD: a server has no business sending RTP to
//! a publisher, so whatever it sends must at most be dropped): frames on
//! channels nobody set up, empty and maximum-size frames, RTP packets
//! that are too short or malformed, RTCP whose lengths run past the end.

use crate::common::{RawRequest, Reply, interleaved_frame};

use super::script::{AT_ONCE, Behaviour, Expect, Stage, normal, play_then, plays, rtp_packet};

/// The normal stream with `bad(seq)` added before every packet.
fn stream_with(req: &RawRequest, bad: fn(u16) -> Vec<u8>) -> Reply {
    play_then(normal(req), move |seq| Some(bad(seq)))
}

/// Plays, and the src statistic `stat` counted the bad packets.
const fn plays_counting(stat: &'static str) -> Option<Expect> {
    Some(Expect::Plays {
        within: AT_ONCE,
        stat: Some(stat),
        hold: std::time::Duration::ZERO,
    })
}

/// An RTCP sender report whose length field claims 64 words more than
/// the packet has, followed by a receiver report claiming a length past
/// the compound's end.
fn rtcp_past_the_end() -> Vec<u8> {
    let mut packet = vec![0x80, 200, 0, 6 + 64];
    packet.extend_from_slice(&0x0BAD_F00Du32.to_be_bytes());
    packet.extend_from_slice(&[0; 20]);
    packet.extend_from_slice(&[0x81, 201, 0xFF, 0xFF, 0, 0, 0, 1]);
    packet
}

pub static TABLE: &[Behaviour] = &[
    Behaviour {
        name: "frames on channels never set up",
        stage: Stage::Play,
        reply: |req| {
            stream_with(req, |seq| {
                let mut out = interleaved_frame(9, &rtp_packet(seq, 100));
                out.extend(interleaved_frame(255, b"x"));
                out
            })
        },
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "frames of length 0",
        stage: Stage::Play,
        reply: |req| {
            stream_with(req, |_| {
                let mut out = interleaved_frame(0, b"");
                out.extend(interleaved_frame(1, b""));
                out
            })
        },
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "frames of length 65535",
        stage: Stage::Play,
        reply: |req| {
            stream_with(req, |seq| {
                // Every fifth packet, so the loopback keeps up easily.
                if seq % 5 != 0 {
                    return Vec::new();
                }
                let mut out = interleaved_frame(7, &vec![0x5A; 65_535]);
                out.extend(interleaved_frame(1, &vec![0x80; 65_535]));
                out
            })
        },
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "RTP packets too short",
        stage: Stage::Play,
        reply: |req| stream_with(req, |_| interleaved_frame(0, &[0x80, 96, 0, 1, 0])),
        sticky: false,
        src: plays_counting("packets-malformed"),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "RTP packets with a bad version",
        stage: Stage::Play,
        reply: |req| {
            stream_with(req, |seq| {
                let mut packet = rtp_packet(seq, 100);
                packet[0] = 0x40;
                interleaved_frame(0, &packet)
            })
        },
        sticky: false,
        src: plays_counting("packets-malformed"),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "RTP packets with CSRC counts beyond the packet",
        stage: Stage::Play,
        reply: |req| {
            stream_with(req, |seq| {
                let mut packet = rtp_packet(seq, 20);
                packet[0] = 0x8F;
                interleaved_frame(0, &packet)
            })
        },
        sticky: false,
        src: plays_counting("packets-malformed"),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "RTCP compound packets with lengths past the end",
        stage: Stage::Play,
        reply: |req| stream_with(req, |_| interleaved_frame(1, &rtcp_past_the_end())),
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
];
