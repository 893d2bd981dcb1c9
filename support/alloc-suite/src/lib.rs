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
pub mod conformance;
pub mod exercises;
pub mod model;
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
