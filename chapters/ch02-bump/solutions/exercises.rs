//! Reference solutions to chapter 2's exercises. Try them yourself first, in
//! `src/exercises.rs`.

use crate::Bump;
use memsource::{MemorySource, align_up};
use std::ptr::{self, NonNull};

// ANCHOR: ex1
/// Exercise 1: free the most recent block.
///
/// # Safety
/// If `ptr` is the last block, the caller does not use it afterwards.
pub unsafe fn free_last<S: MemorySource>(bump: &mut Bump<S>, ptr: *mut u8) -> bool {
    let Some((last, size)) = bump.last_block() else {
        return false;
    };
    if last.as_ptr() != ptr {
        return false;
    }
    // The block ends where the break is, unless someone else has moved the
    // break since; `shrink` checks that and refuses if so.
    let end = last.as_ptr().wrapping_add(size);
    let Some(end) = NonNull::new(end) else {
        return false;
    };
    // SAFETY: `ptr` is the last block, which the caller gives up.
    if !unsafe { bump.source_mut().shrink(end, size) } {
        return false;
    }
    bump.forget_last();
    true
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// Exercise 2: fewer trips to the kernel.
pub struct Reserve<S> {
    source: S,
    /// The unused rest of the last step: `[next, next + left)`.
    next: *mut u8,
    left: usize,
}

/// How much `Reserve` asks for at a time.
pub const STEP: usize = 4096;

impl<S: MemorySource> Reserve<S> {
    /// A reserving bump allocator over `source`.
    pub fn new(source: S) -> Self {
        Reserve {
            source,
            next: ptr::null_mut(),
            left: 0,
        }
    }

    /// A block of at least `size` bytes aligned to 16, or null.
    pub fn malloc(&mut self, size: usize) -> *mut u8 {
        let Some(rounded) = align_up(size.max(1)) else {
            return ptr::null_mut();
        };
        if rounded > self.left {
            // Ask for a whole step, or more if the request is larger.
            let want = rounded.max(STEP);
            let Some(grown) = self.source.grow(want) else {
                return ptr::null_mut();
            };
            if grown.contiguous && !self.next.is_null() {
                self.left += want; // the old rest and the new step are one piece
            } else {
                self.next = grown.start.as_ptr();
                self.left = want;
            }
        }
        let p = self.next;
        self.next = p.wrapping_add(rounded);
        self.left -= rounded;
        p
    }
}
// ANCHOR_END: ex2
