//! Reference solutions to chapter 5's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use crate::{Chunk, Heap};
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: the chunk before. A walk from the head: O(number of chunks).
pub fn chunk_before<'h, S: MemorySource>(heap: &'h Heap<S>, chunk: Chunk<'h>) -> Option<Chunk<'h>> {
    let mut prev = None;
    for c in heap.chunks() {
        if c.addr() == chunk.addr() {
            return prev;
        }
        prev = Some(c);
    }
    None
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: find the gaps.
pub fn gaps<S: MemorySource>(heap: &Heap<S>) -> usize {
    let ends = heap.chunks().map(|c| c.payload().wrapping_add(c.size()));
    let starts = heap.chunks().skip(1).map(|c| c.addr());
    ends.zip(starts).filter(|(end, start)| end != start).count()
}
// ANCHOR_END: ex2
