//! Requests the server sends during PLAY (RFC 2326 §10, RFC 7826 §13):
//! TEARDOWN and REDIRECT end the session; RTSP 2.0 `PLAY_NOTIFY`
//! (§13.5) tells of the end of the stream, a change of scale or of the
//! media's properties. They were answered 200 already.

use rtspclient_protocol::message::Request;
use rtspclient_protocol::play_control::{answered_start, finite_range};
use rtspclient_protocol::rtsp2::{NotifyReason, PLAY_NOTIFY};
use rtspclient_protocol::url::resolve_location;

use super::Playing;
use crate::rtspsrc2::control::{Played, answer_rates, apply_position, rtp_info};
use crate::session::Ended;
use crate::session::rtsp2::MediaHeaders;

impl Playing<'_> {
    pub(super) fn on_server_request(&mut self, request: &Request) -> Option<Ended<()>> {
        let method = request.method.to_ascii_uppercase();
        if method == "TEARDOWN" {
            for output in &self.outputs {
                output.push_eos();
            }
            return Some(Ended::Done(()));
        }
        if method == PLAY_NOTIFY {
            return self.on_play_notify(request);
        }
        if method == "REDIRECT"
            && let Some(target) = request
                .headers
                .get("Location")
                .and_then(|l| resolve_location(&self.aggregate, l))
        {
            return Some(Ended::Redirect(target));
        }
        None
    }

    /// RFC 7826 §13.5: a 2.0 server tells the player about the session
    /// (it has been answered 200 already).
    fn on_play_notify(&mut self, request: &Request) -> Option<Ended<()>> {
        let reason = request
            .headers
            .get("Notify-Reason")
            .map(NotifyReason::parse);
        match reason {
            // §13.5.1: everything was sent. A VOD session stays, as at the
            // end of its range (a seek back plays again); anything else is
            // over.
            Some(NotifyReason::EndOfStream) => {
                gst::info!(
                    crate::rtspsrc2::imp::CAT,
                    "PLAY_NOTIFY end-of-stream (Range {:?}): EOS",
                    request.headers.get("Range")
                );
                for output in &self.outputs {
                    if !output.timeline.ended() {
                        output.push_eos();
                    }
                }
                if self.vod_end.is_none() {
                    return Some(Ended::Done(()));
                }
            }
            // §13.5.4: from the notice's Range on, the media comes at its
            // Scale, its RTP-Info saying which packet is the first: handled
            // like a seek answered there (the depayloaders only make new
            // segments after a flush), for on-demand streams.
            Some(NotifyReason::ScaleChange)
                if let (Some(_), Some(start)) =
                    (self.vod_end, answered_start(request.headers.get("Range"))) =>
            {
                let rates = answer_rates(&request.headers);
                gst::info!(
                    crate::rtspsrc2::imp::CAT,
                    "PLAY_NOTIFY scale-change at {start:.3}: media rate {}",
                    rates.media_rate
                );
                self.host.reposition();
                let played = Played {
                    start,
                    end: self.vod_end,
                    rates,
                };
                apply_position(&self.streams, &rtp_info(&request.headers), Some(played));
            }
            // §13.5.2: a recording that grew (or shrank): an on-demand
            // presentation's extent follows its new Media-Range, so the
            // duration query and the end of range do.
            Some(NotifyReason::MediaPropertiesUpdate)
                if let (Some(_), Some(range)) = (
                    self.vod_end,
                    MediaHeaders::read(&request.headers, "PLAY_NOTIFY")
                        .media_range
                        .as_ref()
                        .and_then(finite_range),
                ) =>
            {
                gst::info!(
                    crate::rtspsrc2::imp::CAT,
                    "PLAY_NOTIFY media-properties-update: the presentation is now {range:?}"
                );
                self.vod_end = Some(range.end);
                self.host.presentation(Some(range));
            }
            // Live sessions, and notices without what is needed: logged.
            Some(NotifyReason::MediaPropertiesUpdate) | Some(NotifyReason::ScaleChange) => {
                let headers = MediaHeaders::read(&request.headers, "PLAY_NOTIFY");
                gst::info!(
                    crate::rtspsrc2::imp::CAT,
                    "PLAY_NOTIFY {:?}: {headers:?}, Scale {:?}",
                    reason,
                    request.headers.get("Scale")
                );
            }
            other => gst::info!(crate::rtspsrc2::imp::CAT, "PLAY_NOTIFY ignored: {other:?}"),
        }
        None
    }
}
