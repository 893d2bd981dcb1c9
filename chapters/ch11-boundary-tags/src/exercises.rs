//! Exercises for chapter 11. Your code goes here.
//!
//! Check your work with
//!
//! ```text
//! cargo test -p ch11-boundary-tags --features mine --test exercises
//! ```
//!
//! Each exercise is marked `I AM NOT DONE`. Delete an exercise's marker when
//! you start it: while the marker is there, `cargo test` checks that the
//! starting point below still fails that exercise's tests.

use crate::{Header, links};

// ANCHOR: ex1
/// Exercise 1: take the free chunk `c` off a doubly linked free list whose
/// first chunk is `*head`.
///
/// Each free chunk's links are at [`links`]`(chunk)`: `prev` and `next`,
/// null at the ends. Before changing anything, check that the neighbours
/// agree: the chunk after `c` (if any) must have `prev == c`, and the chunk
/// before it (if any) `next == c`; if `c` has no `prev`, `*head` must be
/// `c`. If a check fails, the list was overwritten: change nothing and
/// return false. Otherwise take `c` off and return true.
///
/// # Safety
/// `c` and the chunks its links point to are chunks whose links can be
/// read and written.
pub unsafe fn unlink(head: &mut *mut Header, c: *mut Header) -> bool {
    // I AM NOT DONE (exercise 1)
    let _ = (head, c, links);
    false
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: the free chunk right before `h`, in constant time.
///
/// If `h`'s header says the chunk before it is used
/// ([`Header::prev_used`]), return `None`. Otherwise the 8 bytes right
/// before `h` are the footer of the free chunk before it, and hold that
/// chunk's payload size: return the address of its header.
///
/// # Safety
/// `h` is a chunk header of a heap, with a chunk before it if its
/// PREV_USED bit is clear.
pub unsafe fn prev_free(h: *const Header) -> Option<*const Header> {
    // I AM NOT DONE (exercise 2)
    let _ = h;
    None
}
// ANCHOR_END: ex2

// ANCHOR: ex3
/// Exercise 3: the pages of a free chunk that can go back to the system.
///
/// A free payload runs from `payload` to `end` (exclusive). Its first
/// [`LINKS`](crate::LINKS) bytes hold its links and its last
/// [`FOOTER`](crate::FOOTER) bytes its footer: both are read again while
/// the chunk is free, and a page given back reads as zero. Return the
/// largest range `[from, to)` of whole pages (`from` and `to` multiples of
/// `page`) inside the payload that holds neither, or `None` if there is no
/// such page.
pub fn releasable(payload: usize, end: usize, page: usize) -> Option<(usize, usize)> {
    // I AM NOT DONE (exercise 3)
    let from = payload.next_multiple_of(page);
    let to = end / page * page;
    (from < to).then_some((from, to))
}
// ANCHOR_END: ex3
