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
    };
}

alloc_suite::exercise_harness!(
    ch09_ld_preload,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
