//! `cargo bench -p ch06-malloc-api`: the workload, and `realloc` growing a
//! block step by step, against the system allocator.

use alloc_suite::{Malloc, System};
use ch06_malloc_api::Heap;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use memsource::Arena;
use std::hint::black_box;

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare(c, "ch06 workload", Heap::new);
}

/// Grows one block from 16 bytes to 16 KiB, 16 bytes at a time, with a
/// small block allocated after each step so the block is not always last.
fn grow<A: Malloc>(a: &mut A) {
    let mut p = a.malloc(16);
    let mut small = Vec::with_capacity(1024);
    for size in (32..=16 * 1024).step_by(16) {
        // SAFETY: p is live and replaced by what realloc returns.
        p = unsafe { a.realloc(black_box(p), size) }.expect("realloc");
        assert!(!p.is_null());
        small.push(a.malloc(16));
    }
    for q in small.into_iter().chain([p]) {
        // SAFETY: every block is live and freed once.
        let _ = unsafe { a.free(q) };
    }
}

fn realloc_growth(c: &mut Criterion) {
    let mut g = c.benchmark_group("ch06 realloc growing a block");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1023));
    g.bench_function(System::NAME, |b| b.iter(|| grow(&mut System)));
    g.bench_function(<Heap<Arena> as Malloc>::NAME, |b| {
        b.iter_batched(
            || Heap::new(Arena::new(1 << 22)),
            |mut heap| {
                grow(&mut heap);
                heap
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, workload, realloc_growth);
criterion_main!(benches);
