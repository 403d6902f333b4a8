//! Applying `h26x::ParameterSetGuard` to the packets of a chain call: H.264
//! and H.265 parameter sets that a payloader put between the slices of one
//! picture are removed before they reach the server (docs/QUIRKS.md,
//! "Parameter sets between the slices of one picture").

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

/// Run `packets` through `guard` (None: every packet is kept unchanged).
pub fn filter<'a>(guard: Option<&mut ParameterSetGuard>, packets: Packets<'a>) -> Vec<Kept<'a>> {
    let Some(guard) = guard else {
        return packets.iter().map(|b| Kept::Original(b, None)).collect();
    };
    let mut kept = Vec::with_capacity(packets.len());
    let mut peek = [0u8; PEEK_LEN];
    for buffer in packets.iter() {
        let len = buffer.size().min(PEEK_LEN);
        if buffer.copy_to_slice(0, &mut peek[..len]).is_err() {
            kept.push(Kept::Original(buffer, None));
            continue;
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
            Verdict::Send { seq } => {
                let rewrite = (seq != original_seq(&peek[..len])).then_some(seq);
                kept.push(Kept::Original(buffer, rewrite));
            }
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
                kept.push(Kept::Replaced(replacement));
            }
            Verdict::Drop | Verdict::NeedWhole => {}
        }
    }
    kept
}

fn original_seq(packet: &[u8]) -> u16 {
    match packet {
        [_, _, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    }
}
