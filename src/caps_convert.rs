//! Conversion between the protocol core's pure caps description and
//! `gst::Caps`, in both directions (playing and publishing).

use rtspclient_protocol::caps::{CapsValue, RtpCaps};

/// `application/x-rtp` caps from the protocol core's description.
pub fn to_gst_caps(description: &RtpCaps) -> gst::Caps {
    let mut builder = gst::Structure::builder("application/x-rtp");
    for (name, value) in &description.fields {
        builder = match value {
            CapsValue::Str(s) => builder.field(name.as_str(), s.as_str()),
            CapsValue::Int(i) => builder.field(name.as_str(), *i),
            CapsValue::UInt(u) => builder.field(name.as_str(), *u),
        };
    }
    gst::Caps::builder_full().structure(builder.build()).build()
}

/// The protocol core's description from the first structure of RTP caps.
/// Fields of other types (fractions, lists) are skipped: they have no SDP
/// form.
pub fn from_gst_caps(caps: &gst::CapsRef) -> Option<RtpCaps> {
    let structure = caps.structure(0)?;
    let mut description = RtpCaps::default();
    for (name, value) in structure.iter() {
        let value = if let Ok(s) = value.get::<String>() {
            CapsValue::Str(s)
        } else if let Ok(i) = value.get::<i32>() {
            CapsValue::Int(i)
        } else if let Ok(u) = value.get::<u32>() {
            CapsValue::UInt(u)
        } else {
            continue;
        };
        description.fields.push((name.to_string(), value));
    }
    Some(description)
}
