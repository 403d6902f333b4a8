//! Turning driver errors into element errors: the GStreamer error domain
//! and code chosen by what failed, and the RTSP context (status, reason,
//! method, CSeq) in the message details so applications can act on it.

use gst::prelude::*;

use crate::driver::error::{ClientError, ErrorKind};

/// Post `error` as an element error of `element`. `url` must already be
/// redacted (no credentials).
pub fn post_client_error(element: &gst::Element, error: &ClientError, url: &str) {
    post_with_code(element, error, url, error_code(error));
}

/// Like [`post_client_error`] for a publishing element: the same domains
/// and codes, with the write-side resource codes (`OpenWrite`, `Write`)
/// where a playing element reports `OpenRead`/`Read`.
pub fn post_client_error_sink(element: &gst::Element, error: &ClientError, url: &str) {
    let code = match error_code(error) {
        Code::Resource(gst::ResourceError::OpenRead) => {
            Code::Resource(gst::ResourceError::OpenWrite)
        }
        Code::Resource(gst::ResourceError::Read) => Code::Resource(gst::ResourceError::Write),
        other => other,
    };
    post_with_code(element, error, url, code);
}

fn post_with_code(element: &gst::Element, error: &ClientError, url: &str, code: Code) {
    let mut details = gst::Structure::builder("rtspclient-error").field("url", url);
    if let Some((code, reason)) = error.status() {
        details = details
            .field("rtsp-status-code", code as u32)
            .field("rtsp-reason", reason);
    }
    if let Some(method) = &error.method {
        details = details.field("method", method.as_str());
    }
    if let Some(cseq) = error.cseq {
        details = details.field("cseq", cseq);
    }
    let text = format!("{error} ({url})");
    let details = details.build();
    let message = match code {
        Code::Resource(code) => gst::message::Error::builder(code, &text)
            .details(details)
            .src(element)
            .build(),
        Code::Stream(code) => gst::message::Error::builder(code, &text)
            .details(details)
            .src(element)
            .build(),
    };
    let _ = element.post_message(message);
}

/// The GStreamer error domain and code for a driver error.
pub enum Code {
    Resource(gst::ResourceError),
    Stream(gst::StreamError),
}

pub fn error_code(error: &ClientError) -> Code {
    match &error.kind {
        ErrorKind::NotAuthorized { .. } => Code::Resource(gst::ResourceError::NotAuthorized),
        ErrorKind::Status { code, .. } => match code {
            401 | 403 => Code::Resource(gst::ResourceError::NotAuthorized),
            404 | 410 => Code::Resource(gst::ResourceError::NotFound),
            415 | 461 => Code::Stream(gst::StreamError::Format),
            _ => Code::Resource(gst::ResourceError::OpenRead),
        },
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Redirect | ErrorKind::Certificate => {
            Code::Resource(gst::ResourceError::OpenRead)
        }
        ErrorKind::Closed | ErrorKind::Io | ErrorKind::Protocol => {
            Code::Resource(gst::ResourceError::Read)
        }
        ErrorKind::NoUsableStream => Code::Stream(gst::StreamError::CodecNotFound),
        ErrorKind::Decrypt => Code::Stream(gst::StreamError::Decrypt),
        ErrorKind::Resource | ErrorKind::Cancelled => Code::Resource(gst::ResourceError::Failed),
        ErrorKind::Settings => Code::Resource(gst::ResourceError::Settings),
    }
}
