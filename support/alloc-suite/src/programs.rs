//! Real programs, run with glibc's malloc and with a preloaded one: their
//! output compared, their peak memory and time measured. The chapters'
//! recorded runs of real programs are made with this.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run of a program: its output, exit status, peak resident memory
/// (KiB) and wall-clock time.
pub struct Run {
    /// What it wrote on standard output.
    pub stdout: Vec<u8>,
    /// Its wait status.
    pub status: i32,
    /// Peak resident memory, in KiB.
    pub max_rss_kib: i64,
    /// Wall-clock time.
    pub time: Duration,
}

/// Runs `cmd`, with `library` preloaded if given, and measures it.
pub fn measure(cmd: &mut Command, library: Option<&Path>) -> std::io::Result<Run> {
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
pub type Program = (&'static str, Box<dyn Fn() -> Command>);

// ANCHOR: programs
/// Everyday programs, each as a name and a function that makes its
/// command: `sort` sorts a file of 200,000 lines written to `work`, and
/// `git log` runs in the repository at `repo`.
pub fn everyday(work: &Path, repo: &Path) -> Vec<Program> {
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

// ANCHOR: perl
/// perl building a hash of 300,000 keys: hundreds of thousands of small
/// blocks, allocated and some freed as the hash grows.
pub fn perl_hash() -> Program {
    (
        "perl (hash of 300k keys)",
        Box::new(|| {
            let mut c = Command::new("perl");
            c.args([
                "-e",
                "my %h; $h{$_} = $_ x 3 for 1..300000; print scalar(keys %h), \" \", length(join q(), values %h), \"\\n\"",
            ]);
            c
        }),
    )
}
// ANCHOR_END: perl

/// [`perl_hash`], then the [`everyday`] programs: what the chapters whose
/// allocator is fast enough for perl's hash are compared on.
pub fn perl_and_everyday(work: &Path, repo: &Path) -> Vec<Program> {
    let mut programs = vec![perl_hash()];
    programs.extend(everyday(work, repo));
    programs
}

/// Rounds each program runs each way, interleaved: the table shows the
/// fastest, so that a cold page cache in the first round is not counted
/// against whichever allocator ran first.
pub const ROUNDS: usize = 3;

/// Runs every program with glibc's malloc and with `library` preloaded,
/// [`ROUNDS`] times each way, interleaved, and returns a table: same
/// output?, and the peak memory and time of the fastest run each way.
pub fn compare(library: &Path, programs: Vec<Program>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:27} {:>6} {:>11} {:>11} {:>9} {:>9}",
        "program", "same?", "peak glibc", "peak ours", "glibc", "ours"
    );
    for (name, make) in programs {
        let mut best: [Option<Run>; 2] = [None, None];
        let mut same = true;
        let mut failed = false;
        for _ in 0..ROUNDS {
            for (i, lib) in [None, Some(library)].into_iter().enumerate() {
                let Ok(run) = measure(&mut make(), lib) else {
                    failed = true;
                    continue;
                };
                if let Some(first) = best[0].as_ref().or(best[1].as_ref()) {
                    same &= first.stdout == run.stdout && first.status == run.status;
                }
                if best[i].as_ref().is_none_or(|b| run.time < b.time) {
                    best[i] = Some(run);
                }
            }
        }
        let (false, Some(theirs), Some(ours)) = (failed, &best[0], &best[1]) else {
            let _ = writeln!(out, "{name:27} could not run");
            continue;
        };
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

/// The table [`compare`] printed, out of a recorded run's output (which
/// has lines before and after it).
pub fn table_in(recorded: &str) -> String {
    recorded
        .lines()
        .skip_while(|l| !l.starts_with("program"))
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Checks a live [`compare`] table against a recorded run's output: the
/// same table (numbers aside, see [`crate::recorded::assert_same_shape`]),
/// and the same output as with glibc's malloc ("yes") in every row.
pub fn assert_matches_recorded(live: &str, recorded: &str, record_with: &str) {
    crate::recorded::assert_same_shape(live, &table_in(recorded), record_with);
    assert!(!live.contains("NO"), "{live}");
}
