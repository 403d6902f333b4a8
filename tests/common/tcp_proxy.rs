//! A TCP proxy on 127.0.0.1 in front of a test server, to break the
//! connections that go through it the way networks and servers do:
//! [`TcpProxy::cut`] closes them (a server that drops its clients),
//! [`TcpProxy::freeze`] keeps them open but stops passing the server's
//! bytes on (a camera whose stream stalls). Connections made after either
//! pass normally. Every thread ends when the proxy is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

struct Link {
    client: TcpStream,
    server: TcpStream,
    frozen: Arc<AtomicBool>,
}

#[derive(Default)]
struct Shared {
    links: Mutex<Vec<Link>>,
    accepted: AtomicUsize,
    stopping: AtomicBool,
}

pub struct TcpProxy {
    pub port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listen on an ephemeral port and forward to `target`.
    pub fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let frozen = Arc::new(AtomicBool::new(false));
                pump(&client, &server, None);
                pump(&server, &client, Some(frozen.clone()));
                s.links.lock().unwrap().push(Link {
                    client,
                    server,
                    frozen,
                });
            }
        });
        TcpProxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Close every connection made so far, both ways.
    pub fn cut(&self) {
        for link in self.shared.links.lock().unwrap().drain(..) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }

    /// Stop passing the server's bytes to the clients of the connections
    /// made so far (they stay open; what the server sends is discarded).
    pub fn freeze(&self) {
        for link in self.shared.links.lock().unwrap().iter() {
            link.frozen.store(true, Ordering::SeqCst);
        }
    }
}

/// Copy `from` to `to` on a thread of its own until either closes; while
/// `frozen` is set the bytes are read and dropped.
fn pump(from: &TcpStream, to: &TcpStream, frozen: Option<Arc<AtomicBool>>) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if frozen.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                continue;
            }
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.cut();
    }
}
