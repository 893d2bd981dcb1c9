//! Reference solutions to chapter 3's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use crate::{Chunk, Heap, Stats};
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: best fit.
pub fn best_fit<S: MemorySource>(heap: &Heap<S>, size: usize) -> Option<Chunk<'_>> {
    let mut best: Option<Chunk<'_>> = None;
    for c in heap.chunks() {
        if c.is_used() || c.size() < size {
            continue;
        }
        if best.is_none_or(|b| c.size() < b.size()) {
            best = Some(c);
            if c.size() == size {
                break; // nothing can fit better than exactly
            }
        }
    }
    best
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: count what the heap holds.
pub fn stats<S: MemorySource>(heap: &Heap<S>) -> Stats {
    let mut s = Stats::default();
    for c in heap.chunks() {
        if c.is_used() {
            s.used_chunks += 1;
            s.used_bytes += c.size();
        } else {
            s.free_chunks += 1;
            s.free_bytes += c.size();
        }
    }
    s
}
// ANCHOR_END: ex2

// ANCHOR: ex3
/// Exercise 3: know your own pointers. It costs a walk of the whole list,
/// which is why `free` does not do it.
pub fn owns<S: MemorySource>(heap: &Heap<S>, ptr: *const u8) -> bool {
    heap.chunks().any(|c| c.payload() == ptr)
}
// ANCHOR_END: ex3
