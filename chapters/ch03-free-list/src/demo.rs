//! The scripted sequence that `cargo run -p ch03-free-list` prints.

use crate::Heap;
use allockit::{FreeError, Script};
use memsource::MemorySource;

fn result(r: Result<(), FreeError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("refused: {e}"),
    }
}

// ANCHOR: script
/// Runs the demo on `source`, recording the heap after every step.
pub fn run<S: MemorySource>(source: S) -> Script {
    let mut heap = Heap::new(source);
    let mut s = Script::default();
    let at = |heap: &Heap<S>, p: *mut u8| heap.map().offset(p);

    let a = heap.malloc(24);
    s.step(format!("a = malloc(24)  -> {}", at(&heap, a)), heap.map());
    let b = heap.malloc(100);
    s.step(format!("b = malloc(100) -> {}", at(&heap, b)), heap.map());
    let c = heap.malloc(8);
    s.step(format!("c = malloc(8)   -> {}", at(&heap, c)), heap.map());
    // SAFETY: b came from this heap and is live.
    let r = unsafe { heap.free(b) };
    s.step(format!("free(b)         -> {}", result(r)), heap.map());
    let d = heap.malloc(64);
    s.step(
        format!(
            "d = malloc(64)  -> {}  (b's chunk, first fit)",
            at(&heap, d)
        ),
        heap.map(),
    );
    // SAFETY: a came from this heap and is live.
    let r = unsafe { heap.free(a) };
    s.step(format!("free(a)         -> {}", result(r)), heap.map());
    let e = heap.malloc(40);
    s.step(
        format!(
            "e = malloc(40)  -> {}  (no free chunk fits: grow)",
            at(&heap, e)
        ),
        heap.map(),
    );
    // SAFETY: a came from this heap; its chunk is free, which `free` checks
    // before changing anything.
    let r = unsafe { heap.free(a) };
    s.step(format!("free(a) again   -> {}", result(r)), heap.map());
    let mut local = 0u8;
    // SAFETY: `local` lies outside the heap, which `free` checks before
    // reading any header.
    let r = unsafe { heap.free(&mut local) };
    s.step(format!("free(&local)    -> {}", result(r)), heap.map());
    // SAFETY: null is always allowed.
    let r = unsafe { heap.free(std::ptr::null_mut()) };
    s.step(format!("free(null)      -> {}", result(r)), heap.map());
    s
}
// ANCHOR_END: script
