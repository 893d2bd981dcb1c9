//! Checking that exercises can fail.
//!
//! Every chapter's exercises live in `src/exercises.rs`, each marked
//! `I AM NOT DONE (exercise N)` until the reader starts it. While a marker is
//! there, the starting point must fail that exercise's tests: otherwise the
//! tests would pass whatever the reader wrote.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// An exercise's name (`"exercise_1"`) and its tests, as one function.
pub type Check = (&'static str, fn() -> Result<(), String>);

/// Panics unless every exercise still marked `I AM NOT DONE` in
/// `source` (the text of the chapter's `src/exercises.rs`) fails its check.
/// Under `CI`, every marker must be present: the shipped starting point is
/// always checked.
pub fn starting_point_fails(source: &str, checks: &[Check]) {
    let mut problems = Vec::new();
    for (name, check) in checks {
        let name = name.replace('_', " ");
        let marker = format!("I AM NOT DONE ({name})");
        if source.contains(&marker) {
            let passed = matches!(catch_unwind(AssertUnwindSafe(check)), Ok(Ok(())));
            if passed {
                problems.push(format!(
                    "{name}: the unsolved starting point passes its tests \
                     (if you have solved it, delete its `{marker}` line)"
                ));
            }
        } else if std::env::var_os("CI").is_some() {
            problems.push(format!(
                "{name}: `{marker}` is missing from the shipped exercises"
            ));
        } else {
            eprintln!("{name}: started (marker removed), so its starting point is not checked");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `Ok(())` if `ok`, else `Err(why)`: the exercises' checks are built from
/// these.
pub fn ensure(ok: bool, why: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why.to_string()) }
}
