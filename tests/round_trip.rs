//! Round trip: rtspsink publishes into a server mount that records, the
//! server serves what it receives, and rtspsrc2 plays it back and decodes
//! it, over each transport pair.

mod common;

use std::time::Duration;

use common::{Outcome, relay, stop_pipeline, wait_until};
use gst::prelude::*;

fn round_trip(publish_protocols: &str, play_protocols: &str) {
    common::init_plugin();
    // What the relay server's two media (tests/common/relay.rs) are made of.
    common::tools::require_elements(&[
        "rtph264depay",
        "h264parse",
        "appsink",
        "appsrc",
        "rtph264pay",
    ]);
    let server = relay::start().expect("relay server");
    let publisher = common::parse_pipeline(&format!(
        "videotestsrc is-live=true pattern=ball ! {} ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 threads=1 ! \
         rtph264pay config-interval=-1 pt=96 ! rtspsink location={} protocols={publish_protocols}",
        common::server::launch::VIDEO_CAPS,
        server.url("/publish")
    ));
    let published = wait_until(&publisher, Duration::from_secs(10), || {
        server.published() >= 5
    });
    assert_eq!(
        published,
        Outcome::Stopped,
        "publishing over {publish_protocols}"
    );

    let (player, _, counters) = common::rtspsrc2_player(
        &server.url("/watch"),
        &[("protocols", play_protocols.to_value())],
    );
    let c = counters.clone();
    let played = wait_until(&player, Duration::from_secs(15), move || {
        c.video.count() >= 30
    });
    let publisher_errors: Vec<String> = std::iter::from_fn(|| {
        publisher
            .bus()
            .unwrap()
            .pop_filtered(&[gst::MessageType::Error])
    })
    .map(|m| format!("{m:?}"))
    .collect();
    stop_pipeline(&player);
    stop_pipeline(&publisher);
    assert_eq!(
        played,
        Outcome::Stopped,
        "decoded {}",
        counters.video.count()
    );
    assert!(publisher_errors.is_empty(), "{publisher_errors:?}");
    assert!(server.published() >= 30);
}

#[test]
fn publish_tcp_play_udp() {
    round_trip("tcp", "udp");
}

#[test]
fn publish_udp_play_tcp() {
    round_trip("udp", "tcp");
}
