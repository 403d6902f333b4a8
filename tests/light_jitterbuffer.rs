//! `rtplightjitterbuffer` on its own: packets pushed from an `appsrc` in a
//! chosen order, what leaves checked at an `appsink` (order, timestamps,
//! loss events), plus the RTCP path to `handle-sync` and the latency
//! query. Its use inside `rtspsrc2` is covered by the rtspsrc2 suites.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use gst::prelude::*;
use gst_app::{AppSink, AppSrc};

const MS: u64 = 1_000_000;

fn rtp_packet(seq: u16, rtptime: u32, ssrc: u32) -> gst::Buffer {
    let mut data = vec![0x80, 96];
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(&rtptime.to_be_bytes());
    data.extend_from_slice(&ssrc.to_be_bytes());
    data.extend_from_slice(&seq.to_be_bytes());
    gst::Buffer::from_mut_slice(data)
}

struct Harness {
    pipeline: gst::Pipeline,
    src: AppSrc,
    jitterbuffer: gst::Element,
    sink: AppSink,
    lost: Arc<Mutex<Vec<gst::Structure>>>,
}

impl Harness {
    fn new(latency_ms: u32) -> Harness {
        init_plugin();
        Harness::with_sink(latency_ms, AppSink::builder().sync(false).build())
    }

    fn with_sink(latency_ms: u32, sink: AppSink) -> Harness {
        init_plugin();
        let pipeline = gst::Pipeline::new();
        let src = AppSrc::builder()
            .caps(
                &gst::Caps::builder("application/x-rtp")
                    .field("media", "video")
                    .field("clock-rate", 90_000i32)
                    .field("encoding-name", "H264")
                    .build(),
            )
            .format(gst::Format::Time)
            .is_live(true)
            .build();
        let jitterbuffer = gst::ElementFactory::make("rtplightjitterbuffer")
            .property("latency", latency_ms)
            .property("do-lost", true)
            .build()
            .expect("the plugin has rtplightjitterbuffer");
        pipeline
            .add_many([src.upcast_ref(), &jitterbuffer, sink.upcast_ref()])
            .unwrap();
        gst::Element::link_many([src.upcast_ref(), &jitterbuffer, sink.upcast_ref()]).unwrap();
        let lost = Arc::new(Mutex::new(Vec::new()));
        let seen = lost.clone();
        sink.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_pad, info| {
                if let Some(gst::PadProbeData::Event(event)) = &info.data
                    && let Some(s) = event.structure()
                    && s.name() == "GstRTPPacketLost"
                {
                    seen.lock().unwrap().push(s.to_owned());
                }
                gst::PadProbeReturn::Ok
            },
        );
        pipeline.set_state(gst::State::Playing).unwrap();
        Harness {
            pipeline,
            src,
            jitterbuffer,
            sink,
            lost,
        }
    }

    /// Push packet `seq` of a 25 fps stream with an arrival time.
    fn push(&self, seq: u16, arrival_ms: u64) {
        let mut buffer = rtp_packet(seq, seq as u32 * 3600, 0x1234);
        let b = buffer.get_mut().unwrap();
        b.set_dts(gst::ClockTime::from_nseconds(arrival_ms * MS));
        self.src.push_buffer(buffer).unwrap();
    }

    /// Sequence numbers and PTS of the next `n` packets out (bounded wait).
    fn pull(&self, n: usize) -> Vec<(u16, u64)> {
        (0..n)
            .map_while(|_| {
                let sample = self.sink.try_pull_sample(gst::ClockTime::from_seconds(3))?;
                let buffer = sample.buffer()?;
                let mut header = [0u8; 4];
                buffer.copy_to_slice(0, &mut header).ok()?;
                Some((
                    u16::from_be_bytes([header[2], header[3]]),
                    buffer.pts()?.nseconds(),
                ))
            })
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[test]
fn reordered_packets_leave_in_sequence_with_rtp_spacing() {
    let h = Harness::new(200);
    h.push(1, 1000);
    h.push(3, 1080);
    h.push(2, 1085);
    h.push(4, 1120);
    let out = h.pull(4);
    assert_eq!(
        out.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    // 40 ms per frame from the first arrival on; packet 2 was 45 ms late
    // and still gets its place in the timeline.
    let pts: Vec<u64> = out.iter().map(|(_, p)| *p).collect();
    assert_eq!(pts, [1000 * MS, 1040 * MS, 1080 * MS, 1120 * MS]);
}

/// The arrival time a packet comes with is no decode time: passed on as
/// DTS it was after the PTS of every packet that was not the least
/// delayed (and of B-frames by a frame or more), which GStreamer does not
/// allow (`DTS <= PTS`); parsers and decoders then re-timed or dropped
/// frames. Like the timestamps out of `rtpjitterbuffer` that depayloaders
/// see, there is no DTS.
#[test]
fn output_has_a_pts_and_no_decode_time() {
    let h = Harness::new(200);
    h.push(1, 1000);
    // 10 ms of network delay more than the first packet.
    h.push(2, 1050);
    for _ in 0..2 {
        let sample = h
            .sink
            .try_pull_sample(gst::ClockTime::from_seconds(3))
            .expect("a packet out");
        let buffer = sample.buffer().unwrap();
        assert!(buffer.pts().is_some());
        assert_eq!(buffer.dts(), None, "pts {:?}", buffer.pts());
    }
}

#[test]
fn a_gap_is_given_up_after_the_latency_with_a_lost_event() {
    let h = Harness::new(100);
    // Arrival times near the running time now, so that the deadline of
    // the gap (arrival + 100 ms) comes while the pipeline runs.
    let now = h.pipeline.current_running_time().unwrap().mseconds();
    // Timed from the pushes, not from the first pulls: those can take a
    // while when other tests share the output workers.
    let started = std::time::Instant::now();
    h.push(1, now);
    h.push(2, now + 1);
    h.push(5, now + 2);
    assert_eq!(h.pull(2).len(), 2);
    // Packet 5 only leaves once the task gave up on 3 and 4: about 100 ms
    // later, with no further packet arriving to trigger it.
    let out = h.pull(1);
    assert_eq!(out.first().map(|(s, _)| *s), Some(5));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(60) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    let lost = h.lost.lock().unwrap().clone();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].get::<u32>("seqnum").unwrap(), 3);
    assert_eq!(lost[0].get::<u64>("count").unwrap(), 2);
    let stats = h.jitterbuffer.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("num-lost").unwrap(), 2);
    assert_eq!(stats.get::<u64>("num-pushed").unwrap(), 3);
}

#[test]
fn sender_reports_become_handle_sync() {
    let h = Harness::new(200);
    // Every handle-sync, in order.
    let synced: Arc<Mutex<Vec<gst::Structure>>> = Arc::new(Mutex::new(Vec::new()));
    let seen = synced.clone();
    h.jitterbuffer.connect("handle-sync", false, move |args| {
        if let Ok(mut seen) = seen.lock() {
            seen.extend(args[1].get::<gst::Structure>().ok());
        }
        None
    });
    let rtcp_src = AppSrc::builder()
        .caps(&gst::Caps::new_empty_simple("application/x-rtcp"))
        .format(gst::Format::Time)
        .build();
    h.pipeline.add(&rtcp_src).unwrap();
    let rtcp_sink = h.jitterbuffer.request_pad_simple("sink_rtcp").unwrap();
    rtcp_src
        .static_pad("src")
        .unwrap()
        .link(&rtcp_sink)
        .unwrap();
    rtcp_src.sync_state_with_parent().unwrap();

    h.push(10, 500);
    h.push(11, 540);
    assert_eq!(h.pull(2).len(), 2);
    let sender_report = |ssrc: u32, rtptime: u32| {
        let mut sr = vec![0x80, 200, 0, 6];
        sr.extend_from_slice(&ssrc.to_be_bytes());
        sr.extend_from_slice(&0xe000_0000_0000_0000u64.to_be_bytes());
        sr.extend_from_slice(&rtptime.to_be_bytes());
        sr.extend_from_slice(&[0; 8]);
        gst::Buffer::from_mut_slice(sr)
    };
    // SR for our SSRC, RTP time 20 ms after packet 11.
    let sr_rtptime = 11 * 3600 + 1800;
    rtcp_src
        .push_buffer(sender_report(0x1234, sr_rtptime as u32))
        .unwrap();
    assert!(wait_for(Duration::from_secs(3), || !synced
        .lock()
        .unwrap()
        .is_empty()));
    let s = synced.lock().unwrap()[0].clone();
    assert_eq!(s.name(), "application/x-rtp-sync");
    assert_eq!(s.get::<u32>("clock-rate").unwrap(), 90_000);
    let base_rtp = s.get::<u64>("base-rtptime").unwrap();
    let sr_ext = s.get::<u64>("sr-ext-rtptime").unwrap();
    assert_eq!(sr_ext - base_rtp, sr_rtptime - 10 * 3600);
    assert_eq!(s.get::<u64>("base-time").unwrap(), 500 * MS);
    assert!(s.get::<gst::Buffer>("sr-buffer").is_ok());

    // An SR of another SSRC is not ours. RTCP is handled in order on
    // appsrc's thread: once a later SR of ours has become handle-sync, the
    // other one was handled before it, and must have left no trace.
    rtcp_src.push_buffer(sender_report(0x9999, 0)).unwrap();
    let later_rtptime = sr_rtptime + 3600;
    rtcp_src
        .push_buffer(sender_report(0x1234, later_rtptime as u32))
        .unwrap();
    let later_ext = base_rtp + (later_rtptime - 10 * 3600);
    let later = |s: &gst::Structure| s.get::<u64>("sr-ext-rtptime").ok() == Some(later_ext);
    assert!(wait_for(Duration::from_secs(3), || synced
        .lock()
        .unwrap()
        .iter()
        .any(later)));
    let all = synced.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "handle-sync for another SSRC: {all:?}");
    assert!(later(&all[1]));
}

#[test]
fn latency_is_added_to_the_pipeline_latency() {
    let h = Harness::new(300);
    h.push(1, 0);
    assert_eq!(h.pull(1).len(), 1);
    let mut query = gst::query::Latency::new();
    assert!(h.sink.static_pad("sink").unwrap().peer_query(&mut query));
    let (live, min, _max) = query.result();
    assert!(live);
    assert_eq!(min, gst::ClockTime::from_mseconds(300));
}

#[test]
fn ts_offset_shifts_the_output() {
    let h = Harness::new(200);
    h.jitterbuffer.set_property("ts-offset", 25 * MS as i64);
    h.push(1, 1000);
    let out = h.pull(1);
    assert_eq!(out, [(1, 1025 * MS)]);
}

#[test]
fn eos_releases_held_packets_then_passes() {
    let h = Harness::new(5000);
    h.push(1, 0);
    h.push(3, 10);
    assert_eq!(h.pull(1).len(), 1);
    h.src.end_of_stream().unwrap();
    assert_eq!(h.pull(1).first().map(|(s, _)| *s), Some(3));
    assert!(wait_for(Duration::from_secs(3), || h.sink.is_eos()));
}

/// Output is pushed by workers shared by all streams: a pipeline blocked
/// downstream (here an appsink nobody pulls from) must not hold up others.
#[test]
fn a_blocked_pipeline_does_not_hold_up_others() {
    init_plugin();
    let blocked = Harness::with_sink(200, AppSink::builder().sync(false).max_buffers(1).build());
    // Count the pushes that reach the appsink: it holds one buffer, so a
    // second one means a worker is stuck pushing it.
    let entered = Arc::new(AtomicU64::new(0));
    let counter = entered.clone();
    blocked
        .sink
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    for seq in 1..=20 {
        blocked.push(seq, seq as u64 * 40);
    }
    assert!(
        wait_for(Duration::from_secs(5), || entered.load(Ordering::SeqCst)
            >= 2),
        "no worker got stuck in the full appsink"
    );
    let flowing = Harness::new(200);
    for round in 0..3u16 {
        for seq in round * 5 + 1..=round * 5 + 5 {
            flowing.push(seq, seq as u64 * 40);
        }
        assert_eq!(flowing.pull(5).len(), 5, "round {round}");
    }
    // The blocked one still gets everything once pulled.
    assert_eq!(blocked.pull(20).len(), 20);
}

/// A consumer that stops taking data does not make the queue grow without
/// bound: what would be late anyway is dropped and counted, and the next
/// packet out is marked DISCONT.
#[test]
fn output_for_a_stalled_consumer_is_bounded() {
    init_plugin();
    let h = Harness::with_sink(200, AppSink::builder().sync(false).max_buffers(1).build());
    // First get the output worker stuck: the appsink holds one buffer, so
    // the second one's push blocks. The worker takes the whole queue at
    // once and pushes it outside the lock; what it holds then is not in
    // the queue any more, so the stall must start before the bulk arrives
    // (under load the worker used to take all 2000 in one go, and nothing
    // was left to drop).
    let entered = Arc::new(AtomicU64::new(0));
    let counter = entered.clone();
    h.sink
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    for seq in 1..=2u16 {
        h.push(seq, seq as u64);
    }
    assert!(wait_for(Duration::from_secs(5), || entered
        .load(Ordering::SeqCst)
        >= 2));
    // 2 s of packets (arrival times), far more than the 1 s age limit.
    for seq in 3..=2000u16 {
        h.push(seq, seq as u64);
    }
    // appsrc hands them over on its own thread: wait (bounded) for all.
    let jb = h.jitterbuffer.clone();
    let stats = move || jb.property::<gst::Structure>("stats");
    let s = stats.clone();
    assert!(wait_for(Duration::from_secs(5), move || {
        s().get::<u64>("num-pushed").unwrap() == 2000
    }));
    // What reached the queue beyond 1 s of age is dropped, and every
    // packet is either delivered or counted.
    let dropped = stats().get::<u64>("num-dropped").unwrap();
    assert!(dropped > 0, "nothing dropped: {:?}", stats());
    let mut saw_discont = false;
    let mut delivered = 0u64;
    while let Some(sample) = h.sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
        delivered += 1;
        saw_discont |= sample
            .buffer()
            .is_some_and(|b| b.flags().contains(gst::BufferFlags::DISCONT));
    }
    assert_eq!(delivered + dropped, 2000);
    assert!(saw_discont);
}

/// A buffer list's packets leave as the same buffers: taken out of the
/// list, not shared with it, so setting their timestamps does not copy
/// each one (a copy per packet was a malloc, and a free on another thread).
#[test]
fn buffer_lists_are_taken_apart_without_copies() {
    let h = Harness::new(200);
    let mut list = gst::BufferList::new();
    let mut sent = Vec::new();
    {
        let list = list.get_mut().unwrap();
        for seq in 1..=3u16 {
            let mut buffer = rtp_packet(seq, seq as u32 * 3600, 0x1234);
            buffer
                .get_mut()
                .unwrap()
                .set_dts(gst::ClockTime::from_nseconds((1000 + seq as u64 * 40) * MS));
            sent.push(buffer.as_ptr() as usize);
            list.add(buffer);
        }
    }
    h.src.push_buffer_list(list).unwrap();
    let received: Vec<usize> = (0..3)
        .filter_map(|_| {
            let sample = h.sink.try_pull_sample(gst::ClockTime::from_seconds(3))?;
            Some(sample.buffer()?.as_ptr() as usize)
        })
        .collect();
    assert_eq!(received, sent);
}
