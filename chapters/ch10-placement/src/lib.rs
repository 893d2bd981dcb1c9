//! Chapter 10: placement policies, measured.
//!
//! Chapter 9's heap, with the choice of which free chunk serves a request
//! taken out into a [`Policy`]: first fit, next fit (a roving pointer) and
//! best fit, each a type the heap is generic over, so one allocator serves
//! all three and the race measures them side by side. The shared library in
//! `chapters/ch10-placement/preload` exports the first-fit heap for
//! `LD_PRELOAD`, through the shared C layer, as chapter 9's does.

use allockit::{Behaviour, FreeError, HeapMap, Malloc};
use c_api::{CHeap, Info, Tunable};
use memsource::{ALIGN, MemorySource, Sbrk, align_up, page_size};
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub mod demo;
pub mod exercises;
#[doc(hidden)]
#[path = "../solutions/exercises.rs"]
pub mod solutions;

// ANCHOR: header
/// The bookkeeping at the start of every chunk.
///
/// The program owns the bytes right before a header, and a write past the
/// end of its block lands here. So nothing in a header is trusted before
/// it is checked: `state` is a byte, not a `bool` (reading a `bool` that
/// holds any value other than 0 or 1 is undefined behaviour), and `check`
/// is a hash of the header's address and fields, which the heap computes
/// whenever it writes a header and verifies whenever it reads one.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Header {
    /// Bytes of payload after this header: a multiple of 16.
    size: usize,
    /// The next chunk, or null for the last one.
    next: *mut Header,
    /// [`seal`] of this header's address and fields.
    check: u32,
    /// For a block mapped on its own: bytes of its mapping before this
    /// header (non-zero only for big aligned blocks). 0 otherwise.
    lead: u32,
    /// [`USED`] or [`FREE`]; any other value means the header was overwritten.
    state: u8,
}

/// `state` of a chunk whose payload is handed out.
pub const USED: u8 = 0xA5;
/// `state` of a free chunk.
pub const FREE: u8 = 0x5F;

/// Size of a header: the cost of every block. Still 32 bytes (8 + 8 + 4 +
/// 4 + 1, padded to 16), so a chunk that starts on a 16-byte boundary has
/// its payload on one too.
pub const HEADER: usize = size_of::<Header>();
// ANCHOR_END: header

// ANCHOR: seal
/// The check value of a header at `at` holding these fields. Any change to
/// a header that the heap did not make (an overflow from the block before
/// it, a stray write) changes a field without changing `check`, and is
/// found the next time the heap reads the header (unless the bytes written
/// happen to hash the same: about one chance in four billion).
pub fn seal(at: *const Header, size: usize, next: *const Header, lead: u32, state: u8) -> u32 {
    let x = (at as usize)
        ^ size.rotate_left(23)
        ^ (next as usize).rotate_left(41)
        ^ ((lead as usize) << 8)
        ^ state as usize;
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}
// ANCHOR_END: seal

// ANCHOR: threshold
/// Requests of this many bytes or more get a mapping of their own: glibc's
/// default `M_MMAP_THRESHOLD`.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// When the break cannot grow, the heap grows by mappings of at least this
/// many bytes.
pub const FALLBACK_STEP: usize = 256 * 1024;

/// Each growth of the break asks for this much more than it needs, and
/// freeing keeps this much on top: glibc's default `M_TOP_PAD`. The next
/// requests are served without a system call.
pub const TOP_PAD: usize = 128 * 1024;

/// Free memory on top is given back only when more than this much (beyond
/// the pad) has piled up: glibc's default `M_TRIM_THRESHOLD`.
pub const TRIM_THRESHOLD: usize = 128 * 1024;
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
// 0. Every header the heap reaches is verified (`Heap::valid`) before any
//    of its fields is used: its `check` must equal `seal` of its address
//    and fields, and its `state` must be USED or FREE. A header that fails
//    is never followed; the heap records it (`Heap::corruption`) and the
//    operation fails. Only headers that pass count as chunks below.
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
//    list, `mapped`, in no particular order. Each lies in one whole mapping
//    of its own: `lead` bytes of it before the header, then the header,
//    then `size` bytes of payload to the mapping's end, which is a
//    multiple of a page. Always used (freeing one unmaps it).
// 7. The heap never moves the break down. Memory it gives back stays in
//    the heap, as part of a free chunk, and only its pages go
//    (`MemorySource::release`). `dirty_end` is where written memory ends
//    on the break, as far as the heap knows: it rises past every header
//    written and every block handed out, and falls to where the pages
//    given back begin. (It only decides when giving back is worth a
//    system call: an error in it costs a call, or a page kept, never
//    correctness.)
// 8. What the placement policy remembers (next fit's rover) is null or a
//    chunk in the list: a chunk that stops being one (merged into the
//    chunk before it) is reported to the policy, which lets go of it.
// ANCHOR_END: invariants

// ANCHOR: heap
/// The heap: a singly linked list of chunks over a memory source, placing
/// blocks with policy `P`.
pub struct Heap<S, P = FirstFit> {
    source: S,
    head: *mut Header,
    tail: *mut Header,
    /// Which free chunk serves a request, and what it remembers (invariant 8).
    policy: P,
    /// Blocks mapped on their own (invariant 6).
    mapped: *mut Header,
    /// The first corrupted header found, or 0 (invariant 0).
    corrupt: Cell<usize>,
    /// Where written memory ends on the break (invariant 7).
    dirty_end: usize,
    /// `M_TOP_PAD`, `M_TRIM_THRESHOLD`, `M_MMAP_THRESHOLD`.
    top_pad: usize,
    trim_threshold: usize,
    mmap_threshold: usize,
}
// ANCHOR_END: heap

// SAFETY: the heap owns its chunks exclusively; the raw pointers point into
// memory that only this heap (and the owners of used payloads) touches.
unsafe impl<S: Send, P: Send> Send for Heap<S, P> {}

/// A chunk of a heap, seen while the heap is borrowed.
#[derive(Clone, Copy)]
pub struct Chunk<'h> {
    ptr: NonNull<Header>,
    _heap: PhantomData<&'h ()>,
}

impl Chunk<'_> {
    /// Bytes of payload.
    pub fn size(self) -> usize {
        // SAFETY: invariants 0 and 1: `ptr` is a verified chunk of the
        // borrowed heap, whose headers nobody changes while it is borrowed.
        unsafe { (*self.ptr.as_ptr()).size }
    }

    /// Whether the payload is handed out.
    pub fn is_used(self) -> bool {
        // SAFETY: as in `size`.
        unsafe { (*self.ptr.as_ptr()).state == USED }
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

// ANCHOR: policy
/// A placement policy: which free chunk serves a request. The heap asks
/// `find` on every `malloc` that a free chunk might serve, and tells the
/// policy about the two things that change where a search should look:
/// a chunk chosen, and a chunk merged away.
///
/// # Safety
/// `find` returns only chunks of the heap it is given (from its
/// `chunks()`), never one of another heap: `malloc` checks that the chunk
/// is unused and big enough, but finding out whose it is would take a walk
/// of the whole heap.
pub unsafe trait Policy: Sized {
    /// The policy's name, for tables.
    const NAME: &'static str;

    /// An unused chunk of `heap` with at least `size` bytes, or `None`
    /// (then the heap grows). What the policy remembers is `heap.policy()`.
    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>>;

    /// `malloc` hands out (the front of) chunk `h`.
    fn chosen(&mut self, _h: *mut Header) {}

    /// Chunk `gone` was merged into chunk `into`, and is no chunk any more.
    fn merged(&mut self, _into: *mut Header, _gone: *mut Header) {}

    /// The chunk the policy remembers, if it remembers one: `check`
    /// verifies it is a chunk of the heap (invariant 8).
    fn remembered(&self) -> Option<*mut Header> {
        None
    }
}
// ANCHOR_END: policy

// ANCHOR: first_fit
/// First fit: the first unused chunk, in address order, that is big enough.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstFit;

// SAFETY: `find` returns a chunk of `heap.chunks()`.
unsafe impl Policy for FirstFit {
    const NAME: &'static str = "first fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        heap.chunks().find(|c| !c.is_used() && c.size() >= size)
    }
}
// ANCHOR_END: first_fit

// ANCHOR: next_fit
/// Next fit: first fit, but each search starts where the last one ended
/// (the "roving pointer" Knuth proposes in TAOCP section 2.5), wrapping around to
/// the start of the heap. Searches no longer pile up over the small
/// leftovers at the bottom of the heap.
#[derive(Clone, Copy, Debug)]
pub struct NextFit {
    /// The chunk the last search chose, or null: where the next one starts.
    rover: *mut Header,
}

impl Default for NextFit {
    fn default() -> Self {
        NextFit {
            rover: ptr::null_mut(),
        }
    }
}

// SAFETY: the rover is only an address; the heap that holds it owns the
// chunk it points at, and moves with it.
unsafe impl Send for NextFit {}

// SAFETY: `find` returns a chunk of `heap.chunks_from` or `heap.chunks()`.
unsafe impl Policy for NextFit {
    const NAME: &'static str = "next fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        let rover = heap.policy().rover;
        let fits = |c: &Chunk<'_>| !c.is_used() && c.size() >= size;
        if rover.is_null() {
            return heap.chunks().find(fits);
        }
        // From the rover to the end, then from the start up to the rover.
        heap.chunks_from(rover).find(fits).or_else(|| {
            heap.chunks()
                .take_while(|c| c.addr() != rover.cast_const().cast())
                .find(fits)
        })
    }

    fn chosen(&mut self, h: *mut Header) {
        self.rover = h;
    }

    fn merged(&mut self, into: *mut Header, gone: *mut Header) {
        if self.rover == gone {
            self.rover = into;
        }
    }

    fn remembered(&self) -> Option<*mut Header> {
        (!self.rover.is_null()).then_some(self.rover)
    }
}
// ANCHOR_END: next_fit

// ANCHOR: best_fit
/// Best fit: the smallest unused chunk that is big enough (the first of
/// them in address order), stopping early at an exact fit. Every search
/// that finds no exact fit walks the whole heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct BestFit;

// SAFETY: `find` returns a chunk of `heap.chunks()`.
unsafe impl Policy for BestFit {
    const NAME: &'static str = "best fit";

    fn find<S: MemorySource>(heap: &Heap<S, Self>, size: usize) -> Option<Chunk<'_>> {
        let mut best: Option<Chunk<'_>> = None;
        for c in heap.chunks() {
            if c.is_used() || c.size() < size {
                continue;
            }
            if c.size() == size {
                return Some(c);
            }
            if best.is_none_or(|b| c.size() < b.size()) {
                best = Some(c);
            }
        }
        best
    }
}
// ANCHOR_END: best_fit

/// `p` rounded down to a page.
fn page_down(p: usize) -> usize {
    p & !(page_size() - 1)
}

/// `p` rounded up to a page (saturating at the top of memory).
fn page_up(p: usize) -> usize {
    p.checked_next_multiple_of(page_size())
        .unwrap_or(usize::MAX)
}

impl<S: MemorySource> Heap<S> {
    /// An empty heap over `source`, placing blocks first fit.
    pub const fn new(source: S) -> Self {
        Self::with_policy(source, FirstFit)
    }
}

impl<S: MemorySource, P: Policy> Heap<S, P> {
    /// An empty heap over `source` that places blocks with `policy`.
    /// (A policy promises to return only chunks of this heap, which is
    /// why `Policy` is an unsafe trait; `malloc` checks that the chunk is
    /// unused and big enough.)
    pub const fn with_policy(source: S, policy: P) -> Self {
        Heap {
            source,
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            policy,
            mapped: ptr::null_mut(),
            corrupt: Cell::new(0),
            dirty_end: 0,
            top_pad: TOP_PAD,
            trim_threshold: TRIM_THRESHOLD,
            mmap_threshold: MMAP_THRESHOLD,
        }
    }

    /// The placement policy, with what it remembers.
    pub fn policy(&self) -> &P {
        &self.policy
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

    // ANCHOR: valid
    /// Verifies the header at `h` (invariant 0). If it fails, records it as
    /// the heap's corruption and returns false.
    fn valid(&self, h: *const Header) -> bool {
        let ok = h.is_aligned() && {
            // SAFETY: `h` is the heap's `head`, `tail`, `mapped`, or the
            // `next` of a header that passed this check: memory the heap
            // wrote a header to, which stays mapped and ours (invariants 1,
            // 2 and 6). Every field is an integer or a raw pointer, so any
            // bytes the program may have written there read without
            // undefined behaviour.
            let x = unsafe { h.read() };
            (x.state == USED || x.state == FREE)
                && x.check == seal(h, x.size, x.next, x.lead, x.state)
        };
        if !ok && self.corrupt.get() == 0 {
            self.corrupt.set(h as usize);
        }
        ok
    }

    /// Where a header was found overwritten, if one was.
    pub fn corruption(&self) -> Option<usize> {
        match self.corrupt.get() {
            0 => None,
            at => Some(at),
        }
    }

    /// Writes a whole header at `h`, sealed.
    ///
    /// # Safety
    /// `h` is aligned, in memory of this heap, and the `HEADER` bytes there
    /// belong to the heap (invariant 3).
    unsafe fn put(&mut self, h: *mut Header, size: usize, next: *mut Header, state: u8) {
        // SAFETY: the caller's promise.
        unsafe { self.put_lead(h, size, next, 0, state) }
    }

    /// [`put`](Heap::put), with a `lead` (for mapped blocks).
    ///
    /// # Safety
    /// As for `put`.
    unsafe fn put_lead(
        &mut self,
        h: *mut Header,
        size: usize,
        next: *mut Header,
        lead: u32,
        state: u8,
    ) {
        let check = seal(h, size, next, lead, state);
        // SAFETY: the caller's promise.
        unsafe {
            h.write(Header {
                size,
                next,
                check,
                lead,
                state,
            })
        };
        self.touch(h, size, state);
    }

    /// Changes fields of the verified header `h` and seals it again.
    ///
    /// # Safety
    /// `h` is a chunk of this heap (or a mapped block of it).
    unsafe fn edit(&mut self, h: *mut Header, f: impl FnOnce(&mut Header)) {
        // SAFETY: the caller's promise: a header of ours.
        let (size, next, lead, state) = unsafe {
            f(&mut *h);
            ((*h).size, (*h).next, (*h).lead, (*h).state)
        };
        // SAFETY: as above.
        unsafe { (*h).check = seal(h, size, next, lead, state) };
        self.touch(h, size, state);
    }

    /// Moves `dirty_end` past a header just written (and past its payload,
    /// if that is handed out), when it lies in the break's memory.
    fn touch(&mut self, h: *const Header, size: usize, state: u8) {
        let at = h as usize;
        let in_break = match (self.source.base(), self.source.end()) {
            (Some(b), Some(e)) => (b.as_ptr() as usize..e.as_ptr() as usize).contains(&at),
            _ => false,
        };
        if in_break {
            let end = if state == USED {
                at + HEADER + size
            } else {
                at + HEADER
            };
            self.dirty_end = self.dirty_end.max(end);
        }
    }
    // ANCHOR_END: valid

    /// Every chunk, in list (and address) order. The walk stops at a
    /// header that fails its check (and the heap records it).
    pub fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> + '_ {
        self.chunks_from(self.head)
    }

    /// Every chunk from `at` (a chunk of this heap, or null) to the end.
    fn chunks_from(&self, mut at: *mut Header) -> impl Iterator<Item = Chunk<'_>> + '_ {
        std::iter::from_fn(move || {
            let chunk = NonNull::new(at)?;
            if !self.valid(at) {
                at = ptr::null_mut();
                return None;
            }
            // SAFETY: invariants 0 and 1: `at` is a verified chunk.
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
            && size >= self.mmap_threshold
            && let Some(p) = self.map_block(size)
        {
            return Some((p, true)); // fresh pages are zero
        }
        let found = P::find(self, size)
            .filter(|c| !c.is_used() && c.size() >= size)
            .map(|c| c.ptr.as_ptr());
        if self.corruption().is_some() {
            return None; // the walk met an overwritten header
        }
        if let Some(h) = found {
            self.policy.chosen(h);
            // SAFETY: invariant 1: `h` is a chunk of this heap, and it is
            // unused, so its payload is ours to hand out (invariant 3); it
            // has at least `size` bytes, as just checked.
            unsafe {
                self.split(h, size);
                self.edit(h, |h| h.state = USED);
            }
            return Some((h.cast::<u8>().wrapping_add(HEADER), false));
        }
        self.grow(size)
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
            self.put(r, rest - HEADER, next, FREE);
            self.edit(h, |h| {
                h.size = size;
                h.next = r;
            });
        }
        if self.tail == h {
            self.tail = r;
        }
        // SAFETY: `r` is an unused chunk of this heap.
        unsafe { self.merge_with_next(r) };
    }
    // ANCHOR_END: split

    // ANCHOR: grow
    /// Serves `size` bytes from new memory: the break grown by the chunk
    /// and `top_pad` more (so the next requests need no system call), and
    /// merged with a free chunk on top if it is right below.
    fn grow(&mut self, size: usize) -> Option<(*mut u8, bool)> {
        let need = HEADER.checked_add(size)?;
        let Some((grown, amount)) = self.grow_source(need) else {
            // The break cannot grow (out of memory, or something mapped
            // right above it): try a mapping instead.
            let p = self.grow_mapped(size);
            return (!p.is_null()).then_some((p, true));
        };
        let h = grown.start.as_ptr().cast::<Header>();
        // SAFETY: the source just gave us `amount` bytes at `h`, aligned
        // to 16 (enough for a Header), that nothing else refers to: the
        // `MemorySource` contract, which its `unsafe impl` promises. The new
        // chunk overlaps no chunk, so `link` can place it in order. If the
        // chunk before it is free and touches it, they merge (invariant 5);
        // then the block is no longer all fresh memory.
        unsafe {
            self.put(h, amount - HEADER, ptr::null_mut(), FREE);
            let prev = self.link(h);
            let merged = !prev.is_null() && (*prev).state == FREE && self.merge_with_next(prev);
            let c = if merged { prev } else { h };
            self.split(c, size);
            self.edit(c, |c| c.state = USED);
            Some((c.cast::<u8>().wrapping_add(HEADER), !merged))
        }
    }

    /// Grows the source by `need` bytes plus the top pad, or by `need`
    /// alone if that fails. Returns the new memory and its size.
    fn grow_source(&mut self, need: usize) -> Option<(memsource::Grown, usize)> {
        if let Some(padded) = need.checked_add(self.top_pad).and_then(align_up)
            && let Some(g) = self.source.grow(padded)
        {
            return Some((g, padded));
        }
        let need = align_up(need)?;
        self.source.grow(need).map(|g| (g, need))
    }

    // ANCHOR: link
    /// Links the new chunk `h` into the list in address order, and returns
    /// the chunk before it (null if none). Memory from the break usually
    /// goes at the end, but since the heap can also grow into mappings
    /// (`grow_mapped`), which may lie anywhere, the end is not always the
    /// right place: walk to it.
    ///
    /// # Safety
    /// `h` is a new chunk (its header written, `next` ignored) that
    /// overlaps no chunk of this heap.
    unsafe fn link(&mut self, h: *mut Header) -> *mut Header {
        let mut prev: *mut Header = ptr::null_mut();
        let mut at = self.head;
        // Most often `h` is above the last chunk: check that first.
        if !self.tail.is_null() && (self.tail as usize) < h as usize && self.valid(self.tail) {
            (prev, at) = (self.tail, ptr::null_mut());
        }
        while !at.is_null() && (at as usize) < h as usize && self.valid(at) {
            prev = at;
            // SAFETY: invariants 0 and 1: `at` is a verified chunk.
            at = unsafe { (*at).next };
        }
        if self.corruption().is_some() {
            at = ptr::null_mut(); // never link to an overwritten header
        }
        // SAFETY: `prev` (if not null) is a chunk of this heap; `h` goes
        // between it and `at`, which keeps the list in address order.
        unsafe {
            self.edit(h, |h| h.next = at);
            if prev.is_null() {
                self.head = h;
            } else {
                self.edit(prev, |p| p.next = h);
            }
        }
        if at.is_null() {
            self.tail = h;
        }
        prev
    }
    // ANCHOR_END: link
    // ANCHOR_END: grow

    // ANCHOR: free
    /// Gives a block back: its chunk is marked unused and merged with free
    /// neighbours, and if free memory piles up on top of the heap, its
    /// pages go back to the system. `free(null)` does nothing.
    ///
    /// Any other pointer that is not exactly a payload of this heap is
    /// refused with [`FreeError::NotOurs`], because `free` finds the chunk
    /// by walking the list rather than by trusting the pointer; an
    /// overwritten header on the way is [`FreeError::Corrupt`].
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
        let Some((prev, h)) = self.find(ptr) else {
            return Err(self.refusal());
        };
        // SAFETY: `find` returned verified chunks of this heap (invariant 1).
        unsafe {
            if (*h).state != USED {
                return Err(FreeError::DoubleFree); // leave the heap as it is
            }
            self.edit(h, |h| h.state = FREE);
            self.merge_with_next(h);
            let h = if !prev.is_null() && (*prev).state == FREE && self.merge_with_next(prev) {
                prev // `h` is now part of `prev`
            } else {
                h
            };
            self.release_top(h, self.trim_threshold, self.top_pad);
        }
        if self.corruption().is_some() {
            return Err(FreeError::Corrupt); // a neighbour's header was overwritten
        }
        Ok(())
    }

    /// Why a pointer was not found: an overwritten header on the way, or
    /// none of ours.
    fn refusal(&self) -> FreeError {
        if self.corruption().is_some() {
            FreeError::Corrupt
        } else {
            FreeError::NotOurs
        }
    }
    // ANCHOR_END: free

    // ANCHOR: find
    /// Finds the chunk whose payload is `ptr`, with the chunk before it in
    /// the list (null if none). A singly linked list can only be walked
    /// forwards, so this is a walk from the head, verifying each header.
    fn find(&self, ptr: *mut u8) -> Option<(*mut Header, *mut Header)> {
        let (mut prev, mut at) = (ptr::null_mut(), self.head);
        while !at.is_null() && (at as usize) < ptr as usize && self.valid(at) {
            if at.cast::<u8>().wrapping_add(HEADER) == ptr {
                return Some((prev, at));
            }
            prev = at;
            // SAFETY: invariants 0 and 1: `at` is a verified chunk.
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
        // SAFETY: `h` is a chunk of this heap; `next` is verified before use.
        unsafe {
            let next = (*h).next;
            let end = h.cast::<u8>().wrapping_add(HEADER + (*h).size);
            // Invariant 4: neighbours in the list may have foreign memory
            // between them. Only chunks that touch can merge.
            if next.is_null()
                || !self.valid(next)
                || (*next).state != FREE
                || end != next.cast::<u8>()
            {
                return false;
            }
            let (size, after) = ((*next).size, (*next).next);
            self.edit(h, |h| {
                h.size += HEADER + size;
                h.next = after;
            });
            if self.tail == next {
                self.tail = h;
            }
            self.policy.merged(h, next);
            true
        }
    }
    // ANCHOR_END: merge

    // ANCHOR: trim
    /// If `h` is the free chunk on top of the heap (it ends where our last
    /// growth of the break ended), and more than `threshold` bytes of it
    /// beyond the first `pad` have been written since they were last given
    /// back, gives those pages back to the system (`release`: the memory
    /// stays in the chunk, the break stays where it is). Returns whether it
    /// gave any back.
    ///
    /// # Safety
    /// `h` is a chunk of this heap.
    unsafe fn release_top(&mut self, h: *mut Header, threshold: usize, pad: usize) -> bool {
        // SAFETY: `h` is a chunk of this heap.
        let (size, state) = unsafe { ((*h).size, (*h).state) };
        let end = h as usize + HEADER + size;
        if h != self.tail
            || state != FREE
            || self.source.end().map(|e| e.as_ptr() as usize) != Some(end)
        {
            return false;
        }
        let Some(keep) = (h as usize + HEADER).checked_add(pad) else {
            return false;
        };
        if self.dirty_end.saturating_sub(keep) <= threshold {
            return false; // not enough written above the pad to be worth a system call
        }
        // Whole pages only; never the page the chunk's end falls in, which
        // may hold someone else's memory above our break.
        let from = page_up(keep);
        let to = page_down(end).min(page_up(self.dirty_end));
        if from >= to {
            return false;
        }
        let start = h.cast::<u8>().wrapping_add(from - h as usize);
        // SAFETY: [from, to) lies inside the payload of the free chunk `h`,
        // past its header: memory of this heap that nobody uses (invariant
        // 3), in whole pages.
        let released = unsafe {
            self.source
                .release(NonNull::new_unchecked(start), to - from)
        };
        if released {
            self.dirty_end = from;
        }
        released
    }

    /// `malloc_trim`: gives back every whole free page of every free chunk,
    /// keeping `pad` bytes on top. Returns whether any went back.
    pub fn trim(&mut self, pad: usize) -> bool {
        let mut any = false;
        let mut at = self.head;
        while !at.is_null() && self.valid(at) {
            // SAFETY: invariants 0 and 1: `at` is a verified chunk.
            let (size, state, next) = unsafe { ((*at).size, (*at).state, (*at).next) };
            // SAFETY: `at` is a chunk of this heap.
            if at == self.tail && unsafe { self.release_top(at, 0, pad) } {
                any = true;
            } else if state == FREE {
                let from = page_up(at as usize + HEADER);
                let to = page_down(at as usize + HEADER + size);
                if from < to {
                    let start = at.cast::<u8>().wrapping_add(from - at as usize);
                    // SAFETY: whole pages inside a free chunk's payload:
                    // nobody uses them (invariant 3).
                    any |= unsafe {
                        self.source
                            .release(NonNull::new_unchecked(start), to - from)
                    };
                }
            }
            at = next;
        }
        any
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
        // promises it, even where someone else used the break before us);
        // only a reused chunk needs clearing.
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
    /// when memory runs out. Big requests get a mapping of their own.
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
        if request >= self.mmap_threshold
            && let Some(p) = self.map_aligned(align, size)
        {
            return p;
        }
        // On the heap: the slicing below works on heap chunks.
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
                let (total, next) = ((*h).size, (*h).next);
                self.put(hq, total - front - HEADER, next, USED);
                self.edit(h, |h| {
                    h.size = front;
                    h.next = hq;
                });
                if self.tail == h {
                    self.tail = hq;
                }
                // Give the front back; it merges with a free chunk before it.
                let _ = self.free(p);
            }
        }
        // SAFETY: `hq` is a used chunk of at least `size` bytes that nobody
        // uses yet: its tail beyond `size` goes back to the heap.
        unsafe {
            self.split(hq, size);
            let rest = (*hq).next;
            if !rest.is_null() && self.valid(rest) && (*rest).state == FREE {
                self.release_top(rest, self.trim_threshold, self.top_pad);
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
        // SAFETY: the caller's promise.
        unsafe { self.try_realloc(ptr, size) }.unwrap_or(ptr::null_mut())
    }

    /// [`realloc`](Heap::realloc), telling a pointer that is not a live
    /// block (`Err`) apart from running out of memory (`Ok(null)`).
    ///
    /// # Safety
    /// As for `realloc`.
    pub unsafe fn try_realloc(&mut self, ptr: *mut u8, size: usize) -> Result<*mut u8, FreeError> {
        if ptr.is_null() {
            return Ok(self.malloc(size));
        }
        if size == 0 {
            // SAFETY: the caller gives the block up.
            unsafe { self.free(ptr) }?;
            return Ok(ptr::null_mut());
        }
        let Some(new) = align_up(size) else {
            return Ok(ptr::null_mut());
        };
        if let Some((prev, h)) = self.find_mapped(ptr) {
            // SAFETY: `h` is a live mapping of ours, handed to us to resize.
            let q = unsafe { self.remap_block(prev, h, new) };
            if !q.is_null() {
                return Ok(q);
            }
            // The source cannot remap: fall through to malloc, copy, free.
        } else if let Some((_, h)) = self.find(ptr) {
            // SAFETY: `h` is a verified chunk whose payload is `ptr`.
            if unsafe { (*h).state } != USED {
                return Err(FreeError::NotOurs); // not a live block
            }
            // SAFETY: see `resize_in_place`.
            if unsafe { self.resize_in_place(h, ptr, new) } {
                return Ok(ptr);
            }
        } else {
            return Err(self.refusal());
        }
        // Otherwise: a new block, a copy, and the old block freed.
        let old = self.usable_size(ptr);
        let q = self.malloc(size);
        if q.is_null() {
            return Ok(q); // the old block is untouched
        }
        // SAFETY: both blocks are live and distinct, and each has at least
        // `old.min(size)` bytes.
        unsafe {
            ptr::copy_nonoverlapping(ptr, q, old.min(size));
            self.free(ptr)?;
        }
        Ok(q)
    }

    /// The heap-chunk part of `realloc`: whether the block at `ptr` (chunk
    /// `h`) was resized where it is.
    ///
    /// # Safety
    /// `h` is a used chunk of this heap whose payload is `ptr`, handed to
    /// us to resize to `new` bytes (a multiple of 16).
    unsafe fn resize_in_place(&mut self, h: *mut Header, ptr: *mut u8, new: usize) -> bool {
        let _ = ptr;
        // SAFETY: `h` is a used chunk of this heap (the caller's promise);
        // its payload is handed to us to resize.
        unsafe {
            let old = (*h).size;
            if new <= old {
                self.split(h, new); // shrink in place...
                let rest = (*h).next;
                if !rest.is_null() && self.valid(rest) && (*rest).state == FREE {
                    // ...and give back what was cut off the top
                    self.release_top(rest, self.trim_threshold, self.top_pad);
                }
                return true;
            }
            // Grow in place by absorbing a free chunk right after it...
            let next = (*h).next;
            if !next.is_null()
                && self.valid(next)
                && (*next).state == FREE
                && old + HEADER + (*next).size >= new
                && self.merge_with_next(h)
            {
                self.split(h, new);
                return true;
            }
            // ...or, if it is (or touches the free chunk that is) on top of
            // our last growth, by growing the break.
            let merged = self.merge_with_next(h);
            if self.grow_last(h, new) {
                return true;
            }
            if merged {
                self.split(h, old); // give the free chunk back as it was
            }
        }
        false
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
        let Some((grown, amount)) = self.grow_source(want) else {
            return false;
        };
        if grown.contiguous {
            // SAFETY: the new memory starts where `h` ends; `h` now owns it,
            // and `split` hands back what `new` does not need.
            unsafe {
                self.edit(h, |h| h.size = old + amount);
                self.split(h, new);
            }
            return true;
        }
        // Someone else moved the break since our last growth, so the new
        // memory is not next to `h`: keep it as a free chunk (handing it
        // back would race whoever moved the break).
        let r = grown.start.as_ptr().cast::<Header>();
        // SAFETY: the source gave us `amount` bytes at `r`, aligned to 16,
        // overlapping no chunk; `link` puts the new chunk in order.
        unsafe {
            self.put(r, amount - HEADER, ptr::null_mut(), FREE);
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
        unsafe { self.put(h, len - HEADER, self.mapped, USED) };
        self.mapped = h;
        Some(h.cast::<u8>().wrapping_add(HEADER))
    }

    /// A block of `size` bytes at a multiple of `align` (more than 16), in
    /// a mapping of its own: mapped `align` bytes longer than needed, the
    /// block placed at the first aligned address with room for a header
    /// before it, and the pages before the header's and after the block's
    /// last unmapped again.
    fn map_aligned(&mut self, align: usize, size: usize) -> Option<*mut u8> {
        let page = page_size();
        let len = HEADER
            .checked_add(size)?
            .checked_add(align)?
            .checked_next_multiple_of(page)?;
        let m = self.source.map(len)?.as_ptr();
        let q = m.wrapping_add((m as usize + HEADER).next_multiple_of(align) - m as usize);
        let h = q.wrapping_sub(HEADER).cast::<Header>();
        // Keep the pages from the header's to the block's last; give the
        // rest of the mapping back, before and after.
        let start = m.wrapping_add(page_down(h as usize) - m as usize);
        let end = m.wrapping_add(page_up(q as usize + size) - m as usize);
        let (before, after) = (start as usize - m as usize, m as usize + len - end as usize);
        // SAFETY: both ranges are whole pages at the ends of the mapping we
        // just made, which nothing uses.
        unsafe {
            if before > 0 {
                self.source.unmap(NonNull::new_unchecked(m), before);
            }
            if after > 0 {
                self.source.unmap(NonNull::new_unchecked(end), after);
            }
        }
        let lead = (h as usize - start as usize) as u32; // less than a page
        // SAFETY: `h` lies in the pages kept, aligned to 16, with the
        // block's `size` bytes after its header.
        unsafe {
            self.put_lead(h, end as usize - q as usize, self.mapped, lead, USED);
        }
        self.mapped = h;
        Some(q)
    }

    /// Finds the mapped block whose payload is `ptr`, with the mapped block
    /// before it in the `mapped` list (null if it is the first).
    fn find_mapped(&self, ptr: *mut u8) -> Option<(*mut Header, *mut Header)> {
        let (mut prev, mut at) = (ptr::null_mut(), self.mapped);
        while !at.is_null() && self.valid(at) {
            if at.cast::<u8>().wrapping_add(HEADER) == ptr {
                return Some((prev, at));
            }
            prev = at;
            // SAFETY: invariants 0 and 6: `at` is a verified live mapping.
            at = unsafe { (*at).next };
        }
        None
    }

    /// The start and length of mapped block `h`'s mapping.
    ///
    /// # Safety
    /// `h` is a live mapped block of this heap.
    unsafe fn mapping(h: *mut Header) -> (NonNull<u8>, usize) {
        // SAFETY: invariant 6: the mapping starts `lead` bytes before the
        // header and ends with the payload.
        unsafe {
            let lead = (*h).lead as usize;
            let start = h.cast::<u8>().sub(lead);
            (NonNull::new_unchecked(start), lead + HEADER + (*h).size)
        }
    }

    /// Unlinks mapped block `h` (after `prev`) and gives its mapping back.
    ///
    /// # Safety
    /// `h` is in the `mapped` list after `prev`, and nobody uses its block.
    unsafe fn unmap_block(&mut self, prev: *mut Header, h: *mut Header) {
        // SAFETY: invariant 6: `h` (and `prev`, if not null) are live
        // mappings of ours; after unlinking, nothing refers to `h`.
        unsafe {
            let next = (*h).next;
            self.relink(prev, next);
            let (start, len) = Self::mapping(h);
            self.source.unmap(start, len);
        }
    }

    /// Resizes mapped block `h` (after `prev`) to `new` bytes with the
    /// source's `remap`; returns the new payload, or null if it cannot.
    ///
    /// # Safety
    /// `h` is in the `mapped` list after `prev`, handed to us to resize.
    unsafe fn remap_block(&mut self, prev: *mut Header, h: *mut Header, new: usize) -> *mut u8 {
        // SAFETY: invariant 6: `h` is a live mapping of ours.
        let (start, old, lead) = unsafe {
            let (start, old) = Self::mapping(h);
            (start, old, (*h).lead as usize)
        };
        let Some(len) = (lead + HEADER)
            .checked_add(new)
            .and_then(|n| n.checked_next_multiple_of(page_size()))
        else {
            return ptr::null_mut();
        };
        // SAFETY: invariant 6: a whole live mapping of ours.
        let Some(m) = (unsafe { self.source.remap(start, old, len) }) else {
            return ptr::null_mut();
        };
        // The header moved with the mapping (the same `lead` bytes in); the
        // list must point to it. The payload stays aligned to 16, which is
        // all `realloc` promises.
        let m = m.as_ptr().wrapping_add(lead).cast::<Header>();
        // SAFETY: `m` is the header, moved; `prev` is null or a mapping.
        unsafe {
            let next = (*m).next;
            self.put_lead(m, len - lead - HEADER, next, lead as u32, USED);
            self.relink(prev, m);
        }
        m.cast::<u8>().wrapping_add(HEADER)
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
            unsafe { self.edit(prev, |p| p.next = to) };
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
            self.put(h, len - HEADER, ptr::null_mut(), USED);
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
            // SAFETY: `find` returned a verified chunk of this heap.
            Some((_, h)) if unsafe { (*h).state } == USED => unsafe { (*h).size },
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
        while !at.is_null() && self.valid(at) {
            if map.mapped.len() == map.mapped.capacity() {
                return false;
            }
            // SAFETY: invariants 0 and 6: `at` is a verified live mapping.
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
        while !at.is_null() && self.valid(at) {
            n += 1;
            // SAFETY: invariants 0 and 6: `at` is a verified live mapping.
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
        // Walking the mapped list verifies its headers too.
        let _ = self.mapped_count();
        if let Some(at) = self.corruption() {
            return Err(format!("the header at {at:#x} was overwritten"));
        }
        let last = last.map_or(ptr::null(), |c| c.addr());
        if last != self.tail.cast_const().cast() {
            return Err("`tail` is not the last chunk of the list".into());
        }
        if let Some(r) = self.policy.remembered()
            && !self.chunks().any(|c| c.addr() == r.cast_const().cast())
        {
            return Err(format!("the policy remembers {r:#x?}, which is no chunk"));
        }
        Ok(())
    }
    // ANCHOR_END: check
}

// ANCHOR: conformance
impl<S: MemorySource, P: Policy> Malloc for Heap<S, P> {
    const NAME: &'static str = P::NAME;
    /// Every behaviour of the suite, as from chapter 6 on.
    const BEHAVIOURS: &'static [Behaviour] = &Behaviour::ALL;
    // ANCHOR_END: conformance

    /// Free memory on top up to the pad is kept, and up to the trim
    /// threshold more until it is worth a system call (as in glibc).
    const KEEPS: usize = TOP_PAD + TRIM_THRESHOLD;

    fn held(&self) -> usize {
        // Pages at or above `dirty_end` were never touched or were given
        // back (invariant 7).
        let untouched = match self.source.end() {
            Some(end) => page_down(end.as_ptr() as usize).saturating_sub(page_up(self.dirty_end)),
            None => 0,
        };
        Heap::map(self).len().saturating_sub(untouched)
    }

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
/// static HEAP: ch10_placement::Global = ch10_placement::Global::new();
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
        FreeError::NotOurs => b"ch10: dealloc of a pointer this heap never gave out; aborting\n",
        FreeError::DoubleFree => b"ch10: dealloc of a block that is already free; aborting\n",
        FreeError::Corrupt => b"ch10: dealloc found a corrupted chunk header; aborting\n",
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

impl Global {
    // ANCHOR: with
    /// Runs `f` on the locked heap. `f` must not allocate: an allocation
    /// would come back here and wait for the lock this thread holds.
    pub fn with<R>(&self, f: impl FnOnce(&mut Heap<Sbrk>) -> R) -> R {
        f(&mut self.lock())
    }
    // ANCHOR_END: with
}

impl<S: MemorySource, P: Policy> Heap<S, P> {
    /// Bytes from the start of the heap on the break to its end (without
    /// allocating).
    pub fn map_len(&self) -> usize {
        match (self.source.base(), self.source.end()) {
            (Some(b), Some(e)) => (e.as_ptr() as usize).saturating_sub(b.as_ptr() as usize),
            _ => 0,
        }
    }

    /// The heap's totals, counted without allocating (for reports made
    /// where allocating is not allowed).
    pub fn totals(&self) -> (allockit::Totals, usize) {
        let mut t = allockit::Totals::default();
        for c in self.chunks() {
            t.header_bytes += HEADER;
            if c.is_used() {
                t.used_chunks += 1;
                t.used_bytes += c.size();
            } else {
                t.free_chunks += 1;
                t.free_bytes += c.size();
            }
        }
        (t, self.mapped_count())
    }
}

// ANCHOR: cheap
// The C layer (the `c-api` crate) over this heap: each method is the
// heap's own, under the name the C layer expects.
impl<S: MemorySource + Send, P: Policy + Send> CHeap for Heap<S, P> {
    fn malloc(&mut self, size: usize) -> *mut u8 {
        Heap::malloc(self, size)
    }

    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        // SAFETY: the caller makes the same promise to us.
        unsafe { Heap::free(self, ptr) }
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        Heap::calloc(self, count, size)
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Result<*mut u8, FreeError> {
        // SAFETY: the caller makes the same promise to us.
        unsafe { Heap::try_realloc(self, ptr, size) }
    }

    fn memalign(&mut self, align: usize, size: usize) -> *mut u8 {
        Heap::memalign(self, align, size)
    }

    fn usable_size(&self, ptr: *const u8) -> Option<usize> {
        Some(Heap::usable_size(self, ptr)).filter(|&n| n > 0)
    }

    fn corruption(&self) -> Option<usize> {
        Heap::corruption(self)
    }

    fn footprint(&self) -> usize {
        self.map_len()
    }

    fn info(&self) -> Info {
        let (t, mapped_blocks) = self.totals();
        let mut mapped_bytes = 0;
        let mut at = self.mapped;
        while !at.is_null() && self.valid(at) {
            // SAFETY: invariants 0 and 6: `at` is a verified live mapping.
            unsafe {
                mapped_bytes += Self::mapping(at).1;
                at = (*at).next;
            }
        }
        let top_free = match self.chunks().last() {
            Some(c)
                if !c.is_used()
                    && self.source.end().map(|e| e.as_ptr().cast_const())
                        == Some(c.payload().wrapping_add(c.size())) =>
            {
                c.size()
            }
            _ => 0,
        };
        Info {
            heap_bytes: t.header_bytes + t.used_bytes + t.free_bytes,
            used_chunks: t.used_chunks,
            used_bytes: t.used_bytes,
            free_chunks: t.free_chunks,
            free_bytes: t.free_bytes,
            top_free,
            mapped_blocks,
            mapped_bytes,
        }
    }

    fn trim(&mut self, pad: usize) -> bool {
        Heap::trim(self, pad)
    }

    fn tune(&mut self, what: Tunable, value: usize) -> bool {
        let Some(value) = align_up(value) else {
            return false;
        };
        match what {
            Tunable::TrimThreshold => self.trim_threshold = value,
            Tunable::TopPad => self.top_pad = value,
            Tunable::MmapThreshold => self.mmap_threshold = value.max(HEADER),
        }
        true
    }
}
// ANCHOR_END: cheap
