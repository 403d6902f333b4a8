//! Credentials never leak: playing and publishing with a user and password
//! (in the URL and in `user-id`/`user-pw`, against Basic and Digest mounts,
//! after a redirect, with a wrong password and against a port nobody
//! listens on) leave the password nowhere in the `GST_DEBUG=*:9` log, the
//! bus messages, the errors, `stats`, the properties read back or the URI
//! handler's answer.
//!
//! Each case runs the element in a child process (this test binary again,
//! [`child_process`]) with `GST_DEBUG=*:9` and `GST_DEBUG_FILE`: the
//! gst-rtsp-server that checks the password runs in the parent, so its own
//! logging (which does show what it was configured with) cannot be
//! mistaken for the client's, and the log is the one a user would attach
//! to a bug report. The child writes everything else it observed to a
//! report file; the parent scans both, and the child's stdout and stderr,
//! for every form the password takes on the way: as given, percent-encoded,
//! as GStreamer serialises it in structures, base64 in a Basic
//! `Authorization` header, and the Digest HA1 (password-equivalent).
//!
//! Hex dumps (`MEMDUMP`) are put back together per thread before they are
//! searched, so a header dumped across lines is found too.

mod common;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::server::{AuthScheme, Mount, PASSWORD, REALM, TestServer, USER, launch, paths};
use common::{Reply, ScriptedServer, rtsp_response, wait_for};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use md5::{Digest, Md5};

/// Names the file describing the case, for the child.
const CASE_ENV: &str = "RTSPCLIENT_CREDENTIAL_HYGIENE_CASE";
/// A wrong password that is just as distinctive as the right one.
const WRONG_PASSWORD: &str = "n0t-the-p@ss w0rd";
/// Bound on one child run, GStreamer start-up at log level 9 included.
const CHILD_DEADLINE: Duration = Duration::from_secs(90);
/// Bound on the child's pipeline run.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// RTP packets the player must receive before the case counts as played.
const PACKETS_TO_PLAY: u64 = 20;
/// Frames published per case.
const FRAMES_TO_PUBLISH: u32 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Play,
    Publish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Played packets, or published everything up to EOS.
    Success,
    /// An error that is `ResourceError::NotAuthorized`.
    NotAuthorized,
    /// Any error (the connection is refused).
    Error,
}

/// One run of the element. The location is set in the launch line (as
/// `gst-launch-1.0` does) and set again once the element is in the
/// pipeline, where the deep-notify watch (`gst-launch-1.0 -v`'s) turns
/// every property change into a bus message; `user-id`/`user-pw` likewise.
struct Case {
    role: Role,
    location: String,
    user_id: Option<String>,
    user_pw: Option<String>,
    expect: Expect,
}

impl Case {
    fn to_file(&self, path: &Path) {
        let role = match self.role {
            Role::Play => "play",
            Role::Publish => "publish",
        };
        let mut text = format!("role\t{role}\nlocation\t{}\n", self.location);
        if let Some(user) = &self.user_id {
            text.push_str(&format!("user-id\t{user}\n"));
        }
        if let Some(pw) = &self.user_pw {
            text.push_str(&format!("user-pw\t{pw}\n"));
        }
        fs::write(path, text).expect("write the case file");
    }

    fn from_file(path: &str) -> Case {
        let text = fs::read_to_string(path).expect("read the case file");
        let fields: HashMap<&str, &str> = text
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .collect();
        Case {
            role: match fields["role"] {
                "play" => Role::Play,
                _ => Role::Publish,
            },
            location: fields["location"].to_string(),
            user_id: fields.get("user-id").map(|s| s.to_string()),
            user_pw: fields.get("user-pw").map(|s| s.to_string()),
            // The child reports what happened; the parent judges it.
            expect: Expect::Error,
        }
    }
}

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

fn auth_server() -> TestServer {
    TestServer::builder()
        .mount(Mount::play(paths::BASIC_H264, launch::h264_video(0)).auth(AuthScheme::Basic))
        .mount(Mount::play(paths::DIGEST_H264, launch::h264_video(0)).auth(AuthScheme::Digest))
        .mount(Mount::record(paths::BASIC_RECORD, 1).auth(AuthScheme::Basic))
        .mount(Mount::record(paths::DIGEST_RECORD, 1).auth(AuthScheme::Digest))
        .start()
}

fn mount_path(role: Role, scheme: AuthScheme) -> &'static str {
    match (role, scheme) {
        (Role::Play, AuthScheme::Basic) => paths::BASIC_H264,
        (Role::Play, AuthScheme::Digest) => paths::DIGEST_H264,
        (Role::Publish, AuthScheme::Basic) => paths::BASIC_RECORD,
        (Role::Publish, AuthScheme::Digest) => paths::DIGEST_RECORD,
    }
}

/// Against the auth mounts: the password in the URL or in the properties.
fn against_mount(role: Role, scheme: AuthScheme, in_url: bool, password: &str, expect: Expect) {
    let server = auth_server();
    let path = mount_path(role, scheme);
    let case = if in_url {
        Case {
            role,
            location: server.url_with_userinfo(path, USER, &percent_encode(password)),
            user_id: None,
            user_pw: None,
            expect,
        }
    } else {
        Case {
            role,
            location: server.url(path),
            user_id: Some(USER.to_string()),
            user_pw: Some(password.to_string()),
            expect,
        }
    };
    let recorded = server.record_stats(path);
    if recorded.is_some() {
        // The RECORD media finishes decoding what arrived before TEARDOWN
        // takes it down.
        let mounts = server.server().mount_points().unwrap();
        mounts.match_(path).0.set_eos_shutdown(true);
    }
    run_case(&case, password);
    if let (Expect::Success, Some(recorded)) = (expect, recorded) {
        assert!(
            wait_for(Duration::from_secs(10), || recorded.stream(0).count() > 0),
            "the server decoded nothing of what was published"
        );
    }
}

#[test]
fn play_basic_password_in_url() {
    against_mount(
        Role::Play,
        AuthScheme::Basic,
        true,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn play_basic_password_in_properties() {
    against_mount(
        Role::Play,
        AuthScheme::Basic,
        false,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn play_digest_password_in_url() {
    against_mount(
        Role::Play,
        AuthScheme::Digest,
        true,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn play_digest_password_in_properties() {
    against_mount(
        Role::Play,
        AuthScheme::Digest,
        false,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn publish_basic_password_in_url() {
    against_mount(
        Role::Publish,
        AuthScheme::Basic,
        true,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn publish_basic_password_in_properties() {
    against_mount(
        Role::Publish,
        AuthScheme::Basic,
        false,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn publish_digest_password_in_url() {
    against_mount(
        Role::Publish,
        AuthScheme::Digest,
        true,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn publish_digest_password_in_properties() {
    against_mount(
        Role::Publish,
        AuthScheme::Digest,
        false,
        PASSWORD,
        Expect::Success,
    );
}

#[test]
fn play_wrong_password_basic_in_url() {
    let expect = Expect::NotAuthorized;
    against_mount(Role::Play, AuthScheme::Basic, true, WRONG_PASSWORD, expect);
}

#[test]
fn play_wrong_password_digest_in_properties() {
    let expect = Expect::NotAuthorized;
    against_mount(
        Role::Play,
        AuthScheme::Digest,
        false,
        WRONG_PASSWORD,
        expect,
    );
}

#[test]
fn publish_wrong_password_digest_in_url() {
    let expect = Expect::NotAuthorized;
    against_mount(
        Role::Publish,
        AuthScheme::Digest,
        true,
        WRONG_PASSWORD,
        expect,
    );
}

#[test]
fn publish_wrong_password_basic_in_properties() {
    let expect = Expect::NotAuthorized;
    against_mount(
        Role::Publish,
        AuthScheme::Basic,
        false,
        WRONG_PASSWORD,
        expect,
    );
}

/// Nobody listens: the password is in the URL and in the properties.
fn refused(role: Role) {
    common::init();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().unwrap().port()
    };
    let case = Case {
        role,
        location: format!(
            "rtsp://{USER}:{}@127.0.0.1:{port}/refused",
            percent_encode(PASSWORD)
        ),
        user_id: Some(USER.to_string()),
        user_pw: Some(PASSWORD.to_string()),
        expect: Expect::Error,
    };
    run_case(&case, PASSWORD);
}

#[test]
fn play_connection_refused() {
    refused(Role::Play);
}

#[test]
fn publish_connection_refused() {
    refused(Role::Publish);
}

/// A server that redirects every request to the Basic mount, with the
/// credentials in the redirect's `Location`.
fn redirected(role: Role) {
    let server = auth_server();
    let path = mount_path(role, AuthScheme::Basic);
    let target = server.url_with_userinfo(path, USER, &percent_encode(PASSWORD));
    let redirector = ScriptedServer::start_with(move |req| {
        Reply::Send(rtsp_response(
            req.cseq(),
            302,
            "Moved Temporarily",
            &[("Location", target.as_str())],
            b"",
        ))
    });
    let case = Case {
        role,
        location: redirector.url("/moved"),
        user_id: None,
        user_pw: None,
        expect: Expect::Success,
    };
    run_case(&case, PASSWORD);
    assert!(redirector.connections() > 0, "the redirector was not asked");
}

#[test]
fn play_redirect_with_credentials() {
    redirected(Role::Play);
}

#[test]
fn publish_redirect_with_credentials() {
    redirected(Role::Publish);
}

/// The scanner itself: it finds every form in plain lines, escaped
/// structure fields and hex dumps split over lines and interleaved with
/// another thread's.
#[test]
fn scanner_finds_every_form() {
    common::init();
    let forms = Forms::of(USER, PASSWORD);
    let basic = base64(format!("{USER}:{PASSWORD}").as_bytes());
    let serialized = PASSWORD.to_value().serialize().unwrap().to_string();
    let mut dump = Vec::new();
    let header = format!("Authorization: Basic {basic}\r\n");
    for (row, chunk) in header.as_bytes().chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        dump.push(format!(
            "0:00:01.000000000 1 0x1 MEMDUMP x a.c:1:f:<o> {:08x}: {:<48} ........",
            row * 16,
            hex.join(" ")
        ));
        dump.push("0:00:01.000000000 1 0x2 LOG x a.c:1:f:<o> unrelated".to_string());
    }
    for lines in [
        vec![format!("0:00:01.0 1 0x1 DEBUG x a.c:1:f: {PASSWORD}")],
        vec![format!("s, location=(string){serialized};")],
        vec![format!("x {} y", percent_encode(PASSWORD))],
        vec![format!("x {} y", forms.ha1)],
        dump,
    ] {
        let mut scan = Scan::new(&forms, "synthetic");
        for line in &lines {
            scan.line(line);
        }
        assert!(!scan.finish().is_empty(), "not found in {lines:#?}");
    }
    let mut scan = Scan::new(&forms, "synthetic");
    scan.line("0:00:01.0 1 0x1 DEBUG x a.c:1:f: Connecting to rtsp://127.0.0.1/x");
    assert!(scan.finish().is_empty());
}

// ---------------------------------------------------------------------------
// The parent: run the child, then search what it left
// ---------------------------------------------------------------------------

fn run_case(case: &Case, password: &str) {
    common::init();
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!(
        "rtspclient-credential-hygiene-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("case")
            .replace("::", "-")
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the case directory");
    let (case_file, log, report) = (dir.join("case"), dir.join("gst.log"), dir.join("report"));
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    case.to_file(&case_file);

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_ENV, &case_file)
        .env("GST_DEBUG", "*:9")
        .env("GST_DEBUG_FILE", &log)
        .env("GST_DEBUG_NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .expect("start the child");
    let mut status = None;
    wait_for(CHILD_DEADLINE, || {
        status = child.try_wait().expect("wait for the child");
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child did not finish within {CHILD_DEADLINE:?}; see {dir:?}");
    };
    let report_text = fs::read_to_string(&report).unwrap_or_default();
    assert!(
        status.success(),
        "the child failed ({status}); see {dir:?}\n{report_text}\n{}",
        fs::read_to_string(&stderr).unwrap_or_default()
    );

    let forms = Forms::of(USER, password);
    let mut leaks = Vec::new();
    let mut levels = HashMap::new();
    let category = match case.role {
        Role::Play => " rtspsrc2 ",
        Role::Publish => " rtspsink ",
    };
    let mut category_seen = false;
    for (file, what) in [
        (&log, "debug log"),
        (&report, "bus/properties report"),
        (&stdout, "stdout"),
        (&stderr, "stderr"),
    ] {
        let mut scan = Scan::new(&forms, what);
        let reader = BufReader::new(File::open(file).expect("open a child output"));
        for line in reader.split(b'\n') {
            let line = line.expect("read a child output");
            let line = String::from_utf8_lossy(&line);
            if file == &log
                && let Some(level) = line.split_whitespace().nth(3)
            {
                *levels.entry(level.to_string()).or_insert(0u64) += 1;
                category_seen |= line.contains(category);
            }
            if file == &log && logged_by_gst_parse(&line) {
                continue;
            }
            scan.line(&line);
        }
        leaks.extend(scan.finish());
    }
    // The log really is everything at level 9: the element's own
    // category and the lowest levels are there.
    for level in ["DEBUG", "LOG", "TRACE"] {
        assert!(
            levels.contains_key(level),
            "no {level} lines in the log: {levels:?}"
        );
    }
    assert!(category_seen, "no{category}lines in the log");

    assert!(
        leaks.is_empty(),
        "the password leaked ({} places, first ones below); see {dir:?}\n{}",
        leaks.len(),
        leaks
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    check_outcome(case, &report_text, &dir);
    eprintln!(
        "{:?} {:?}: {} log lines scanned in {:.1?}",
        case.role,
        case.expect,
        levels.values().sum::<u64>(),
        started.elapsed()
    );
    let _ = fs::remove_dir_all(&dir);
}

/// GStreamer core's own log lines of `gst_parse_launch()` (1.22): it logs
/// the whole description at INFO, and the lexer and unescaper each
/// property assignment at DEBUG, so a location with credentials in a
/// launch line (`gst-launch-1.0 rtspsrc2 location=rtsp://u:pw@...`) is in
/// every `GST_DEBUG=GST_PIPELINE:5` log, whatever the element does. Only
/// these exact messages are skipped, and only for the location: the cases
/// put it in the launch line on purpose, as `gst-launch-1.0` users do.
fn logged_by_gst_parse(line: &str) -> bool {
    [
        ":gst_parse_launch_full: parsing pipeline description '",
        ":priv_gst_parse_yylex: flex: ASSIGNMENT: location=",
        ":gst_parse_unescape: unescaping rtsp://",
    ]
    .iter()
    .any(|message| line.contains(message))
}

/// The child did what the case is about: a case that should play and
/// played nothing would prove nothing.
fn check_outcome(case: &Case, report: &str, dir: &Path) {
    let outcome = report
        .lines()
        .find_map(|l| l.strip_prefix("outcome: "))
        .unwrap_or("none");
    let ok = match (case.expect, case.role) {
        (Expect::Success, Role::Play) => outcome == "played",
        (Expect::Success, Role::Publish) => outcome == "eos",
        (Expect::NotAuthorized, _) => outcome == "error not-authorized",
        (Expect::Error, _) => outcome.starts_with("error"),
    };
    assert!(
        ok,
        "expected {:?}, the child reports '{outcome}'; see {dir:?}\n{report}",
        case.expect
    );
    // The notify path of `gst-launch-1.0 -v` was exercised.
    assert!(
        report.contains("property-notify location ="),
        "no notify for location:\n{report}"
    );
    // `user-pw` is write-only, and GObject does not notify those at all.
    assert!(
        report.contains(" user-pw (not readable);") && !report.contains("property-notify user-pw"),
        "user-pw is readable or notified:\n{report}"
    );
}

/// Every form the password can take on its way to the server.
struct Forms {
    needles: Vec<(&'static str, String)>,
    ha1: String,
}

impl Forms {
    fn of(user: &str, password: &str) -> Forms {
        let ha1: String = Md5::digest(format!("{user}:{REALM}:{password}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let serialized = password.to_value().serialize().unwrap().to_string();
        let serialized = serialized.trim_matches('"').to_string();
        let needles = vec![
            ("password", password.to_string()),
            ("percent-encoded password", percent_encode(password)),
            (
                "percent-encoded password (lowercase hex)",
                percent_encode(password).to_lowercase(),
            ),
            ("password as GStreamer serialises it", serialized),
            (
                "Basic credentials (base64)",
                base64(format!("{user}:{password}").as_bytes()),
            ),
            ("password in base64", base64(password.as_bytes())),
            ("Digest HA1", ha1.clone()),
            ("Digest HA1 (uppercase)", ha1.to_uppercase()),
        ];
        Forms { needles, ha1 }
    }

    fn found_in(&self, haystack: &str) -> Option<&'static str> {
        self.needles
            .iter()
            .find(|(_, needle)| haystack.contains(needle.as_str()))
            .map(|(what, _)| *what)
    }
}

/// Searches one output line by line; hex dump rows are collected per
/// thread (third column of a GStreamer log line) and searched as a whole.
struct Scan<'a> {
    forms: &'a Forms,
    what: &'static str,
    line_no: usize,
    dumps: HashMap<String, (usize, Vec<u8>)>,
    leaks: Vec<String>,
}

impl<'a> Scan<'a> {
    fn new(forms: &'a Forms, what: &'static str) -> Self {
        Scan {
            forms,
            what,
            line_no: 0,
            dumps: HashMap::new(),
            leaks: Vec::new(),
        }
    }

    fn line(&mut self, line: &str) {
        self.line_no += 1;
        // Escapes (`\ `, `\@`) of serialised structures removed too.
        let unescaped = line.contains('\\').then(|| line.replace('\\', ""));
        for text in [Some(line), unescaped.as_deref()].into_iter().flatten() {
            if let Some(form) = self.forms.found_in(text) {
                self.leaks.push(format!(
                    "{} line {}: {form}: {line}",
                    self.what, self.line_no
                ));
                break;
            }
        }
        let thread = line.split_whitespace().nth(2).unwrap_or("").to_string();
        match dump_row(line) {
            Some((0, bytes)) => {
                if let Some(previous) = self.dumps.insert(thread, (self.line_no, bytes)) {
                    self.check_dump(previous);
                }
            }
            Some((_, bytes)) => self
                .dumps
                .entry(thread)
                .or_insert((self.line_no, Vec::new()))
                .1
                .extend(bytes),
            None => {}
        }
    }

    fn check_dump(&mut self, (first_line, bytes): (usize, Vec<u8>)) {
        if let Some(form) = self.forms.found_in(&String::from_utf8_lossy(&bytes)) {
            self.leaks.push(format!(
                "{} hex dump from line {first_line}: {form}",
                self.what
            ));
        }
    }

    fn finish(mut self) -> Vec<String> {
        for dump in std::mem::take(&mut self.dumps).into_values() {
            self.check_dump(dump);
        }
        self.leaks
    }
}

/// The offset and bytes of a `gst_util_dump_mem` row
/// (`00000010: 41 75 74 68 ...  Auth...`), as `GST_MEMDUMP` logs them.
fn dump_row(line: &str) -> Option<(usize, Vec<u8>)> {
    let mut tokens = line.split_whitespace();
    let offset = tokens.find_map(|t| {
        let hex = t.strip_suffix(':')?;
        (hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| usize::from_str_radix(hex, 16).ok())
            .flatten()
    })?;
    let bytes: Vec<u8> = tokens
        .take(16)
        .map_while(|t| {
            (t.len() == 2 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                .then(|| u8::from_str_radix(t, 16).ok())
                .flatten()
        })
        .collect();
    (!bytes.is_empty()).then_some((offset, bytes))
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Standard base64 with padding, written here so that the needle does not
/// come from the code under test.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The child: run the element and write down everything it showed
// ---------------------------------------------------------------------------

/// Runs only in the child process the other tests start.
#[test]
#[ignore = "the child process of the other tests"]
fn child_process() {
    let Ok(case_file) = std::env::var(CASE_ENV) else {
        return;
    };
    let case = Case::from_file(&case_file);
    let report_path = PathBuf::from(&case_file).with_file_name("report");
    let mut report = File::create(&report_path).expect("create the report");
    let mut note = |text: String| {
        writeln!(report, "{text}").expect("write the report");
    };
    common::init_plugin();

    let (launch_line, element_name) = match case.role {
        Role::Play => (
            format!("rtspsrc2 name=el location=\"{}\"", case.location),
            "el",
        ),
        Role::Publish => (
            format!(
                "videotestsrc is-live=true num-buffers={FRAMES_TO_PUBLISH} pattern=ball ! {} ! \
                 x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 threads=1 ! \
                 rtspsink name=el location=\"{}\"",
                launch::VIDEO_CAPS,
                case.location
            ),
            "el",
        ),
    };
    let parsed = gst::parse::launch(&launch_line).expect("parse the launch line");
    // A launch line of one element gives that element alone.
    let pipeline = parsed
        .clone()
        .downcast::<gst::Pipeline>()
        .unwrap_or_else(|_| {
            let pipeline = gst::Pipeline::new();
            pipeline.add(&parsed).unwrap();
            pipeline
        });
    let element = pipeline.by_name(element_name).expect("the element");
    // What `gst-launch-1.0 -v` adds: every property change as a bus
    // message, with its value.
    let _watch = pipeline.add_property_deep_notify_watch(None, true);
    element.set_property("location", &case.location);
    if let Some(user) = &case.user_id {
        element.set_property("user-id", user);
    }
    if let Some(pw) = &case.user_pw {
        element.set_property("user-pw", pw);
    }

    let packets = Arc::new(AtomicU64::new(0));
    if case.role == Role::Play {
        let (weak, counter) = (pipeline.downgrade(), packets.clone());
        element.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .expect("fakesink");
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
            let counter = counter.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        });
    }

    note(describe_properties(&element, "before"));
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + RUN_DEADLINE;
    let mut outcome = "timeout".to_string();
    if pipeline.set_state(gst::State::Playing).is_err() {
        outcome = "error state-change".to_string();
    }
    while outcome == "timeout" && Instant::now() < deadline {
        if packets.load(Ordering::Relaxed) >= PACKETS_TO_PLAY {
            outcome = "played".to_string();
            note(describe_properties(&element, "playing"));
            break;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            continue;
        };
        note(describe_message(&msg));
        match msg.view() {
            gst::MessageView::Eos(_) => outcome = "eos".to_string(),
            gst::MessageView::Error(err)
                if err.error().matches(gst::ResourceError::NotAuthorized) =>
            {
                outcome = "error not-authorized".to_string()
            }
            gst::MessageView::Error(_) => outcome = "error".to_string(),
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let _ = pipeline.state(gst::ClockTime::from_seconds(5));
    while let Some(msg) = bus.pop() {
        note(describe_message(&msg));
    }
    note(describe_properties(&element, "after"));
    note(format!("outcome: {outcome}"));
}

/// The properties that could carry the credentials, `stats`, and what the
/// URI handler says.
fn describe_properties(element: &gst::Element, when: &str) -> String {
    let mut text = format!("properties {when}:");
    for pspec in element.list_properties() {
        if pspec.flags().contains(gst::glib::ParamFlags::READABLE) {
            let value = element.property_value(pspec.name());
            let shown = value
                .serialize()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| format!("{value:?}"));
            text.push_str(&format!(" {}={shown};", pspec.name()));
        } else {
            text.push_str(&format!(" {} (not readable);", pspec.name()));
        }
    }
    let handler = element.dynamic_cast_ref::<gst::URIHandler>().unwrap();
    text.push_str(&format!(" uri={:?}", handler.uri()));
    text
}

/// One bus message: its type, source and structure, and for errors,
/// warnings and infos the message, debug text and details.
fn describe_message(msg: &gst::Message) -> String {
    let mut text = format!(
        "{:?} from {}:",
        msg.type_(),
        msg.src().map(|s| s.path_string()).unwrap_or_default()
    );
    if let Some(s) = msg.structure() {
        text.push_str(&format!(" {s}"));
    }
    let detailed = |error: &gst::glib::Error,
                    debug: Option<gst::glib::GString>,
                    details: Option<&gst::StructureRef>| {
        format!(
            " message={error} debug={debug:?} details={:?}",
            details.map(|d| d.to_string())
        )
    };
    match msg.view() {
        gst::MessageView::Error(e) => text.push_str(&detailed(&e.error(), e.debug(), e.details())),
        gst::MessageView::Warning(w) => {
            text.push_str(&detailed(&w.error(), w.debug(), w.details()))
        }
        gst::MessageView::Info(i) => text.push_str(&detailed(&i.error(), i.debug(), i.details())),
        gst::MessageView::PropertyNotify(p) => {
            let (object, name, value) = p.get();
            let shown = match value {
                Some(v) => format!(
                    "= {}",
                    v.serialize()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|_| format!("{v:?}"))
                ),
                None => "(not readable)".to_string(),
            };
            text.push_str(&format!(
                " property-notify {name} {shown} on {}",
                object.path_string()
            ));
        }
        _ => {}
    }
    text
}
