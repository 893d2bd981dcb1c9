//! Exercises for chapter 2. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch02-bump --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::Bump;
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: free the most recent block.
///
/// A bump allocator cannot free a block in the middle, but it can free the
/// block on top, like popping a stack: move the break back down by that
/// block's size. Return true if `ptr` was the last block and its memory went
/// back to the source; false otherwise (and then change nothing).
///
/// Hints: `bump.last_block()`, `bump.source_mut().shrink(..)`, `bump.forget_last()`.
///
/// # Safety
/// If `ptr` is the last block, the caller does not use it afterwards.
pub unsafe fn free_last<S: MemorySource>(bump: &mut Bump<S>, ptr: *mut u8) -> bool {
    // I AM NOT DONE (exercise 1)
    let _ = (bump, ptr);
    false
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: fewer trips to the kernel.
///
/// `Bump` calls `sbrk` for every request, and a system call costs far more
/// than bumping a pointer. Make `Reserve` ask its source for at least
/// [`STEP`] bytes at a time and serve small requests from what is left of
/// the last step. Blocks stay aligned to 16; a request larger than a step
/// still works; when the source fails, return null. If a new step is not
/// `contiguous` with the old one, the rest of the old one is simply wasted.
pub struct Reserve<S> {
    inner: Bump<S>,
}

/// How much `Reserve` asks for at a time.
pub const STEP: usize = 4096;

impl<S: MemorySource> Reserve<S> {
    /// A reserving bump allocator over `source`.
    pub fn new(source: S) -> Self {
        Reserve {
            inner: Bump::new(source),
        }
    }

    /// A block of at least `size` bytes aligned to 16, or null.
    pub fn malloc(&mut self, size: usize) -> *mut u8 {
        // I AM NOT DONE (exercise 2)
        self.inner.malloc(size)
    }
}
// ANCHOR_END: ex2
