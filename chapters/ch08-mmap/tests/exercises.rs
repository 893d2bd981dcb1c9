//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use alloc_suite::exercises::ensure;

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            let t = 128 << 10;
            ensure(ex::next_threshold(t, 64 << 10) == t, "a smaller block changes nothing")?;
            ensure(ex::next_threshold(t, 1 << 20) == 1 << 20, "a bigger block raises it")?;
            ensure(ex::next_threshold(t, 64 << 20) == t, "never above the maximum")?;
            ensure(ex::next_threshold(t, ex::MAX_THRESHOLD) == ex::MAX_THRESHOLD, "up to it")
        }

        pub fn exercise_2() -> Result<(), String> {
            ensure(ex::page_round(1, 4096) == Some(4096), "1 -> 4096")?;
            ensure(ex::page_round(4096, 4096) == Some(4096), "4096 stays")?;
            ensure(ex::page_round(4097, 16384) == Some(16384), "other page sizes")?;
            ensure(ex::page_round(usize::MAX - 10, 4096).is_none(), "overflow gives None")
        }
    };
}

alloc_suite::exercise_harness!(
    ch08_mmap,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
