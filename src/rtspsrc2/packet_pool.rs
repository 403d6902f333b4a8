//! Recycled buffers for received packets.
//!
//! Packets are received on an I/O thread but released on another one
//! (the jitterbuffer's output worker, or wherever downstream drops them).
//! With a fresh allocation per packet, glibc's allocator then frees into
//! the I/O thread's arena from the other thread, and the two threads fight
//! over that arena's lock: at 1.6 Gbit/s over TCP that was 59 000 futex
//! calls a second, most of the process's system calls. A pool hands the
//! same buffers round instead, so steady-state reception allocates
//! nothing. Each packet is copied once into its pooled buffer, which also
//! lets the socket's read buffer be reused on the I/O thread.
//!
//! One pool per receiving thread, shared by all the streams that thread
//! serves, rather than one per stream: a free list only ever grows to the
//! packets that were in flight at once, and across hundreds of cameras
//! the key frames do not all arrive in the same few milliseconds, so the
//! shared list stays far smaller than the sum of per-stream lists (at 256
//! low-rate streams a list per stream kept about 17 KiB per stream of
//! idle buffers). A buffer always returns to the pool it came from, so a
//! stream that stops leaves nothing behind but buffers for the next one.
//!
//! Why not the stock `GstBufferPool`: its free list signals through a
//! `GstPoll`, which makes a system call each time the list empties or
//! refills, and whose acquire spins with `g_thread_yield` while a releasing
//! thread is between its two steps. On a saturated two-core machine that
//! spin halved throughput at 2.4 Gbit/s. This subclass keeps the free list
//! behind a plain mutex and never waits: an empty list means a new buffer.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

/// Size of a pooled buffer: a full Ethernet-MTU datagram, and the packet
/// sizes servers use over TCP. Larger packets get a buffer of their own.
const PACKET_SIZE: usize = 1600;
/// At most this many free buffers are kept per pool (about 6.5 MiB), so
/// a burst does not keep its memory forever. A pool only fills its list
/// up to the packets its thread had in flight at once: a few per camera,
/// thousands at gigabit rates, where the output worker takes up to 5 ms of
/// packets at a time.
const MAX_FREE: usize = 4096;

mod imp {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[derive(Default)]
    pub struct PacketBufferPool {
        pub(super) free: Mutex<Vec<gst::Buffer>>,
        /// Between start and stop; read per packet without the pool's lock.
        active: AtomicBool,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PacketBufferPool {
        const NAME: &'static str = "GstRtspClientPacketPool";
        type Type = super::PacketBufferPool;
        type ParentType = gst::BufferPool;
    }

    impl ObjectImpl for PacketBufferPool {}
    impl GstObjectImpl for PacketBufferPool {}

    impl BufferPoolImpl for PacketBufferPool {
        fn acquire_buffer(
            &self,
            _params: Option<&gst::BufferPoolAcquireParams>,
        ) -> Result<gst::Buffer, gst::FlowError> {
            if !self.active.load(Ordering::Acquire) {
                return Err(gst::FlowError::Flushing);
            }
            if let Some(buffer) = self.free.lock().unwrap().pop() {
                return Ok(buffer);
            }
            gst::Buffer::with_size(PACKET_SIZE).map_err(|_| gst::FlowError::Error)
        }

        /// Called after the parent's reset (size back to full, timestamps,
        /// flags and unpooled metas cleared). A buffer whose memory was
        /// replaced or is still shared with another buffer is not reused.
        fn release_buffer(&self, buffer: gst::Buffer) {
            let intact = !buffer.flags().contains(gst::BufferFlags::TAG_MEMORY)
                && buffer.n_memory() == 1
                && buffer.size() == PACKET_SIZE
                && buffer.is_all_memory_writable();
            if intact && self.active.load(Ordering::Acquire) {
                let mut free = self.free.lock().unwrap();
                if free.len() < MAX_FREE {
                    free.push(buffer);
                }
            }
        }

        fn start(&self) -> bool {
            self.active.store(true, Ordering::Release);
            true
        }

        fn stop(&self) -> bool {
            self.active.store(false, Ordering::Release);
            self.free.lock().unwrap().clear();
            true
        }
    }
}

glib::wrapper! {
    pub struct PacketBufferPool(ObjectSubclass<imp::PacketBufferPool>)
        @extends gst::BufferPool, gst::Object;
}

pub struct PacketPool {
    pool: Option<PacketBufferPool>,
}

thread_local! {
    /// The pool of the receiving thread: packets are copied on the runtime
    /// thread that read them.
    static THREAD_POOL: PacketPool = PacketPool::new();
}

/// A buffer holding a copy of `data`, from the calling thread's pool.
pub fn packet_buffer(data: &[u8]) -> gst::Buffer {
    THREAD_POOL
        .try_with(|pool| pool.buffer(data))
        // Only while the thread exits: an unpooled buffer.
        .unwrap_or_else(|_| gst::Buffer::from_mut_slice(data.to_vec()))
}

impl PacketPool {
    pub fn new() -> PacketPool {
        let pool: PacketBufferPool = glib::Object::new();
        let mut config = pool.config();
        config.set_params(None, PACKET_SIZE as u32, 0, 0);
        let started = pool.set_config(config).is_ok() && pool.set_active(true).is_ok();
        PacketPool {
            // Without a pool packets are allocated one by one, which
            // works, only slower.
            pool: started.then_some(pool),
        }
    }

    /// A buffer holding a copy of `data`.
    pub fn buffer(&self, data: &[u8]) -> gst::Buffer {
        if data.len() <= PACKET_SIZE
            && let Some(pool) = &self.pool
            && let Ok(mut buffer) = pool.acquire_buffer(None)
        {
            let b = buffer.get_mut().expect("a pooled buffer is ours alone");
            // gst_buffer_fill maps the one memory directly; mapping the
            // buffer costs a memory ref/unref and more checks per packet.
            if b.copy_from_slice(0, data).is_ok() {
                b.set_size(data.len());
                return buffer;
            }
        }
        gst::Buffer::from_mut_slice(data.to_vec())
    }

    /// Free the buffers now; ones still in the pipeline are freed when
    /// they come back.
    pub fn stop(&self) {
        if let Some(pool) = &self.pool {
            let _ = pool.set_active(false);
        }
    }
}

impl Drop for PacketPool {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_count(pool: &PacketPool) -> usize {
        pool.pool.as_ref().unwrap().imp().free.lock().unwrap().len()
    }

    #[test]
    fn buffers_hold_the_packet_and_are_reused() {
        gst::init().unwrap();
        let pool = PacketPool::new();
        let first = pool.buffer(b"one packet");
        assert_eq!(first.map_readable().unwrap().as_slice(), b"one packet");
        let first_ptr = first.as_ptr();
        drop(first);
        assert_eq!(free_count(&pool), 1);
        let again = pool.buffer(&[9u8; 100]);
        assert_eq!(
            again.as_ptr(),
            first_ptr,
            "a released buffer was not reused"
        );
        assert_eq!(again.map_readable().unwrap().as_slice(), &[9u8; 100]);
        assert!(again.pts().is_none());
    }

    #[test]
    fn timestamps_and_flags_do_not_survive_reuse() {
        gst::init().unwrap();
        let pool = PacketPool::new();
        let mut buffer = pool.buffer(b"abc");
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_seconds(1));
            b.set_flags(gst::BufferFlags::DISCONT);
        }
        drop(buffer);
        let reused = pool.buffer(b"defg");
        assert_eq!(reused.size(), 4);
        assert!(reused.pts().is_none());
        assert!(!reused.flags().contains(gst::BufferFlags::DISCONT));
    }

    #[test]
    fn shared_memory_is_not_reused() {
        gst::init().unwrap();
        let pool = PacketPool::new();
        let buffer = pool.buffer(b"payload");
        // A depayloader's sub-buffer keeps the memory.
        let sub = buffer
            .copy_region(gst::BufferCopyFlags::MEMORY, 2..4)
            .unwrap();
        drop(buffer);
        assert_eq!(free_count(&pool), 0);
        assert_eq!(sub.map_readable().unwrap().as_slice(), b"yl");
    }

    #[test]
    fn large_packets_and_a_stopped_pool_still_get_buffers() {
        gst::init().unwrap();
        let pool = PacketPool::new();
        let big = vec![7u8; PACKET_SIZE + 1];
        assert_eq!(pool.buffer(&big).size(), big.len());
        assert_eq!(free_count(&pool), 0);
        let held: Vec<_> = (0..10).map(|_| pool.buffer(b"x")).collect();
        drop(held);
        assert_eq!(free_count(&pool), 10);
        pool.stop();
        assert_eq!(free_count(&pool), 0);
        assert_eq!(pool.buffer(b"after stop").size(), 10);
    }

    #[test]
    fn the_thread_pool_takes_back_buffers_released_on_another_thread() {
        gst::init().unwrap();
        let first = packet_buffer(b"stream one");
        let first_ptr = first.as_ptr();
        // The output worker drops it: it goes back to this thread's pool.
        std::thread::spawn(move || drop(first)).join().unwrap();
        let second = packet_buffer(b"stream two");
        assert_eq!(
            second.as_ptr(),
            first_ptr,
            "the released buffer was not reused"
        );
        assert_eq!(second.map_readable().unwrap().as_slice(), b"stream two");
        // Another thread has a pool of its own.
        let other_ptr = std::thread::spawn(|| packet_buffer(b"x").as_ptr() as usize)
            .join()
            .unwrap();
        assert_ne!(other_ptr, second.as_ptr() as usize);
    }

    #[test]
    fn the_free_list_is_bounded() {
        gst::init().unwrap();
        let pool = PacketPool::new();
        let held: Vec<_> = (0..MAX_FREE + 5).map(|_| pool.buffer(b"x")).collect();
        drop(held);
        assert_eq!(free_count(&pool), MAX_FREE);
    }
}
