//! The element as its play task sees it ([`PlayHost`]): every call checks
//! that the task is still the element's current one, so a task that
//! outlives a stop cannot touch the next session.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use rtspclient_protocol::caps::Bandwidth;
use rtspclient_protocol::message::Version;
use rtspclient_protocol::play_control::VodRange;

use super::imp::CAT;
use super::session::PlayHost;
use super::streams::StreamOutput;
use crate::driver::error::ClientError;
use crate::driver::packet_route::PacketRoute;
use crate::element_error::post_client_error;
use crate::session::Protocol;
use crate::session::messages::{ReconnectCounters, SessionElement};
use crate::srtp::RemoteKeys;

/// The element as the play task sees it.
pub struct Host {
    pub element: glib::WeakRef<super::RtspSrc2>,
    pub epoch: u64,
    pub url: String,
}

impl Host {
    /// The element, if it still exists and this task is still current.
    fn element(&self) -> Option<super::RtspSrc2> {
        let element = self.element.upgrade()?;
        (element.imp().epoch.load(Ordering::SeqCst) == self.epoch).then_some(element)
    }
}

impl SessionElement for Host {
    fn current(&self) -> Option<(gst::Element, Arc<ReconnectCounters>)> {
        let element = self.element()?;
        let counters = element.imp().reconnects.clone();
        Some((element.upcast(), counters))
    }
}

impl PlayHost for Host {
    fn ensure_stream(
        &self,
        index: usize,
        payloads: Vec<gst::Caps>,
        remote: Option<RemoteKeys>,
        bandwidth: Bandwidth,
    ) -> Result<(Arc<StreamOutput>, Option<String>), String> {
        let element = self.element().ok_or("element is stopping")?;
        element
            .imp()
            .ensure_stream(self.epoch, index, payloads, remote, bandwidth)
    }

    fn warning(&self, text: &str) {
        if let Some(element) = self.element() {
            gst::warning!(CAT, obj = element, "{text}");
            let _ = element.post_message(
                gst::message::Warning::builder(gst::ResourceError::Read, text)
                    .src(&element)
                    .build(),
            );
        }
    }

    fn error(&self, error: &ClientError) {
        if let Some(element) = self.element() {
            gst::error!(CAT, obj = element, "{error}");
            post_client_error(element.upcast_ref(), error, &self.url);
        }
    }

    fn playing(&self, protocol: Protocol, version: Version) {
        if let Some(element) = self.element() {
            let mut state = element.imp().state.lock().unwrap();
            state.transport = Some(protocol.name());
            state.rtsp_version = Some(version.as_str());
            state.sessions_played += 1;
            drop(state);
            element.imp().backchannels.start();
        }
    }

    fn select_stream(&self, index: usize, caps: &gst::Caps) -> bool {
        match self.element() {
            Some(element) => {
                element.emit_by_name::<bool>("select-stream", &[&(index as u32), caps])
            }
            None => false,
        }
    }

    fn presentation(&self, vod: Option<VodRange>) {
        if let Some(element) = self.element() {
            gst::debug!(CAT, obj = element, "Presentation range: {vod:?}");
            let changed = {
                let mut state = element.imp().state.lock().unwrap();
                std::mem::replace(&mut state.presentation, vod) != vod
            };
            if changed {
                let _ = element.post_message(
                    gst::message::DurationChanged::builder()
                        .src(&element)
                        .build(),
                );
            }
        }
    }

    fn control_answered(&self, method: &str, status: u16, npt_start: Option<f64>) {
        if let Some(element) = self.element() {
            gst::debug!(
                CAT,
                obj = element,
                "{method} answered {status}, start {npt_start:?}"
            );
            let mut s = gst::Structure::builder("rtspclient-play-control")
                .field("method", method)
                .field("status", status as u32);
            if let Some(start) = npt_start {
                s = s.field("npt-start", start);
            }
            let _ = element.post_message(
                gst::message::Element::builder(s.build())
                    .src(&element)
                    .build(),
            );
        }
    }

    fn reposition(&self) {
        if let Some(element) = self.element() {
            element.imp().reposition(gst::Seqnum::next());
        }
    }

    fn backchannels_described(&self, streams: Vec<(usize, Vec<gst::Caps>)>) {
        if let Some(element) = self.element() {
            element.imp().backchannels.described(streams);
        }
    }

    fn backchannel_route(&self, index: usize, route: PacketRoute) {
        if let Some(element) = self.element() {
            element.imp().backchannels.set_route(index, route);
        }
    }

    fn backchannels_ended(&self) {
        if let Some(element) = self.element() {
            element.imp().backchannels.session_ended();
        }
    }

    fn end_of_stream(&self) {
        if let Some(element) = self.element() {
            gst::info!(CAT, obj = element, "The server ended the session");
        }
    }
}
