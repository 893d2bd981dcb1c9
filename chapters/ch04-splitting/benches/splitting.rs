//! `cargo bench -p ch04-splitting`: first fit with splitting against the
//! system allocator.

use ch04_splitting::Heap;
use criterion::{Criterion, criterion_group, criterion_main};

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare(c, "ch04 workload", Heap::new);
}

criterion_group!(benches, workload);
criterion_main!(benches);
