//! Chapter 2: a bump allocator.
//!
//! Every request moves the program break up by the size asked for, rounded
//! up to 16 bytes so that the next block is aligned too. Nothing is ever
//! given back: `free` does nothing. It is the simplest allocator there is,
//! and the rest of the book is about what it gets wrong.

use allockit::{Behaviour, FreeError, HeapMap, Malloc};
use memsource::{MemorySource, align_up};
use std::ptr::{self, NonNull};

pub mod exercises;
#[doc(hidden)]
#[path = "../solutions/exercises.rs"]
pub mod solutions;

// ANCHOR: bump
/// A bump allocator over any [`MemorySource`].
#[derive(Debug)]
pub struct Bump<S> {
    source: S,
    /// The most recent block and its rounded size (for exercise 1).
    last: Option<(NonNull<u8>, usize)>,
}
// ANCHOR_END: bump

impl<S: MemorySource> Bump<S> {
    /// A bump allocator that takes its memory from `source`.
    pub const fn new(source: S) -> Self {
        Bump { source, last: None }
    }

    // ANCHOR: malloc
    /// A block of at least `size` bytes, aligned to 16; null when the source
    /// has no more memory or `size` is too large.
    pub fn malloc(&mut self, size: usize) -> *mut u8 {
        // Round up to a multiple of 16 so the *next* block starts aligned.
        // malloc(0) gets 16 bytes like any small request, so it returns a
        // unique pointer. Near usize::MAX the rounding overflows: null.
        let Some(rounded) = align_up(size.max(1)) else {
            return ptr::null_mut();
        };
        match self.source.grow(rounded) {
            Some(grown) => {
                self.last = Some((grown.start, rounded));
                grown.start.as_ptr()
            }
            None => ptr::null_mut(),
        }
    }
    // ANCHOR_END: malloc

    // ANCHOR: free
    /// Does nothing: a bump allocator cannot take memory back. Any pointer,
    /// null, foreign or already "freed", is accepted and ignored.
    pub fn free(&mut self, _ptr: *mut u8) {}
    // ANCHOR_END: free

    /// The memory source, for exercises that move the break themselves.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// The most recently allocated block and its size rounded up to 16.
    pub fn last_block(&self) -> Option<(NonNull<u8>, usize)> {
        self.last
    }

    /// Forgets the last block (after an exercise gave its memory back).
    pub fn forget_last(&mut self) {
        self.last = None;
    }

    // ANCHOR: map
    /// The heap as this allocator knows it: one used span from where it
    /// started to where the break is. It cannot tell its blocks apart.
    pub fn map(&self) -> HeapMap {
        let (Some(base), Some(end)) = (self.source.base(), self.source.end()) else {
            return HeapMap::default();
        };
        let mut map = HeapMap::new(base.as_ptr(), end.as_ptr());
        let len = end.as_ptr() as usize - base.as_ptr() as usize;
        if len > 0 {
            map.push(base.as_ptr(), 0, len, true);
        }
        map
    }
    // ANCHOR_END: map
}

// ANCHOR: conformance
impl<S: MemorySource> Malloc for Bump<S> {
    const NAME: &'static str = "ch02 bump";
    const BEHAVIOURS: &'static [Behaviour] = &[
        Behaviour::Correct,
        Behaviour::ZeroSize,
        Behaviour::HugeSize,
        Behaviour::OutOfMemory,
        Behaviour::RandomOps,
    ];
    // ANCHOR_END: conformance

    fn malloc(&mut self, size: usize) -> *mut u8 {
        Bump::malloc(self, size)
    }

    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        Bump::free(self, ptr);
        Ok(())
    }

    fn map(&self) -> HeapMap {
        Bump::map(self)
    }
}

pub mod demo;
