//! Applying `h26x::ParameterSetGuard` to the packets of a chain call: H.264
//! and H.265 parameter sets that a payloader put between the slices of one
//! picture are removed before they reach the server (docs/QUIRKS.md,
//! "Parameter sets between the slices of one picture"): in the sink's
//! chain function ([`filter`]: the packets stay untouched, the new
//! sequence number is written into the bytes sent), or for a stream that
//! retransmits in front of its `rtprtxsend` ([`apply`]).

use rtspclient_protocol::h26x::{Codec, PEEK_LEN, ParameterSetGuard, Verdict};

use super::wire::{Outgoing, Packets};

/// A packet that goes out after the guard.
pub enum Kept<'a> {
    /// The packet as it came, with the sequence number to write when the
    /// guard renumbered it.
    Original(&'a gst::BufferRef, Option<u16>),
    /// An aggregation packet rebuilt without its parameter sets.
    Replaced(gst::Buffer),
}

impl Kept<'_> {
    pub fn outgoing(&self) -> Outgoing<'_> {
        match self {
            Kept::Original(buffer, seq) => Outgoing { buffer, seq: *seq },
            Kept::Replaced(buffer) => Outgoing::unchanged(buffer),
        }
    }

    /// An owned reference, to hold the packet past the chain call.
    pub fn to_held(&self) -> (gst::Buffer, Option<u16>) {
        match self {
            Kept::Original(buffer, seq) => ((*buffer).to_owned(), *seq),
            Kept::Replaced(buffer) => (buffer.clone(), None),
        }
    }
}

/// The guard for a stream with these caps, if its codec needs one.
pub fn guard_for(caps: &gst::CapsRef) -> Option<ParameterSetGuard> {
    caps.structure(0)
        .and_then(|s| s.get::<&str>("encoding-name").ok())
        .and_then(Codec::from_encoding_name)
        .map(ParameterSetGuard::new)
}

/// What the guard decided for one packet.
enum Action {
    /// Send it, with this sequence number when renumbered.
    Keep(Option<u16>),
    /// Send this rebuilt aggregation packet instead.
    Replace(gst::Buffer),
    Drop,
}

/// The guard's verdict on one packet.
fn decide(guard: &mut ParameterSetGuard, buffer: &gst::BufferRef) -> Action {
    let mut peek = [0u8; PEEK_LEN];
    let len = buffer.size().min(PEEK_LEN);
    if buffer.copy_to_slice(0, &mut peek[..len]).is_err() {
        return Action::Keep(None);
    }
    let mut verdict = guard.check(&peek[..len], len == buffer.size());
    if verdict == Verdict::NeedWhole {
        // Aggregation packets are small: mapping one whole is cheap.
        verdict = match buffer.map_readable() {
            Ok(map) => guard.check(&map, true),
            Err(_) => Verdict::Send {
                seq: original_seq(&peek[..len]),
            },
        };
    }
    match verdict {
        Verdict::Send { seq } => Action::Keep((seq != original_seq(&peek[..len])).then_some(seq)),
        Verdict::Replace { packet } => {
            let mut replacement = gst::Buffer::from_mut_slice(packet);
            if let Some(replacement) = replacement.get_mut() {
                let _ = buffer.copy_into(
                    replacement,
                    gst::BufferCopyFlags::FLAGS
                        | gst::BufferCopyFlags::TIMESTAMPS
                        | gst::BufferCopyFlags::META,
                    ..,
                );
            }
            Action::Replace(replacement)
        }
        Verdict::Drop | Verdict::NeedWhole => Action::Drop,
    }
}

/// Run `packets` through `guard` (None: every packet is kept unchanged).
pub fn filter<'a>(guard: Option<&mut ParameterSetGuard>, packets: Packets<'a>) -> Vec<Kept<'a>> {
    let Some(guard) = guard else {
        return packets.iter().map(|b| Kept::Original(b, None)).collect();
    };
    let mut kept = Vec::with_capacity(packets.len());
    for buffer in packets.iter() {
        match decide(guard, buffer) {
            Action::Keep(seq) => kept.push(Kept::Original(buffer, seq)),
            Action::Replace(replacement) => kept.push(Kept::Replaced(replacement)),
            Action::Drop => {}
        }
    }
    kept
}

/// Apply `guard` to the packets of a pad probe, changing them in place:
/// for a stream that retransmits, the guard runs in front of
/// `rtprtxsend`, so that the history it answers NACKs from holds the
/// packets as they go on the wire (see `retransmission`). Returns false
/// when nothing is left to pass on.
pub fn apply(guard: &mut ParameterSetGuard, data: &mut gst::PadProbeData) -> bool {
    match data {
        gst::PadProbeData::Buffer(buffer) => match decide(guard, buffer) {
            Action::Keep(None) => true,
            Action::Keep(Some(seq)) => {
                renumber(buffer, seq);
                true
            }
            Action::Replace(replacement) => {
                *buffer = replacement;
                true
            }
            Action::Drop => false,
        },
        gst::PadProbeData::BufferList(list) => {
            let actions: Vec<Action> = list.iter().map(|b| decide(guard, b)).collect();
            if actions.iter().all(|a| matches!(a, Action::Keep(None))) {
                return true;
            }
            // The payloader's list, usually held by nobody else: its
            // buffers are taken out of it, so that writing a sequence
            // number copies nothing (a shared list is copied first).
            let mut old = std::mem::replace(list, gst::BufferList::new());
            let mut new = gst::BufferList::new_sized(old.len());
            {
                let new = new.get_mut().expect("a new list is writable");
                for (mut buffer, action) in old.make_mut().drain(..).zip(actions) {
                    match action {
                        Action::Keep(None) => new.add(buffer),
                        Action::Keep(Some(seq)) => {
                            renumber(&mut buffer, seq);
                            new.add(buffer);
                        }
                        Action::Replace(replacement) => new.add(replacement),
                        Action::Drop => {}
                    }
                }
            }
            let empty = new.is_empty();
            *list = new;
            !empty
        }
        _ => true,
    }
}

/// Write `seq` into an RTP packet's header (bytes 2-3). `gst_buffer_fill`
/// maps each memory writable and copies only a memory that is shared
/// (the payloader's header memory usually is not).
fn renumber(buffer: &mut gst::Buffer, seq: u16) {
    let _ = buffer.make_mut().copy_from_slice(2, &seq.to_be_bytes());
}

fn original_seq(packet: &[u8]) -> u16 {
    match packet {
        [_, _, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An H.264 RTP packet carrying one NAL unit of header `nal`.
    fn packet(seq: u16, timestamp: u32, marker: bool, nal: u8) -> gst::Buffer {
        let mut bytes = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
        bytes.extend_from_slice(&seq.to_be_bytes());
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        bytes.extend_from_slice(&[nal, 0xaa, 0xbb, 0xcc]);
        gst::Buffer::from_mut_slice(bytes)
    }

    fn seq_of(buffer: &gst::BufferRef) -> u16 {
        let mut head = [0u8; 4];
        buffer.copy_to_slice(0, &mut head).unwrap();
        u16::from_be_bytes([head[2], head[3]])
    }

    const IDR: u8 = 0x65;
    const SPS: u8 = 0x67;
    const PPS: u8 = 0x68;

    #[test]
    fn applied_in_place_drops_and_renumbers() {
        gst::init().unwrap();
        let mut guard = ParameterSetGuard::new(Codec::H264);
        // A picture in two slices with SPS/PPS between them (rtph264pay
        // config-interval=-1): the parameter sets go, the second slice
        // takes their first number.
        let mut list = gst::BufferList::new();
        {
            let list = list.get_mut().unwrap();
            list.add(packet(10, 1000, false, IDR));
            list.add(packet(11, 1000, false, SPS));
            list.add(packet(12, 1000, false, PPS));
            list.add(packet(13, 1000, true, IDR));
        }
        let mut data = gst::PadProbeData::BufferList(list);
        assert!(apply(&mut guard, &mut data));
        let gst::PadProbeData::BufferList(list) = &data else {
            unreachable!()
        };
        let seqs: Vec<u16> = list.iter().map(seq_of).collect();
        assert_eq!(seqs, [10, 11]);
        // Every later packet follows on from there.
        let mut data = gst::PadProbeData::Buffer(packet(14, 4000, true, 0x41));
        assert!(apply(&mut guard, &mut data));
        let gst::PadProbeData::Buffer(buffer) = &data else {
            unreachable!()
        };
        assert_eq!(seq_of(buffer), 12);
        // A lone parameter set after a slice of its picture: nothing left.
        assert!(apply(
            &mut guard,
            &mut gst::PadProbeData::Buffer(packet(15, 5000, false, IDR))
        ));
        assert!(!apply(
            &mut guard,
            &mut gst::PadProbeData::Buffer(packet(16, 5000, false, SPS))
        ));
    }

    #[test]
    fn untouched_when_nothing_changes() {
        gst::init().unwrap();
        let mut guard = ParameterSetGuard::new(Codec::H264);
        let original = packet(20, 1000, true, IDR);
        let mut data = gst::PadProbeData::Buffer(original.clone());
        assert!(apply(&mut guard, &mut data));
        let gst::PadProbeData::Buffer(buffer) = &data else {
            unreachable!()
        };
        // The same buffer, not a copy.
        assert_eq!(buffer.as_ptr(), original.as_ptr());
    }
}
