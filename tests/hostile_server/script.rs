//! The scripted hostile server and the runner of one behaviour.
//!
//! A behaviour is a stage of the session (the first request, DESCRIBE or
//! ANNOUNCE, SETUP, PLAY or RECORD) at which the server answers with a
//! hostile reply, every other request getting a normal answer, plus what
//! each element must do about it ([`Expect`]) and within which bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

use crate::common::{self, RawRequest, Reply, ScriptedServer, interleaved_frame, rtsp_response};

/// `tcp-timeout` of the elements under test: the bound of every
/// behaviour that ends at a response or completion timeout.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(2);
/// A password set on every element: no error may contain it.
pub const PASSWORD: &str = "h0stile-s3cret";
/// Scheduling slack added to every bound (two cores, many pipelines).
pub const SLACK: Duration = Duration::from_millis(1500);
/// Bound of an error the element must post "at once": no timer involved.
pub const AT_ONCE: Duration = Duration::from_millis(500);
/// Bound of an error after the 1 s garbage grace (GARBAGE_ANSWER_WAIT).
pub const AFTER_GRACE: Duration = Duration::from_millis(1000 + 500);
/// Bound of an error at the response or completion timeout.
pub const AT_TIMEOUT: Duration = Duration::from_millis(2000 + 500);
/// Time between two packets of the normal stream after PLAY.
pub const TICK: Duration = Duration::from_millis(20);
/// Buffers an element under test must deliver (src) to count as playing.
pub const PLAYING_BUFFERS: u64 = 10;

/// The element under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Src,
    Sink,
}

/// The request at which the server turns hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Options,
    /// DESCRIBE (src) or ANNOUNCE (sink).
    Describe,
    Setup,
    /// PLAY (src) or RECORD (sink).
    Play,
}

impl Stage {
    fn matches(self, method: &str) -> bool {
        match self {
            Stage::Options => method == "OPTIONS",
            Stage::Describe => method == "DESCRIBE" || method == "ANNOUNCE",
            Stage::Setup => method == "SETUP",
            Stage::Play => method == "PLAY" || method == "RECORD",
        }
    }
}

/// The error domain and code expected, for the player; the publisher's
/// read codes are the write ones (README, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Read,
    OpenRead,
    NotAuthorized,
}

impl Code {
    fn matches(self, error: &glib::Error, role: Role) -> bool {
        use gst::ResourceError as R;
        match (self, role) {
            (Code::Read, Role::Src) => error.matches(R::Read),
            (Code::Read, Role::Sink) => error.matches(R::Write),
            (Code::OpenRead, Role::Src) => error.matches(R::OpenRead),
            (Code::OpenRead, Role::Sink) => error.matches(R::OpenWrite),
            (Code::NotAuthorized, _) => error.matches(R::NotAuthorized),
        }
    }
}

/// What the element must do.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// An element error with this code whose text contains `fragment`,
    /// posted within `within` (+ [`SLACK`]) of starting.
    Error {
        code: Code,
        fragment: &'static str,
        within: Duration,
    },
    /// Plays (src: [`PLAYING_BUFFERS`] buffers out; sink: RECORD answered
    /// and no error for a moment after) within `within` (+ [`SLACK`]):
    /// the bad part was skipped. `stat`: a src stream statistic that must
    /// have counted the bad part.
    Plays {
        within: Duration,
        stat: Option<&'static str>,
        /// How long it must go on playing without an error once it plays.
        hold: Duration,
    },
}

pub const fn error(code: Code, fragment: &'static str, within: Duration) -> Option<Expect> {
    Some(Expect::Error {
        code,
        fragment,
        within,
    })
}

pub const fn plays(within: Duration) -> Option<Expect> {
    Some(Expect::Plays {
        within,
        stat: None,
        hold: Duration::ZERO,
    })
}

/// One hostile behaviour.
pub struct Behaviour {
    pub name: &'static str,
    pub stage: Stage,
    /// The reply to the request of `stage` (and to any later request, if
    /// `sticky`).
    pub reply: fn(&RawRequest) -> Reply,
    pub sticky: bool,
    /// None: does not apply to that element.
    pub src: Option<Expect>,
    pub sink: Option<Expect>,
}

/// The normal SDP: one H.264 stream.
pub const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Hostile\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\nm=video 0 RTP/AVP 96\r\nb=AS:500\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n";

pub const SESSION: (&str, &str) = ("Session", "h0stile;timeout=60");

/// The normal answer to `req`, as a well-behaved server gives it.
pub fn normal(req: &RawRequest) -> Vec<u8> {
    let cseq = req.cseq();
    match req.method.as_str() {
        "OPTIONS" => rtsp_response(
            cseq,
            200,
            "OK",
            &[(
                "Public",
                "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER",
            )],
            b"",
        ),
        "DESCRIBE" => describe_answer(req, SDP.as_bytes()),
        "SETUP" => {
            let transport = req.header("Transport").unwrap_or_default().to_string();
            rtsp_response(cseq, 200, "OK", &[("Transport", &transport), SESSION], b"")
        }
        _ => rtsp_response(cseq, 200, "OK", &[SESSION], b""),
    }
}

/// A DESCRIBE answer carrying `sdp`.
pub fn describe_answer(req: &RawRequest, sdp: &[u8]) -> Vec<u8> {
    let base = format!("{}/", req.uri.trim_end_matches('/'));
    rtsp_response(
        req.cseq(),
        200,
        "OK",
        &[("Content-Type", "application/sdp"), ("Content-Base", &base)],
        sdp,
    )
}

/// An RTP packet (version 2, PT 96) of `len` bytes in all (at least 12).
pub fn rtp_packet(seq: u16, len: usize) -> Vec<u8> {
    let mut packet = vec![0x80, 96];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq).wrapping_mul(3000)).to_be_bytes());
    packet.extend_from_slice(&0x0BAD_F00Du32.to_be_bytes());
    // A single NAL unit of type 1 (a non-key slice), then filler.
    packet.push(0x41);
    packet.resize(len.max(13), 0x5A);
    packet
}

/// The PLAY answer (`answer`), then one RTP packet on channel 0 every
/// [`TICK`] preceded by whatever `extra` returns for that tick (hostile
/// frames). `extra` returning `None` ends the stream (the connection stays
/// open and silent).
pub fn play_then(
    answer: Vec<u8>,
    mut extra: impl FnMut(u16) -> Option<Vec<u8>> + Send + 'static,
) -> Reply {
    let mut seq = 0u16;
    Reply::SendThenStream(
        answer,
        TICK,
        Box::new(move || {
            let mut out = extra(seq)?;
            out.extend(interleaved_frame(0, &rtp_packet(seq, 200)));
            seq = seq.wrapping_add(1);
            Some(out)
        }),
    )
}

/// `answer` as the reply to `req`: sent, and after a PLAY answer followed
/// by the normal stream.
pub fn reply_to(req: &RawRequest, answer: Vec<u8>) -> Reply {
    if req.method == "PLAY" {
        return play_then(answer, |_| Some(Vec::new()));
    }
    Reply::Send(answer)
}

/// The server's reply to `req` under `behaviour`.
fn reply(behaviour: &Behaviour, turned: &AtomicU64, req: &RawRequest) -> Reply {
    let hostile = behaviour.stage.matches(&req.method)
        || (behaviour.sticky && turned.load(Ordering::SeqCst) > 0 && req.method != "TEARDOWN");
    if hostile {
        turned.fetch_add(1, Ordering::SeqCst);
        return (behaviour.reply)(req);
    }
    reply_to(req, normal(req))
}

/// The pipeline around the element under test; `buffers` counts what the
/// player puts out.
fn pipeline(role: Role, url: &str, buffers: &Arc<AtomicU64>) -> (gst::Pipeline, gst::Element) {
    common::init_plugin();
    // Reconnection off: a stalled or broken session must show as the
    // error it is (with it on, tests/reconnect.rs shows the recovery).
    let common_props = format!(
        "name=under-test location={url} protocols=tcp tcp-timeout={} reconnect=false user-id=admin user-pw={PASSWORD}",
        TCP_TIMEOUT.as_micros()
    );
    let pipeline = match role {
        // A launch line of one element gives the element, not a pipeline.
        Role::Src => {
            let pipeline = gst::Pipeline::new();
            let src = common::tools::parse_launch(&format!("rtspsrc2 {common_props} latency=50"));
            pipeline.add(&src).expect("add rtspsrc2");
            pipeline
        }
        Role::Sink => common::parse_pipeline(&format!(
            "audiotestsrc is-live=true samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 ! \
             mulawenc ! rtppcmupay ! rtspsink {common_props}"
        )),
    };
    let element = pipeline.by_name("under-test").expect("element under test");
    if role == Role::Src {
        let (weak, counter) = (pipeline.downgrade(), buffers.clone());
        element.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .property("async", false)
                .build()
                .expect("fakesink");
            pipeline.add(&sink).expect("add fakesink");
            let _ = sink.sync_state_with_parent();
            let _ = pad.link(&sink.static_pad("sink").expect("fakesink pad"));
            let counter = counter.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            });
        });
    }
    (pipeline, element)
}

/// Runs `behaviour` against `role`; `Err` describes how it went wrong.
pub fn run(behaviour: &'static Behaviour, role: Role) -> Result<Duration, String> {
    let Some(expect) = (match role {
        Role::Src => behaviour.src,
        Role::Sink => behaviour.sink,
    }) else {
        return Ok(Duration::ZERO);
    };
    let turned = Arc::new(AtomicU64::new(0));
    let t = turned.clone();
    let server = ScriptedServer::start_with(move |req| reply(behaviour, &t, req));
    let buffers = Arc::new(AtomicU64::new(0));
    let (pipeline, element) = pipeline(role, &server.url("/hostile"), &buffers);
    let started = Instant::now();
    let result = watch(
        &pipeline, &element, role, expect, &server, &buffers, started,
    );
    let stop = Instant::now();
    common::stop_pipeline(&pipeline);
    let stopped = stop.elapsed();
    result?;
    if stopped > Duration::from_secs(2) {
        return Err(format!("going to NULL took {stopped:?}"));
    }
    if turned.load(Ordering::SeqCst) == 0 {
        return Err(format!(
            "the hostile stage was never reached; requests: {:?}",
            server.methods()
        ));
    }
    Ok(started.elapsed())
}

fn watch(
    pipeline: &gst::Pipeline,
    element: &gst::Element,
    role: Role,
    expect: Expect,
    server: &ScriptedServer,
    buffers: &AtomicU64,
    started: Instant,
) -> Result<(), String> {
    let within = match expect {
        Expect::Error { within, .. } => within + SLACK,
        Expect::Plays { within, hold, .. } => within + hold + SLACK,
    };
    // When the element was seen playing.
    let mut played: Option<Instant> = None;
    // The publisher's RECORD was answered at this time.
    let mut recording: Option<Instant> = None;
    let bus = pipeline.bus().expect("bus");
    if pipeline.set_state(gst::State::Playing).is_err() {
        return Err("PLAYING refused".into());
    }
    while started.elapsed() < within {
        if let Expect::Plays { stat, hold, .. } = expect {
            let done = match role {
                Role::Src => buffers.load(Ordering::SeqCst) >= PLAYING_BUFFERS,
                Role::Sink => {
                    if recording.is_none() && server.methods().iter().any(|m| m == "RECORD") {
                        recording = Some(Instant::now());
                    }
                    recording.is_some_and(|since| since.elapsed() > Duration::from_millis(300))
                }
            };
            if done && played.is_none() {
                played = Some(Instant::now());
            }
            if played.is_some_and(|since| since.elapsed() >= hold) {
                return check_stat(element, stat);
            }
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(10)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(err) => {
                let text = format!("{} ({:?})", err.error(), err.debug());
                let details = format!("{:?}", err.details());
                if text.contains(PASSWORD) || details.contains(PASSWORD) {
                    return Err(format!("the password leaked: {text} {details}"));
                }
                let from = err.src().map(|s| s.name().to_string()).unwrap_or_default();
                return match expect {
                    Expect::Error { code, fragment, .. }
                        if from == "under-test"
                            && code.matches(&err.error(), role)
                            && text.contains(fragment) =>
                    {
                        Ok(())
                    }
                    _ => Err(format!(
                        "unexpected error from {from} after {:?}: {text} [{details}]",
                        started.elapsed()
                    )),
                };
            }
            gst::MessageView::Eos(_) => return Err("EOS".into()),
            _ => {}
        }
    }
    Err(format!(
        "no outcome within {within:?} (buffers {}, requests {:?})",
        buffers.load(Ordering::SeqCst),
        server.methods()
    ))
}

fn check_stat(element: &gst::Element, stat: Option<&str>) -> Result<(), String> {
    let Some(stat) = stat else {
        return Ok(());
    };
    let stats = element.property::<gst::Structure>("stats");
    let count = stats
        .get::<gst::Array>("streams")
        .ok()
        .and_then(|streams| {
            streams
                .iter()
                .filter_map(|v| v.get::<gst::Structure>().ok())
                .find_map(|s| s.get::<u64>(stat).ok())
        })
        .unwrap_or(0);
    if count == 0 {
        return Err(format!("{stat} did not count the bad packets: {stats}"));
    }
    Ok(())
}

/// Runs every behaviour of `table` against `role`, `parallel` at a time;
/// panics listing every behaviour that went wrong.
pub fn run_table(table: &'static [Behaviour], role: Role, parallel: usize) {
    let mut failures = Vec::new();
    for chunk in table.chunks(parallel) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|behaviour| {
                let handle = std::thread::Builder::new()
                    .name(behaviour.name.into())
                    .spawn(move || run(behaviour, role))
                    .expect("spawn");
                (behaviour.name, handle)
            })
            .collect();
        for (name, handle) in handles {
            match handle.join() {
                Ok(Ok(_)) => {}
                Ok(Err(why)) => failures.push(format!("{name}: {why}")),
                Err(_) => failures.push(format!("{name}: the test thread panicked")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{role:?}: {} behaviour(s) went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
