//! The signals of `rtspsrc2`: `select-stream` (asked for each SDP stream
//! before SETUP), `new-manager` (the rtpbin of a new session) and the
//! GET/SET_PARAMETER action signals, whose promises the play task answers.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

pub fn signals() -> Vec<glib::subclass::Signal> {
    vec![
        // Asked for every stream of the SDP before SETUP; returning
        // FALSE skips the stream (no SETUP, no pad).
        glib::subclass::Signal::builder("select-stream")
            .param_types([u32::static_type(), gst::Caps::static_type()])
            .return_type::<bool>()
            .run_last()
            .class_handler(|_| Some(true.to_value()))
            .accumulator(|_hint, _accumulated, value| {
                // The first handler that says FALSE decides.
                if value.get::<bool>().unwrap_or(true) {
                    std::ops::ControlFlow::Continue(value.clone())
                } else {
                    std::ops::ControlFlow::Break(value.clone())
                }
            })
            .build(),
        // The rtpbin of a new session, to configure it further.
        glib::subclass::Signal::builder("new-manager")
            .param_types([gst::Element::static_type()])
            .run_first()
            .build(),
        // GET_PARAMETER for one parameter; the promise gets a
        // structure with rtsp-result, rtsp-code, rtsp-reason, body.
        glib::subclass::Signal::builder("get-parameter")
            .param_types([
                String::static_type(),
                String::static_type(),
                gst::Promise::static_type(),
            ])
            .return_type::<bool>()
            .action()
            .class_handler(|args| {
                let element = args[0].get::<super::RtspSrc2>().ok()?;
                let name = args[1].get::<String>().ok()?;
                let content_type = args[2].get::<Option<String>>().ok()?;
                let promise = args[3].get::<gst::Promise>().ok()?;
                let body = format!("{name}\r\n");
                Some(
                    element
                        .imp()
                        .queue_parameter("GET_PARAMETER", content_type, body, promise)
                        .to_value(),
                )
            })
            .build(),
        // GET_PARAMETER for several parameters at once.
        glib::subclass::Signal::builder("get-parameters")
            .param_types([
                <Vec<String>>::static_type(),
                String::static_type(),
                gst::Promise::static_type(),
            ])
            .return_type::<bool>()
            .action()
            .class_handler(|args| {
                let element = args[0].get::<super::RtspSrc2>().ok()?;
                let names = args[1].get::<Vec<String>>().ok()?;
                let content_type = args[2].get::<Option<String>>().ok()?;
                let promise = args[3].get::<gst::Promise>().ok()?;
                let body: String = names.iter().map(|n| format!("{n}\r\n")).collect();
                Some(
                    element
                        .imp()
                        .queue_parameter("GET_PARAMETER", content_type, body, promise)
                        .to_value(),
                )
            })
            .build(),
        // SET_PARAMETER name: value.
        glib::subclass::Signal::builder("set-parameter")
            .param_types([
                String::static_type(),
                String::static_type(),
                String::static_type(),
                gst::Promise::static_type(),
            ])
            .return_type::<bool>()
            .action()
            .class_handler(|args| {
                let element = args[0].get::<super::RtspSrc2>().ok()?;
                let name = args[1].get::<String>().ok()?;
                let value = args[2].get::<String>().ok()?;
                let content_type = args[3].get::<Option<String>>().ok()?;
                let promise = args[4].get::<gst::Promise>().ok()?;
                let body = format!("{name}: {value}\r\n");
                Some(
                    element
                        .imp()
                        .queue_parameter("SET_PARAMETER", content_type, body, promise)
                        .to_value(),
                )
            })
            .build(),
    ]
}
