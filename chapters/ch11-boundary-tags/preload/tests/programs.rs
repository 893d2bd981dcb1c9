//! Real programs on chapter 11's malloc, and the C programs that try its
//! corners: the checks every preload library is held to (in
//! `support/alloc-suite/src/preload.rs`).

alloc_suite::preload_tests!("libch11_preload.so", "ch11");

/// The book shows one recorded run of `cargo run -p ch11-preload --example
/// programs`; a live run must print the same table (numbers aside), with
/// "yes" in every row: the same output as with glibc's malloc.
#[test]
fn the_recorded_comparison_in_the_book_matches_a_live_run() {
    use alloc_suite::preload::{library, repo};
    use alloc_suite::programs::{compare, perl_and_everyday};
    let work = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ch11-programs");
    let live = compare(
        &library("libch11_preload.so"),
        perl_and_everyday(&work, &repo()),
    );
    alloc_suite::programs::assert_matches_recorded(
        &live,
        include_str!("../recorded-programs.txt"),
        "cargo build -p ch11-preload && cargo run -p ch11-preload --example programs > chapters/ch11-boundary-tags/preload/recorded-programs.txt",
    );
}
