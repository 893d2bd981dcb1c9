//! Reference solutions to chapter 11's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use crate::{FOOTER, HEADER, Header, LINKS, links};

// ANCHOR: ex1
/// Exercise 1: take the free chunk `c` off a doubly linked free list.
///
/// # Safety
/// As in `src/exercises.rs`.
pub unsafe fn unlink(head: &mut *mut Header, c: *mut Header) -> bool {
    // SAFETY: the caller's promise: `c` and its neighbours have links.
    unsafe {
        let l = links(c).read();
        // Both neighbours must point back at `c` before anything changes.
        if !l.next.is_null() && (*links(l.next)).prev != c {
            return false;
        }
        if l.prev.is_null() {
            if *head != c {
                return false;
            }
        } else if (*links(l.prev)).next != c {
            return false;
        }
        match l.prev.is_null() {
            true => *head = l.next,
            false => (*links(l.prev)).next = l.next,
        }
        if !l.next.is_null() {
            (*links(l.next)).prev = l.prev;
        }
    }
    true
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: the free chunk right before `h`, through its footer.
///
/// # Safety
/// As in `src/exercises.rs`.
pub unsafe fn prev_free(h: *const Header) -> Option<*const Header> {
    // SAFETY: the caller's promise: `h` is a header.
    if unsafe { (*h).prev_used() } {
        return None;
    }
    // SAFETY: the chunk before `h` is free, so its footer is the 8 bytes
    // right before `h`.
    let size = unsafe { h.cast::<usize>().sub(1).read() };
    Some(h.cast::<u8>().wrapping_sub(size + HEADER).cast())
}
// ANCHOR_END: ex2

// ANCHOR: ex3
/// Exercise 3: the pages of a free chunk that can go back to the system.
pub fn releasable(payload: usize, end: usize, page: usize) -> Option<(usize, usize)> {
    let from = (payload + LINKS).next_multiple_of(page);
    let to = (end - FOOTER) / page * page;
    (from < to).then_some((from, to))
}
// ANCHOR_END: ex3
