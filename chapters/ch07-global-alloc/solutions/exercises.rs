//! Reference solutions to chapter 7's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

// ANCHOR: ex1
/// Exercise 1: a spin lock.
#[derive(Default)]
pub struct SpinLock {
    /// Whether someone holds the lock.
    pub locked: AtomicBool,
}

impl SpinLock {
    /// A free lock.
    pub const fn new() -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    /// Takes the lock if it is free; returns whether it did. `Acquire`: what
    /// the last holder wrote before unlocking is visible to us.
    pub fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Waits until the lock is free, then takes it.
    pub fn lock(&self) {
        while !self.try_lock() {
            std::hint::spin_loop();
        }
    }

    /// Releases the lock. `Release`: what we wrote is visible to the next
    /// holder.
    pub fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: count what a program allocates.
pub struct Counting<A> {
    /// The allocator that does the work.
    pub inner: A,
    /// Blocks allocated and not yet freed.
    pub blocks: AtomicUsize,
    /// Bytes in those blocks.
    pub bytes: AtomicUsize,
}

// SAFETY: every method passes the call on to `inner` unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's promise, passed on.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.blocks.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.blocks.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promise, passed on.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // The block is still one block; only its size changed.
            self.bytes.fetch_add(new_size, Ordering::Relaxed);
            self.bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}
// ANCHOR_END: ex2
