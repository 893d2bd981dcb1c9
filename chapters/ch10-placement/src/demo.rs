//! What `cargo run -p ch10-placement` shows: the same requests served by
//! each placement policy, step by step, and then what each policy does to
//! memory over many random requests.

use crate::{BestFit, FirstFit, Heap, NextFit, Policy};
use alloc_suite::{bench, efficiency, workload};
use allockit::Script;
use memsource::Arena;
use std::fmt::Write as _;

// ANCHOR: script
/// One heap, laid out the same way for every policy: holes of 160, 48 and
/// 96 bytes, each followed by a used 16-byte block. Then the same requests.
pub fn script<P: Policy>(policy: P) -> Script {
    let mut heap = Heap::with_policy(Arena::new(4096), policy);
    let mut s = Script::default();
    let at = |heap: &Heap<Arena, P>, p: *mut u8| heap.map().offset(p);

    let holes: Vec<*mut u8> = [160, 48, 96]
        .iter()
        .map(|&size| {
            let hole = heap.malloc(size);
            let _fence = heap.malloc(16);
            hole
        })
        .collect();
    for &hole in &holes {
        // SAFETY: each hole is a live block of this heap, freed once.
        unsafe { heap.free(hole) }.expect("a live block");
    }
    s.step(
        "holes of 160, 48 and 96 bytes, each before a used 16-byte block",
        heap.map(),
    );
    let a = heap.malloc(48);
    s.step(format!("a = malloc(48) -> {}", at(&heap, a)), heap.map());
    let b = heap.malloc(80);
    s.step(format!("b = malloc(80) -> {}", at(&heap, b)), heap.map());
    // SAFETY: `a` is a live block of this heap, freed once.
    let r = unsafe { heap.free(a) };
    s.step(format!("free(a) -> {r:?}"), heap.map());
    let c = heap.malloc(32);
    s.step(format!("c = malloc(32) -> {}", at(&heap, c)), heap.map());
    s
}
// ANCHOR_END: script

/// The script under each of the chapter's policies, by name.
pub fn scripts() -> Vec<(&'static str, Script)> {
    vec![
        (FirstFit::NAME, script(FirstFit)),
        (NextFit::NAME, script(NextFit::default())),
        (BestFit::NAME, script(BestFit)),
    ]
}

// ANCHOR: measure
/// One policy over many random requests: heap efficiency (how full a
/// 64 KiB arena gets before the first request fails, averaged over 20
/// seeds) and footprint (memory taken for the benchmark workload, 20,000
/// requests with up to 1,000 blocks live, against its peak live bytes).
pub fn measure<P: Policy + Copy>(policy: P) -> (f64, workload::Footprint) {
    let efficiency = efficiency::measure(|a| Heap::with_policy(a, policy));
    let mut heap = Heap::with_policy(bench::arena(), policy);
    let footprint = workload::footprint(&mut heap, &bench::ops());
    (efficiency, footprint)
}
// ANCHOR_END: measure

/// [`measure`] for each policy, as a table.
pub fn table() -> String {
    let rows = [
        (FirstFit::NAME, measure(FirstFit)),
        (NextFit::NAME, measure(NextFit::default())),
        (BestFit::NAME, measure(BestFit)),
    ];
    let mut out = String::from(
        "| policy | heap efficiency | peak heap / peak live | heap after freeing all |\n|---|--:|--:|--:|\n",
    );
    for (name, (e, fp)) in rows {
        let _ = writeln!(
            out,
            "| {name} | {:.1}% | {:.3} | {} B |",
            e * 100.0,
            fp.peak_heap as f64 / fp.peak_live.max(1) as f64,
            fp.end_heap
        );
    }
    out
}
