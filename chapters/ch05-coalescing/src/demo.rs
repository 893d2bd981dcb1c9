//! The scripted sequence that `cargo run -p ch05-coalescing` prints.

use crate::Heap;
use allockit::Script;
use memsource::MemorySource;

// ANCHOR: script
/// Runs the demo on `source`, recording the heap after every step.
pub fn run<S: MemorySource>(source: S) -> Script {
    let mut heap = Heap::new(source);
    let mut s = Script::default();
    let at = |heap: &Heap<S>, p: *mut u8| heap.map().offset(p);

    let a = heap.malloc(64);
    let b = heap.malloc(64);
    let c = heap.malloc(64);
    let d = heap.malloc(16);
    s.step(
        format!(
            "a, b, c = malloc(64) x 3, d = malloc(16) -> {}",
            at(&heap, d)
        ),
        heap.map(),
    );
    // SAFETY: a came from this heap and is live; so are the others below.
    let r = unsafe { heap.free(a) };
    s.step(format!("free(a) -> {r:?}"), heap.map());
    // SAFETY: as above.
    let r = unsafe { heap.free(c) };
    s.step(
        format!("free(c) -> {r:?}  (not next to a: no merge)"),
        heap.map(),
    );
    // SAFETY: as above.
    let r = unsafe { heap.free(b) };
    s.step(
        format!("free(b) -> {r:?}  (merges with a and c)"),
        heap.map(),
    );
    let e = heap.malloc(200);
    s.step(
        format!(
            "e = malloc(200) -> {}  (fits in the merged chunk)",
            at(&heap, e)
        ),
        heap.map(),
    );
    // SAFETY: as above.
    let r = unsafe { heap.free(d) };
    s.step(
        format!("free(d) -> {r:?}  (top chunk: the break moves down)"),
        heap.map(),
    );
    // SAFETY: as above.
    let r = unsafe { heap.free(e) };
    s.step(
        format!("free(e) -> {r:?}  (everything free: the heap is empty)"),
        heap.map(),
    );
    s
}
// ANCHOR_END: script
