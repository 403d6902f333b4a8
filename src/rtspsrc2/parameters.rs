//! GET_PARAMETER and SET_PARAMETER requests the application makes with
//! the element's action signals, and how their promises are answered.

/// Outstanding parameter requests kept at once; more are refused.
pub const MAX_PENDING_PARAMETERS: usize = 32;

/// A GET_PARAMETER or SET_PARAMETER the application asked for with an
/// action signal. Its promise is always answered: with the server's reply,
/// or with an error if the request cannot be made or the session ends.
pub struct ParameterRequest {
    pub method: &'static str,
    pub content_type: String,
    pub body: String,
    promise: Option<gst::Promise>,
}

impl ParameterRequest {
    pub fn new(
        method: &'static str,
        content_type: Option<String>,
        body: String,
        promise: gst::Promise,
    ) -> Self {
        ParameterRequest {
            method,
            content_type: content_type.unwrap_or_else(|| "text/parameters".into()),
            body,
            promise: Some(promise),
        }
    }

    pub fn reply(mut self, code: u16, reason: &str, body: &str) {
        if let Some(promise) = self.promise.take() {
            promise.reply(Some(
                gst::Structure::builder("rtsp-parameter-reply")
                    .field(
                        "rtsp-result",
                        if (200..300).contains(&code) {
                            0i32
                        } else {
                            -1i32
                        },
                    )
                    .field("rtsp-code", code as u32)
                    .field("rtsp-reason", reason)
                    .field("body", body)
                    .build(),
            ));
        }
    }
}

impl Drop for ParameterRequest {
    fn drop(&mut self) {
        if let Some(promise) = self.promise.take() {
            promise.reply(Some(
                gst::Structure::builder("rtsp-parameter-reply")
                    .field("rtsp-result", -1i32)
                    .field("rtsp-code", 0u32)
                    .field("rtsp-reason", "No RTSP session")
                    .field("body", "")
                    .build(),
            ));
        }
    }
}
