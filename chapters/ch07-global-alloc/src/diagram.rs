//! The shared break, drawn: the same heap as the program's, on an arena
//! where "glibc" (a foreign growth) moves the break between our growths, so
//! that the picture is the same on every run.

use crate::Heap;
use allockit::Script;
use memsource::Arena;

// ANCHOR: script
/// Our blocks, glibc's memory between them, and what freeing can and
/// cannot give back.
pub fn shared_break() -> Script {
    let mut heap = Heap::new(Arena::new(4096));
    let mut s = Script::default();
    let a = heap.malloc(200);
    let b = heap.malloc(100);
    s.step("a, b = malloc(200), malloc(100)", heap.map());
    // SAFETY: growing the break above the heap takes nothing from it.
    unsafe { heap.source_mut() }.foreign_grow(300);
    s.step("glibc moves the break (beyond our map)", heap.map());
    let c = heap.malloc(300);
    s.step("c = malloc(300): above glibc's memory", heap.map());
    // SAFETY: a, b and c came from this heap and are live.
    unsafe {
        let _ = heap.free(b);
        s.step("free(b): no merging across the gap", heap.map());
        let _ = heap.free(c);
        s.step("free(c): the top goes back, down to glibc's", heap.map());
        let _ = heap.free(a);
    }
    s.step("free(a): merged, but held below glibc's memory", heap.map());
    s
}
// ANCHOR_END: script
