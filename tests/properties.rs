//! Model-based property tests: random sequences of operations against every
//! chapter, checked step by step (alignment, overlap, contents, heap walk).

use alloc_suite::model::{Model, arena_for, check, ops};
use alloc_suite::shared::SharedArena;
use ch10_placement::{BestFit, Heap as Heap10, NextFit};
use ch11_boundary_tags::{Heap as Heap11, Order};
use memsource::Arena;
use proptest::prelude::*;

/// Longest sequence tried (Miri is thousands of times slower: short ones there).
const MAX_OPS: usize = if cfg!(miri) { 30 } else { 200 };

/// `cases` cases (4 under Miri), nothing written to disk.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { cases },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One property test per chapter: `name => allocator type, constructor`.
macro_rules! chapters {
    ($($(#[$attr:meta])* $name:ident => $ty:ty, $new:expr;)+) => {
        proptest! {
            #![proptest_config(config(256))]
            $(
                #[test]
                $(#[$attr])*
                fn $name(ops in ops::<$ty>(MAX_OPS)) {
                    let r = check($new(Arena::new(arena_for(ops.len()))), &ops);
                    prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
                }
            )+
        }
    };
}

chapters! {
    ch02_bump => ch02_bump::Bump<Arena>, ch02_bump::Bump::new;
    ch03_free_list => ch03_free_list::Heap<Arena>, ch03_free_list::Heap::new;
    ch04_splitting => ch04_splitting::Heap<Arena>, ch04_splitting::Heap::new;
    ch05_coalescing => ch05_coalescing::Heap<Arena>, ch05_coalescing::Heap::new;
    ch06_malloc_api => ch06_malloc_api::Heap<Arena>, ch06_malloc_api::Heap::new;
    #[cfg_attr(miri, ignore = "the heap of chapter 6, unchanged")]
    ch07_global_alloc => ch07_global_alloc::Heap<Arena>, ch07_global_alloc::Heap::new;
    ch08_mmap => ch08_mmap::Heap<Arena>, ch08_mmap::Heap::new;
    ch09_ld_preload => ch09_ld_preload::Heap<Arena>, ch09_ld_preload::Heap::new;
    #[cfg_attr(miri, ignore = "the heap of chapter 9, unchanged")]
    ch10_first_fit => ch10_placement::Heap<Arena>, ch10_placement::Heap::new;
    #[cfg_attr(miri, ignore = "chapter 9's heap, with policies in safe code")]
    ch10_next_fit => ch10_placement::Heap<Arena, NextFit>, |a| Heap10::with_policy(a, NextFit::default());
    #[cfg_attr(miri, ignore = "chapter 9's heap, with policies in safe code")]
    ch10_best_fit => ch10_placement::Heap<Arena, BestFit>, |a| Heap10::with_policy(a, BestFit);
    ch11_boundary_tags => ch11_boundary_tags::Heap<Arena>, ch11_boundary_tags::Heap::new;
    ch11_address_order => ch11_boundary_tags::Heap<Arena>, |a| Heap11::with_order(a, Order::Address);
}

/// A block of the arena someone else took: its start and end offsets.
type Foreign = (usize, usize);

/// Runs `ops` on a model of `heap` (over `arena`), with someone else
/// growing the break by 64 bytes (filled with 0x5A) before op `foreign_at`;
/// then frees everything. Returns the heap, the foreign block, and the
/// break before the final frees.
fn with_foreign<H: allockit::Malloc>(
    heap: H,
    arena: &SharedArena,
    ops: &[alloc_suite::workload::Op],
    foreign_at: Option<usize>,
) -> Result<(H, Option<Foreign>, usize), TestCaseError> {
    let mut model = Model::new(heap);
    let mut foreign = None;
    for (i, &op) in ops.iter().enumerate() {
        if foreign_at == Some(i) {
            let taken = arena.foreign_grow(64).expect("room");
            arena.with_bytes(taken, |b| b.fill(0x5A));
            foreign = Some(taken);
        }
        let r = model.apply(op);
        prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
    }
    let used = arena.used();
    let r = model.finish();
    prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
    Ok((r.unwrap(), foreign, used))
}

/// For chapters that give memory back: free everything and the heap is
/// empty, unless someone else moved the break in between; then the memory
/// below the foreign block stays, and the foreign block is never touched.
macro_rules! shrinking {
    ($($name:ident => $heap:ident;)+) => {
        proptest! {
            #![proptest_config(config(128))]
            $(
                #[test]
                fn $name(
                    ops in ops::<$heap::Heap<SharedArena>>(MAX_OPS),
                    foreign_at in proptest::option::of(0..MAX_OPS),
                ) {
                    let arena = SharedArena::new(arena_for(ops.len()) + 4096);
                    let heap = $heap::Heap::new(arena.clone());
                    let (heap, foreign, _) = with_foreign(heap, &arena, &ops, foreign_at)?;
                    match foreign {
                        None => {
                            prop_assert_eq!(heap.map().len(), 0, "everything given back");
                            prop_assert_eq!(arena.used(), 0);
                        }
                        Some(taken) => {
                            // Everything above the foreign block went back,
                            // and nothing below it.
                            prop_assert_eq!(arena.used(), taken.1);
                            let intact = arena.with_bytes(taken, |b| b.iter().all(|&x| x == 0x5A));
                            prop_assert!(intact, "foreign memory was written");
                        }
                    }
                }
            )+
        }
    };
}

shrinking! {
    ch05_coalescing_gives_back_only_its_own => ch05_coalescing;
    ch06_malloc_api_gives_back_only_its_own => ch06_malloc_api;
}

/// From chapter 9 on the heap never moves the break down (it gives pages
/// back instead): free everything and every chunk is free, the break is
/// where the heap's growths left it, and a foreign block is never written.
macro_rules! keeping_the_break {
    ($($name:ident => $heap:ident;)+) => {
        proptest! {
            #![proptest_config(config(128))]
            $(
                #[test]
                fn $name(
                    ops in ops::<$heap::Heap<SharedArena>>(MAX_OPS),
                    foreign_at in proptest::option::of(0..MAX_OPS),
                ) {
                    let arena = SharedArena::new(arena_for(ops.len()) + (1 << 18));
                    let heap = $heap::Heap::new(arena.clone());
                    let (heap, foreign, used) = with_foreign(heap, &arena, &ops, foreign_at)?;
                    prop_assert!(heap.map().chunks.iter().all(|c| !c.used), "every chunk free");
                    prop_assert_eq!(arena.used(), used, "the break never moves down");
                    if let Some(taken) = foreign {
                        let intact = arena.with_bytes(taken, |b| b.iter().all(|&x| x == 0x5A));
                        prop_assert!(intact, "foreign memory was written");
                    }
                }
            )+
        }
    };
}

keeping_the_break! {
    ch09_ld_preload_keeps_the_break_and_never_touches_foreign_memory => ch09_ld_preload;
    ch11_boundary_tags_keeps_the_break_and_never_touches_foreign_memory => ch11_boundary_tags;
}
