//! Reference solutions to chapter 8's exercises. Try them yourself first,
//! in `src/exercises.rs`.

// ANCHOR: ex1
/// The largest threshold glibc's dynamic rule will reach on a 64-bit system.
pub const MAX_THRESHOLD: usize = 32 << 20;

/// Exercise 1: glibc's dynamic mmap threshold.
pub fn next_threshold(threshold: usize, freed: usize) -> usize {
    if freed > threshold && freed <= MAX_THRESHOLD {
        freed
    } else {
        threshold
    }
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: the length of a mapping.
pub fn page_round(len: usize, page: usize) -> Option<usize> {
    Some(len.checked_add(page - 1)? & !(page - 1))
}
// ANCHOR_END: ex2
