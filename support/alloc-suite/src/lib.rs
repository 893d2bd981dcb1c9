//! Checks and workloads shared by every chapter.
//!
//! - [`conformance`]: one behaviour test per [`Behaviour`], run against an
//!   allocator built over a fresh [`Arena`]. Every behaviour the allocator
//!   declares must pass; every behaviour it leaves out must fail, so the
//!   book's table of what each chapter can do is checked, not claimed.
//! - [`model`]: random sequences of operations checked against a model of
//!   the live blocks (alignment, overlap, contents, heap walk).
//! - [`workload`]: deterministic operation sequences shared by the benchmarks
//!   and the tests, so every chapter is measured on the same work.
//! - [`System`]: the C library's `malloc` behind the same interface, for
//!   comparison.
//!
//! To check your own allocator, implement [`allockit::Malloc`] for it and call
//! [`conformance::assert_conforms`] with a function that builds it over an arena.

#![warn(missing_docs)]

pub mod bench;
pub mod c_layer;
pub mod conformance;
pub mod efficiency;
pub mod exercises;
pub mod model;
pub mod preload;
pub mod programs;
pub mod recorded;
pub mod shared;
pub mod workload;

pub use allockit::{Behaviour, FreeError, HeapMap, Malloc};
pub use memsource::Arena;

/// The C library's allocator (glibc's `malloc` on Linux), for comparison.
#[derive(Debug, Default, Clone, Copy)]
pub struct System;

impl Malloc for System {
    const NAME: &'static str = "system malloc";
    const BEHAVIOURS: &'static [Behaviour] = &[];

    fn malloc(&mut self, size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        unsafe { libc::malloc(size).cast() }
    }

    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        // SAFETY: the caller passes null or a pointer from `malloc` above.
        unsafe { libc::free(ptr.cast()) };
        Ok(())
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Option<*mut u8> {
        // SAFETY: as for `free`.
        Some(unsafe { libc::realloc(ptr.cast(), size).cast() })
    }

    fn calloc(&mut self, count: usize, size: usize) -> Option<*mut u8> {
        // SAFETY: calloc has no preconditions.
        Some(unsafe { libc::calloc(count, size).cast() })
    }

    fn map(&self) -> HeapMap {
        HeapMap::default()
    }
}

/// The snapshot tests every chapter has, written once: the demo's heap
/// after every step (as text and as the book's SVG), the demo binary's
/// output on the real program break (which must match the arena run), and
/// the benchmark workload's memory footprint.
///
/// ```text
/// alloc_suite::chapter_snapshots! {
///     binary: env!("CARGO_BIN_EXE_ch03-free-list"),
///     demo: ch03_free_list::demo::run,
///     title: "The free list, step by step",
///     new: ch03_free_list::Heap::new,
/// }
/// ```
#[macro_export]
macro_rules! chapter_snapshots {
    (binary: $bin:expr, demo: $demo:path, title: $title:literal, new: $new:expr $(,)?) => {
        #[test]
        #[cfg_attr(miri, ignore = "insta cannot run under Miri")]
        fn demo_steps() {
            let script = $demo($crate::Arena::new(4096));
            ::insta::assert_snapshot!("demo", script.render());
            ::insta::assert_snapshot!("demo_svg", script.svg($title));
        }

        #[test]
        #[cfg_attr(miri, ignore = "runs a process")]
        fn demo_binary_on_the_real_break() {
            let out = ::std::process::Command::new($bin)
                .output()
                .expect("run the demo");
            assert!(out.status.success());
            let stdout = String::from_utf8_lossy(&out.stdout);
            // On the real break, the heap must look exactly as on an arena.
            let on_arena = $demo($crate::Arena::new(4096)).render();
            assert!(
                stdout.contains(&on_arena),
                "the demo on the real break differs from the arena run:\n{stdout}"
            );
            ::insta::assert_snapshot!("demo_binary", stdout);
        }

        #[test]
        #[cfg_attr(miri, ignore = "too slow under Miri")]
        fn workload_footprint() {
            let mut heap = ($new)($crate::bench::arena());
            let fp = $crate::workload::footprint(&mut heap, &$crate::bench::ops());
            ::insta::assert_snapshot!("footprint", fp.to_string());
        }
    };
}

/// The scaffolding of every chapter's exercise tests, written once.
///
/// The test file defines a macro `checks!` that, given the path of a module
/// (`$($m:tt)*`), defines one `pub fn exercise_N() -> Result<(), String>`
/// per exercise using that module's functions. This macro then runs those
/// checks against the reference solutions (or, with `--features mine`,
/// against `src/exercises.rs`), and checks that every exercise still marked
/// `I AM NOT DONE` fails them in its shipped starting point.
///
/// ```text
/// alloc_suite::exercise_harness!(ch03_free_list, include_str!("../src/exercises.rs"),
///     [exercise_1, exercise_2]);
/// ```
#[macro_export]
macro_rules! exercise_harness {
    ($krate:ident, $source:expr, [$($name:ident),+ $(,)?]) => {
        /// The starting point as shipped in `src/exercises.rs`.
        mod start {
            checks!($krate::exercises);
        }

        /// What `cargo test` checks: the reference solutions, or yours.
        mod under_test {
            #[cfg(not(feature = "mine"))]
            checks!($krate::solutions);
            #[cfg(feature = "mine")]
            checks!($krate::exercises);
        }

        $(
            #[test]
            fn $name() {
                if let Err(why) = under_test::$name() {
                    panic!("{}: {why}", stringify!($name));
                }
            }
        )+

        #[test]
        fn unsolved_exercises_fail_their_tests() {
            $crate::exercises::starting_point_fails(
                $source,
                &[$((stringify!($name), start::$name as fn() -> Result<(), String>)),+],
            );
        }
    };
}
