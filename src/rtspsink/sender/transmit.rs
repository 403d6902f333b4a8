//! Putting a stream's RTP on the wire from the streaming thread: as
//! interleaved frames on the RTSP connection or as UDP datagrams, and
//! what `backpressure` does when the connection or the socket is full.

use std::io;
use std::sync::atomic::Ordering;

use super::{Control, Route, RunConfig, StreamSender, UdpRoute};
use crate::driver::datagrams::send_datagrams;
use crate::driver::error::{ClientError, ErrorKind};
use crate::driver::writer::{SendError, Writer};
use crate::rtspsink::imp::CAT;
use crate::rtspsink::settings::Backpressure;
use crate::rtspsink::wire::{MappedPackets, Outgoing, send_when_writable};
use crate::runtime;

impl StreamSender {
    pub(super) fn send(
        &self,
        control: &Control,
        run: &RunConfig,
        route: &Route,
        pt_rewrite: Option<u8>,
        packets: &[Outgoing<'_>],
    ) -> Result<(), gst::FlowError> {
        match route {
            Route::Interleaved { writer, rtp, .. } => {
                self.send_interleaved(control, run, writer, *rtp, pt_rewrite, packets)
            }
            Route::Udp(udp) => self.send_udp(control, run, udp, pt_rewrite, packets),
        }
    }

    /// Send `packets` as interleaved frames (RFC 2326 10.12) in one
    /// vectored write. Over loopback, handing each packet to the runtime's
    /// writer task cost more than the write itself (a wake-up and a
    /// context switch per packet); this writes on the streaming thread, as
    /// C's `rtspclientsink` does, and the connection queues only what the
    /// socket cannot take at once.
    fn send_interleaved(
        &self,
        control: &Control,
        run: &RunConfig,
        writer: &Writer,
        channel: u8,
        pt_rewrite: Option<u8>,
        packets: &[Outgoing<'_>],
    ) -> Result<(), gst::FlowError> {
        let mapped = MappedPackets::map(&self.rtp_pad, packets, Some(channel), pt_rewrite)?;
        if mapped.is_empty() {
            return Ok(());
        }
        let (slices, _) = mapped.slices();
        let result = match writer.try_send_vectored(&slices) {
            Err(SendError::Full) => match run.backpressure {
                Backpressure::Drop => {
                    control.count_drops(self.index, mapped.len());
                    return Ok(());
                }
                Backpressure::Block => {
                    // The queue is full: wait for room, or for a flush or
                    // state change to interrupt us.
                    let mut interrupt = self.interrupt.subscribe();
                    let slices = &slices;
                    match block_on(async move {
                        tokio::select! {
                            result = writer.send_vectored(slices) => Some(result),
                            _ = interrupt.wait_for(|i| *i) => None,
                        }
                    }) {
                        Some(result) => result,
                        None => return Err(gst::FlowError::Flushing),
                    }
                }
            },
            other => other,
        };
        match result {
            // Counted once the connection took them: packets dropped or
            // refused by a broken connection are not reported as sent.
            Ok(()) => {
                self.count(&mapped);
                Ok(())
            }
            Err(_) => {
                if self.flushing.load(Ordering::SeqCst) {
                    return Err(gst::FlowError::Flushing);
                }
                if run.reconnect {
                    // The record task sees the connection go too and
                    // reconnects, or reports why it cannot.
                    control.count_drops(self.index, mapped.len());
                    return Ok(());
                }
                control.fail(
                    Some(run.epoch),
                    &ClientError::new(
                        ErrorKind::Closed,
                        "The server closed the connection while publishing",
                    ),
                );
                Err(gst::FlowError::Error)
            }
        }
    }

    /// Send `packets` as datagrams, a buffer list with one non-blocking
    /// system call. When the socket buffer is full, `backpressure`
    /// decides, datagram by datagram.
    fn send_udp(
        &self,
        control: &Control,
        run: &RunConfig,
        udp: &UdpRoute,
        pt_rewrite: Option<u8>,
        packets: &[Outgoing<'_>],
    ) -> Result<(), gst::FlowError> {
        let mapped = MappedPackets::map(&self.rtp_pad, packets, None, pt_rewrite)?;
        if mapped.is_empty() {
            return Ok(());
        }
        self.count(&mapped);
        let (slices, datagrams) = mapped.slices();
        let dest = socket2::SockAddr::from(udp.rtp);
        let mut next = 0;
        while next < datagrams.len() {
            let sent = send_datagrams(
                &udp.rtp_socket,
                &dest,
                &slices,
                &datagrams[next..],
                &udp.segmentation,
            );
            if let Some(refusal) = &sent.segmentation_refused {
                gst::info!(
                    CAT,
                    obj = self.rtp_pad,
                    "UDP segmentation refused ({refusal}); sending datagrams one by one"
                );
            }
            next += sent.count;
            let Some(err) = sent.error else { break };
            let datagram = &slices[datagrams[next].clone()];
            next += 1;
            if err.kind() != io::ErrorKind::WouldBlock {
                // ICMP errors of earlier datagrams and the like: UDP gives
                // no delivery promise anyway.
                gst::debug!(CAT, obj = self.rtp_pad, "UDP send failed: {err}");
                continue;
            }
            match run.backpressure {
                Backpressure::Drop => control.count_drops(self.index, 1),
                Backpressure::Block => {
                    let mut interrupt = self.interrupt.subscribe();
                    let (socket, dest) = (&udp.rtp_socket, &dest);
                    block_on(async move {
                        tokio::select! {
                            _ = send_when_writable(socket, datagram, dest) => Ok(()),
                            _ = interrupt.wait_for(|i| *i) => Err(gst::FlowError::Flushing),
                        }
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Count packets sent (handed to the connection or the socket).
    fn count(&self, mapped: &MappedPackets<'_>) {
        self.packets
            .fetch_add(mapped.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(mapped.bytes, Ordering::Relaxed);
    }
}

/// Run `future` to completion from a streaming thread. Streaming threads
/// are normally GStreamer's own; if one is a worker of a multi-threaded
/// tokio runtime (a source pushing from it), step out of the worker first.
fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Ok(_) => {
            // A current-thread runtime cannot be blocked in; run the future
            // on a helper thread instead.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| runtime::handle().block_on(future))
                    .join()
                    .expect("send thread panicked")
            })
        }
        Err(_) => runtime::handle().block_on(future),
    }
}
