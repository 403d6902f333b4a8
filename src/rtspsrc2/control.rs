//! PAUSE, resume and seeks in a playing session: the element says what it
//! wants (a [`Target`] on a watch channel, so a state change never waits
//! for the server and quick changes coalesce), and the play task moves
//! the server there one request at a time ([`next_step`]), without
//! stopping the data and keep-alive loop: the requests go out with
//! `send_only` and their answers come back through [`Control::on_answer`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtspclient_protocol::headers::{RtpInfo, parse_rtp_info};
use rtspclient_protocol::message::{Headers, Response, Version};
use rtspclient_protocol::onvif::ReplayRequest;
use rtspclient_protocol::play_control::{
    Anchor, SeekTarget, ServerState, Step, Target, VodRange, answered_start, may_pause, next_step,
    npt_nanos,
};
use rtspclient_protocol::play_rate::{
    PlayRates, RateHeader, SeekPrecision, answered_rates, rate_headers,
};
use tokio::sync::watch;

use super::onvif::{self, ReplayConfig};
use super::replay_output::{FirstPacket, PlaySegment};
use super::session::PlayHost;
use super::streams::StreamOutput;
use crate::driver::client::RtspClient;
use crate::driver::error::{ClientError, ErrorKind};

/// A stream as RTP-Info names it.
pub struct StreamRef {
    pub control_url: String,
    pub output: Arc<StreamOutput>,
}

pub struct Control {
    target: watch::Receiver<Target>,
    server: ServerState,
    /// Generation of the last seek sent; kept by the role across sessions.
    pub applied_seek: u64,
    /// The PAUSE/PLAY on its way: CSeq, what it does, when it was sent.
    in_flight: Option<(u32, Step, Instant)>,
    vod: Option<VodRange>,
    pause_live: bool,
    rate_header: RateHeader,
    /// The element dropped its end of the channel (it is stopping).
    closed: bool,
    /// `onvif-mode`, and the replay of the last seek sent, whose mode the
    /// PLAYs that resume repeat (see [`super::onvif`]).
    replay: Option<ReplayConfig>,
    last_replay: Option<ReplayRequest>,
    /// The streams, whose output positions a replay resumes from.
    replay_outputs: Vec<Arc<StreamOutput>>,
}

impl Control {
    pub fn new(
        target: watch::Receiver<Target>,
        applied_seek: u64,
        vod: Option<VodRange>,
        pause_live: bool,
        rate_header: RateHeader,
    ) -> Control {
        Control {
            target,
            server: ServerState::Playing,
            applied_seek,
            in_flight: None,
            vod,
            pause_live,
            rate_header,
            closed: false,
            replay: None,
            last_replay: None,
            replay_outputs: Vec::new(),
        }
    }

    /// ONVIF replay: every PLAY carries the replay headers.
    pub fn with_replay(
        mut self,
        replay: Option<ReplayConfig>,
        last: Option<ReplayRequest>,
        outputs: Vec<Arc<StreamOutput>>,
    ) -> Self {
        self.replay = replay;
        self.last_replay = last;
        self.replay_outputs = outputs;
        self
    }

    /// The last ONVIF replay request sent (its mode and range).
    pub fn last_replay(&self) -> Option<ReplayRequest> {
        self.last_replay
    }

    /// No data is expected: the server is paused, or a PAUSE or PLAY is on
    /// its way (a seek holds the packets until it is answered).
    pub fn quiet(&self) -> bool {
        self.server == ServerState::Paused || self.in_flight.is_some()
    }

    /// A PAUSE or PLAY not answered within `timeout` (the elements'
    /// `tcp-timeout`): the session is stuck, and the data timeout cannot
    /// tell while no data is due. A timeout error, so the session is
    /// recovered like any other that stops answering.
    pub fn overdue(&self, timeout: Duration) -> Option<ClientError> {
        let (cseq, step, sent) = self.in_flight?;
        if sent.elapsed() < timeout {
            return None;
        }
        let method = if matches!(step, Step::Pause) {
            "PAUSE"
        } else {
            "PLAY"
        };
        Some(
            ClientError::new(
                ErrorKind::Timeout,
                format!("No answer to {method} within {timeout:?}"),
            )
            .with_request(method, cseq),
        )
    }

    /// Wait for the element to want something else.
    pub async fn changed(&mut self) {
        if self.closed || self.target.changed().await.is_err() {
            self.closed = true;
            std::future::pending::<()>().await;
        }
    }

    /// Send the next request towards the target, unless one is on its way.
    pub async fn step(
        &mut self,
        client: &mut RtspClient,
        aggregate: &str,
        host: &Arc<dyn PlayHost>,
    ) -> Result<(), ClientError> {
        if self.in_flight.is_some() {
            return Ok(());
        }
        let target = *self.target.borrow_and_update();
        let pausable = may_pause(
            client.methods().supports("PAUSE"),
            self.vod.is_some(),
            self.pause_live,
        );
        let step = next_step(self.server, &target, self.applied_seek, pausable);
        gst::debug!(
            super::imp::CAT,
            "Server {:?}, wanted {target:?} (seek {} applied): {step:?}",
            self.server,
            self.applied_seek
        );
        let (method, headers) = match step {
            Step::Nothing => return Ok(()),
            Step::Pause => ("PAUSE", Headers::new()),
            Step::Play(seek) => {
                if self.replay.is_some() {
                    self.last_replay = match seek {
                        Some(seek) => seek.replay.or(self.last_replay),
                        // A resume goes on from where the output got to
                        // (docs/QUIRKS.md, "Replay resumed without a
                        // Range").
                        None => {
                            onvif::resume_request(self.last_replay.as_ref(), &self.replay_outputs)
                        }
                    };
                }
                let ask = PlayAsk {
                    replay: self.replay.map(|config| (config, self.last_replay)),
                    range: seek.map(|s| (range_header(&s), s.precision)),
                    rate: current_rate(&target),
                    rate_header: self.rate_header,
                };
                ("PLAY", play_headers(&ask, client.version()))
            }
        };
        host.progress(
            gst::ProgressType::Start,
            "request",
            &format!("Sending {method}"),
        );
        let cseq = client.send_only(method, aggregate, &headers).await?;
        self.in_flight = Some((cseq, step, Instant::now()));
        Ok(())
    }

    /// The answer to request `id`, if it was ours: `Ok(true)`. The caller
    /// then calls [`Self::step`] again.
    pub fn on_answer(
        &mut self,
        client: &mut RtspClient,
        id: u32,
        response: &Response,
        streams: &[StreamRef],
        host: &Arc<dyn PlayHost>,
    ) -> Result<bool, ClientError> {
        let Some((cseq, step, _)) = self.in_flight else {
            return Ok(false);
        };
        if cseq != id {
            return Ok(false);
        }
        self.in_flight = None;
        let (method, seek) = match step {
            Step::Pause => ("PAUSE", None),
            Step::Play(seek) => ("PLAY", seek),
            Step::Nothing => unreachable!("never sent"),
        };
        if response.status == 454 {
            return Err(ClientError::new(
                ErrorKind::Status {
                    code: 454,
                    reason: response.reason.clone(),
                },
                "The server no longer knows the session",
            )
            .with_request(method, cseq));
        }
        let start = seek.map(|s| answered_start(response.headers.get("Range")).unwrap_or(s.start));
        host.control_answered(method, response.status, start);
        if !response.is_success() {
            host.warning(&format!(
                "The server refused {method}: {} {}",
                response.status, response.reason
            ));
            if method == "PAUSE" {
                // 405/455/501: it cannot pause; it goes on playing, and a
                // seek becomes a PLAY with a Range (see next_step).
                client.methods_mut().mark_refused("PAUSE");
            } else {
                // The server stays where it was (paused, for a seek) and
                // the streams' position is unknown: the session cannot go
                // on. It ends as an error, which reconnection recovers
                // when it may (503: gst-rtsp-server answers every PLAY so
                // once its media failed, e.g. a seek it could not preroll)
                // and resumes where the output stopped.
                return Err(ClientError::new(
                    ErrorKind::Status {
                        code: response.status,
                        reason: response.reason.clone(),
                    },
                    "The server refused PLAY",
                )
                .with_request(method, cseq));
            }
        } else if method == "PAUSE" {
            self.server = ServerState::Paused;
        } else {
            self.server = ServerState::Playing;
        }
        if self.replay.is_some() && method == "PLAY" && response.is_success() {
            // Before the held packets go on (apply_position).
            let request = seek.and_then(|s| s.replay).or(self.last_replay);
            onvif::after_play(streams, response, request.as_ref());
        }
        if let (Some(seek), Some(start)) = (seek, start) {
            self.applied_seek = self.applied_seek.max(seek.generation);
            let newer = self
                .target
                .borrow()
                .seek
                .is_some_and(|s| s.generation > seek.generation);
            // A newer seek flushed again meanwhile: keep holding for it.
            if !newer {
                let entries = match response.is_success() {
                    true => rtp_info(&response.headers),
                    false => Vec::new(),
                };
                let played = Played {
                    start,
                    end: seek.end.or(self.vod.map(|v| v.end)),
                    rates: answer_rates(&response.headers),
                };
                apply_position(streams, &entries, Some(played));
            }
        }
        Ok(true)
    }
}

/// The rate the player wants: the latest seek's. Every plain VOD PLAY
/// carries it, since a PLAY without `Scale` plays at 1.0 (RFC 2326
/// §12.34); an ONVIF replay PLAY carries its request's instead.
pub fn current_rate(target: &Target) -> f64 {
    target.seek.map_or(1.0, |s| s.rate)
}

/// What a PLAY asks of the server.
pub struct PlayAsk {
    /// ONVIF replay (`onvif-mode`): its request (mode and `clock=` range)
    /// is all the PLAY says.
    pub replay: Option<(ReplayConfig, Option<ReplayRequest>)>,
    /// An NPT `Range`, and how exactly the seek must land.
    pub range: Option<(String, SeekPrecision)>,
    pub rate: f64,
    pub rate_header: RateHeader,
}

/// The headers of a PLAY: an ONVIF replay's, or a `Range` (with the
/// seek's `Seek-Style`, see [`SeekPrecision::seek_style`]) and the rate.
pub fn play_headers(ask: &PlayAsk, version: Version) -> Headers {
    let mut headers = Headers::new();
    if let Some((config, request)) = &ask.replay {
        onvif::play_headers(&mut headers, *config, request.as_ref(), true);
        return headers;
    }
    if let Some((range, precision)) = &ask.range {
        headers.set("Range", range.clone());
        if let Some(style) = precision.seek_style(version == Version::Rtsp20) {
            headers.set("Seek-Style", style);
        }
    }
    for (name, value) in rate_headers(ask.rate, ask.rate_header) {
        headers.set(name, value);
    }
    headers
}

/// What a PLAY answer's `Scale`, `Speed` and `Server` say of the rate.
pub fn answer_rates(headers: &Headers) -> PlayRates {
    let get = |name| headers.get(name);
    answered_rates(get("Scale"), get("Speed"), get("Server"))
}

/// Where a PLAY with a `Range` put an on-demand presentation.
#[derive(Debug, Clone, Copy)]
pub struct Played {
    /// NPT seconds the server answered.
    pub start: f64,
    pub end: Option<f64>,
    pub rates: PlayRates,
}

/// `npt=<start>-[<end>]` (RFC 2326 §3.6, §12.29); in reverse from the
/// start down to the end.
pub fn range_header(seek: &SeekTarget) -> String {
    use rtspclient_protocol::headers::{format_npt_range, format_reverse_npt_range};
    match seek.rate < 0.0 {
        true => format_reverse_npt_range(seek.start, seek.end),
        false => format_npt_range(seek.start, seek.end),
    }
}

pub fn rtp_info(headers: &Headers) -> Vec<RtpInfo> {
    headers
        .get("RTP-Info")
        .map(parse_rtp_info)
        .unwrap_or_default()
}

/// After PLAY: RTP-Info's seq and rtptime become the stream caps'
/// seqnum-base and clock-base (entries for streams that were not set up
/// are skipped, docs/QUIRKS.md "RTP-Info"). With `range` (a PLAY with a
/// `Range` on a VOD stream) the caps also get `npt-start`/`npt-stop`,
/// `play-scale` and `play-speed` as C `rtspsrc` sets them, from which RTP
/// depayloaders make their segment (stream time = npt-start at
/// clock-base, advancing at play-scale), each stream's timeline is
/// anchored there for the segment on the element's own pads, and packets
/// held for a seek go on, from RTP-Info's seq.
pub fn apply_position(streams: &[StreamRef], entries: &[RtpInfo], range: Option<Played>) {
    for stream in streams {
        let entry = entries
            .iter()
            .find(|e| rtp_info_matches(&e.url, &stream.control_url));
        let vod_range = range.filter(|_| stream.output.timeline.is_vod());
        let mut caps = stream.output.caps();
        {
            let caps = caps.make_mut();
            if let Some(entry) = entry {
                if let Some(seq) = entry.seq {
                    caps.set("seqnum-base", seq as u32);
                }
                if let Some(rtptime) = entry.rtptime {
                    caps.set("clock-base", rtptime);
                }
                if let Some(ssrc) = entry.ssrc {
                    caps.set("ssrc", ssrc);
                }
            }
            if let Some(played) = vod_range {
                caps.set("npt-start", npt_nanos(played.start));
                // The media arrives at the pace it is played (timestamps
                // are arrival times), with `media_rate` seconds of media
                // in each second: the segment's applied rate. A
                // depayloader puts its stop at npt-stop - npt-start after
                // its start, which only holds at 1.0.
                caps.set("play-speed", 1.0f64);
                caps.set("play-scale", played.rates.media_rate);
                // (A reverse range's end is below its start: a server
                // that plays it forward anyway gets no stop.)
                let end = played
                    .end
                    .filter(|&end| played.rates.media_rate == 1.0 && end > played.start);
                match (end, caps.structure_mut(0)) {
                    (Some(end), _) => caps.set("npt-stop", npt_nanos(end)),
                    (None, Some(s)) => s.remove_field("npt-stop"),
                    (None, None) => {}
                }
            }
        }
        let clock_rate = caps
            .structure(0)
            .and_then(|s| s.get::<i32>("clock-rate").ok())
            .and_then(|r| u32::try_from(r).ok());
        if entry.is_some() || vod_range.is_some() {
            stream.output.update_caps(caps);
        }
        if let Some(played) = vod_range {
            let anchor = match (entry.and_then(|e| e.rtptime), clock_rate) {
                (Some(rtptime), Some(clock_rate)) => Some(Anchor {
                    npt: played.start,
                    rtptime,
                    clock_rate,
                    scale: played.rates.rtp_scale,
                }),
                _ => None,
            };
            stream
                .output
                .timeline
                .set_anchor(anchor, played.start, played.rates.media_rate);
            let rtptime = entry.and_then(|e| e.rtptime);
            let reverse_anchor = match (anchor, clock_rate) {
                (Some(anchor), _) if played.rates.gstreamer_server => {
                    Some((anchor, FirstPacket::Extrapolated))
                }
                (Some(anchor), _) => Some((anchor, FirstPacket::Keeps)),
                (None, Some(clock_rate)) if rtptime.is_none() => Some((
                    Anchor {
                        npt: played.start,
                        rtptime: 0,
                        clock_rate,
                        scale: played.rates.rtp_scale,
                    },
                    FirstPacket::AtRangeStart,
                )),
                (None, _) => None,
            };
            reverse_output(stream, reverse_anchor, played);
        }
        if range.is_some() {
            stream
                .output
                .end_seek(entry.and_then(|e| e.seq), vod_range.is_some());
        }
    }
}

/// A VOD PLAY answered in reverse: the stream's output is stamped with
/// NPT by [`super::replay_output`] (reverse playback cannot be stamped by
/// arrival), and the caps say `onvif-mode` so that depayloaders pass its
/// segment on. Answered forward: back to arrival times and the
/// timeline's segments.
fn reverse_output(stream: &StreamRef, anchor: Option<(Anchor, FirstPacket)>, played: Played) {
    let output = &stream.output;
    if output.replay.is_onvif() {
        // ONVIF replay stamps every direction from its extension.
        return;
    }
    let first = anchor.map_or(FirstPacket::Keeps, |(_, first)| first);
    let reverse = anchor
        .filter(|_| played.rates.media_rate < 0.0)
        .map(|(anchor, _)| {
            let lower = played.end.filter(|&end| end < played.start).unwrap_or(0.0);
            let play = PlaySegment {
                rate: played.rates.media_rate,
                lower_ns: Some(npt_nanos(lower)),
                upper_ns: Some(npt_nanos(played.start)),
                flags: gst::SegmentFlags::empty(),
            };
            (anchor, play)
        });
    if reverse.is_none() && !output.replay.is_reverse_vod() {
        return;
    }
    output.replay.set_reverse_vod(reverse, first);
    // `onvif-mode` stays once set: a depayloader decides at FLUSH_STOP
    // whether to make its own segment, which is before the caps of the
    // next PLAY arrive, so taking it away would leave the reverse
    // segment in place downstream. The timeline's segments are complete
    // (start, time, applied rate) and serve as well as its own.
    if reverse.is_some() {
        let mut caps = output.caps();
        onvif::mark_caps(&mut caps);
        output.update_caps(caps);
    }
}

/// RTP-Info URLs are absolute or relative to the base, with or without a
/// trailing slash, depending on the server.
fn rtp_info_matches(info_url: &str, control_url: &str) -> bool {
    let a = info_url.trim().trim_end_matches('/');
    let b = control_url.trim().trim_end_matches('/');
    !a.is_empty() && (a == b || b.ends_with(&format!("/{a}")) || a.ends_with(&format!("/{b}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_info_url_matching() {
        assert!(rtp_info_matches("rtsp://h/a/track1", "rtsp://h/a/track1"));
        assert!(rtp_info_matches("track1", "rtsp://h/a/track1"));
        assert!(rtp_info_matches("rtsp://h/a/track1/", "rtsp://h/a/track1"));
        assert!(!rtp_info_matches("track1", "rtsp://h/a/track10"));
        assert!(!rtp_info_matches("", "rtsp://h/a/track1"));
    }
}
