//! `cargo bench -p ch09-ld-preload`: the benchmark workload through `GlobalAlloc`,
//! on the real break and behind the lock, against the system allocator.

use criterion::{Criterion, criterion_group, criterion_main};

static HEAP: ch09_ld_preload::Global = ch09_ld_preload::Global::new();

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare_global(
        c,
        "ch09 workload through GlobalAlloc",
        "ch09 LD_PRELOAD",
        &HEAP,
    );
}

criterion_group!(benches, workload);
criterion_main!(benches);
