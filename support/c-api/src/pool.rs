//! The emergency pool: memory for calls that arrive while this thread
//! already holds the heap's lock.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

// ANCHOR: pool
/// Bytes in the pool.
pub const POOL: usize = 256 * 1024;

/// Bytes before each pool block: its size, so that `realloc` and
/// `malloc_usable_size` work on pool blocks too. 16, so blocks stay
/// aligned to 16 like every other block.
const TAG: usize = 16;

/// A bump allocator over a static buffer, taken from with one
/// compare-and-swap and so safe in a signal handler. A freed block goes
/// back only if it is the last one handed out (a handler that allocates
/// and frees leaves the pool as it found it); any other stays used.
#[repr(C, align(16))]
pub struct Pool {
    mem: UnsafeCell<[u8; POOL]>,
    /// Bytes handed out from the start of `mem`.
    top: AtomicUsize,
}

// SAFETY: `top` is atomic, and each block of `mem` belongs to the one caller
// whose compare-and-swap claimed it.
unsafe impl Sync for Pool {}

impl Pool {
    /// An empty pool.
    pub const fn new() -> Self {
        Pool {
            mem: UnsafeCell::new([0; POOL]),
            top: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> *mut u8 {
        self.mem.get().cast()
    }

    /// Whether `p` points into the pool.
    pub fn contains(&self, p: *const u8) -> bool {
        (self.base() as usize..self.base() as usize + POOL).contains(&(p as usize))
    }

    /// A block of at least `size` bytes aligned to 16, or null when the
    /// pool is used up.
    pub fn alloc(&self, size: usize) -> *mut u8 {
        let Some(need) = memsource::align_up(size.max(1)).and_then(|n| n.checked_add(TAG)) else {
            return ptr::null_mut();
        };
        let mut at = self.top.load(Relaxed);
        loop {
            let Some(end) = at.checked_add(need).filter(|&e| e <= POOL) else {
                return ptr::null_mut();
            };
            match self.top.compare_exchange_weak(at, end, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(now) => at = now,
            }
        }
        // SAFETY: [at, at + need) is inside the pool and ours alone: the
        // exchange handed it to this caller only. `at` is a multiple of 16.
        unsafe {
            let tag = self.base().add(at);
            tag.cast::<usize>().write(need - TAG);
            tag.add(TAG)
        }
    }

    /// Usable bytes of pool block `p`.
    ///
    /// # Safety
    /// `p` is a block from [`alloc`](Pool::alloc).
    pub unsafe fn usable(&self, p: *const u8) -> usize {
        // SAFETY: the tag is the 16 bytes before the block.
        unsafe { p.sub(TAG).cast::<usize>().read() }
    }

    /// Resizes pool block `p` to `size` bytes where it is, if it is the
    /// last one handed out and the pool has room. Returns whether it did.
    ///
    /// # Safety
    /// `p` is a live block from [`alloc`](Pool::alloc).
    pub unsafe fn resize(&self, p: *mut u8, size: usize) -> bool {
        let Some(new) = memsource::align_up(size.max(1)) else {
            return false;
        };
        // SAFETY: the caller's promise.
        let old = unsafe { self.usable(p) };
        let start = p as usize - self.base() as usize; // the payload's offset
        let Some(end) = start.checked_add(new).filter(|&e| e <= POOL) else {
            return false;
        };
        if self
            .top
            .compare_exchange(start + old, end, Relaxed, Relaxed)
            .is_err()
        {
            return false; // not the last block
        }
        // SAFETY: the block's tag, ours (the exchange proved it is the last).
        unsafe { p.sub(TAG).cast::<usize>().write(new) };
        true
    }

    /// Gives pool block `p` back, if it is the last one handed out.
    ///
    /// # Safety
    /// `p` is a live block from [`alloc`](Pool::alloc), not used after this.
    pub unsafe fn free(&self, p: *mut u8) {
        // SAFETY: the caller's promise.
        let size = unsafe { self.usable(p) };
        let start = p as usize - TAG - self.base() as usize;
        // Only if nothing was handed out after it: then the top moves back.
        let _ = self
            .top
            .compare_exchange(start + TAG + size, start, Relaxed, Relaxed);
    }
}
// ANCHOR_END: pool

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_sized_and_the_last_one_goes_back() {
        let pool = Box::new(Pool::new());
        let a = pool.alloc(24);
        let b = pool.alloc(1);
        assert!(!a.is_null() && !b.is_null());
        assert_eq!(a as usize % 16, 0);
        assert_eq!(b as usize % 16, 0);
        // SAFETY: a and b are live pool blocks.
        unsafe {
            assert_eq!(pool.usable(a), 32);
            assert_eq!(pool.usable(b), 16);
            pool.free(a); // not the last: stays used
            pool.free(b); // the last: goes back
        }
        let c = pool.alloc(1);
        assert_eq!(c, b);
        // SAFETY: c is the last live pool block; a is not the last.
        unsafe {
            assert!(pool.resize(c, 100));
            assert_eq!(pool.usable(c), 112);
            assert!(!pool.resize(a, 100));
            pool.free(c);
        }
        assert!(pool.alloc(POOL).is_null());
        assert!(pool.alloc(usize::MAX).is_null());
    }
}
