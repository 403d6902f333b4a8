//! Network driver: the async I/O layer between the sans-IO protocol core
//! (`rtspclient_protocol`) and the elements.
//!
//! Its tasks run on the I/O threads all element instances share
//! ([`crate::runtime`]), so a process with hundreds of streams does not
//! need hundreds of threads. Data packets are pushed into GStreamer
//! directly from the runtime's worker threads.

pub mod answers;
pub mod client;
pub mod connection;
pub mod datagrams;
pub mod error;
pub mod http_proxy;
pub mod http_tunnel;
mod in_flight;
pub mod packet_route;
mod pump;
mod read_bounds;
mod server_requests;
pub mod socket;
pub mod tls;
pub mod tls_verify;
pub mod udp;
pub mod writer;
