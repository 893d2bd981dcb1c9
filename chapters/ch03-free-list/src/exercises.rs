//! Exercises for chapter 3. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch03-free-list --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::{Chunk, Heap, Stats, first_fit};
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: best fit.
///
/// Return the *smallest* unused chunk of at least `size` bytes; among
/// chunks of equal size, the first. `None` if no chunk fits. Try it with
/// `Heap::with_placement(source, best_fit)`.
pub fn best_fit<S: MemorySource>(heap: &Heap<S>, size: usize) -> Option<Chunk<'_>> {
    // I AM NOT DONE (exercise 1)
    first_fit(heap, size)
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: count what the heap holds.
///
/// Walk the chunks (`heap.chunks()`) and count used and unused chunks and
/// their payload bytes.
pub fn stats<S: MemorySource>(heap: &Heap<S>) -> Stats {
    // I AM NOT DONE (exercise 2)
    let _ = heap;
    Stats::default()
}
// ANCHOR_END: ex2

// ANCHOR: ex3
/// Exercise 3: know your own pointers.
///
/// `free` only checks that a pointer lies inside the heap and is aligned
/// like a payload, so a pointer into the middle of a block gets through.
/// Return true only if `ptr` is exactly the payload of one of `heap`'s
/// chunks (used or not). What does this check cost?
pub fn owns<S: MemorySource>(heap: &Heap<S>, ptr: *const u8) -> bool {
    // I AM NOT DONE (exercise 3)
    let Some(first) = heap.chunks().next() else {
        return false;
    };
    let end = heap.map().end;
    (first.payload()..end as *const u8).contains(&ptr)
}
// ANCHOR_END: ex3
