//! The ONVIF audio backchannel of `rtspsrc2` (`backchannel=onvif`), on the
//! element's side: the streams the server receives on, their routes once
//! SETUP and PLAY went through, the `backchannel_%u` request pads and the
//! `push-backchannel-buffer`/`-sample` action signals (as C `rtspsrc`).
//! The RTSP side is in [`super::backchannel_session`].
//!
//! Nothing here is a received stream: no rtpbin session, no jitterbuffer,
//! no `stream_%u` pad, nothing the data watchdog counts. Packets go out as
//! they come, on the route of the session that is playing (a reconnection
//! brings a new route; pads and signal ids stay).

use std::sync::{Arc, Mutex, Weak};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rtspclient_protocol::backchannel::{Unsendable, check_packet};

use super::imp::CAT;
use crate::driver::packet_route::{PacketRoute, RouteError};

/// The request pads' template: `backchannel_0` feeds the first stream the
/// server describes as a backchannel (ONVIF servers describe one).
pub fn pad_template(caps: &gst::Caps) -> gst::PadTemplate {
    gst::PadTemplate::new(
        "backchannel_%u",
        gst::PadDirection::Sink,
        gst::PadPresence::Request,
        caps,
    )
    .expect("valid template")
}

/// `backchannel`: which backchannel to ask the server for, with C
/// `rtspsrc`'s values and nicks (`GstRTSPBackchannel`; the type name
/// differs so that both elements can be loaded in one process).
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtspSrc2Backchannel")]
pub enum Backchannel {
    #[default]
    #[enum_value(name = "No backchannel", nick = "none")]
    None = 0,
    #[enum_value(name = "ONVIF audio backchannel", nick = "onvif")]
    Onvif = 1,
}

/// One backchannel stream of the description.
struct Channel {
    /// The stream's number in the SDP: the id of the action signals and
    /// of `select-stream`.
    index: usize,
    /// The caps of every payload the server receives, `application/x-rtp`
    /// without the SDP's attribute fields, for a payloader to negotiate.
    caps: gst::Caps,
    payload_types: Vec<u8>,
    /// Set by SETUP; used once the session plays.
    route: Option<PacketRoute>,
    /// The payload type warned about, to warn once per type.
    warned_pt: Option<u8>,
    counts: Counts,
}

/// What became of the packets handed to one backchannel, for `stats`;
/// kept across the sessions of one element start.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    sent: u64,
    bytes: u64,
    /// Not sent: before PLAY, between sessions, the route full, or the
    /// packet unsendable.
    dropped: u64,
}

#[derive(Default)]
struct Inner {
    /// The backchannel streams of the current description, in SDP order.
    channels: Vec<Channel>,
    /// PLAY was answered: packets may go.
    playing: bool,
    /// Request pads, by the number in their name.
    pads: Vec<(u32, gst::Pad)>,
}

/// The element's backchannels, shared by its pads, signals and play task.
#[derive(Default)]
pub struct Backchannels {
    inner: Mutex<Inner>,
}

/// What a push came to.
enum Outcome {
    Sent,
    /// No session plays, or it has no route for this stream yet (or any
    /// more): nothing to send to.
    NotPlaying,
    /// The route is full (TCP write queue, UDP send buffer): dropped.
    Dropped,
    /// Not a backchannel stream of the session.
    UnknownStream,
    /// The packet cannot go (not RTP, a payload type not described);
    /// `warn`: the first of its kind.
    Unsendable(Unsendable, bool),
}

impl Backchannels {
    /// A new description: these streams (SDP number, payload caps) are the
    /// backchannels. Routes of an earlier session are gone.
    pub fn described(&self, streams: Vec<(usize, Vec<gst::Caps>)>) {
        let mut inner = self.inner.lock().unwrap();
        inner.playing = false;
        let before = std::mem::take(&mut inner.channels);
        inner.channels = streams
            .into_iter()
            .map(|(index, payloads)| Channel {
                index,
                payload_types: payloads
                    .iter()
                    .filter_map(|caps| caps.structure(0)?.get::<i32>("payload").ok())
                    .filter_map(|pt| u8::try_from(pt).ok())
                    .collect(),
                caps: payloads.iter().map(negotiable).collect(),
                route: None,
                warned_pt: None,
                counts: before
                    .iter()
                    .find(|c| c.index == index)
                    .map(|c| c.counts)
                    .unwrap_or_default(),
            })
            .collect();
    }

    /// SETUP of stream `index` gave this route.
    pub fn set_route(&self, index: usize, route: PacketRoute) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(channel) = inner.channels.iter_mut().find(|c| c.index == index) {
            channel.route = Some(route);
        }
    }

    /// The server answered PLAY: it receives from now on.
    pub fn start(&self) {
        self.inner.lock().unwrap().playing = true;
    }

    /// The session ended (or the element stops): no route any more.
    pub fn session_ended(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.playing = false;
        for channel in &mut inner.channels {
            channel.route = None;
        }
    }

    /// The caps a pad's peer may send: the server's payloads once they
    /// are known.
    fn pad_caps(&self, number: u32) -> Option<gst::Caps> {
        let inner = self.inner.lock().unwrap();
        inner
            .channels
            .get(number as usize)
            .map(|channel| channel.caps.clone())
    }

    fn send(&self, find: impl Fn(usize, &Channel) -> bool, buffer: &gst::BufferRef) -> Outcome {
        let Ok(map) = buffer.map_readable() else {
            return Outcome::Unsendable(Unsendable::NotRtp, true);
        };
        let mut inner = self.inner.lock().unwrap();
        let playing = inner.playing;
        let Some(channel) = inner
            .channels
            .iter_mut()
            .enumerate()
            .find(|(n, c)| find(*n, c))
            .map(|(_, c)| c)
        else {
            return match playing {
                true => Outcome::UnknownStream,
                false => Outcome::NotPlaying,
            };
        };
        let outcome = match check_packet(&map, &channel.payload_types) {
            Err(unsendable) => {
                let warn = match unsendable {
                    Unsendable::UnknownPayloadType(pt) => channel.warned_pt.replace(pt) != Some(pt),
                    Unsendable::NotRtp => true,
                };
                Outcome::Unsendable(unsendable, warn)
            }
            Ok(()) => match (&channel.route, playing) {
                (Some(route), true) => match route.try_send(&map) {
                    Ok(()) => Outcome::Sent,
                    Err(RouteError::Full) => Outcome::Dropped,
                    Err(RouteError::Failed) => Outcome::NotPlaying,
                },
                _ => Outcome::NotPlaying,
            },
        };
        match outcome {
            Outcome::Sent => {
                channel.counts.sent += 1;
                channel.counts.bytes += map.len() as u64;
            }
            _ => channel.counts.dropped += 1,
        }
        outcome
    }

    /// One structure per backchannel of the description, for `stats`.
    pub fn stats(&self) -> Vec<gst::Structure> {
        let inner = self.inner.lock().unwrap();
        inner
            .channels
            .iter()
            .map(|channel| {
                gst::Structure::builder("backchannel")
                    .field("index", channel.index as u32)
                    .field("packets-sent", channel.counts.sent)
                    .field("bytes-sent", channel.counts.bytes)
                    .field("packets-dropped", channel.counts.dropped)
                    .build()
            })
            .collect()
    }

    /// `push-backchannel-sample` and `-buffer`: the sample's buffer (or
    /// buffer list) to stream `index`.
    fn push_sample(
        &self,
        element: &super::RtspSrc2,
        index: u32,
        sample: &gst::Sample,
    ) -> gst::FlowReturn {
        let buffers: Vec<&gst::BufferRef> = match (sample.buffer(), sample.buffer_list()) {
            (Some(buffer), _) => vec![buffer],
            (None, Some(list)) => list.iter().collect(),
            (None, None) => return gst::FlowReturn::Error,
        };
        for buffer in buffers {
            match self.send(|_, c| c.index == index as usize, buffer) {
                Outcome::Sent | Outcome::Dropped => {}
                Outcome::NotPlaying => return gst::FlowReturn::Flushing,
                Outcome::UnknownStream => {
                    gst::warning!(
                        CAT,
                        obj = element,
                        "Stream {index} is no backchannel of this session"
                    );
                    return gst::FlowReturn::Error;
                }
                Outcome::Unsendable(why, warn) => {
                    if warn {
                        warn_unsendable(element, index, why);
                    }
                    return gst::FlowReturn::Error;
                }
            }
        }
        gst::FlowReturn::Ok
    }

    /// A request pad's chain: before PLAY and between sessions packets are
    /// dropped, so that a live source upstream keeps going.
    fn chain(
        &self,
        element: &super::RtspSrc2,
        number: u32,
        buffer: &gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.send(|n, _| n == number as usize, buffer) {
            Outcome::Unsendable(why, true) => warn_unsendable(element, number, why),
            Outcome::UnknownStream => {
                gst::debug!(
                    CAT,
                    obj = element,
                    "The server describes no backchannel {number}: dropped"
                );
            }
            Outcome::Sent | Outcome::Dropped | Outcome::NotPlaying | Outcome::Unsendable(..) => {}
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// `backchannel_N` for a pad request (`name` None: the first free N),
    /// added to `element` (which activates it when PAUSED or PLAYING).
    pub fn request_pad(
        self: &Arc<Self>,
        element: &super::RtspSrc2,
        template: &gst::PadTemplate,
        name: Option<&str>,
    ) -> Option<gst::Pad> {
        let mut inner = self.inner.lock().unwrap();
        let number = match name {
            Some(name) => name.strip_prefix("backchannel_")?.parse::<u32>().ok()?,
            None => (0..).find(|n| inner.pads.iter().all(|(taken, _)| taken != n))?,
        };
        if inner.pads.iter().any(|(taken, _)| *taken == number) {
            return None;
        }
        let weak: Weak<Backchannels> = Arc::downgrade(self);
        let element_weak = element.downgrade();
        let chain_weak = (weak.clone(), element_weak.clone());
        let list_weak = (weak.clone(), element_weak);
        let pad = gst::Pad::builder_from_template(template)
            .name(format!("backchannel_{number}"))
            .chain_function(move |_pad, _parent, buffer| {
                match (chain_weak.0.upgrade(), chain_weak.1.upgrade()) {
                    (Some(this), Some(element)) => this.chain(&element, number, &buffer),
                    _ => Err(gst::FlowError::Flushing),
                }
            })
            .chain_list_function(move |_pad, _parent, list| {
                let (Some(this), Some(element)) = (list_weak.0.upgrade(), list_weak.1.upgrade())
                else {
                    return Err(gst::FlowError::Flushing);
                };
                for buffer in list.iter() {
                    this.chain(&element, number, buffer)?;
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .query_function(move |pad, parent, query| {
                if let gst::QueryViewMut::Caps(q) = query.view_mut()
                    && let Some(caps) = weak.upgrade().and_then(|this| this.pad_caps(number))
                {
                    let caps = match q.filter() {
                        Some(filter) => {
                            filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First)
                        }
                        None => caps,
                    };
                    q.set_result(&caps);
                    return true;
                }
                gst::Pad::query_default(pad, parent, query)
            })
            .build();
        inner.pads.push((number, pad.clone()));
        drop(inner);
        if element.add_pad(&pad).is_err() {
            self.inner.lock().unwrap().pads.retain(|(_, p)| *p != pad);
            return None;
        }
        Some(pad)
    }

    pub fn release_pad(&self, element: &super::RtspSrc2, pad: &gst::Pad) {
        self.inner.lock().unwrap().pads.retain(|(_, p)| p != pad);
        let _ = pad.set_active(false);
        let _ = element.remove_pad(pad);
    }
}

/// A payload's caps as a payloader can take them: the SDP's `a-*`
/// attributes and `x-*` extensions dropped (as C `rtspsrc`'s ONVIF example
/// does before giving them to its payloader), and the SSRC and bases that
/// are the server's (gst-rtsp-server writes an `a=ssrc` into the
/// backchannel's section too): a payloader would adopt them, and our
/// packets would collide with the server's own source.
fn negotiable(caps: &gst::Caps) -> gst::Caps {
    let mut caps = caps.clone();
    if let Some(s) = caps.make_mut().structure_mut(0) {
        s.filter_map_in_place(|name, value| {
            let name: &str = name.as_str();
            let server_side = matches!(name, "ssrc" | "clock-base" | "seqnum-base");
            (!server_side && !name.starts_with("a-") && !name.starts_with("x-")).then_some(value)
        });
    }
    caps
}

fn warn_unsendable(element: &super::RtspSrc2, stream: u32, why: Unsendable) {
    let text = match why {
        Unsendable::NotRtp => format!("Backchannel {stream}: not an RTP packet, dropped"),
        Unsendable::UnknownPayloadType(pt) => format!(
            "Backchannel {stream}: payload type {pt} is not one the server described for it; such packets are dropped (payload the media with the caps of the backchannel_N pad or of select-stream)"
        ),
    };
    gst::warning!(CAT, obj = element, "{text}");
    let _ = element.post_message(
        gst::message::Warning::builder(gst::StreamError::Format, &text)
            .src(element)
            .build(),
    );
}

/// The action signals, as C `rtspsrc` 1.22 has them: both take the stream
/// id (its number in `select-stream`) and a sample whose buffer (or buffer
/// list) holds RTP packets, and return GST_FLOW_OK when sent (or dropped
/// because the connection was full), FLUSHING when no session is playing
/// yet, ERROR for a stream that is no backchannel or a packet that cannot
/// go. Unlike C's `push-backchannel-buffer`, which takes the caller's
/// reference to the sample, neither takes one.
pub fn signals() -> Vec<glib::subclass::Signal> {
    ["push-backchannel-buffer", "push-backchannel-sample"]
        .into_iter()
        .map(|name| {
            glib::subclass::Signal::builder(name)
                .param_types([u32::static_type(), gst::Sample::static_type()])
                .return_type::<gst::FlowReturn>()
                .action()
                .class_handler(|args| {
                    let element = args[0].get::<super::RtspSrc2>().ok()?;
                    let index = args[1].get::<u32>().ok()?;
                    let sample = args[2].get::<gst::Sample>().ok()?;
                    let backchannels = element.imp().backchannels.clone();
                    Some(
                        backchannels
                            .push_sample(&element, index, &sample)
                            .to_value(),
                    )
                })
                .build()
        })
        .collect()
}
