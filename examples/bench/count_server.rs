//! A minimal RTSP RECORD endpoint for the benchmark's publishing figures:
//! it answers OPTIONS / ANNOUNCE / SETUP / RECORD / TEARDOWN (and keep-alive
//! GET_PARAMETER / SET_PARAMETER) with 200 and only counts the RTP packets,
//! bytes and sequence-number gaps that arrive, over TCP interleaved or UDP.
//! No GStreamer, no jitterbuffer, no depayloading: a few percent of a core
//! per Gbit/s, so that the publishing clients — not the server — are what
//! is measured (gst-rtsp-server's own RECORD path saturates a core at
//! well under 1 Gbit/s on a small machine).
//!
//! Its parser (`rtsp_lite.rs`) is deliberately independent of
//! `rtspclient_protocol`: the code under test must not count its own
//! packets.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::rtsp_lite::{Incoming, Reader, response};

#[derive(Default)]
pub struct CountStats {
    pub sessions: AtomicU64,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub gaps: AtomicU64,
}

impl CountStats {
    fn rtp(&self, pkt: &[u8], last: &mut Option<u16>) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(pkt.len() as u64, Ordering::Relaxed);
        if pkt.len() < 4 {
            return;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        if let Some(l) = *last {
            let d = seq.wrapping_sub(l.wrapping_add(1));
            if d != 0 && d < 0x8000 {
                self.gaps.fetch_add(d as u64, Ordering::Relaxed);
            }
        }
        *last = Some(seq);
    }

    pub fn json(&self) -> String {
        format!(
            "{{\"sessions\":{},\"packets\":{},\"bytes\":{},\"gaps\":{}}}",
            self.sessions.load(Ordering::Relaxed),
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.gaps.load(Ordering::Relaxed)
        )
    }
}

/// Binds a UDP pair (even RTP port, RTCP = RTP + 1) on 127.0.0.1.
fn udp_pair() -> std::io::Result<(UdpSocket, UdpSocket)> {
    for _ in 0..200 {
        let rtp = UdpSocket::bind("127.0.0.1:0")?;
        let port = rtp.local_addr()?.port();
        if !port.is_multiple_of(2) || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Err(std::io::Error::other("no free UDP port pair"))
}

/// Starts the endpoint; returns its TCP port. Every path is accepted.
pub fn start(stats: Arc<CountStats>) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (rtp, rtcp) = udp_pair()?;
    let udp_port = rtp.local_addr()?.port();
    {
        let sock = socket2::SockRef::from(&rtp);
        let _ = sock.set_recv_buffer_size(8 << 20);
    }
    let s = stats.clone();
    std::thread::Builder::new()
        .name("count-udp".into())
        .spawn(move || {
            let mut last: HashMap<SocketAddr, Option<u16>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            loop {
                match rtp.recv_from(&mut buf) {
                    Ok((n, from)) => s.rtp(&buf[..n], last.entry(from).or_default()),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
    std::thread::Builder::new()
        .name("count-rtcp".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                if rtcp.recv_from(&mut buf).is_err() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })?;
    let next_session = Arc::new(Mutex::new(0u64));
    std::thread::Builder::new()
        .name("count-accept".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let s = stats.clone();
                let ns = next_session.clone();
                let _ = std::thread::Builder::new()
                    .name("count-conn".into())
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        let _ = connection(conn, s, ns, udp_port);
                    });
            }
        })?;
    Ok(port)
}

fn connection(
    mut conn: TcpStream,
    stats: Arc<CountStats>,
    next_session: Arc<Mutex<u64>>,
    udp_port: u16,
) -> std::io::Result<()> {
    let _ = conn.set_nodelay(true);
    let mut reader = Reader::default();
    let mut last: HashMap<u8, Option<u16>> = HashMap::new();
    let mut session: Option<String> = None;
    while let Some(item) = reader.next(&mut conn)? {
        let req = match item {
            Incoming::Data { channel, payload } => {
                if channel.is_multiple_of(2) {
                    stats.rtp(payload, last.entry(channel).or_default());
                }
                continue;
            }
            Incoming::Request(req) => req,
        };
        let mut extra = String::new();
        match req.method() {
            "OPTIONS" => extra.push_str(
                "Public: OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER\r\n",
            ),
            "SETUP" => {
                let sid = session.get_or_insert_with(|| {
                    let mut n = next_session.lock().unwrap();
                    *n += 1;
                    stats.sessions.fetch_add(1, Ordering::Relaxed);
                    format!("{:016X}", 0x5EED_0000_0000u64 + *n)
                });
                let t = req.header("Transport").unwrap_or("");
                let reply = if let Some(i) = t.split(';').find(|p| p.starts_with("interleaved=")) {
                    format!("RTP/AVP/TCP;unicast;{i};mode=record")
                } else {
                    let cp = t
                        .split(';')
                        .find(|p| p.starts_with("client_port="))
                        .unwrap_or("client_port=0-1");
                    format!(
                        "RTP/AVP;unicast;{cp};server_port={udp_port}-{};mode=record",
                        udp_port + 1
                    )
                };
                let _ = write!(extra, "Transport: {reply}\r\nSession: {sid};timeout=60\r\n");
            }
            _ => {
                if let Some(sid) = &session {
                    let _ = write!(extra, "Session: {sid}\r\n");
                }
            }
        }
        conn.write_all(&response("200 OK", req.cseq(), &extra, ""))?;
        if req.method() == "TEARDOWN" {
            return Ok(());
        }
    }
    Ok(())
}
