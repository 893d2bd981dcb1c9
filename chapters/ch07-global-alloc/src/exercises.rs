//! Exercises for chapter 7. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch07-global-alloc --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize};

// ANCHOR: ex1
/// Exercise 1: a spin lock.
///
/// `try_lock` takes the lock if it is free and says whether it did; `lock`
/// waits (spinning, with `std::hint::spin_loop()`) until it can take it;
/// `unlock` releases it. Use one atomic compare-and-exchange to take the
/// lock, with `Acquire` ordering, and a `Release` store to release it.
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

    /// Takes the lock if it is free; returns whether it did.
    pub fn try_lock(&self) -> bool {
        // I AM NOT DONE (exercise 1)
        true
    }

    /// Waits until the lock is free, then takes it.
    pub fn lock(&self) {
        while !self.try_lock() {
            std::hint::spin_loop();
        }
    }

    /// Releases the lock.
    pub fn unlock(&self) {}
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: count what a program allocates.
///
/// Wrap any global allocator and count, with atomics, how many blocks are
/// live and how many bytes they hold (by their layouts' sizes). Every
/// method must pass the call on to `inner`, and count only what succeeded.
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
        // I AM NOT DONE (exercise 2)
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
// ANCHOR_END: ex2
