//! The scripted sequence that `cargo run -p ch02-bump` prints.

use crate::Bump;
use allockit::Script;
use memsource::MemorySource;

// ANCHOR: script
/// Runs the demo on `source`, recording the heap after every step.
pub fn run<S: MemorySource>(source: S) -> Script {
    let mut heap = Bump::new(source);
    let mut s = Script::default();

    let a = heap.malloc(5);
    s.step(
        format!("a = malloc(5)   -> {}", heap.map().offset(a)),
        heap.map(),
    );
    let b = heap.malloc(40);
    s.step(
        format!("b = malloc(40)  -> {}", heap.map().offset(b)),
        heap.map(),
    );
    let c = heap.malloc(0);
    s.step(
        format!("c = malloc(0)   -> {}", heap.map().offset(c)),
        heap.map(),
    );
    heap.free(b);
    s.step("free(b)         -> nothing happens", heap.map());
    let d = heap.malloc(40);
    s.step(
        format!(
            "d = malloc(40)  -> {}, not b's old place",
            heap.map().offset(d)
        ),
        heap.map(),
    );
    let e = heap.malloc(usize::MAX - 8);
    s.step(
        format!("e = malloc(usize::MAX - 8) -> {}", heap.map().offset(e)),
        heap.map(),
    );
    s
}
// ANCHOR_END: script
