//! `rtspsrc2`: the element glue. Properties, the URI handler, state
//! changes, `rtpbin` and the `stream_%u` pads. The RTSP conversation runs
//! in [`super::session`] on the shared runtime; this file never waits on
//! the network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rtspclient_protocol::caps::Bandwidth;
use rtspclient_protocol::play_control::{Target, VodRange};
use tokio::sync::{mpsc, watch};

use super::backchannel::{self, Backchannels};
use super::host::Host;
use super::properties;
use super::retransmission::Retransmission;
use super::rtcp_bandwidth;
use super::session::{self, ParameterRequest, PlayConfig, PlayHost};
use super::settings::{self, NatMethod, Settings};
use super::streams::{Exchange, StreamOutput, Timing};
use crate::element_config::PLAY_URI_PROTOCOLS as URI_PROTOCOLS;
use crate::jitterbuffer::LightJitterBuffer;
use crate::runtime;
use crate::session::messages::ReconnectCounters;
use crate::settings::{CommonSettings, CommonSettingsOwner};
use crate::srtp::{self, DecryptWatch, RemoteKeys, StreamKeys};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtspsrc2",
        gst::DebugColorFlags::empty(),
        Some("RTSP source"),
    )
});

pub(super) struct Task {
    stop: watch::Sender<bool>,
    parameters: mpsc::Sender<ParameterRequest>,
    /// What the element wants from the server (see `super::control`).
    pub(super) target: watch::Sender<Target>,
    /// Says when the play task has ended, its TEARDOWN included (sender
    /// dropped), for `teardown-timeout`.
    finished: std::sync::mpsc::Receiver<()>,
    /// `onvif-mode` as the task was started with: seeks must be made for
    /// the mode the task speaks, whatever the property says since.
    pub(super) onvif_mode: bool,
}

/// Parameter requests queued for the play task; more are refused (the
/// action signal returns FALSE).
const PARAMETER_QUEUE: usize = 16;

#[derive(Default)]
pub(super) struct State {
    pub(super) rtpbin: Option<gst::Element>,
    pub(super) streams: Vec<Option<Arc<StreamOutput>>>,
    /// Caps per payload type for each stream, for rtpbin's request-pt-map.
    pt_maps: Vec<Vec<gst::Caps>>,
    ghost_pads: Vec<Option<gst::GhostPad>>,
    no_more_pads_sent: bool,
    pub(super) task: Option<Task>,
    /// The range of an on-demand presentation, from DESCRIBE; `None` for
    /// live streams (not seekable) or before DESCRIBE.
    pub(super) presentation: Option<VodRange>,
    pub(super) seek_generation: u64,
    /// The last seek event's seqnum and answer (see `RtspSrc2::seek`).
    pub(super) last_seek: Option<(gst::Seqnum, bool)>,
    /// Transport of the current session, for `stats`.
    pub(super) transport: Option<&'static str>,
    /// RTSP version of the current session (after any fallback to 1.0),
    /// for `stats`.
    pub(super) rtsp_version: Option<&'static str>,
    /// Sessions that reached PLAY since the element started; more than one
    /// means redirects or a TCP fallback happened.
    pub(super) sessions_played: u32,
    group_id: Option<gst::GroupId>,
}

#[derive(Default)]
pub struct RtspSrc2 {
    pub(super) settings: Mutex<Settings>,
    pub(super) state: Mutex<State>,
    pub(super) timing: Arc<Timing>,
    /// Bumped on every start; a play task whose epoch is stale may no
    /// longer touch the element.
    pub(super) epoch: AtomicU64,
    pub(super) reconnects: Arc<ReconnectCounters>,
    pub(super) rtx: Arc<Retransmission>,
    pub(super) srtp: Arc<srtp::Sessions>,
    pub(super) backchannels: Arc<Backchannels>,
    /// Extra latency while a VOD plays in reverse.
    pub(super) reverse_latency: super::reverse_latency::ReverseLatency,
}

#[glib::object_subclass]
impl ObjectSubclass for RtspSrc2 {
    const NAME: &'static str = "GstRtspSrc2";
    type Type = super::RtspSrc2;
    type ParentType = gst::Bin;
    type Interfaces = (gst::URIHandler,);
}

impl ObjectImpl for RtspSrc2 {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = CommonSettings::properties(&settings::FLAVOUR);
            properties.extend(properties::specs());
            properties.push(
            glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                .nick("Statistics")
                .blurb("transport, restarts, and per stream: packets, bytes, packets-lost, jitter (RTP clock units), packets-retransmitted (RTX packets received, with do-retransmission), srtp-packets and srtp-decrypted (SRTP streams: packets that entered srtpdec and that it decrypted), and packets dropped as packets-unknown-pt, packets-malformed, packets-no-payload; backchannels (backchannel=onvif): per backchannel stream index, packets-sent, bytes-sent, packets-dropped (before PLAY, between sessions, connection full, unsendable)")
                .read_only()
                .build()
            );
            properties
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> =
            LazyLock::new(super::signals::signals);
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self.set_common_property(pspec.name(), value) {
            return;
        }
        let mut settings = self.settings.lock().unwrap();
        if !properties::set(&mut settings, pspec.name(), value) {
            unreachable!("unknown property {}", pspec.name());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(value) = self.common_property(pspec.name()) {
            return value;
        }
        if pspec.name() == "stats" {
            return super::stats::stats(self).to_value();
        }
        let settings = self.settings.lock().unwrap();
        properties::get(&settings, pspec.name())
            .unwrap_or_else(|| unreachable!("unknown property {}", pspec.name()))
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_suppressed_flags(gst::ElementFlags::SOURCE | gst::ElementFlags::SINK);
        obj.set_element_flags(gst::ElementFlags::SOURCE);
    }
}

impl GstObjectImpl for RtspSrc2 {}

impl ElementImpl for RtspSrc2 {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTSP source",
                "Source/Network",
                "Receives RTP streams from an RTSP server or camera (TCP, UDP, multicast)",
                "rtspclient developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_empty_simple("application/x-rtp");
            vec![
                gst::PadTemplate::new(
                    "stream_%u",
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &caps,
                )
                .expect("valid template"),
                backchannel::pad_template(&caps),
            ]
        });
        TEMPLATES.as_ref()
    }

    /// EOS sent to the element (`gst-launch-1.0 -e`, an application that
    /// wants to finish a recording) goes down every stream through rtpbin,
    /// so muxers downstream can finalise their files.
    fn send_event(&self, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::Seek {
            return self.seek(&event);
        }
        if let gst::EventView::Eos(_) = event.view() {
            let outputs: Vec<_> = self
                .state
                .lock()
                .unwrap()
                .streams
                .iter()
                .flatten()
                .cloned()
                .collect();
            gst::debug!(
                CAT,
                imp = self,
                "EOS requested, ending {} streams",
                outputs.len()
            );
            for output in &outputs {
                output.push_eos();
            }
            return !outputs.is_empty();
        }
        self.parent_send_event(event)
    }

    /// `backchannel_N`: RTP for the N-th backchannel the server describes.
    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        self.backchannels.request_pad(&self.obj(), templ, name)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        self.backchannels.release_pad(&self.obj(), pad);
    }

    fn query(&self, query: &mut gst::QueryRef) -> bool {
        match self.answer_query(query) {
            Some(answer) => answer,
            None => self.parent_query(query),
        }
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let is_live = self.settings.lock().unwrap().is_live;
        match transition {
            gst::StateChange::ReadyToPaused => {
                self.start()?;
                if !is_live {
                    // A non-live source brings data in PAUSED, for the
                    // pipeline to preroll on: PLAY now, and stamp packets
                    // with the time since the element started (there is no
                    // pipeline clock and base time before PLAYING).
                    let clock = gst::SystemClock::obtain();
                    let now = clock.time();
                    self.timing.start(clock, now);
                    self.set_playing(true);
                }
            }
            gst::StateChange::PausedToPlaying => {
                let obj = self.obj();
                if let (Some(clock), Some(base)) = (obj.clock(), obj.base_time()) {
                    if is_live {
                        self.timing.start(clock, base);
                    } else {
                        self.timing.continue_with(clock);
                    }
                }
                self.set_playing(true);
            }
            gst::StateChange::PlayingToPaused => {
                // Non-live: packets keep their timeline while paused.
                if is_live {
                    self.timing.stop();
                }
                self.set_playing(false);
            }
            _ => {}
        }
        let mut success = self.parent_change_state(transition)?;
        match transition {
            // A live source: no preroll, like C rtspsrc (is-live TRUE).
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused if is_live => {
                success = gst::StateChangeSuccess::NoPreroll;
            }
            gst::StateChange::PausedToReady => self.stop(),
            _ => {}
        }
        Ok(success)
    }
}

impl BinImpl for RtspSrc2 {}

crate::settings::common_settings_glue!(RtspSrc2, gst::URIType::Src);

impl RtspSrc2 {
    fn play_config(&self) -> Result<PlayConfig, gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let mut session = settings.common.session_config()?;
        session.udp.buffer_size = settings.common.udp_buffer_size.max(0) as usize;
        session.client.http_proxy = settings.http_proxy()?;
        session.udp.multicast_iface = settings
            .multicast_iface
            .as_deref()
            .and_then(|s| s.parse().ok());
        Ok(PlayConfig {
            session,
            data_timeout: if settings.timeout.is_zero() {
                Duration::MAX / 4
            } else {
                settings.timeout
            },
            do_rtcp: settings.do_rtcp,
            nat_dummy: settings.nat_method == NatMethod::Dummy,
            profiles: settings.profiles.bits(),
            pause_live: settings.pause_live,
            rate_header: settings.rate_header.header(),
            backchannel: settings.backchannel == settings::Backchannel::Onvif,
            replay: settings.onvif_mode.then_some(super::onvif::ReplayConfig {
                rate_control: settings.onvif_rate_control,
            }),
        })
        .map(|mut config| {
            if config.replay.is_some() {
                // ONVIF replay over TCP only (see super::onvif).
                config.session.protocols = vec![crate::session::Protocol::Tcp];
            }
            // The task may take as long as the element waits for it, and at
            // least the shared bound.
            config.session.teardown_timeout = crate::session::TEARDOWN_TIMEOUT
                .max(Duration::from_nanos(settings.teardown_timeout_ns));
            config
        })
    }

    /// The live or non-live answer to the latency query on our pads (see
    /// `is-live`); None: the query goes on to rtpbin.
    pub(super) fn answer_latency(&self, query: &mut gst::QueryRef) -> Option<bool> {
        if self.settings.lock().unwrap().is_live {
            return None;
        }
        let gst::QueryViewMut::Latency(q) = query.view_mut() else {
            return None;
        };
        // A non-live source adds no latency a sink must wait for: the
        // pipeline prerolled on the first frames, and PLAYING renders them
        // from there.
        q.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE);
        Some(true)
    }

    fn start(&self) -> Result<(), gst::StateChangeError> {
        let config = match self.play_config() {
            Ok(config) => config,
            Err(err) => {
                self.post_error_message(err);
                return Err(gst::StateChangeError);
            }
        };
        let rtpbin = self.make_rtpbin()?;
        self.obj().add(&rtpbin).map_err(|_| gst::StateChangeError)?;
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.obj().emit_by_name::<()>("new-manager", &[&rtpbin]);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (parameters_tx, parameters_rx) = mpsc::channel(PARAMETER_QUEUE);
        let (target_tx, target_rx) = watch::channel(Target::default());
        let (finished_tx, finished_rx) = std::sync::mpsc::channel::<()>();
        {
            let mut state = self.state.lock().unwrap();
            *state = State {
                rtpbin: Some(rtpbin),
                group_id: Some(gst::GroupId::next()),
                task: Some(Task {
                    stop: stop_tx,
                    parameters: parameters_tx,
                    onvif_mode: config.replay.is_some(),
                    target: target_tx,
                    finished: finished_rx,
                }),
                ..State::default()
            };
        }
        gst::debug!(
            CAT,
            imp = self,
            "Starting session with {}",
            config.session.url.redacted()
        );
        let host: Arc<dyn PlayHost> = Arc::new(Host {
            element: self.obj().downgrade(),
            epoch,
            url: config.session.url.redacted(),
        });
        runtime::spawn(async move {
            session::run(config, host, parameters_rx, target_rx, stop_rx).await;
            drop(finished_tx);
        });
        Ok(())
    }

    /// Tell the play task to stop (it sends TEARDOWN on its own, bounded)
    /// and take rtpbin and the pads down. Never waits on the network.
    fn stop(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.srtp.clear();
        self.backchannels.session_ended();
        let teardown_timeout =
            Duration::from_nanos(self.settings.lock().unwrap().teardown_timeout_ns);
        let mut state = std::mem::take(&mut *self.state.lock().unwrap());
        let task = state.task.take();
        if let Some(task) = &task {
            let _ = task.stop.send(true);
        }
        for output in state.streams.iter().flatten() {
            output.shutdown();
        }
        // teardown-timeout, as C rtspsrc: give the TEARDOWN that long to be
        // sent and answered before the element goes on to READY (the task
        // ends once it has, or gave up). After that the task finishes it
        // in the background, bounded by the session's teardown bound.
        if let Some(task) = task
            && !teardown_timeout.is_zero()
        {
            let started = std::time::Instant::now();
            let ended = matches!(
                task.finished.recv_timeout(teardown_timeout),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
            );
            gst::debug!(
                CAT,
                imp = self,
                "Session {} after {:?}",
                if ended { "closed" } else { "still closing" },
                started.elapsed()
            );
        }
        let obj = self.obj();
        for ghost in state.ghost_pads.into_iter().flatten() {
            let _ = ghost.set_active(false);
            let _ = obj.remove_pad(&ghost);
        }
        if let Some(rtpbin) = state.rtpbin {
            let _ = obj.remove(&rtpbin);
            let _ = rtpbin.set_state(gst::State::Null);
        }
        self.timing.stop();
    }

    /// Hand a GET/SET_PARAMETER to the play task. FALSE when there is no
    /// session or the queue is full; the promise is answered either way.
    pub(super) fn queue_parameter(
        &self,
        method: &'static str,
        content_type: Option<String>,
        body: String,
        promise: gst::Promise,
    ) -> bool {
        let request = ParameterRequest::new(method, content_type, body, promise);
        let state = self.state.lock().unwrap();
        match &state.task {
            Some(task) => task.parameters.try_send(request).is_ok(),
            None => false,
        }
    }

    /// The output of stream `index`, made with its rtpbin session the
    /// first time. `remote`: the server's SRTP key for a secure stream;
    /// the answer then has our MIKEY (our key, for the RTCP we send) to
    /// announce in SETUP.
    pub(super) fn ensure_stream(
        &self,
        epoch: u64,
        index: usize,
        payloads: Vec<gst::Caps>,
        remote: Option<RemoteKeys>,
        bandwidth: Bandwidth,
    ) -> Result<(Arc<StreamOutput>, Option<String>), String> {
        let mut state = self.state.lock().unwrap();
        if epoch != self.epoch.load(Ordering::SeqCst) {
            return Err("element is stopping".into());
        }
        let existing_keys = self.srtp.get(index as u32);
        if state.streams.get(index).is_some_and(Option::is_some)
            && existing_keys.is_some() != remote.is_some()
        {
            return Err(format!(
                "Stream {index} changed between RTP and SRTP: not resuming on its pad"
            ));
        }
        let secure = remote.is_some();
        let announce = match (existing_keys, remote) {
            (Some(keys), remote) => {
                keys.set_remote(remote);
                Some(keys)
            }
            (None, Some(remote)) => {
                // Before rtpbin makes the session: it asks for the
                // decoder and encoder at once.
                let watch = DecryptWatch::new(self.obj().upcast_ref(), index);
                let keys = StreamKeys::new(index as u32, Some(watch))?;
                keys.set_ssrc(srtp::random_ssrc());
                keys.set_remote(Some(remote));
                self.srtp.insert(keys.clone());
                Some(keys)
            }
            (None, None) => None,
        };
        let announce = match announce {
            Some(keys) => Some(
                keys.announce(&[])
                    .ok_or("Could not write a MIKEY message for our key")?,
            ),
            None => None,
        };
        if let Some(Some(existing)) = state.streams.get(index) {
            // A restart (redirect, TCP fallback) keeps the pads; the new
            // server's SDP decides the caps.
            let existing = existing.clone();
            if let Some(first) = payloads.first() {
                let mut caps = first.clone();
                // A depayloader that passed our segments (onvif-mode:
                // ONVIF replay, or a VOD played in reverse once) must go
                // on doing so: it decided at the flush, before these caps
                // (see control::reverse_output).
                if existing
                    .caps()
                    .structure(0)
                    .and_then(|s| s.get::<bool>("onvif-mode").ok())
                    == Some(true)
                {
                    super::onvif::mark_caps(&mut caps);
                }
                if existing.caps() != caps {
                    existing.update_caps(caps);
                }
            }
            existing.set_payload_types(&payloads);
            self.rtx.set_payloads(index, &payloads);
            if let Some(rtpbin) = &state.rtpbin {
                rtcp_bandwidth::configure(rtpbin, index, bandwidth);
            }
            state.pt_maps[index] = payloads;
            return Ok((existing, announce));
        }
        let rtpbin = state.rtpbin.clone().ok_or("no rtpbin")?;
        let first = payloads.first().cloned().ok_or("stream without caps")?;
        let group_id = *state.group_id.get_or_insert_with(gst::GroupId::next);
        let do_rtcp = self.settings.lock().unwrap().do_rtcp;
        // Before rtpbin makes the session: it asks for the RTX receiver
        // then.
        self.rtx.set_payloads(index, &payloads);
        let output = StreamOutput::new(
            &rtpbin,
            index,
            first,
            self.timing.clone(),
            group_id,
            &format!("{:p}", self),
            Exchange { do_rtcp, secure },
        )
        .map_err(|err| err.to_string())?;
        output.set_payload_types(&payloads);
        self.rtx.configure_session(&rtpbin, index);
        if let Some(keys) = self.srtp.get(index as u32) {
            // Our RTCP goes out with the SSRC our MIKEY names (RFC 3830
            // §6.1.1: the crypto session of that SSRC).
            if let (Some(session), Some(ssrc)) = (
                rtpbin.emit_by_name::<Option<glib::Object>>(
                    "get-internal-session",
                    &[&(index as u32)],
                ),
                keys.ssrc(),
            ) {
                session.set_property("internal-ssrc", ssrc);
            }
        }
        rtcp_bandwidth::configure(&rtpbin, index, bandwidth);
        // As C rtspsrc: on the session's RTPSession, which decides when a
        // new source's packets are let through.
        if let Some(session) =
            rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&(index as u32)])
        {
            session.set_property("probation", self.settings.lock().unwrap().probation);
        }
        if state.streams.len() <= index {
            state.streams.resize(index + 1, None);
            state.pt_maps.resize(index + 1, Vec::new());
            state.ghost_pads.resize(index + 1, None);
        }
        state.streams[index] = Some(output.clone());
        state.pt_maps[index] = payloads;
        // Without several payload types in a stream rtpbin's per-stream
        // payload demuxer only adds a pad hop per packet: leave it out
        // (decided before PLAY, when rtpbin creates the streams). The
        // jitterbuffer then passes the stream's caps on itself.
        let single_payload = state.pt_maps.iter().all(|p| p.len() <= 1);
        rtpbin.set_property("ignore-pt", single_payload);
        gst::debug!(CAT, imp = self, "Stream {index} caps {}", output.caps());
        Ok((output, announce))
    }

    /// Let the stream's receive path see its jitterbuffer's backlog.
    pub(super) fn attach_jitterbuffer(&self, session: usize, jitterbuffer: &gst::Element) {
        let state = self.state.lock().unwrap();
        if let (Some(Some(output)), Some(jitterbuffer)) = (
            state.streams.get(session),
            jitterbuffer.downcast_ref::<LightJitterBuffer>(),
        ) {
            output.set_jitterbuffer(jitterbuffer.clone());
        }
    }

    pub(super) fn caps_for_pt(&self, session: usize, pt: u32) -> Option<gst::Caps> {
        let state = self.state.lock().unwrap();
        let payloads = state.pt_maps.get(session)?;
        let current = state.streams.get(session)?.as_ref().map(|s| s.caps());
        // The stream's current caps carry RTP-Info updates; prefer them.
        current
            .into_iter()
            .chain(payloads.iter().cloned())
            .find(|caps| {
                caps.structure(0)
                    .and_then(|s| s.get::<i32>("payload").ok())
                    .is_some_and(|p| p as u32 == pt)
            })
    }

    /// rtpbin made a `recv_rtp_src_<session>_<ssrc>_<pt>` pad: it becomes
    /// `stream_<session>`'s target when its first packet comes.
    ///
    /// Not before: rtpbin also makes these pads for an SSRC it only heard
    /// RTCP from (cameras whose sender reports carry another SSRC than
    /// their RTP, docs/QUIRKS.md "Sender reports from a foreign SSRC"),
    /// and such a pad never carries a packet. Exposing or retargeting on
    /// the pad or its caps made the stream follow that pad whenever its
    /// caps came last or the report came after the RTP: no frame ever
    /// came out. Waiting for a packet also means that the application's
    /// `pad-added` handler sees the caps, which come before it.
    pub(super) fn rtpbin_pad_added(&self, pad: &gst::Pad) {
        let name = pad.name();
        let Some(session) = name
            .strip_prefix("recv_rtp_src_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return;
        };
        let output = {
            let state = self.state.lock().unwrap();
            match state.streams.get(session) {
                Some(Some(output)) => Arc::downgrade(output),
                _ => return,
            }
        };
        // First: packets that carry nothing never leave, and never make a
        // pad the stream's target.
        let weak_output = output.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_pad, info| match weak_output.upgrade() {
                Some(output) => output.drop_empty_packets(info),
                None => gst::PadProbeReturn::Ok,
            },
        );
        // Then the segment of VOD streams (see super::timeline).
        let element = self.obj().downgrade();
        pad.add_probe(
            gst::PadProbeType::BUFFER
                | gst::PadProbeType::BUFFER_LIST
                | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| match output.upgrade() {
                // ONVIF replay: absolute times (see super::replay_output).
                Some(output) if output.replay.is_active() => {
                    let answer = output.replay.on_output(pad, info);
                    if let Some(npt) = output.replay.last_reverse_npt() {
                        // Where a reconnection goes on.
                        output.timeline.note_output_npt(npt);
                    }
                    if let Some(distance) = output.replay.take_group_distance()
                        && let Some(element) = element.upgrade()
                        && element.imp().reverse_latency.cover(distance)
                    {
                        let _ = element.post_message(gst::message::Latency::new());
                    }
                    answer
                }
                Some(output) => output.timeline.on_output(pad, info),
                None => gst::PadProbeReturn::Ok,
            },
        );
        let weak = self.obj().downgrade();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, _info| {
                if let Some(element) = weak.upgrade() {
                    element.imp().expose(pad, session);
                }
                // The packet goes on, to the pad linked just now (GStreamer
                // sends the sticky events again after a probe relinks).
                gst::PadProbeReturn::Remove
            },
        );
    }

    /// Ghost rtpbin's pad for `session` as `stream_N` (or retarget it).
    fn expose(&self, pad: &gst::Pad, session: usize) {
        let name = pad.name();
        let obj = self.obj();
        let mut state = self.state.lock().unwrap();
        if session >= state.ghost_pads.len() {
            return;
        }
        if let Some(ghost) = &state.ghost_pads[session] {
            gst::debug!(CAT, imp = self, "Retargeting stream_{session} to {name}");
            let _ = ghost.set_target(Some(pad));
            return;
        }
        let templ = obj.pad_template("stream_%u").expect("template exists");
        let ghost = match gst::GhostPad::builder_from_template_with_target(&templ, pad) {
            Ok(builder) => builder
                .name(format!("stream_{session}"))
                .event_function(super::vod::pad_event)
                .query_function(super::vod::pad_query)
                .build(),
            Err(err) => {
                gst::error!(CAT, imp = self, "Cannot expose {name}: {err}");
                return;
            }
        };
        state.ghost_pads[session] = Some(ghost.clone());
        let all_exposed = !state.no_more_pads_sent
            && state
                .ghost_pads
                .iter()
                .zip(&state.streams)
                .all(|(g, s)| g.is_some() || s.is_none());
        if all_exposed {
            state.no_more_pads_sent = true;
        }
        drop(state);
        let _ = ghost.set_active(true);
        // The caps (and stream-start) that are on their way already, so
        // that pad-added handlers see them.
        pad.sticky_events_foreach(|event| {
            let _ = ghost.store_sticky_event(event);
            std::ops::ControlFlow::Continue(gst::EventForeachAction::Keep)
        });
        if obj.add_pad(&ghost).is_err() {
            gst::error!(CAT, imp = self, "Cannot add pad stream_{session}");
            return;
        }
        if all_exposed {
            obj.no_more_pads();
        }
    }
}
