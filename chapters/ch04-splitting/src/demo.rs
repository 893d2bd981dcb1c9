//! The scripted sequence that `cargo run -p ch04-splitting` prints.

use crate::Heap;
use allockit::Script;
use memsource::MemorySource;

// ANCHOR: script
/// Runs the demo on `source`, recording the heap after every step.
pub fn run<S: MemorySource>(source: S) -> Script {
    let mut heap = Heap::new(source);
    let mut s = Script::default();
    let at = |heap: &Heap<S>, p: *mut u8| heap.map().offset(p);

    let a = heap.malloc(200);
    s.step(format!("a = malloc(200) -> {}", at(&heap, a)), heap.map());
    let b = heap.malloc(16);
    s.step(format!("b = malloc(16)  -> {}", at(&heap, b)), heap.map());
    // SAFETY: a came from this heap and is live.
    let r = unsafe { heap.free(a) };
    s.step(format!("free(a)         -> {r:?}"), heap.map());
    let c = heap.malloc(40);
    s.step(
        format!(
            "c = malloc(40)  -> {}  (split: 48 used, 128 left)",
            at(&heap, c)
        ),
        heap.map(),
    );
    let d = heap.malloc(100);
    s.step(
        format!(
            "d = malloc(100) -> {}  (16 left over: too small to split)",
            at(&heap, d)
        ),
        heap.map(),
    );
    // SAFETY: c and d came from this heap and are live.
    let (r1, r2) = unsafe { (heap.free(c), heap.free(d)) };
    s.step(format!("free(c), free(d) -> {r1:?}, {r2:?}"), heap.map());
    let e = heap.malloc(150);
    s.step(
        format!(
            "e = malloc(150) -> {}  (two free neighbours, neither fits)",
            at(&heap, e)
        ),
        heap.map(),
    );
    s
}
// ANCHOR_END: script
