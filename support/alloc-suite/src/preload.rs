//! The tests every `chNN-preload` library is held to: real programs with
//! the same output as on glibc's malloc, and C programs that try the C
//! interface's corners (bad input, threads, bad frees, a write past a
//! block, `fork`, signal handlers, the shared break, introspection).
//!
//! A preload crate runs them all with one line in its `tests/`:
//!
//! ```text
//! alloc_suite::preload_tests!("libch09_preload.so", "ch09");
//! ```
//!
//! The C programs are in `support/alloc-suite/c`. `LD_PRELOAD` is set on
//! each child process only, never on this test process.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// A scratch directory for one library's tests.
fn scratch(lib: &Path) -> PathBuf {
    let name = lib.file_stem().unwrap_or_default().to_string_lossy();
    let dir = repo().join("target/tmp/preload").join(&*name);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The shared library `name`, built next to the running test.
pub fn library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe.parent().expect("target directory");
    let so = dir.join(name);
    assert!(so.exists(), "{} not built", so.display());
    so
}

/// Runs `cmd`, with `lib` preloaded if given, feeding `stdin`; a program
/// still running after `limit` is killed (and reported as signal 9).
pub fn run_limited(cmd: &mut Command, stdin: &[u8], lib: Option<&Path>, limit: Duration) -> Output {
    match lib {
        Some(lib) => cmd.env("LD_PRELOAD", lib),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let id = child.id();
    let start = Instant::now();
    let watchdog = std::thread::spawn(move || {
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: kill with signal 0 only checks that the process exists.
            if unsafe { libc::kill(id as i32, 0) } != 0 {
                return;
            }
        }
        // SAFETY: our own child, which has overrun its time.
        unsafe { libc::kill(id as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().expect("wait for the program");
    let _ = feeder.join();
    let _ = watchdog.join();
    out
}

/// [`run_limited`] with two minutes.
pub fn run(cmd: &mut Command, stdin: &[u8], lib: Option<&Path>) -> Output {
    run_limited(cmd, stdin, lib, Duration::from_secs(120))
}

/// Runs the command built by `make` with glibc's malloc and with `lib`;
/// the outputs and statuses must be the same. Returns our run's output.
pub fn same_both_ways(lib: &Path, make: impl Fn() -> Command, stdin: &[u8]) -> Output {
    let theirs = run(&mut make(), stdin, None);
    let ours = run(&mut make(), stdin, Some(lib));
    assert!(
        theirs.status.success(),
        "{:?} failed without the library: {}",
        make(),
        String::from_utf8_lossy(&theirs.stdout)
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "{:?}: {}{}",
        make(),
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&ours.stderr)
    );
    assert!(
        ours.stdout == theirs.stdout,
        "{:?}: different output",
        make()
    );
    ours
}

/// Compiles the C program `c/<name>.c` with gcc (exporting its own
/// symbols, so that the programs that define `sbrk` or `madvise` replace
/// them for a preloaded library too), linked with `extra` arguments.
pub fn compile_with(lib: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("c")
        .join(format!("{name}.c"));
    let dir = scratch(lib);
    let exe = dir.join(name);
    let ok = Command::new("gcc")
        .args(["-O1", "-pthread", "-rdynamic", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(extra)
        .args(["-Wno-alloc-size-larger-than", "-Wno-free-nonheap-object"])
        .arg("-Wno-deprecated-declarations")
        .status()
        .expect("gcc")
        .success();
    assert!(ok, "gcc {}", src.display());
    exe
}

/// [`compile_with`] nothing else.
pub fn compile(lib: &Path, name: &str) -> PathBuf {
    compile_with(lib, name, &[])
}

/// `ls -lR` over a large directory.
pub fn ls_over_a_large_directory(lib: &Path) {
    let dir = ["/usr/share/doc", "/usr/lib"]
        .into_iter()
        .find(|d| Path::new(d).is_dir())
        .expect("a large directory");
    let out = same_both_ways(
        lib,
        || {
            let mut c = Command::new("ls");
            c.args(["-lR", dir]).env("LC_ALL", "C");
            c
        },
        b"",
    );
    assert!(out.stdout.len() > 100_000, "a large listing");
}

/// `python3` building and sorting a dictionary of 200,000 entries.
pub fn python_with_dicts_and_lists(lib: &Path) {
    // The real interpreter, not a wrapper script that would start others.
    let exe = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    let python = String::from_utf8_lossy(&exe.stdout).trim().to_string();
    let script = "d = {}\n\
        for i in range(200000):\n    d[str(i)] = [i, str(i * i)]\n\
        l = sorted(d.items(), key=lambda kv: (len(kv[1][1]), kv[0]))\n\
        s = {k: len(v[1]) for k, v in d.items() if i % 7}\n\
        print(len(d), sum(len(v[1]) for v in d.values()), l[-1][0], len(s))\n";
    let out = same_both_ways(
        lib,
        || {
            let mut c = Command::new(&python);
            c.args(["-c", script]);
            c
        },
        b"",
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("200000 "));
}

/// `git log --stat` on this repository; `git gc` and `git fsck` on two
/// fresh clones of it.
pub fn git_log_and_gc(lib: &Path) {
    let repo = repo();
    same_both_ways(
        lib,
        || {
            let mut c = Command::new("git");
            c.args(["log", "--stat"]).current_dir(&repo);
            c
        },
        b"",
    );
    for (name, ours) in [("gc-theirs", None), ("gc-ours", Some(lib))] {
        let clone = scratch(lib).join(name);
        let _ = std::fs::remove_dir_all(&clone);
        let ok = Command::new("git")
            .args(["clone", "-q"])
            .arg(&repo)
            .arg(&clone)
            .status()
            .expect("git clone");
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

/// `sort` of a 200,000-line file.
pub fn sort_a_large_file(lib: &Path) {
    let mut state = 7u64;
    let mut input = String::new();
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        input.push_str(&format!("{:x} line {}\n", state, state % 1000));
    }
    let file = scratch(lib).join("to-sort.txt");
    std::fs::write(&file, input).expect("write the file");
    let out = same_both_ways(
        lib,
        || {
            let mut c = Command::new("sort");
            c.arg(&file).env("LC_ALL", "C");
            c
        },
        b"",
    );
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 200_000);
}

/// Four threads allocating, checking and freeing.
pub fn a_multi_threaded_program(lib: &Path) {
    let exe = compile(lib, "threads");
    let out = same_both_ways(lib, || Command::new(&exe), b"");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("threads done"));
}

/// Every function's answer to bad input, as glibc documents it.
pub fn the_c_interface_answers_bad_input_as_glibc_does(lib: &Path) {
    let exe = compile(lib, "abi");
    let out = same_both_ways(lib, || Command::new(&exe), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "all ok\n");
}

/// A double free, a foreign pointer and a write over the next block's
/// header: each reported with its own message, and the program aborted.
pub fn bad_frees_are_reported_and_abort(lib: &Path, name: &str) {
    let exe = compile(lib, "bad_free");
    for (what, message) in [
        ("double", "(): double free of 0x"),
        ("foreign", "(): invalid pointer 0x"),
        ("overflow", "(): corrupted chunk at 0x"),
    ] {
        let out = run(Command::new(&exe).arg(what), b"", Some(lib));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{what}: expected an abort, got {:?}: {stderr}",
            out.status
        );
        assert!(
            stderr.starts_with(&format!("{name}: ")) && stderr.contains(message),
            "{what}: expected \"{name}: ...{message}...\", got: {stderr}"
        );
    }
}

/// 200 forks while four threads allocate: every child allocates and exits.
pub fn fork_while_threads_allocate(lib: &Path) {
    // The library of fork handlers, linked into the program.
    let hooks = compile_with(lib, "forkhooks", &["-shared", "-fPIC"]);
    let dir = hooks
        .parent()
        .expect("scratch directory")
        .to_string_lossy()
        .into_owned();
    let renamed = hooks.with_file_name("libforkhooks.so");
    std::fs::rename(&hooks, &renamed).expect("name the library");
    let exe = compile_with(
        lib,
        "fork",
        &[
            &format!("-L{dir}"),
            "-lforkhooks",
            &format!("-Wl,-rpath,{dir}"),
        ],
    );
    let out = run(&mut Command::new(&exe), b"", Some(lib));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "expected all 200 children done, none hung, no fork handler failed; got {:?}: {stdout}",
        out.status
    );
}

/// A signal handler that allocates while the interrupted thread is inside
/// `malloc` and inside `free`, then at random points.
pub fn malloc_in_signal_handlers(lib: &Path) {
    let exe = compile(lib, "signals");
    let out = run_limited(
        &mut Command::new(&exe),
        b"",
        Some(lib),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "expected the handler to get aligned, working blocks inside malloc and free, \
         never to hang; got {:?}: {stdout}",
        out.status
    );
}

/// calloc after someone else dirtied the memory above the break, and an
/// aligned gigabyte that must not move the break; the same as glibc.
pub fn sharing_the_break(lib: &Path) {
    let exe = compile(lib, "shared_break");
    for what in ["calloc", "aligned"] {
        same_both_ways(
            lib,
            || {
                let mut c = Command::new(&exe);
                c.arg(what);
                c
            },
            b"",
        );
    }
}

/// How many times 10,000 mallocs and 10,000 frees move the break.
pub fn break_moves(lib: &Path) -> u64 {
    let exe = compile(lib, "shared_break");
    let out = run(Command::new(&exe).arg("syscalls"), b"", Some(lib));
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().expect("a count")
}

/// 10,000 mallocs and frees move the break a few times, not 20,000.
pub fn few_break_moves(lib: &Path) {
    let n = break_moves(lib);
    assert!(
        n <= 64,
        "10,000 mallocs and frees moved the break {n} times, expected at most 64"
    );
}

/// `mallinfo2` and friends report this heap, not glibc's empty one.
pub fn introspection_reports_this_heap(lib: &Path) {
    let exe = compile(lib, "introspection");
    let out = same_both_ways(lib, || Command::new(&exe), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "introspection ok\n");
}

/// One `#[test]` per check above, for the library `$lib` (its file name in
/// the target directory) whose messages start with `$name`.
#[macro_export]
macro_rules! preload_tests {
    ($lib:literal, $name:literal) => {
        fn lib() -> std::path::PathBuf {
            $crate::preload::library($lib)
        }
        #[test]
        fn ls_over_a_large_directory() {
            $crate::preload::ls_over_a_large_directory(&lib());
        }
        #[test]
        fn python_with_dicts_and_lists() {
            $crate::preload::python_with_dicts_and_lists(&lib());
        }
        #[test]
        fn git_log_and_gc() {
            $crate::preload::git_log_and_gc(&lib());
        }
        #[test]
        fn sort_a_large_file() {
            $crate::preload::sort_a_large_file(&lib());
        }
        #[test]
        fn a_multi_threaded_program() {
            $crate::preload::a_multi_threaded_program(&lib());
        }
        #[test]
        fn the_c_interface_answers_bad_input_as_glibc_does() {
            $crate::preload::the_c_interface_answers_bad_input_as_glibc_does(&lib());
        }
        #[test]
        fn bad_frees_are_reported_and_abort() {
            $crate::preload::bad_frees_are_reported_and_abort(&lib(), $name);
        }
        #[test]
        fn fork_while_threads_allocate() {
            $crate::preload::fork_while_threads_allocate(&lib());
        }
        #[test]
        fn malloc_in_signal_handlers() {
            $crate::preload::malloc_in_signal_handlers(&lib());
        }
        #[test]
        fn sharing_the_break() {
            $crate::preload::sharing_the_break(&lib());
        }
        #[test]
        fn few_break_moves() {
            $crate::preload::few_break_moves(&lib());
        }
        #[test]
        fn introspection_reports_this_heap() {
            $crate::preload::introspection_reports_this_heap(&lib());
        }
    };
}
