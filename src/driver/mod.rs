//! Network driver: the async I/O layer between the sans-IO protocol core
//! (`rtspclient_protocol`) and the elements.
//!
//! All element instances share a small fixed pool of I/O threads
//! ([`runtime`]), so a process with hundreds of streams does not need
//! hundreds of threads. Data packets are pushed into GStreamer directly from
//! the runtime's worker threads.

pub mod client;
pub mod connection;
pub mod datagrams;
pub mod error;
mod in_flight;
mod read_bounds;
pub mod runtime;
mod server_requests;
pub mod udp;
