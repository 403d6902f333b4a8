//! `rtspsink`: publishes streams to RTSP servers with ANNOUNCE and RECORD.

use gst::glib;
use gst::prelude::*;

pub(crate) mod imp;
mod parameter_sets;
mod payloader;
mod record_setup;
mod recording;
mod retransmission;
mod sdp;
mod sender;
mod session;
mod settings;
mod wire;

pub use settings::Backpressure;

glib::wrapper! {
    pub struct RtspSink(ObjectSubclass<imp::RtspSink>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::URIHandler, gst::ChildProxy;
}

glib::wrapper! {
    /// The `sink_%u` request pads, with their `payloader` property.
    pub struct RtspSinkPad(ObjectSubclass<imp::RtspSinkPad>) @extends gst::GhostPad, gst::ProxyPad, gst::Pad, gst::Object;
}

/// Rank NONE like C `rtspclientsink`: a sink is chosen by name, never
/// autoplugged.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Backpressure::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    RtspSinkPad::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "rtspsink",
        gst::Rank::NONE,
        RtspSink::static_type(),
    )
}
