//! Chapter 11: explicit free lists and boundary tags.
//!
//! Chapter 9's hardened heap, with its search replaced. Only free chunks
//! are on a list, doubly linked through their payloads; a free chunk ends
//! with a copy of its size (a footer, Knuth's boundary tag), and every
//! header says whether the chunk before it is used. So `free` finds both
//! neighbours by address arithmetic and merges with them in constant time,
//! and `malloc` looks at free chunks only. Memory comes in regions, each
//! ended by a fence that also records where the region starts.

use allockit::{Behaviour, FreeError, HeapMap, Malloc, TagMap, Tags};
use c_api::{CHeap, Info, Tunable};
use memsource::{ALIGN, MemorySource, Sbrk, align_up, page_size};
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::mem::size_of;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub mod demo;
pub mod exercises;
#[doc(hidden)]
#[path = "../solutions/exercises.rs"]
pub mod solutions;

// ANCHOR: header
/// The bookkeeping at the start of every chunk: 16 bytes.
///
/// Chapter 3's header was `{size, used, next}`. Chapter 9 sealed it with a
/// `check` value and grew it to 32 bytes. Here the `next` pointer is gone
/// (the next chunk in memory is at `h + HEADER + size`), and the two
/// states fit in the low bits of `size`, which is a multiple of 16 and so
/// has four bits to spare.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Bytes of payload after this header (a multiple of 16), with
    /// [`USED`] and [`PREV_USED`] in the low bits.
    size: usize,
    /// [`seal`] of this header's address and fields.
    check: u32,
    /// For a block mapped on its own: bytes of its mapping before this
    /// header. For a fence: the seal of its region record. 0 otherwise.
    lead: u32,
}

/// Flag in `size`: this chunk's payload is handed out.
pub const USED: usize = 1;
/// Flag in `size`: the chunk right before this one in memory is used (or
/// there is none), so there is no footer to read before this header.
pub const PREV_USED: usize = 2;
/// The bits of `size` that are flags.
const FLAGS: usize = ALIGN - 1;

/// Size of a header.
pub const HEADER: usize = size_of::<Header>();

/// The links of a free chunk, in the first 16 bytes of its payload: the
/// chunks before and after it on the free list (null at the ends).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Links {
    /// The chunk before this one on the list, or null for the first.
    pub prev: *mut Header,
    /// The chunk after this one on the list, or null for the last.
    pub next: *mut Header,
}

/// Bytes of links at the start of a free payload.
pub const LINKS: usize = size_of::<Links>();

/// Bytes of the footer at the end of a free payload: a copy of its size.
pub const FOOTER: usize = size_of::<usize>();

/// The smallest payload: a free chunk must hold its links and its footer
/// (24 bytes, rounded up to 16). So the smallest chunk is 48 bytes.
pub const MIN_PAYLOAD: usize = 32;
// ANCHOR_END: header

impl Header {
    /// Bytes of payload.
    #[inline]
    pub fn size(&self) -> usize {
        self.size & !FLAGS
    }

    /// Whether the payload is handed out.
    #[inline]
    pub fn is_used(&self) -> bool {
        self.size & USED != 0
    }

    /// Whether the chunk right before this one is used (or there is none).
    #[inline]
    pub fn prev_used(&self) -> bool {
        self.size & PREV_USED != 0
    }
}

/// The links of the free chunk `h` (where they would be: nothing is read).
#[inline]
pub fn links(h: *mut Header) -> *mut Links {
    h.wrapping_add(1).cast()
}

/// Where the footer of chunk `h` of `size` payload bytes is (nothing is
/// read): the last 8 bytes of its payload.
#[inline]
pub fn footer(h: *mut Header, size: usize) -> *mut usize {
    h.cast::<u8>().wrapping_add(HEADER + size - FOOTER).cast()
}

// ANCHOR: fence
/// The end of a region: a header that says "used, no payload", so that the
/// last chunk has a used neighbour after it and `free` never looks past
/// the region, then the region's record: where it starts, and the next
/// region's fence. 32 bytes per region.
#[repr(C)]
struct Fence {
    header: Header,
    /// The fence of the next region in the heap's list, or null.
    next: *mut Header,
    /// The region's first chunk.
    start: *mut u8,
}

/// Size of a fence.
pub const FENCE: usize = size_of::<Fence>();
// ANCHOR_END: fence

// ANCHOR: seal
/// The check value of a header at `at` holding these fields. A change to a
/// header that the heap did not make changes a field without changing
/// `check`, and is found the next time the heap reads the header (unless
/// the bytes written happen to hash the same: about one chance in four
/// billion).
#[inline]
pub fn seal(at: *const Header, size: usize, lead: u32) -> u32 {
    mix((at as usize) ^ size.rotate_left(23) ^ ((lead as usize) << 7))
}

/// The seal of a region record (a fence's `next` and `start`), kept in the
/// fence header's `lead`, so that the header's own seal covers it too.
#[inline]
fn seal_region(at: *const Header, next: *const Header, start: *const u8) -> u32 {
    mix((at as usize).rotate_left(11) ^ (next as usize).rotate_left(29) ^ start as usize)
}

#[inline]
fn mix(x: usize) -> u32 {
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}
// ANCHOR_END: seal

// ANCHOR: threshold
/// Requests of this many bytes or more get a mapping of their own: glibc's
/// default `M_MMAP_THRESHOLD`.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// When the break cannot grow, the heap grows by mappings of at least this
/// many bytes, and at least as many as all its earlier such mappings
/// together: a heap of n bytes then has O(log n) regions, and the search
/// for a pointer's region stays short.
pub const FALLBACK_STEP: usize = 256 * 1024;

/// Each growth of the break asks for this much more than it needs, and
/// freeing keeps this much on top: glibc's default `M_TOP_PAD`.
pub const TOP_PAD: usize = 128 * 1024;

/// Free memory on top is given back only when more than this much (beyond
/// the pad) has piled up: glibc's default `M_TRIM_THRESHOLD`.
pub const TRIM_THRESHOLD: usize = 128 * 1024;
// ANCHOR_END: threshold

// ANCHOR: invariants
// The heap's invariants. Every `unsafe` block below relies on them, and
// `Heap::check` verifies them by walking every region and the free list.
//
// 0. Every header the heap reaches is verified (`Heap::header`) before any
//    of its fields is used: its address must lie in memory of the heap,
//    and its `check` must equal `seal` of its address and fields. A header
//    that fails is never followed; the heap records it (`corruption`) and
//    the operation fails, changing nothing.
// 1. Memory is in regions. Following `next` from the fence `regions`
//    visits each region's fence once. A region runs from its `start` to
//    the end of its fence; its chunks tile it exactly: the first is at
//    `start`, each next one at `h + HEADER + size`, and the last ends
//    where the fence begins. The fence's `lead` is `seal_region` of its
//    record. Regions do not overlap. `top` is null or the fence of the
//    region that ends where the source's latest growth ended.
// 2. Every chunk starts on a 16-byte boundary; its size is a multiple of
//    16 and at least MIN_PAYLOAD, so payloads are aligned to 16 and a
//    free one has room for its links and footer.
// 3. PREV_USED is set in a header (the fence's too) exactly when the chunk
//    right before it is used, or when it is the first of its region.
// 4. A free chunk's footer (its payload's last 8 bytes) holds its size,
//    its links are in its payload's first 16 bytes, and it is on the free
//    list exactly once. No two free chunks touch: `free` merges them.
// 5. The free list, from `free`, is doubly linked: the first chunk's
//    `prev` is null, and for every chunk `a` with `a.next = b`, `b.prev`
//    is `a`. With `Order::Address` it is in increasing address order.
// 6. A header that stops being one (merged into the chunk before it) is
//    left sealed and free, so a late second `free` of its block is still
//    a double free (until its page is given back: then it reads as zero,
//    and is refused as not ours). Only free headers are ever absorbed.
// 7. Blocks mapped on their own are in a list of their own, `mapped`:
//    each mapping holds `lead` bytes, the last 16 of them a `MapLink`,
//    then the header, then the payload to the mapping's end.
// 8. The heap never moves the break down. Pages it gives back stay inside
//    a free chunk, past its links and before its footer, and read as zero
//    afterwards. `dirty_end` is where written memory on the break ends, as
//    far as the heap knows (an error in it costs a system call or a page
//    kept, never correctness).
// ANCHOR_END: invariants

// ANCHOR: heap
/// The order in which freed chunks go on the free list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The most recently freed first: pushing is constant time.
    Lifo,
    /// Increasing address: `free` walks the list to find the place (unless
    /// the chunk merged with a neighbour, which already has one).
    Address,
}

/// The heap: regions of chunks, and a doubly linked list of the free ones.
pub struct Heap<S> {
    source: S,
    /// The fence of the newest region (invariant 1).
    regions: *mut Header,
    /// The fence of the region on top of the break, or null.
    top: *mut Header,
    /// The first chunk on the free list, or null (invariant 5).
    free: *mut Header,
    order: Order,
    /// Blocks mapped on their own (invariant 7).
    mapped: *mut Header,
    /// Bytes of the regions made of mappings (the break could not grow).
    mapped_regions: usize,
    /// The first corrupted header found, or 0 (invariant 0).
    corrupt: Cell<usize>,
    /// Where written memory ends on the break (invariant 8).
    dirty_end: usize,
    /// `M_TOP_PAD`, `M_TRIM_THRESHOLD`, `M_MMAP_THRESHOLD`.
    top_pad: usize,
    trim_threshold: usize,
    mmap_threshold: usize,
}
// ANCHOR_END: heap

// SAFETY: the heap owns its chunks exclusively; the raw pointers point into
// memory that only this heap (and the owners of used payloads) touches.
unsafe impl<S: Send> Send for Heap<S> {}

/// A region, as read from its verified fence.
#[derive(Debug, Clone, Copy)]
struct Region {
    start: *mut u8,
    fence: *mut Header,
}

impl Region {
    /// Whether a header at `h` would lie inside this region, before its
    /// fence, on a 16-byte boundary.
    #[inline]
    fn holds(self, h: usize) -> bool {
        h.is_multiple_of(ALIGN)
            && self.start as usize <= h
            && h.checked_add(HEADER)
                .is_some_and(|e| e <= self.fence as usize)
    }

    /// The address `h` inside this region, as a pointer derived from the
    /// region's own (so it may be used for this region's memory).
    #[inline]
    fn at(self, h: usize) -> *mut Header {
        self.start
            .wrapping_add(h.wrapping_sub(self.start as usize))
            .cast()
    }
}

/// A chunk, as a heap walk sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Address of the header.
    pub addr: usize,
    /// Bytes of payload.
    pub size: usize,
    /// Whether the payload is handed out.
    pub used: bool,
    /// The header's PREV_USED bit.
    pub prev_used: bool,
}

impl Chunk {
    /// Address of the payload.
    pub fn payload(&self) -> usize {
        self.addr + HEADER
    }

    /// One past the chunk's last byte: the next chunk's header.
    pub fn end(&self) -> usize {
        self.addr + HEADER + self.size
    }
}

/// The 16 bytes before a mapped block's header: the next mapped block, and
/// a seal of that link.
#[repr(C)]
struct MapLink {
    next: *mut Header,
    check: usize,
}

/// Bytes of a [`MapLink`].
const MAPLINK: usize = size_of::<MapLink>();

fn seal_link(at: *const Header, next: *const Header) -> usize {
    mix((at as usize).rotate_left(5) ^ (next as usize).rotate_left(37)) as usize | 1
}

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
    /// An empty heap over `source`, its free list most recently freed first.
    pub const fn new(source: S) -> Self {
        Self::with_order(source, Order::Lifo)
    }

    /// An empty heap over `source` whose free list is kept in `order`.
    pub const fn with_order(source: S, order: Order) -> Self {
        Heap {
            source,
            regions: ptr::null_mut(),
            top: ptr::null_mut(),
            free: ptr::null_mut(),
            order,
            mapped: ptr::null_mut(),
            mapped_regions: 0,
            corrupt: Cell::new(0),
            dirty_end: 0,
            top_pad: TOP_PAD,
            trim_threshold: TRIM_THRESHOLD,
            mmap_threshold: MMAP_THRESHOLD,
        }
    }

    /// The memory source, so tests can play "someone else" moving the break.
    ///
    /// # Safety
    /// Growing the source is harmless. Shrinking it, or otherwise handing
    /// back memory, must not touch memory of this heap's regions.
    pub unsafe fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// The order of the free list.
    pub fn order(&self) -> Order {
        self.order
    }

    // ANCHOR: valid
    /// Records `at` as the heap's corruption (the first one found stays),
    /// and returns `None`, for `?`.
    fn fail<T>(&self, at: usize) -> Option<T> {
        if self.corrupt.get() == 0 {
            self.corrupt.set(at.max(1));
        }
        None
    }

    /// Where a header was found overwritten, if one was.
    pub fn corruption(&self) -> Option<usize> {
        match self.corrupt.get() {
            0 => None,
            at => Some(at),
        }
    }

    /// The header at `h`, verified (invariant 0), or `None` (recorded as
    /// corruption).
    ///
    /// # Safety
    /// `h` is 16-aligned, and the 16 bytes there are memory of this heap:
    /// inside a region (before its fence, or the fence itself) or in a
    /// mapping of its own.
    unsafe fn header(&self, h: *const Header) -> Option<Header> {
        // SAFETY: the caller's promise. Every field is an integer, so any
        // bytes the program may have written there read without undefined
        // behaviour.
        let x = unsafe { h.read() };
        if x.check == seal(h, x.size, x.lead) {
            Some(x)
        } else {
            self.fail(h as usize)
        }
    }

    /// The header of the block whose header a caller's pointer puts at `h`
    /// (for `free` and `realloc`), verified. Sixteen zero bytes are refused
    /// as [`FreeError::NotOurs`] without being recorded: the heap never
    /// writes such a header, and they are what a header reads as once its
    /// page was given back (a block freed, merged into a free chunk whose
    /// pages then went back, and freed again). Anything else that fails
    /// its seal is recorded as corruption.
    ///
    /// # Safety
    /// As for [`header`](Heap::header).
    unsafe fn block_header(&self, h: *const Header) -> Result<Header, FreeError> {
        // SAFETY: the caller's promise, as in `header`.
        let x = unsafe { h.read() };
        if x.check == seal(h, x.size, x.lead) {
            Ok(x)
        } else if x.size == 0 && x.check == 0 && x.lead == 0 {
            Err(FreeError::NotOurs)
        } else {
            self.fail::<()>(h as usize);
            Err(FreeError::Corrupt)
        }
    }

    /// Writes a whole header at `h`, sealed.
    ///
    /// # Safety
    /// `h` is 16-aligned, in memory of this heap, and the 16 bytes there
    /// belong to the heap (they are not in a used payload).
    unsafe fn put(&mut self, h: *mut Header, size: usize, lead: u32) {
        let check = seal(h, size, lead);
        // SAFETY: the caller's promise.
        unsafe { h.write(Header { size, check, lead }) };
        self.touch(h as usize + HEADER);
    }

    /// Sets or clears PREV_USED in the verified header `h`, sealed again.
    ///
    /// # Safety
    /// `h` is a chunk (or fence) of this heap, verified.
    unsafe fn set_prev_used(&mut self, h: *mut Header, used: bool) {
        // SAFETY: the caller's promise.
        let x = unsafe { h.read() };
        let size = if used {
            x.size | PREV_USED
        } else {
            x.size & !PREV_USED
        };
        let check = seal(h, size, x.lead);
        // SAFETY: as above: a header of ours. (Not `put`: this may be the
        // fence on the region's last page, which `dirty_end` leaves out.)
        unsafe {
            h.write(Header {
                size,
                check,
                lead: x.lead,
            })
        };
    }

    /// Moves `dirty_end` up to `end`, if that lies in the break's memory.
    fn touch(&mut self, end: usize) {
        if let (Some(b), Some(e)) = (self.source.base(), self.source.end())
            && (b.as_ptr() as usize) < end
            && end <= e.as_ptr() as usize
        {
            self.dirty_end = self.dirty_end.max(end);
        }
    }
    // ANCHOR_END: valid

    // ANCHOR: regions
    /// The region whose fence is `f`, and the next fence, verified.
    fn region(&self, f: *mut Header) -> Option<(Region, *mut Header)> {
        if !f.is_aligned() {
            return self.fail(f as usize);
        }
        // SAFETY: `f` is `regions`, `top` or the `next` of a verified fence
        // (invariant 1): the fence of one of our regions.
        let x = unsafe { self.header(f)? };
        // SAFETY: as above; the record follows the fence's header.
        let (next, start) = unsafe {
            let rec = f.cast::<Fence>();
            ((*rec).next, (*rec).start)
        };
        if x.size & !PREV_USED != USED
            || x.lead != seal_region(f, next, start)
            || start as usize > f as usize
            || !(start as usize).is_multiple_of(ALIGN)
        {
            return self.fail(f as usize);
        }
        Some((Region { start, fence: f }, next))
    }

    /// Every region, newest first. The walk stops at a fence that fails
    /// its check (and the heap records it).
    fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        let mut f = self.regions;
        std::iter::from_fn(move || {
            if f.is_null() {
                return None;
            }
            let (r, next) = self.region(f)?;
            f = next;
            Some(r)
        })
    }

    /// The region in which a header at `h` would lie, if any. A short walk:
    /// a heap has a region per stretch of memory it could not grow
    /// contiguously, usually one or two.
    fn region_of(&self, h: usize) -> Option<Region> {
        self.regions().find(|r| r.holds(h))
    }
    // ANCHOR_END: regions

    // ANCHOR: links
    /// The size of the free chunk `to` that the link of `from` (null: the
    /// list head) points to, after checking that the link may be followed:
    /// `to` lies in a region, on a 16-byte boundary, and holds a verified,
    /// free header whose payload fits in the region.
    fn linked(&self, from: *mut Header, to: *mut Header) -> Option<(usize, Region)> {
        let Some(r) = self.region_of(to as usize) else {
            return self.fail(if from.is_null() { to } else { from } as usize);
        };
        let to = r.at(to as usize);
        // SAFETY: `to` lies in region `r`, aligned (`holds`).
        let x = unsafe { self.header(to)? };
        let fits = (to as usize + HEADER)
            .checked_add(x.size())
            .is_some_and(|e| e <= r.fence as usize);
        if x.is_used() || x.size() < MIN_PAYLOAD || !fits {
            return self.fail(to as usize);
        }
        Some((x.size(), r))
    }

    /// The links of the free chunk `c`, after checking both ways: the chunk
    /// each points to is a free chunk whose link points back at `c` (glibc's
    /// "corrupted double-linked list" check), or, for the first chunk, the
    /// list head is `c`.
    fn check_links(&self, c: *mut Header) -> Option<Links> {
        // SAFETY: `c` is a verified free chunk of ours, so its payload (at
        // least MIN_PAYLOAD bytes) is the heap's (invariants 2 and 4).
        let l = unsafe { links(c).read() };
        if !l.next.is_null() {
            self.linked(c, l.next)?;
            // SAFETY: just verified: a free chunk of ours.
            if unsafe { (*links(l.next)).prev } != c {
                return self.fail(c as usize);
            }
        }
        if l.prev.is_null() {
            if self.free != c {
                return self.fail(c as usize);
            }
        } else {
            self.linked(c, l.prev)?;
            // SAFETY: as above.
            if unsafe { (*links(l.prev)).next } != c {
                return self.fail(c as usize);
            }
        }
        Some(l)
    }

    /// Takes the free chunk `c` off the list.
    ///
    /// # Safety
    /// `c` is on the list and [`check_links`](Heap::check_links) passed
    /// for it since the list last changed.
    unsafe fn unlink(&mut self, c: *mut Header) {
        // SAFETY: the caller's promise: `c` and its neighbours on the list
        // are verified free chunks of ours.
        unsafe {
            let Links { prev, next } = links(c).read();
            if prev.is_null() {
                self.free = next;
            } else {
                (*links(prev)).next = next;
            }
            if !next.is_null() {
                (*links(next)).prev = prev;
            }
        }
    }

    /// Puts the free chunk `new` on the list where `old` is, and takes
    /// `old` off.
    ///
    /// # Safety
    /// As for [`unlink`](Heap::unlink), for `old`; `new` is a free chunk
    /// of ours, not on the list.
    unsafe fn replace(&mut self, old: *mut Header, new: *mut Header) {
        // SAFETY: the caller's promise.
        unsafe {
            let l = links(old).read();
            links(new).write(l);
            if l.prev.is_null() {
                self.free = new;
            } else {
                (*links(l.prev)).next = new;
            }
            if !l.next.is_null() {
                (*links(l.next)).prev = new;
            }
        }
        self.touch(new as usize + HEADER + LINKS);
    }

    /// Puts the free chunk `c` on the list, where the heap's order says.
    /// Returns false (changing nothing) if the walk to the place met a
    /// bad link.
    ///
    /// # Safety
    /// `c` is a free chunk of ours, not on the list.
    unsafe fn insert(&mut self, c: *mut Header) -> bool {
        let (mut prev, mut next) = (ptr::null_mut::<Header>(), self.free);
        if self.order == Order::Address {
            while !next.is_null() && (next as usize) < c as usize {
                if self.linked(prev, next).is_none() {
                    return false;
                }
                prev = next;
                // SAFETY: `next` was just verified as a free chunk of ours.
                next = unsafe { (*links(next)).next };
            }
        }
        if !next.is_null() && self.linked(prev, next).is_none() {
            return false;
        }
        // SAFETY: `prev` and `next` are null or verified free chunks of
        // ours, neighbours on the list; `c` goes between them.
        unsafe {
            links(c).write(Links { prev, next });
            if prev.is_null() {
                self.free = c;
            } else {
                (*links(prev)).next = c;
            }
            if !next.is_null() {
                (*links(next)).prev = c;
            }
        }
        self.touch(c as usize + HEADER + LINKS);
        true
    }
    // ANCHOR_END: links

    // ANCHOR: malloc
    /// A block of at least `size` bytes aligned to 16, or null when memory
    /// runs out, `size` is too large, or the heap was found corrupted.
    pub fn malloc(&mut self, size: usize) -> *mut u8 {
        self.allocate(size, true)
            .map_or(ptr::null_mut(), |(p, _)| p)
    }

    /// The payload size a request of `size` bytes gets.
    fn payload_for(size: usize) -> Option<usize> {
        Some(align_up(size.max(1))?.max(MIN_PAYLOAD))
    }

    /// `malloc`, also telling whether the block is fresh from the source,
    /// and so already zero. Big blocks get a mapping of their own if
    /// `may_map`.
    fn allocate(&mut self, size: usize, may_map: bool) -> Option<(*mut u8, bool)> {
        if self.corruption().is_some() {
            return None;
        }
        let size = Self::payload_for(size)?;
        if may_map
            && size >= self.mmap_threshold
            && let Some(p) = self.map_block(size)
        {
            return Some((p, true)); // fresh pages are zero
        }
        if let Some(c) = self.first_fit(size)? {
            return Some((self.take(c, size, true)?, false));
        }
        let (c, fresh) = self.grow(size)?;
        Some((self.take(c, size, false)?, fresh))
    }

    /// First fit: the first chunk on the free list with at least `size`
    /// bytes. `None` if a link on the way is bad (recorded), `Some(None)`
    /// if no free chunk is big enough.
    fn first_fit(&self, size: usize) -> Option<Option<*mut Header>> {
        let (mut prev, mut at) = (ptr::null_mut::<Header>(), self.free);
        while !at.is_null() {
            let (have, r) = self.linked(prev, at)?;
            let at_ = r.at(at as usize);
            // SAFETY: `at_` is a verified free chunk of ours (`linked`).
            if unsafe { (*links(at_)).prev } != prev {
                return self.fail(at as usize);
            }
            if have >= size {
                return Some(Some(at_));
            }
            prev = at_;
            // SAFETY: as above.
            at = unsafe { (*links(at_)).next };
        }
        Some(None)
    }
    // ANCHOR_END: malloc

    // ANCHOR: take
    /// Hands out the free chunk `c` for `size` payload bytes: cut in two if
    /// the rest can be a chunk of its own, which then takes `c`'s place on
    /// the list (or goes on it, if `c` was not `listed`).
    fn take(&mut self, c: *mut Header, size: usize, listed: bool) -> Option<*mut u8> {
        // SAFETY: `c` is a verified free chunk of ours (the callers').
        let x = unsafe { c.read() };
        let total = x.size();
        let flags = x.size & PREV_USED;
        let end = c as usize + HEADER + total;
        if listed {
            self.check_links(c)?;
        }
        if total - size >= HEADER + MIN_PAYLOAD {
            let r = c.cast::<u8>().wrapping_add(HEADER + size).cast::<Header>();
            let rest = total - size - HEADER;
            // SAFETY: `r` lies inside `c`'s payload, past the `size` bytes
            // handed out, aligned; the rest of the payload is the heap's.
            // The chunk after `c` keeps PREV_USED clear: `r` is free.
            unsafe {
                self.put(r, rest | PREV_USED, 0);
                footer(r, rest).write(rest);
                if listed {
                    self.replace(c, r);
                } else if !self.insert(r) {
                    return None;
                }
                self.put(c, size | USED | flags, 0);
            }
        } else {
            let next = c.cast::<u8>().wrapping_add(HEADER + total).cast::<Header>();
            // SAFETY: `next` is the chunk or fence after `c`, in the same
            // region (invariant 1); verified before it changes.
            unsafe {
                self.header(next)?;
                if listed {
                    self.unlink(c);
                }
                self.put(c, total | USED | flags, 0);
                self.set_prev_used(next, true);
            }
        }
        // The block handed out ends at the rest's header, or at `end`.
        self.touch(if total - size >= HEADER + MIN_PAYLOAD {
            c as usize + HEADER + size
        } else {
            end
        });
        Some(c.cast::<u8>().wrapping_add(HEADER))
    }
    // ANCHOR_END: take

    // ANCHOR: grow
    /// New memory for a chunk of `size` bytes: the break grown by the chunk
    /// and `top_pad` more. Returns a free chunk that is not on the list
    /// and has no footer yet (so that fresh memory stays zero for `calloc`),
    /// and whether its payload is all fresh memory.
    fn grow(&mut self, size: usize) -> Option<(*mut Header, bool)> {
        let need = size.checked_add(HEADER + FENCE)?;
        let Some((grown, amount)) = self.grow_source(need) else {
            // The break cannot grow: a mapping becomes a region instead, as
            // big as all earlier ones together (so they stay few), or if
            // that cannot be had, as big as needed.
            let least = need
                .max(FALLBACK_STEP)
                .checked_next_multiple_of(page_size())?;
            let want = least.max(self.mapped_regions);
            let (m, len) = match self.source.map(want) {
                Some(m) => (m, want),
                None if want > least => (self.source.map(least)?, least),
                None => return None,
            };
            self.mapped_regions = self.mapped_regions.saturating_add(len);
            // SAFETY: the mapping is `len` bytes, page-aligned and ours.
            return unsafe { Some((self.new_region(m.as_ptr(), len, false), true)) };
        };
        let start = grown.start.as_ptr();
        if grown.contiguous && !self.top.is_null() && self.top as usize + FENCE == start as usize {
            // SAFETY: the memory right after `top`'s region is ours now.
            return unsafe { self.extend_top(amount) };
        }
        // SAFETY: the source gave us `amount` bytes at `start`, aligned,
        // that nothing else refers to (the `MemorySource` contract).
        unsafe { Some((self.new_region(start, amount, true), true)) }
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

    /// Makes the `len` bytes at `start` a region: one free chunk (not on
    /// the list, and without its footer yet), returned, and a fence. A
    /// region on the break becomes `top`.
    ///
    /// # Safety
    /// The `len` bytes at `start` (aligned to 16, at least HEADER +
    /// MIN_PAYLOAD + FENCE of them) are ours and nothing refers to them.
    unsafe fn new_region(&mut self, start: *mut u8, len: usize, on_break: bool) -> *mut Header {
        let c = start.cast::<Header>();
        let f = start.wrapping_add(len - FENCE).cast::<Header>();
        let size = len - HEADER - FENCE;
        // SAFETY: the caller's promise: all of it is ours.
        unsafe {
            self.put_fence(f, 0, self.regions, start);
            self.put(c, size | PREV_USED, 0);
        }
        self.regions = f;
        if on_break {
            self.top = f;
        }
        c
    }

    /// Writes the fence `f` of a region starting at `start`, with `flags`
    /// (PREV_USED or 0) and the next region's fence `next`.
    ///
    /// # Safety
    /// `f` is aligned and the FENCE bytes there are ours.
    unsafe fn put_fence(
        &mut self,
        f: *mut Header,
        flags: usize,
        next: *mut Header,
        start: *mut u8,
    ) {
        let lead = seal_region(f, next, start);
        let check = seal(f, USED | flags, lead);
        // SAFETY: the caller's promise.
        unsafe {
            f.cast::<Fence>().write(Fence {
                header: Header {
                    size: USED | flags,
                    check,
                    lead,
                },
                next,
                start,
            })
        };
    }

    /// The break grew by `amount` bytes right after `top`'s fence: the old
    /// fence becomes the header of a free chunk that runs to a new fence at
    /// the new end, merged with the region's last chunk if that is free.
    /// Returns that chunk (not on the list, without its footer yet) and
    /// whether it is all fresh memory.
    ///
    /// # Safety
    /// The `amount` bytes after `top`'s fence are ours now.
    unsafe fn extend_top(&mut self, amount: usize) -> Option<(*mut Header, bool)> {
        let f = self.top;
        let (r, next) = self.region(f)?;
        // SAFETY: `f` was just verified.
        let last_used = unsafe { (*f).prev_used() };
        // The last chunk, if free, found through its footer (verified
        // before anything changes).
        let last = if last_used {
            None
        } else {
            // SAFETY: the fence has a free chunk before it, whose footer
            // is the 8 bytes before the fence (invariants 3 and 4).
            Some(unsafe { self.prev_free(f, r)? })
        };
        if let Some((p, _)) = last {
            self.check_links(p)?;
        }
        // Who points to `f` in the region list: the head, or another fence.
        let mut before = ptr::null_mut::<Header>();
        let mut at = self.regions;
        while at != f {
            if at.is_null() {
                return self.fail(f as usize);
            }
            let (_, n) = self.region(at)?;
            before = at;
            at = n;
        }
        let nf = f.cast::<u8>().wrapping_add(amount).cast::<Header>();
        let mut c = f;
        let mut size = amount - HEADER; // FENCE - HEADER + amount - FENCE
        // SAFETY: the old fence's 32 bytes and the `amount` new ones are
        // ours; the new fence takes the last FENCE bytes. The old record
        // bytes are cleared, so the new chunk's payload reads as zero.
        unsafe {
            f.cast::<u8>().add(HEADER).write_bytes(0, FENCE - HEADER);
            self.put_fence(nf, 0, next, r.start);
            if before.is_null() {
                self.regions = nf;
            } else {
                let b = before.cast::<Fence>();
                self.put_fence(before, (*before).size & PREV_USED, nf, (*b).start);
            }
            self.top = nf;
            if let Some((p, psize)) = last {
                self.unlink(p);
                // The old fence's header is absorbed: left free (invariant 6).
                self.put(f, size, 0);
                c = p;
                size += psize + HEADER;
            }
            self.put(c, size | PREV_USED, 0);
        }
        Some((c, last.is_none()))
    }
    // ANCHOR_END: grow

    // ANCHOR: prev_free
    /// The free chunk right before `h` (whose PREV_USED is clear), found
    /// through the footer before `h`, and its size: verified to be a free
    /// chunk of region `r` whose size is the footer's.
    ///
    /// # Safety
    /// `h` is a verified chunk or fence of region `r`.
    unsafe fn prev_free(&self, h: *mut Header, r: Region) -> Option<(*mut Header, usize)> {
        if h as usize <= r.start as usize {
            return self.fail(h as usize); // the first chunk has no footer before it
        }
        // SAFETY: there is a chunk before `h` in `r`, whose payload (at
        // least MIN_PAYLOAD bytes) ends right before `h`: the 8 bytes are
        // ours.
        let size = unsafe { h.cast::<usize>().sub(1).read() };
        let at = (h as usize)
            .checked_sub(HEADER)
            .and_then(|a| a.checked_sub(size));
        let Some(at) = at.filter(|&a| r.holds(a)) else {
            return self.fail(h as usize);
        };
        let p = r.at(at);
        // SAFETY: `p` lies in `r`, aligned.
        let x = unsafe { self.header(p)? };
        if x.is_used() || x.size() != size || size < MIN_PAYLOAD {
            return self.fail(h as usize);
        }
        Some((p, size))
    }
    // ANCHOR_END: prev_free

    // ANCHOR: free
    /// Gives a block back: its chunk is merged with its free neighbours,
    /// found through the footer before it and the header after it, and
    /// goes on the free list. `free(null)` does nothing.
    ///
    /// A pointer outside the heap's regions and mappings is refused with
    /// [`FreeError::NotOurs`] without reading anything at it, and so is one
    /// whose header reads as zero; a block that is already free is
    /// [`FreeError::DoubleFree`]; a header that fails its check is
    /// [`FreeError::Corrupt`]. Each leaves the heap as it was.
    ///
    /// # Safety
    /// The block, if it is one of this heap's, is not used after this.
    pub unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError> {
        if ptr.is_null() {
            return Ok(());
        }
        if self.corruption().is_some() {
            return Err(FreeError::Corrupt);
        }
        let h = (ptr as usize).wrapping_sub(HEADER);
        if let Some(r) = self.region_of(h) {
            // SAFETY: `h` lies in region `r`: a header or bytes of ours.
            return unsafe { self.release(r.at(h), r) };
        }
        if let Some((prev, m)) = self.find_mapped(ptr) {
            // SAFETY: `m` is a live mapping of ours, whose block the caller
            // gives up.
            unsafe { self.unmap_block(prev, m) };
            return Ok(());
        }
        Err(self.refusal())
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

    /// Frees the chunk whose header would be at `h` in region `r`: checks
    /// everything it will touch first, then merges and links.
    ///
    /// # Safety
    /// `h` lies in `r`, aligned. If it is a used chunk, its payload is
    /// given up by its owner.
    unsafe fn release(&mut self, h: *mut Header, r: Region) -> Result<(), FreeError> {
        let corrupt = Err(FreeError::Corrupt);
        // SAFETY: the caller's promise: `h` is in `r`, aligned.
        let x = unsafe { self.block_header(h) }?;
        if !x.is_used() {
            return Err(FreeError::DoubleFree);
        }
        let size = x.size();
        let Some(next_at) = (h as usize + HEADER)
            .checked_add(size)
            .filter(|&e| e <= r.fence as usize)
        else {
            self.fail::<()>(h as usize);
            return corrupt;
        };
        let next = r.at(next_at);
        // SAFETY: `next` is the chunk or fence after `h` in `r`.
        let Some(nx) = (unsafe { self.header(next) }) else {
            return corrupt;
        };
        // The neighbours, verified before anything changes.
        let after = if nx.is_used() {
            next
        } else {
            if self.check_links(next).is_none() {
                return corrupt;
            }
            let a = r.at(next_at + HEADER + nx.size());
            // SAFETY: `next` is a verified free chunk of `r`, so what
            // follows it is a chunk or the fence, in `r`.
            if !r.holds(a as usize) && a != r.fence || unsafe { self.header(a) }.is_none() {
                self.fail::<()>(a as usize);
                return corrupt;
            }
            a
        };
        let before = if x.prev_used() {
            None
        } else {
            // SAFETY: `h` is a verified chunk of `r` with a free chunk
            // before it.
            match unsafe { self.prev_free(h, r) } {
                Some((p, psize)) if self.check_links(p).is_some() => Some((p, psize)),
                _ => return corrupt,
            }
        };
        // Merge: `c` is the chunk that results.
        let mut c = h;
        let mut csize = size;
        if !nx.is_used() {
            csize += HEADER + nx.size();
        }
        if let Some((p, psize)) = before {
            c = p;
            csize += HEADER + psize;
        }
        // SAFETY: everything touched below was verified above: `h`, its
        // neighbours `next` (free or not) and `before`, their links, and
        // `after`. Every header absorbed is left free (invariant 6).
        unsafe {
            self.put(h, size | (x.size & PREV_USED), 0);
            let linked = match (self.order, before.is_some(), !nx.is_used()) {
                (Order::Lifo, _, next_free) => {
                    if next_free {
                        self.unlink(next);
                    }
                    if let Some((p, _)) = before {
                        self.unlink(p);
                    }
                    self.put(c, csize | PREV_USED, 0);
                    self.insert(c)
                }
                // Address order: a merged chunk takes its neighbour's place.
                (Order::Address, true, next_free) => {
                    if next_free {
                        self.unlink(next);
                    }
                    true
                }
                (Order::Address, false, true) => {
                    self.replace(next, c);
                    true
                }
                (Order::Address, false, false) => {
                    self.put(c, csize | PREV_USED, 0);
                    self.insert(c)
                }
            };
            if !linked {
                return corrupt;
            }
            self.put(c, csize | PREV_USED, 0);
            footer(c, csize).write(csize);
            self.set_prev_used(after, false);
            self.release_top(c, self.trim_threshold, self.top_pad);
        }
        Ok(())
    }
    // ANCHOR_END: free

    // ANCHOR: trim
    /// If `c` is the free chunk on top of the heap (before `top`'s fence,
    /// and the region ends where the source's latest growth ended), and
    /// more than `threshold` bytes of it beyond its links and the first
    /// `pad` bytes have been written since they were last given back, gives
    /// those pages back (`release`: the memory stays in the chunk, the
    /// break stays where it is). Never the pages of its links or footer.
    ///
    /// # Safety
    /// `c` is a verified free chunk of this heap.
    unsafe fn release_top(&mut self, c: *mut Header, threshold: usize, pad: usize) -> bool {
        let f = self.top;
        // SAFETY: the caller's promise.
        let size = unsafe { (*c).size() };
        let end = c as usize + HEADER + size;
        if f.is_null()
            || end != f as usize
            || self.source.end().map(|e| e.as_ptr() as usize) != Some(f as usize + FENCE)
        {
            return false;
        }
        let Some(keep) = (c as usize + HEADER + LINKS).checked_add(pad) else {
            return false;
        };
        if self.dirty_end.saturating_sub(keep) <= threshold {
            return false; // not enough written above the pad to be worth a system call
        }
        let from = page_up(keep);
        let to = page_down(end - FOOTER).min(page_up(self.dirty_end));
        if from >= to {
            return false;
        }
        // SAFETY: whole pages inside the free chunk `c`'s payload, past its
        // links and before its footer: nobody uses them (invariant 8).
        let released = unsafe { self.give_back(c, from, to) };
        if released {
            self.dirty_end = from;
        }
        released
    }

    /// Gives the pages `[from, to)` inside free chunk `c` back.
    ///
    /// # Safety
    /// They are whole pages inside `c`'s payload, past its links and
    /// before its footer.
    unsafe fn give_back(&mut self, c: *mut Header, from: usize, to: usize) -> bool {
        let start = c.cast::<u8>().wrapping_add(from - c as usize);
        // SAFETY: the caller's promise; `start` is not null (it is inside
        // a chunk).
        unsafe {
            self.source
                .release(NonNull::new_unchecked(start), to - from)
        }
    }

    /// `malloc_trim`: gives back every whole free page of every free chunk
    /// (never its links or footer), keeping `pad` bytes on top. Returns
    /// whether any went back.
    pub fn trim(&mut self, pad: usize) -> bool {
        let mut any = false;
        let (mut prev, mut at) = (ptr::null_mut::<Header>(), self.free);
        while !at.is_null() {
            let Some((size, r)) = self.linked(prev, at) else {
                break;
            };
            let c = r.at(at as usize);
            // SAFETY: `c` is a verified free chunk of ours.
            if unsafe { self.release_top(c, 0, pad) } {
                any = true;
            } else if (c as usize + HEADER + size) != self.top as usize {
                let from = page_up(c as usize + HEADER + LINKS);
                let to = page_down(c as usize + HEADER + size - FOOTER);
                if from < to {
                    // SAFETY: whole pages of a free payload, past its links
                    // and before its footer: nobody uses them.
                    any |= unsafe { self.give_back(c, from, to) };
                }
            }
            prev = c;
            // SAFETY: as above.
            at = unsafe { (*links(c)).next };
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
        // Memory fresh from the source is already zero; only a reused
        // chunk needs clearing.
        if !fresh {
            // SAFETY: `p` is a new block of at least `total` bytes.
            unsafe { p.write_bytes(0, total) };
        }
        p
    }
    // ANCHOR_END: calloc

    /// The used chunk whose payload is `ptr` in one of the regions, with
    /// its region, or an error saying why not (`Ok(None)`: not in a region).
    fn used_chunk(&self, ptr: *mut u8) -> Result<Option<(*mut Header, Region, usize)>, FreeError> {
        let h = (ptr as usize).wrapping_sub(HEADER);
        let Some(r) = self.region_of(h) else {
            return Ok(None);
        };
        let h = r.at(h);
        // SAFETY: `h` lies in region `r`, aligned.
        let x = unsafe { self.block_header(h) }?;
        if !x.is_used() {
            return Err(FreeError::NotOurs); // not a live block
        }
        if (h as usize + HEADER)
            .checked_add(x.size())
            .is_none_or(|e| e > r.fence as usize)
        {
            self.fail::<()>(h as usize);
            return Err(FreeError::Corrupt);
        }
        Ok(Some((h, r, x.size())))
    }

    /// Cuts the used chunk `h` of region `r` down to `new` payload bytes,
    /// if the rest can be a chunk: the rest is freed (and merges with a
    /// free chunk after it).
    ///
    /// # Safety
    /// `h` is a verified used chunk of `r`, whose payload nobody uses
    /// beyond its first `new` bytes; `new` is a multiple of 16, at least
    /// MIN_PAYLOAD and at most its size.
    unsafe fn shrink(&mut self, h: *mut Header, r: Region, new: usize) {
        // SAFETY: the caller's promise.
        let x = unsafe { h.read() };
        let rest = x.size() - new;
        if rest < HEADER + MIN_PAYLOAD {
            return;
        }
        let t = h.cast::<u8>().wrapping_add(HEADER + new).cast::<Header>();
        // SAFETY: `t` lies in `h`'s payload past the part in use, aligned:
        // it becomes a used chunk of its own, which `release` frees.
        unsafe {
            self.put(t, (rest - HEADER) | USED | PREV_USED, 0);
            self.put(h, new | (x.size & FLAGS), 0);
            let _ = self.release(t, r);
        }
    }

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
        let Some(size) = Self::payload_for(size) else {
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
        let Some((p, _)) = self.allocate(request, false) else {
            return ptr::null_mut();
        };
        let Ok(Some((h, r, total))) = self.used_chunk(p) else {
            return ptr::null_mut();
        };
        let mut hq = h;
        if !(p as usize).is_multiple_of(align) {
            let a = (p as usize + HEADER + MIN_PAYLOAD).next_multiple_of(align);
            hq = p.wrapping_add(a - HEADER - p as usize).cast::<Header>();
            let front = hq as usize - p as usize; // payload left in front
            // SAFETY: `h` is the chunk just allocated, of `request` bytes or
            // more, unused yet. `hq` lies inside it, aligned, with at least
            // `size` bytes after it and a chunk's worth before it. The front
            // is then freed, and merges with a free chunk before it.
            unsafe {
                let flags = (*h).size & PREV_USED;
                self.put(hq, (total - front - HEADER) | USED | PREV_USED, 0);
                self.put(h, front | USED | flags, 0);
                let _ = self.release(h, r);
            }
        }
        // SAFETY: `hq` is a used chunk of `r` of at least `size` bytes that
        // nobody uses yet: its tail beyond `size` goes back to the heap.
        unsafe { self.shrink(hq, r, size) };
        hq.cast::<u8>().wrapping_add(HEADER)
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
        if self.corruption().is_some() {
            return Err(FreeError::Corrupt);
        }
        let Some(new) = Self::payload_for(size) else {
            return Ok(ptr::null_mut());
        };
        let old = match self.used_chunk(ptr)? {
            Some((h, r, old)) => {
                // SAFETY: `h` is a used chunk of `r` whose payload is `ptr`,
                // handed to us to resize.
                if unsafe { self.resize_in_place(h, r, new) } {
                    return Ok(ptr);
                }
                old
            }
            None => {
                let Some((prev, m)) = self.find_mapped(ptr) else {
                    return Err(self.refusal());
                };
                // SAFETY: `m` is a live mapping of ours, handed to us.
                let q = unsafe { self.remap_block(prev, m, new) };
                if !q.is_null() {
                    return Ok(q);
                }
                self.usable_size(ptr)
            }
        };
        // Otherwise: a new block, a copy, and the old block freed.
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

    /// Whether the used chunk `h` of region `r` was resized to `new` bytes
    /// where it is: shrunk, grown into a free chunk after it, or grown with
    /// the break when it is on top.
    ///
    /// # Safety
    /// `h` is a verified used chunk of `r`, handed to us to resize to `new`
    /// bytes (a multiple of 16, at least MIN_PAYLOAD).
    unsafe fn resize_in_place(&mut self, h: *mut Header, mut r: Region, new: usize) -> bool {
        // SAFETY: the caller's promise.
        let old = unsafe { (*h).size() };
        if new <= old {
            // SAFETY: as above; the block's first `new` bytes are kept.
            unsafe { self.shrink(h, r, new) };
            return true;
        }
        for attempt in 0..2 {
            let next = h.cast::<u8>().wrapping_add(HEADER + old).cast::<Header>();
            // SAFETY: the chunk or fence after `h`, in `r`.
            let Some(nx) = (unsafe { self.header(next) }) else {
                return false;
            };
            if !nx.is_used() && old + HEADER + nx.size() >= new {
                let after = next
                    .cast::<u8>()
                    .wrapping_add(HEADER + nx.size())
                    .cast::<Header>();
                // SAFETY: `next` is a free chunk of `r` (verified), whose
                // links are checked before it is taken off the list; the
                // chunk after it is verified before it changes. Its header
                // is absorbed while free (invariant 6).
                unsafe {
                    if self.check_links(next).is_none() || self.header(after).is_none() {
                        return false;
                    }
                    self.unlink(next);
                    self.put(h, (old + HEADER + nx.size()) | ((*h).size & FLAGS), 0);
                    self.set_prev_used(after, true);
                    self.touch(after as usize);
                    self.shrink(h, r, new);
                }
                return true;
            }
            // On top of the break: grow it, and try once more.
            let f = self.top;
            let on_top = !f.is_null()
                && (next == f || !nx.is_used() && next as usize + HEADER + nx.size() == f as usize);
            if attempt == 1 || !on_top {
                return false;
            }
            let have = if next == f { 0 } else { HEADER + nx.size() };
            let want = (new - old - have).max(HEADER + MIN_PAYLOAD + FENCE);
            let Some((grown, amount)) = self.grow_source(want) else {
                return false;
            };
            let start = grown.start.as_ptr();
            // SAFETY: the source gave us `amount` bytes at `start`; either
            // they follow `top`'s fence, or they become a region of their
            // own. The free chunk that results goes on the list.
            unsafe {
                let c = if grown.contiguous && f as usize + FENCE == start as usize {
                    match self.extend_top(amount) {
                        Some((c, _)) => c,
                        None => return false,
                    }
                } else {
                    self.new_region(start, amount, true)
                };
                let size = (*c).size();
                footer(c, size).write(size);
                if !self.insert(c) {
                    return false;
                }
            }
            // The region `h` is in may have grown: read its fence again.
            match self.region_of(h as usize) {
                Some(now) => r = now,
                None => return false,
            }
        }
        false
    }
    // ANCHOR_END: realloc

    // ANCHOR: mapped
    /// A block of `size` bytes in a mapping of its own, or null if the
    /// source cannot map (then the caller uses the heap).
    fn map_block(&mut self, size: usize) -> Option<*mut u8> {
        let len = (MAPLINK + HEADER)
            .checked_add(size)?
            .checked_next_multiple_of(page_size())?;
        let m = self.source.map(len)?.as_ptr();
        let h = m.wrapping_add(MAPLINK).cast::<Header>();
        // SAFETY: the mapping is `len` bytes, page-aligned, and ours alone:
        // room for the link, the header and the block.
        unsafe { self.put_mapped(h, len - MAPLINK - HEADER, MAPLINK as u32) };
        Some(h.cast::<u8>().wrapping_add(HEADER))
    }

    /// Writes mapped block `h`'s header and link, first in the list.
    ///
    /// # Safety
    /// `h` is in a mapping of ours with `lead` bytes (at least MAPLINK)
    /// before it and `size` after its header.
    unsafe fn put_mapped(&mut self, h: *mut Header, size: usize, lead: u32) {
        let next = self.mapped;
        // SAFETY: the caller's promise.
        unsafe {
            self.put(h, size | USED | PREV_USED, lead);
            Self::put_link(h, next);
        }
        self.mapped = h;
    }

    /// Writes the link before mapped block `h`.
    ///
    /// # Safety
    /// `h` is a mapped block of ours.
    unsafe fn put_link(h: *mut Header, next: *mut Header) {
        // SAFETY: the caller's promise: the MAPLINK bytes before the header
        // are in its mapping (invariant 7).
        unsafe {
            h.cast::<MapLink>().sub(1).write(MapLink {
                next,
                check: seal_link(h, next),
            })
        };
    }

    /// A block of `size` bytes at a multiple of `align` (more than 16), in
    /// a mapping of its own: mapped `align` bytes longer than needed, and
    /// the pages before the link's and after the block's given back.
    fn map_aligned(&mut self, align: usize, size: usize) -> Option<*mut u8> {
        let page = page_size();
        let len = (MAPLINK + HEADER)
            .checked_add(size)?
            .checked_add(align)?
            .checked_next_multiple_of(page)?;
        let m = self.source.map(len)?.as_ptr();
        let q =
            m.wrapping_add((m as usize + MAPLINK + HEADER).next_multiple_of(align) - m as usize);
        let h = q.wrapping_sub(HEADER).cast::<Header>();
        let start = m.wrapping_add(page_down(h as usize - MAPLINK) - m as usize);
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
        let lead = (h as usize - start as usize) as u32; // less than a page + MAPLINK
        // SAFETY: `h` lies in the pages kept, aligned, with its link before
        // it and the block's `size` bytes after its header.
        unsafe { self.put_mapped(h, end as usize - q as usize, lead) };
        Some(q)
    }

    /// The mapped block `at` verified, and the next one.
    fn mapped_next(&self, at: *mut Header) -> Option<(Header, *mut Header)> {
        // SAFETY: `at` is `mapped` or the `next` of a verified link
        // (invariant 7): a live mapped block of ours.
        let x = unsafe { self.header(at)? };
        // SAFETY: as above: its link is in its mapping.
        let link = unsafe { at.cast::<MapLink>().sub(1).read() };
        if link.check != seal_link(at, link.next) || (x.lead as usize) < MAPLINK {
            return self.fail(at as usize);
        }
        Some((x, link.next))
    }

    /// Finds the mapped block whose payload is `ptr`, with the mapped block
    /// before it in the list (null if it is the first).
    fn find_mapped(&self, ptr: *mut u8) -> Option<(*mut Header, *mut Header)> {
        let (mut prev, mut at) = (ptr::null_mut(), self.mapped);
        while !at.is_null() {
            let (_, next) = self.mapped_next(at)?;
            if at.cast::<u8>().wrapping_add(HEADER) == ptr {
                return Some((prev, at));
            }
            prev = at;
            at = next;
        }
        None
    }

    /// The start and length of mapped block `h`'s mapping.
    ///
    /// # Safety
    /// `h` is a live mapped block of this heap.
    unsafe fn mapping(h: *mut Header) -> (NonNull<u8>, usize) {
        // SAFETY: invariant 7: the mapping starts `lead` bytes before the
        // header and ends with the payload.
        unsafe {
            let lead = (*h).lead as usize;
            let start = h.cast::<u8>().sub(lead);
            (NonNull::new_unchecked(start), lead + HEADER + (*h).size())
        }
    }

    /// Unlinks mapped block `h` (after `prev`) and gives its mapping back.
    ///
    /// # Safety
    /// `h` is in the `mapped` list after `prev`, and nobody uses its block.
    unsafe fn unmap_block(&mut self, prev: *mut Header, h: *mut Header) {
        // SAFETY: invariant 7: `h` (and `prev`, if not null) are live
        // mappings of ours; after unlinking, nothing refers to `h`.
        unsafe {
            let next = (*h.cast::<MapLink>().sub(1)).next;
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
        // SAFETY: invariant 7: `h` is a live mapping of ours.
        let (start, old, lead, next) = unsafe {
            let (start, old) = Self::mapping(h);
            (
                start,
                old,
                (*h).lead as usize,
                (*h.cast::<MapLink>().sub(1)).next,
            )
        };
        let Some(len) = (lead + HEADER)
            .checked_add(new)
            .and_then(|n| n.checked_next_multiple_of(page_size()))
        else {
            return ptr::null_mut();
        };
        // SAFETY: invariant 7: a whole live mapping of ours.
        let Some(m) = (unsafe { self.source.remap(start, old, len) }) else {
            return ptr::null_mut();
        };
        // The header moved with the mapping (the same `lead` bytes in): its
        // seal and link, which cover its address, are written again.
        let m = m.as_ptr().wrapping_add(lead).cast::<Header>();
        // SAFETY: `m` is the header, moved; `prev` is null or a mapping.
        unsafe {
            self.put(m, (len - lead - HEADER) | USED | PREV_USED, lead as u32);
            Self::put_link(m, next);
            self.relink(prev, m);
        }
        m.cast::<u8>().wrapping_add(HEADER)
    }

    /// Makes `prev`'s link (or the list head) point to `to`.
    ///
    /// # Safety
    /// `prev` is null or a live mapping in the `mapped` list.
    unsafe fn relink(&mut self, prev: *mut Header, to: *mut Header) {
        if prev.is_null() {
            self.mapped = to;
        } else {
            // SAFETY: the caller's promise.
            unsafe { Self::put_link(prev, to) };
        }
    }
    // ANCHOR_END: mapped

    // ANCHOR: usable_size
    /// How many bytes the block at `ptr` really has (at least what was asked
    /// for); 0 if `ptr` is not a live block of this heap.
    pub fn usable_size(&self, ptr: *const u8) -> usize {
        let h = (ptr as usize).wrapping_sub(HEADER);
        if let Some(r) = self.region_of(h) {
            // SAFETY: `h` lies in region `r`, aligned. Read without
            // recording: a pointer into the middle of a block is not a
            // corruption of the heap.
            let x = unsafe { r.at(h).read() };
            return if x.check == seal(r.at(h), x.size, x.lead) && x.is_used() {
                x.size()
            } else {
                0
            };
        }
        match self.find_mapped(ptr.cast_mut()) {
            // SAFETY: invariant 7: `h` is a live mapping of ours.
            Some((_, h)) => unsafe { (*h).size() },
            None => 0,
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

    // ANCHOR: walk
    /// The region after the one starting at `after` in address order (the
    /// first if `after` is 0), found without allocating.
    fn region_after(&self, after: usize) -> Option<Region> {
        self.regions()
            .filter(|r| after == 0 || r.start as usize > after)
            .min_by_key(|r| r.start as usize)
    }

    /// Every chunk of every region, in address order, each fence last in
    /// its region (`None` in the second place for a chunk, its region for
    /// a fence). The walk stops at a header that fails its check.
    fn walk(&self) -> impl Iterator<Item = (Chunk, Option<Region>)> + '_ {
        let mut region = self.region_after(0);
        let mut at = region.map_or(0, |r| r.start as usize);
        std::iter::from_fn(move || {
            let r = region?;
            let h = r.at(at);
            // SAFETY: `at` is the start of `r` or the end of a verified
            // chunk of `r` that ends at or before its fence: a header of
            // `r` (invariant 1).
            let x = match unsafe { self.header(h) } {
                Some(x) => x,
                None => {
                    region = None;
                    return None;
                }
            };
            let chunk = Chunk {
                addr: at,
                size: x.size(),
                used: x.is_used(),
                prev_used: x.prev_used(),
            };
            if h == r.fence {
                region = self.region_after(r.start as usize);
                at = region.map_or(0, |r| r.start as usize);
                return Some((chunk, Some(r)));
            }
            let end = (at + HEADER).checked_add(x.size());
            match end.filter(|&e| e <= r.fence as usize && x.size() >= MIN_PAYLOAD) {
                Some(e) => at = e,
                None => {
                    self.fail::<()>(at);
                    region = None;
                    return None;
                }
            }
            Some((chunk, None))
        })
    }

    /// Every chunk, in address order (fences left out).
    pub fn chunks(&self) -> impl Iterator<Item = Chunk> + '_ {
        self.walk().filter(|(_, f)| f.is_none()).map(|(c, _)| c)
    }

    /// The free list, from its head: each chunk's address, its size and
    /// its links. Stops at a bad link.
    pub fn free_list(&self) -> impl Iterator<Item = (usize, usize, Links)> + '_ {
        let (mut prev, mut at) = (ptr::null_mut::<Header>(), self.free);
        std::iter::from_fn(move || {
            if at.is_null() {
                return None;
            }
            let (size, r) = self.linked(prev, at)?;
            let c = r.at(at as usize);
            // SAFETY: `c` is a verified free chunk of ours.
            let l = unsafe { links(c).read() };
            prev = c;
            at = l.next;
            Some((c as usize, size, l))
        })
    }
    // ANCHOR_END: walk

    /// Copies the heap map into `map` without allocating: chunks are pushed
    /// only while `map.chunks` has spare capacity. Returns false if it ran
    /// out of room (then `map` is incomplete). A fence is drawn as a chunk
    /// of FENCE bytes of bookkeeping and no payload, not used.
    pub fn map_into(&self, map: &mut HeapMap) -> bool {
        map.chunks.clear();
        map.mapped.clear();
        let first = self.region_after(0).map(|r| r.start as usize);
        let last = self.regions().map(|r| r.fence as usize + FENCE).max();
        let base = self.source.base().map(|b| b.as_ptr() as usize);
        let end = self.source.end().map(|e| e.as_ptr() as usize);
        map.base = [first, base].into_iter().flatten().min().unwrap_or(0);
        map.end = [last, end].into_iter().flatten().max().unwrap_or(0);
        for (c, fence) in self.walk() {
            if map.chunks.len() == map.chunks.capacity() {
                return false;
            }
            if fence.is_some() {
                map.chunks.push(allockit::Chunk {
                    addr: c.addr,
                    header: FENCE,
                    size: 0,
                    used: false,
                });
            } else {
                map.chunks.push(allockit::Chunk {
                    addr: c.addr,
                    header: HEADER,
                    size: c.size,
                    used: c.used,
                });
            }
        }
        let mut at = self.mapped;
        while !at.is_null() {
            let Some((x, next)) = self.mapped_next(at) else {
                break;
            };
            if map.mapped.len() == map.mapped.capacity() {
                return false;
            }
            map.mapped.push(allockit::Chunk {
                addr: at as usize,
                header: HEADER,
                size: x.size(),
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
            let Some((_, next)) = self.mapped_next(at) else {
                break;
            };
            n += 1;
            at = next;
        }
        n
    }

    /// The heap as a list of chunks, for drawing.
    pub fn map(&self) -> HeapMap {
        let mut map = HeapMap::default();
        map.chunks.reserve(self.walk().count());
        map.mapped.reserve(self.mapped_count());
        self.map_into(&mut map);
        map
    }

    // ANCHOR: tags
    /// The heap map with what this chapter adds: each header's PREV_USED
    /// bit, each free chunk's footer and links, the fences, and the free
    /// list in its order.
    pub fn tag_map(&self) -> TagMap {
        let map = self.map();
        let mut tags = Vec::new();
        for (c, fence) in self.walk() {
            let h = c.addr as *mut Header;
            let mut t = Tags {
                addr: c.addr,
                prev_used: Some(c.prev_used),
                fence: fence.is_some(),
                ..Tags::default()
            };
            if fence.is_none() && !c.used {
                let r = self.region_of(c.addr);
                if let Some(r) = r {
                    let h = r.at(h as usize);
                    // SAFETY: `h` is a verified free chunk of `r` (the
                    // walk): its links and footer are in its payload.
                    let (l, f) = unsafe { (links(h).read(), footer(h, c.size).read()) };
                    t.links = Some((l.prev as usize, l.next as usize));
                    t.footer = Some(f);
                }
            }
            if let Some(r) = fence {
                // SAFETY: `r.fence` is a verified fence: its record follows.
                let next = unsafe { (*r.fence.cast::<Fence>()).next };
                t.links = Some((r.start as usize, next as usize));
            }
            tags.push(t);
        }
        let list = self.free_list().map(|(a, _, _)| a).collect();
        TagMap {
            map,
            tags,
            lists: vec![("free list".into(), list)],
            header: HEADER,
            links: LINKS,
            footer: FOOTER,
        }
    }
    // ANCHOR_END: tags

    // ANCHOR: check
    /// Walks every region and the free list and checks the invariants;
    /// `Err` says which broke.
    pub fn check(&self) -> Result<(), String> {
        let mut free_chunks = Vec::new();
        let mut regions = 0;
        let mut last_end = 0;
        let mut prev: Option<Chunk> = None;
        for (c, fence) in self.walk() {
            let at = c.addr;
            if !at.is_multiple_of(ALIGN) || !c.size.is_multiple_of(ALIGN) {
                return Err(format!("chunk {at:#x} (size {}) is not aligned", c.size));
            }
            let first = prev.is_none_or(|p| p.end() != at);
            if first && at < last_end {
                return Err(format!("region at {at:#x} overlaps the one before it"));
            }
            let prev_used = if first {
                true
            } else {
                prev.is_some_and(|p| p.used)
            };
            if c.prev_used != prev_used {
                return Err(format!(
                    "chunk {at:#x} says the chunk before it is {}, but it is not",
                    if c.prev_used { "used" } else { "free" }
                ));
            }
            if let Some(r) = fence {
                regions += 1;
                last_end = at + FENCE;
                if c.size != 0 || !c.used {
                    return Err(format!("fence {at:#x} is not a used header of size 0"));
                }
                if r.start as usize > at {
                    return Err(format!("fence {at:#x} is below its region's start"));
                }
                prev = None;
                continue;
            }
            if c.size < MIN_PAYLOAD {
                return Err(format!("chunk {at:#x} is smaller than a chunk can be"));
            }
            if !c.used {
                if prev.is_some_and(|p| !p.used) {
                    return Err(format!("free chunks touch at {at:#x}"));
                }
                let Some(r) = self.region_of(at) else {
                    return Err(format!("chunk {at:#x} is in no region"));
                };
                // SAFETY: a verified free chunk of region `r` (the walk).
                let f = unsafe { footer(r.at(at), c.size).read() };
                if f != c.size {
                    return Err(format!(
                        "chunk {at:#x}'s footer says {f}, its header {}",
                        c.size
                    ));
                }
                free_chunks.push(at);
            }
            prev = Some(c);
        }
        if let Some(at) = self.corruption() {
            return Err(format!("the header at {at:#x} was overwritten"));
        }
        if regions != self.regions().count() {
            return Err("a region's chunks do not reach its fence".into());
        }
        let mut on_list = Vec::new();
        let mut last = 0;
        for (at, _, l) in self.free_list() {
            if self.order == Order::Address && at <= last {
                return Err(format!("the free list is not in address order at {at:#x}"));
            }
            if l.prev as usize != on_list.last().copied().unwrap_or(0) {
                return Err(format!(
                    "chunk {at:#x}'s prev link does not point to the chunk before it"
                ));
            }
            last = at;
            on_list.push(at);
            if on_list.len() > free_chunks.len() {
                return Err("the free list has more chunks than the heap has free".into());
            }
        }
        if let Some(at) = self.corruption() {
            return Err(format!("the free list is corrupted at {at:#x}"));
        }
        on_list.sort_unstable();
        if on_list != free_chunks {
            return Err(format!(
                "the free list holds {} chunks, the heap has {} free",
                on_list.len(),
                free_chunks.len()
            ));
        }
        if !self.top.is_null() && self.regions().all(|r| r.fence != self.top) {
            return Err("`top` is not a region's fence".into());
        }
        let _ = self.mapped_count();
        if let Some(at) = self.corruption() {
            return Err(format!("the mapped block at {at:#x} was overwritten"));
        }
        Ok(())
    }
    // ANCHOR_END: check

    /// Bytes from the start of the heap on the break to its end (without
    /// allocating).
    pub fn map_len(&self) -> usize {
        match (self.source.base(), self.source.end()) {
            (Some(b), Some(e)) => (e.as_ptr() as usize).saturating_sub(b.as_ptr() as usize),
            _ => 0,
        }
    }

    /// The heap's totals, counted without allocating.
    pub fn totals(&self) -> (allockit::Totals, usize) {
        let mut t = allockit::Totals::default();
        for (c, fence) in self.walk() {
            if fence.is_some() {
                t.header_bytes += FENCE;
            } else {
                t.header_bytes += HEADER;
                if c.used {
                    t.used_chunks += 1;
                    t.used_bytes += c.size;
                } else {
                    t.free_chunks += 1;
                    t.free_bytes += c.size;
                }
            }
        }
        (t, self.mapped_count())
    }
}

// ANCHOR: conformance
impl<S: MemorySource> Malloc for Heap<S> {
    const NAME: &'static str = "ch11 boundary tags";
    /// Every behaviour of the suite, as from chapter 6 on.
    const BEHAVIOURS: &'static [Behaviour] = &Behaviour::ALL;
    // ANCHOR_END: conformance

    /// Free memory on top up to the pad is kept, and up to the trim
    /// threshold more until it is worth a system call (as in glibc).
    const KEEPS: usize = TOP_PAD + TRIM_THRESHOLD;

    fn held(&self) -> usize {
        // Pages at or above `dirty_end` were never touched or were given
        // back (invariant 8).
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
/// static HEAP: ch11_boundary_tags::Global = ch11_boundary_tags::Global::new();
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

/// Reports a bad `dealloc` on stderr and aborts, without allocating.
fn bad_free(e: FreeError) -> ! {
    let msg: &[u8] = match e {
        FreeError::NotOurs => b"ch11: dealloc of a pointer this heap never gave out; aborting\n",
        FreeError::DoubleFree => b"ch11: dealloc of a block that is already free; aborting\n",
        FreeError::Corrupt => b"ch11: dealloc found a corrupted chunk header; aborting\n",
    };
    // SAFETY: writing a static buffer to file descriptor 2.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    std::process::abort()
}

impl Global {
    /// The heap map, collected without allocating under the lock: count the
    /// chunks, make room (unlocked), then copy (locked); again if the heap
    /// grew in between.
    pub fn map(&self) -> HeapMap {
        let mut map = HeapMap::default();
        loop {
            let (chunks, mapped) = {
                let heap = self.lock();
                (heap.walk().count(), heap.mapped_count())
            };
            map.chunks.reserve(chunks + 64);
            map.mapped.reserve(mapped + 16);
            if self.lock().map_into(&mut map) {
                return map;
            }
        }
    }

    /// Checks the heap's invariants that a copy of its map shows (the
    /// full `Heap::check` would allocate under the lock).
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
                && c.size > 0
                && n.size > 0
                && c.end() == n.addr
            {
                return Err(format!("free chunks {i} and {} touch", i + 1));
            }
        }
        if let Some(at) = self.lock().corruption() {
            return Err(format!("the header at {at:#x} was overwritten"));
        }
        Ok(())
    }

    /// Runs `f` on the locked heap. `f` must not allocate.
    pub fn with<R>(&self, f: impl FnOnce(&mut Heap<Sbrk>) -> R) -> R {
        f(&mut self.lock())
    }
}

// ANCHOR: cheap
// The C layer (the `c-api` crate) over this heap: each method is the
// heap's own, under the name the C layer expects.
impl<S: MemorySource + Send> CHeap for Heap<S> {
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
        while !at.is_null() {
            let Some((_, next)) = self.mapped_next(at) else {
                break;
            };
            // SAFETY: invariant 7: `at` is a verified live mapping.
            mapped_bytes += unsafe { Self::mapping(at).1 };
            at = next;
        }
        let top_free = self
            .walk()
            .zip(self.walk().skip(1))
            .find(|(c, f)| !c.0.used && f.1.is_some_and(|r| r.fence == self.top))
            .map_or(0, |(c, _)| c.0.size);
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

#[cfg(test)]
mod tests {
    use super::*;
    use memsource::Arena;

    /// Random mallocs, frees and reallocs on an arena, every invariant
    /// checked as it goes: what Miri runs to look for undefined behaviour.
    #[test]
    fn random_operations_on_an_arena() {
        for order in [Order::Lifo, Order::Address] {
            let mut heap = Heap::with_order(Arena::new(1 << 18), order);
            CHeap::tune(&mut heap, Tunable::TopPad, 1024);
            let mut live: Vec<(*mut u8, usize)> = Vec::new();
            let mut x = 12345u64;
            for i in 0..if cfg!(miri) { 150 } else { 3000 } {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let size = (x % 300) as usize;
                match x % 7 {
                    0..=2 => {
                        let p = heap.malloc(size);
                        assert!(!p.is_null());
                        // SAFETY: p has `size` bytes.
                        unsafe { p.write_bytes(i as u8, size) };
                        live.push((p, size));
                    }
                    3 | 4 if !live.is_empty() => {
                        let (p, _) = live.swap_remove(x as usize / 7 % live.len());
                        // SAFETY: a live block, freed once.
                        unsafe { heap.free(p) }.unwrap();
                    }
                    5 if !live.is_empty() => {
                        let k = x as usize / 7 % live.len();
                        // SAFETY: a live block, replaced by the result.
                        let q = unsafe { heap.realloc(live[k].0, size + 1) };
                        assert!(!q.is_null());
                        live[k] = (q, size + 1);
                    }
                    _ => {
                        let p = heap.memalign(64, size);
                        assert_eq!(p as usize % 64, 0);
                        live.push((p, size));
                    }
                }
                heap.check().unwrap();
            }
            heap.trim(0);
            heap.check().unwrap();
            for (p, _) in live {
                // SAFETY: live blocks, freed once.
                unsafe { heap.free(p) }.unwrap();
            }
            heap.check().unwrap();
        }
    }

    /// A foreign pointer, a double free and an overwritten header.
    #[test]
    fn bad_frees_change_nothing() {
        let mut heap = Heap::new(Arena::new(1 << 16));
        let a = heap.malloc(40);
        let b = heap.malloc(40);
        let mut local = [0u8; 32];
        // SAFETY: the bugs this test plays; the heap must refuse each.
        unsafe {
            assert_eq!(heap.free(local.as_mut_ptr()), Err(FreeError::NotOurs));
            heap.free(a).unwrap();
            assert_eq!(heap.free(a), Err(FreeError::DoubleFree));
            heap.check().unwrap();
            b.sub(HEADER).write_bytes(0x55, 8);
            assert_eq!(heap.free(b), Err(FreeError::Corrupt));
        }
        assert!(heap.check().is_err());
    }
}
