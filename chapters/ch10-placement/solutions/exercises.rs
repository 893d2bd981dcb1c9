//! Reference solutions to chapter 10's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use crate::{Chunk, Heap, Policy};
use memsource::MemorySource;

pub use crate::exercises::GOOD_FIT_LOOK;

// ANCHOR: ex1
/// Exercise 1: worst fit.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorstFit;

// SAFETY: `find` returns only chunks of `heap.chunks()`.
unsafe impl Policy for WorstFit {
    const NAME: &'static str = "worst fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        let mut worst: Option<Chunk<'_>> = None;
        for c in heap.chunks().filter(|c| !c.is_used()) {
            if worst.is_none_or(|w| c.size() > w.size()) {
                worst = Some(c);
            }
        }
        worst.filter(|w| w.size() >= size)
    }
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: good fit, best fit with a bounded search.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoodFit;

// SAFETY: `find` returns only chunks of `heap.chunks()`.
unsafe impl Policy for GoodFit {
    const NAME: &'static str = "good fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        let mut best: Option<Chunk<'_>> = None;
        let fitting = heap.chunks().filter(|c| !c.is_used() && c.size() >= size);
        for c in fitting.take(GOOD_FIT_LOOK) {
            if c.size() == size {
                return Some(c);
            }
            if best.is_none_or(|b| c.size() < b.size()) {
                best = Some(c);
            }
        }
        best
    }
}
// ANCHOR_END: ex2
