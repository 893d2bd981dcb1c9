//! Reference solutions to chapter 4's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use crate::Heap;
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: the largest request the heap can serve without growing.
pub fn largest_free<S: MemorySource>(heap: &Heap<S>) -> usize {
    heap.chunks()
        .filter(|c| !c.is_used())
        .map(|c| c.size())
        .max()
        .unwrap_or(0)
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: how fragmented is the free memory?
pub fn fragmentation<S: MemorySource>(heap: &Heap<S>) -> f64 {
    let total: usize = heap
        .chunks()
        .filter(|c| !c.is_used())
        .map(|c| c.size())
        .sum();
    if total == 0 {
        return 0.0;
    }
    1.0 - largest_free(heap) as f64 / total as f64
}
// ANCHOR_END: ex2
