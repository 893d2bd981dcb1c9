//! The demo is a real program on this allocator: its answer is pinned, and
//! its heap statistics must show the shared break and a consistent heap.

#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn the_word_count_runs_on_this_allocator() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch07-global-alloc"))
        .output()
        .expect("run the demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (answer, stats) = stdout
        .split_once("---- heap statistics")
        .expect("statistics section");
    insta::assert_snapshot!("word_count", answer);
    assert_eq!(stats.matches("invariants: ok").count(), 3, "{stats}");
    // glibc's blocks sit between ours: the heap walk sees foreign memory.
    let with_glibc = stats
        .split("With glibc's blocks between ours:")
        .nth(1)
        .and_then(|s| s.split("After freeing both").next())
        .unwrap();
    assert!(!with_glibc.contains("our chunks: 0 B"), "{stats}");
}

/// The book shows `recorded-run.txt`, one real run. Its numbers differ from
/// run to run; its lines must not: a live run has the same shape.
#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn the_recorded_run_in_the_book_matches_a_live_run() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch07-global-alloc"))
        .output()
        .expect("run the demo");
    alloc_suite::recorded::assert_same_shape(
        &String::from_utf8_lossy(&out.stdout),
        include_str!("../recorded-run.txt"),
        "cargo run -p ch07-global-alloc > chapters/ch07-global-alloc/recorded-run.txt",
    );
}
