//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use alloc_suite::exercises::ensure;

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            let lock = ex::SpinLock::new();
            ensure(lock.try_lock(), "a free lock can be taken")?;
            ensure(!lock.try_lock(), "a held lock cannot be taken again")?;
            lock.unlock();
            ensure(lock.try_lock(), "an unlocked lock can be taken")?;
            lock.unlock();
            // Four threads each add 1 to a counter 20,000 times, with a
            // read and a separate write: only mutual exclusion keeps them
            // from losing updates.
            let counter = AtomicUsize::new(0);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..20_000 {
                            lock.lock();
                            let v = counter.load(Ordering::Relaxed);
                            counter.store(v + 1, Ordering::Relaxed);
                            lock.unlock();
                        }
                    });
                }
            });
            let n = counter.load(Ordering::Relaxed);
            ensure(n == 80_000, &format!("lost updates: {n} of 80000"))
        }

        pub fn exercise_2() -> Result<(), String> {
            let c = ex::Counting {
                inner: System,
                blocks: AtomicUsize::new(0),
                bytes: AtomicUsize::new(0),
            };
            let count = || (c.blocks.load(Ordering::Relaxed), c.bytes.load(Ordering::Relaxed));
            let small = Layout::from_size_align(100, 8).unwrap();
            // SAFETY: each block is used with its own layout and freed once.
            unsafe {
                let a = c.alloc(small);
                let b = c.alloc(Layout::from_size_align(50, 16).unwrap());
                ensure(count() == (2, 150), &format!(
                    "after allocating 100 and 50 bytes, (blocks, bytes) = {:?}, expected (2, 150)",
                    count()
                ))?;
                let a2 = c.realloc(a, small, 300);
                ensure(count() == (2, 350), &format!("after realloc: {:?}", count()))?;
                c.dealloc(a2, Layout::from_size_align(300, 8).unwrap());
                c.dealloc(b, Layout::from_size_align(50, 16).unwrap());
            }
            ensure(count() == (0, 0), &format!("after freeing: {:?}", count()))
        }
    };
}

alloc_suite::exercise_harness!(
    ch07_global_alloc,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
