//! Exercises for chapter 10. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch10-placement --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::{Chunk, Heap, Policy};
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: worst fit.
///
/// Serve each request from the *largest* unused chunk (the first of them
/// in address order, if several are equally large), so that what is left
/// after splitting is as big as it can be. Return `None` only if no unused
/// chunk has `size` bytes. (`Policy` is an unsafe trait: whatever you
/// return must come from `heap.chunks()`.)
#[derive(Clone, Copy, Debug, Default)]
pub struct WorstFit;

// SAFETY: `find` returns only chunks of `heap.chunks()`.
unsafe impl Policy for WorstFit {
    const NAME: &'static str = "worst fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        // I AM NOT DONE (exercise 1)
        let _ = (heap, size);
        None
    }
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// How many fitting chunks good fit looks at before it settles.
pub const GOOD_FIT_LOOK: usize = 4;

/// Exercise 2: good fit, best fit with a bounded search.
///
/// Look at unused chunks in address order, and among the first
/// [`GOOD_FIT_LOOK`] that have `size` bytes, pick the smallest (the first
/// of them, if several are equally small). Stop at once at a chunk of
/// exactly `size` bytes. `None` only if no unused chunk has `size` bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoodFit;

// SAFETY: `find` returns only chunks of `heap.chunks()`.
unsafe impl Policy for GoodFit {
    const NAME: &'static str = "good fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        // I AM NOT DONE (exercise 2)
        heap.chunks().find(|c| !c.is_used() && c.size() >= size)
    }
}
// ANCHOR_END: ex2
