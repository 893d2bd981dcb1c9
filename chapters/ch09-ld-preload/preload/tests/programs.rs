//! Real programs on the book's malloc, and the C programs that try its
//! corners: the checks every preload library is held to (in
//! `support/alloc-suite/src/preload.rs`), and this chapter's recorded
//! comparison.

use alloc_suite::preload::{library, repo};
use std::path::Path;

alloc_suite::preload_tests!("libch09_preload.so", "ch09");

/// The book shows one recorded run of `cargo run -p ch09-ld-preload`; a live
/// run must print the same table (numbers aside), with "yes" in every row.
#[test]
fn the_recorded_comparison_in_the_book_matches_a_live_run() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ch09-report");
    let live = ch09_ld_preload::demo::report(&library("libch09_preload.so"), &work, &repo());
    alloc_suite::programs::assert_matches_recorded(
        &live,
        include_str!("../../recorded-run.txt"),
        "cargo run -p ch09-ld-preload > chapters/ch09-ld-preload/recorded-run.txt",
    );
}

/// The book's chart of peak memory, drawn from the recorded run.
#[test]
fn the_peak_memory_chart_is_drawn_from_the_recorded_run() {
    let recorded = include_str!("../../recorded-run.txt");
    let groups: Vec<(&str, Vec<f64>)> = recorded
        .lines()
        .skip_while(|l| !l.starts_with("program"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let name = l[..27].trim();
            let kib: Vec<f64> = l[27..]
                .split("KiB")
                .take(2)
                .filter_map(|part| part.split_whitespace().last()?.parse().ok())
                .collect();
            (
                name,
                kib.iter()
                    .map(|k| (k / 1024.0 * 10.0).round() / 10.0)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(groups.len(), 4);
    assert!(groups.iter().all(|(_, v)| v.len() == 2 && v[0] > 1.0));
    let svg = allockit::svg::bars(
        "Peak resident memory of real programs",
        &["glibc's malloc", "the book's malloc (chapter 9)"],
        &groups,
        "MiB",
    );
    insta::assert_snapshot!("peak_memory_svg", svg);
}
