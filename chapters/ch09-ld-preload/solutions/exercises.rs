//! Reference solutions to chapter 9's exercises. Try them yourself first,
//! in `src/exercises.rs`.

// ANCHOR: ex1
/// Exercise 1: a number in hexadecimal, without allocating.
pub fn hex(buf: &mut [u8; 18], mut n: usize) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    buf[i - 2..i].copy_from_slice(b"0x");
    &buf[i - 2..]
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: leave errno as it was.
pub fn preserving_errno<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    let saved = unsafe { *libc::__errno_location() };
    let r = f();
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
    r
}
// ANCHOR_END: ex2

pub use crate::exercises::Entry;

// ANCHOR: ex3
/// Exercise 3: take a lock and record its owner in one step.
pub fn enter(owner: &std::sync::atomic::AtomicUsize, me: usize) -> Entry {
    use std::sync::atomic::Ordering::{Acquire, Relaxed};
    // One compare-and-swap both takes the lock and says who has it.
    match owner.compare_exchange(0, me, Acquire, Relaxed) {
        Ok(_) => Entry::Taken,
        Err(now) if now == me => Entry::Mine,
        Err(_) => Entry::Busy,
    }
}
// ANCHOR_END: ex3
