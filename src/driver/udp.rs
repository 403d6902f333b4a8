//! UDP sockets for RTP/RTCP: even/odd port pairs (RFC 3550 11), optional
//! port range, receive buffer size, and multicast group joins.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// How many candidate pairs to try before giving up: ports get taken
/// between our two binds by other processes.
const MAX_PAIR_ATTEMPTS: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct UdpOptions {
    /// Inclusive local port range for RTP/RTCP; None = ephemeral ports.
    pub port_range: Option<(u16, u16)>,
    /// SO_RCVBUF to ask for; 0 leaves the system default.
    pub buffer_size: usize,
    /// Interface address for multicast joins; None = system choice.
    pub multicast_iface: Option<Ipv4Addr>,
}

/// An RTP socket and its RTCP companion.
#[derive(Debug, Clone)]
pub struct UdpPair {
    pub rtp: Arc<UdpSocket>,
    pub rtcp: Arc<UdpSocket>,
}

impl UdpPair {
    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }
    pub fn rtcp_port(&self) -> u16 {
        self.rtcp.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

fn bind_one(addr: SocketAddr, buffer_size: usize, reuse: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse {
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
    }
    if buffer_size > 0 {
        set_receive_buffer(&socket, buffer_size);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Ask for `size` bytes of receive buffer. SO_RCVBUF is capped at
/// net.core.rmem_max (208 KiB on Debian), which a burst of 4 Mbit/s video
/// on a loaded machine overruns; like udpsrc, try SO_RCVBUFFORCE (allowed
/// with CAP_NET_ADMIN) when the cap cut the request short.
fn set_receive_buffer(socket: &Socket, size: usize) {
    let _ = socket.set_recv_buffer_size(size);
    // Linux reports twice the usable size it granted.
    if socket.recv_buffer_size().unwrap_or(0) >= size {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid socket descriptor and a c_int option value of
        // the advertised length.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Bind an even RTP port and the next odd one for RTCP. Must run inside the
/// shared runtime (the sockets register with its reactor).
pub fn bind_unicast_pair(ipv6: bool, options: &UdpOptions) -> io::Result<UdpPair> {
    let ip = unspecified(ipv6);
    let mut candidates: Box<dyn Iterator<Item = u16>> = match options.port_range {
        Some((low, high)) => {
            let first = low + (low % 2);
            Box::new((first..high).step_by(2))
        }
        None => Box::new(std::iter::repeat_n(0, MAX_PAIR_ATTEMPTS)),
    };
    let mut last_err = None;
    for _ in 0..MAX_PAIR_ATTEMPTS {
        let Some(port) = candidates.next() else { break };
        let rtp = match bind_one(SocketAddr::new(ip, port), options.buffer_size, false) {
            Ok(s) => s,
            Err(err) => {
                last_err = Some(err);
                continue;
            }
        };
        let rtp_port = rtp.local_addr()?.port();
        if rtp_port % 2 != 0 || rtp_port == u16::MAX {
            continue;
        }
        match bind_one(
            SocketAddr::new(ip, rtp_port + 1),
            options.buffer_size,
            false,
        ) {
            Ok(rtcp) => {
                return Ok(UdpPair {
                    rtp: Arc::new(rtp),
                    rtcp: Arc::new(rtcp),
                });
            }
            Err(err) => last_err = Some(err),
        }
    }
    // With a range, say which: the user set it, and another instance or
    // program holding all of it is the usual reason.
    if let Some((low, high)) = options.port_range {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "no free even/odd port pair left in port-range {low}-{high} ({})",
                last_err.map_or_else(|| "range too small".to_string(), |e| e.to_string())
            ),
        ));
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AddrInUse, "no free even/odd UDP port pair")
    }))
}

/// Bind the multicast ports and join `group` on both sockets.
pub fn bind_multicast_pair(
    group: IpAddr,
    rtp_port: u16,
    rtcp_port: u16,
    options: &UdpOptions,
) -> io::Result<UdpPair> {
    let ip = unspecified(group.is_ipv6());
    // Several receivers of one group on one host must share the ports.
    let rtp = bind_one(SocketAddr::new(ip, rtp_port), options.buffer_size, true)?;
    let rtcp = bind_one(SocketAddr::new(ip, rtcp_port), options.buffer_size, true)?;
    for socket in [&rtp, &rtcp] {
        only_joined_groups(socket, group.is_ipv6());
        match group {
            IpAddr::V4(group) => {
                let iface = options.multicast_iface.unwrap_or(Ipv4Addr::UNSPECIFIED);
                socket.join_multicast_v4(group, iface)?;
                // We also send RTCP receiver reports to the group; keep our
                // own copies from looping back into the RTCP socket only
                // where that is possible.
            }
            IpAddr::V6(group) => socket.join_multicast_v6(&group, 0)?,
        }
    }
    Ok(UdpPair {
        rtp: Arc::new(rtp),
        rtcp: Arc::new(rtcp),
    })
}

/// A socket bound to the wildcard address gets, on Linux, the multicast
/// packets of every group that any socket of the host joined on its port
/// (`IP_MULTICAST_ALL` defaults to on): two cameras sending to different
/// groups on the same port, both played on one host, reached each other's
/// receivers, and the stream switched to the other camera's pictures.
/// Only the groups joined on this socket, as C `udpsrc` gets by binding
/// to the group address. Elsewhere the option does not exist; a kernel
/// that refuses it keeps the old behaviour.
fn only_joined_groups(socket: &UdpSocket, ipv6: bool) {
    #[cfg(target_os = "linux")]
    {
        let socket = socket2::SockRef::from(socket);
        let _ = match ipv6 {
            false => socket.set_multicast_all_v4(false),
            true => socket.set_multicast_all_v6(false),
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, ipv6);
}

/// Parse a `port-range` property value: "5000-5100".
pub fn parse_port_range(value: &str) -> Option<(u16, u16)> {
    let (low, high) = value.trim().split_once('-')?;
    let low: u16 = low.trim().parse().ok()?;
    let high: u16 = high.trim().parse().ok()?;
    (low < high).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_parsing() {
        assert_eq!(parse_port_range("5000-5010"), Some((5000, 5010)));
        assert_eq!(parse_port_range(" 5000 - 5010 "), Some((5000, 5010)));
        assert_eq!(parse_port_range("5010-5000"), None);
        assert_eq!(parse_port_range("x-1"), None);
        assert_eq!(parse_port_range(""), None);
    }

    #[test]
    fn receive_buffer_reaches_the_requested_size_when_allowed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let options = UdpOptions {
                buffer_size: 1 << 20,
                ..UdpOptions::default()
            };
            let pair = bind_unicast_pair(false, &options).unwrap();
            let granted = socket2::SockRef::from(&*pair.rtp)
                .recv_buffer_size()
                .unwrap();
            // As root (CI) SO_RCVBUFFORCE lifts the rmem_max cap; otherwise
            // the kernel's cap is what we get.
            let is_root = unsafe { libc::geteuid() } == 0;
            if is_root {
                assert!(granted >= 1 << 20, "granted {granted}");
            } else {
                assert!(granted > 0);
            }
        });
    }

    /// Pairs come from the range only, and a full range says so.
    #[test]
    fn port_range_is_used_up_then_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // A range whose four ports are free now (bound and released).
            let range = (20_000u16..60_000)
                .step_by(4)
                .find(|&low| {
                    let probe: Vec<_> = (low..low + 4)
                        .map(|p| std::net::UdpSocket::bind(("0.0.0.0", p)))
                        .collect();
                    probe.iter().all(Result::is_ok)
                })
                .map(|low| (low, low + 3))
                .unwrap();
            let options = UdpOptions {
                port_range: Some(range),
                ..UdpOptions::default()
            };
            let a = bind_unicast_pair(false, &options).unwrap();
            let b = bind_unicast_pair(false, &options).unwrap();
            for pair in [&a, &b] {
                assert!((range.0..=range.1).contains(&pair.rtp_port()));
                assert!((range.0..=range.1).contains(&pair.rtcp_port()));
            }
            let err = bind_unicast_pair(false, &options).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("port-range {}-{}", range.0, range.1)),
                "{text}"
            );
        });
    }

    #[test]
    fn unicast_pair_is_even_odd() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pair = bind_unicast_pair(false, &UdpOptions::default()).unwrap();
            assert_eq!(pair.rtp_port() % 2, 0);
            assert_eq!(pair.rtcp_port(), pair.rtp_port() + 1);
        });
    }
}
