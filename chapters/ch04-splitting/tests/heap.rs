//! Chapter 4's heap, pinned by snapshots, and its chapter-specific
//! behaviour. (Bad input is checked for every chapter by the conformance
//! suite in the root `tests/`.)

use ch04_splitting::{HEADER, Heap, MIN_PAYLOAD};
use memsource::Arena;

alloc_suite::chapter_snapshots! {
    binary: env!("CARGO_BIN_EXE_ch04-splitting"),
    demo: ch04_splitting::demo::run,
    title: "Splitting, step by step",
    new: Heap::new,
}

/// Frees one chunk of `size` bytes (kept apart from the break by a used
/// chunk) and returns the heap and the freed pointer.
fn heap_with_free(size: usize) -> (Heap<Arena>, *mut u8) {
    let mut heap = Heap::new(Arena::new(4096));
    let p = heap.malloc(size);
    heap.malloc(16);
    // SAFETY: p came from this heap and is live.
    unsafe { heap.free(p).unwrap() };
    (heap, p)
}

#[test]
fn a_split_leaves_the_rest_free_right_after() {
    let (mut heap, p) = heap_with_free(256);
    assert_eq!(heap.malloc(64), p);
    let sizes: Vec<_> = heap.chunks().map(|c| (c.size(), c.is_used())).collect();
    assert_eq!(sizes, [(64, true), (256 - 64 - HEADER, false), (16, true)]);
    heap.check().unwrap();
}

#[test]
fn a_remainder_too_small_for_a_chunk_is_not_split_off() {
    // 112 - 64 = 48 = HEADER + MIN_PAYLOAD: just enough for a chunk.
    let (mut heap, _) = heap_with_free(64 + HEADER + MIN_PAYLOAD);
    heap.malloc(64);
    assert_eq!(heap.chunks().count(), 3, "split");
    // 96 - 64 = 32: a header but no payload. The request gets all 96.
    let (mut heap, _) = heap_with_free(64 + HEADER);
    heap.malloc(64);
    let first = heap.chunks().next().unwrap();
    assert_eq!((first.size(), heap.chunks().count()), (96, 2), "not split");
    heap.check().unwrap();
}

#[test]
fn splitting_the_last_chunk_moves_the_tail() {
    let mut heap = Heap::new(Arena::new(4096));
    let p = heap.malloc(256);
    // SAFETY: p came from this heap and is live.
    unsafe { heap.free(p).unwrap() };
    heap.malloc(16);
    heap.check().unwrap(); // `check` verifies that `tail` is the last chunk
    let q = heap.malloc(400);
    assert!(
        q as usize > p as usize + 256,
        "appended after the split chunk"
    );
    heap.check().unwrap();
}
