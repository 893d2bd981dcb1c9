//! What `cargo run -p ch09-ld-preload` shows: real programs, run with
//! glibc's malloc and with ours, their output compared and their peak
//! memory and time measured.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run of a program: its output, exit status, peak resident memory
/// (KiB) and wall-clock time.
struct Run {
    stdout: Vec<u8>,
    status: i32,
    max_rss_kib: i64,
    time: Duration,
}

/// Runs `cmd`, with `library` preloaded if given, and measures it.
fn measure(cmd: &mut Command, library: Option<&Path>) -> std::io::Result<Run> {
    match library {
        Some(lib) => cmd.env("LD_PRELOAD", lib),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let stdout = reader.join().unwrap_or_default();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into our two locals; std's
    // `Child` does not wait for it again.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    Ok(Run {
        stdout,
        status,
        max_rss_kib: usage.ru_maxrss,
        time: start.elapsed(),
    })
}

/// A program to compare: its name, and a function that makes its command.
type Program = (&'static str, Box<dyn Fn() -> Command>);

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
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:27} {:>6} {:>11} {:>11} {:>9} {:>9}",
        "program", "same?", "peak glibc", "peak ours", "glibc", "ours"
    );
    for (name, make) in programs(work, repo) {
        let (Ok(theirs), Ok(ours)) = (
            measure(&mut make(), None),
            measure(&mut make(), Some(library)),
        ) else {
            let _ = writeln!(out, "{name:27} could not run");
            continue;
        };
        let same = theirs.stdout == ours.stdout && theirs.status == ours.status;
        let _ = writeln!(
            out,
            "{:27} {:>6} {:>7} KiB {:>7} KiB {:>6} ms {:>6} ms",
            name,
            if same { "yes" } else { "NO" },
            theirs.max_rss_kib,
            ours.max_rss_kib,
            theirs.time.as_millis(),
            ours.time.as_millis()
        );
    }
    out
}
