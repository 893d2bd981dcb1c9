//! `cargo bench -p ch08-mmap`: the benchmark workload through `GlobalAlloc`,
//! on the real break and behind the lock, against the system allocator.

use criterion::{Criterion, criterion_group, criterion_main};

static HEAP: ch08_mmap::Global = ch08_mmap::Global::new();

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare_global(c, "ch08 workload through GlobalAlloc", "ch08 mmap", &HEAP);
}

criterion_group!(benches, workload);
criterion_main!(benches);
