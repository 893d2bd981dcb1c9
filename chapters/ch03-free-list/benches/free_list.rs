//! `cargo bench -p ch03-free-list`: first fit over a linked list against the
//! system allocator.

use ch03_free_list::Heap;
use criterion::{Criterion, criterion_group, criterion_main};

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare(c, "ch03 workload", Heap::new);
}

criterion_group!(benches, workload);
criterion_main!(benches);
