//! The benchmark every chapter runs: the reference workload on the
//! chapter's allocator and on the system allocator, measured in one run so
//! that their ratio means something on a noisy machine.

use crate::workload::{self, Op};
use crate::{Malloc, System};
use criterion::{BatchSize, Criterion, Throughput};
use memsource::Arena;
use std::hint::black_box;

/// Operations in the benchmark workload.
pub const OPS: usize = 20_000;
/// Most blocks live at once in the benchmark workload.
pub const MAX_LIVE: usize = 1_000;
/// Seed of the benchmark workload.
pub const SEED: u64 = 2026;

/// The benchmark workload: [`workload::reference`] with [`OPS`],
/// [`MAX_LIVE`] and [`SEED`].
pub fn ops() -> Vec<Op> {
    workload::reference(OPS, MAX_LIVE, SEED)
}

/// Arena big enough for the benchmark workload even if nothing is reused.
pub fn arena() -> Arena {
    let bytes: usize = ops()
        .iter()
        .map(|op| match op {
            Op::Malloc(s) => s + 64,
            _ => 0,
        })
        .sum();
    Arena::new(bytes + 4096)
}

/// Benchmarks `chapter` (an allocator built over a fresh arena for every
/// iteration, outside the timing) against [`System`] on [`ops`], in a
/// criterion group named `group`.
pub fn compare<A: Malloc>(c: &mut Criterion, group: &str, make: impl Fn(Arena) -> A) {
    let ops = ops();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.sample_size(10);
    g.bench_function(System::NAME, |b| {
        b.iter(|| black_box(workload::run(&mut System, black_box(&ops))))
    });
    g.bench_function(A::NAME, |b| {
        b.iter_batched(
            || make(arena()),
            |mut a| {
                black_box(workload::run(&mut a, black_box(&ops)));
                a // dropped outside the timing
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Benchmarks a Rust global allocator (`GlobalAlloc`) named `name` against
/// the system allocator on [`ops`], in a criterion group named `group`.
pub fn compare_global<G: std::alloc::GlobalAlloc>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    g: &G,
) {
    let ops = ops();
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(ops.len() as u64));
    group.sample_size(10);
    group.bench_function(System::NAME, |b| {
        b.iter(|| black_box(workload::run_global(&std::alloc::System, black_box(&ops))))
    });
    group.bench_function(name, |b| {
        b.iter(|| black_box(workload::run_global(g, black_box(&ops))))
    });
    group.finish();
}
