//! The data path of `rtspsink`: from `rtpbin`'s send pads to the server.
//!
//! Each stream has three free-standing pads linked to `rtpbin` session N:
//! a sink pad on `send_rtp_src_N` (the published RTP), a sink pad on
//! `send_rtcp_src_N` (sender reports, BYE) and a source pad into
//! `recv_rtcp_sink_N` (the server's receiver reports). The RTP chain
//! function runs in the upstream streaming thread and
//!
//! 1. on the first buffer, records the stream's caps for the SDP; until
//!    the record task has done ANNOUNCE/SETUP/RECORD, keeps the packets
//!    (see `prerecord`) and returns, so nothing is dropped before the
//!    server is ready and no thread waits on the server;
//! 2. with `sync=true`, waits on the pipeline clock until the buffer's
//!    running time (plus the pipeline latency), like a `basesink`, so
//!    non-live sources go out in real time;
//! 3. sends the packet, or the whole buffer list, from this thread with
//!    one non-blocking system call straight from the buffers' memories
//!    (see `wire`): over TCP as interleaved frames, over UDP as datagrams.
//!    Only what the TCP socket cannot take at once goes to the
//!    connection's bounded write queue (see `driver::writer`); when
//!    that is full, or the UDP socket buffer is, the `backpressure`
//!    property decides between blocking and dropping.
//!
//! Every wait is interruptible: flushes and state changes set a flag,
//! unschedule the clock entry, wake the condition variable and the
//! watch channel the async sends select on.
//!
//! The types the parts share are here; the parts are
//! [`control`] (the state shared by the element, its streams and the
//! record task: [`Phase`], [`Control`]), `pads` (a stream's pads, linked
//! to `rtpbin`, and their events), `stream` (the RTP chain function:
//! holding a video frame, waiting for RECORD and for the clock),
//! `transmit` (the interleaved and UDP send paths, backpressure),
//! `rtcp_relay` (RTCP to and from the server) and `prerecord`. RTX
//! packets (see `retransmission`) leave from the chain function at once:
//! no frame holding, parameter set filter, payload type rewrite or clock
//! wait applies to them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, Weak};

use rtspclient_protocol::h26x::ParameterSetGuard;
use tokio::sync::watch;

use rtspclient_protocol::srtp::Profile;

use super::retransmission::RtxSender;
use super::wire::Outgoing;
use crate::driver::datagrams::Segmentation;
use crate::driver::error::ClientError;
use crate::driver::writer::Writer;
use crate::srtp::StreamKeys;

mod control;
mod pads;
mod prerecord;
mod rtcp_relay;
mod stream;
mod transmit;

pub use control::{Control, Phase, RunConfig};
use prerecord::PreRecord;

/// What the element reports through; implemented by the element glue.
pub trait Reporter: Send + Sync + 'static {
    /// Post an element error (the RTSP status goes into the details).
    fn error(&self, error: &ClientError);
    /// Post a warning.
    fn warning(&self, text: &str);
}

/// How one stream's packets reach the server, set once SETUP answered.
#[derive(Clone)]
pub enum Route {
    Interleaved { writer: Writer, rtp: u8, rtcp: u8 },
    Udp(Arc<UdpRoute>),
}

/// A stream's UDP sockets and the server's ports.
///
/// The RTP socket is deliberately *not* registered with the runtime's
/// reactor: a registered UDP socket gets an `EPOLLOUT` edge each time a
/// sent datagram frees its buffer space, i.e. a wake-up of an I/O thread
/// per packet for nothing. Nothing is expected on it from the server
/// either. Sends are non-blocking system calls from the streaming thread;
/// only a sender blocked by a full socket buffer registers (a duplicate
/// of) it, for the duration of that wait.
pub struct UdpRoute {
    pub rtp_socket: std::net::UdpSocket,
    /// Receives the server's receiver reports (a task on the runtime).
    pub rtcp_socket: Arc<tokio::net::UdpSocket>,
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
    /// Whether RTP may go out as segmented messages (see
    /// `driver::datagrams`).
    pub segmentation: Segmentation,
}

/// Where a stream is before RECORD, as the record task sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// No buffer yet.
    Waiting,
    /// First buffer arrived (or EOS after caps): these caps go in the SDP.
    Ready(gst::Caps),
    /// EOS without caps: nothing to announce.
    Empty,
}

struct StreamState {
    segment: gst::FormattedSegment<gst::ClockTime>,
    /// Caps as of the first buffer, for the SDP.
    first_caps: Option<gst::Caps>,
    /// RTP timestamp and running time (ns) of the first packet with a
    /// time, for the SDP's RFC 7273 `a=mediaclk` (`publish-clock-mode`).
    first_rtp: Option<(u32, u64)>,
    eos: Option<gst::Seqnum>,
    rtcp_eos: bool,
    route: Option<Route>,
    /// Payload type to write into every packet when the SDP had to give
    /// this stream another one than its payloader uses.
    pt_rewrite: Option<u8>,
    clock_id: Option<gst::SingleShotClockId>,
    /// Added to buffer running times: a flush that resets the running
    /// time restarts it at 0, but the pipeline keeps its base time (no
    /// sink child of ours loses state), so the restart is placed at the
    /// pipeline's running time of the flush, as a `basesink` with a new
    /// base time would.
    time_offset: gst::ClockTime,
    rtcp_in_started: bool,
    /// The stream is video (`media=video`): an RTP marker bit ends a frame.
    video: bool,
    /// Packets of the current video frame held back until its last packet
    /// (see [`StreamSender::chain_rtp`]) with the sequence number to write
    /// into each, and their timestamp.
    held: Vec<(gst::Buffer, Option<u16>)>,
    held_pts: Option<gst::ClockTime>,
    /// H.264/H.265: removes parameter sets between the slices of a picture.
    parameter_sets: Option<ParameterSetGuard>,
    /// Packets that came before RECORD (see `prerecord`).
    pre_record: PreRecord,
}

impl StreamState {
    fn new() -> Self {
        StreamState {
            segment: gst::FormattedSegment::new(),
            first_caps: None,
            first_rtp: None,
            eos: None,
            rtcp_eos: false,
            route: None,
            pt_rewrite: None,
            clock_id: None,
            time_offset: gst::ClockTime::ZERO,
            rtcp_in_started: false,
            video: false,
            held: Vec::new(),
            held_pts: None,
            parameter_sets: None,
            pre_record: PreRecord::default(),
        }
    }
}

/// One published stream (`sink_N`, rtpbin session N).
pub struct StreamSender {
    pub index: usize,
    control: Weak<Control>,
    rtp_pad: gst::Pad,
    rtcp_pad: gst::Pad,
    rtcp_in: gst::Pad,
    state: Mutex<StreamState>,
    flushing: AtomicBool,
    interrupt: watch::Sender<bool>,
    stream_id: String,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// The stream's retransmission (`rtx-time`), if rtpbin made it one.
    rtx: Mutex<Option<Arc<RtxSender>>>,
    /// The stream's profile as `profiles` chose it, before retransmission
    /// adds feedback, and its SRTP keys when secure.
    security: Mutex<(Profile, Option<Arc<StreamKeys>>)>,
    /// Our MIKEY (base64) as announced, for SETUP's `KeyMgmt` header.
    key_mgmt: Mutex<Option<String>>,
    /// The bitrate upstream stated in its tags (bit/s, 0 = none), for the
    /// SDP's `b=AS`. Not reset with a run: tags are sticky, sent once.
    stated_bitrate: AtomicU32,
}

/// The held packets, ready for [`StreamSender::send`].
fn held_batch(held: &[(gst::Buffer, Option<u16>)]) -> Vec<Outgoing<'_>> {
    held.iter()
        .map(|(buffer, seq)| Outgoing { buffer, seq: *seq })
        .collect()
}

/// Video packets held back at most, waiting for their frame's last one.
const MAX_HELD: usize = 64;
