//! Chapter 5: coalescing and giving memory back.
//!
//! The splitting free list of chapter 4, with a new `free`: a freed chunk
//! merges with the free chunks right before and after it in memory, and a
//! free chunk left on top of the heap goes back to the system by moving the
//! break down, when (and only when) the break is still where this heap
//! left it.

use allockit::{Behaviour, FreeError, HeapMap, Malloc};
use memsource::{MemorySource, align_up};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};

pub mod demo;
pub mod exercises;
#[doc(hidden)]
#[path = "../solutions/exercises.rs"]
pub mod solutions;

// ANCHOR: header
/// The bookkeeping at the start of every chunk.
///
/// `align(16)` makes the header 32 bytes (8 + 1 + 8, padded), so a chunk
/// that starts on a 16-byte boundary has its payload on one too.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Header {
    /// Bytes of payload after this header: a multiple of 16.
    size: usize,
    /// Whether the payload is handed out.
    used: bool,
    /// The next chunk, or null for the last one.
    next: *mut Header,
}

/// Size of a header: the cost of every block.
pub const HEADER: usize = size_of::<Header>();
// ANCHOR_END: header

// ANCHOR: min_payload
/// The smallest payload a chunk is made with. A leftover smaller than a
/// header plus this stays inside the chunk it came from.
pub const MIN_PAYLOAD: usize = 16;
// ANCHOR_END: min_payload

// ANCHOR: invariants
// The heap's invariants. Every `unsafe` block below relies on them, and
// `Heap::check` verifies them by walking the heap.
//
// 1. `head` is null exactly when there are no chunks. Otherwise following
//    `next` from `head` visits every chunk once, in increasing address
//    order, and ends at `tail`, whose `next` is null.
// 2. Every chunk lies in memory this heap got from its source, starts on a
//    16-byte boundary, and has a `size` that is a multiple of 16, so the
//    payload (`HEADER` bytes in) is aligned to 16. Chunks do not overlap.
// 3. A used chunk's payload belongs to whoever `malloc` gave it to; the
//    header and everything else belongs to the heap.
// 4. Two chunks next to each other in the list need not be next to each
//    other in memory: someone else may have moved the break in between.
//    (A chunk made by splitting is, by construction, right after the chunk
//    it was cut from.)
// 5. No two free chunks touch: `free` merges them as soon as they do.
// ANCHOR_END: invariants

// ANCHOR: heap
/// A placement policy: which free chunk serves a request of `size` bytes.
pub type Placement<S> = for<'h> fn(&'h Heap<S>, usize) -> Option<Chunk<'h>>;

/// The heap: a singly linked list of chunks over a memory source.
pub struct Heap<S> {
    source: S,
    head: *mut Header,
    tail: *mut Header,
    placement: Placement<S>,
}
// ANCHOR_END: heap

// SAFETY: the heap owns its chunks exclusively; the raw pointers point into
// memory that only this heap (and the owners of used payloads) touches.
unsafe impl<S: Send> Send for Heap<S> {}

/// A chunk of a heap, seen while the heap is borrowed.
#[derive(Clone, Copy)]
pub struct Chunk<'h> {
    ptr: NonNull<Header>,
    _heap: PhantomData<&'h ()>,
}

impl Chunk<'_> {
    /// Bytes of payload.
    pub fn size(self) -> usize {
        // SAFETY: invariant 1: `ptr` is a chunk of the borrowed heap, whose
        // headers nobody changes while it is borrowed.
        unsafe { (*self.ptr.as_ptr()).size }
    }

    /// Whether the payload is handed out.
    pub fn is_used(self) -> bool {
        // SAFETY: as in `size`.
        unsafe { (*self.ptr.as_ptr()).used }
    }

    /// Address of the header.
    pub fn addr(self) -> *const u8 {
        self.ptr.as_ptr().cast()
    }

    /// Address of the payload: what `malloc` returns for this chunk.
    pub fn payload(self) -> *const u8 {
        self.addr().wrapping_add(HEADER)
    }
}

// ANCHOR: first_fit
/// First fit: the first unused chunk, in list order, that is big enough.
pub fn first_fit<S: MemorySource>(heap: &Heap<S>, size: usize) -> Option<Chunk<'_>> {
    heap.chunks().find(|c| !c.is_used() && c.size() >= size)
}
// ANCHOR_END: first_fit

impl<S: MemorySource> Heap<S> {
    /// An empty heap over `source`, placing blocks first fit.
    pub const fn new(source: S) -> Self {
        // SAFETY: first fit returns only unused chunks of this heap that
        // are big enough.
        unsafe { Self::with_placement(source, first_fit) }
    }

    /// An empty heap over `source` that places blocks with `placement`.
    ///
    /// # Safety
    /// `placement` returns only unused chunks of the heap it is given, of
    /// at least the size asked for. (`malloc` also checks the last two.)
    pub const unsafe fn with_placement(source: S, placement: Placement<S>) -> Self {
        Heap {
            source,
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            placement,
        }
    }

    /// The memory source, so tests can play "someone else" moving the break.
    ///
    /// # Safety
    /// Growing the source is harmless. Shrinking it, or otherwise handing
    /// back memory, must not touch memory this heap's chunks use
    /// (invariant 2).
    pub unsafe fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Every chunk, in list (and address) order.
    pub fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let chunk = NonNull::new(at)?;
            // SAFETY: invariant 1: `at` is a chunk of this heap.
            at = unsafe { (*at).next };
            Some(Chunk {
                ptr: chunk,
                _heap: PhantomData,
            })
        })
    }

    // ANCHOR: malloc
    /// A block of at least `size` bytes aligned to 16, or null when memory
    /// runs out or `size` is too large.
    pub fn malloc(&mut self, size: usize) -> *mut u8 {
        // Round up so the chunk after this one stays aligned; malloc(0) is
        // served like malloc(1) so it returns a unique pointer.
        let Some(size) = align_up(size.max(1)) else {
            return ptr::null_mut();
        };
        let found = (self.placement)(self, size).filter(|c| !c.is_used() && c.size() >= size);
        if let Some(chunk) = found {
            let h = chunk.ptr.as_ptr();
            // SAFETY: invariant 1: `h` is a chunk of this heap, and it is
            // unused, so its payload is ours to hand out (invariant 3), and
            // it has at least `size` bytes, as `found` checked.
            unsafe {
                self.split(h, size);
                (*h).used = true;
            }
            return h.cast::<u8>().wrapping_add(HEADER);
        }
        self.grow(size)
    }
    // ANCHOR_END: malloc

    // ANCHOR: split
    /// Cuts chunk `h` down to `size` payload bytes if the rest is big
    /// enough to be a chunk of its own, which then follows it, unused.
    ///
    /// # Safety
    /// `h` is an unused chunk of this heap; `size` is a multiple of 16 and
    /// at most `h`'s size.
    unsafe fn split(&mut self, h: *mut Header, size: usize) {
        // SAFETY: `h` is a chunk of this heap (the caller's promise).
        let (total, next) = unsafe { ((*h).size, (*h).next) };
        let rest = total - size; // cannot wrap: size <= total
        if rest < HEADER + MIN_PAYLOAD {
            return; // too small to be a chunk: the request gets it all
        }
        let r = h.cast::<u8>().wrapping_add(HEADER + size).cast::<Header>();
        // SAFETY: `r` lies inside `h`'s payload (HEADER + size + HEADER <=
        // HEADER + total), which is unused and so belongs to the heap
        // (invariant 3); it is 16-aligned because `size` is a multiple of 16.
        // The new chunk sits between `h` and `next`, so the list stays in
        // address order (invariant 1).
        unsafe {
            r.write(Header {
                size: rest - HEADER,
                used: false,
                next,
            });
            (*h).size = size;
            (*h).next = r;
        }
        if self.tail == h {
            self.tail = r;
        }
    }
    // ANCHOR_END: split

    // ANCHOR: grow
    /// Appends a new used chunk of `size` payload bytes at the break.
    fn grow(&mut self, size: usize) -> *mut u8 {
        let Some(total) = HEADER.checked_add(size) else {
            return ptr::null_mut();
        };
        let Some(grown) = self.source.grow(total) else {
            return ptr::null_mut(); // out of memory: nothing has changed
        };
        let h = grown.start.as_ptr().cast::<Header>();
        // SAFETY: the source just gave us `total` bytes at `h`, aligned to
        // 16 (enough for a Header), that nothing else refers to: the
        // `MemorySource` contract, which its `unsafe impl` promises.
        unsafe {
            h.write(Header {
                size,
                used: true,
                next: ptr::null_mut(),
            })
        };
        if self.tail.is_null() {
            self.head = h;
        } else {
            // SAFETY: invariant 1: `tail` is the last chunk of this heap.
            // The new chunk is above it, since the break only grows, so the
            // list stays in address order.
            unsafe { (*self.tail).next = h };
        }
        self.tail = h;
        h.cast::<u8>().wrapping_add(HEADER)
    }
    // ANCHOR_END: grow

    // ANCHOR: free
    /// Gives a block back: its chunk is marked unused and merged with free
    /// neighbours, and if it ends up on top of the heap, the memory goes
    /// back to the source. `free(null)` does nothing.
    ///
    /// Any other pointer that is not exactly a payload of this heap is
    /// refused with [`FreeError::NotOurs`], because `free` finds the chunk
    /// by walking the list rather than by trusting the pointer.
    ///
    /// # Safety
    /// The block, if it is one of this heap's, is not used after this.
    pub unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        if ptr.is_null() {
            return Ok(());
        }
        let Some((before, prev, h)) = self.find(ptr) else {
            return Err(FreeError::NotOurs);
        };
        // SAFETY: `find` returned chunks of this heap (invariant 1).
        unsafe {
            if !(*h).used {
                return Err(FreeError::DoubleFree); // leave the heap as it is
            }
            (*h).used = false;
            self.merge_with_next(h);
            let (before, h) = if !prev.is_null() && !(*prev).used && self.merge_with_next(prev) {
                (before, prev) // `h` is now part of `prev`
            } else {
                (prev, h)
            };
            self.trim(before, h);
        }
        Ok(())
    }
    // ANCHOR_END: free

    // ANCHOR: find
    /// Finds the chunk whose payload is `ptr`, with the two chunks before
    /// it in the list (null where there are none). A singly linked list can
    /// only be walked forwards, so this is a walk from the head: the price
    /// of coalescing without a way back.
    fn find(&self, ptr: *mut u8) -> Option<(*mut Header, *mut Header, *mut Header)> {
        let (mut before, mut prev, mut at) = (ptr::null_mut(), ptr::null_mut(), self.head);
        while !at.is_null() && (at as usize) < ptr as usize {
            if at.cast::<u8>().wrapping_add(HEADER) == ptr {
                return Some((before, prev, at));
            }
            before = prev;
            prev = at;
            // SAFETY: invariant 1: `at` is a chunk of this heap.
            at = unsafe { (*at).next };
        }
        None
    }
    // ANCHOR_END: find

    // ANCHOR: merge
    /// If the chunk after `h` is free and right next to it in memory,
    /// absorbs it into `h`. Returns whether it did.
    ///
    /// # Safety
    /// `h` is an unused chunk of this heap.
    unsafe fn merge_with_next(&mut self, h: *mut Header) -> bool {
        // SAFETY: `h` and (if not null) `next` are chunks of this heap.
        unsafe {
            let next = (*h).next;
            let end = h.cast::<u8>().wrapping_add(HEADER + (*h).size);
            // Invariant 4: neighbours in the list may have foreign memory
            // between them. Only chunks that touch can merge.
            if next.is_null() || (*next).used || end != next.cast::<u8>() {
                return false;
            }
            (*h).size += HEADER + (*next).size;
            (*h).next = (*next).next;
            if self.tail == next {
                self.tail = h;
            }
            true
        }
    }
    // ANCHOR_END: merge

    // ANCHOR: trim
    /// If `h` (free, with `prev` before it in the list) is the last chunk and
    /// the break is still where this heap left it, gives its memory back to
    /// the source.
    ///
    /// # Safety
    /// `h` is an unused chunk of this heap and `prev` the chunk before it,
    /// or null if it is the first.
    unsafe fn trim(&mut self, prev: *mut Header, h: *mut Header) {
        if h != self.tail {
            return;
        }
        // SAFETY: `h` is a chunk of this heap.
        let total = HEADER + unsafe { (*h).size };
        let end = h.cast::<u8>().wrapping_add(total);
        let Some(end) = NonNull::new(end) else { return };
        // `shrink` refuses unless the break is exactly at `end`: someone
        // else's memory above us must never be given away. `h` is ours, so
        // this never goes below where the heap started.
        // SAFETY: `h` is free, so nothing outside the heap refers to it,
        // and the list forgets it below if the source takes it back.
        if !unsafe { self.source.shrink(end, total) } {
            return;
        }
        if prev.is_null() {
            self.head = ptr::null_mut();
        } else {
            // SAFETY: `prev` is the chunk before `h`, so a chunk of this heap.
            unsafe { (*prev).next = ptr::null_mut() };
        }
        self.tail = prev;
    }
    // ANCHOR_END: trim

    /// The heap as a list of chunks, for drawing.
    pub fn map(&self) -> HeapMap {
        let (Some(base), Some(end)) = (self.source.base(), self.source.end()) else {
            return HeapMap::default();
        };
        let mut map = HeapMap::new(base.as_ptr(), end.as_ptr());
        for c in self.chunks() {
            map.push(c.addr(), HEADER, c.size(), c.is_used());
        }
        map
    }

    // ANCHOR: check
    /// Walks the heap and checks the invariants; `Err` says which broke.
    pub fn check(&self) -> Result<(), String> {
        let mut last: Option<Chunk<'_>> = None;
        let end = self.source.end().map_or(0, |e| e.as_ptr() as usize);
        for c in self.chunks() {
            let (at, size) = (c.addr() as usize, c.size());
            if at % 16 != 0 || size % 16 != 0 {
                return Err(format!("chunk {at:#x} (size {size}) is not aligned"));
            }
            if let Some(prev) = last {
                let prev_end = prev.payload() as usize + prev.size();
                if at < prev_end {
                    return Err(format!("chunk {at:#x} is not above the one before it"));
                }
                if at == prev_end && !prev.is_used() && !c.is_used() {
                    return Err(format!("free chunks at {prev_end:#x} and {at:#x} touch"));
                }
            }
            let chunk_end = at.checked_add(HEADER).and_then(|a| a.checked_add(size));
            if chunk_end.is_none_or(|e| e > end) {
                return Err(format!("chunk {at:#x} runs past the end of the heap"));
            }
            last = Some(c);
        }
        let last = last.map_or(ptr::null(), |c| c.addr());
        if last != self.tail.cast_const().cast() {
            return Err("`tail` is not the last chunk of the list".into());
        }
        Ok(())
    }
    // ANCHOR_END: check
}

// ANCHOR: conformance
impl<S: MemorySource> Malloc for Heap<S> {
    const NAME: &'static str = "ch05 coalescing";
    const BEHAVIOURS: &'static [Behaviour] = &[
        Behaviour::Correct,
        Behaviour::ZeroSize,
        Behaviour::HugeSize,
        Behaviour::OutOfMemory,
        Behaviour::RandomOps,
        Behaviour::RefusesDoubleFree,
        Behaviour::RefusesForeign,
        Behaviour::ReusesFreed,
        Behaviour::Splits,
        Behaviour::Coalesces,
        Behaviour::ReturnsMemory,
    ];
    // ANCHOR_END: conformance

    fn malloc(&mut self, size: usize) -> *mut u8 {
        Heap::malloc(self, size)
    }

    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        // SAFETY: the caller makes the same promise to us.
        unsafe { Heap::free(self, ptr) }
    }

    fn map(&self) -> HeapMap {
        Heap::map(self)
    }

    fn check(&self) -> Result<(), String> {
        Heap::check(self)
    }
}
