//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use alloc_suite::workload::{Op, Rng};
use memsource::Arena;

use alloc_suite::exercises::ensure;

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use ch03_free_list::Heap;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            // SAFETY: best_fit returns chunks of the heap it is given, and
            // malloc checks that they are unused and big enough.
            let mut heap = unsafe { Heap::with_placement(Arena::new(1 << 16), ex::best_fit) };
            // Free chunks of 256, 64, 128 and 64 bytes, kept apart by used ones.
            let mut free = Vec::new();
            for size in [256, 64, 128, 64] {
                free.push(heap.malloc(size));
                heap.malloc(16);
            }
            for &p in &free {
                // SAFETY: p came from this heap.
                unsafe { heap.free(p) }.map_err(|e| e.to_string())?;
            }
            ensure(heap.malloc(48) == free[1], "48 bytes should take the first 64-byte chunk")?;
            ensure(heap.malloc(100) == free[2], "100 bytes should take the 128-byte chunk")?;
            ensure(heap.malloc(64) == free[3], "64 bytes should take the other 64-byte chunk")?;
            ensure(heap.malloc(16) == free[0], "only the 256-byte chunk is left")?;
            let len = heap.map().len();
            let p = heap.malloc(16);
            ensure(!p.is_null() && heap.map().len() > len, "with nothing free, the heap grows")?;
            // And the allocator is still correct under random use.
            let mut rng = Rng::new(9);
            let ops: Vec<Op> = (0..if cfg!(miri) { 60 } else { 600 })
                .map(|i| if i % 3 == 2 { Op::Free(rng.next_u64() as usize) } else { Op::Malloc(rng.range(1, 300)) })
                .collect();
            // SAFETY: as above.
            let heap = unsafe { Heap::with_placement(Arena::new(1 << 18), ex::best_fit) };
            alloc_suite::model::check(heap, &ops).map(drop)
        }

        pub fn exercise_2() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(1 << 17));
            ensure(ex::stats(&heap) == Default::default(), "an empty heap has no chunks")?;
            let mut rng = Rng::new(4);
            let mut live = Vec::new();
            for _ in 0..if cfg!(miri) { 40 } else { 300 } {
                if rng.next_u64() % 3 == 0 && !live.is_empty() {
                    let p = live.swap_remove(rng.range(0, live.len() - 1));
                    // SAFETY: p came from this heap and is live.
                    unsafe { heap.free(p) }.map_err(|e| e.to_string())?;
                } else {
                    live.push(heap.malloc(rng.range(1, 200)));
                }
                let s = ex::stats(&heap);
                let t = heap.map().totals();
                let want = (t.used_chunks, t.used_bytes, t.free_chunks, t.free_bytes);
                let got = (s.used_chunks, s.used_bytes, s.free_chunks, s.free_bytes);
                ensure(got == want, &format!(
                    "stats (used chunks, used bytes, free chunks, free bytes) = {got:?}, \
                     but the heap walk finds {want:?}"
                ))?;
            }
            Ok(())
        }

        pub fn exercise_3() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(4096));
            let local = 0u8;
            ensure(!ex::owns(&heap, &local), "an empty heap owns nothing")?;
            let a = heap.malloc(64);
            let b = heap.malloc(64);
            // SAFETY: b came from this heap.
            unsafe { heap.free(b) }.map_err(|e| e.to_string())?;
            ensure(ex::owns(&heap, a) && ex::owns(&heap, b), "payloads are owned")?;
            ensure(!ex::owns(&heap, a.wrapping_add(16)), "the middle of a block is not a payload")?;
            ensure(!ex::owns(&heap, a.wrapping_sub(ch03_free_list::HEADER)), "a header is not a payload")?;
            ensure(!ex::owns(&heap, &local), "a stack address is not owned")
        }

    };
}

alloc_suite::exercise_harness!(
    ch03_free_list,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2, exercise_3]
);
