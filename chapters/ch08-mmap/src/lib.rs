//! Chapter 8: big blocks and mmap.
//!
//! The global allocator of chapter 7, with big blocks kept off the heap:
//! a request of [`MMAP_THRESHOLD`] bytes or more gets a mapping of its own
//! from `mmap`, which `free` gives straight back with `munmap` and
//! `realloc` resizes with `mremap`. And when the break cannot grow, the
//! heap grows with `mmap` instead.

use allockit::{Behaviour, FreeError, HeapMap, Malloc};
use memsource::{ALIGN, MemorySource, Sbrk, align_up, page_size};
use std::alloc::{GlobalAlloc, Layout};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub mod diagram;
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

// ANCHOR: threshold
/// Requests of this many bytes or more get a mapping of their own: glibc's
/// default `M_MMAP_THRESHOLD`.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// When the break cannot grow, the heap grows by mappings of at least this
/// many bytes.
pub const FALLBACK_STEP: usize = 256 * 1024;
// ANCHOR_END: threshold

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
// 6. Chunks mapped on their own are not in the list above, but in a second
//    list, `mapped`, in no particular order. Each is one whole mapping: its
//    header at the start, `HEADER + size` bytes long, a multiple of a page;
//    always used (freeing one unmaps it).
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
    /// Blocks mapped on their own (invariant 6).
    mapped: *mut Header,
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
            mapped: ptr::null_mut(),
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
        self.allocate(size, true)
            .map_or(ptr::null_mut(), |(p, _)| p)
    }

    /// `malloc`, also telling whether the block is fresh from the source,
    /// and so already zero. Big blocks get a mapping of their own if
    /// `may_map`.
    fn allocate(&mut self, size: usize, may_map: bool) -> Option<(*mut u8, bool)> {
        // Round up so the chunk after this one stays aligned; malloc(0) is
        // served like malloc(1) so it returns a unique pointer.
        let size = align_up(size.max(1))?;
        if may_map
            && size >= MMAP_THRESHOLD
            && let Some(p) = self.map_block(size)
        {
            return Some((p, true)); // fresh pages are zero
        }
        let found = (self.placement)(self, size).filter(|c| !c.is_used() && c.size() >= size);
        if let Some(chunk) = found {
            let h = chunk.ptr.as_ptr();
            // SAFETY: invariant 1: `h` is a chunk of this heap, and it is
            // unused, so its payload is ours to hand out (invariant 3); it
            // has at least `size` bytes, as just checked.
            unsafe {
                self.split(h, size);
                (*h).used = true;
            }
            return Some((h.cast::<u8>().wrapping_add(HEADER), false));
        }
        let p = self.grow(size);
        (!p.is_null()).then_some((p, true))
    }
    // ANCHOR_END: malloc

    // ANCHOR: split
    /// Cuts chunk `h` down to `size` payload bytes if the rest is big
    /// enough to be a chunk of its own, which then follows it, unused, and
    /// merged with the chunk after it if that one is free (invariant 5).
    ///
    /// # Safety
    /// `h` is a chunk of this heap whose payload nobody uses beyond its
    /// first `size` bytes; `size` is a multiple of 16 and at most `h`'s size.
    unsafe fn split(&mut self, h: *mut Header, size: usize) {
        // SAFETY: `h` is a chunk of this heap (the caller's promise).
        let (total, next) = unsafe { ((*h).size, (*h).next) };
        let rest = total - size; // cannot wrap: size <= total
        if rest < HEADER + MIN_PAYLOAD {
            return; // too small to be a chunk: the request gets it all
        }
        let r = h.cast::<u8>().wrapping_add(HEADER + size).cast::<Header>();
        // SAFETY: `r` lies inside `h`'s payload (HEADER + size + HEADER <=
        // HEADER + total), past the part anyone uses, so it belongs to the
        // heap (invariant 3); it is 16-aligned because `size` is a multiple
        // of 16.
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
        // SAFETY: `r` is an unused chunk of this heap.
        unsafe { self.merge_with_next(r) };
    }
    // ANCHOR_END: split

    // ANCHOR: grow
    /// Appends a new used chunk of `size` payload bytes at the break.
    fn grow(&mut self, size: usize) -> *mut u8 {
        let Some(total) = HEADER.checked_add(size) else {
            return ptr::null_mut();
        };
        let Some(grown) = self.source.grow(total) else {
            // The break cannot grow (out of memory, or something mapped
            // right above it): try a mapping instead.
            return self.grow_mapped(size);
        };
        let h = grown.start.as_ptr().cast::<Header>();
        // SAFETY: the source just gave us `total` bytes at `h`, aligned to
        // 16 (enough for a Header), that nothing else refers to: the
        // `MemorySource` contract, which its `unsafe impl` promises. The
        // new chunk overlaps no chunk, so `link` can place it in order.
        unsafe {
            h.write(Header {
                size,
                used: true,
                next: ptr::null_mut(),
            });
            self.link(h);
        }
        h.cast::<u8>().wrapping_add(HEADER)
    }

    // ANCHOR: link
    /// Links the new chunk `h` into the list in address order. Memory from
    /// the break usually goes at the end, but since the heap can also grow
    /// into mappings (`grow_mapped`), which may lie anywhere, the end is not
    /// always the right place: walk to it.
    ///
    /// # Safety
    /// `h` is a new chunk (its header written, `next` ignored) that
    /// overlaps no chunk of this heap.
    unsafe fn link(&mut self, h: *mut Header) {
        let mut prev: *mut Header = ptr::null_mut();
        let mut at = self.head;
        // Most often `h` is above the last chunk: check that first.
        if !self.tail.is_null() && (self.tail as usize) < h as usize {
            (prev, at) = (self.tail, ptr::null_mut());
        }
        while !at.is_null() && (at as usize) < h as usize {
            prev = at;
            // SAFETY: invariant 1: `at` is a chunk of this heap.
            at = unsafe { (*at).next };
        }
        // SAFETY: `prev` (if not null) is a chunk of this heap; `h` goes
        // between it and `at`, which keeps the list in address order.
        unsafe {
            (*h).next = at;
            if prev.is_null() {
                self.head = h;
            } else {
                (*prev).next = h;
            }
        }
        if at.is_null() {
            self.tail = h;
        }
    }
    // ANCHOR_END: link
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
        if let Some((prev, h)) = self.find_mapped(ptr) {
            // SAFETY: `h` is a live mapping of ours, whose block the caller
            // gives up.
            unsafe { self.unmap_block(prev, h) };
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
    /// `h` is a chunk of this heap.
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
        // SAFETY: `h` is a chunk of this heap.
        let (total, next) = unsafe { (HEADER + (*h).size, (*h).next) };
        let end = h.cast::<u8>().wrapping_add(total);
        // Only the chunk that ends where our last growth ended can go back.
        // (That is usually the last chunk; not when the heap has grown into
        // a mapping above the break.)
        if self.source.end() != NonNull::new(end) {
            return;
        }
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
            self.head = next;
        } else {
            // SAFETY: `prev` is the chunk before `h`, so a chunk of this heap.
            unsafe { (*prev).next = next };
        }
        if self.tail == h {
            self.tail = prev;
        }
    }
    // ANCHOR_END: trim

    // ANCHOR: calloc
    /// `count` blocks of `size` bytes, zeroed; null if `count * size`
    /// overflows or memory runs out.
    pub fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return ptr::null_mut();
        };
        let Some((p, fresh)) = self.allocate(total, true) else {
            return ptr::null_mut();
        };
        // Memory fresh from the source is already zero (the source
        // promises it); only a reused chunk needs clearing.
        if !fresh {
            // SAFETY: `p` is a new block of at least `total` bytes.
            unsafe { p.write_bytes(0, total) };
        }
        p
    }
    // ANCHOR_END: calloc

    // ANCHOR: memalign
    /// A block of at least `size` bytes whose address is a multiple of
    /// `align`; null if `align` is not a power of two, or on overflow, or
    /// when memory runs out.
    pub fn memalign(&mut self, align: usize, size: usize) -> *mut u8 {
        if !align.is_power_of_two() {
            return ptr::null_mut();
        }
        if align <= ALIGN {
            return self.malloc(size); // every block is aligned to 16 anyway
        }
        let Some(size) = align_up(size.max(1)) else {
            return ptr::null_mut();
        };
        // Room for the block, for sliding it up to the alignment, and for
        // what it slides past to be a chunk of its own.
        let Some(request) = size
            .checked_add(align)
            .and_then(|n| n.checked_add(HEADER + MIN_PAYLOAD))
        else {
            return ptr::null_mut();
        };
        // On the heap even if big: the slicing below works on heap chunks.
        let Some((p, _)) = self.allocate(request, false) else {
            return ptr::null_mut();
        };
        let h = p.wrapping_sub(HEADER).cast::<Header>();
        let (mut q, mut hq) = (p, h);
        if !(p as usize).is_multiple_of(align) {
            let a = (p as usize + HEADER + MIN_PAYLOAD).next_multiple_of(align);
            q = p.wrapping_add(a - p as usize);
            hq = q.wrapping_sub(HEADER).cast::<Header>();
            let front = a - HEADER - p as usize; // payload left in front
            // SAFETY: `h` is the chunk just allocated, of `request` bytes
            // or more, and nobody uses its payload yet. `hq` lies inside it,
            // aligned, with at least `size` bytes after it (the request left
            // room for that) and a chunk's worth before it. Cutting `h` in
            // two this way keeps the list in address order.
            unsafe {
                hq.write(Header {
                    size: (*h).size - front - HEADER,
                    used: true,
                    next: (*h).next,
                });
                (*h).size = front;
                (*h).next = hq;
                if self.tail == h {
                    self.tail = hq;
                }
                // Give the front back; it merges with a free chunk before it.
                let _ = self.free(p);
            }
        }
        // SAFETY: `hq` is a used chunk of at least `size` bytes that nobody
        // uses yet: its tail beyond `size` goes back to the heap, and to the
        // source if it is on top.
        unsafe {
            self.split(hq, size);
            let rest = (*hq).next;
            if !rest.is_null() && !(*rest).used {
                self.trim(hq, rest);
            }
        }
        q
    }
    // ANCHOR_END: memalign

    // ANCHOR: realloc
    /// Resizes the block at `ptr` to at least `size` bytes, keeping its
    /// contents, in place when it can. As in glibc: `realloc(null, n)` is
    /// `malloc(n)`, and `realloc(p, 0)` frees `p` and returns null. Returns
    /// null, leaving the block as it was, when memory runs out, the size is
    /// too large, or `ptr` is not a live block of this heap.
    ///
    /// # Safety
    /// If `ptr` is a live block of this heap, the caller uses the returned
    /// pointer (when it is not null) instead of `ptr` from now on.
    pub unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.malloc(size);
        }
        if size == 0 {
            // SAFETY: the caller gives the block up.
            let _ = unsafe { self.free(ptr) };
            return ptr::null_mut();
        }
        let Some(new) = align_up(size) else {
            return ptr::null_mut();
        };
        if let Some((prev, h)) = self.find_mapped(ptr) {
            // SAFETY: `h` is a live mapping of ours, handed to us to resize.
            let q = unsafe { self.remap_block(prev, h, new) };
            if !q.is_null() {
                return q;
            }
            // The source cannot remap: fall through to malloc, copy, free.
        } else if let Some((_, _, h)) = self.find(ptr) {
            // SAFETY: see `resize_in_place`.
            if let Some(q) = unsafe { self.resize_in_place(h, ptr, new) } {
                return q;
            }
        } else {
            return ptr::null_mut();
        }
        // Otherwise: a new block, a copy, and the old block freed.
        let old = self.usable_size(ptr);
        let q = self.malloc(size);
        if q.is_null() {
            return q; // the old block is untouched
        }
        // SAFETY: both blocks are live and distinct, and each has at least
        // `old.min(size)` bytes.
        unsafe {
            ptr::copy_nonoverlapping(ptr, q, old.min(size));
            let _ = self.free(ptr);
        }
        q
    }

    /// The heap-chunk part of `realloc`: `Some(ptr)` if the block at `ptr`
    /// (chunk `h`) was resized where it is, `Some(null)` if it is not live,
    /// `None` if it must move.
    ///
    /// # Safety
    /// `h` is a chunk of this heap whose payload is `ptr`, handed to us to
    /// resize to `new` bytes (a multiple of 16).
    unsafe fn resize_in_place(
        &mut self,
        h: *mut Header,
        ptr: *mut u8,
        new: usize,
    ) -> Option<*mut u8> {
        // SAFETY: `h` is a chunk of this heap (the caller's promise); its
        // payload is handed to us to resize.
        unsafe {
            if !(*h).used {
                return Some(ptr::null_mut()); // not a live block
            }
            let old = (*h).size;
            if new <= old {
                self.split(h, new); // shrink in place...
                let rest = (*h).next;
                if !rest.is_null() && !(*rest).used {
                    self.trim(h, rest); // ...and give back what was cut off the top
                }
                return Some(ptr);
            }
            // Grow in place by absorbing a free chunk right after it...
            let next = (*h).next;
            if !next.is_null()
                && !(*next).used
                && old + HEADER + (*next).size >= new
                && self.merge_with_next(h)
            {
                self.split(h, new);
                return Some(ptr);
            }
            // ...or, if it ends where our last growth ended, by moving the
            // break (`grow_last` checks that).
            if self.grow_last(h, new) {
                return Some(ptr);
            }
        }
        None
    }

    /// Grows chunk `h` to `new` payload bytes by moving the break, if our
    /// last growth ended right after it. Returns whether it did.
    ///
    /// # Safety
    /// `h` is a used chunk of this heap, and `new` is larger than its size
    /// and a multiple of 16.
    unsafe fn grow_last(&mut self, h: *mut Header, new: usize) -> bool {
        // SAFETY: `h` is a chunk of this heap.
        let old = unsafe { (*h).size };
        let end = h.cast::<u8>().wrapping_add(HEADER + old);
        if self.source.end() != NonNull::new(end) {
            return false; // our last growth did not end here
        }
        // Ask for at least a chunk's worth, so that if someone else moves
        // the break in between, what we get can still be kept as a chunk.
        let want = (new - old).max(HEADER + MIN_PAYLOAD);
        let Some(grown) = self.source.grow(want) else {
            return false;
        };
        if grown.contiguous {
            // SAFETY: the new memory starts where `h` ends; `h` now owns it,
            // and `split` hands back what `new` does not need.
            unsafe {
                (*h).size = old + want;
                self.split(h, new);
            }
            return true;
        }
        // Someone else moved the break since our last growth, so the new
        // memory is not next to `h`: give it straight back. Only if someone
        // raced above it in the meantime keep it, as a free chunk.
        let grown_end = grown.start.as_ptr().wrapping_add(want);
        if let Some(grown_end) = NonNull::new(grown_end)
            // SAFETY: nothing refers to the memory we just got.
            && unsafe { self.source.shrink(grown_end, want) }
        {
            return false;
        }
        let r = grown.start.as_ptr().cast::<Header>();
        // SAFETY: the source gave us `want` bytes at `r`, aligned to 16,
        // overlapping no chunk; `link` puts the new chunk in order.
        unsafe {
            r.write(Header {
                size: want - HEADER,
                used: false,
                next: ptr::null_mut(),
            });
            self.link(r);
        }
        false
    }
    // ANCHOR_END: realloc

    // ANCHOR: mapped
    /// A block of `size` bytes in a mapping of its own, or null if the
    /// source cannot map (then the caller uses the heap).
    fn map_block(&mut self, size: usize) -> Option<*mut u8> {
        let len = HEADER
            .checked_add(size)?
            .checked_next_multiple_of(page_size())?;
        let h = self.source.map(len)?.as_ptr().cast::<Header>();
        // SAFETY: the mapping is `len` bytes, page-aligned, and ours alone
        // (the `MemorySource` contract): room for the header and the block.
        unsafe {
            h.write(Header {
                size: len - HEADER,
                used: true,
                next: self.mapped,
            })
        };
        self.mapped = h;
        Some(h.cast::<u8>().wrapping_add(HEADER))
    }

    /// Finds the mapped block whose payload is `ptr`, with the mapped block
    /// before it in the `mapped` list (null if it is the first).
    fn find_mapped(&self, ptr: *mut u8) -> Option<(*mut Header, *mut Header)> {
        let (mut prev, mut at) = (ptr::null_mut(), self.mapped);
        while !at.is_null() {
            if at.cast::<u8>().wrapping_add(HEADER) == ptr {
                return Some((prev, at));
            }
            prev = at;
            // SAFETY: invariant 6: `at` is a live mapping of ours.
            at = unsafe { (*at).next };
        }
        None
    }

    /// Unlinks mapped block `h` (after `prev`) and gives its mapping back.
    ///
    /// # Safety
    /// `h` is in the `mapped` list after `prev`, and nobody uses its block.
    unsafe fn unmap_block(&mut self, prev: *mut Header, h: *mut Header) {
        // SAFETY: invariant 6: `h` (and `prev`, if not null) are live
        // mappings of ours; after unlinking, nothing refers to `h`.
        unsafe {
            let (next, len) = ((*h).next, HEADER + (*h).size);
            self.relink(prev, next);
            self.source.unmap(NonNull::new_unchecked(h.cast()), len);
        }
    }

    /// Resizes mapped block `h` (after `prev`) to `new` bytes with the
    /// source's `remap`; returns the new payload, or null if it cannot.
    ///
    /// # Safety
    /// `h` is in the `mapped` list after `prev`, handed to us to resize.
    unsafe fn remap_block(&mut self, prev: *mut Header, h: *mut Header, new: usize) -> *mut u8 {
        let Some(len) = HEADER
            .checked_add(new)
            .and_then(|n| n.checked_next_multiple_of(page_size()))
        else {
            return ptr::null_mut();
        };
        // SAFETY: invariant 6: `h` is a whole live mapping of ours.
        unsafe {
            let old = HEADER + (*h).size;
            let Some(m) = self
                .source
                .remap(NonNull::new_unchecked(h.cast()), old, len)
            else {
                return ptr::null_mut();
            };
            // The header moved with the mapping; the list must point to it.
            let m = m.as_ptr().cast::<Header>();
            (*m).size = len - HEADER;
            self.relink(prev, m);
            m.cast::<u8>().wrapping_add(HEADER)
        }
    }

    /// Makes `prev`'s `next` (or the list head) point to `to`.
    ///
    /// # Safety
    /// `prev` is null or a live mapping in the `mapped` list.
    unsafe fn relink(&mut self, prev: *mut Header, to: *mut Header) {
        if prev.is_null() {
            self.mapped = to;
        } else {
            // SAFETY: the caller's promise.
            unsafe { (*prev).next = to };
        }
    }
    // ANCHOR_END: mapped

    // ANCHOR: grow_mapped
    /// When the break cannot grow: a mapping of at least `FALLBACK_STEP`
    /// bytes becomes part of the heap, a used chunk of `size` bytes and (if
    /// there is room) a free chunk after it, linked in address order.
    fn grow_mapped(&mut self, size: usize) -> *mut u8 {
        let Some(len) = HEADER
            .checked_add(size)
            .and_then(|n| n.max(FALLBACK_STEP).checked_next_multiple_of(page_size()))
        else {
            return ptr::null_mut();
        };
        let Some(m) = self.source.map(len) else {
            return ptr::null_mut();
        };
        let h = m.as_ptr().cast::<Header>();
        // SAFETY: the mapping is `len` bytes, page-aligned and ours alone;
        // `link` puts it in address order (a mapping can be anywhere), and
        // `split` cuts off what the request does not need.
        unsafe {
            h.write(Header {
                size: len - HEADER,
                used: true,
                next: ptr::null_mut(),
            });
            self.link(h);
            self.split(h, size);
        }
        h.cast::<u8>().wrapping_add(HEADER)
    }
    // ANCHOR_END: grow_mapped

    // ANCHOR: usable_size
    /// How many bytes the block at `ptr` really has (at least what was asked
    /// for); 0 if `ptr` is not a live block of this heap.
    pub fn usable_size(&self, ptr: *const u8) -> usize {
        if let Some((_, h)) = self.find_mapped(ptr.cast_mut()) {
            // SAFETY: invariant 6: `h` is a live mapping of ours.
            return unsafe { (*h).size };
        }
        match self.find(ptr.cast_mut()) {
            // SAFETY: `find` returned a chunk of this heap.
            Some((_, _, h)) if unsafe { (*h).used } => unsafe { (*h).size },
            _ => 0,
        }
    }
    // ANCHOR_END: usable_size

    // ANCHOR: layout
    /// Allocates for a Rust `Layout` (any size and power-of-two alignment,
    /// which `Layout` guarantees). Null when memory runs out.
    pub fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.memalign(layout.align(), layout.size())
    }

    /// Frees a block from [`alloc`](Heap::alloc).
    ///
    /// # Safety
    /// As for [`free`](Heap::free).
    pub unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        let _ = layout; // the heap knows the size from the header
        // SAFETY: the caller's promise.
        let _ = unsafe { self.free(ptr) };
    }

    /// Resizes a block from [`alloc`](Heap::alloc), keeping its alignment.
    ///
    /// # Safety
    /// As for [`realloc`](Heap::realloc); `layout` is the block's layout.
    pub unsafe fn realloc_layout(&mut self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        if layout.align() <= ALIGN {
            // SAFETY: the caller's promise.
            return unsafe { self.realloc(ptr, size) };
        }
        let Ok(new_layout) = Layout::from_size_align(size, layout.align()) else {
            return ptr::null_mut();
        };
        let q = self.alloc(new_layout);
        if !q.is_null() {
            // SAFETY: both blocks are live and distinct, and each has at
            // least the bytes copied.
            unsafe {
                ptr::copy_nonoverlapping(ptr, q, layout.size().min(size));
                let _ = self.free(ptr);
            }
        }
        q
    }
    // ANCHOR_END: layout

    /// Copies the heap map into `map` without allocating: chunks are pushed
    /// only while `map.chunks` has spare capacity. Returns false if it ran
    /// out of room (then `map` is incomplete).
    pub fn map_into(&self, map: &mut HeapMap) -> bool {
        map.chunks.clear();
        map.mapped.clear();
        // The heap spans the break's memory and any mappings the heap grew
        // into when the break could not grow (they are in the list too).
        let first = self.chunks().next().map(|c| c.addr() as usize);
        let last = self
            .chunks()
            .last()
            .map(|c| c.payload() as usize + c.size());
        let base = self.source.base().map(|b| b.as_ptr() as usize);
        let end = self.source.end().map(|e| e.as_ptr() as usize);
        map.base = [first, base].into_iter().flatten().min().unwrap_or(0);
        map.end = [last, end].into_iter().flatten().max().unwrap_or(0);
        for c in self.chunks() {
            if map.chunks.len() == map.chunks.capacity() {
                return false;
            }
            map.push(c.addr(), HEADER, c.size(), c.is_used());
        }
        let mut at = self.mapped;
        while !at.is_null() {
            if map.mapped.len() == map.mapped.capacity() {
                return false;
            }
            // SAFETY: invariant 6: `at` is a live mapping of ours.
            let (size, next) = unsafe { ((*at).size, (*at).next) };
            map.mapped.push(allockit::Chunk {
                addr: at as usize,
                header: HEADER,
                size,
                used: true,
            });
            at = next;
        }
        true
    }

    /// Blocks mapped on their own, right now.
    pub fn mapped_count(&self) -> usize {
        let (mut n, mut at) = (0, self.mapped);
        while !at.is_null() {
            n += 1;
            // SAFETY: invariant 6: `at` is a live mapping of ours.
            at = unsafe { (*at).next };
        }
        n
    }

    /// The heap as a list of chunks, for drawing.
    pub fn map(&self) -> HeapMap {
        let mut map = HeapMap::default();
        map.chunks.reserve(self.chunks().count());
        map.mapped.reserve(self.mapped_count());
        self.map_into(&mut map);
        map
    }

    // ANCHOR: check
    /// Walks the heap and checks the invariants; `Err` says which broke.
    pub fn check(&self) -> Result<(), String> {
        let mut last: Option<Chunk<'_>> = None;
        // Chunks in mappings the heap grew into lie outside the break's
        // memory; the list is still in address order.
        let last_end = self
            .chunks()
            .last()
            .map_or(0, |c| c.payload() as usize + c.size());
        let end = self
            .source
            .end()
            .map_or(0, |e| e.as_ptr() as usize)
            .max(last_end);
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
    const NAME: &'static str = "ch08 mmap";
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
        Behaviour::Realloc,
        Behaviour::Calloc,
    ];
    // ANCHOR_END: conformance

    fn malloc(&mut self, size: usize) -> *mut u8 {
        Heap::malloc(self, size)
    }

    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        // SAFETY: the caller makes the same promise to us.
        unsafe { Heap::free(self, ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Option<*mut u8> {
        // SAFETY: the caller makes the same promise to us.
        Some(unsafe { Heap::realloc(self, ptr, size) })
    }

    fn calloc(&mut self, count: usize, size: usize) -> Option<*mut u8> {
        Some(Heap::calloc(self, count, size))
    }

    fn map(&self) -> HeapMap {
        Heap::map(self)
    }

    fn check(&self) -> Result<(), String> {
        Heap::check(self)
    }
}

// ANCHOR: global
/// The heap on the real program break, behind a lock, for
/// `#[global_allocator]`.
///
/// ```text
/// #[global_allocator]
/// static HEAP: ch08_mmap::Global = ch08_mmap::Global::new();
/// ```
pub struct Global {
    heap: Mutex<Heap<Sbrk>>,
}

impl Global {
    /// An empty heap; it grows the break on first use.
    pub const fn new() -> Self {
        Global {
            heap: Mutex::new(Heap::new(Sbrk::new())),
        }
    }

    /// The heap, locked. Nothing that runs while the guard lives may
    /// allocate: that would come back here and wait for this same lock.
    fn lock(&self) -> MutexGuard<'_, Heap<Sbrk>> {
        // Nothing panics while holding the lock, but if something did, the
        // heap would still be consistent between two calls: carry on.
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: global

impl Default for Global {
    fn default() -> Self {
        Self::new()
    }
}

// ANCHOR: global_alloc
// SAFETY: every method returns null or a block of at least `layout.size()`
// bytes aligned to `layout.align()` that no other live block overlaps (the
// heap's invariants), and takes the lock before touching the heap, so
// threads never see it half-changed.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.lock().alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= ALIGN {
            return self.lock().calloc(1, layout.size()); // clears only reused memory
        }
        let p = self.lock().alloc(layout);
        if !p.is_null() {
            // SAFETY: p is a new block of layout.size() bytes.
            unsafe { p.write_bytes(0, layout.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `ptr` is a live block from us.
        if let Err(e) = unsafe { self.lock().free(ptr) } {
            bad_free(e); // a bug in unsafe code somewhere: stop, as glibc does
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `ptr` is a live block of `layout`.
        unsafe { self.lock().realloc_layout(ptr, layout, new_size) }
    }
}
// ANCHOR_END: global_alloc

// ANCHOR: bad_free
/// Reports a bad `dealloc` on stderr and aborts. It must not allocate (the
/// allocator is the thing that is broken), so it writes with `libc::write`.
fn bad_free(e: FreeError) -> ! {
    let msg: &[u8] = match e {
        FreeError::NotOurs => b"ch08: dealloc of a pointer this heap never gave out; aborting\n",
        FreeError::DoubleFree => b"ch08: dealloc of a block that is already free; aborting\n",
        FreeError::Corrupt => b"ch08: dealloc found a corrupted chunk header; aborting\n",
    };
    // SAFETY: writing a static buffer to file descriptor 2.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    std::process::abort()
}
// ANCHOR_END: bad_free

impl Global {
    // ANCHOR: global_map
    /// The heap map, collected without allocating under the lock: count the
    /// chunks, make room (unlocked), then copy (locked); again if the heap
    /// grew in between.
    pub fn map(&self) -> HeapMap {
        let mut map = HeapMap::default();
        loop {
            let (chunks, mapped) = {
                let heap = self.lock();
                (heap.chunks().count(), heap.mapped_count())
            };
            map.chunks.reserve(chunks + 64);
            map.mapped.reserve(mapped + 16);
            if self.lock().map_into(&mut map) {
                return map;
            }
        }
    }
    // ANCHOR_END: global_map

    /// Checks the heap's invariants on a copy of its map (`Heap::check`
    /// would format its error message, which allocates, under the lock).
    pub fn check(&self) -> Result<(), String> {
        let map = self.map();
        map.check()?;
        for (i, c) in map.chunks.iter().enumerate() {
            if !c.addr.is_multiple_of(ALIGN) || !c.size.is_multiple_of(ALIGN) {
                return Err(format!(
                    "chunk {i} at +{} is not aligned",
                    c.addr - map.base
                ));
            }
            if let Some(n) = map.chunks.get(i + 1)
                && !c.used
                && !n.used
                && c.end() == n.addr
            {
                return Err(format!("free chunks {i} and {} touch", i + 1));
            }
        }
        Ok(())
    }
}
