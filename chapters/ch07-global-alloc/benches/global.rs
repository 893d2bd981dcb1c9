//! `cargo bench -p ch07-global-alloc`: the benchmark workload through `GlobalAlloc`,
//! on the real break and behind the lock, against the system allocator.

use criterion::{Criterion, criterion_group, criterion_main};

static HEAP: ch07_global_alloc::Global = ch07_global_alloc::Global::new();

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare_global(
        c,
        "ch07 workload through GlobalAlloc",
        "ch07 global allocator",
        &HEAP,
    );
}

criterion_group!(benches, workload);
criterion_main!(benches);
