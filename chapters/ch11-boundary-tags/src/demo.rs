//! What `cargo run -p ch11-boundary-tags` shows: the heap on an arena,
//! step by step, with its headers, footers and links drawn.

use crate::Heap;
use allockit::FreeError;
use c_api::{CHeap, Tunable};
use memsource::Arena;
use std::fmt::Write as _;

// ANCHOR: script
/// Runs the demo on a fresh arena and returns what it prints: each step,
/// then the heap after it.
pub fn run() -> String {
    let mut heap = Heap::new(Arena::new(1 << 16));
    // A small top pad, so that the whole heap fits on the page.
    CHeap::tune(&mut heap, Tunable::TopPad, 512);
    let mut out = String::new();
    let mut step = |what: &str, heap: &Heap<Arena>| {
        let _ = writeln!(out, "{what}\n{}", heap.tag_map().render());
    };
    let at = |heap: &Heap<Arena>, p: *mut u8| heap.map().offset(p);

    let a = heap.malloc(48);
    let b = heap.malloc(64);
    let c = heap.malloc(48);
    let d = heap.malloc(100);
    let e = heap.malloc(32);
    step(
        &format!(
            "a = malloc(48), b = malloc(64), c = malloc(48), d = malloc(100), e = malloc(32) -> e at {}",
            at(&heap, e)
        ),
        &heap,
    );
    // SAFETY: b and d are live blocks of this heap, freed once.
    let r = unsafe { (heap.free(b), heap.free(d)) };
    step(
        &format!("free(b), free(d) -> {r:?}  (d is first on the list: freed last)"),
        &heap,
    );
    // SAFETY: c is live, freed once.
    let r = unsafe { heap.free(c) };
    step(
        &format!(
            "free(c) -> {r:?}  (b found through the footer before c, d through the header after it: one chunk)"
        ),
        &heap,
    );
    // SAFETY: c was freed above: a double free, refused; a.add(8) is no
    // block at all, refused without touching the heap.
    let r = unsafe { (heap.free(c), heap.free(a.wrapping_add(8))) };
    assert_eq!(r, (Err(FreeError::DoubleFree), Err(FreeError::NotOurs)));
    step(
        &format!("free(c) again, free(a + 8) -> {r:?}  (c's old header was left free)"),
        &heap,
    );
    let f = heap.malloc(40);
    step(
        &format!(
            "f = malloc(40) -> {}  (first fit from the head of the list; the rest keeps its place)",
            at(&heap, f)
        ),
        &heap,
    );
    // SAFETY: a, e and f are live, freed once.
    let r = unsafe { (heap.free(a), heap.free(e), heap.free(f)) };
    step(
        &format!("free(a), free(e), free(f) -> {r:?}  (everything merges back into one chunk)"),
        &heap,
    );
    out
}
// ANCHOR_END: script
