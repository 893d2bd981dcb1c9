//! Exercises for chapter 5. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch05-coalescing --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::{Chunk, Heap};
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: the chunk before.
///
/// Return the chunk that comes before `chunk` in `heap`'s list, or `None`
/// if `chunk` is the first. (This is what `free` has to do to merge with
/// its left neighbour. How long does it take?)
pub fn chunk_before<'h, S: MemorySource>(heap: &'h Heap<S>, chunk: Chunk<'h>) -> Option<Chunk<'h>> {
    // I AM NOT DONE (exercise 1)
    let _ = (heap, chunk);
    None
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: find the gaps.
///
/// Count the places where a chunk does not end exactly where the next chunk
/// in the list begins: memory that someone else took from the break between
/// two of this heap's growths. (`Chunk::payload` and `Chunk::size` give a
/// chunk's end; `Chunk::addr` its start.)
pub fn gaps<S: MemorySource>(heap: &Heap<S>) -> usize {
    // I AM NOT DONE (exercise 2)
    let _ = heap;
    0
}
// ANCHOR_END: ex2
