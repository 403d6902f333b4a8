//! A UDP path between a test server and a client (`rtspsrc2` playing or
//! `rtspsink` publishing) that the test controls: an RTSP proxy on
//! 127.0.0.1 that rewrites the ports of each SETUP so that every RTP and
//! RTCP datagram of the session, both ways, goes through a relay of its
//! own. The relay drops every n-th RTP packet of the media's payload type
//! on the lossy leg (from the server by default, from the client with
//! [`UdpPath::start_publishing`]; deterministic loss, so the numbers
//! repeat from run to run), passes everything else (RTX packets, RTCP
//! with the receiver's NACKs), and counts what it saw.
//!
//! The server sees the relay's server-facing ports as `client_port`, the
//! client sees its client-facing ports as `server_port`; both see their
//! own ports in the answer, as they asked. Every thread polls a stop flag
//! at least every 100 ms and ends when the [`UdpPath`] is dropped.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(100);

/// What the relays of all sessions counted.
#[derive(Default, Debug)]
pub struct PathCounters {
    /// RTP datagrams of the media payload type on the lossy leg, passed.
    pub rtp_passed: AtomicU64,
    /// RTP datagrams of the media payload type dropped on purpose.
    pub rtp_dropped: AtomicU64,
    /// RTP datagrams of any other payload type (RTX) on the lossy leg.
    pub retransmitted: AtomicU64,
    /// RTCP transport-layer feedback (PT 205, NACK) from the server (the
    /// receiver when publishing).
    pub nacks_from_server: AtomicU64,
    /// RTCP datagrams from the client to the server.
    pub rtcp_from_client: AtomicU64,
    /// RTCP transport-layer feedback (PT 205, NACK) from the client.
    pub nacks_from_client: AtomicU64,
    /// Datagrams shorter than an RTP header from the client (NAT dummies).
    pub dummies_from_client: AtomicU64,
    /// The `client_port` pair of every SETUP the client sent.
    pub client_ports: Mutex<Vec<(u16, u16)>>,
    /// Sequence number and time of every packet dropped on purpose.
    pub drops: Mutex<Vec<(u16, Instant)>>,
    /// Every sequence number a NACK from the server (the receiver of the
    /// lossy leg) asked for (RFC 4585 §6.2.1: PID and BLP), with the time
    /// the NACK passed.
    pub nacked: Mutex<Vec<(u16, Instant)>>,
}

impl PathCounters {
    /// For each dropped packet, how long after the drop the first NACK
    /// for it passed; None for a packet never asked for.
    pub fn nack_delays(&self) -> Vec<Option<Duration>> {
        let nacked = self.nacked.lock().unwrap();
        self.drops
            .lock()
            .unwrap()
            .iter()
            .map(|(seq, dropped)| {
                nacked
                    .iter()
                    .find(|(s, at)| s == seq && at >= dropped)
                    .map(|(_, at)| *at - *dropped)
            })
            .collect()
    }
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    counters: PathCounters,
    threads: Mutex<Vec<JoinHandle<()>>>,
    streams: Mutex<Vec<TcpStream>>,
}

pub struct UdpPath {
    pub port: u16,
    shared: Arc<Shared>,
}

impl UdpPath {
    /// Proxy RTSP to `server`; drop every `drop_every`-th RTP packet of
    /// payload type `media_pt` from the server (0 = drop none).
    pub fn start(server: SocketAddr, media_pt: u8, drop_every: u64) -> UdpPath {
        Self::start_with(server, media_pt, drop_every, 0, false)
    }

    /// As [`UdpPath::start`], for a client that publishes (RECORD): the
    /// packets are dropped on their way from the client to the server;
    /// only among the first `drop_within` media packets when that is not
    /// 0.
    pub fn start_publishing(
        server: SocketAddr,
        media_pt: u8,
        drop_every: u64,
        drop_within: u64,
    ) -> UdpPath {
        Self::start_with(server, media_pt, drop_every, drop_within, true)
    }

    fn start_with(
        server: SocketAddr,
        media_pt: u8,
        drop_every: u64,
        drop_within: u64,
        publishing: bool,
    ) -> UdpPath {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind RTSP proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let rule = Rule {
            media_pt,
            drop_every,
            drop_within,
            publishing,
        };
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if let Ok(upstream) = TcpStream::connect(server) {
                    proxy(&s, client, upstream, rule);
                }
            }
        });
        shared.threads.lock().unwrap().push(accept);
        UdpPath { port, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }

    pub fn counters(&self) -> &PathCounters {
        &self.shared.counters
    }
}

impl Drop for UdpPath {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for stream in self.shared.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

#[derive(Clone, Copy)]
struct Rule {
    media_pt: u8,
    drop_every: u64,
    /// Drop only among this many first media packets (0: all of them).
    drop_within: u64,
    /// Drop on the client's RTP leg (else on the server's).
    publishing: bool,
}

/// A SETUP on its way: the relay's sockets and the client's ports.
struct Pending {
    client: (u16, u16),
    relay: Relay,
}

/// The four sockets of one stream's relay.
struct Relay {
    to_server: [UdpSocket; 2],
    to_client: [UdpSocket; 2],
}

impl Relay {
    fn bind() -> Relay {
        let pair = || {
            // Any two ports: nobody here needs them to be even and odd.
            let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
            let rtcp = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
            [rtp, rtcp]
        };
        Relay {
            to_server: pair(),
            to_client: pair(),
        }
    }

    fn ports(sockets: &[UdpSocket; 2]) -> (u16, u16) {
        let port = |s: &UdpSocket| s.local_addr().unwrap().port();
        (port(&sockets[0]), port(&sockets[1]))
    }
}

/// One RTSP connection through the proxy, both ways.
fn proxy(shared: &Arc<Shared>, client: TcpStream, server: TcpStream, rule: Rule) {
    let pending: Arc<Mutex<VecDeque<Pending>>> = Arc::default();
    {
        let mut streams = shared.streams.lock().unwrap();
        streams.push(client.try_clone().unwrap());
        streams.push(server.try_clone().unwrap());
    }
    let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (p, sh) = (pending.clone(), shared.clone());
    let requests = std::thread::spawn(move || {
        pump_messages(c, s, |message| rewrite_setup(message, &p, &sh.counters));
    });
    let sh = shared.clone();
    let responses = std::thread::spawn(move || {
        pump_messages(server, client, |message| {
            rewrite_answer(message, &pending, &sh, rule)
        });
    });
    let mut threads = shared.threads.lock().unwrap();
    threads.push(requests);
    threads.push(responses);
}

/// Copy RTSP messages (and interleaved frames) from `from` to `to`,
/// passing each whole message through `rewrite` first.
fn pump_messages(
    mut from: TcpStream,
    mut to: TcpStream,
    mut rewrite: impl FnMut(Vec<u8>) -> Vec<u8>,
) {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while let Some(len) = message_len(&buffer) {
            let message: Vec<u8> = buffer.drain(..len).collect();
            if to.write_all(&rewrite(message)).is_err() {
                return;
            }
        }
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// Length of the first complete message in `data`, if there is one.
fn message_len(data: &[u8]) -> Option<usize> {
    if data.first() == Some(&b'$') {
        let len = usize::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?]));
        return (data.len() >= 4 + len).then_some(4 + len);
    }
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&data[..end]);
    let body = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (data.len() >= end + body).then_some(end + body)
}

/// Replace `key=a-b` in the Transport header of `message`'s head by the
/// pair `with`; returns the old pair.
fn swap_ports(message: &mut Vec<u8>, key: &str, with: (u16, u16)) -> Option<(u16, u16)> {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&message[..end]).into_owned();
    let start = head.find(&format!("{key}="))? + key.len() + 1;
    let stop = head[start..]
        .find([';', '\r', ',', ' '])
        .map_or(head.len(), |i| start + i);
    let (a, b) = head[start..stop].split_once('-')?;
    let old = (a.parse().ok()?, b.parse().ok()?);
    let new_head = format!("{}{}-{}{}", &head[..start], with.0, with.1, &head[stop..]);
    message.splice(..end, new_head.into_bytes());
    Some(old)
}

fn rewrite_setup(
    mut message: Vec<u8>,
    pending: &Mutex<VecDeque<Pending>>,
    counters: &PathCounters,
) -> Vec<u8> {
    if !message.starts_with(b"SETUP ") {
        return message;
    }
    let relay = Relay::bind();
    if let Some(client) = swap_ports(&mut message, "client_port", Relay::ports(&relay.to_server)) {
        counters.client_ports.lock().unwrap().push(client);
        pending.lock().unwrap().push_back(Pending { client, relay });
    }
    message
}

fn rewrite_answer(
    mut message: Vec<u8>,
    pending: &Mutex<VecDeque<Pending>>,
    shared: &Arc<Shared>,
    rule: Rule,
) -> Vec<u8> {
    let is_setup_answer =
        message.starts_with(b"RTSP/") && String::from_utf8_lossy(&message).contains("server_port=");
    if !is_setup_answer {
        return message;
    }
    let Some(Pending { client, relay }) = pending.lock().unwrap().pop_front() else {
        return message;
    };
    swap_ports(&mut message, "client_port", client);
    let Some(server) = swap_ports(&mut message, "server_port", Relay::ports(&relay.to_client))
    else {
        return message;
    };
    start_relay(shared, relay, client, server, rule);
    message
}

/// Which way a relay socket forwards and what it counts.
#[derive(Clone, Copy, PartialEq)]
enum Leg {
    ServerRtp,
    ServerRtcp,
    ClientRtp,
    ClientRtcp,
}

fn start_relay(
    shared: &Arc<Shared>,
    relay: Relay,
    client: (u16, u16),
    server: (u16, u16),
    rule: Rule,
) {
    let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let Relay {
        to_server: [s_rtp, s_rtcp],
        to_client: [c_rtp, c_rtcp],
    } = relay;
    let legs = [
        (
            Leg::ServerRtp,
            s_rtp.try_clone().unwrap(),
            c_rtp.try_clone().unwrap(),
            local(client.0),
        ),
        (
            Leg::ServerRtcp,
            s_rtcp.try_clone().unwrap(),
            c_rtcp.try_clone().unwrap(),
            local(client.1),
        ),
        (Leg::ClientRtp, c_rtp, s_rtp, local(server.0)),
        (Leg::ClientRtcp, c_rtcp, s_rtcp, local(server.1)),
    ];
    let mut threads = shared.threads.lock().unwrap();
    for (leg, from, to, target) in legs {
        let shared = shared.clone();
        threads.push(std::thread::spawn(move || {
            forward(&shared, leg, from, to, target, rule)
        }));
    }
}

fn forward(
    shared: &Shared,
    leg: Leg,
    from: UdpSocket,
    to: UdpSocket,
    target: SocketAddr,
    rule: Rule,
) {
    from.set_read_timeout(Some(POLL)).unwrap();
    let counters = &shared.counters;
    let mut media_packets = 0u64;
    let mut buffer = vec![0u8; 65536];
    while !shared.stopping.load(Ordering::SeqCst) {
        let Ok(n) = from.recv(&mut buffer) else {
            continue;
        };
        let packet = &buffer[..n];
        let lossy = if rule.publishing {
            Leg::ClientRtp
        } else {
            Leg::ServerRtp
        };
        if leg == lossy && n >= 12 {
            if packet[1] & 0x7f == rule.media_pt {
                media_packets += 1;
                if rule.drop_every > 0
                    && media_packets.is_multiple_of(rule.drop_every)
                    && (rule.drop_within == 0 || media_packets <= rule.drop_within)
                {
                    counters.rtp_dropped.fetch_add(1, Ordering::SeqCst);
                    let seq = u16::from_be_bytes([packet[2], packet[3]]);
                    counters.drops.lock().unwrap().push((seq, Instant::now()));
                    continue;
                }
                counters.rtp_passed.fetch_add(1, Ordering::SeqCst);
            } else {
                counters.retransmitted.fetch_add(1, Ordering::SeqCst);
            }
            let _ = to.send_to(packet, target);
            continue;
        }
        match leg {
            Leg::ServerRtcp if rtcp_types(packet).contains(&205) => {
                counters.nacks_from_server.fetch_add(1, Ordering::SeqCst);
                let now = Instant::now();
                counters
                    .nacked
                    .lock()
                    .unwrap()
                    .extend(nacked_seqs(packet).into_iter().map(|seq| (seq, now)));
            }
            Leg::ClientRtp | Leg::ClientRtcp if n < 12 => {
                counters.dummies_from_client.fetch_add(1, Ordering::SeqCst);
            }
            Leg::ClientRtcp => {
                counters.rtcp_from_client.fetch_add(1, Ordering::SeqCst);
                if rtcp_types(packet).contains(&205) {
                    counters.nacks_from_client.fetch_add(1, Ordering::SeqCst);
                }
            }
            _ => {}
        }
        let _ = to.send_to(packet, target);
    }
}

/// The sequence numbers the generic NACKs (PT 205, FMT 1) of a compound
/// RTCP packet ask for: each FCI entry is a PID and a bitmask of the 16
/// packets after it (RFC 4585 §6.2.1).
fn nacked_seqs(mut data: &[u8]) -> Vec<u16> {
    let mut seqs = Vec::new();
    while data.len() >= 4 {
        let len = (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1) * 4;
        let packet = data.get(..len).unwrap_or(data);
        if packet[1] == 205 && packet[0] & 0x1f == 1 {
            for fci in packet.get(12..).unwrap_or(&[]).chunks_exact(4) {
                let pid = u16::from_be_bytes([fci[0], fci[1]]);
                let blp = u16::from_be_bytes([fci[2], fci[3]]);
                seqs.push(pid);
                seqs.extend(
                    (0..16)
                        .filter(|bit| blp & (1 << bit) != 0)
                        .map(|bit| pid.wrapping_add(bit + 1)),
                );
            }
        }
        data = data.get(len..).unwrap_or(&[]);
    }
    seqs
}

/// The packet types in a compound RTCP packet.
fn rtcp_types(mut data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while data.len() >= 4 {
        types.push(data[1]);
        let len = (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1) * 4;
        data = data.get(len..).unwrap_or(&[]);
    }
    types
}
