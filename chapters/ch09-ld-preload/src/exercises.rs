//! Exercises for chapter 9. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch09-ld-preload --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

// ANCHOR: ex1
/// Exercise 1: a number in hexadecimal, without allocating.
///
/// An allocator that reports a bad pointer cannot use `format!`: it would
/// allocate. Write `n` as `0x` followed by lowercase hex digits (no leading
/// zeros; `0x0` for zero) at the end of `buf`, and return that part of it.
pub fn hex(buf: &mut [u8; 18], n: usize) -> &[u8] {
    // I AM NOT DONE (exercise 1)
    let _ = n;
    buf[..3].copy_from_slice(b"0x0");
    &buf[..3]
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: leave errno as it was.
///
/// `free` must not change `errno`, yet what it calls might (a failed
/// `munmap`, for one). Run `f` and return its result, with `errno` (read
/// and written through `libc::__errno_location()`) restored to what it was
/// before.
pub fn preserving_errno<R>(f: impl FnOnce() -> R) -> R {
    // I AM NOT DONE (exercise 2)
    f()
}
// ANCHOR_END: ex2

// ANCHOR: ex3
/// What [`enter`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The lock was free, and now `me` holds it.
    Taken,
    /// `me` held it already: the call came from inside the allocator.
    Mine,
    /// Another thread holds it.
    Busy,
}

/// Exercise 3: take a lock and record its owner in one step.
///
/// `owner` holds the thread that holds the lock, or 0 when it is free. If
/// it is 0, make it `me` and answer `Taken`: in one atomic step, so that
/// there is no moment at which the lock is taken but does not say by
/// whom (a signal handler arriving then would wait for its own thread
/// forever), and no moment at which two threads both see it free. If it
/// is `me` already, answer `Mine`; otherwise `Busy`. Never wait.
pub fn enter(owner: &std::sync::atomic::AtomicUsize, me: usize) -> Entry {
    // I AM NOT DONE (exercise 3)
    let _ = (owner, me);
    Entry::Busy
}
// ANCHOR_END: ex3
