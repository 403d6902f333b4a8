use super::*;

fn rtp(seq: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

fn stap_a(units: &[&[u8]]) -> Vec<u8> {
    let mut payload = vec![24];
    for unit in units {
        payload.extend_from_slice(&(unit.len() as u16).to_be_bytes());
        payload.extend_from_slice(unit);
    }
    payload
}

const SPS: &[u8] = &[0x67, 0x42, 0x00, 0x1e];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
const SEI: &[u8] = &[0x06, 0x05, 0x01, 0x80];
/// An IDR slice (first_mb_in_slice 0) and a second one of the same picture.
const IDR_1: &[u8] = &[0x65, 0x88, 0x84, 0x00];
const IDR_2: &[u8] = &[0x65, 0x01, 0x22, 0x33];
const P_SLICE: &[u8] = &[0x41, 0x9a, 0x00];

/// Run a stream through a guard the way `rtspsink` does: a peek first,
/// the whole packet when asked.
fn run(codec: Codec, packets: &[Vec<u8>]) -> (Vec<Verdict>, ParameterSetGuard) {
    let mut guard = ParameterSetGuard::new(codec);
    let verdicts = packets
        .iter()
        .map(|packet| {
            let peek = &packet[..packet.len().min(PEEK_LEN)];
            match guard.check(peek, peek.len() == packet.len()) {
                Verdict::NeedWhole => guard.check(packet, true),
                verdict => verdict,
            }
        })
        .collect();
    (verdicts, guard)
}

/// `rtph264pay config-interval=-1` on GStreamer 1.22 with a two-slice IDR
/// picture: SPS and PPS again before the second slice. They are dropped
/// and the sequence numbers close the gap.
#[test]
fn parameter_sets_between_slices_are_dropped_and_the_gap_closed() {
    let packets = vec![
        rtp(100, 3000, false, SPS),
        rtp(101, 3000, false, PPS),
        rtp(102, 3000, false, SEI),
        rtp(103, 3000, false, IDR_1),
        rtp(104, 3000, false, SPS),
        rtp(105, 3000, false, PPS),
        rtp(106, 3000, true, IDR_2),
        rtp(107, 6000, true, P_SLICE),
    ];
    let (verdicts, guard) = run(Codec::H264, &packets);
    use Verdict::*;
    assert_eq!(
        verdicts,
        vec![
            Send { seq: 100 },
            Send { seq: 101 },
            Send { seq: 102 },
            Send { seq: 103 },
            Drop,
            Drop,
            Send { seq: 104 },
            Send { seq: 105 },
        ]
    );
    assert_eq!(guard.removed, 2);
}

/// The same in the payloader's default aggregate mode: SPS and PPS travel
/// as one STAP-A.
#[test]
fn aggregated_parameter_sets_after_a_slice_are_dropped() {
    let packets = vec![
        rtp(65534, 90, false, &stap_a(&[SPS, PPS])),
        rtp(65535, 90, false, IDR_1),
        rtp(0, 90, false, &stap_a(&[SPS, PPS])),
        rtp(1, 90, true, IDR_2),
        rtp(2, 180, true, P_SLICE),
    ];
    let (verdicts, _) = run(Codec::H264, &packets);
    use Verdict::*;
    assert_eq!(
        verdicts,
        vec![
            Send { seq: 65534 },
            Send { seq: 65535 },
            Drop,
            Send { seq: 0 },
            Send { seq: 1 },
        ]
    );
}

/// A small second slice aggregated with the parameter sets: the STAP-A is
/// rebuilt with the slice alone, as a single NAL unit packet.
#[test]
fn a_stap_a_of_parameter_sets_and_a_slice_keeps_the_slice() {
    let packets = vec![
        rtp(10, 90, false, &stap_a(&[SPS, PPS, IDR_1])),
        rtp(11, 90, true, &stap_a(&[SPS, PPS, IDR_2])),
    ];
    let (verdicts, guard) = run(Codec::H264, &packets);
    assert_eq!(verdicts[0], Verdict::Send { seq: 10 });
    assert_eq!(
        verdicts[1],
        Verdict::Replace {
            packet: rtp(11, 90, true, IDR_2)
        }
    );
    assert_eq!(guard.removed, 2);

    let packets = vec![
        rtp(10, 90, false, IDR_1),
        rtp(11, 90, true, &stap_a(&[SPS, SEI, IDR_2])),
    ];
    let (verdicts, _) = run(Codec::H264, &packets);
    assert_eq!(
        verdicts[1],
        Verdict::Replace {
            packet: rtp(11, 90, true, &stap_a(&[SEI, IDR_2]))
        }
    );
}

/// FU-A fragments of slices count as slices; parameter sets at the start
/// of the next picture stay.
#[test]
fn fragmented_slices_and_the_next_picture() {
    let fu = |start: bool, end: bool| vec![0x7c, (start as u8) << 7 | (end as u8) << 6 | 5, 1, 2];
    let packets = vec![
        rtp(1, 90, false, SPS),
        rtp(2, 90, false, PPS),
        rtp(3, 90, false, &fu(true, false)),
        rtp(4, 90, false, &fu(false, true)),
        rtp(5, 90, false, SPS),
        rtp(6, 90, false, &fu(true, false)),
        rtp(7, 90, true, &fu(false, true)),
        // Next picture, the marker of the last one was seen.
        rtp(8, 180, false, SPS),
        rtp(9, 180, false, PPS),
        rtp(10, 180, true, IDR_1),
    ];
    let (verdicts, _) = run(Codec::H264, &packets);
    use Verdict::*;
    assert_eq!(
        verdicts,
        vec![
            Send { seq: 1 },
            Send { seq: 2 },
            Send { seq: 3 },
            Send { seq: 4 },
            Drop,
            Send { seq: 5 },
            Send { seq: 6 },
            Send { seq: 7 },
            Send { seq: 8 },
            Send { seq: 9 },
        ]
    );
}

/// A new timestamp starts a new access unit even when the marker of the
/// previous one was lost or never set.
#[test]
fn a_new_timestamp_starts_a_new_access_unit() {
    let packets = vec![
        rtp(1, 90, false, IDR_1),
        rtp(2, 180, false, SPS),
        rtp(3, 180, false, PPS),
        rtp(4, 180, true, IDR_1),
    ];
    let (verdicts, guard) = run(Codec::H264, &packets);
    assert!(verdicts.iter().all(|v| matches!(v, Verdict::Send { .. })));
    assert_eq!(guard.removed, 0);
}

/// H.265: VPS/SPS/PPS (types 32–34) between two IDR_W_RADL (19) slices.
#[test]
fn h265_parameter_sets_between_slices() {
    let nal = |t: u8, rest: &[u8]| {
        let mut v = vec![t << 1, 1];
        v.extend_from_slice(rest);
        v
    };
    let packets = vec![
        rtp(1, 90, false, &nal(32, &[1])),
        rtp(2, 90, false, &nal(33, &[1])),
        rtp(3, 90, false, &nal(34, &[1])),
        rtp(4, 90, false, &nal(19, &[0x80])),
        rtp(5, 90, false, &nal(32, &[1])),
        rtp(6, 90, false, &nal(33, &[1])),
        rtp(7, 90, false, &nal(34, &[1])),
        // A fragment (FU, type 49) of the second slice.
        rtp(8, 90, true, &[49 << 1, 1, 0xc0 | 19, 9]),
    ];
    let (verdicts, guard) = run(Codec::H265, &packets);
    use Verdict::*;
    assert_eq!(
        verdicts,
        vec![
            Send { seq: 1 },
            Send { seq: 2 },
            Send { seq: 3 },
            Send { seq: 4 },
            Drop,
            Drop,
            Drop,
            Send { seq: 5 },
        ]
    );
    assert_eq!(guard.removed, 3);
}

/// Headers with CSRCs, an extension and padding are read right; short or
/// non-RTP input is passed on, never a panic.
#[test]
fn odd_headers_and_garbage() {
    let mut packet = rtp(7, 90, false, &[]);
    packet[0] |= 0x10 | 0x20 | 1; // extension, padding, one CSRC
    packet.extend_from_slice(&[0, 0, 0, 1]); // CSRC
    packet.extend_from_slice(&[0xbe, 0xde, 0, 1, 0, 0, 0, 0]); // extension
    packet.extend_from_slice(IDR_1);
    packet.extend_from_slice(&[0, 0, 0, 4]); // 4 bytes of padding
    let mut guard = ParameterSetGuard::new(Codec::H264);
    assert_eq!(guard.check(&packet, true), Verdict::Send { seq: 7 });
    assert!(guard.slice_seen);

    for junk in [&[][..], &[0x80, 96], &[0u8; 12], &[0x80; 40], &[0xff; 13]] {
        let mut guard = ParameterSetGuard::new(Codec::H264);
        let _ = guard.check(junk, true);
        let _ = guard.check(junk, false);
    }
    // A STAP-A whose sizes run past the end is sent as it is.
    let bad = rtp(3, 90, false, &[24, 0, 200, 0x67]);
    let mut guard = ParameterSetGuard::new(Codec::H264);
    guard.slice_seen = true;
    guard.access_unit = Some(90);
    assert_eq!(guard.check(&bad, true), Verdict::Send { seq: 3 });
}

#[test]
fn codec_from_encoding_name() {
    assert_eq!(Codec::from_encoding_name("h264"), Some(Codec::H264));
    assert_eq!(Codec::from_encoding_name("H265"), Some(Codec::H265));
    assert_eq!(Codec::from_encoding_name("VP8"), None);
}
