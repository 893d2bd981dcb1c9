//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use memsource::Arena;

use alloc_suite::exercises::ensure;

/// A heap with free chunks of 256, 64 and 96 bytes between used ones.
fn fragmented() -> Result<ch04_splitting::Heap<Arena>, String> {
    let mut heap = ch04_splitting::Heap::new(Arena::new(1 << 16));
    let mut free = Vec::new();
    for size in [256, 64, 96] {
        free.push(heap.malloc(size));
        heap.malloc(16);
    }
    for p in free {
        // SAFETY: p came from this heap and is live.
        unsafe { heap.free(p) }.map_err(|e| e.to_string())?;
    }
    Ok(heap)
}

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            let mut heap = ch04_splitting::Heap::new(Arena::new(4096));
            ensure(ex::largest_free(&heap) == 0, "an empty heap has nothing free")?;
            heap.malloc(100);
            ensure(ex::largest_free(&heap) == 0, "a full heap has nothing free")?;
            let mut heap = fragmented()?;
            ensure(ex::largest_free(&heap) == 256, "the largest free chunk has 256 bytes")?;
            // Splitting the 256-byte chunk leaves 256 - 64 - 32 = 160 free.
            heap.malloc(64);
            ensure(ex::largest_free(&heap) == 160, "after a split, 160 bytes are left")
        }

        pub fn exercise_2() -> Result<(), String> {
            let heap = ch04_splitting::Heap::new(Arena::new(4096));
            ensure(ex::fragmentation(&heap) == 0.0, "nothing free: no fragmentation")?;
            let mut heap = fragmented()?;
            let f = ex::fragmentation(&heap);
            let want = 1.0 - 256.0 / (256.0 + 64.0 + 96.0);
            ensure((f - want).abs() < 1e-9, &format!("fragmentation {f}, expected {want}"))?;
            // Take the 256-byte chunk whole: 64 and 96 bytes are left.
            heap.malloc(256);
            let f = ex::fragmentation(&heap);
            let want = 1.0 - 96.0 / 160.0;
            ensure((f - want).abs() < 1e-9, &format!("fragmentation {f}, expected {want}"))?;
            // Take the 64-byte chunk: one free chunk, no fragmentation.
            heap.malloc(64);
            let f = ex::fragmentation(&heap);
            ensure(f.abs() < 1e-9, &format!("one free chunk, yet fragmentation {f}"))
        }
    };
}

alloc_suite::exercise_harness!(
    ch04_splitting,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
