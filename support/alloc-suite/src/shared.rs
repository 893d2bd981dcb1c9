//! An arena that a test can share with the allocator under test, to play
//! "someone else" moving the break while the allocator runs.

use memsource::{Arena, Grown, MemorySource};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::rc::Rc;

/// An [`Arena`] behind a shared handle: the allocator holds one clone, the
/// test another.
#[derive(Debug, Clone)]
pub struct SharedArena(Rc<RefCell<Arena>>);

impl SharedArena {
    /// A shared arena of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        SharedArena(Rc::new(RefCell::new(Arena::new(capacity))))
    }

    /// Moves the break up by `n` bytes as someone else would (see
    /// [`Arena::foreign_grow`]); returns the offset range taken, or `None`
    /// if the arena is too full.
    pub fn foreign_grow(&self, n: usize) -> Option<(usize, usize)> {
        let mut a = self.0.borrow_mut();
        let start = a.used();
        a.foreign_grow(n).then(|| (start, a.used()))
    }

    /// Bytes below the break.
    pub fn used(&self) -> usize {
        self.0.borrow().used()
    }

    /// Runs `f` on the bytes at offsets `range` of the arena.
    pub fn with_bytes<R>(&self, range: (usize, usize), f: impl FnOnce(&mut [u8]) -> R) -> R {
        let a = self.0.borrow();
        assert!(range.0 <= range.1 && range.1 <= a.used());
        // SAFETY: the range is below the break, inside the arena's block;
        // the callers use it only for memory nobody else was handed.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(a.start().add(range.0), range.1 - range.0) };
        f(bytes)
    }
}

// SAFETY: every method passes the call on to the one arena all clones
// share, which tells the truth (see `Arena`).
unsafe impl MemorySource for SharedArena {
    fn grow(&mut self, increment: usize) -> Option<Grown> {
        self.0.borrow_mut().grow(increment)
    }

    unsafe fn shrink(&mut self, end: NonNull<u8>, decrement: usize) -> bool {
        // SAFETY: the caller makes the same promise to us.
        unsafe { self.0.borrow_mut().shrink(end, decrement) }
    }

    fn base(&self) -> Option<NonNull<u8>> {
        self.0.borrow().base()
    }

    fn end(&self) -> Option<NonNull<u8>> {
        self.0.borrow().end()
    }
}
