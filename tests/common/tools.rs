//! What the tests need from the system, and a clear failure when it is
//! missing.
//!
//! Every GStreamer element and program a test uses comes from a Debian
//! package that `scripts/install-deps.sh` installs. A test that needs one
//! that is not there fails with the element's (or program's) name and its
//! package; no test skips itself and passes.

use std::process::{Command, Stdio};

use gst::prelude::*;

use super::{has_element, init};

const INSTALL_HINT: &str = "scripts/install-deps.sh installs every package the tests need";

/// The Debian package that provides the element factory `element`.
pub fn package_of(element: &str) -> &'static str {
    match element {
        "rtspsrc2" | "rtspsink" | "rtplightjitterbuffer" => {
            "none: this crate's plugin (tests register it with common::init_plugin)"
        }
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "rtspclientsink" => "gstreamer1.0-rtsp",
        "x265enc" | "h264parse" | "h265parse" | "voaacenc" | "faad" | "fdkaacenc" => {
            "gstreamer1.0-plugins-bad"
        }
        e if e.starts_with("avdec_") || e.starts_with("avenc_") => "gstreamer1.0-libav",
        "rtspsrc" | "udpsrc" | "udpsink" | "jpegenc" | "jpegdec" | "aacparse" | "mp4mux"
        | "qtdemux" | "matroskamux" => "gstreamer1.0-plugins-good",
        e if e.starts_with("rtp") => "gstreamer1.0-plugins-good",
        "videotestsrc" | "audiotestsrc" | "audioconvert" | "audioresample" | "videoconvert"
        | "opusenc" | "opusdec" | "decodebin" | "uridecodebin" | "playbin" | "appsrc"
        | "appsink" | "pngenc" => "gstreamer1.0-plugins-base",
        "queue" | "fakesink" | "fakesrc" | "tee" | "capsfilter" | "identity" | "filesink" => {
            "libgstreamer1.0-0"
        }
        _ => "unknown here: see the package list in scripts/install-deps.sh",
    }
}

/// The package whose decoder handles `media_type` (decodebin's choice for
/// the streams the tests send).
pub fn decoder_package(media_type: &str) -> &'static str {
    match media_type {
        "video/x-h264" | "video/x-h265" | "audio/mpeg" => "gstreamer1.0-libav",
        "audio/x-opus" => "gstreamer1.0-plugins-base",
        "image/jpeg" | "application/x-rtp" => "gstreamer1.0-plugins-good",
        _ => "unknown here: see the package list in scripts/install-deps.sh",
    }
}

fn missing_message(missing: &[String]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|e| format!("`{e}` (package {})", package_of(e)))
        .collect();
    format!(
        "GStreamer element(s) missing: {}; {INSTALL_HINT}",
        list.join(", ")
    )
}

/// Fail the test unless every element factory in `elements` exists.
pub fn require_elements(elements: &[&str]) {
    let missing: Vec<String> = elements
        .iter()
        .filter(|e| !has_element(e))
        .map(|e| e.to_string())
        .collect();
    assert!(missing.is_empty(), "{}", missing_message(&missing));
}

/// Parse a launch line; an element that does not exist fails the test
/// with its name and package, any other parse error with the line.
pub fn parse_launch(launch: &str) -> gst::Element {
    init();
    let mut context = gst::ParseContext::new();
    // Without FATAL_ERRORS the parser goes on after a missing element and
    // lists them all.
    let parsed = gst::parse::launch_full(launch, Some(&mut context), gst::ParseFlags::empty());
    let missing = context.missing_elements();
    assert!(
        missing.is_empty(),
        "{} (in '{launch}')",
        missing_message(&missing)
    );
    parsed.unwrap_or_else(|e| panic!("failed to parse '{launch}': {e}"))
}

/// Fail the test unless every element of `launch` exists (the line is
/// parsed and thrown away: for launch lines another component builds, such
/// as a server's media factory).
pub fn require_launch(launch: &str) {
    let element = parse_launch(launch);
    let _ = element.set_state(gst::State::Null);
}

/// Fail the test unless `program -version` runs (ffmpeg, ffprobe); the
/// message names the package.
pub fn require_program(program: &str, package: &str) {
    require_program_with(program, "-version", package);
}

/// Fail the test unless `program version_flag` runs (`--version` for
/// most programs); the message names the package.
pub fn require_program_with(program: &str, version_flag: &str, package: &str) {
    let runs = Command::new(program)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        runs,
        "`{program}` not found on PATH (package {package}); {INSTALL_HINT}"
    );
}

/// Print which package is missing when `decodebin` finds no decoder for a
/// stream (`unknown-type`): the test then fails on its counts or on the
/// bus error, and this line says why. `who` names the pipeline.
pub fn explain_missing_decoders(decodebin: &gst::Element, who: &str) {
    let who = who.to_string();
    decodebin.connect("unknown-type", false, move |args| {
        let media_type = args
            .get(2)
            .and_then(|v| v.get::<gst::Caps>().ok())
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default();
        eprintln!(
            "{who}: no decoder for {media_type}: install {}; {INSTALL_HINT}",
            decoder_package(&media_type)
        );
        None
    });
}
