//! Prints this program's own address space, with a few addresses placed in
//! it and the program break before and after `sbrk`.
//!
//! `cargo run -p ch01-memory-layout` prints it. With `-- --record` the same
//! text is also written to `recorded-run.txt` next to `Cargo.toml`: the run
//! the book shows.

use ch01_memory_layout::{AnonPage, Layout, Named, move_break, page_size, render_text};
use std::process::ExitCode;
use std::ptr;
use std::sync::atomic::AtomicUsize;

/// How far the demo moves the break: one page.
const INCREMENT: isize = 4096;

const RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/recorded-run.txt");

// ANCHOR: statics
/// Starts at a value other than zero, so it is stored in `.data`.
static STARTS_AT_ONE: AtomicUsize = AtomicUsize::new(1);
/// Starts at zero, so it only takes room in `.bss`.
static STARTS_AT_ZERO: AtomicUsize = AtomicUsize::new(0);
// ANCHOR_END: statics

fn main() -> ExitCode {
    let record = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--record") => true,
        Some(other) => {
            eprintln!("unknown argument {other:?}; the only option is --record");
            return ExitCode::from(2);
        }
    };

    // ANCHOR: named
    let local = 42u64;
    let boxed = Box::new(7u64);
    // Far above glibc's mmap threshold (128 KiB unless tuned), so it is
    // given its own mapping instead of a piece of the heap.
    let big = vec![0u8; 1 << 20];
    let page = match AnonPage::map(page_size()) {
        Ok(page) => page,
        Err(error) => {
            eprintln!("mmap failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let named = vec![
        Named::new("fn main", main as fn() -> ExitCode as usize),
        Named::new("a string literal", "hello".as_ptr().addr()),
        Named::new("static STARTS_AT_ONE", ptr::from_ref(&STARTS_AT_ONE).addr()),
        Named::new(
            "static STARTS_AT_ZERO",
            ptr::from_ref(&STARTS_AT_ZERO).addr(),
        ),
        Named::new("Box::new(7u64)", ptr::from_ref(&*boxed).addr()),
        Named::new("vec![0u8; 1 MiB]", big.as_ptr().addr()),
        Named::new("AnonPage::map", page.addr()),
        Named::new("libc's malloc", libc::malloc as *const () as usize),
        Named::new("a local variable", ptr::from_ref(&local).addr()),
    ];
    // ANCHOR_END: named

    // ANCHOR: call_move_break
    // SAFETY: this program never starts a second thread, so nothing else
    // (glibc's malloc included) can move the break while move_break runs.
    let brk = unsafe { move_break(INCREMENT) };
    let brk = brk.map_err(|error| {
        eprintln!("could not move the program break: {error}");
        error.to_string()
    });
    // ANCHOR_END: call_move_break

    let layout = match Layout::of_this_process(named, brk) {
        Ok((layout, skipped)) => {
            for line in skipped {
                eprintln!("skipped a line of /proc/self/maps: {line}");
            }
            layout
        }
        Err(error) => {
            eprintln!("cannot read /proc/self/maps: {error}");
            eprintln!("(this program needs Linux, or another system with a Linux-style /proc)");
            return ExitCode::FAILURE;
        }
    };
    let text = render_text(&layout);
    print!("{text}");
    if record {
        if let Err(error) = std::fs::write(RECORDING, &text) {
            eprintln!("cannot write {RECORDING}: {error}");
            return ExitCode::FAILURE;
        }
        eprintln!("recorded this run in {RECORDING}");
    }
    // Everything named above stays alive until the maps have been read.
    drop((boxed, big, page));
    ExitCode::SUCCESS
}
