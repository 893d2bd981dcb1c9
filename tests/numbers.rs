//! The benchmark numbers in the book must cover every benchmark group the
//! chapters define: a group added or renamed without recording its numbers
//! fails here. (The numbers themselves are measured, never asserted.)

use std::fs;
use std::path::Path;

/// Group names in a benchmark source: the first string literal after each
/// `benchmark_group(`, `compare(` or `compare_global(`.
fn groups(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["benchmark_group(", "compare(", "compare_global("] {
        for (at, _) in source.match_indices(marker) {
            let rest = &source[at + marker.len()..];
            let Some(open) = rest.find('"') else { continue };
            let rest = &rest[open + 1..];
            if let Some(close) = rest.find('"') {
                out.push(rest[..close].to_string());
            }
        }
    }
    out
}

#[test]
fn every_benchmark_group_has_recorded_numbers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for chapter in fs::read_dir(root.join("chapters")).unwrap().flatten() {
        let name = chapter.file_name().to_string_lossy().into_owned();
        let Ok(benches) = fs::read_dir(chapter.path().join("benches")) else {
            continue;
        };
        let numbers = root.join("book/numbers").join(format!("{name}.md"));
        let table = fs::read_to_string(&numbers).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo bench -p {name}` and then \
                 `cargo run -p allocator-book --bin numbers -- {name}`",
                numbers.display()
            )
        });
        for bench in benches.flatten() {
            let source = fs::read_to_string(bench.path()).unwrap();
            for group in groups(&source) {
                let short = group.split_once(' ').map_or(group.as_str(), |(_, s)| s);
                assert!(
                    table.contains(&format!("| {short} |")),
                    "{}: no numbers for benchmark group `{group}`; record them again",
                    numbers.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "found only {checked} benchmark groups");
}
