//! Big blocks, drawn: the heap on an arena (the same on every run), and
//! blocks above the threshold in real mappings of their own.

use crate::{Heap, MMAP_THRESHOLD};
use allockit::Script;
use memsource::Arena;

// ANCHOR: script
/// Small blocks on the heap, a big one mapped, and each given back.
pub fn big_blocks() -> Script {
    let mut heap = Heap::new(Arena::with_mappings(4096));
    let mut s = Script::default();
    let a = heap.malloc(100);
    s.step("a = malloc(100)", heap.map());
    let big = heap.malloc(MMAP_THRESHOLD + 50_000);
    s.step("big = malloc(181,072): mapped on its own", heap.map());
    let b = heap.malloc(300);
    s.step("b = malloc(300): on the heap, after a", heap.map());
    // SAFETY: big, b and a came from this heap and are live.
    unsafe {
        let _ = heap.free(big);
        s.step("free(big): munmap, at once", heap.map());
        let _ = heap.free(b);
        s.step("free(b): the top of the heap goes back", heap.map());
        let _ = heap.free(a);
    }
    s.step("free(a)", heap.map());
    s
}
// ANCHOR_END: script
