//! `cargo bench -p ch09-ld-preload`: the benchmark workload through
//! `GlobalAlloc`, on the real break and behind the lock, against the
//! system allocator.

use ch09_ld_preload::Global;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::alloc::System;
use std::hint::black_box;

static HEAP: Global = Global::new();

fn workload(c: &mut Criterion) {
    let ops = alloc_suite::bench::ops();
    let mut g = c.benchmark_group("ch09 workload through GlobalAlloc");
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.sample_size(10);
    g.bench_function("system malloc", |b| {
        b.iter(|| black_box(alloc_suite::workload::run_global(&System, &ops)))
    });
    g.bench_function("ch09 LD_PRELOAD", |b| {
        b.iter(|| black_box(alloc_suite::workload::run_global(&HEAP, &ops)))
    });
    g.finish();
}

criterion_group!(benches, workload);
criterion_main!(benches);
