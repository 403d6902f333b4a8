//! An `rtspsrc2` player for the reconnection tests: decodes and counts
//! frames, and records the reconnection messages, errors and EOS from the
//! bus (an error or EOS fails the waits: the pipeline must stay PLAYING).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::{MediaCounters, rtspsrc2_player, stop_pipeline, wait_for};

/// What the bus said about reconnection, and anything that must not be.
#[derive(Default)]
pub struct BusLog {
    /// When buffers flagged DISCONT left the element's pads.
    pub disconts: Vec<Instant>,
    pub lost: Vec<(Instant, gst::Structure)>,
    pub recovered: Vec<(Instant, gst::Structure)>,
    pub fatal: Option<String>,
}

pub struct Player {
    pub pipeline: gst::Pipeline,
    pub src: gst::Element,
    pub counters: MediaCounters,
    pub log: Arc<Mutex<BusLog>>,
}

impl Player {
    pub fn start(location: &str, props: &[(&str, gst::glib::Value)]) -> Player {
        let mut all: Vec<(&str, gst::glib::Value)> = vec![
            ("reconnect-backoff-min", 100u32.to_value()),
            ("reconnect-backoff-max", 1000u32.to_value()),
            ("timeout", 1_000_000u64.to_value()),
        ];
        all.extend(props.iter().cloned());
        let (pipeline, src, counters) = rtspsrc2_player(location, &all);
        let log = Arc::new(Mutex::new(BusLog::default()));
        let l = log.clone();
        src.connect_pad_added(move |_, pad| {
            let l = l.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer()
                    && buffer.flags().contains(gst::BufferFlags::DISCONT)
                {
                    l.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .disconts
                        .push(Instant::now());
                }
                gst::PadProbeReturn::Ok
            });
        });
        let bus = pipeline.bus().unwrap();
        let l = log.clone();
        bus.set_sync_handler(move |_, message| {
            let mut log = l.lock().unwrap_or_else(|e| e.into_inner());
            match message.view() {
                gst::MessageView::Element(element) => {
                    if let Some(s) = element.structure() {
                        let entry = (Instant::now(), s.to_owned());
                        match s.name().as_str() {
                            "rtspclient-reconnect" => log.lost.push(entry),
                            "rtspclient-reconnected" => log.recovered.push(entry),
                            _ => {}
                        }
                    }
                }
                gst::MessageView::Error(err) => {
                    log.fatal = Some(format!("ERROR {} {:?}", err.error(), err.debug()))
                }
                gst::MessageView::Eos(_) => log.fatal = Some("EOS".into()),
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Player {
            pipeline,
            src,
            counters,
            log,
        }
    }

    pub fn frames(&self) -> u64 {
        self.counters.video.count()
    }

    /// Wait until `cond`, failing on an error or EOS; false on timeout.
    pub fn wait(&self, within: Duration, mut cond: impl FnMut(&Player) -> bool) -> bool {
        wait_for(within, || {
            let fatal = self.log.lock().unwrap().fatal.clone();
            if let Some(fatal) = fatal {
                panic!("the pipeline must stay PLAYING, got {fatal}");
            }
            cond(self)
        })
    }

    /// The error or EOS the element ends with; fails if none comes
    /// within `within`.
    pub fn error_within(&self, within: Duration) -> String {
        assert!(
            wait_for(within, || self.log.lock().unwrap().fatal.is_some()),
            "no error within {within:?}"
        );
        self.log.lock().unwrap().fatal.clone().unwrap()
    }

    pub fn playing(&self, within: Duration) {
        let start = self.frames();
        assert!(
            self.wait(within, |p| p.frames() >= start + 10),
            "fewer than 10 frames within {within:?} (had {start}, now {})",
            self.frames()
        );
    }

    pub fn losses(&self) -> usize {
        self.log.lock().unwrap().lost.len()
    }

    pub fn recoveries(&self) -> usize {
        self.log.lock().unwrap().recovered.len()
    }

    /// After a loss at `since`: wait for the recovery message and 10 new
    /// frames; returns the time to the recovery message and to the frames.
    pub fn recovers(&self, since: Instant, recoveries_before: usize) -> (Duration, Duration) {
        assert!(
            self.wait(Duration::from_secs(20), |p| p.recoveries()
                > recoveries_before),
            "no rtspclient-reconnected within 20 s"
        );
        let recovered = self.log.lock().unwrap().recovered.last().unwrap().0 - since;
        let frames_before = self.frames();
        assert!(
            self.wait(Duration::from_secs(20), |p| p.frames() > frames_before),
            "no frame within 20 s of the recovery"
        );
        let first_frame = since.elapsed();
        self.playing(Duration::from_secs(20));
        let (_, state, _) = self.pipeline.state(gst::ClockTime::ZERO);
        assert_eq!(state, gst::State::Playing);
        (recovered, first_frame)
    }

    pub fn stats(&self) -> gst::Structure {
        self.src.property::<gst::Structure>("stats")
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        stop_pipeline(&self.pipeline);
    }
}
