//! Exercises for chapter 6. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch06-malloc-api --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::Heap;
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: `reallocarray`.
///
/// Resize the block at `ptr` to hold `count` items of `size` bytes each,
/// like `realloc(ptr, count * size)`, except that when `count * size`
/// overflows it returns null and leaves the block alone. (The starting
/// point lets the multiplication wrap around, and a huge request becomes a
/// tiny block.)
///
/// # Safety
/// As for [`Heap::realloc`].
pub unsafe fn reallocarray<S: MemorySource>(
    heap: &mut Heap<S>,
    ptr: *mut u8,
    count: usize,
    size: usize,
) -> *mut u8 {
    // I AM NOT DONE (exercise 1)
    // SAFETY: the caller's promise.
    unsafe { heap.realloc(ptr, count.wrapping_mul(size)) }
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// `posix_memalign`'s error for a bad alignment.
pub const EINVAL: i32 = 22;
/// `posix_memalign`'s error when memory runs out.
pub const ENOMEM: i32 = 12;

/// Exercise 2: `posix_memalign`.
///
/// The POSIX way to ask for aligned memory: on success, store the block in
/// `*out` and return 0. If `align` is not a power of two or not a multiple
/// of the size of a pointer, return `EINVAL`; if there is no memory, return
/// `ENOMEM`. On failure, leave `*out` as it was.
pub fn posix_memalign<S: MemorySource>(
    heap: &mut Heap<S>,
    out: &mut *mut u8,
    align: usize,
    size: usize,
) -> i32 {
    // I AM NOT DONE (exercise 2)
    *out = heap.memalign(align, size);
    0
}
// ANCHOR_END: ex2
