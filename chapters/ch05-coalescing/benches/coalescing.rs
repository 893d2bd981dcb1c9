//! `cargo bench -p ch05-coalescing`: the workload against the system
//! allocator, and what finding the previous chunk costs `free`.

use ch05_coalescing::Heap;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use memsource::Arena;
use std::hint::black_box;

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare(c, "ch05 workload", Heap::new);
}

/// `free` of a block with `n` used chunks before it: the walk to find the
/// previous chunk is the whole cost.
fn free_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("ch05 free after n chunks");
    g.sample_size(20);
    for n in [10, 100, 1000] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || {
                    let mut heap = Heap::new(Arena::new((n + 2) * 64));
                    for _ in 0..n {
                        heap.malloc(16);
                    }
                    let p = heap.malloc(16);
                    heap.malloc(16); // keeps `p` off the top, so no trimming
                    (heap, p)
                },
                |(mut heap, p)| {
                    // SAFETY: p came from this heap and is live.
                    black_box(unsafe { heap.free(black_box(p)) }).unwrap();
                    heap
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, workload, free_cost);
criterion_main!(benches);
