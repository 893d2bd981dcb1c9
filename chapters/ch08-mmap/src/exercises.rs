//! Exercises for chapter 8. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch08-mmap --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

// ANCHOR: ex1
/// The largest threshold glibc's dynamic rule will reach on a 64-bit system.
pub const MAX_THRESHOLD: usize = 32 << 20;

/// Exercise 1: glibc's dynamic mmap threshold.
///
/// When a mapped block of `freed` bytes is freed, glibc raises its mmap
/// threshold to that size, if it is above the current `threshold` and at
/// most [`MAX_THRESHOLD`], so that a program that keeps allocating and
/// freeing blocks of that size gets them from the heap from then on, instead
/// of paying for `mmap` and `munmap` every time. Return the new threshold.
pub fn next_threshold(threshold: usize, freed: usize) -> usize {
    // I AM NOT DONE (exercise 1)
    let _ = freed;
    threshold
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: the length of a mapping.
///
/// `mmap` works in whole pages. Return `len` rounded up to a multiple of
/// `page` (a power of two), or `None` if that does not fit in a `usize`.
pub fn page_round(len: usize, page: usize) -> Option<usize> {
    // I AM NOT DONE (exercise 2)
    Some(len.wrapping_add(page - 1) & !(page - 1))
}
// ANCHOR_END: ex2
