//! What an RTSP 2.0 server adds to its answers (RFC 7826 §18.5
//! `Accept-Ranges`, §18.29 `Media-Properties`, §18.30 `Media-Range`):
//! read from SETUP and PLAY answers and PLAY_NOTIFY requests, and logged.

use rtspclient_protocol::headers::Range;
use rtspclient_protocol::message::Headers;
use rtspclient_protocol::rtsp2::{MediaProperties, parse_accept_ranges, parse_media_range};

/// The 2.0 media headers of one answer; empty for a 1.0 server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaHeaders {
    pub properties: Option<MediaProperties>,
    pub media_range: Option<Range>,
    pub accept_ranges: Vec<String>,
}

impl MediaHeaders {
    /// Read (and log) the headers of an answer to `what` (or of a
    /// PLAY_NOTIFY, RFC 7826 §13.5.2).
    pub fn read(headers: &Headers, what: &str) -> MediaHeaders {
        let response = headers;
        let headers = MediaHeaders {
            properties: response.get("Media-Properties").map(MediaProperties::parse),
            media_range: response.get("Media-Range").and_then(parse_media_range),
            accept_ranges: response
                .get("Accept-Ranges")
                .map(parse_accept_ranges)
                .unwrap_or_default(),
        };
        if !headers.is_empty() {
            gst::info!(
                super::CAT,
                "{what}: Media-Properties {:?}, Media-Range {:?}, Accept-Ranges {:?}",
                headers.properties,
                headers.media_range,
                headers.accept_ranges
            );
        }
        headers
    }

    pub fn is_empty(&self) -> bool {
        self.properties.is_none() && self.media_range.is_none() && self.accept_ranges.is_empty()
    }
}
