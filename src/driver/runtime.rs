//! The one async runtime shared by every `rtspsrc2` and `rtspsink` instance.

use std::sync::LazyLock;

/// Worker threads of the shared runtime. RTSP work is I/O bound; two workers
/// keep one busy stream from starving others without costing a thread per
/// stream.
const WORKER_THREADS: usize = 2;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(4)
        .thread_name("rtspclient-io")
        .enable_all()
        .build()
        .expect("cannot start the rtspclient I/O runtime")
});

/// The runtime shared by all element instances.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIME
}
