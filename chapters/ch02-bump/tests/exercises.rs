//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use memsource::{Arena, Grown, MemorySource};
use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

/// A source that counts how often it is asked to grow.
struct Counting {
    inner: Arena,
    grows: Rc<Cell<usize>>,
}

// SAFETY: every method passes the call on to the arena.
unsafe impl MemorySource for Counting {
    fn grow(&mut self, n: usize) -> Option<Grown> {
        self.grows.set(self.grows.get() + 1);
        self.inner.grow(n)
    }
    unsafe fn shrink(&mut self, end: NonNull<u8>, n: usize) -> bool {
        // SAFETY: the caller makes the same promise to us.
        unsafe { self.inner.shrink(end, n) }
    }
    fn base(&self) -> Option<NonNull<u8>> {
        self.inner.base()
    }
    fn end(&self) -> Option<NonNull<u8>> {
        self.inner.end()
    }
}

use alloc_suite::exercises::ensure;

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use ch02_bump::Bump;
        use $($ex)* as ex;

        /// `ex::free_last`, for blocks these tests no longer use.
        fn free_last(bump: &mut Bump<Arena>, p: *mut u8) -> bool {
            // SAFETY: the tests never touch a block after freeing it.
            unsafe { ex::free_last(bump, p) }
        }

        pub fn exercise_1() -> Result<(), String> {
            let mut bump = Bump::new(Arena::new(4096));
            let a = bump.malloc(100);
            let b = bump.malloc(30);
            ensure(!free_last(&mut bump, a), "freed a block that is not the last one")?;
            ensure(bump.map().len() == 112 + 32, "a refused free_last changed the heap")?;
            ensure(free_last(&mut bump, b), "did not free the last block")?;
            ensure(bump.map().len() == 112, "the break did not move back by 32 bytes")?;
            ensure(!free_last(&mut bump, b), "freed the same block twice")?;
            let c = bump.malloc(30);
            ensure(c == b, "the freed space was not used again")?;
            // Someone else moves the break: the last block is no longer on top.
            ensure(bump.source_mut().foreign_grow(64), "arena full")?;
            ensure(!free_last(&mut bump, c), "freed a block with foreign memory above it")?;
            ensure(!free_last(&mut bump, std::ptr::null_mut()), "freed null")
        }

        pub fn exercise_2() -> Result<(), String> {
            let grows = Rc::new(Cell::new(0));
            let source = Counting { inner: Arena::new(64 * 1024), grows: grows.clone() };
            let mut r = ex::Reserve::new(source);
            let mut blocks: Vec<(usize, usize)> = Vec::new();
            for i in 0..200 {
                let size = i % 40;
                let p = r.malloc(size);
                ensure(!p.is_null(), "malloc returned null with memory to spare")?;
                ensure(p as usize % 16 == 0, "a block is not aligned to 16")?;
                blocks.push((p as usize, size.max(1)));
            }
            ensure(grows.get() <= 2, &format!("200 small blocks took {} grows", grows.get()))?;
            let big = r.malloc(10_000);
            ensure(!big.is_null() && big as usize % 16 == 0, "a large request failed")?;
            blocks.push((big as usize, 10_000));
            blocks.sort();
            for w in blocks.windows(2) {
                ensure(w[0].0 + w[0].1 <= w[1].0, "two blocks overlap")?;
            }
            ensure(r.malloc(usize::MAX - 3).is_null(), "a huge request did not give null")?;
            ensure(r.malloc(100_000).is_null(), "more than the arena holds did not give null")?;
            Ok(())
        }

    };
}

alloc_suite::exercise_harness!(
    ch02_bump,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
