//! From chapter 4 on, each page shows what changed in the allocator since
//! the previous chapter: a diff of the two crates' `src/lib.rs`, generated
//! here and pinned as a snapshot, so the page cannot drift from the code.

use std::fs;
use std::path::Path;

/// Chapter crate directories, in order.
fn chapters() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("chapters");
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ch"))
        .collect();
    names.sort();
    names
}

/// A chapter's source without the book's `ANCHOR` marker lines.
fn source(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("ANCHOR"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn each_chapter_shows_its_change_since_the_previous_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("chapters");
    let names = chapters();
    let mut shown = 0;
    for pair in names.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        if new.as_str() < "ch04" {
            continue; // chapters 1 to 3 build from nothing
        }
        let a = source(&root.join(old).join("src/lib.rs"));
        let b = source(&root.join(new).join("src/lib.rs"));
        let diff = similar::TextDiff::from_lines(&a, &b)
            .unified_diff()
            .context_radius(3)
            .header(&format!("{old}/src/lib.rs"), &format!("{new}/src/lib.rs"))
            .to_string();
        assert!(!diff.is_empty(), "{new} is the same allocator as {old}");
        insta::assert_snapshot!(new.clone(), diff);
        shown += 1;
    }
    assert!(shown >= 1);
}
