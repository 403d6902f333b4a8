//! Answers to the requests a server sends the client on the control
//! connection (RFC 2326 10: OPTIONS, ANNOUNCE, GET_PARAMETER,
//! SET_PARAMETER, REDIRECT; TEARDOWN from servers that end a session;
//! PLAY_NOTIFY from RTSP 2.0 servers, RFC 7826 §13.5).

use rtspclient_protocol::message::{Request, Response};

/// Methods this client answers when the server asks.
const ANSWERED_METHODS: &str =
    "OPTIONS, ANNOUNCE, GET_PARAMETER, SET_PARAMETER, REDIRECT, TEARDOWN, PLAY_NOTIFY";

/// 200 for a method we know (what it means is the element's business),
/// 501 otherwise; CSeq and Session echoed.
pub fn answer_server_request(request: &Request, user_agent: &str) -> Response {
    let known = ANSWERED_METHODS
        .split(", ")
        .any(|m| m.eq_ignore_ascii_case(&request.method));
    let mut response = if known {
        Response::new(200, "OK")
    } else {
        Response::new(501, "Not Implemented")
    };
    if let Some(cseq) = request.headers.get("CSeq") {
        response.headers.set("CSeq", cseq.trim());
    }
    if let Some(session) = request.headers.get("Session") {
        response.headers.set("Session", session);
    }
    if request.method.eq_ignore_ascii_case("OPTIONS") {
        response.headers.set("Public", ANSWERED_METHODS);
    }
    response.headers.set("User-Agent", user_agent);
    response
}
