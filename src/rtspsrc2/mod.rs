//! `rtspsrc2`: plays RTSP streams into standard depayloaders.

use gst::glib;
use gst::prelude::*;

mod backchannel;
mod backchannel_session;
mod channels;
mod control;
mod host;
pub(crate) mod imp;
mod onvif;
mod packet_pool;
mod parameters;
mod playing;
mod properties;
mod replay_output;
mod retransmission;
mod reverse_latency;
mod rtcp_bandwidth;
mod rtp_check;
mod rtpbin_setup;
mod session;
mod settings;
mod setup;
mod signals;
mod stats;
mod streams;
mod timeline;
mod udp_receive;
mod vod;

pub use settings::{Backchannel, BufferMode, Jitterbuffer, NatMethod};

glib::wrapper! {
    pub struct RtspSrc2(ObjectSubclass<imp::RtspSrc2>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::URIHandler, gst::ChildProxy;
}

/// Rank PRIMARY + 1: above C `rtspsrc` (PRIMARY), so `playbin` and
/// `uridecodebin` pick this element for rtsp:// URIs once the plugin is
/// installed, which is the point of installing it. Applications that want
/// the C element back can demote it with
/// `GST_PLUGIN_FEATURE_RANK=rtspsrc2:NONE`.
pub fn rank() -> gst::Rank {
    gst::Rank::PRIMARY + 1
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    BufferMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Jitterbuffer::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    NatMethod::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Backchannel::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "rtspsrc2", rank(), RtspSrc2::static_type())
}
