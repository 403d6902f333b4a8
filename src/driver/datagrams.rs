//! Sending one chain call's RTP datagrams with as few trips through the
//! kernel's UDP stack as they allow.
//!
//! `sendmmsg` saves system calls, but the kernel still builds, routes and
//! (on loopback) delivers every datagram on its own: a quarter of
//! `rtspsink`'s CPU at 32 × 4 Mbit/s (BENCHMARKS.md). With UDP generic
//! segmentation offload (`UDP_SEGMENT`, Linux 4.18) a run of equally sized
//! datagrams goes down the stack as one message and is cut into datagrams
//! at the end: by the NIC, the driver, or the receiving socket on
//! loopback. A payloader's fragments of a video frame are such a run (all
//! MTU-sized but the last), so a frame usually costs one message instead
//! of dozens. What arrives is the same datagrams, in the same order.
//!
//! A kernel or device that refuses a segmented message (`EINVAL`, `EIO`
//! and the like: no checksum offload, a segment larger than the path MTU)
//! turns segmentation off for that socket, and the message goes again as
//! single datagrams; the caller learns why from [`Sent`] and logs it in
//! its own debug category (the driver has none).

use std::io::{self, IoSlice};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// Segments per message: Linux's `UDP_MAX_SEGMENTS` was 64 before 6.x
/// raised it; the lower bound works everywhere.
const MAX_SEGMENTS: usize = 64;

/// Bytes per segmented message: an IPv6 datagram carries at most 65 487
/// UDP payload bytes; below that with room to spare.
const MAX_MESSAGE_BYTES: usize = 64_000;

/// Whether a socket may still segment (per socket: set to false for good
/// after the kernel refused once).
pub struct Segmentation {
    enabled: AtomicBool,
}

impl Segmentation {
    pub fn new() -> Segmentation {
        Segmentation {
            enabled: AtomicBool::new(cfg!(target_os = "linux")),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }
}

impl Default for Segmentation {
    fn default() -> Self {
        Segmentation::new()
    }
}

/// Split datagrams of the given sizes into runs that can go as one
/// segmented message: every datagram of a run has the size of the first
/// except the last, which may be shorter (the kernel cuts the message
/// into pieces of the first size). Runs of one datagram go unsegmented.
pub fn segment_runs(sizes: &[usize], max_segments: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < sizes.len() {
        let segment = sizes[start];
        let mut end = start + 1;
        let mut bytes = segment;
        while end < sizes.len()
            && segment > 0
            && end - start < max_segments
            && bytes + sizes[end] <= MAX_MESSAGE_BYTES
            && sizes[end] <= segment
            // An empty datagram would vanish in the cut.
            && sizes[end] > 0
        {
            bytes += sizes[end];
            end += 1;
            if sizes[end - 1] < segment {
                // A shorter datagram can only be a run's last.
                break;
            }
        }
        runs.push(start..end);
        start = end;
    }
    runs
}

/// What one [`send_datagrams`] call did.
#[derive(Debug)]
pub struct Sent {
    /// How many datagrams went, from the first on.
    pub count: usize,
    /// If not all went, why the next one did not: `WouldBlock` when the
    /// socket buffer is full, or another error that belongs to that
    /// datagram (or to an earlier one: ICMP errors).
    pub error: Option<io::Error>,
    /// The kernel refused a segmented message with this error: the socket
    /// sends single datagrams from now on.
    pub segmentation_refused: Option<io::Error>,
}

impl Sent {
    fn all(count: usize) -> Sent {
        Sent {
            count,
            error: None,
            segmentation_refused: None,
        }
    }

    fn stopped(count: usize, error: io::Error) -> Sent {
        Sent {
            count,
            error: Some(error),
            segmentation_refused: None,
        }
    }
}

/// Send datagrams (each a range of `slices`, one after the other, as
/// `rtspsink`'s `MappedPackets::slices` makes them) to `dest` without
/// blocking.
pub fn send_datagrams(
    socket: &std::net::UdpSocket,
    dest: &socket2::SockAddr,
    slices: &[IoSlice<'_>],
    datagrams: &[Range<usize>],
    segmentation: &Segmentation,
) -> Sent {
    #[cfg(target_os = "linux")]
    {
        linux::send(socket, dest, slices, datagrams, segmentation, MAX_SEGMENTS)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = segmentation;
        let socket = socket2::SockRef::from(socket);
        for (sent, range) in datagrams.iter().enumerate() {
            if let Err(err) = socket.send_to_vectored(&slices[range.clone()], dest) {
                return Sent::stopped(sent, err);
            }
        }
        Sent::all(datagrams.len())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::os::fd::AsRawFd;

    /// `sendmmsg` takes at most UIO_MAXIOV (1024) messages per call.
    const MAX_MESSAGES: usize = 1024;

    pub(super) fn send(
        socket: &std::net::UdpSocket,
        dest: &socket2::SockAddr,
        slices: &[IoSlice<'_>],
        datagrams: &[Range<usize>],
        segmentation: &Segmentation,
        max_segments: usize,
    ) -> Sent {
        // A run's message is the slices from its first datagram's start to
        // its last one's end: the datagrams must follow each other.
        debug_assert!(datagrams.windows(2).all(|w| w[0].end == w[1].start));
        // Sizes only matter for segmenting (empty otherwise: every run is
        // one datagram then).
        let segmenting = segmentation.enabled();
        let sizes: Vec<usize> = if segmenting {
            datagrams
                .iter()
                .map(|range| slices[range.clone()].iter().map(|s| s.len()).sum())
                .collect()
        } else {
            Vec::new()
        };
        let runs: Vec<Range<usize>> = if segmenting {
            segment_runs(&sizes, max_segments)
        } else {
            (0..datagrams.len()).map(|i| i..i + 1).collect()
        };
        // SAFETY: CMSG_SPACE is arithmetic on its argument.
        let control_len = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
        // u64 words keep each control buffer aligned for `cmsghdr`.
        let words = control_len.div_ceil(8);
        let mut control = vec![0u64; runs.len() * words];
        let mut headers: Vec<libc::mmsghdr> = Vec::with_capacity(runs.len());
        for (index, run) in runs.iter().enumerate() {
            let iov = &slices[datagrams[run.start].start..datagrams[run.end - 1].end];
            // SAFETY: all-zero is a valid mmsghdr (null pointers, zero
            // lengths); the fields that matter are set below.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_name = dest.as_ptr() as *mut libc::c_void;
            header.msg_hdr.msg_namelen = dest.len();
            // IoSlice is ABI-compatible with iovec on Unix (std guarantee).
            header.msg_hdr.msg_iov = iov.as_ptr() as *mut libc::iovec;
            header.msg_hdr.msg_iovlen = iov.len() as _;
            if run.len() > 1 {
                let segment = sizes[run.start];
                let buffer = &mut control[index * words..(index + 1) * words];
                header.msg_hdr.msg_control = buffer.as_mut_ptr().cast();
                header.msg_hdr.msg_controllen = control_len as _;
                // SAFETY: msg_control points to `control_len` zeroed,
                // aligned bytes that outlive the header; CMSG_FIRSTHDR is
                // therefore non-null and CMSG_DATA has room for a u16.
                unsafe {
                    let cmsg = libc::CMSG_FIRSTHDR(&header.msg_hdr);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment as u16);
                }
            }
            headers.push(header);
        }
        let mut sent_messages = 0;
        while sent_messages < headers.len() {
            let count = (headers.len() - sent_messages).min(MAX_MESSAGES);
            // SAFETY: `headers[sent_messages..][..count]` are initialised
            // mmsghdrs whose pointers (`dest`, `slices`, `control` and
            // the memory they point to) outlive this call; the kernel
            // only reads them and writes `msg_len`.
            let result = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers[sent_messages..].as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if result < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                let run = &runs[sent_messages];
                if run.len() > 1 && refuses_segmentation(&err) {
                    segmentation.disable();
                    let rest = send(
                        socket,
                        dest,
                        slices,
                        &datagrams[run.start..],
                        segmentation,
                        1,
                    );
                    return Sent {
                        count: run.start + rest.count,
                        error: rest.error,
                        segmentation_refused: Some(err),
                    };
                }
                return Sent::stopped(run.start, err);
            }
            sent_messages += result as usize;
        }
        Sent::all(datagrams.len())
    }

    /// Errors with which the kernel or the device refuses a segmented
    /// message (rather than the datagrams in it).
    fn refuses_segmentation(err: &io::Error) -> bool {
        matches!(
            err.raw_os_error(),
            Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP | libc::EMSGSIZE)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_equal_sizes_with_a_shorter_last() {
        // SPS and PPS (the shorter PPS ends their run), then a frame's
        // fragments: 1400 × 4 and a 600 tail, then a small frame and
        // another fragmented one.
        let sizes = [20, 8, 1400, 1400, 1400, 1400, 600, 300, 1400, 1400, 1400];
        let runs = segment_runs(&sizes, MAX_SEGMENTS);
        assert_eq!(runs, vec![0..2, 2..7, 7..8, 8..11]);
    }

    #[test]
    fn a_larger_datagram_starts_a_new_run() {
        let runs = segment_runs(&[500, 500, 1400, 1400, 0, 0, 700], MAX_SEGMENTS);
        assert_eq!(runs, vec![0..2, 2..4, 4..5, 5..6, 6..7]);
    }

    #[test]
    fn runs_respect_the_segment_and_byte_limits() {
        let runs = segment_runs(&[100; 150], 64);
        assert_eq!(runs, vec![0..64, 64..128, 128..150]);
        let big = [9000; 10];
        let runs = segment_runs(&big, 64);
        assert!(
            runs.iter()
                .all(|r| big[r.clone()].iter().sum::<usize>() <= MAX_MESSAGE_BYTES)
        );
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 10);
        assert_eq!(runs[0], 0..7);
    }

    /// Datagrams of distinct content, sized like a payloader's output.
    #[cfg(target_os = "linux")]
    fn datagrams(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                (0..size)
                    .map(|b| (b as u8).wrapping_mul(7) ^ i as u8)
                    .collect()
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    fn receive_all(receiver: &std::net::UdpSocket, expected: &[Vec<u8>]) {
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buffer = vec![0u8; 65536];
        for (index, datagram) in expected.iter().enumerate() {
            let n = receiver
                .recv(&mut buffer)
                .unwrap_or_else(|e| panic!("datagram {index} did not arrive: {e}"));
            assert_eq!(&buffer[..n], &datagram[..], "datagram {index}");
        }
    }

    /// Two slices per datagram, like a 2-byte rewritten header before the
    /// payloader's memories.
    #[cfg(target_os = "linux")]
    fn split_slices(packets: &[Vec<u8>]) -> (Vec<IoSlice<'_>>, Vec<Range<usize>>) {
        let mut slices = Vec::new();
        let mut ranges = Vec::new();
        for packet in packets {
            let start = slices.len();
            let cut = packet.len().min(2);
            slices.push(IoSlice::new(&packet[..cut]));
            if packet.len() > cut {
                slices.push(IoSlice::new(&packet[cut..]));
            }
            ranges.push(start..slices.len());
        }
        (slices, ranges)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn segmented_datagrams_arrive_as_sent() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = socket2::SockAddr::from(receiver.local_addr().unwrap());
        let packets = datagrams(&[20, 8, 1400, 1400, 1400, 1400, 600, 300, 1400, 1400, 1400]);
        let (slices, ranges) = split_slices(&packets);
        let segmentation = Segmentation::new();
        let sent = send_datagrams(&sender, &dest, &slices, &ranges, &segmentation);
        assert!(sent.error.is_none(), "{:?}", sent.error);
        assert!(sent.segmentation_refused.is_none());
        assert_eq!(sent.count, packets.len());
        receive_all(&receiver, &packets);
        // Linux >= 4.18 on loopback takes segmented messages.
        assert!(segmentation.enabled(), "the kernel refused UDP_SEGMENT");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn refused_segmentation_falls_back_to_single_datagrams() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = socket2::SockAddr::from(receiver.local_addr().unwrap());
        // 150 segments in one message: over any kernel's UDP_MAX_SEGMENTS
        // (64 or 128), so the kernel says EINVAL. (Few enough to fit the
        // receiver's default socket buffer.)
        let mut sizes = vec![12, 12];
        sizes.extend([40; 150]);
        let packets = datagrams(&sizes);
        let (slices, ranges) = split_slices(&packets);
        let segmentation = Segmentation::new();
        let sent = linux::send(&sender, &dest, &slices, &ranges, &segmentation, 1000);
        assert!(sent.error.is_none(), "{:?}", sent.error);
        assert!(sent.segmentation_refused.is_some());
        assert_eq!(sent.count, packets.len());
        assert!(!segmentation.enabled());
        receive_all(&receiver, &packets);
    }
}
