//! Memory sources: where the book's allocators get their memory.
//!
//! An allocator in this book asks for memory the way a C allocator asks the
//! kernel with `sbrk`: "move the end of my heap up by *n* bytes and give me the
//! old end". [`MemorySource`] is that request, and there are two of them:
//!
//! - [`Sbrk`] moves the real program break of this process. It is what the
//!   demos use and what a real program gets.
//! - [`Arena`] hands out a fixed block of memory one increment at a time and
//!   fails when it is full. It behaves like a break but belongs to one test,
//!   so tests are deterministic, run in parallel and run under Miri.
//!
//! Every address a source hands out is aligned to [`ALIGN`] (16 bytes, the
//! alignment `malloc` promises on x86-64 and AArch64 Linux).

#![warn(missing_docs)]

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Alignment of every address a source returns, and of every size it is asked for.
pub const ALIGN: usize = 16;

/// Rounds `n` up to a multiple of [`ALIGN`], or `None` if that overflows.
pub const fn align_up(n: usize) -> Option<usize> {
    match n.checked_add(ALIGN - 1) {
        Some(m) => Some(m & !(ALIGN - 1)),
        None => None,
    }
}

// ANCHOR: grown
/// Memory a source has just added to the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grown {
    /// Start of the new memory, aligned to [`ALIGN`].
    pub start: NonNull<u8>,
    /// True when `start` is exactly where the previous growth of this source
    /// ended, so the two pieces form one contiguous region. False for the first
    /// growth, and whenever someone else moved the break in between.
    pub contiguous: bool,
}
// ANCHOR_END: grown

// ANCHOR: source
/// Something that behaves like the program break.
///
/// # Safety
/// Allocators write their bookkeeping wherever a source says, so a source
/// must tell the truth: memory returned by `grow` is `increment` bytes at
/// `start`, aligned to [`ALIGN`], reads as zero, and belongs to the caller
/// alone until it is given back; `contiguous` is true only when `start` is
/// exactly where the previous growth ended; `end` is where the latest
/// growth ended; `shrink` gives back only memory below `end` that this
/// source handed out; and a mapping from `map` or `remap` is `len` bytes,
/// page-aligned, zeroed where new, and the caller's alone.
pub unsafe trait MemorySource {
    /// Moves the break up by `increment` bytes (a multiple of [`ALIGN`]) and
    /// returns the start of the new memory, or `None` when there is no more.
    /// Failure leaves the source as it was. Fresh memory reads as zero,
    /// including memory that was given back with `shrink` and grown again.
    fn grow(&mut self, increment: usize) -> Option<Grown>;

    /// Moves the break down by `decrement` bytes (a multiple of [`ALIGN`]),
    /// but only if the break is still at `end`, where this source's last
    /// growth ended (so nobody else has put anything above it), and only
    /// within the run of contiguous growths that ends there (never into
    /// memory someone else took from the break below it). Returns whether
    /// it shrank; a refusal changes nothing.
    ///
    /// # Safety
    /// Nothing refers to the `decrement` bytes below `end` any more: the
    /// caller owned them and is giving them up.
    unsafe fn shrink(&mut self, end: NonNull<u8>, decrement: usize) -> bool;

    /// The first address this source ever handed out, if any. Heap maps
    /// print offsets from here, so they read the same on every run.
    fn base(&self) -> Option<NonNull<u8>>;

    /// Where this source's most recent growth ended (its idea of the break).
    fn end(&self) -> Option<NonNull<u8>>;

    // ANCHOR: map
    /// Maps `len` bytes (a multiple of [`page_size`]) of fresh, zeroed
    /// memory of their own, outside the break, or `None` if this source
    /// cannot (the default) or the system refuses.
    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        let _ = len;
        None
    }

    /// Gives back a mapping made by [`map`](MemorySource::map) (or
    /// [`remap`](MemorySource::remap)), or whole pages at either end of one.
    ///
    /// # Safety
    /// `ptr` and `len` are exactly those of a live mapping from this source,
    /// or of whole pages at its start or its end; nothing refers to them
    /// any more.
    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) {
        let _ = (ptr, len);
    }

    /// Resizes a mapping to `new_len` bytes, moving it if need be, with its
    /// contents; `None` (and the mapping unchanged) if it cannot.
    ///
    /// # Safety
    /// As for [`unmap`](MemorySource::unmap), for `ptr` and `old_len`; after
    /// success, only the returned address may be used.
    unsafe fn remap(
        &mut self,
        ptr: NonNull<u8>,
        old_len: usize,
        new_len: usize,
    ) -> Option<NonNull<u8>> {
        let _ = (ptr, old_len, new_len);
        None
    }
    // ANCHOR_END: map

    // ANCHOR: release
    /// Tells the system that the `len` bytes at `ptr` (whole pages inside
    /// memory this source handed out) are not needed for now: their pages
    /// are dropped, and read as zero when next touched. The memory stays
    /// where it is and stays the caller's; only the physical pages go back.
    /// Returns whether the source did it (the default cannot).
    ///
    /// # Safety
    /// The range lies in memory from `grow` (or a mapping) that is the
    /// caller's, and nothing in it is needed: it will read as zero.
    unsafe fn release(&mut self, ptr: NonNull<u8>, len: usize) -> bool {
        let _ = (ptr, len);
        false
    }
    // ANCHOR_END: release
}
// ANCHOR_END: source

/// Serialises every `sbrk` call made through this crate. `sbrk` does an
/// unlocked read-modify-write of a process-wide variable, so two threads calling
/// it at once can both be handed the same memory.
static SBRK_LOCK: Mutex<()> = Mutex::new(());

/// The real program break, moved with `sbrk`.
///
/// Other code in the process (glibc's own `malloc`, for one) moves the same
/// break without asking us. `Sbrk` therefore remembers where its own last
/// growth ended and reports a growth as [`Grown::contiguous`] only when the
/// new memory starts exactly there.
#[derive(Debug, Default)]
pub struct Sbrk {
    base: Option<NonNull<u8>>,
    end: Option<NonNull<u8>>,
    /// Where the run of contiguous growths that ends at `end` starts.
    run_start: Option<NonNull<u8>>,
}

// SAFETY: `Sbrk` only holds addresses; every use of them goes through `sbrk`
// under `SBRK_LOCK` or through the allocator that owns the memory.
unsafe impl Send for Sbrk {}

impl Sbrk {
    /// A source that has not moved the break yet.
    pub const fn new() -> Self {
        Sbrk {
            base: None,
            end: None,
            run_start: None,
        }
    }
}

/// The size of a page of memory.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(ALIGN)
}

/// `mmap`'s failure value.
fn mapped(p: *mut libc::c_void) -> Option<NonNull<u8>> {
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// `sbrk`'s failure value is `(void *)-1`, not null.
fn sbrk_failed(p: *mut libc::c_void) -> bool {
    p as usize == usize::MAX
}

// ANCHOR: sbrk_grow
// SAFETY: `grow` returns memory that sbrk just added to the process (zero,
// the kernel's promise, or zeroed by `shrink`), aligned by the padding, and
// reports contiguity by comparing with its own last end.
unsafe impl MemorySource for Sbrk {
    fn grow(&mut self, increment: usize) -> Option<Grown> {
        debug_assert_eq!(increment % ALIGN, 0);
        let _guard = SBRK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: sbrk(0) only reads the current break; we hold SBRK_LOCK.
        let old = unsafe { libc::sbrk(0) };
        if sbrk_failed(old) {
            return None;
        }
        // Someone else may have left the break unaligned: pad up to ALIGN.
        let pad = (old as usize).wrapping_neg() % ALIGN;
        let total = increment.checked_add(pad)?;
        let total = isize::try_from(total).ok()?;
        // SAFETY: we hold SBRK_LOCK; a failure is reported as (void*)-1 and
        // changes nothing.
        let got = unsafe { libc::sbrk(total) };
        if sbrk_failed(got) {
            return None;
        }
        // Another thread may have moved the break between our two calls
        // without our lock (glibc's malloc does not take it). The memory
        // from `got` on is ours all the same; only the padding must be
        // worked out again.
        let pad_got = (got as usize).wrapping_neg() % ALIGN;
        if pad_got > pad {
            // Not enough room for the padding: give the memory back if it is
            // still on top, and fail.
            // SAFETY: we hold SBRK_LOCK, and shrink only if the break is
            // exactly where our own call left it.
            unsafe {
                if libc::sbrk(0) == got.cast::<u8>().wrapping_add(total as usize).cast() {
                    libc::sbrk(-total);
                }
            }
            return None;
        }
        if pad_got < pad {
            // The break moved by a different amount: we asked for more
            // padding than we need. Give the extra back if it is on top.
            let extra = (pad - pad_got) as isize;
            // SAFETY: we hold SBRK_LOCK; the last `extra` bytes below the
            // break are ours and unused, if the break is still where our
            // own call left it.
            unsafe {
                if libc::sbrk(0) == got.cast::<u8>().wrapping_add(total as usize).cast() {
                    libc::sbrk(-extra);
                }
            }
        }
        let start = NonNull::new((got as usize + pad_got) as *mut u8)?;
        // The kernel hands out whole zeroed pages, but the page the old
        // break fell in was already mapped: if someone else grew the break
        // into it, wrote there and shrank it again, their bytes are still
        // there. Clear that partial page, so fresh memory reads as zero.
        let start_addr = start.as_ptr() as usize;
        let dirty = start_addr
            .next_multiple_of(page_size())
            .min(start_addr + increment)
            - start_addr;
        // SAFETY: the `increment` bytes at `start` are ours now (sbrk just
        // added them), and `dirty <= increment`.
        unsafe { start.as_ptr().write_bytes(0, dirty) };
        let contiguous = self.end == Some(start);
        if !contiguous {
            self.run_start = Some(start);
        }
        self.end = NonNull::new((start.as_ptr() as usize + increment) as *mut u8);
        self.base.get_or_insert(start);
        Some(Grown { start, contiguous })
    }

    unsafe fn shrink(&mut self, end: NonNull<u8>, decrement: usize) -> bool {
        let Ok(dec) = isize::try_from(decrement) else {
            return false;
        };
        let _guard = SBRK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: sbrk(0) only reads the break; we hold SBRK_LOCK.
        let now = unsafe { libc::sbrk(0) };
        if self.end != Some(end) || now.cast::<u8>() != end.as_ptr() {
            return false; // someone else's memory is above ours
        }
        // Never below the start of the run that ends here: below it is
        // memory someone else took from the break, or nothing of ours.
        let Some(run_start) = self.run_start else {
            return false;
        };
        let ours = end.as_ptr() as usize - run_start.as_ptr() as usize;
        if decrement > ours || !decrement.is_multiple_of(ALIGN) {
            return false;
        }
        // The kernel unmaps only whole pages: bytes given back from the page
        // the new break falls in stay mapped, and would come back dirty the
        // next time the break grows. Zero them now, so that fresh memory
        // always reads as zero (`calloc` relies on it).
        let new_end = end.as_ptr() as usize - decrement;
        let zero_to = new_end
            .next_multiple_of(page_size())
            .min(end.as_ptr() as usize);
        // SAFETY: [new_end, zero_to) lies in the `decrement` bytes below the
        // break, which are ours (the break is where our last growth left it,
        // and we stay inside that growth's run), still mapped, and referenced
        // by nobody (the caller's promise). sbrk runs under SBRK_LOCK.
        let r = unsafe {
            end.as_ptr()
                .sub(decrement)
                .write_bytes(0, zero_to - new_end);
            libc::sbrk(-dec)
        };
        if sbrk_failed(r) {
            return false;
        }
        self.end = NonNull::new((end.as_ptr() as usize - decrement) as *mut u8);
        true
    }

    // ANCHOR_END: sbrk_grow

    fn base(&self) -> Option<NonNull<u8>> {
        self.base
    }

    fn end(&self) -> Option<NonNull<u8>> {
        self.end
    }

    // ANCHOR: sbrk_map
    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing touches no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        mapped(p)
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) {
        // SAFETY: the caller's promise: a live mapping of ours, or whole
        // pages at one of its ends (munmap takes any whole pages).
        unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    }

    unsafe fn release(&mut self, ptr: NonNull<u8>, len: usize) -> bool {
        // SAFETY: the caller's promise: whole pages of ours, not needed.
        // MADV_DONTNEED on private anonymous memory (the break is such
        // memory) drops the pages; the next touch gets zeroed ones.
        unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_DONTNEED) == 0 }
    }

    unsafe fn remap(
        &mut self,
        ptr: NonNull<u8>,
        old_len: usize,
        new_len: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller's promise: a whole live mapping of ours. With
        // MREMAP_MAYMOVE the kernel moves the pages (not their contents)
        // if it cannot grow the mapping where it is.
        let p =
            unsafe { libc::mremap(ptr.as_ptr().cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
        mapped(p)
    }
    // ANCHOR_END: sbrk_map
}

/// Alignment of an arena's first byte.
pub const ARENA_ALIGN: usize = 4096;

/// A fixed block of memory handed out like a program break.
///
/// `Arena::new(capacity)` reserves `capacity` bytes (zeroed, aligned to
/// [`ALIGN`]); each [`grow`](MemorySource::grow) hands out the next piece
/// and fails once the arena is full. [`Arena::foreign_grow`] moves the break
/// as someone else would, to test how an allocator copes with a gap.
#[derive(Debug)]
pub struct Arena {
    mem: NonNull<u8>,
    layout: Layout,
    /// Bytes handed out so far (ours and foreign): the arena's "break".
    brk: usize,
    /// Where our own last growth ended, as an offset.
    end: Option<usize>,
    /// Where our first growth started, as an offset.
    base: Option<usize>,
    /// Where the run of contiguous growths that ends at `end` starts.
    run_start: usize,
    /// Whether `map` makes real mappings (see [`Arena::with_mappings`]).
    maps: bool,
    /// Bytes handed back with [`release`](MemorySource::release), in all.
    released: usize,
}

// SAFETY: the arena owns its block exclusively; moving it to another thread
// moves that ownership.
unsafe impl Send for Arena {}

impl Arena {
    /// An arena of `capacity` bytes (rounded up to [`ALIGN`]), starting on
    /// an [`ARENA_ALIGN`] boundary.
    ///
    /// # Panics
    /// If `capacity` is zero or the block cannot be reserved: this runs in
    /// tests and demos, never inside an allocator.
    pub fn new(capacity: usize) -> Self {
        let capacity = align_up(capacity.max(ALIGN)).expect("arena capacity overflows");
        // Page-aligned, like the start of a fresh break, so that layouts
        // with larger alignments come out the same on every run.
        let layout = Layout::from_size_align(capacity, ARENA_ALIGN).expect("arena layout");
        // SAFETY: the layout has a non-zero size.
        let mem = unsafe { std::alloc::alloc_zeroed(layout) };
        let mem = NonNull::new(mem).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Arena {
            mem,
            layout,
            brk: 0,
            end: None,
            base: None,
            run_start: 0,
            maps: false,
            released: 0,
        }
    }

    /// An arena that also makes real mappings with `mmap` when asked to
    /// [`map`](MemorySource::map): a deterministic break for the heap, and
    /// real pages for big blocks. (Not under Miri, which has no `mmap`.)
    pub fn with_mappings(capacity: usize) -> Self {
        let mut arena = Arena::new(capacity);
        arena.maps = true;
        arena
    }

    /// Size of the arena in bytes.
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// The first byte of the arena's block.
    pub fn start(&self) -> *mut u8 {
        self.mem.as_ptr()
    }

    /// Bytes given back with [`release`](MemorySource::release) so far.
    pub fn released(&self) -> usize {
        self.released
    }

    /// Bytes below the break (ours and foreign).
    pub fn used(&self) -> usize {
        self.brk
    }

    /// Moves the break up by `n` bytes as if another part of the program had
    /// called `sbrk`: the next [`grow`](MemorySource::grow) is not contiguous
    /// with the previous one. Returns false if the arena is too full.
    pub fn foreign_grow(&mut self, n: usize) -> bool {
        match align_up(n).and_then(|n| self.brk.checked_add(n)) {
            Some(b) if b <= self.capacity() => {
                self.brk = b;
                true
            }
            _ => false,
        }
    }

    fn at(&self, offset: usize) -> NonNull<u8> {
        debug_assert!(offset <= self.capacity());
        // SAFETY: offset is within the block (or one past its end), so the
        // pointer stays inside the same allocation and is not null.
        unsafe { self.mem.add(offset) }
    }
}

// SAFETY: `grow` hands out the next unused, zeroed piece of the arena's own
// block, at a multiple of ALIGN from its aligned start; mappings are real
// ones, made as `Sbrk` makes them.
unsafe impl MemorySource for Arena {
    fn grow(&mut self, increment: usize) -> Option<Grown> {
        debug_assert_eq!(increment % ALIGN, 0);
        let new_brk = self.brk.checked_add(increment)?;
        if new_brk > self.capacity() {
            return None;
        }
        let start = self.brk;
        let contiguous = self.end == Some(start);
        if !contiguous {
            self.run_start = start;
        }
        self.brk = new_brk;
        self.end = Some(new_brk);
        self.base.get_or_insert(start);
        Some(Grown {
            start: self.at(start),
            contiguous,
        })
    }

    unsafe fn shrink(&mut self, end: NonNull<u8>, decrement: usize) -> bool {
        let end_off = (end.as_ptr() as usize).wrapping_sub(self.mem.as_ptr() as usize);
        if self.end != Some(end_off) || self.brk != end_off {
            return false; // someone else's memory is above ours
        }
        // Never below the start of the run that ends here.
        if decrement > end_off - self.run_start || !decrement.is_multiple_of(ALIGN) {
            return false;
        }
        self.brk -= decrement;
        self.end = Some(self.brk);
        // Memory given back and grown again reads as zero, as `Sbrk`
        // promises too.
        // SAFETY: [brk, brk + decrement) lies inside the block and nothing
        // refers to it any more (the caller's promise).
        unsafe { self.at(self.brk).as_ptr().write_bytes(0, decrement) };
        true
    }

    fn base(&self) -> Option<NonNull<u8>> {
        self.base.map(|o| self.at(o))
    }

    fn end(&self) -> Option<NonNull<u8>> {
        self.end.map(|o| self.at(o))
    }

    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        if self.maps {
            Sbrk::new().map(len)
        } else {
            None
        }
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) {
        // SAFETY: the caller's promise: a live mapping from `map`, or
        // whole pages at one of its ends.
        unsafe { Sbrk::new().unmap(ptr, len) }
    }

    unsafe fn release(&mut self, ptr: NonNull<u8>, len: usize) -> bool {
        // As `madvise(MADV_DONTNEED)` on the break: the memory stays, and
        // reads as zero from now on. Pages dropped are counted.
        // SAFETY: the caller's promise: memory of ours that nobody needs.
        unsafe { ptr.as_ptr().write_bytes(0, len) };
        self.released += len;
        true
    }

    unsafe fn remap(
        &mut self,
        ptr: NonNull<u8>,
        old_len: usize,
        new_len: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller's promise: a whole live mapping from `map`.
        unsafe { Sbrk::new().remap(ptr, old_len, new_len) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `mem` came from `alloc_zeroed` with exactly this layout.
        unsafe { std::alloc::dealloc(self.mem.as_ptr(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_grows_contiguously_and_fails_when_full() {
        let mut a = Arena::new(64);
        let g1 = a.grow(32).unwrap();
        assert!(!g1.contiguous, "the first growth has nothing before it");
        let g2 = a.grow(32).unwrap();
        assert!(g2.contiguous);
        assert_eq!(g2.start.as_ptr() as usize - g1.start.as_ptr() as usize, 32);
        assert_eq!(a.grow(16), None, "full");
        assert_eq!(a.used(), 64, "a failed growth changes nothing");
    }

    #[test]
    fn arena_memory_is_zeroed_and_aligned() {
        let mut a = Arena::new(256);
        let g = a.grow(128).unwrap();
        assert_eq!(g.start.as_ptr() as usize % ALIGN, 0);
        // SAFETY: 128 bytes from `g.start` were just handed to us.
        let bytes = unsafe { std::slice::from_raw_parts(g.start.as_ptr(), 128) };
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn foreign_growth_breaks_contiguity_and_blocks_shrinking() {
        let mut a = Arena::new(256);
        let g1 = a.grow(32).unwrap();
        let end1 = a.end().unwrap();
        assert!(a.foreign_grow(16));
        // SAFETY: nothing refers to the memory (so below).
        let shrunk = unsafe { a.shrink(end1, 32) };
        assert!(!shrunk, "someone else is above us");
        let g2 = a.grow(32).unwrap();
        assert!(!g2.contiguous);
        assert_eq!(g2.start.as_ptr() as usize - g1.start.as_ptr() as usize, 48);
        let end2 = a.end().unwrap();
        // SAFETY: as above.
        let shrunk = unsafe { a.shrink(end2, 64) };
        assert!(!shrunk, "would cross the foreign gap");
        // SAFETY: as above.
        let shrunk = unsafe { a.shrink(end2, 32) };
        assert!(shrunk);
        assert_eq!(a.used(), 48);
        // SAFETY: as above.
        let shrunk = unsafe { a.shrink(end2, 32) };
        assert!(!shrunk, "the break is no longer at end2");
    }

    #[test]
    fn huge_requests_fail_cleanly() {
        let mut a = Arena::new(64);
        assert_eq!(a.grow(usize::MAX - 15), None);
        assert_eq!(a.used(), 0);
        assert_eq!(align_up(usize::MAX), None);
    }

    #[test]
    fn shrinking_never_goes_below_the_start() {
        let mut a = Arena::new(256);
        assert!(a.foreign_grow(32));
        a.grow(64).unwrap();
        let end = a.end().unwrap();
        // SAFETY: nothing refers to the memory.
        let refused = !unsafe { a.shrink(end, 96) };
        assert!(refused, "the 32 foreign bytes below are not ours");
        // SAFETY: as above.
        assert!(!unsafe { a.shrink(end, 24) }, "not a multiple of 16");
        // SAFETY: as above.
        assert!(unsafe { a.shrink(end, 64) });
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not support sbrk")]
    fn sbrk_memory_given_back_comes_back_zeroed() {
        let mut s = Sbrk::new();
        let g = s.grow(256).expect("sbrk");
        // SAFETY: the 256 bytes at g.start are ours.
        unsafe { g.start.as_ptr().write_bytes(0xAB, 256) };
        let end = s.end().unwrap();
        // SAFETY: nothing refers to the 128 bytes any more.
        if !unsafe { s.shrink(end, 128) } {
            return; // another test moved the break in between: nothing to check
        }
        let Some(again) = s.grow(128) else { return };
        // SAFETY: the 128 bytes at again.start are ours.
        let bytes = unsafe { std::slice::from_raw_parts(again.start.as_ptr(), 128) };
        assert!(bytes.iter().all(|&b| b == 0), "stale bytes came back");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not support sbrk")]
    fn sbrk_growth_clears_what_someone_else_left_behind() {
        // Someone else grows the break, writes there and shrinks it back,
        // leaving the page the break is in dirty above the break.
        {
            let _guard = SBRK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: sbrk under SBRK_LOCK; we write only the 3000 bytes we
            // got, and give them back. (The break is first moved off a page
            // boundary, as a break often is, and left there.)
            unsafe {
                if (libc::sbrk(0) as usize).is_multiple_of(page_size()) {
                    assert!(!sbrk_failed(libc::sbrk(64)));
                }
                let p = libc::sbrk(3000);
                assert!(!sbrk_failed(p));
                p.cast::<u8>().write_bytes(0xCD, 3000);
                libc::sbrk(-3000);
            }
        }
        let mut s = Sbrk::new();
        let g = s.grow(8192).expect("sbrk");
        // SAFETY: the 8192 bytes at g.start are ours.
        let bytes = unsafe { std::slice::from_raw_parts(g.start.as_ptr(), 8192) };
        let dirty = bytes.iter().filter(|&&b| b != 0).count();
        assert_eq!(dirty, 0, "{dirty} bytes of fresh memory are not zero");
    }

    #[test]
    fn released_arena_memory_reads_as_zero_and_is_counted() {
        let mut a = Arena::new(8192);
        let g = a.grow(8192).unwrap();
        // SAFETY: the arena's 8192 bytes are ours.
        unsafe {
            g.start.as_ptr().write_bytes(0xEE, 8192);
            assert!(a.release(g.start.add(4096), 4096));
            assert_eq!(*g.start.as_ptr().add(4095), 0xEE);
            assert_eq!(*g.start.as_ptr().add(4096), 0);
        }
        assert_eq!(a.released(), 4096);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not support sbrk")]
    fn sbrk_grows_the_real_break() {
        let mut s = Sbrk::new();
        let g = s.grow(4096).expect("sbrk");
        assert_eq!(g.start.as_ptr() as usize % ALIGN, 0);
        assert!(!g.contiguous);
        // SAFETY: the 4096 bytes at g.start are ours.
        unsafe { g.start.as_ptr().write_bytes(0xAB, 4096) };
        assert_eq!(s.base(), Some(g.start));
        // A huge request fails with None, not a panic, and changes nothing.
        let end = s.end();
        assert_eq!(s.grow(usize::MAX & !(ALIGN - 1)), None);
        assert_eq!(s.end(), end);
    }
}

// ANCHOR: counted
/// How many times each of a source's methods was called (and, for `grow`
/// and `shrink`, actually moved the break).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// Growths that succeeded.
    pub grow: usize,
    /// Shrinks that succeeded.
    pub shrink: usize,
    /// Calls to `release`.
    pub release: usize,
    /// Calls to `map`, `unmap` and `remap`.
    pub map: usize,
}

/// A memory source that counts the calls made to another: each of them is
/// a system call on the real break, so this is how many an allocator
/// would make.
#[derive(Debug, Default)]
pub struct Counted<S> {
    /// The source that does the work.
    pub inner: S,
    /// The calls so far.
    pub calls: Calls,
}

impl<S> Counted<S> {
    /// Counts the calls made to `inner`.
    pub const fn new(inner: S) -> Self {
        Counted {
            inner,
            calls: Calls {
                grow: 0,
                shrink: 0,
                release: 0,
                map: 0,
            },
        }
    }
}

// SAFETY: every method is `inner`'s, which keeps its promises.
unsafe impl<S: MemorySource> MemorySource for Counted<S> {
    fn grow(&mut self, increment: usize) -> Option<Grown> {
        let g = self.inner.grow(increment);
        self.calls.grow += usize::from(g.is_some());
        g
    }

    unsafe fn shrink(&mut self, end: NonNull<u8>, decrement: usize) -> bool {
        // SAFETY: the caller's promise, passed on.
        let done = unsafe { self.inner.shrink(end, decrement) };
        self.calls.shrink += usize::from(done);
        done
    }

    fn base(&self) -> Option<NonNull<u8>> {
        self.inner.base()
    }

    fn end(&self) -> Option<NonNull<u8>> {
        self.inner.end()
    }

    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        self.calls.map += 1;
        self.inner.map(len)
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) {
        self.calls.map += 1;
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.unmap(ptr, len) }
    }

    unsafe fn remap(
        &mut self,
        ptr: NonNull<u8>,
        old_len: usize,
        new_len: usize,
    ) -> Option<NonNull<u8>> {
        self.calls.map += 1;
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.remap(ptr, old_len, new_len) }
    }

    unsafe fn release(&mut self, ptr: NonNull<u8>, len: usize) -> bool {
        self.calls.release += 1;
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.release(ptr, len) }
    }
}
// ANCHOR_END: counted
