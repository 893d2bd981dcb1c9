//! The scripted sequence that `cargo run -p ch06-malloc-api` prints.

use crate::Heap;
use allockit::Script;
use memsource::MemorySource;

// ANCHOR: script
/// Runs the demo on `source`, recording the heap after every step.
pub fn run<S: MemorySource>(source: S) -> Script {
    let mut heap = Heap::new(source);
    let mut s = Script::default();
    let at = |heap: &Heap<S>, p: *mut u8| heap.map().offset(p);

    let mut a = heap.malloc(40);
    let b = heap.malloc(40);
    let mut c = heap.malloc(40);
    s.step(
        format!("a, b, c = malloc(40) x 3 -> {}", at(&heap, c)),
        heap.map(),
    );
    // SAFETY: every pointer passed to free or realloc below is live, and is
    // replaced by what realloc returns.
    // SAFETY: as above.
    let r = unsafe { heap.free(b) };
    s.step(format!("free(b) -> {r:?}"), heap.map());
    // SAFETY: as above.
    a = unsafe { heap.realloc(a, 90) };
    s.step(
        format!(
            "a = realloc(a, 90)  -> {}  (absorbs b: in place)",
            at(&heap, a)
        ),
        heap.map(),
    );
    // SAFETY: as above.
    c = unsafe { heap.realloc(c, 300) };
    s.step(
        format!(
            "c = realloc(c, 300) -> {}  (last chunk: the break moves)",
            at(&heap, c)
        ),
        heap.map(),
    );
    let d = heap.calloc(10, 10);
    s.step(
        format!(
            "d = calloc(10, 10)  -> {}  (fresh memory: no clearing)",
            at(&heap, d)
        ),
        heap.map(),
    );
    // SAFETY: as above.
    let r = unsafe { heap.free(a) };
    s.step(format!("free(a) -> {r:?}"), heap.map());
    let e = heap.calloc(4, 16);
    s.step(
        format!("e = calloc(4, 16)   -> {}  (reused: cleared)", at(&heap, e)),
        heap.map(),
    );
    // SAFETY: as above.
    let f = unsafe { heap.realloc(std::ptr::null_mut(), 8) };
    s.step(
        format!("f = realloc(null, 8) -> {}", at(&heap, f)),
        heap.map(),
    );
    // SAFETY: as above.
    let g = unsafe { heap.realloc(f, 0) };
    s.step(
        format!("realloc(f, 0) -> {}  (frees f)", at(&heap, g)),
        heap.map(),
    );
    let big = heap.calloc(usize::MAX / 2, 3);
    s.step(
        format!(
            "calloc(usize::MAX / 2, 3) -> {}  (overflow)",
            at(&heap, big)
        ),
        heap.map(),
    );
    s.step(
        format!("usable_size(c) = {}", heap.usable_size(c)),
        heap.map(),
    );
    s
}
// ANCHOR_END: script
