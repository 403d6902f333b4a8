#![no_main]

// The body is rtspclient_protocol::fuzzing::sdp_to_caps, shared with the stable
// test that replays the corpora (protocol/tests/fuzz_corpora.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rtspclient_protocol::fuzzing::sdp_to_caps(data);
});
