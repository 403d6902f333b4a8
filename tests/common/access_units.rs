//! Access units reduced to what RTP must carry unchanged, so that what a
//! server payloaded and what a depayloader gave back compare byte for byte.
//!
//! What RTP legitimately changes, and is therefore taken out:
//! - the framing: start codes of 3 or 4 bytes (byte-stream) or length
//!   prefixes (`avc`/`hvc1` from MP4), and trailing zero bytes;
//! - access unit delimiters (depayloaders may add them);
//! - where parameter sets travel: in band, in `codec_data`, or in the
//!   SDP's `sprop-*` from which the depayloader inserts them. They are
//!   compared as the set of distinct parameter sets each side carried.
//!
//! Everything else of an access unit (slices, SEI, in order) is hashed;
//! audio frames (AAC, Opus) are hashed whole. `compare` in tests/integrity_play/ compares
//! the results.

use std::collections::BTreeSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    /// Raw AAC frames (`rtpmp4gpay`/`rtpmp4gdepay`).
    Aac,
    Opus,
}

/// How a buffer's NAL units are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Start codes (byte-stream).
    AnnexB,
    /// Big-endian length prefixes of this many bytes (`avc`, `hvc1`).
    Length(usize),
    /// Not NAL units: the buffer is the frame (audio).
    Whole,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NalKind {
    ParameterSet,
    Delimiter,
    /// A slice of a picture (VCL NAL unit).
    Slice,
    Other,
}

impl Codec {
    pub fn nal_kind(self, nal: &[u8]) -> NalKind {
        let Some(&first) = nal.first() else {
            return NalKind::Other;
        };
        match self {
            Codec::H264 => match first & 0x1f {
                7 | 8 => NalKind::ParameterSet,
                9 => NalKind::Delimiter,
                1..=5 => NalKind::Slice,
                _ => NalKind::Other,
            },
            Codec::H265 => match (first >> 1) & 0x3f {
                32..=34 => NalKind::ParameterSet,
                35 => NalKind::Delimiter,
                0..=31 => NalKind::Slice,
                _ => NalKind::Other,
            },
            Codec::Aac | Codec::Opus => NalKind::Other,
        }
    }

    /// The framing of buffers with these caps, and the parameter sets
    /// their `codec_data` carries.
    pub fn framing_of(self, caps: &gst::CapsRef) -> Result<(Framing, Vec<Vec<u8>>), String> {
        if matches!(self, Codec::Aac | Codec::Opus) {
            return Ok((Framing::Whole, Vec::new()));
        }
        let s = caps.structure(0).ok_or("caps without a structure")?;
        let format = s.get::<&str>("stream-format").unwrap_or("byte-stream");
        if format == "byte-stream" {
            return Ok((Framing::AnnexB, Vec::new()));
        }
        let data = s
            .get::<gst::Buffer>("codec_data")
            .map_err(|_| format!("{format} caps without codec_data: {caps}"))?;
        let map = data.map_readable().map_err(|_| "unreadable codec_data")?;
        match (self, format) {
            (Codec::H264, "avc" | "avc3") => parse_avcc(&map),
            (Codec::H265, "hvc1" | "hev1") => parse_hvcc(&map),
            _ => Err(format!("unexpected stream-format in {caps}")),
        }
    }
}

/// `AVCDecoderConfigurationRecord` (ISO 14496-15 5.3.3.1).
fn parse_avcc(d: &[u8]) -> Result<(Framing, Vec<Vec<u8>>), String> {
    let mut r = Reader(d);
    let header = r.take(6).ok_or("short avcC")?;
    let length_size = (header[4] & 3) as usize + 1;
    let mut sets = Vec::new();
    let sps = header[5] & 0x1f;
    for _ in 0..sps {
        sets.push(r.sized()?.to_vec());
    }
    let pps = r.take(1).ok_or("avcC without PPS count")?[0];
    for _ in 0..pps {
        sets.push(r.sized()?.to_vec());
    }
    Ok((Framing::Length(length_size), sets))
}

/// `HEVCDecoderConfigurationRecord` (ISO 14496-15 8.3.3.1).
fn parse_hvcc(d: &[u8]) -> Result<(Framing, Vec<Vec<u8>>), String> {
    let mut r = Reader(d);
    let header = r.take(23).ok_or("short hvcC")?;
    let length_size = (header[21] & 3) as usize + 1;
    let mut sets = Vec::new();
    for _ in 0..header[22] {
        r.take(1).ok_or("short hvcC array")?;
        let count = r.u16().ok_or("short hvcC array")?;
        for _ in 0..count {
            sets.push(r.sized()?.to_vec());
        }
    }
    Ok((Framing::Length(length_size), sets))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    /// A 16-bit length and that many bytes.
    fn sized(&mut self) -> Result<&'a [u8], String> {
        let n = self.u16().ok_or("short parameter set length")?;
        self.take(n)
            .ok_or_else(|| "short parameter set".to_string())
    }
}

/// NAL units between start codes, without trailing zero bytes (a 4-byte
/// start code's first zero, `trailing_zero_8bits`). Bytes before the first
/// start code are kept as a unit of their own, so that garbage shows.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i);
            i += 3;
        } else {
            i += 1;
        }
    }
    let trim = |nal: &'_ [u8]| -> usize { nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1) };
    let mut units = Vec::new();
    let first = starts.first().copied().unwrap_or(data.len());
    if trim(&data[..first]) > 0 {
        units.push(&data[..first]);
    }
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(data.len());
        let nal = &data[start + 3..end];
        units.push(&nal[..trim(nal)]);
    }
    units
}

fn split_length(data: &[u8], size: usize) -> Result<Vec<&[u8]>, String> {
    let mut r = Reader(data);
    let mut units = Vec::new();
    while !r.0.is_empty() {
        let len = r
            .take(size)
            .ok_or("truncated NAL length")?
            .iter()
            .fold(0usize, |n, &b| n << 8 | b as usize);
        units.push(r.take(len).ok_or("truncated NAL unit")?);
    }
    Ok(units)
}

/// One access unit or audio frame: its compared bytes' length and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    pub len: usize,
    pub hash: u64,
}

/// A stream as a sequence of [`Unit`]s plus its parameter sets.
#[derive(Debug)]
pub struct Digest {
    pub codec: Codec,
    pub units: Vec<Unit>,
    pub params: BTreeSet<Vec<u8>>,
    /// Buffers that could not be parsed.
    pub errors: Vec<String>,
}

impl Digest {
    pub fn new(codec: Codec) -> Digest {
        Digest {
            codec,
            units: Vec::new(),
            params: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    pub fn add_params(&mut self, sets: Vec<Vec<u8>>) {
        self.params.extend(sets);
    }

    /// Add one buffer (one access unit or frame). Units holding nothing
    /// but parameter sets and delimiters add no [`Unit`]: returns whether
    /// one was added.
    pub fn add(&mut self, framing: Framing, data: &[u8]) -> bool {
        let nals = match framing {
            Framing::Whole => vec![data],
            Framing::AnnexB => split_annexb(data),
            Framing::Length(size) => match split_length(data, size) {
                Ok(nals) => nals,
                Err(err) => {
                    self.errors
                        .push(format!("unit {}: {err}", self.units.len()));
                    vec![data]
                }
            },
        };
        let mut hasher = DefaultHasher::new();
        let mut len = 0;
        for nal in nals {
            match self.codec.nal_kind(nal) {
                NalKind::ParameterSet => {
                    self.params.insert(nal.to_vec());
                }
                NalKind::Delimiter => {}
                NalKind::Slice | NalKind::Other => {
                    // The length keeps NAL boundaries in the hash.
                    nal.len().hash(&mut hasher);
                    nal.hash(&mut hasher);
                    len += nal.len();
                }
            }
        }
        if len > 0 {
            self.units.push(Unit {
                len,
                hash: hasher.finish(),
            });
        }
        len > 0
    }
}
