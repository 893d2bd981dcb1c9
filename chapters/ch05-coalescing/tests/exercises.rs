//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use ch05_coalescing::Heap;
use memsource::Arena;

use alloc_suite::exercises::ensure;

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(4096));
            for size in [16, 32, 48, 64] {
                heap.malloc(size);
            }
            let chunks: Vec<_> = heap.chunks().collect();
            ensure(ex::chunk_before(&heap, chunks[0]).is_none(), "the first chunk has none before it")?;
            for w in chunks.windows(2) {
                let got = ex::chunk_before(&heap, w[1]).map(|c| c.addr());
                ensure(got == Some(w[0].addr()), "wrong chunk before")?;
            }
            Ok(())
        }

        pub fn exercise_2() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(4096));
            heap.malloc(16);
            heap.malloc(16);
            ensure(ex::gaps(&heap) == 0, "two chunks in a row have no gap")?;
            // SAFETY: growing the break above the heap takes nothing from it.
            unsafe { heap.source_mut() }.foreign_grow(64);
            heap.malloc(16);
            // SAFETY: as above.
            unsafe { heap.source_mut() }.foreign_grow(16);
            heap.malloc(16);
            ensure(ex::gaps(&heap) == 2, "two foreign growths make two gaps")
        }
    };
}

alloc_suite::exercise_harness!(
    ch05_coalescing,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
