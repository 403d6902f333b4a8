//! The element's side of VOD control: seek events, the duration and
//! seeking queries, EOS on RTCP BYE, and what the play task is asked to
//! do when the element pauses and plays ([`super::control`] does it).
//! Nothing here waits on the network.

use std::sync::Arc;

use gst::prelude::*;
use gst::subclass::prelude::*;
use rtspclient_protocol::play_control::{SeekRefusal, SeekTarget, VodRange, npt_nanos, plan_seek};
use rtspclient_protocol::play_rate::SeekPrecision;

use super::imp::{CAT, RtspSrc2};
use super::streams::StreamOutput;

fn seconds(time: gst::ClockTime) -> f64 {
    time.nseconds() as f64 / 1e9
}

fn clock_time(seconds: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(npt_nanos(seconds))
}

/// A seek on an on-demand presentation (`vod`, from the SDP) as the play
/// task's target (generation still 0), or why it is refused.
fn vod_seek_target(
    vod: Option<VodRange>,
    seek: &gst::event::Seek,
) -> Result<SeekTarget, SeekRefusal> {
    let (rate, flags, start_type, start, stop_type, stop) = seek.get();
    let time = |kind: gst::SeekType, value: gst::GenericFormattedValue| match (kind, value) {
        (gst::SeekType::Set, gst::GenericFormattedValue::Time(Some(t))) => Some(seconds(t)),
        _ => None,
    };
    let (start, end) = plan_seek(
        vod,
        rate,
        flags.contains(gst::SeekFlags::FLUSH),
        time(start_type, start),
        time(stop_type, stop),
    )?;
    Ok(SeekTarget {
        generation: 0,
        start,
        end,
        rate,
        precision: precision(flags),
        replay: None,
    })
}

/// How exactly a seek must land, from its flags (accurate wins when both
/// are set, as in GStreamer's demuxers).
fn precision(flags: gst::SeekFlags) -> SeekPrecision {
    if flags.contains(gst::SeekFlags::ACCURATE) {
        SeekPrecision::Accurate
    } else if flags.contains(gst::SeekFlags::KEY_UNIT) {
        SeekPrecision::KeyUnit
    } else {
        SeekPrecision::Server
    }
}

impl RtspSrc2 {
    fn outputs(&self) -> Vec<Arc<StreamOutput>> {
        let state = self.state.lock().unwrap();
        state.streams.iter().flatten().cloned().collect()
    }

    /// The element goes to PLAYING (`true`) or PAUSED: the play task sends
    /// PLAY or PAUSE when it can. On PLAYING, what VOD streams kept while
    /// paused goes on first.
    pub(super) fn set_playing(&self, playing: bool) {
        if playing {
            for output in self.outputs() {
                output.release_held();
            }
        }
        let state = self.state.lock().unwrap();
        if let Some(task) = &state.task {
            task.target.send_modify(|target| target.playing = playing);
        }
    }

    /// A seek event, sent to the element or to one of its pads. The sinks
    /// of a pipeline each send the same seek upstream (same seqnum): the
    /// first one does the work, the others get its answer.
    pub(super) fn seek(&self, event: &gst::Event) -> bool {
        let gst::EventView::Seek(seek) = event.view() else {
            return false;
        };
        let seqnum = event.seqnum();
        let mut state = self.state.lock().unwrap();
        if let Some((last, answer)) = state.last_seek
            && last == seqnum
        {
            return answer;
        }
        // The mode the running session speaks, whatever `onvif-mode`
        // says since.
        let replay = state.task.as_ref().is_some_and(|task| task.onvif_mode);
        let planned = match replay {
            true => super::onvif::seek_target(seek).map_err(|r| format!("{r:?}")),
            false => vod_seek_target(state.presentation, seek).map_err(|r| format!("{r:?}")),
        };
        let mut target = match planned {
            Ok(target) => target,
            Err(refusal) => {
                gst::debug!(CAT, imp = self, "Refusing seek {seek:?}: {refusal}");
                state.last_seek = Some((seqnum, false));
                return false;
            }
        };
        if state.task.is_none() {
            return false;
        }
        state.seek_generation += 1;
        target.generation = state.seek_generation;
        state.last_seek = Some((seqnum, true));
        let outputs: Vec<_> = state.streams.iter().flatten().cloned().collect();
        drop(state);
        gst::info!(
            CAT,
            imp = self,
            "Seeking to {:.3} s (end {:?}) at rate {}, generation {}",
            target.start,
            target.end,
            target.rate,
            target.generation
        );
        gst::debug!(CAT, imp = self, "Seek target: {target:?}");
        self.reposition(seqnum);
        if target.rate > 0.0 && self.reverse_latency.clear() {
            let _ = self.obj().post_message(gst::message::Latency::new());
        }
        // ONVIF replay, and plain VOD in reverse after this seek's PLAY.
        for output in outputs {
            output.replay.on_seek(seqnum);
        }
        if let Some(task) = &self.state.lock().unwrap().task {
            // Two seeks from two threads may get here in either order:
            // the newer one wins.
            task.target.send_modify(|wanted| {
                if wanted.seek.is_none_or(|s| s.generation < target.generation) {
                    wanted.seek = Some(target);
                }
            });
        }
        true
    }

    /// Flush every stream and hold its packets until the next PLAY with a
    /// `Range` is answered: for a seek, and when a VOD session is set up
    /// again after a reconnection (the old session's packets must not be
    /// taken for the new position's).
    pub(super) fn reposition(&self, seqnum: gst::Seqnum) {
        let (outputs, rtpbin) = {
            let state = self.state.lock().unwrap();
            let outputs: Vec<_> = state.streams.iter().flatten().cloned().collect();
            (outputs, state.rtpbin.clone())
        };
        // Packets after the flush are stamped from the pipeline's new
        // running time, which starts over (see Timing::rebase).
        self.timing.rebase();
        if let Some(rtpbin) = rtpbin {
            // The sender reports' RTP ↔ NTP mapping restarts with the new
            // position: lip-sync must not use the old one.
            rtpbin.emit_by_name::<()>("reset-sync", &[]);
        }
        // Flush and hold before the task can send the PLAY whose answer
        // ends the hold.
        for output in outputs {
            output.begin_seek(seqnum);
        }
    }

    /// Duration and seeking queries, on the element or a pad: the SDP's
    /// range; seekable only for VOD. `None`: not ours to answer.
    pub(super) fn answer_query(&self, query: &mut gst::QueryRef) -> Option<bool> {
        let presentation = self.state.lock().unwrap().presentation;
        match query.view_mut() {
            gst::QueryViewMut::Duration(q) if q.format() == gst::Format::Time => {
                let range = presentation?;
                q.set(clock_time(range.end));
                Some(true)
            }
            gst::QueryViewMut::Seeking(q) if q.format() == gst::Format::Time => {
                match presentation {
                    Some(range) => {
                        q.set(true, clock_time(range.start), clock_time(range.end));
                    }
                    None => q.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE),
                }
                Some(true)
            }
            _ => None,
        }
    }

    /// RTCP BYE from the server on a VOD stream: the presentation ended
    /// for it (gst-rtsp-server sends one at the end of its media). The
    /// play task sends EOS once the stream's packets stopped: over UDP
    /// the BYE can overtake the last RTP packets.
    pub(super) fn on_bye(&self, session: u32) {
        let state = self.state.lock().unwrap();
        if state.presentation.is_none() {
            return;
        }
        if let Some(Some(output)) = state.streams.get(session as usize) {
            gst::info!(CAT, imp = self, "RTCP BYE on stream {session}");
            output.timeline.on_bye();
        }
    }
}

/// Event function of the `stream_%u` pads: seeks are the element's.
pub(super) fn pad_event(
    pad: &gst::GhostPad,
    parent: Option<&gst::Object>,
    event: gst::Event,
) -> bool {
    if event.type_() == gst::EventType::Seek
        && let Some(element) = parent.and_then(|p| p.downcast_ref::<super::RtspSrc2>())
    {
        return element.imp().seek(&event);
    }
    // What gst_proxy_pad_event_default does (not in gstreamer-rs).
    pad.internal()
        .is_some_and(|internal| internal.push_event(event))
}

/// Query function of the `stream_%u` pads.
pub(super) fn pad_query(
    pad: &gst::GhostPad,
    parent: Option<&gst::Object>,
    query: &mut gst::QueryRef,
) -> bool {
    if let Some(element) = parent.and_then(|p| p.downcast_ref::<super::RtspSrc2>())
        && let Some(answer) = element
            .imp()
            .answer_query(query)
            .or_else(|| element.imp().answer_latency(query))
    {
        return answer;
    }
    // What gst_proxy_pad_query_default does.
    let answered = pad
        .internal()
        .is_some_and(|internal| internal.peer_query(query));
    if answered && let Some(element) = parent.and_then(|p| p.downcast_ref::<super::RtspSrc2>()) {
        element.imp().reverse_latency.add_to(query);
    }
    answered
}
