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

/// Runs every program with glibc's malloc and with `library` preloaded,
/// and returns a table: same output?, peak memory and time each way.
pub fn compare(library: &Path, programs: Vec<Program>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:27} {:>6} {:>11} {:>11} {:>9} {:>9}",
        "program", "same?", "peak glibc", "peak ours", "glibc", "ours"
    );
    for (name, make) in programs {
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
