//! The emergency pool: memory for calls that arrive while this thread
//! already holds the heap's lock.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{
    AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

// ANCHOR: pool
/// Bytes in the pool.
pub const POOL: usize = 256 * 1024;

/// Bytes before each pool block: its size and a check value, so that
/// `realloc` and `malloc_usable_size` work on pool blocks too, and a
/// pointer into the middle of one is told apart from a block. 16, so
/// blocks stay aligned to 16 like every other block.
const TAG: usize = 16;

/// The check value of a pool block's tag.
fn tag_check(offset: usize, size: usize) -> usize {
    (offset ^ size.rotate_left(29) ^ 0x5EA1_B10C).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

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
// whose compare-and-swap claimed it; a block given back and claimed again
// passes from one owner to the next through `top` (release, then acquire).
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
        let mut at = self.top.load(Acquire);
        loop {
            let Some(end) = at.checked_add(need).filter(|&e| e <= POOL) else {
                return ptr::null_mut();
            };
            match self.top.compare_exchange_weak(at, end, Acquire, Acquire) {
                Ok(_) => break,
                Err(now) => at = now,
            }
        }
        // SAFETY: [at, at + need) is inside the pool and ours alone: the
        // exchange handed it to this caller only. `at` is a multiple of 16.
        unsafe {
            let tag = self.base().add(at);
            self.write_tag(tag.add(TAG), need - TAG);
            tag.add(TAG)
        }
    }

    /// Writes the tag of the block at `p`, of `size` bytes.
    ///
    /// # Safety
    /// The `TAG` bytes before `p` are inside the pool and the caller's.
    unsafe fn write_tag(&self, p: *mut u8, size: usize) {
        let offset = p as usize - self.base() as usize;
        // SAFETY: the caller's promise; the tag is 16-aligned.
        unsafe {
            let tag = p.sub(TAG).cast::<usize>();
            tag.write(size);
            tag.add(1).write(tag_check(offset, size));
        }
    }

    /// The size of pool block `p`, or `None` if `p` is not the start of a
    /// block (a pointer into the middle of one, say).
    pub fn usable(&self, p: *const u8) -> Option<usize> {
        let offset = (p as usize).wrapping_sub(self.base() as usize);
        if !(TAG..POOL).contains(&offset) || !offset.is_multiple_of(16) {
            return None;
        }
        // SAFETY: the 16 bytes before `p` are inside the pool (TAG <=
        // offset < POOL), aligned to 16; any bytes read as integers.
        let (size, check) = unsafe {
            let tag = self.base().add(offset - TAG).cast::<usize>();
            (tag.read(), tag.add(1).read())
        };
        (check == tag_check(offset, size) && size <= POOL - offset).then_some(size)
    }

    /// Resizes pool block `p` (of `old` bytes) to `size` bytes where it
    /// is, if it is the last one handed out and the pool has room.
    /// Returns whether it did.
    ///
    /// # Safety
    /// `p` is a live block from [`alloc`](Pool::alloc) of `old` bytes.
    pub unsafe fn resize(&self, p: *mut u8, old: usize, size: usize) -> bool {
        let Some(new) = memsource::align_up(size.max(1)) else {
            return false;
        };
        let start = p as usize - self.base() as usize; // the payload's offset
        let Some(end) = start.checked_add(new).filter(|&e| e <= POOL) else {
            return false;
        };
        if self
            .top
            .compare_exchange(start + old, end, AcqRel, Acquire)
            .is_err()
        {
            return false; // not the last block
        }
        // SAFETY: the block's tag, ours (the exchange proved it is the last).
        unsafe { self.write_tag(p, new) };
        true
    }

    /// Gives pool block `p` (of `size` bytes) back, if it is the last one
    /// handed out.
    ///
    /// # Safety
    /// `p` is a live block from [`alloc`](Pool::alloc) of `size` bytes,
    /// not used after this.
    pub unsafe fn free(&self, p: *mut u8, size: usize) {
        let start = p as usize - TAG - self.base() as usize;
        // Only if nothing was handed out after it: then the top moves back,
        // releasing the block to whoever takes it next.
        let _ = self
            .top
            .compare_exchange(start + TAG + size, start, Release, Relaxed);
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
    fn blocks_are_aligned_sized_checked_and_the_last_one_goes_back() {
        let pool = Box::new(Pool::new());
        let a = pool.alloc(24);
        let b = pool.alloc(1);
        assert!(!a.is_null() && !b.is_null());
        assert_eq!(a as usize % 16, 0);
        assert_eq!(b as usize % 16, 0);
        assert_eq!(pool.usable(a), Some(32));
        assert_eq!(pool.usable(b), Some(16));
        assert_eq!(pool.usable(a.wrapping_add(16)), None, "inside a block");
        assert_eq!(pool.usable(a.wrapping_add(3)), None, "not aligned");
        // SAFETY: a and b are live pool blocks of those sizes.
        unsafe {
            pool.free(a, 32); // not the last: stays used
            pool.free(b, 16); // the last: goes back
        }
        let c = pool.alloc(1);
        assert_eq!(c, b);
        // SAFETY: c is the last live pool block; a is not the last.
        unsafe {
            assert!(pool.resize(c, 16, 100));
            assert_eq!(pool.usable(c), Some(112));
            assert!(!pool.resize(a, 32, 100));
            pool.free(c, 112);
        }
        assert!(pool.alloc(POOL).is_null());
        assert!(pool.alloc(usize::MAX).is_null());
    }
}
