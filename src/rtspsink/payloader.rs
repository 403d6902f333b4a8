//! Choosing and configuring the payloader for a pad that receives encoded
//! media instead of RTP.
//!
//! Like C `rtspclientsink`: among the element factories whose klass says
//! "Payloader" and whose sink template accepts the caps, take the one with
//! the highest rank (ties broken by name, so the choice is stable).

use gst::prelude::*;

/// Whether these caps are already RTP (no payloader needed).
pub fn is_rtp(caps: &gst::CapsRef) -> bool {
    caps.structure(0)
        .is_some_and(|s| s.name() == "application/x-rtp")
}

/// The best payloader factory for `caps`, if any.
pub fn find_factory(caps: &gst::CapsRef) -> Option<gst::ElementFactory> {
    // Rank NONE payloaders (rtpgstpay takes ANY caps) are never picked
    // automatically: they would turn anything into a stream only
    // GStreamer can receive.
    let mut candidates: Vec<gst::ElementFactory> = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::PAYLOADER,
        gst::Rank::MARGINAL,
    )
    .into_iter()
    .filter(|factory| {
        factory
            .metadata(gst::ELEMENT_METADATA_KLASS)
            .is_some_and(|klass| klass.contains("Payloader"))
    })
    .filter(|factory| sink_accepts(factory, caps))
    .collect();
    candidates.sort_by(|a, b| {
        b.rank()
            .cmp(&a.rank())
            .then_with(|| a.name().cmp(&b.name()))
    });
    candidates.into_iter().next()
}

fn sink_accepts(factory: &gst::ElementFactory, caps: &gst::CapsRef) -> bool {
    factory.static_pad_templates().iter().any(|templ| {
        templ.direction() == gst::PadDirection::Sink && templ.caps().can_intersect(caps)
    })
}

/// Whether `payloader` can take `caps` on its sink pad.
pub fn element_accepts(payloader: &gst::Element, caps: &gst::CapsRef) -> bool {
    payloader
        .static_pad("sink")
        .is_some_and(|pad| pad.query_caps(None).can_intersect(caps))
}

/// Settings every published stream wants: the payload type chosen for it
/// (unique among the element's streams) and, for H.264/H.265, parameter
/// sets in front of every key frame so a receiver that misses the start
/// (or records from the middle) can still decode. `blocksize`
/// (`rtp-blocksize`, 0 = leave it) becomes the payloader's `mtu`, as C
/// `rtspclientsink` sets it.
pub fn configure(payloader: &gst::Element, pt: u8, blocksize: u32) {
    if blocksize > 0
        && let Some(pspec) = payloader.find_property("mtu")
        && pspec.value_type() == u32::static_type()
    {
        payloader.set_property("mtu", blocksize);
    }
    if let Some(pspec) = payloader.find_property("pt")
        && pspec.value_type() == u32::static_type()
        && pspec.flags().contains(gst::glib::ParamFlags::WRITABLE)
    {
        payloader.set_property("pt", pt as u32);
    }
    if let Some(pspec) = payloader.find_property("config-interval")
        && pspec.value_type() == i32::static_type()
    {
        payloader.set_property("config-interval", -1i32);
    }
}

/// The `pt` a payloader will use, if it has that property.
pub fn payload_type(payloader: &gst::Element) -> Option<u8> {
    payloader
        .find_property("pt")
        .filter(|p| p.value_type() == u32::static_type())
        .and_then(|_| u8::try_from(payloader.property::<u32>("pt")).ok())
}
