//! Review tests: bad input and broken bookkeeping the heap must notice or
//! survive.

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
