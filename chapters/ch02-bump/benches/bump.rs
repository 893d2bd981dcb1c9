//! `cargo bench -p ch02-bump`: the bump allocator against the system
//! allocator, and the cost of one `sbrk` per request.

use ch02_bump::Bump;
use criterion::{Criterion, criterion_group, criterion_main};
use memsource::{MemorySource, Sbrk};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn workload(c: &mut Criterion) {
    alloc_suite::bench::compare(c, "ch02 workload", Bump::new);
}

/// 1,000 requests of 32 bytes: from an arena (bumping a pointer) and from
/// the real break (one system call each).
fn sbrk_per_request(c: &mut Criterion) {
    const N: usize = 1_000;
    let mut g = c.benchmark_group("ch02 1000 x malloc(32)");
    g.sample_size(20);
    g.throughput(criterion::Throughput::Elements(N as u64));
    g.bench_function("bump on an arena", |b| {
        b.iter_batched(
            || Bump::new(memsource::Arena::new(N * 32)),
            |mut heap| {
                for _ in 0..N {
                    black_box(heap.malloc(black_box(32)));
                }
                heap
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("bump on sbrk", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut heap = Bump::new(Sbrk::new());
                let start = Instant::now();
                for _ in 0..N {
                    black_box(heap.malloc(black_box(32)));
                }
                total += start.elapsed();
                // Give the memory back (untimed) so the break does not creep up.
                let src = heap.source_mut();
                if let (Some(base), Some(end)) = (src.base(), src.end()) {
                    let len = end.as_ptr() as usize - base.as_ptr() as usize;
                    // SAFETY: the blocks were never used, and the heap
                    // is dropped right after.
                    unsafe { src.shrink(end, len) };
                }
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, workload, sbrk_per_request);
criterion_main!(benches);
