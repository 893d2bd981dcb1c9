//! Real programs on the book's malloc: each runs twice, with glibc's malloc
//! and with ours (`LD_PRELOAD`, set on the child process only), and must
//! finish with the same output and exit status.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The shared library, built next to this test.
fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().join("libch09_preload.so");
    assert!(so.exists(), "{} not built", so.display());
    so
}

/// The repository this test runs in.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

/// Runs `cmd` with or without the library, feeding `stdin`.
fn run(cmd: &mut Command, stdin: &[u8], ours: bool) -> Output {
    if ours {
        cmd.env("LD_PRELOAD", library());
    } else {
        cmd.env_remove("LD_PRELOAD");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// Runs the command built by `make` both ways; the outputs and statuses
/// must be the same. Returns our run's output.
fn same_both_ways(make: impl Fn() -> Command, stdin: &[u8]) -> Output {
    let theirs = run(&mut make(), stdin, false);
    let ours = run(&mut make(), stdin, true);
    assert!(
        theirs.status.success(),
        "{:?} failed without the library",
        make()
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "{:?}: {}",
        make(),
        String::from_utf8_lossy(&ours.stderr)
    );
    assert!(
        ours.stdout == theirs.stdout,
        "{:?}: different output",
        make()
    );
    ours
}

/// Compiles a C program from `tests/c` with gcc.
fn compile(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let ok = Command::new("gcc")
        .args(["-O1", "-pthread", "-Wno-alloc-size-larger-than", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("gcc")
        .success();
    assert!(ok, "gcc {}", src.display());
    exe
}

#[test]
fn ls_over_a_large_directory() {
    let dir = ["/usr/share/doc", "/usr/lib"]
        .into_iter()
        .find(|d| Path::new(d).is_dir())
        .unwrap();
    let out = same_both_ways(
        || {
            let mut c = Command::new("ls");
            c.args(["-lR", dir]).env("LC_ALL", "C");
            c
        },
        b"",
    );
    assert!(out.stdout.len() > 100_000, "a large listing");
}

#[test]
fn python_with_dicts_and_lists() {
    // The real interpreter, not a wrapper script that would start others.
    let exe = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(exe.stdout).unwrap().trim().to_string();
    let script = "d = {}\n\
        for i in range(200000):\n    d[str(i)] = [i, str(i * i)]\n\
        l = sorted(d.items(), key=lambda kv: (len(kv[1][1]), kv[0]))\n\
        s = {k: len(v[1]) for k, v in d.items() if i % 7}\n\
        print(len(d), sum(len(v[1]) for v in d.values()), l[-1][0], len(s))\n";
    let out = same_both_ways(
        || {
            let mut c = Command::new(&python);
            c.args(["-c", script]);
            c
        },
        b"",
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("200000 "));
}

#[test]
fn git_log_and_gc() {
    let repo = repo();
    same_both_ways(
        || {
            let mut c = Command::new("git");
            c.args(["log", "--stat"]).current_dir(&repo);
            c
        },
        b"",
    );
    // `git gc` rewrites a repository: run it on two fresh clones.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, ours) in [("gc-theirs", false), ("gc-ours", true)] {
        let clone = tmp.join(name);
        let _ = std::fs::remove_dir_all(&clone);
        let ok = Command::new("git")
            .args(["clone", "-q"])
            .arg(&repo)
            .arg(&clone)
            .status()
            .unwrap();
        assert!(ok.success());
        let out = run(
            Command::new("git").args(["gc", "-q"]).current_dir(&clone),
            b"",
            ours,
        );
        assert!(
            out.status.success(),
            "git gc ({name}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fsck = run(
            Command::new("git")
                .args(["fsck", "--no-progress"])
                .current_dir(&clone),
            b"",
            ours,
        );
        assert!(fsck.status.success(), "git fsck ({name})");
    }
}

#[test]
fn sort_a_large_file() {
    let mut state = 7u64;
    let mut input = String::new();
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        input.push_str(&format!("{:x} line {}\n", state, state % 1000));
    }
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("to-sort.txt");
    std::fs::write(&file, input).unwrap();
    let out = same_both_ways(
        || {
            let mut c = Command::new("sort");
            c.arg(&file).env("LC_ALL", "C");
            c
        },
        b"",
    );
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 200_000);
}

#[test]
fn a_multi_threaded_program() {
    let exe = compile("threads");
    let out = same_both_ways(|| Command::new(&exe), b"");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("threads done"));
}

#[test]
fn the_c_interface_answers_bad_input_as_glibc_does() {
    let exe = compile("abi");
    let out = same_both_ways(|| Command::new(&exe), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "all ok\n");
}

#[test]
fn bad_frees_are_reported_and_abort() {
    let exe = compile("bad_free");
    for (what, message) in [
        ("double", "ch09: free(): double free of 0x"),
        ("foreign", "ch09: free(): invalid pointer 0x"),
    ] {
        let out = run(Command::new(&exe).arg(what), b"", true);
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{what}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{what}: {stderr}");
    }
}

#[test]
fn statistics_at_exit() {
    // `ls` closes stderr in its own exit handler, before ours runs.
    let out = run(
        Command::new("ls").arg("/").env("CH09_MALLOC_STATS", "1"),
        b"",
        true,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        stderr.contains("ch09 malloc: calls to malloc and friends"),
        "{stderr}"
    );
}

/// The book shows one recorded run of `cargo run -p ch09-ld-preload`; a live
/// run must print the same table (numbers aside), with "yes" in every row.
#[test]
fn the_recorded_comparison_in_the_book_matches_a_live_run() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ch09-report");
    let live = ch09_ld_preload::demo::report(&library(), &work, &repo());
    let recorded = include_str!("../../recorded-run.txt");
    let table: String = recorded
        .lines()
        .skip_while(|l| !l.starts_with("program"))
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    alloc_suite::recorded::assert_same_shape(
        &live,
        &table,
        "cargo run -p ch09-ld-preload > chapters/ch09-ld-preload/recorded-run.txt",
    );
    assert!(!live.contains("NO"), "{live}");
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
