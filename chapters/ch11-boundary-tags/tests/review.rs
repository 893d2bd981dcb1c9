//! Review tests: bad input and broken bookkeeping the heap must notice or
//! survive.

use allockit::FreeError;
use ch11_boundary_tags::Heap;
use memsource::Arena;

/// `check` verifies invariant 5 both ways: a `prev` link that does not
/// point back at the chunk before it on the list is reported.
#[test]
fn check_sees_a_prev_link_that_does_not_point_back() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let p: Vec<_> = (0..6).map(|_| heap.malloc(64)).collect();
    // SAFETY: live blocks, freed once; then a use after free writes p[1]'s
    // `prev` link: the bug this test plays.
    unsafe {
        heap.free(p[1]).unwrap();
        heap.free(p[3]).unwrap();
        heap.check().unwrap();
        // LIFO: p[3] first, then p[1], whose `prev` points at p[3]'s chunk.
        p[1].cast::<usize>().write(0);
    }
    let e = heap.check().unwrap_err();
    assert!(e.contains("prev link"), "{e}");
}

/// A block freed, merged into a free chunk whose pages then went back (its
/// header now reads as zero), and freed again: refused, and the heap, which
/// was not corrupted, goes on working. Likewise `realloc` of it.
#[test]
fn a_second_free_after_the_page_went_back_is_refused_and_the_heap_lives() {
    let mut heap = Heap::new(Arena::new(4 << 20));
    let _guard = heap.malloc(64);
    let blocks: Vec<_> = (0..4).map(|_| heap.malloc(100_000)).collect();
    // SAFETY: live blocks, freed once; the last free merges them all with
    // the top chunk, and the pages above the top pad go back.
    unsafe {
        for &b in &blocks {
            heap.free(b).unwrap();
        }
    }
    // SAFETY: reads a counter of the arena.
    assert!(unsafe { heap.source_mut() }.released() > 0);
    // SAFETY: the bugs this test plays: blocks[2] was freed already.
    unsafe {
        assert_eq!(heap.free(blocks[2]), Err(FreeError::NotOurs));
        assert_eq!(heap.try_realloc(blocks[2], 10), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.corruption(), None);
    heap.check().unwrap();
    assert!(!heap.malloc(64).is_null(), "the heap stopped working");
}
