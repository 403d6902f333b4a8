//! Parameter sets inside an H.264/H.265 access unit, as RTP packets show
//! them: the repair `rtspsink` applies to what it publishes.
//!
//! A parameter set (H.264 SPS/PPS, H.265 VPS/SPS/PPS) that follows a slice
//! of the same picture is not allowed: H.264 7.4.1.2.3 and H.265 7.4.2.4.4
//! say it starts a new access unit. Decoders (libavcodec, hence `avdec_h264`
//! and ffmpeg) then split the picture in two, and every frame that refers
//! to it is damaged. GStreamer 1.22's `rtph264pay`/`rtph265pay` with
//! `config-interval=-1` send the parameter sets before every IDR *slice*,
//! not only the first, so an encoder that writes several slices per frame
//! (`x264enc tune=zerolatency` does) gets exactly that (docs/QUIRKS.md,
//! "Parameter sets between the slices of one picture").
//!
//! [`ParameterSetGuard`] follows the access units of one RTP stream (one
//! RTP timestamp each, ended by the marker bit) and says which packets to
//! drop (parameter sets only), which to rewrite (an aggregation packet
//! that carries parameter sets with other NAL units) and which sequence
//! number each kept packet gets, so that the receiver sees no gap.

/// The codecs the guard knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    /// From an SDP/caps `encoding-name`.
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("H264") {
            Some(Codec::H264)
        } else if name.eq_ignore_ascii_case("H265") {
            Some(Codec::H265)
        } else {
            None
        }
    }

    /// Size of the NAL unit header.
    fn header_len(self) -> usize {
        match self {
            Codec::H264 => 1,
            Codec::H265 => 2,
        }
    }

    fn nal_type(self, header: u8) -> u8 {
        match self {
            Codec::H264 => header & 0x1f,
            Codec::H265 => (header >> 1) & 0x3f,
        }
    }

    fn classify(self, nal_type: u8) -> Nal {
        match (self, nal_type) {
            (Codec::H264, 1..=5) | (Codec::H265, 0..=31) => Nal::Slice,
            (Codec::H264, 7 | 8) | (Codec::H265, 32..=34) => Nal::ParameterSet,
            _ => Nal::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nal {
    Slice,
    ParameterSet,
    Other,
}

/// What a packet's payload carries, as far as the guard cares.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Summary {
    /// A slice, or a fragment of one.
    slice: bool,
    parameter_sets: usize,
    /// Any other NAL unit (SEI, a fragmented parameter set, unknown).
    other: bool,
    /// An aggregation packet.
    aggregate: bool,
}

impl Summary {
    fn add(&mut self, nal: Nal) {
        match nal {
            Nal::Slice => self.slice = true,
            Nal::ParameterSet => self.parameter_sets += 1,
            Nal::Other => self.other = true,
        }
    }
}

/// Bytes of a packet's start that [`ParameterSetGuard::check`] needs to
/// decide, except for aggregation packets (see [`Verdict::NeedWhole`]).
pub const PEEK_LEN: usize = 96;

/// What to do with one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it, with this sequence number.
    Send { seq: u16 },
    /// Do not send it.
    Drop,
    /// Send `packet` instead (an aggregation packet without its parameter
    /// sets, header included, sequence number already set).
    Replace { packet: Vec<u8> },
    /// Call [`ParameterSetGuard::check`] again with the whole packet.
    NeedWhole,
}

/// Per-stream state; see the module documentation.
#[derive(Debug)]
pub struct ParameterSetGuard {
    codec: Codec,
    /// RTP timestamp of the access unit in progress (None after a marker).
    access_unit: Option<u32>,
    /// A slice of that access unit went out.
    slice_seen: bool,
    /// Packets dropped so far: subtracted from every later sequence number.
    dropped: u16,
    /// Parameter-set NAL units removed so far, for the statistics.
    pub removed: u64,
}

impl ParameterSetGuard {
    pub fn new(codec: Codec) -> Self {
        ParameterSetGuard {
            codec,
            access_unit: None,
            slice_seen: false,
            dropped: 0,
            removed: 0,
        }
    }

    /// Decide about the next packet of the stream. `packet` is the packet
    /// or its first bytes (at least [`PEEK_LEN`] of them, or all), `whole`
    /// says which. Packets that are not RTP are sent unchanged.
    pub fn check(&mut self, packet: &[u8], whole: bool) -> Verdict {
        let Some(header) = RtpView::parse(packet, whole) else {
            if !whole && packet.len() >= 12 {
                // A long header extension: the payload is further in.
                return Verdict::NeedWhole;
            }
            return Verdict::Send {
                seq: self.renumber(packet),
            };
        };
        let payload = &packet[header.payload.clone()];
        let Some(summary) = self.summarize(payload, whole) else {
            return Verdict::NeedWhole;
        };
        if self.access_unit != Some(header.timestamp) {
            self.access_unit = Some(header.timestamp);
            self.slice_seen = false;
        }
        let misplaced = summary.parameter_sets > 0 && self.slice_seen;
        // A packet with the marker bit ends the picture: never dropped.
        let verdict = if misplaced && !summary.slice && !summary.other && !header.marker {
            self.removed += summary.parameter_sets as u64;
            self.dropped = self.dropped.wrapping_add(1);
            Verdict::Drop
        } else if misplaced && summary.aggregate {
            let seq = self.renumber(packet);
            self.removed += summary.parameter_sets as u64;
            match self.without_parameter_sets(packet, &header, seq) {
                Some(packet) => Verdict::Replace { packet },
                None => Verdict::Send { seq },
            }
        } else {
            Verdict::Send {
                seq: self.renumber(packet),
            }
        };
        self.slice_seen |= summary.slice;
        if header.marker {
            self.access_unit = None;
        }
        verdict
    }

    /// The packet's sequence number less the packets dropped before it.
    fn renumber(&self, packet: &[u8]) -> u16 {
        match packet {
            [_, _, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]).wrapping_sub(self.dropped),
            _ => 0,
        }
    }

    /// What `payload` carries; None when it is an aggregation packet and
    /// only its start is at hand.
    fn summarize(&self, payload: &[u8], whole: bool) -> Option<Summary> {
        let codec = self.codec;
        let mut summary = Summary::default();
        let Some(&first) = payload.first() else {
            summary.other = true;
            return Some(summary);
        };
        match (codec, codec.nal_type(first)) {
            // FU-A/FU-B (RFC 6184 5.8), FU (RFC 7798 4.4.3): the fragment's
            // own type is in the FU header. A fragmented parameter set is
            // never one a payloader inserted: it counts as other.
            (Codec::H264, 28 | 29) | (Codec::H265, 49) => {
                let fu_type = payload.get(codec.header_len()).map(|fu| match codec {
                    Codec::H264 => fu & 0x1f,
                    Codec::H265 => fu & 0x3f,
                });
                match fu_type.map(|t| codec.classify(t)) {
                    Some(Nal::Slice) => summary.slice = true,
                    _ => summary.other = true,
                }
            }
            // STAP-A (RFC 6184 5.7.1), AP (RFC 7798 4.4.2).
            (Codec::H264, 24) | (Codec::H265, 48) => {
                if !whole {
                    return None;
                }
                summary.aggregate = true;
                match self.units(payload) {
                    Some(units) => {
                        for unit in units {
                            summary.add(codec.classify(codec.nal_type(payload[unit.start])));
                        }
                    }
                    None => summary.other = true,
                }
            }
            (_, nal_type) => summary.add(codec.classify(nal_type)),
        }
        Some(summary)
    }

    /// The NAL units of an aggregation payload (byte ranges, each starting
    /// at its NAL header), or None when the sizes do not add up.
    fn units(&self, payload: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
        let mut units = Vec::new();
        let mut at = self.codec.header_len();
        while at < payload.len() {
            let size = u16::from_be_bytes([*payload.get(at)?, *payload.get(at + 1)?]) as usize;
            let start = at + 2;
            let end = start.checked_add(size)?;
            if size < self.codec.header_len() || end > payload.len() {
                return None;
            }
            units.push(start..end);
            at = end;
        }
        (!units.is_empty()).then_some(units)
    }

    /// `packet` (an aggregation packet) rebuilt without its parameter sets,
    /// with sequence number `seq` and no padding.
    fn without_parameter_sets(&self, packet: &[u8], header: &RtpView, seq: u16) -> Option<Vec<u8>> {
        let payload = &packet[header.payload.clone()];
        let units = self.units(payload)?;
        let kept: Vec<_> = units
            .iter()
            .filter(|unit| {
                self.codec
                    .classify(self.codec.nal_type(payload[unit.start]))
                    != Nal::ParameterSet
            })
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(packet.len());
        out.extend_from_slice(&packet[..header.payload.start]);
        out[0] &= !0x20; // padding is not carried over
        out[2..4].copy_from_slice(&seq.to_be_bytes());
        if kept.len() == 1 {
            // One NAL unit left: a single NAL unit packet (RFC 6184 5.6).
            out.extend_from_slice(&payload[kept[0].clone()]);
        } else {
            out.extend_from_slice(&payload[..self.codec.header_len()]);
            for unit in &kept {
                out.extend_from_slice(&(unit.len() as u16).to_be_bytes());
                out.extend_from_slice(&payload[unit.clone()]);
            }
        }
        Some(out)
    }
}

/// The RTP header fields the guard reads (RFC 3550 5.1).
///
/// Parsed here rather than with an RTP crate because the guard usually
/// sees only the packet's first bytes: the padding count sits in the last
/// byte, which a full-packet parser insists on reading.
struct RtpView {
    timestamp: u32,
    marker: bool,
    /// Where the payload is in the bytes at hand (padding excluded when
    /// the whole packet is there).
    payload: std::ops::Range<usize>,
}

impl RtpView {
    fn parse(packet: &[u8], whole: bool) -> Option<RtpView> {
        if packet.len() < 12 || packet[0] >> 6 != 2 {
            return None;
        }
        let csrcs = (packet[0] & 0x0f) as usize;
        let mut start = 12 + 4 * csrcs;
        if packet[0] & 0x10 != 0 {
            let words = packet.get(start + 2..start + 4)?;
            start += 4 + 4 * u16::from_be_bytes([words[0], words[1]]) as usize;
        }
        let mut end = packet.len();
        if whole && packet[0] & 0x20 != 0 {
            end = end.checked_sub(*packet.last()? as usize)?;
        }
        if start > end {
            return None;
        }
        Some(RtpView {
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            marker: packet[1] & 0x80 != 0,
            payload: start..end,
        })
    }
}

#[cfg(test)]
#[path = "h26x_tests.rs"]
mod tests;
