//! rtspsink against servers that stop answering at one stage of the
//! publishing handshake (or never answer at all), as rtsp-server-perl's
//! relay does when its SETUP handler dies on a control URL it does not
//! expect and leaves the connection open. Whatever the server does, going
//! to NULL is fast (state changes never wait on the network) and EOS ends
//! within the element's bounded waits with an error naming the request.

mod common;

use std::time::{Duration, Instant};

use common::{Control, RawRequest, Reply, ScriptedServer, rtsp_response, run_pipeline_until};
use gst::prelude::*;

/// tcp-timeout of the element under test: 2 s.
const TCP_TIMEOUT: Duration = Duration::from_secs(2);
/// The handshake must have reached the silent stage within this.
const REACH: Duration = Duration::from_secs(20);
/// "Well under a second", with room for a loaded machine.
const NULL_BOUND: Duration = Duration::from_secs(1);
/// How long the server takes to answer ANNOUNCE before a silent SETUP or
/// RECORD.
const SLOW_ANNOUNCE: Duration = Duration::from_millis(300);
/// EOS ends within tcp-timeout of the unanswered request, plus this.
const EOS_MARGIN: Duration = Duration::from_millis(1500);

fn init() {
    common::init_plugin();
}

/// The request the server leaves unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Silent {
    /// Accepts the TCP connection, answers nothing (not even OPTIONS).
    Everything,
    Announce,
    Setup,
    Record,
    Teardown,
}

impl Silent {
    /// The request to wait for before acting: the server has gone quiet.
    /// None: recording runs (TEARDOWN comes later).
    fn reached_at(self) -> Option<&'static str> {
        match self {
            Silent::Everything => Some("OPTIONS"),
            Silent::Announce => Some("ANNOUNCE"),
            Silent::Setup => Some("SETUP"),
            Silent::Record => Some("RECORD"),
            Silent::Teardown => None,
        }
    }
}

/// A RECORD server over TCP that answers everything but `silent` (and what
/// follows it on the connection), keeping the connection open.
fn server_silent_at(silent: Silent) -> ScriptedServer {
    ScriptedServer::start_with(move |req: &RawRequest| {
        let cseq = req.cseq();
        let session = ("Session", "51LE7;timeout=60");
        let method = req.method.as_str();
        let quiet = match silent {
            Silent::Everything => true,
            Silent::Announce => method == "ANNOUNCE",
            Silent::Setup => method == "SETUP",
            Silent::Record => method == "RECORD",
            Silent::Teardown => method == "TEARDOWN",
        };
        if quiet {
            // Like a server whose handler died: nothing, connection open.
            return Reply::Send(Vec::new());
        }
        let bytes = match method {
            "OPTIONS" => rtsp_response(
                cseq,
                200,
                "OK",
                &[("Public", "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN")],
                b"",
            ),
            "ANNOUNCE" => {
                if matches!(silent, Silent::Setup | Silent::Record) {
                    // A slow answer (a busy server): the bound on ANNOUNCE
                    // to RECORD as a whole then runs out before the silent
                    // request's own timeout, and its error must still name
                    // that request.
                    std::thread::sleep(SLOW_ANNOUNCE);
                }
                rtsp_response(cseq, 200, "OK", &[], b"")
            }
            "SETUP" => {
                let transport = req.header("Transport").unwrap_or_default().to_string();
                rtsp_response(cseq, 200, "OK", &[("Transport", &transport), session], b"")
            }
            "RECORD" | "TEARDOWN" => rtsp_response(cseq, 200, "OK", &[session], b""),
            _ => rtsp_response(cseq, 501, "Not Implemented", &[], b""),
        };
        Reply::Send(bytes)
    })
}

/// Live H.264 (small, cheap) into rtspsink over TCP.
fn publisher(server: &ScriptedServer) -> gst::Pipeline {
    init();
    common::parse_pipeline(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=15/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max=15 ! \
         rtph264pay config-interval=-1 ! \
         rtspsink name=sink location={} protocols=tcp tcp-timeout={}",
        server.url("/live"),
        TCP_TIMEOUT.as_micros()
    ))
}

/// Start `pipeline` and run it until the server went silent: it got the
/// request it leaves unanswered, or (TEARDOWN) the element reports that
/// recording runs.
fn run_until_silent(pipeline: &gst::Pipeline, server: &ScriptedServer, silent: Silent) {
    let outcome = match silent.reached_at() {
        Some(method) => common::wait_until(pipeline, REACH, || {
            server.methods().iter().any(|m| m == method)
        }),
        None => run_pipeline_until(pipeline, REACH, |msg| match msg.view() {
            gst::MessageView::Progress(progress)
                if progress.get().0 == gst::ProgressType::Complete
                    && progress.get().1 == "open" =>
            {
                Control::Stop
            }
            _ => Control::Continue,
        }),
    };
    assert!(
        outcome.is_stopped(),
        "the server never went silent at {silent:?} ({outcome:?}); requests: {:?}",
        server.methods()
    );
}

/// Set NULL and measure how long the change takes (bounded by 10 s so a
/// hang is reported, not waited for forever).
fn time_to_null(pipeline: &gst::Pipeline) -> Duration {
    let started = Instant::now();
    let _ = pipeline.set_state(gst::State::Null);
    let (result, state, _) = pipeline.state(gst::ClockTime::from_seconds(10));
    let took = started.elapsed();
    assert!(result.is_ok(), "NULL failed: {result:?}");
    assert_eq!(state, gst::State::Null);
    took
}

fn null_is_fast(silent: Silent) {
    let server = server_silent_at(silent);
    let pipeline = publisher(&server);
    run_until_silent(&pipeline, &server, silent);
    let took = time_to_null(&pipeline);
    eprintln!(
        "silent at {silent:?}: NULL took {took:?}; requests {:?}",
        server.methods()
    );
    assert!(took <= NULL_BOUND, "NULL took {took:?}");
    if matches!(silent, Silent::Record | Silent::Teardown) {
        // A session exists: TEARDOWN still goes out, in the background.
        assert!(
            server
                .wait_for_method("TEARDOWN", TCP_TIMEOUT + Duration::from_secs(1))
                .is_some(),
            "no TEARDOWN after NULL: {:?}",
            server.methods()
        );
    }
}

/// What ended the run after EOS was sent.
enum Ended {
    Eos,
    Error {
        error: gst::glib::Error,
        from_sink: bool,
        details: Option<gst::Structure>,
    },
}

/// Send EOS once the server went silent; returns what ended the run and
/// the requests the server got.
fn eos_is_bounded(silent: Silent) -> (Ended, Vec<String>) {
    let server = server_silent_at(silent);
    let pipeline = publisher(&server);
    run_until_silent(&pipeline, &server, silent);
    // The unanswered request's timeout runs from here (give or take the
    // 20 ms bus polling of wait_until).
    let started = Instant::now();
    assert!(pipeline.send_event(gst::event::Eos::new()));
    let sent = started.elapsed();
    assert!(sent <= NULL_BOUND, "sending EOS took {sent:?}");
    let sink = pipeline.by_name("sink").unwrap();
    let mut ended = None;
    let bound = TCP_TIMEOUT + EOS_MARGIN;
    let outcome = run_pipeline_until(&pipeline, bound + Duration::from_secs(10), |msg| {
        match msg.view() {
            gst::MessageView::Eos(_) => ended = Some(Ended::Eos),
            gst::MessageView::Error(err) => {
                ended = Some(Ended::Error {
                    error: err.error(),
                    from_sink: msg.src() == Some(sink.upcast_ref()),
                    details: err.details().map(|d| d.to_owned()),
                })
            }
            _ => return Control::Continue,
        }
        Control::Stop
    });
    let took = started.elapsed();
    eprintln!(
        "silent at {silent:?}: EOS ended after {took:?} ({outcome:?}); requests {:?}",
        server.methods()
    );
    let ended = ended.unwrap_or_else(|| panic!("EOS neither ended nor failed: {outcome:?}"));
    assert!(took <= bound, "EOS took {took:?} (bound {bound:?})");
    let null = time_to_null(&pipeline);
    assert!(null <= NULL_BOUND, "NULL after the end took {null:?}");
    (ended, server.methods())
}

/// The application sends EOS, then gives up waiting and goes to NULL:
/// both calls return at once. A live source's EOS waits for its streaming
/// thread while the pipeline's state lock is held, so a thread held in the
/// sink until the server answers would hold the NULL behind it too.
fn eos_then_null_is_fast(silent: Silent) {
    let server = server_silent_at(silent);
    let pipeline = publisher(&server);
    run_until_silent(&pipeline, &server, silent);
    let started = Instant::now();
    assert!(pipeline.send_event(gst::event::Eos::new()));
    let sent = started.elapsed();
    let null = time_to_null(&pipeline);
    eprintln!(
        "silent at {silent:?}: EOS sent in {sent:?}, then NULL in {null:?}; requests {:?}",
        server.methods()
    );
    assert!(sent + null <= NULL_BOUND, "EOS {sent:?} + NULL {null:?}");
}

/// An error posted by rtspsink while opening the session for writing, on
/// `method`, without an RTSP status (none came).
fn assert_open_write_error(ended: Ended, method: &str) {
    let Ended::Error {
        error,
        from_sink,
        details,
    } = ended
    else {
        panic!("EOS instead of an error");
    };
    eprintln!("error: {error} {details:?}");
    assert!(from_sink, "the first error is not rtspsink's: {error}");
    assert!(
        error.matches(gst::ResourceError::OpenWrite),
        "not OPEN_WRITE: {error}"
    );
    let details = details.expect("error details");
    assert_eq!(
        details.get::<String>("method").ok().as_deref(),
        Some(method),
        "{details}"
    );
    assert!(!details.has_field("rtsp-status-code"), "{details}");
}

#[test]
fn null_is_fast_when_nothing_is_answered() {
    null_is_fast(Silent::Everything);
}

#[test]
fn null_is_fast_when_announce_is_not_answered() {
    null_is_fast(Silent::Announce);
}

#[test]
fn null_is_fast_when_setup_is_not_answered() {
    null_is_fast(Silent::Setup);
}

#[test]
fn null_is_fast_when_record_is_not_answered() {
    null_is_fast(Silent::Record);
}

#[test]
fn null_is_fast_when_teardown_is_not_answered() {
    null_is_fast(Silent::Teardown);
}

#[test]
fn eos_fails_in_time_when_nothing_is_answered() {
    let (ended, _) = eos_is_bounded(Silent::Everything);
    assert_open_write_error(ended, "OPTIONS");
}

#[test]
fn eos_fails_in_time_when_announce_is_not_answered() {
    let (ended, _) = eos_is_bounded(Silent::Announce);
    assert_open_write_error(ended, "ANNOUNCE");
}

#[test]
fn eos_fails_in_time_when_setup_is_not_answered() {
    let (ended, _) = eos_is_bounded(Silent::Setup);
    assert_open_write_error(ended, "SETUP");
}

#[test]
fn eos_fails_in_time_when_record_is_not_answered() {
    let (ended, _) = eos_is_bounded(Silent::Record);
    assert_open_write_error(ended, "RECORD");
}

/// Everything was published: an unanswered TEARDOWN (ffmpeg's listen mode
/// closes without answering, a dead handler never does) still ends in EOS,
/// after at most tcp-timeout.
#[test]
fn eos_ends_in_time_when_teardown_is_not_answered() {
    let (ended, methods) = eos_is_bounded(Silent::Teardown);
    assert!(matches!(ended, Ended::Eos), "an error instead of EOS");
    assert!(methods.iter().any(|m| m == "TEARDOWN"), "{methods:?}");
}

#[test]
fn eos_then_null_is_fast_when_nothing_is_answered() {
    eos_then_null_is_fast(Silent::Everything);
}

#[test]
fn eos_then_null_is_fast_when_announce_is_not_answered() {
    eos_then_null_is_fast(Silent::Announce);
}

#[test]
fn eos_then_null_is_fast_when_setup_is_not_answered() {
    eos_then_null_is_fast(Silent::Setup);
}

#[test]
fn eos_then_null_is_fast_when_record_is_not_answered() {
    eos_then_null_is_fast(Silent::Record);
}

#[test]
fn eos_then_null_is_fast_when_teardown_is_not_answered() {
    eos_then_null_is_fast(Silent::Teardown);
}
