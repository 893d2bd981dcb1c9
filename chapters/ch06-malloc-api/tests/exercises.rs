//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use ch06_malloc_api::Heap;
use memsource::Arena;

use alloc_suite::exercises::ensure;

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(1 << 16));
            let p = heap.malloc(16);
            // SAFETY: p is live; it is only replaced by what is returned.
            let q = unsafe { ex::reallocarray(&mut heap, p, 10, 8) };
            ensure(!q.is_null() && heap.usable_size(q) >= 80, "10 x 8 bytes")?;
            let before = heap.map();
            // SAFETY: as above.
            let r = unsafe { ex::reallocarray(&mut heap, q, usize::MAX / 2 + 1, 2) };
            ensure(r.is_null(), "an overflowing count * size must give null")?;
            ensure(heap.map() == before, "an overflowing request changed the heap")?;
            ensure(heap.usable_size(q) >= 80, "the block must be left alone")
        }

        pub fn exercise_2() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(1 << 16));
            let sentinel = 0x10 as *mut u8;
            let mut out = sentinel;
            for bad in [0, 3, 24, 4] {
                let r = ex::posix_memalign(&mut heap, &mut out, bad, 16);
                ensure(r == ex::EINVAL, &format!("alignment {bad}: expected EINVAL, got {r}"))?;
                ensure(out == sentinel, "*out changed on failure")?;
            }
            let r = ex::posix_memalign(&mut heap, &mut out, 256, 100);
            ensure(r == 0 && (out as usize).is_multiple_of(256), "256-aligned block")?;
            let mut out2 = sentinel;
            let r = ex::posix_memalign(&mut heap, &mut out2, 64, 1 << 20);
            ensure(r == ex::ENOMEM, &format!("no memory: expected ENOMEM, got {r}"))?;
            ensure(out2 == sentinel, "*out changed on failure")
        }
    };
}

alloc_suite::exercise_harness!(
    ch06_malloc_api,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
