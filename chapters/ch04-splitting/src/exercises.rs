//! Exercises for chapter 4. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch04-splitting --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::Heap;
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: the largest request the heap can serve without growing.
///
/// Return the payload size of the largest unused chunk, or 0 if no chunk is
/// unused.
pub fn largest_free<S: MemorySource>(heap: &Heap<S>) -> usize {
    // I AM NOT DONE (exercise 1)
    let _ = heap;
    0
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: how fragmented is the free memory?
///
/// Return `1 - largest / total`, where `total` is the payload bytes of all
/// unused chunks and `largest` the payload of the largest one: 0.0 when all
/// free memory is in one chunk, close to 1.0 when it is in many small ones.
/// Return 0.0 when nothing is free.
pub fn fragmentation<S: MemorySource>(heap: &Heap<S>) -> f64 {
    // I AM NOT DONE (exercise 2)
    let _ = heap;
    0.0
}
// ANCHOR_END: ex2
