//! Bit-exact playback: what a server payloaded, compared access unit by
//! access unit with what comes out of the depayloader behind `rtspsrc2`,
//! over TCP, UDP and UDP multicast, with either jitterbuffer; H.264 (one
//! and several slices per picture), H.265, AAC and Opus.
//!
//! The server side is captured on each payloader's sink pad (in
//! gst-rtsp-server's `media-configure`), the client side after
//! `rtph26xdepay ! video/x-h26x,stream-format=byte-stream,alignment=au`
//! or the audio depayloader. `common::access_units` takes out what RTP legitimately
//! changes (start codes, delimiters, where parameter sets travel) and
//! hashes the rest of each unit.
//!
//! Unicast medias are not shared and their sources are not live, so each
//! session gets the streams from their first frame: over TCP and UDP on
//! loopback the whole sequence must arrive unchanged, unless `rtspsrc2`'s
//! `stats` count lost packets (UDP), and then every unit that arrived must
//! still be one that was sent, in order. Multicast comes from a live
//! sender the client joins: the units must be a run of the sent ones.
//!
//! Units that compared equal also compare in time ([`timing`]): each has
//! a PTS and no DTS after it, and with `rtspsrc2`'s own jitterbuffer the
//! presentation timestamps keep the sender's spacing and order. The file
//! mount is gst-rtsp-server serving an MP4 (H.264 with B-frames) from
//! its start, which over TCP sends its first frame at PLAY and the next
//! ones ahead of it.

mod common;
mod integrity_play {
    pub mod capture;
    pub mod compare;
    pub mod media;
    pub mod player;
    pub mod timing;
}

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use common::access_units::Codec;
use common::server::{McastStream, Mount, MulticastServer, TestServer};
use common::{Outcome, parse_pipeline, stop_pipeline, wait_until};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use integrity_play::capture::{Capture, all_received};
use integrity_play::compare::{Tolerance, compare_exact, compare_tolerant};
use integrity_play::media::{ALL, Stream};
use integrity_play::player::Player;
use integrity_play::timing;

const WAIT: Duration = Duration::from_secs(30);

/// The gst-rtsp-server all unicast tests share, and its captures per
/// mount.
struct Fixture {
    server: TestServer,
    captures: Mutex<HashMap<String, Vec<Capture>>>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    common::init_plugin();
    let server = TestServer::builder().start();
    Fixture {
        server,
        captures: Mutex::new(HashMap::new()),
    }
});

impl Fixture {
    /// Mount `launch` at `path` (not shared: every session gets its own
    /// media from the first frame) and capture the input of its
    /// payloaders `pay0..` into one [`Capture`] per codec in `codecs`.
    fn mount(&self, path: &str, launch: String, codecs: &[Codec]) {
        let captures: Vec<Capture> = codecs.iter().map(|&c| Capture::new(c)).collect();
        self.captures
            .lock()
            .unwrap()
            .insert(path.to_string(), captures.clone());
        self.server
            .add_mount(Mount::play(path, launch).shared(false));
        let (factory, _) = self
            .server
            .server()
            .mount_points()
            .expect("mount points")
            .match_(path);
        factory.connect_media_configure(move |_, media| {
            let Ok(bin) = media.element().downcast::<gst::Bin>() else {
                return;
            };
            for (i, capture) in captures.iter().enumerate() {
                capture.reset();
                if let Some(pad) = bin
                    .by_name(&format!("pay{i}"))
                    .and_then(|pay| pay.static_pad("sink"))
                {
                    capture.attach(&pad);
                }
            }
        });
    }

    fn captures(&self, path: &str) -> Vec<Capture> {
        self.captures.lock().unwrap()[path].clone()
    }
}

/// Play `path` of the shared server until every stream delivered as many
/// units as were sent, then compare them.
fn play_unicast(path: &str, protocols: &str, jitterbuffer: &str, streams: &[Stream]) {
    let fixture = &*FIXTURE;
    let player = Player::new(&fixture.server.url(path), protocols, jitterbuffer, streams);
    let sent = fixture.captures(path);
    let got = player.captures.clone();
    let outcome = wait_until(&player.pipeline, WAIT, all_received(&sent, &got));
    assert!(
        matches!(outcome, Outcome::Stopped | Outcome::Timeout),
        "{protocols}/{jitterbuffer}: {outcome:?}"
    );
    let lost = player.packets_lost();
    let mut failures = player.errors();
    for (i, (s, g)) in sent.iter().zip(&got).enumerate() {
        let exact = protocols == "tcp" || lost == 0;
        let result = s.with(|s| {
            g.with(|g| {
                if s.units.is_empty() {
                    return Err("the server sent nothing".to_string());
                }
                if exact {
                    compare_exact(s, g)
                } else {
                    let tolerance = Tolerance {
                        joined_late: false,
                        losses: true,
                    };
                    compare_tolerant(s, g, tolerance).map(|_| ())
                }
            })
        });
        // Same units in the same order: their timestamps compare too.
        // Fully for ours; GStreamer's rtpjitterbuffer re-estimates its
        // skew per packet while a sender runs ahead, which swaps the
        // timestamps of B-frames at a TCP start: not ours to test.
        let result = result.and_then(|()| match (exact, jitterbuffer) {
            (true, "light") => timing::check(&s.times(), &g.times()),
            (true, _) => timing::check_basic(&g.times()),
            (false, _) => Ok(()),
        });
        if let Err(err) = result {
            failures.push(format!("stream {i} ({:?}): {err}", streams[i]));
        }
    }
    assert!(
        failures.is_empty(),
        "{protocols}/{jitterbuffer}: units sent {:?}, received {:?}, {lost} packets lost:\n{}",
        sent.iter().map(Capture::units).collect::<Vec<_>>(),
        got.iter().map(Capture::units).collect::<Vec<_>>(),
        failures.join("\n")
    );
}

/// The five streams in one media at `path`.
fn unicast_media(path: &str) {
    let launch = ALL
        .iter()
        .enumerate()
        .map(|(i, s)| s.launch(i, false))
        .collect::<Vec<_>>()
        .join(" ");
    let codecs: Vec<Codec> = ALL.iter().map(|s| s.codec()).collect();
    FIXTURE.mount(path, launch, &codecs);
}

/// The five streams over `protocols` (`tcp`, `udp`) with `jitterbuffer`.
fn unicast_matrix(protocols: &str, jitterbuffer: &str) {
    let path = format!("/all-{protocols}-{jitterbuffer}");
    unicast_media(&path);
    play_unicast(&path, protocols, jitterbuffer, &ALL);
}

#[test]
fn tcp_light_is_bit_exact() {
    unicast_matrix("tcp", "light");
}

#[test]
fn tcp_rtpjitterbuffer_is_bit_exact() {
    unicast_matrix("tcp", "rtpjitterbuffer");
}

#[test]
fn udp_light_is_bit_exact() {
    unicast_matrix("udp", "light");
}

#[test]
fn udp_rtpjitterbuffer_is_bit_exact() {
    unicast_matrix("udp", "rtpjitterbuffer");
}

/// An MP4 file made here: H.264 in `avc` form with B-frames (x264enc's
/// defaults), three GOPs of 30 frames. Written under a name of this
/// process and renamed into place, so that a run at the same time finds
/// a whole file (the comparisons are with what the server read, whoever
/// wrote it) and runs leave one file behind.
static MP4: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    common::init();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("integrity-play.mp4");
    let partial = dir.join(format!("integrity-play-{}.mp4.part", std::process::id()));
    let pipeline = parse_pipeline(&format!(
        "videotestsrc num-buffers=90 ! x264enc key-int-max=30 ! h264parse ! mp4mux ! \
         filesink location={}",
        partial.display()
    ));
    let outcome = common::run_pipeline_until(&pipeline, WAIT, |_| common::Control::Continue);
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "making the MP4 file");
    std::fs::rename(&partial, &path).expect("moving the MP4 file into place");
    path
});

/// A file removed when the test ends, passed or not.
struct Removed(std::path::PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Mount gst-rtsp-server's file mount of [`MP4`] at `path`.
fn mount_file(path: &str) {
    let launch = format!(
        "filesrc location={} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96",
        MP4.display()
    );
    FIXTURE.mount(path, launch, &[Codec::H264]);
}

/// gst-rtsp-server's file mount, played from its start.
fn file_mount(protocols: &str, jitterbuffer: &str) {
    let path = format!("/file-{protocols}-{jitterbuffer}");
    mount_file(&path);
    play_unicast(&path, protocols, jitterbuffer, &[Stream::H264]);
}

/// The README's "record a camera to MP4 without re-encoding", from the
/// file mount (B-frames, a sender running ahead at a TCP start): the
/// recording must hold every access unit the server sent. Before the
/// light jitterbuffer kept frame spacing, `mp4mux` failed on the second
/// frame ("Buffer has no PTS").
#[test]
fn tcp_light_records_a_file_mount_to_mp4_bit_exact() {
    let path = "/file-record";
    mount_file(path);
    let fixture = &*FIXTURE;
    let recording = Removed(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("integrity-record-{}.mp4", std::process::id())),
    );
    let recording = &recording.0;
    let pipeline = parse_pipeline(&format!(
        "rtspsrc2 location={} protocols=tcp jitterbuffer=light ! rtph264depay ! \
         h264parse name=parse ! mp4mux ! filesink location={}",
        fixture.server.url(path),
        recording.display()
    ));
    let muxed = Capture::new(Codec::H264);
    let parse = pipeline.by_name("parse").unwrap();
    muxed.attach(&parse.static_pad("src").unwrap());
    let sent = fixture.captures(path).remove(0);
    let outcome = wait_until(&pipeline, WAIT, || {
        sent.eos() && muxed.units() >= sent.units()
    });
    assert!(outcome.is_stopped(), "recording: {outcome:?}");
    pipeline.send_event(gst::event::Eos::new());
    let outcome = common::run_pipeline_until(&pipeline, WAIT, |_| common::Control::Continue);
    stop_pipeline(&pipeline);
    assert_eq!(outcome, Outcome::Eos, "finishing the recording");

    let read = parse_pipeline(&format!(
        "filesrc location={} ! qtdemux ! video/x-h264 ! fakesink name=sink",
        recording.display()
    ));
    let recorded = Capture::new(Codec::H264);
    recorded.attach(&read.by_name("sink").unwrap().static_pad("sink").unwrap());
    let outcome = common::run_pipeline_until(&read, WAIT, |_| common::Control::Continue);
    stop_pipeline(&read);
    assert_eq!(outcome, Outcome::Eos, "reading the recording");
    let result = sent.with(|s| recorded.with(|r| compare_exact(s, r)));
    assert!(result.is_ok(), "{}", result.unwrap_err());
}

#[test]
fn tcp_light_plays_a_file_mount_bit_exact() {
    file_mount("tcp", "light");
}

#[test]
fn tcp_rtpjitterbuffer_plays_a_file_mount_bit_exact() {
    file_mount("tcp", "rtpjitterbuffer");
}

#[test]
fn udp_light_plays_a_file_mount_bit_exact() {
    file_mount("udp", "light");
}

#[test]
fn udp_rtpjitterbuffer_plays_a_file_mount_bit_exact() {
    file_mount("udp", "rtpjitterbuffer");
}

/// One multicast test at a time: `MulticastServer` derives its group and
/// ports from its RTSP port, and two senders whose port ranges overlap
/// would reach each other's receivers (sockets bound to the wildcard
/// address get every joined group's packets for their port).
static MULTICAST: Mutex<()> = Mutex::new(());

/// Multicast from a live sender: join, take a run of units per stream,
/// and check it against what the sender payloaded meanwhile.
fn multicast_matrix(jitterbuffer: &str, streams: &[Stream], neighbour: bool) {
    let _one_at_a_time = MULTICAST.lock().unwrap_or_else(|e| e.into_inner());
    common::init_plugin();
    let described: Vec<McastStream> = streams
        .iter()
        .enumerate()
        .map(|(i, s)| s.multicast(i))
        .collect();
    let server = MulticastServer::start_streams(&described, None);
    // Another sender on the same ports and another group, with other
    // pictures: a camera next door that was given the same port.
    let _neighbour = neighbour.then(|| {
        let other: Vec<McastStream> = described
            .iter()
            .map(|d| McastStream {
                launch: d.launch.replace("pattern=ball", "pattern=smpte"),
                ..d.clone()
            })
            .collect();
        let group = server.group().replace("224.3.0.", "224.3.1.");
        MulticastServer::start_streams_at(&other, None, &group, server.rtp_port())
    });
    let sent: Vec<Capture> = streams.iter().map(|s| Capture::new(s.codec())).collect();
    for (i, capture) in sent.iter().enumerate() {
        let pay = server
            .pipeline()
            .by_name(&format!("pay{i}"))
            .expect("payloader");
        capture.attach(&pay.static_pad("sink").unwrap());
    }
    // Units payloaded before the probes were there can no longer be on
    // their way once each stream has a few captured.
    assert!(
        common::wait_for(WAIT, || sent.iter().all(|c| c.units() >= 2)),
        "the multicast sender does not run"
    );
    let player = Player::new(&server.url(), "udp-mcast", jitterbuffer, streams);
    let got = player.captures.clone();
    let want = |s: Stream| match s {
        Stream::Aac | Stream::Opus => 60,
        _ => 45,
    };
    let started = Instant::now();
    let outcome = wait_until(&player.pipeline, WAIT, || {
        got.iter().zip(streams).all(|(g, &s)| g.units() >= want(s))
    });
    assert!(
        outcome.is_stopped(),
        "multicast/{jitterbuffer}: {outcome:?} after {:?}, units {:?}",
        started.elapsed(),
        got.iter().map(Capture::units).collect::<Vec<_>>()
    );
    let lost = player.packets_lost();
    let mut failures = player.errors();
    for (i, (s, g)) in sent.iter().zip(&got).enumerate() {
        let tolerance = Tolerance {
            joined_late: true,
            losses: lost > 0,
        };
        let result = s
            .with(|s| g.with(|g| compare_tolerant(s, g, tolerance)))
            .and_then(
                |pairs| match pairs.len() + 1 >= want(streams[i]) || lost > 0 {
                    true => Ok(pairs),
                    false => Err(format!("only {} units matched", pairs.len())),
                },
            )
            .and_then(|pairs| {
                // The timestamps of the units that matched, as in unicast.
                let (sent_times, got_times) = (s.times(), g.times());
                let sent_times: Vec<_> = pairs.iter().map(|&(a, _)| sent_times[a]).collect();
                let got_times: Vec<_> = pairs.iter().map(|&(_, b)| got_times[b]).collect();
                match jitterbuffer {
                    "light" => timing::check(&sent_times, &got_times),
                    _ => timing::check_basic(&got_times),
                }
            });
        if let Err(err) = result {
            failures.push(format!("stream {i} ({:?}): {err}", streams[i]));
        }
    }
    assert!(
        failures.is_empty(),
        "multicast/{jitterbuffer}, {lost} packets lost:\n{}",
        failures.join("\n")
    );
}

#[test]
fn multicast_light_is_bit_exact() {
    multicast_matrix("light", &ALL, false);
}

#[test]
fn multicast_rtpjitterbuffer_is_bit_exact() {
    multicast_matrix("rtpjitterbuffer", &ALL, false);
}

/// Two groups on one port: the receiver of one must not play the other's
/// packets (a socket bound to the wildcard address gets, on Linux, the
/// packets of every group any socket of the host joined on its port).
#[test]
fn multicast_plays_its_own_group_only() {
    multicast_matrix("light", &[Stream::H264], true);
}

/// The normalisation itself (once, here, not in every binary that
/// includes `common`).
mod access_unit_digests {
    use crate::common::access_units::{Codec, Digest, Framing};

    fn digest(codec: Codec, framing: Framing, buffers: &[&[u8]]) -> Digest {
        let mut d = Digest::new(codec);
        for b in buffers {
            d.add(framing, b);
        }
        d
    }

    #[test]
    fn start_codes_delimiters_and_parameter_sets_are_normalised() {
        let sent = digest(
            Codec::H264,
            Framing::Length(4),
            &[&[0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 2, 0x41, 9]],
        );
        let got = digest(
            Codec::H264,
            Framing::AnnexB,
            &[&[
                0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 1, 2, 0, 0, 0, 1, 0x41, 9,
            ]],
        );
        assert_eq!(sent.units, got.units);
        let with_sps = digest(
            Codec::H264,
            Framing::AnnexB,
            &[&[0, 0, 1, 0x67, 7, 0, 0, 1, 0x65, 1, 2, 0, 0, 1, 0x41, 9]],
        );
        assert_eq!(with_sps.units, sent.units);
        assert_eq!(with_sps.params.len(), 1);
    }

    #[test]
    fn a_changed_byte_or_a_moved_boundary_differs() {
        let a = digest(
            Codec::H264,
            Framing::AnnexB,
            &[&[0, 0, 1, 0x65, 1, 2, 0, 0, 1, 0x41, 9]],
        );
        let b = digest(
            Codec::H264,
            Framing::AnnexB,
            &[&[0, 0, 1, 0x65, 1, 3, 0, 0, 1, 0x41, 9]],
        );
        let c = digest(
            Codec::H264,
            Framing::AnnexB,
            &[&[0, 0, 1, 0x65, 1, 0, 0, 1, 2, 0x41, 9]],
        );
        assert_ne!(a.units, b.units);
        assert_ne!(a.units, c.units);
    }
}
