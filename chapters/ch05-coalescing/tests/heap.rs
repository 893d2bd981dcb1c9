//! Chapter 5's heap, pinned by snapshots, and its chapter-specific
//! behaviour. (Bad input is checked for every chapter by the conformance
//! suite in the root `tests/`.)

use allockit::FreeError;
use ch05_coalescing::{HEADER, Heap};
use memsource::{Arena, MemorySource};

alloc_suite::chapter_snapshots! {
    binary: env!("CARGO_BIN_EXE_ch05-coalescing"),
    demo: ch05_coalescing::demo::run,
    title: "Coalescing, step by step",
    new: Heap::new,
}

fn sizes(heap: &Heap<Arena>) -> Vec<(usize, bool)> {
    heap.chunks().map(|c| (c.size(), c.is_used())).collect()
}

#[test]
fn free_merges_with_both_neighbours() {
    let mut heap = Heap::new(Arena::new(4096));
    let p: Vec<_> = (0..4).map(|_| heap.malloc(64)).collect();
    // SAFETY: the pointers came from this heap and are live.
    unsafe {
        heap.free(p[0]).unwrap();
        heap.free(p[2]).unwrap();
        assert_eq!(
            sizes(&heap),
            [(64, false), (64, true), (64, false), (64, true)]
        );
        heap.free(p[1]).unwrap();
    }
    assert_eq!(sizes(&heap), [(3 * 64 + 2 * HEADER, false), (64, true)]);
    heap.check().unwrap();
}

#[test]
fn freeing_the_top_chunk_moves_the_break_down() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(64);
    let b = heap.malloc(1000);
    let before = heap.map().len();
    // SAFETY: the pointers came from this heap and are live.
    unsafe { heap.free(b).unwrap() };
    assert_eq!(heap.map().len(), before - HEADER - 1008);
    // SAFETY: the pointers came from this heap and are live.
    unsafe { heap.free(a).unwrap() };
    assert_eq!(heap.map().len(), 0, "all memory returned");
    assert_eq!(heap.chunks().count(), 0);
    heap.check().unwrap();
    // The heap starts again from nothing.
    let c = heap.malloc(10);
    assert_eq!(c, a);
}

#[test]
fn a_foreign_sbrk_blocks_merging_and_shrinking() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(64);
    // SAFETY: growing the break above the heap takes nothing from it.
    assert!(unsafe { heap.source_mut() }.foreign_grow(32));
    let b = heap.malloc(64);
    // SAFETY: as above: someone else is now above our top chunk.
    assert!(unsafe { heap.source_mut() }.foreign_grow(32));
    // SAFETY: the pointers came from this heap and are live.
    unsafe {
        heap.free(a).unwrap();
        heap.free(b).unwrap();
    }
    // Neighbours in the list, not in memory: no merge. And the break is
    // not ours any more: no shrinking.
    assert_eq!(sizes(&heap), [(64, false), (64, false)]);
    assert_eq!(
        heap.map().len(),
        96 + 32 + 96,
        "the break is above our end: not ours to move"
    );
    heap.check().unwrap();
    if !cfg!(miri) {
        insta::assert_snapshot!("foreign_gaps", heap.map().render());
    }
}

#[test]
fn pointers_into_a_block_are_refused() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(64);
    heap.malloc(64);
    let before = heap.map();
    // SAFETY: `free` finds chunks by walking the list, so no header is read
    // at these addresses.
    unsafe {
        assert_eq!(heap.free(a.wrapping_add(16)), Err(FreeError::NotOurs));
        assert_eq!(heap.free(a.wrapping_sub(HEADER)), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.map(), before);
}

#[test]
fn the_heap_never_shrinks_below_its_start() {
    let mut arena = Arena::new(4096);
    assert!(arena.foreign_grow(64)); // someone else's memory below the heap
    let mut heap = Heap::new(arena);
    let a = heap.malloc(16);
    // SAFETY: a came from this heap and is live.
    unsafe { heap.free(a).unwrap() };
    assert_eq!(heap.map().len(), 0, "the heap gave back all of its own");
    // SAFETY: the source is asked to shrink into the foreign memory, which
    // it must refuse; nothing refers to memory of ours.
    let source = unsafe { heap.source_mut() };
    let end = source.end().unwrap();
    assert_eq!(
        end.as_ptr().cast_const(),
        a.wrapping_sub(HEADER).cast_const()
    );
    // SAFETY: as above.
    let shrunk = unsafe { source.shrink(end, 64) };
    assert!(!shrunk, "shrank below the heap's start");
    assert_eq!(source.used(), 64, "the foreign memory is still there");
}
