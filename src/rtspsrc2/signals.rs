//! The signals of `rtspsrc2`: `select-stream` (asked for each SDP stream
//! before SETUP), `new-manager` (the rtpbin of a new session) and the
//! GET/SET_PARAMETER action signals, whose promises the play task answers.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

pub fn signals() -> Vec<glib::subclass::Signal> {
    let mut signals = vec![
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
        parameter_signal(
            "get-parameter",
            "GET_PARAMETER",
            &[String::static_type()],
            |args| Some(format!("{}\r\n", args[1].get::<String>().ok()?)),
        ),
        // GET_PARAMETER for several parameters at once.
        parameter_signal(
            "get-parameters",
            "GET_PARAMETER",
            &[<Vec<String>>::static_type()],
            |args| {
                let names = args[1].get::<Vec<String>>().ok()?;
                Some(names.iter().map(|n| format!("{n}\r\n")).collect())
            },
        ),
        // SET_PARAMETER name: value.
        parameter_signal(
            "set-parameter",
            "SET_PARAMETER",
            &[String::static_type(), String::static_type()],
            |args| {
                let name = args[1].get::<String>().ok()?;
                let value = args[2].get::<String>().ok()?;
                Some(format!("{name}: {value}\r\n"))
            },
        ),
    ];
    signals.extend(super::backchannel::signals());
    signals
}

/// An action signal that sends `method` with the body `body` makes from
/// the signal's arguments (the element, then `params`), followed by the
/// content type (NULL: text/parameters) and the promise for the answer.
/// Returns FALSE when there is no session to send it in.
fn parameter_signal(
    name: &'static str,
    method: &'static str,
    params: &[glib::Type],
    body: fn(&[glib::Value]) -> Option<String>,
) -> glib::subclass::Signal {
    let mut types = params.to_vec();
    types.extend([String::static_type(), gst::Promise::static_type()]);
    let content_type_at = params.len() + 1;
    glib::subclass::Signal::builder(name)
        .param_types(types)
        .return_type::<bool>()
        .action()
        .class_handler(move |args| {
            let element = args[0].get::<super::RtspSrc2>().ok()?;
            let body = body(args)?;
            let content_type = args[content_type_at].get::<Option<String>>().ok()?;
            let promise = args[content_type_at + 1].get::<gst::Promise>().ok()?;
            Some(
                element
                    .imp()
                    .queue_parameter(method, content_type, body, promise)
                    .to_value(),
            )
        })
        .build()
}
