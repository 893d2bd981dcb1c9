//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use alloc_suite::exercises::ensure;

fn set_errno(e: i32) {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() = e };
}

fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            for n in [0usize, 1, 0xff, 0xdead_beef, usize::MAX] {
                let mut buf = [0u8; 18];
                let got = String::from_utf8_lossy(ex::hex(&mut buf, n)).into_owned();
                ensure(got == format!("{n:#x}"), &format!("{n:#x} came out as {got}"))?;
            }
            Ok(())
        }

        pub fn exercise_2() -> Result<(), String> {
            set_errno(libc::EINTR);
            let r = ex::preserving_errno(|| {
                set_errno(libc::EBADF);
                42
            });
            ensure(r == 42, "the result is passed through")?;
            ensure(errno() == libc::EINTR, &format!("errno is {}, expected EINTR ({})", errno(), libc::EINTR))
        }

        pub fn exercise_3() -> Result<(), String> {
            use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
            use ch09_ld_preload::exercises::Entry;
            let owner = AtomicUsize::new(0);
            let got = ex::enter(&owner, 7);
            ensure(got == Entry::Taken, &format!("a free lock: expected Taken, got {got:?}"))?;
            ensure(owner.load(Relaxed) == 7, &format!("after Taken the owner is {}, expected 7", owner.load(Relaxed)))?;
            let got = ex::enter(&owner, 7);
            ensure(got == Entry::Mine, &format!("held by the same thread: expected Mine, got {got:?}"))?;
            let got = ex::enter(&owner, 8);
            ensure(got == Entry::Busy, &format!("held by another thread: expected Busy, got {got:?}"))?;
            ensure(owner.load(Relaxed) == 7, &format!("Mine and Busy must leave the owner alone; it is {}", owner.load(Relaxed)))?;
            // Four threads take turns through `enter` and a store of 0: each
            // increments a counter without atomics while it holds the lock.
            let owner = AtomicUsize::new(0);
            let count = AtomicUsize::new(0);
            std::thread::scope(|s| {
                for me in 1..=4 {
                    let (owner, count) = (&owner, &count);
                    s.spawn(move || {
                        for _ in 0..20_000 {
                            while ex::enter(owner, me) != Entry::Taken {
                                std::hint::spin_loop();
                            }
                            let n = count.load(Relaxed);
                            count.store(n + 1, Relaxed);
                            owner.store(0, std::sync::atomic::Ordering::Release);
                        }
                    });
                }
            });
            let n = count.load(Relaxed);
            ensure(n == 80_000, &format!("two threads held the lock at once: {n} increments of 80000 survived"))
        }
    };
}

alloc_suite::exercise_harness!(
    ch09_ld_preload,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2, exercise_3]
);
