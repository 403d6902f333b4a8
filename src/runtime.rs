//! The I/O threads shared by every `rtspsrc2`, `rtspsink` and
//! `rtplightjitterbuffer` instance: the RTSP driver's connections and
//! sockets run here, and so do the jitterbuffer's deadline timers and
//! output workers, which have nothing to do with RTSP (hence a module of
//! its own rather than part of the driver).
//!
//! A fixed pool of single-threaded tokio runtimes, each on its own thread;
//! every session is placed on one of them, round-robin. Compared with one
//! work-stealing runtime this keeps a session's tasks (its connection
//! reader, writer, UDP receivers) on one thread: a packet arriving never
//! wakes a second worker to steal work, which on a loaded machine showed up
//! as futex wake-ups and context switches per packet. Thousands of
//! sessions still share these few threads.

use std::future::Future;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// I/O threads. RTSP work is I/O bound; two keep one busy stream from
/// delaying the others without costing a thread per stream.
const IO_THREADS: usize = 2;

struct Pool {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let handles = (0..IO_THREADS)
        .map(|index| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("rtspclient-io-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("cannot start an rtspclient I/O runtime");
                    let _ = tx.send(runtime.handle().clone());
                    // Drive this runtime's tasks, I/O and timers forever.
                    runtime.block_on(std::future::pending::<()>());
                })
                .expect("cannot start an rtspclient I/O thread");
            rx.recv().expect("I/O thread started")
        })
        .collect();
    Pool {
        handles,
        next: AtomicUsize::new(0),
    }
});

/// A runtime of the pool, round-robin: give a whole session one handle so
/// its tasks stay together.
pub fn handle() -> Handle {
    let pool = &*POOL;
    let index = pool.next.fetch_add(1, Ordering::Relaxed) % pool.handles.len();
    pool.handles[index].clone()
}

/// Run `future` on one of the I/O threads.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(future)
}

/// Run `future` on the I/O thread we are on, if any (a timer armed from a
/// packet's path stays on the thread that will be awake for the next one
/// instead of waking another), else on one of the pool.
pub fn spawn_here<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::try_current() {
        Ok(current) => current.spawn(future),
        Err(_) => spawn(future),
    }
}
