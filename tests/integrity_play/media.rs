//! The streams of the test medias: how a server encodes and payloads
//! each, and how the client depayloads it. Sources are deterministic and,
//! for unicast, not live, so every session starts at their first frame.

use crate::common::server::{McastStream, launch};

use crate::common::access_units::Codec;

/// Video frames and audio buffers per stream: about two seconds.
const VIDEO_FRAMES: u32 = 60;
const AAC_FRAMES: u32 = 90;
const OPUS_FRAMES: u32 = 100;

const RAW_VIDEO: &str = "video/x-raw,format=I420,width=320,height=180,framerate=30/1";
const RAW_AUDIO: &str = "audio/x-raw,rate=48000,channels=2";

/// One stream of the test media.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    H264,
    H264Slices,
    H265,
    Aac,
    Opus,
}

pub const ALL: [Stream; 5] = [
    Stream::H264,
    Stream::H264Slices,
    Stream::H265,
    Stream::Aac,
    Stream::Opus,
];

impl Stream {
    pub fn codec(self) -> Codec {
        match self {
            Stream::H264 | Stream::H264Slices => Codec::H264,
            Stream::H265 => Codec::H265,
            Stream::Aac => Codec::Aac,
            Stream::Opus => Codec::Opus,
        }
    }

    /// Source and encoder, up to the payloader's input. `live` for the
    /// multicast sender, which runs before and while the client joins.
    fn encoded(self, live: bool) -> String {
        let (video_count, aac_count, opus_count) = if live {
            (String::new(), String::new(), String::new())
        } else {
            (
                format!(" num-buffers={VIDEO_FRAMES}"),
                format!(" num-buffers={AAC_FRAMES}"),
                format!(" num-buffers={OPUS_FRAMES}"),
            )
        };
        let video = |encoder: &str| {
            format!(
                "videotestsrc is-live={live} pattern=ball{video_count} ! {RAW_VIDEO} ! {encoder}"
            )
        };
        match self {
            Stream::H264 => video("x264enc speed-preset=ultrafast key-int-max=30 threads=1"),
            Stream::H264Slices => video(
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 \
                 sliced-threads=true threads=4",
            ),
            Stream::H265 => video("x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30"),
            Stream::Aac => format!(
                "audiotestsrc is-live={live} wave=sine samplesperbuffer=1024{aac_count} ! \
                 {RAW_AUDIO} ! {} ! aacparse",
                launch::aac_encoder()
            ),
            Stream::Opus => format!(
                "audiotestsrc is-live={live} wave=ticks samplesperbuffer=960{opus_count} ! \
                 {RAW_AUDIO} ! opusenc"
            ),
        }
    }

    fn payloader(self) -> &'static str {
        match self {
            Stream::H264 | Stream::H264Slices => "rtph264pay",
            Stream::H265 => "rtph265pay",
            Stream::Aac => "rtpmp4gpay",
            Stream::Opus => "rtpopuspay",
        }
    }

    pub fn launch(self, index: usize, live: bool) -> String {
        format!(
            "{} ! {} name=pay{index} pt={}",
            self.encoded(live),
            self.payloader(),
            96 + index
        )
    }

    /// The client's depayloader and the caps forced after it.
    pub fn depayloader(self) -> &'static str {
        match self {
            Stream::H264 | Stream::H264Slices => {
                "rtph264depay ! video/x-h264,stream-format=byte-stream,alignment=au"
            }
            Stream::H265 => "rtph265depay ! video/x-h265,stream-format=byte-stream,alignment=au",
            Stream::Aac => "rtpmp4gdepay",
            Stream::Opus => "rtpopusdepay",
        }
    }

    /// For the scripted multicast server's SDP (gst-rtsp-server would
    /// write these itself). The AAC config is AAC-LC, 48 kHz, stereo.
    pub fn multicast(self, index: usize) -> McastStream {
        let (media, rtpmap, fmtp) = match self {
            Stream::H264 | Stream::H264Slices => ("video", "H264/90000", "packetization-mode=1"),
            Stream::H265 => ("video", "H265/90000", ""),
            Stream::Aac => (
                "audio",
                "MPEG4-GENERIC/48000/2",
                "streamtype=5;profile-level-id=1;mode=AAC-hbr;config=1190;\
                 sizelength=13;indexlength=3;indexdeltalength=3",
            ),
            Stream::Opus => ("audio", "OPUS/48000/2", ""),
        };
        McastStream {
            media,
            rtpmap,
            fmtp,
            launch: self.launch(index, true),
        }
    }
}

/// Mount `streams` at `path` of `server` (not shared: every session gets
/// them from the first frame) and capture each payloader's input, reset
/// for every new media: what the server sent, to compare with. (Used by
/// tests/tls.rs, tests/http_tunnel.rs and tests/rtsp2.rs.)
#[allow(dead_code)]
pub fn mount_captured(
    server: &crate::common::server::TestServer,
    path: &str,
    streams: &[Stream],
) -> Vec<super::capture::Capture> {
    mount_captured_with(server, path, streams, |mount| mount)
}

/// [`mount_captured`] with the mount changed by `adjust` first (e.g. to
/// require authentication).
#[allow(dead_code)]
pub fn mount_captured_with(
    server: &crate::common::server::TestServer,
    path: &str,
    streams: &[Stream],
    adjust: impl FnOnce(crate::common::server::Mount) -> crate::common::server::Mount,
) -> Vec<super::capture::Capture> {
    use gst::prelude::*;
    use gst_rtsp_server::prelude::*;
    let launch_line = streams
        .iter()
        .enumerate()
        .map(|(i, s)| s.launch(i, false))
        .collect::<Vec<_>>()
        .join(" ");
    server.add_mount(adjust(
        crate::common::server::Mount::play(path, launch_line).shared(false),
    ));
    let sent: Vec<super::capture::Capture> = streams
        .iter()
        .map(|s| super::capture::Capture::new(s.codec()))
        .collect();
    let captures = sent.clone();
    let (factory, _) = server.server().mount_points().unwrap().match_(path);
    factory.connect_media_configure(move |_, media| {
        let bin = media.element().downcast::<gst::Bin>().unwrap();
        for (i, capture) in captures.iter().enumerate() {
            capture.reset();
            let pad = bin.by_name(&format!("pay{i}")).unwrap().static_pad("sink");
            capture.attach(&pad.unwrap());
        }
    });
    sent
}
