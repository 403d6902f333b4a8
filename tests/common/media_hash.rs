//! Comparing media content, not counts: the access units (or audio
//! frames) that pass a pad, captured byte for byte, the normalisation RTP
//! legitimately implies for H.264/H.265, and decoding a captured sequence
//! to per-frame checksums of its pixels. NAL units are split and told
//! apart by [`super::access_units`].

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use super::access_units::{Codec, NalKind, split_annexb};

/// Every buffer that passed a pad, in order (one access unit or one
/// audio frame each). Clones share the list.
#[derive(Clone, Default)]
pub struct Capture {
    units: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Capture {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn attach(&self, pad: &gst::Pad) {
        let units = self.units.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let mut units = units.lock().unwrap();
                let mut take = |buffer: &gst::BufferRef| {
                    if let Ok(map) = buffer.map_readable() {
                        units.push(map.to_vec());
                    }
                };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => take(buffer),
                    Some(gst::PadProbeData::BufferList(list)) => list.iter().for_each(take),
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    /// On the `pad` pad of the element named `name` in `bin`.
    pub fn attach_by_name(&self, bin: &impl IsA<gst::Bin>, name: &str, pad: &str) {
        let element = bin
            .as_ref()
            .by_name(name)
            .unwrap_or_else(|| panic!("no element named {name}"));
        let pad = element
            .static_pad(pad)
            .unwrap_or_else(|| panic!("{name} has no pad {pad}"));
        self.attach(&pad);
    }

    pub fn len(&self) -> usize {
        self.units.lock().unwrap().len()
    }

    pub fn units(&self) -> Vec<Vec<u8>> {
        self.units.lock().unwrap().clone()
    }
}

/// An access unit as RTP carries it: its NAL units without access unit
/// delimiters (RFC 6184 lets a payloader drop them) and without repeats
/// of a parameter set already in the access unit (a payloader with
/// `config-interval` and a depayloader with `sprop-parameter-sets` add
/// them). Audio frames stay as they are.
pub fn normalize(codec: Codec, au: &[u8]) -> Vec<Vec<u8>> {
    if matches!(codec, Codec::Aac | Codec::Opus) {
        return vec![au.to_vec()];
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for nal in split_annexb(au) {
        match codec.nal_kind(nal) {
            NalKind::Delimiter => {}
            NalKind::ParameterSet if out.iter().any(|seen| seen == nal) => {}
            _ => out.push(nal.to_vec()),
        }
    }
    out
}

/// Where, if anywhere, an access unit has a parameter set after one of
/// its slices (which starts a new access unit: H.264 7.4.1.2.3, H.265
/// 7.4.2.4.4). Returns the NAL index.
pub fn parameter_set_after_slice(codec: Codec, au: &[u8]) -> Option<usize> {
    let mut slice_seen = false;
    for (i, nal) in split_annexb(au).into_iter().enumerate() {
        match codec.nal_kind(nal) {
            NalKind::Slice => slice_seen = true,
            NalKind::ParameterSet if slice_seen => return Some(i),
            _ => {}
        }
    }
    None
}

/// Compare two captures unit by unit after [`normalize`]; `Err` names the
/// first difference.
pub fn compare(codec: Codec, sent: &[Vec<u8>], received: &[Vec<u8>]) -> Result<(), String> {
    for (i, (s, r)) in sent.iter().zip(received).enumerate() {
        let (ns, nr) = (normalize(codec, s), normalize(codec, r));
        if ns != nr {
            let sizes = |v: &Vec<Vec<u8>>| v.iter().map(|n| n.len()).collect::<Vec<_>>();
            return Err(format!(
                "unit {i} differs: sent {} bytes (NAL sizes {:?}), received {} bytes (NAL sizes {:?})",
                s.len(),
                sizes(&ns),
                r.len(),
                sizes(&nr)
            ));
        }
    }
    if sent.len() != received.len() {
        return Err(format!(
            "sent {} units, received {}",
            sent.len(),
            received.len()
        ));
    }
    Ok(())
}

/// Decode an H.264/H.265 access unit sequence and return one checksum per
/// decoded frame (of its RGB pixels, padding excluded).
pub fn decode_checksums(codec: Codec, aus: &[Vec<u8>]) -> Vec<u64> {
    let (caps, parse, decoder) = match codec {
        Codec::H264 => ("video/x-h264", "h264parse", "avdec_h264"),
        Codec::H265 => ("video/x-h265", "h265parse", "avdec_h265"),
        Codec::Aac | Codec::Opus => panic!("decode_checksums is for video"),
    };
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps={caps},stream-format=byte-stream,alignment=au ! \
         {parse} ! {decoder} max-threads=1 ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false"
    ))
    .expect("decoding pipeline (needs gstreamer1.0-libav)")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let frame = gst::ClockTime::from_mseconds(33);
    for (i, au) in aus.iter().enumerate() {
        let mut buffer = gst::Buffer::from_slice(au.clone());
        buffer.get_mut().unwrap().set_pts(frame * i as u64);
        src.push_buffer(buffer).expect("push to the decoder");
    }
    src.end_of_stream().unwrap();
    let mut sums = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        let buffer = sample.buffer().unwrap();
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).unwrap();
        let mut hasher = DefaultHasher::new();
        let row = info.width() as usize * 3;
        let stride = info.stride()[0] as usize;
        let data = frame.plane_data(0).unwrap();
        for y in 0..info.height() as usize {
            data[y * stride..y * stride + row].hash(&mut hasher);
        }
        sums.push(hasher.finish());
    }
    let eos = sink.is_eos();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(eos, "the decoder did not finish within 10 s");
    sums
}

/// Wait (bounded) until `capture` holds at least `n` units; returns how
/// many it holds.
pub fn wait_for_units(capture: &Capture, n: usize, timeout: Duration) -> usize {
    super::wait_for(timeout, || capture.len() >= n);
    capture.len()
}
