//! What `cargo run -p ch09-ld-preload` shows: real programs, run with
//! glibc's malloc and with ours, their output compared and their peak
//! memory and time measured.

use alloc_suite::programs::Program;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

// ANCHOR: programs
/// The programs, each as a name and a function that makes its command.
fn programs(work: &Path, repo: &Path) -> Vec<Program> {
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "python3".into());
    let to_sort = work.join("to-sort.txt");
    let (repo, docs) = (repo.to_path_buf(), "/usr/share/doc");
    vec![
        (
            "ls -lR /usr/share/doc",
            Box::new(move || {
                let mut c = Command::new("ls");
                c.args(["-lR", docs]).env("LC_ALL", "C");
                c
            }),
        ),
        (
            "sort (200,000 lines)",
            Box::new(move || {
                let mut c = Command::new("sort");
                c.arg(&to_sort).env("LC_ALL", "C");
                c
            }),
        ),
        (
            "python3 (dicts and lists)",
            Box::new(move || {
                let mut c = Command::new(&python);
                c.args(["-c", "d = {str(i): [i, str(i * i)] for i in range(200000)}\nprint(len(d), sum(len(v[1]) for v in d.values()))"]);
                c
            }),
        ),
        (
            "git log --stat",
            Box::new(move || {
                let mut c = Command::new("git");
                c.args(["log", "--stat"]).current_dir(&repo);
                c
            }),
        ),
    ]
}
// ANCHOR_END: programs

/// Runs every program both ways and returns the report.
pub fn report(library: &Path, work: &Path, repo: &Path) -> String {
    let mut lines = String::new();
    let mut state = 7u64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let _ = writeln!(lines, "{state:x} line {}", state % 1000);
    }
    let _ = std::fs::create_dir_all(work);
    let _ = std::fs::write(work.join("to-sort.txt"), lines);
    alloc_suite::programs::compare(library, programs(work, repo))
}
