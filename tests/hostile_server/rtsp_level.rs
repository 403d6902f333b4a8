//! Hostile behaviours of the RTSP conversation itself: status lines,
//! headers, bodies, CSeq, Transport, authentication, redirects, SDP.
//! Each row: the stage it strikes at, the server's reply, and the outcome
//! and bound for the player and the publisher.

use crate::common::{RawRequest, Reply, interleaved_frame, rtsp_response};

use super::script::{
    AFTER_GRACE, AT_ONCE, AT_TIMEOUT, Behaviour, Code, SDP, SESSION, Stage, describe_answer, error,
    normal, play_then, plays, reply_to,
};

/// Bytes that stream out `chunk` bytes of `fill` `count` times, one chunk
/// per millisecond, after `head` (an endless header line, without holding
/// it all in memory).
fn endless(head: Vec<u8>, fill: u8, chunk: usize, count: usize) -> Reply {
    let mut sent = 0;
    Reply::SendThenStream(
        head,
        std::time::Duration::from_millis(1),
        Box::new(move || {
            sent += 1;
            (sent <= count).then(|| vec![fill; chunk])
        }),
    )
}

/// `answer` with invalid UTF-8 in the reason phrase, a header name and a
/// header value (the body, if any, is untouched).
fn with_invalid_utf8(answer: Vec<u8>) -> Vec<u8> {
    let line_end = answer.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    let mut out = answer[..line_end].to_vec();
    out.extend_from_slice(
        b" \xff\xfe\xc3\x28\r\nX-\xff\xfe: \xc0\xaf\xed\xa0\x80\xf8\x88\x80\x80\x80",
    );
    out.extend_from_slice(&answer[line_end..]);
    out
}

fn sdp_with_invalid_utf8() -> Vec<u8> {
    let mut sdp = SDP.replace("s=Hostile", "s=\u{1}").into_bytes();
    let at = sdp.windows(3).position(|w| w == b"s=\x01").unwrap_or(0);
    sdp.splice(at + 2..at + 3, b"\xff\xfe\xc3\x28".iter().copied());
    sdp.extend_from_slice(b"a=x-junk:\xc0\xaf\xed\xa0\x80\r\ni=\xf8\x88\r\n");
    sdp
}

fn digest_challenge(req: &RawRequest) -> Vec<u8> {
    let nonce = format!("nonce-{}", req.cseq());
    rtsp_response(
        req.cseq(),
        401,
        "Unauthorized",
        &[(
            "WWW-Authenticate",
            &format!("Digest realm=\"hostile\", nonce=\"{nonce}\""),
        )],
        b"",
    )
}

pub static TABLE: &[Behaviour] = &[
    Behaviour {
        name: "garbage status line",
        stage: Stage::Options,
        reply: |_| Reply::Send(b"GARBAGE LINE WITHOUT ANY MEANING\r\n\r\n".to_vec()),
        sticky: false,
        src: error(Code::Read, "not an RTSP response", AFTER_GRACE),
        sink: error(Code::Read, "not an RTSP response", AFTER_GRACE),
    },
    Behaviour {
        name: "binary status line",
        stage: Stage::Options,
        reply: |_| Reply::Send(b"\x00\x01\x02\xff\xfe\x80\x7f binary\r\n\x01\x02".to_vec()),
        sticky: false,
        src: error(Code::Read, "not an RTSP response", AFTER_GRACE),
        sink: error(Code::Read, "not an RTSP response", AFTER_GRACE),
    },
    Behaviour {
        name: "HTTP/1.1 status line",
        stage: Stage::Options,
        reply: |_| Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        sticky: false,
        src: error(Code::Read, "does not speak RTSP", AT_ONCE),
        sink: error(Code::Read, "does not speak RTSP", AT_ONCE),
    },
    Behaviour {
        name: "status code of four digits",
        stage: Stage::Describe,
        reply: |req| {
            Reply::Send(format!("RTSP/1.0 2000 OK\r\nCSeq: {}\r\n\r\n", req.cseq()).into())
        },
        sticky: false,
        src: error(Code::Read, "not an RTSP response", AFTER_GRACE),
        sink: error(Code::Read, "not an RTSP response", AFTER_GRACE),
    },
    Behaviour {
        name: "a header line that never ends (10 MB)",
        stage: Stage::Options,
        reply: |req| {
            let head = format!("RTSP/1.0 200 OK\r\nCSeq: {}\r\nX-Endless: ", req.cseq());
            endless(head.into_bytes(), b'a', 64 * 1024, 160)
        },
        sticky: false,
        src: error(Code::Read, "header block exceeds 65536 bytes", AT_ONCE),
        sink: error(Code::Read, "header block exceeds 65536 bytes", AT_ONCE),
    },
    Behaviour {
        name: "10 000 headers",
        stage: Stage::Options,
        reply: |req| {
            let mut answer = format!("RTSP/1.0 200 OK\r\nCSeq: {}\r\n", req.cseq());
            for i in 0..10_000 {
                answer.push_str(&format!("X-{i}: v\r\n"));
            }
            answer.push_str("\r\n");
            Reply::Send(answer.into_bytes())
        },
        sticky: false,
        src: error(Code::Read, "more than 128 headers", AT_ONCE),
        sink: error(Code::Read, "more than 128 headers", AT_ONCE),
    },
    Behaviour {
        name: "Content-Length: 99999999999",
        stage: Stage::Describe,
        reply: |req| {
            let head = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Type: application/sdp\r\n\
                 Content-Length: 99999999999\r\n\r\n",
                req.cseq()
            );
            endless(head.into_bytes(), b'v', 64 * 1024, 32)
        },
        sticky: false,
        src: error(Code::Read, "exceeds the limit of 4194304 bytes", AT_ONCE),
        sink: error(Code::Read, "exceeds the limit of 4194304 bytes", AT_ONCE),
    },
    Behaviour {
        name: "Content-Length: -5",
        stage: Stage::Options,
        reply: |req| {
            let answer = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Length: -5\r\n\r\n",
                req.cseq()
            );
            Reply::Send(answer.into_bytes())
        },
        sticky: false,
        src: error(Code::Read, "invalid Content-Length", AT_ONCE),
        sink: error(Code::Read, "invalid Content-Length", AT_ONCE),
    },
    Behaviour {
        name: "a body that never arrives",
        stage: Stage::Describe,
        reply: |req| {
            let answer = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Type: application/sdp\r\n\
                 Content-Length: 500\r\n\r\nv=0\r\n",
                req.cseq()
            );
            Reply::Send(answer.into_bytes())
        },
        sticky: false,
        src: error(Code::OpenRead, "within 2s", AT_TIMEOUT),
        sink: error(Code::OpenRead, "within 2s", AT_TIMEOUT),
    },
    Behaviour {
        name: "a body cut by the connection closing",
        stage: Stage::Describe,
        reply: |req| {
            let answer = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Length: 500\r\n\r\nv=0\r\n",
                req.cseq()
            );
            Reply::SendAndClose(answer.into_bytes())
        },
        sticky: false,
        src: error(Code::Read, "closed", AT_ONCE),
        sink: error(Code::Read, "closed", AT_ONCE),
    },
    Behaviour {
        name: "a header block that never ends",
        stage: Stage::Options,
        reply: |req| Reply::Send(format!("RTSP/1.0 200 OK\r\nCSeq: {}\r\n", req.cseq()).into()),
        sticky: false,
        src: error(Code::OpenRead, "within 2s", AT_TIMEOUT),
        sink: error(Code::OpenRead, "within 2s", AT_TIMEOUT),
    },
    Behaviour {
        name: "a one-byte-per-second drip",
        stage: Stage::Options,
        reply: |req| {
            let mut answer = normal(req).into_iter();
            Reply::SendThenStream(
                Vec::new(),
                std::time::Duration::from_secs(1),
                Box::new(move || answer.next().map(|b| vec![b])),
            )
        },
        sticky: false,
        src: error(Code::OpenRead, "within 2s", AT_TIMEOUT),
        sink: error(Code::OpenRead, "within 2s", AT_TIMEOUT),
    },
    Behaviour {
        name: "closed in the middle of the status line",
        stage: Stage::Options,
        reply: |_| Reply::SendAndClose(b"RTSP/1.0 20".to_vec()),
        sticky: false,
        src: error(Code::Read, "closed", AT_ONCE),
        sink: error(Code::Read, "closed", AT_ONCE),
    },
    Behaviour {
        name: "interleaved data before the answers (unknown channel, 0 and 65535 bytes)",
        stage: Stage::Describe,
        reply: |req| {
            let mut out = interleaved_frame(9, b"stray");
            out.extend(interleaved_frame(0, b""));
            out.extend(interleaved_frame(7, &vec![0xAB; 65_535]));
            out.extend(interleaved_frame(200, &[0x80; 12]));
            out.extend(normal(req));
            Reply::Send(out)
        },
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "malformed Transport",
        stage: Stage::Setup,
        reply: |req| {
            let answer = rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[("Transport", ";;==,,\u{1}garbage=;interleaved"), SESSION],
                b"",
            );
            Reply::Send(answer)
        },
        sticky: false,
        src: error(Code::Read, "SETUP answer refused", AT_ONCE),
        sink: error(Code::Read, "SETUP answer refused", AT_ONCE),
    },
    Behaviour {
        name: "Transport interleaved=300-301",
        stage: Stage::Setup,
        reply: |req| {
            let transport = ("Transport", "RTP/AVP/TCP;unicast;interleaved=300-301");
            Reply::Send(rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[transport, SESSION],
                b"",
            ))
        },
        sticky: false,
        src: error(Code::Read, "interleaved=300-301 is out of range", AT_ONCE),
        sink: error(Code::Read, "interleaved=300-301 is out of range", AT_ONCE),
    },
    Behaviour {
        name: "Transport interleaved=255",
        stage: Stage::Setup,
        reply: |req| {
            let transport = ("Transport", "RTP/AVP/TCP;unicast;interleaved=255");
            Reply::Send(rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[transport, SESSION],
                b"",
            ))
        },
        sticky: false,
        src: error(Code::Read, "no channel for RTCP", AT_ONCE),
        sink: error(Code::Read, "no channel for RTCP", AT_ONCE),
    },
    Behaviour {
        name: "UDP answer to a TCP SETUP (client_port=0-0)",
        stage: Stage::Setup,
        reply: |req| {
            let transport = ("Transport", "RTP/AVP;unicast;client_port=0-0");
            Reply::Send(rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[transport, SESSION],
                b"",
            ))
        },
        sticky: false,
        src: error(Code::Read, "TCP SETUP with a UDP transport", AT_ONCE),
        sink: error(Code::Read, "TCP SETUP with a UDP transport", AT_ONCE),
    },
    Behaviour {
        name: "UDP answer with ports above 65535",
        stage: Stage::Setup,
        reply: |req| {
            let transport = (
                "Transport",
                "RTP/AVP;unicast;client_port=70000-70001;server_port=99999-100000",
            );
            Reply::Send(rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[transport, SESSION],
                b"",
            ))
        },
        sticky: false,
        src: error(Code::Read, "TCP SETUP with a UDP transport", AT_ONCE),
        sink: error(Code::Read, "TCP SETUP with a UDP transport", AT_ONCE),
    },
    Behaviour {
        name: "SETUP answer without Transport",
        stage: Stage::Setup,
        reply: |req| Reply::Send(rtsp_response(req.cseq(), 200, "OK", &[SESSION], b"")),
        sticky: false,
        src: error(Code::Read, "no usable Transport header", AT_ONCE),
        // The publisher sends on the channels it asked for.
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "malformed Session",
        stage: Stage::Setup,
        reply: |req| {
            let transport = req.header("Transport").unwrap_or_default().to_string();
            let session = ("Session", ";;;timeout=\u{1}abc;timeout=-7;;");
            let answer = rtsp_response(
                req.cseq(),
                200,
                "OK",
                &[("Transport", &transport), session],
                b"",
            );
            Reply::Send(answer)
        },
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "malformed RTP-Info",
        stage: Stage::Play,
        reply: |req| {
            let info = (
                "RTP-Info",
                "url=;seq=abc;rtptime=-1,,,url=rtsp://[::;seq=99999999999;rtptime=1e9,;;;",
            );
            play_then(
                rtsp_response(req.cseq(), 200, "OK", &[info, SESSION], b""),
                |_| Some(Vec::new()),
            )
        },
        sticky: false,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "malformed CSeq",
        stage: Stage::Options,
        reply: |req| {
            let mut answer = normal(req);
            let text = String::from_utf8_lossy(&answer).replace(
                &format!("CSeq: {}\r\n", req.cseq()),
                "CSeq: abc\u{1}\r\nCSeq: \r\n",
            );
            answer = text.into_bytes();
            reply_to(req, answer)
        },
        sticky: true,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "CSeq of the previous request",
        stage: Stage::Describe,
        reply: |req| {
            let previous = req.cseq().parse::<u32>().unwrap_or(2) - 1;
            let answer = rtsp_response(&previous.to_string(), 200, "OK", &[], b"");
            Reply::Send(answer)
        },
        sticky: false,
        src: error(Code::Read, "a second time", AT_ONCE),
        sink: error(Code::Read, "a second time", AT_ONCE),
    },
    Behaviour {
        name: "duplicated CSeq",
        // At DESCRIBE/ANNOUNCE: SETUP follows at once, so the duplicate is
        // read while its answer is awaited. (rtspsink waits for caps after
        // OPTIONS, reading the connection: a duplicate there is a stray
        // response, ignored.)
        stage: Stage::Describe,
        reply: |req| {
            let mut answer = normal(req);
            answer.extend(normal(req));
            Reply::Send(answer)
        },
        sticky: false,
        src: error(Code::Read, "a second time", AT_ONCE),
        sink: error(Code::Read, "a second time", AT_ONCE),
    },
    Behaviour {
        name: "a response to a request never sent",
        stage: Stage::Options,
        reply: |req| {
            let mut answer = rtsp_response("4242", 200, "OK", &[], b"");
            answer.extend(normal(req));
            Reply::Send(answer)
        },
        sticky: false,
        src: error(Code::Read, "never sent (CSeq 4242)", AT_ONCE),
        sink: error(Code::Read, "never sent (CSeq 4242)", AT_ONCE),
    },
    Behaviour {
        name: "malformed WWW-Authenticate",
        stage: Stage::Describe,
        reply: |req| {
            let answer = rtsp_response(
                req.cseq(),
                401,
                "Unauthorized",
                &[
                    (
                        "WWW-Authenticate",
                        "Digest realm=\"x, nonce=,,,qop=\"\"\"=,",
                    ),
                    ("WWW-Authenticate", "\u{1}\u{2} ,=;\""),
                    ("WWW-Authenticate", "Basic"),
                ],
                b"",
            );
            Reply::Send(answer)
        },
        sticky: false,
        src: error(Code::NotAuthorized, "", AT_ONCE),
        sink: error(Code::NotAuthorized, "", AT_ONCE),
    },
    Behaviour {
        name: "endless 401 challenges",
        stage: Stage::Describe,
        reply: |req| Reply::Send(digest_challenge(req)),
        sticky: false,
        src: error(Code::NotAuthorized, "", AT_ONCE),
        sink: error(Code::NotAuthorized, "", AT_ONCE),
    },
    Behaviour {
        name: "redirect loop",
        stage: Stage::Describe,
        reply: |req| {
            let location = ("Location", req.uri.as_str());
            Reply::Send(rtsp_response(req.cseq(), 302, "Moved", &[location], b""))
        },
        sticky: false,
        src: error(Code::OpenRead, "redirects", AT_ONCE),
        sink: error(Code::OpenRead, "redirects", AT_ONCE),
    },
    Behaviour {
        name: "redirect to http://",
        stage: Stage::Describe,
        reply: |req| {
            let location = ("Location", "http://127.0.0.1:1/elsewhere");
            Reply::Send(rtsp_response(req.cseq(), 301, "Moved", &[location], b""))
        },
        sticky: false,
        src: error(Code::OpenRead, "redirect", AT_ONCE),
        sink: error(Code::OpenRead, "redirect", AT_ONCE),
    },
    Behaviour {
        name: "redirect to rtsps://",
        stage: Stage::Describe,
        reply: |req| {
            let location = ("Location", "rtsps://127.0.0.1:1/elsewhere");
            Reply::Send(rtsp_response(req.cseq(), 302, "Moved", &[location], b""))
        },
        sticky: false,
        // Followed (an upgrade to TLS), to a port where nothing listens.
        src: error(Code::OpenRead, "127.0.0.1:1", AT_ONCE),
        sink: error(Code::OpenRead, "127.0.0.1:1", AT_ONCE),
    },
    Behaviour {
        name: "invalid UTF-8 everywhere",
        stage: Stage::Options,
        reply: |req| {
            let answer = match req.method.as_str() {
                "DESCRIBE" => describe_answer(req, &sdp_with_invalid_utf8()),
                _ => normal(req),
            };
            reply_to(req, with_invalid_utf8(answer))
        },
        sticky: true,
        src: plays(AT_ONCE),
        sink: plays(AT_ONCE),
    },
    Behaviour {
        name: "SDP with 10 000 media sections",
        stage: Stage::Describe,
        reply: |req| {
            let mut sdp = SDP.to_string();
            for i in 0..10_000 {
                sdp.push_str(&format!("m=video 0 RTP/AVP 96\r\na=control:t{i}\r\n"));
            }
            Reply::Send(describe_answer(req, sdp.as_bytes()))
        },
        sticky: false,
        src: error(Code::Read, "more than 64 m= sections", AT_ONCE),
        sink: None,
    },
    Behaviour {
        name: "SDP with a 1 MB attribute",
        stage: Stage::Describe,
        reply: |req| {
            let mut sdp = SDP.as_bytes().to_vec();
            sdp.extend_from_slice(b"a=x-huge:");
            sdp.extend(std::iter::repeat_n(b'h', 1024 * 1024));
            sdp.extend_from_slice(b"\r\n");
            Reply::Send(describe_answer(req, &sdp))
        },
        sticky: false,
        src: error(Code::Read, "exceeds 1048576 bytes", AT_ONCE),
        sink: None,
    },
    Behaviour {
        name: "DESCRIBE answer without Content-Length, connection left open",
        stage: Stage::Describe,
        reply: |req| {
            let base = format!("{}/", req.uri.trim_end_matches('/'));
            let mut answer = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Type: application/sdp\r\n\
                 Content-Base: {base}\r\n\r\n",
                req.cseq()
            )
            .into_bytes();
            answer.extend_from_slice(SDP.as_bytes());
            Reply::Send(answer)
        },
        sticky: false,
        // The body ends after 1 s of quiet (BODY_UNTIL_CLOSE_QUIET).
        src: plays(AFTER_GRACE),
        sink: None,
    },
    Behaviour {
        name: "a partial $ frame followed by silence",
        stage: Stage::Play,
        reply: |req| {
            let mut frames = 0;
            play_then(normal(req), move |_| {
                frames += 1;
                match frames {
                    0..15 => Some(Vec::new()),
                    15 => Some(b"$\x00\x05\xdc\x80\x60\x00".to_vec()),
                    _ => None,
                }
            })
        },
        sticky: false,
        src: error(Code::Read, "did not complete it within 2s", AT_TIMEOUT),
        sink: error(Code::Read, "did not complete it within 2s", AT_TIMEOUT),
    },
];
