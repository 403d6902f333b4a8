//! Digests of the access units passing a pad: on a server's payloader
//! input (what was sent) and after a client's depayloader (what arrived).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::timing::Stamps;
use crate::common::access_units::{Codec, Digest, Framing};

/// What went through one pad, filled by a probe on a streaming thread.
#[derive(Clone)]
pub struct Capture {
    digest: Arc<Mutex<Digest>>,
    framing: Arc<Mutex<Option<Framing>>>,
    /// PTS and DTS (ns) of each unit.
    times: Arc<Mutex<Vec<Stamps>>>,
    eos: Arc<AtomicBool>,
}

impl Capture {
    pub fn new(codec: Codec) -> Capture {
        Capture {
            digest: Arc::new(Mutex::new(Digest::new(codec))),
            framing: Arc::new(Mutex::new(None)),
            times: Arc::new(Mutex::new(Vec::new())),
            eos: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Start over (a new media for the same mount).
    pub fn reset(&self) {
        let codec = self.digest.lock().unwrap().codec;
        *self.digest.lock().unwrap() = Digest::new(codec);
        *self.framing.lock().unwrap() = None;
        self.times.lock().unwrap().clear();
        self.eos.store(false, Ordering::SeqCst);
    }

    /// Record every buffer and the EOS on `pad`. Buffers are parsed with
    /// the pad's caps at the time; no panic in here (a streaming thread).
    pub fn attach(&self, pad: &gst::Pad) -> Option<gst::PadProbeId> {
        let this = self.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER
                | gst::PadProbeType::BUFFER_LIST
                | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => this.record(pad, buffer),
                    Some(gst::PadProbeData::BufferList(list)) => {
                        list.iter().for_each(|b| this.record(pad, b))
                    }
                    Some(gst::PadProbeData::Event(event)) => match event.view() {
                        gst::EventView::Caps(_) => *this.framing.lock().unwrap() = None,
                        gst::EventView::Eos(_) => this.eos.store(true, Ordering::SeqCst),
                        _ => {}
                    },
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        )
    }

    fn record(&self, pad: &gst::Pad, buffer: &gst::BufferRef) {
        let mut digest = self.digest.lock().unwrap();
        let mut framing = self.framing.lock().unwrap();
        if framing.is_none() {
            match pad
                .current_caps()
                .map(|caps| digest.codec.framing_of(&caps))
            {
                Some(Ok((f, sets))) => {
                    digest.add_params(sets);
                    *framing = Some(f);
                }
                Some(Err(err)) => digest.errors.push(err),
                None => digest.errors.push("a buffer before caps".into()),
            }
        }
        let Some(framing) = *framing else { return };
        match buffer.map_readable() {
            Ok(map) => {
                if digest.add(framing, &map) {
                    self.times.lock().unwrap().push(Stamps {
                        pts: buffer.pts().map(|t| t.nseconds()),
                        dts: buffer.dts().map(|t| t.nseconds()),
                    });
                }
            }
            Err(_) => digest.errors.push("unreadable buffer".into()),
        }
    }

    pub fn units(&self) -> usize {
        self.digest.lock().unwrap().units.len()
    }

    pub fn eos(&self) -> bool {
        self.eos.load(Ordering::SeqCst)
    }

    pub fn times(&self) -> Vec<Stamps> {
        self.times.lock().unwrap().clone()
    }

    pub fn with<R>(&self, f: impl FnOnce(&Digest) -> R) -> R {
        f(&self.digest.lock().unwrap())
    }
}

/// A condition for `wait_until`: every sent stream ended and each received
/// one has at least as many units.
pub fn all_received(sent: &[Capture], got: &[Capture]) -> impl FnMut() -> bool + 'static {
    let (sent, got) = (sent.to_vec(), got.to_vec());
    move || {
        sent.iter()
            .zip(&got)
            .all(|(s, g)| s.eos() && g.units() >= s.units())
    }
}
