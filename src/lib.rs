//! GStreamer RTSP client plugin: `rtspsrc2` (play) and `rtspsink` (publish).
//!
//! Layers: `rtspclient_protocol` (sans-IO protocol core, its own crate),
//! [`driver`] (async network I/O), the RTSP session both elements run
//! (`session`, with their shared properties in `settings`) and the
//! elements. The I/O threads ([`runtime`]) are shared by the driver and
//! the elements, the jitterbuffer included.

use gst::glib;

mod caps_convert;
pub mod driver;
mod element_config;
mod element_error;
mod jitterbuffer;
mod rtspsink;
mod rtspsrc2;
pub mod runtime;
mod session;
mod settings;
pub mod srtp;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    rtspsrc2::register(plugin)?;
    rtspsink::register(plugin)?;
    jitterbuffer::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    rtspclient,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
