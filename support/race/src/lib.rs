//! The race track: every allocator of the book from chapter 3 on, and the
//! allocators a reader would pick instead, on the same workloads, in one
//! run, rounds interleaved, so that their ratios mean something on a noisy
//! machine. `src/main.rs` writes what the book shows; this library holds
//! the contestants, the workloads and the measuring.

use alloc_suite::workload::{Op, Rng, reference};
use allockit::Malloc;
use memsource::{Arena, Grown, MemorySource};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The race's own allocator (for its bookkeeping, not a contestant):
/// glibc's, except for the arenas. An arena asks for zeroed memory aligned
/// to a page, which glibc would get by allocating and then writing zeros
/// over every page: gigabytes, for the arenas the race gives out. Mapped
/// fresh instead, their pages cost nothing until a heap touches them, so
/// the resident memory the race measures is the heap's own.
struct Harness;

#[global_allocator]
static HARNESS: Harness = Harness;

impl Harness {
    /// Whether a request is an arena's: mapped, not glibc's.
    fn maps(l: Layout) -> bool {
        l.align() == memsource::ARENA_ALIGN && l.size() >= 1 << 16
    }
}

// SAFETY: mapped requests get fresh zeroed pages of their own (page
// aligned, and the arenas' alignment is one page), unmapped with the
// same size; every other request goes to glibc as it is.
unsafe impl GlobalAlloc for Harness {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !Self::maps(l) {
            // SAFETY: GlobalAlloc's contract, passed on.
            return unsafe { System.alloc(l) };
        }
        // SAFETY: a fresh private mapping, no address asked for.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                l.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if Self::maps(l) {
            // SAFETY: as for alloc; fresh mappings read as zero.
            unsafe { self.alloc(l) }
        } else {
            // SAFETY: GlobalAlloc's contract, passed on.
            unsafe { System.alloc_zeroed(l) }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if Self::maps(l) {
            // SAFETY: a mapping of exactly this size, from alloc.
            unsafe { libc::munmap(p.cast(), l.size()) };
        } else {
            // SAFETY: GlobalAlloc's contract, passed on.
            unsafe { System.dealloc(p, l) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `new`, rounded up to the
        // alignment, does not overflow.
        let nl = unsafe { Layout::from_size_align_unchecked(new, l.align()) };
        if !Self::maps(l) && !Self::maps(nl) {
            // SAFETY: GlobalAlloc's contract, passed on.
            return unsafe { System.realloc(p, l, new) };
        }
        // SAFETY: as for alloc and dealloc; the two blocks are distinct.
        unsafe {
            let q = self.alloc(nl);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p, q, l.size().min(new));
                self.dealloc(p, l);
            }
            q
        }
    }
}

// ANCHOR: alloc
/// What the race asks of an allocator: a block of `size` bytes aligned to
/// 16, giving it back with its size (Rust's `GlobalAlloc` needs it; the
/// book's heaps ignore it), and resizing it.
pub trait Alloc {
    /// A block, or null.
    fn alloc(&mut self, size: usize) -> *mut u8;
    /// Gives back a block of `size` bytes from `alloc`.
    ///
    /// # Safety
    /// `p` is a live block of this allocator, of `size` bytes.
    unsafe fn free(&mut self, p: *mut u8, size: usize);
    /// Resizes a block of `size` bytes to `new` bytes, keeping what it
    /// holds: the block (moved or not), or null and the old block left
    /// as it was.
    ///
    /// # Safety
    /// As for [`free`](Alloc::free); after success only the returned
    /// address may be used.
    unsafe fn realloc(&mut self, p: *mut u8, size: usize, new: usize) -> *mut u8;
    /// The most bytes it has taken from its memory source so far, if the
    /// race can see its source.
    fn taken(&self) -> Option<usize> {
        None
    }
}

/// A chapter's heap, through the book's own interface.
pub struct Book<M>(pub M);

impl<M: Malloc> Alloc for Book<M> {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.0.malloc(size)
    }

    unsafe fn free(&mut self, p: *mut u8, _size: usize) {
        // SAFETY: the caller's promise: a live block of this heap.
        let r = unsafe { self.0.free(p) };
        debug_assert!(r.is_ok());
    }

    unsafe fn realloc(&mut self, p: *mut u8, size: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller's promise: a live block of this heap.
        match unsafe { self.0.realloc(p, new) } {
            Some(q) => q,
            // A chapter without `realloc` (3 to 5): what a program does
            // then, allocate, copy, free.
            None => {
                let q = self.0.malloc(new);
                if !q.is_null() {
                    // SAFETY: p (size bytes) and q (new bytes) are live
                    // and distinct blocks; p is given back once.
                    unsafe {
                        std::ptr::copy_nonoverlapping(p, q, size.min(new));
                        let _ = self.0.free(p);
                    }
                }
                q
            }
        }
    }
}

/// A Rust global allocator, through `GlobalAlloc`.
pub struct Peer<'a, G>(pub &'a G);

impl<G: GlobalAlloc> Alloc for Peer<'_, G> {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        match Layout::from_size_align(size, 16) {
            // SAFETY: the layout has a non-zero size (the workloads never
            // ask for 0 bytes).
            Ok(l) => unsafe { self.0.alloc(l) },
            Err(_) => std::ptr::null_mut(),
        }
    }

    unsafe fn free(&mut self, p: *mut u8, size: usize) {
        // SAFETY: the caller's promise: a live block of this layout.
        unsafe {
            self.0
                .dealloc(p, Layout::from_size_align_unchecked(size, 16))
        }
    }

    unsafe fn realloc(&mut self, p: *mut u8, size: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller's promise: a live block of this layout; the
        // new size is non-zero and small enough for a layout (the
        // workloads ask for 4 MiB at most).
        unsafe {
            self.0
                .realloc(p, Layout::from_size_align_unchecked(size, 16), new)
        }
    }
}
// ANCHOR_END: alloc

/// The blocks a workload holds: address and size.
pub type Live = Vec<(*mut u8, usize)>;

/// Writes the first and the last byte of a new block.
fn touch(p: *mut u8, size: usize) {
    // SAFETY: the callers pass a new block of `size` >= 1 bytes.
    unsafe {
        p.write(size as u8);
        p.add(size - 1).write(size as u8);
    }
}

// ANCHOR: exec
/// Runs `ops` on `a`, with `live` the blocks held (from earlier ops),
/// writing the first and last byte of every new or resized block. Returns
/// how many allocations failed.
pub fn exec(a: &mut (impl Alloc + ?Sized), live: &mut Live, ops: &[Op]) -> usize {
    let mut failed = 0;
    for op in ops {
        match *op {
            Op::Malloc(size) => {
                let p = black_box(a.alloc(size));
                if p.is_null() {
                    failed += 1;
                    continue;
                }
                touch(p, size);
                live.push((p, size));
            }
            Op::Free(i) if !live.is_empty() => {
                let (p, size) = live.swap_remove(i % live.len());
                // SAFETY: a live block of `a`, given back once.
                unsafe { a.free(p, size) };
            }
            Op::Realloc(i, new) if !live.is_empty() => {
                let i = i % live.len();
                let (p, size) = live[i];
                // SAFETY: a live block of `a`, replaced by what comes back.
                let q = black_box(unsafe { a.realloc(p, size, new) });
                if q.is_null() {
                    failed += 1;
                    continue;
                }
                touch(q, new);
                live[i] = (q, new);
            }
            Op::Free(_) | Op::Realloc(..) => {}
            Op::Calloc(..) => unreachable!("the race's workloads do not use it"),
        }
    }
    failed
}
// ANCHOR_END: exec

/// Gives back every block in `live`.
pub fn free_all(a: &mut (impl Alloc + ?Sized), live: &mut Live) {
    for (p, size) in live.drain(..) {
        // SAFETY: a live block of `a`, given back once.
        unsafe { a.free(p, size) };
    }
}

// ANCHOR: workload
/// A workload: `fill` builds the heap (not timed), `timed` is measured,
/// and whatever is still live afterwards is freed (not timed).
pub struct Workload {
    /// Its name in tables.
    pub name: String,
    /// Operations run before the clock starts.
    pub fill: Vec<Op>,
    /// Operations timed.
    pub timed: Vec<Op>,
    /// Time only the frees among `timed` (runs of them, one clock reading
    /// per run), and count only them.
    pub frees_only: bool,
}

impl Workload {
    /// The operations the time is divided by: all the timed ones, or the
    /// frees if only they are timed.
    pub fn counted(&self) -> usize {
        if self.frees_only {
            self.timed
                .iter()
                .filter(|op| matches!(op, Op::Free(_)))
                .count()
        } else {
            self.timed.len()
        }
    }
}

/// The reference workload (sizes 8-512 bytes, fill to `max_live`, then
/// malloc or free with equal odds, then free everything), all of it timed.
pub fn reference_workload(ops: usize, max_live: usize) -> Workload {
    Workload {
        name: format!("reference ({ops} ops, {max_live} live)"),
        fill: Vec::new(),
        timed: reference(ops, max_live, SEED),
        frees_only: false,
    }
}

/// How cost grows with the heap: `live` blocks allocated first (not
/// timed), then `ops` operations of the reference kind that keep about
/// that many live.
pub fn scaling_workload(live: usize, ops: usize) -> Workload {
    let all = reference(live + ops, live, SEED);
    Workload {
        name: format!("{live} live"),
        fill: all[..live].to_vec(),
        timed: all[live..live + ops].to_vec(),
        frees_only: false,
    }
}

/// What `free` costs as the heap grows: `live` blocks allocated first (not
/// timed), then `batches` times, 100 frees of blocks picked at random
/// (timed, one clock reading per batch) and 100 new blocks (not timed), so
/// that the heap stays the same size.
pub fn free_workload(live: usize, batches: usize) -> Workload {
    const BATCH: usize = 100;
    let mut rng = Rng::new(SEED + 4);
    let fill = (0..live).map(|_| Op::Malloc(rng.range(8, 512))).collect();
    let mut timed = Vec::with_capacity(batches * 2 * BATCH);
    for _ in 0..batches {
        timed.extend((0..BATCH).map(|_| Op::Free(rng.range(0, usize::MAX >> 1))));
        timed.extend((0..BATCH).map(|_| Op::Malloc(rng.range(8, 512))));
    }
    Workload {
        name: format!("{live} live"),
        fill,
        timed,
        frees_only: true,
    }
}
// ANCHOR_END: workload

// ANCHOR: more_workloads
/// Blocks that grow: strings and vectors being built. First `max_live`
/// small blocks (8-64 bytes); then, of every four operations, about two
/// grow a live block (double it, or add 8-64 bytes; a block that would
/// pass 64 KiB is freed instead), one allocates a new small block and one
/// frees one. Then everything is freed. All of it timed.
pub fn realloc_workload(ops: usize, max_live: usize) -> Workload {
    const LIMIT: usize = 64 * 1024;
    let mut rng = Rng::new(SEED + 1);
    let mut sizes: Vec<usize> = Vec::with_capacity(max_live);
    let mut out = Vec::with_capacity(ops + max_live);
    for n in 0..ops {
        let roll = rng.range(0, 99);
        let grow = roll < 50 && n >= max_live && !sizes.is_empty();
        let malloc = !grow && (n < max_live || (roll < 75 && sizes.len() < max_live));
        if grow {
            let i = rng.range(0, sizes.len() - 1);
            let new = if rng.next_u64().is_multiple_of(2) {
                sizes[i] * 2
            } else {
                sizes[i] + rng.range(8, 64)
            };
            if new > LIMIT {
                out.push(Op::Free(i));
                sizes.swap_remove(i);
            } else {
                out.push(Op::Realloc(i, new));
                sizes[i] = new;
            }
        } else if malloc || sizes.is_empty() {
            let size = rng.range(8, 64);
            out.push(Op::Malloc(size));
            sizes.push(size);
        } else {
            let i = rng.range(0, sizes.len() - 1);
            out.push(Op::Free(i));
            sizes.swap_remove(i);
        }
    }
    out.extend(sizes.iter().map(|_| Op::Free(0)));
    Workload {
        name: format!("realloc ({ops} ops, {max_live} live)"),
        fill: Vec::new(),
        timed: out,
        frees_only: false,
    }
}

/// Big blocks, 64 KiB to 4 MiB (each power of two as likely as the
/// next): fill to `max_live`, then malloc or free with equal odds, then
/// free everything. All of it timed.
pub fn big_workload(ops: usize, max_live: usize) -> Workload {
    let mut rng = Rng::new(SEED + 2);
    let mut out = Vec::with_capacity(ops + max_live);
    let mut live = 0usize;
    for n in 0..ops {
        if live > 0 && (live == max_live || (n >= max_live && rng.next_u64().is_multiple_of(2))) {
            out.push(Op::Free(rng.range(0, usize::MAX - 1)));
            live -= 1;
        } else {
            let shift = rng.range(16, 21);
            out.push(Op::Malloc(rng.range(1 << shift, (2 << shift) - 1)));
            live += 1;
        }
    }
    out.extend((0..live).map(|_| Op::Free(0)));
    Workload {
        name: format!("big ({ops} ops, {max_live} live)"),
        fill: Vec::new(),
        timed: out,
        frees_only: false,
    }
}

/// Fragmentation, `cycles` times over: allocate `n` small blocks (16-64
/// bytes), free every other one of them, then allocate `n / 4` larger
/// blocks (128-512 bytes), too big for the holes; what survives a cycle
/// stays. Then everything is freed. All of it timed.
pub fn fragmentation_workload(n: usize, cycles: usize) -> Workload {
    let mut rng = Rng::new(SEED + 3);
    let mut out = Vec::new();
    // The blocks as `exec` will hold them (by serial number), and where
    // each serial number sits in that list, so that a block can be freed
    // by its place in the order of allocation.
    let mut live: Vec<usize> = Vec::new();
    let mut at: Vec<usize> = Vec::new();
    let malloc = |size: usize, out: &mut Vec<Op>, live: &mut Vec<usize>, at: &mut Vec<usize>| {
        out.push(Op::Malloc(size));
        at.push(live.len());
        live.push(at.len() - 1);
    };
    for _ in 0..cycles {
        let first = at.len();
        for _ in 0..n {
            malloc(rng.range(16, 64), &mut out, &mut live, &mut at);
        }
        for serial in (first..first + n).step_by(2) {
            let i = at[serial];
            out.push(Op::Free(i));
            live.swap_remove(i);
            if let Some(&moved) = live.get(i) {
                at[moved] = i;
            }
        }
        for _ in 0..n / 4 {
            malloc(rng.range(128, 512), &mut out, &mut live, &mut at);
        }
    }
    out.extend(live.iter().map(|_| Op::Free(0)));
    Workload {
        name: format!("fragmentation ({cycles} cycles of {n})"),
        fill: Vec::new(),
        timed: out,
        frees_only: false,
    }
}
// ANCHOR_END: more_workloads

/// The seed of every workload (the later workloads add 1, 2, 3).
pub const SEED: u64 = 2026;

/// Most payload bytes live at any one time in `ops`.
pub fn peak_live(ops: &[Op]) -> usize {
    let mut live: Vec<usize> = Vec::new();
    let (mut bytes, mut peak) = (0usize, 0usize);
    for op in ops {
        match *op {
            Op::Malloc(s) => {
                live.push(s);
                bytes += s;
            }
            Op::Free(i) if !live.is_empty() => bytes -= live.swap_remove(i % live.len()),
            Op::Realloc(i, s) if !live.is_empty() => {
                let i = i % live.len();
                bytes = bytes - live[i] + s;
                live[i] = s;
            }
            _ => {}
        }
        peak = peak.max(bytes);
    }
    peak
}

/// Bytes of arena that `ops` can need if nothing is ever reused (at most
/// 8 GiB: the pages are only reserved, and cost nothing until touched).
pub fn arena_for(w: &Workload) -> usize {
    let bytes = w
        .fill
        .iter()
        .chain(&w.timed)
        .map(|op| match op {
            Op::Malloc(s) | Op::Realloc(_, s) => s + 64,
            _ => 0,
        })
        .sum::<usize>()
        + (1 << 20);
    bytes.min(8 << 30)
}

/// One run: how long the timed part took, and how many allocations failed.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Time of the timed operations.
    pub time: Duration,
    /// Allocations that returned null.
    pub failed: usize,
}

/// Runs `w` on `a`: the fill, the timed part under the clock, then frees
/// what is left.
pub fn time(a: &mut (impl Alloc + ?Sized), w: &Workload) -> Run {
    let mut live = Live::with_capacity(w.fill.len() + w.timed.len());
    let mut failed = exec(a, &mut live, &w.fill);
    let mut time = Duration::ZERO;
    if w.frees_only {
        // Runs of frees under the clock, the rest not.
        let mut ops = black_box(&w.timed[..]);
        while let Some(first) = ops.first() {
            let is_free = matches!(first, Op::Free(_));
            let n = ops
                .iter()
                .take_while(|op| matches!(op, Op::Free(_)) == is_free)
                .count();
            let start = Instant::now();
            failed += exec(a, &mut live, &ops[..n]);
            if is_free {
                time += start.elapsed();
            }
            ops = &ops[n..];
        }
    } else {
        let start = Instant::now();
        failed += exec(a, &mut live, black_box(&w.timed));
        time = start.elapsed();
    }
    free_all(a, &mut live);
    Run { time, failed }
}

// ANCHOR: tracked
/// An arena that remembers the most memory the heap over it ever held:
/// its break plus what it mapped for big blocks. The book's heaps run on
/// it, so the race can say how much memory each took.
pub struct Tracked {
    arena: Arena,
    mapped: usize,
    peak: Arc<AtomicUsize>,
}

impl Tracked {
    /// A source over `arena`, and the handle that reads its peak.
    pub fn new(arena: Arena) -> (Self, Arc<AtomicUsize>) {
        let peak = Arc::new(AtomicUsize::new(0));
        let t = Tracked {
            arena,
            mapped: 0,
            peak: peak.clone(),
        };
        (t, peak)
    }

    fn note(&self) {
        self.peak
            .fetch_max(self.arena.used() + self.mapped, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to the arena, which keeps the contract; the
// wrapper only counts.
unsafe impl MemorySource for Tracked {
    fn grow(&mut self, increment: usize) -> Option<Grown> {
        let g = self.arena.grow(increment);
        self.note();
        g
    }

    unsafe fn shrink(&mut self, end: NonNull<u8>, decrement: usize) -> bool {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.arena.shrink(end, decrement) }
    }

    fn base(&self) -> Option<NonNull<u8>> {
        self.arena.base()
    }

    fn end(&self) -> Option<NonNull<u8>> {
        self.arena.end()
    }

    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        let p = self.arena.map(len);
        if p.is_some() {
            self.mapped += len;
            self.note();
        }
        p
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) {
        self.mapped -= len;
        // SAFETY: the caller's promise, passed on.
        unsafe { self.arena.unmap(ptr, len) }
    }

    unsafe fn remap(
        &mut self,
        ptr: NonNull<u8>,
        old_len: usize,
        new_len: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller's promise, passed on.
        let p = unsafe { self.arena.remap(ptr, old_len, new_len) };
        if p.is_some() {
            self.mapped = self.mapped - old_len + new_len;
            self.note();
        }
        p
    }

    unsafe fn release(&mut self, ptr: NonNull<u8>, len: usize) -> bool {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.arena.release(ptr, len) }
    }
}

/// A chapter's heap with the peak of its memory source.
pub struct Measured<M> {
    heap: Book<M>,
    peak: Arc<AtomicUsize>,
}

impl<M: Malloc> Measured<M> {
    /// The heap `new` makes over `arena`.
    pub fn new(new: fn(Tracked) -> M, arena: Arena) -> Self {
        let (source, peak) = Tracked::new(arena);
        Measured {
            heap: Book(new(source)),
            peak,
        }
    }
}

impl<M: Malloc> Alloc for Measured<M> {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.heap.alloc(size)
    }

    unsafe fn free(&mut self, p: *mut u8, size: usize) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.heap.free(p, size) }
    }

    unsafe fn realloc(&mut self, p: *mut u8, size: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.heap.realloc(p, size, new) }
    }

    fn taken(&self) -> Option<usize> {
        Some(self.peak.load(Ordering::Relaxed))
    }
}
// ANCHOR_END: tracked

// ANCHOR: threads
/// What the race asks of an allocator that several threads share.
pub trait SharedAlloc: Sync {
    /// A block of `size` bytes aligned to 16, or null.
    fn alloc(&self, size: usize) -> *mut u8;
    /// Gives back a block, from any thread.
    ///
    /// # Safety
    /// `p` is a live block of this allocator, of `size` bytes.
    unsafe fn free(&self, p: *mut u8, size: usize);
}

/// A thread-safe Rust global allocator.
pub struct Global<G>(pub G);

impl<G: GlobalAlloc + Sync> SharedAlloc for Global<G> {
    fn alloc(&self, size: usize) -> *mut u8 {
        Peer(&self.0).alloc(size)
    }

    unsafe fn free(&self, p: *mut u8, size: usize) {
        // SAFETY: the caller's promise, passed on.
        unsafe { Peer(&self.0).free(p, size) }
    }
}

/// A chapter's heap behind one lock, as its `#[global_allocator]` has it
/// (chapters 7 to 9): every call takes the lock.
pub struct OneLock<M>(pub Mutex<M>);

impl<M: Malloc + Send> SharedAlloc for OneLock<M> {
    fn alloc(&self, size: usize) -> *mut u8 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .malloc(size)
    }

    unsafe fn free(&self, p: *mut u8, _size: usize) {
        let mut heap = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the caller's promise: a live block of this heap.
        let r = unsafe { heap.free(p) };
        debug_assert!(r.is_ok());
    }
}

/// The threads workload: `threads` threads, each making `steps`
/// allocations (8-512 bytes). Half of a thread's blocks it keeps (up to
/// `local` at a time, freeing a random one to make room); the other half
/// it passes, `batch` at a time, to the next thread, which frees them.
/// Every block is freed before the clock stops.
#[derive(Debug, Clone)]
pub struct Threads {
    /// Its name in progress lines.
    pub name: String,
    /// Threads running at once.
    pub threads: usize,
    /// Allocations per thread (each is freed too: twice as many operations).
    pub steps: usize,
    /// Blocks a thread keeps.
    pub local: usize,
    /// Blocks passed to the next thread at a time.
    pub batch: usize,
}

impl Threads {
    /// The workload with `threads` threads of `steps` allocations each.
    pub fn new(threads: usize, steps: usize) -> Self {
        Threads {
            name: format!("{threads} threads ({steps} allocations each)"),
            threads,
            steps,
            local: 1000,
            batch: 64,
        }
    }

    /// Operations timed, all threads together.
    pub fn ops(&self) -> usize {
        2 * self.steps * self.threads
    }
}

/// A batch of blocks on its way to the thread that frees them.
type Batch = Vec<(usize, usize)>;

/// Runs `t` on `a`: the threads start together; the time is from then
/// until the last one is done.
pub fn run_threads(a: &dyn SharedAlloc, t: &Threads) -> Run {
    let mailboxes: Vec<Mutex<Vec<Batch>>> = (0..t.threads)
        .map(|_| Mutex::new(Vec::with_capacity(256)))
        .collect();
    let start_line = Barrier::new(t.threads + 1);
    let all_sent = Barrier::new(t.threads);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..t.threads)
            .map(|i| {
                let (mailboxes, start_line, all_sent, failed) =
                    (&mailboxes, &start_line, &all_sent, &failed);
                s.spawn(move || {
                    worker(a, t, i, mailboxes, start_line, all_sent, failed);
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for w in workers {
            w.join().expect("a thread of the race panicked");
        }
        Run {
            time: start.elapsed(),
            failed: failed.load(Ordering::Relaxed),
        }
    })
}

/// One thread of the threads workload.
fn worker(
    a: &dyn SharedAlloc,
    t: &Threads,
    me: usize,
    mailboxes: &[Mutex<Vec<Batch>>],
    start_line: &Barrier,
    all_sent: &Barrier,
    failed: &AtomicUsize,
) {
    let lock = |i: usize| mailboxes[i].lock().unwrap_or_else(PoisonError::into_inner);
    let next = (me + 1) % t.threads;
    // Everything this thread will do, decided before the clock starts.
    let mut rng = Rng::new(SEED + 10 + me as u64);
    let plan: Vec<(usize, u64)> = (0..t.steps)
        .map(|_| (rng.range(8, 512), rng.next_u64()))
        .collect();
    let mut local: Batch = Vec::with_capacity(t.local);
    let mut out: Batch = Vec::with_capacity(t.batch);
    let mut spare: Vec<Batch> = (0..16).map(|_| Vec::with_capacity(t.batch)).collect();
    let mut inbox: Vec<Batch> = Vec::with_capacity(256);
    let drain = |inbox: &mut Vec<Batch>, spare: &mut Vec<Batch>| {
        std::mem::swap(inbox, &mut *lock(me));
        for mut batch in inbox.drain(..) {
            for (p, size) in batch.drain(..) {
                // SAFETY: a live block of `a`, passed to this thread
                // alone, freed once.
                unsafe { a.free(p as *mut u8, size) };
            }
            spare.push(batch);
        }
    };
    start_line.wait();
    for &(size, roll) in &plan {
        let p = a.alloc(size);
        if p.is_null() {
            failed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        touch(p, size);
        if roll.is_multiple_of(2) {
            if local.len() == t.local {
                let (q, qsize) = local.swap_remove((roll >> 1) as usize % t.local);
                // SAFETY: a live block of `a`, this thread's, freed once.
                unsafe { a.free(q as *mut u8, qsize) };
            }
            local.push((p as usize, size));
        } else {
            out.push((p as usize, size));
            if out.len() == t.batch {
                let fresh = spare.pop().unwrap_or_else(|| Vec::with_capacity(t.batch));
                lock(next).push(std::mem::replace(&mut out, fresh));
                drain(&mut inbox, &mut spare);
            }
        }
    }
    for (p, size) in local.drain(..) {
        // SAFETY: a live block of `a`, this thread's, freed once.
        unsafe { a.free(p as *mut u8, size) };
    }
    lock(next).push(out);
    all_sent.wait();
    drain(&mut inbox, &mut spare);
}
// ANCHOR_END: threads

// ANCHOR: contestant
/// Who races, and how to run each workload on a fresh (or emptied)
/// instance.
pub struct Contestant {
    /// Its name in tables.
    pub name: &'static str,
    /// One of the book's allocators (else a peer).
    pub book: bool,
    /// Whether its cost grows with the number of blocks (a walk over a
    /// list): it then runs fewer operations.
    pub slow: bool,
    /// Runs a workload once.
    pub run: Box<dyn Fn(&Workload) -> Run>,
    /// Hands the allocator (over an arena of the given size, if it needs
    /// one) to a function, for checks and measures outside the race.
    pub with: WithAlloc,
    /// Hands the allocator confined to an arena of the given size, with
    /// nothing else to take memory from; or says why it cannot be.
    pub confined: Result<WithAlloc, &'static str>,
    /// Runs the threads workload once; or says why it cannot.
    pub threads: Result<RunThreads, &'static str>,
}

/// Runs the threads workload once.
pub type RunThreads = Box<dyn Fn(&Threads) -> Run>;

/// Hands an allocator, over an arena of the given size, to a function.
pub type WithAlloc = Box<dyn Fn(usize, &mut dyn FnMut(&mut dyn Alloc))>;

/// A chapter's heap over a fresh arena for every run (made before the
/// clock starts). The threads workload puts it behind one lock.
fn chapter<M: Malloc + Send + 'static>(new: fn(Tracked) -> M) -> Contestant {
    named_chapter(M::NAME, true, new)
}

/// [`chapter`], under a name of its own (for a chapter's heap with one of
/// its options), and not `slow` if its operations do not walk the heap.
fn named_chapter<M: Malloc + Send + 'static>(
    name: &'static str,
    slow: bool,
    new: fn(Tracked) -> M,
) -> Contestant {
    Contestant {
        name,
        book: true,
        slow,
        run: Box::new(move |w| {
            time(
                &mut Measured::new(new, Arena::with_mappings(arena_for(w))),
                w,
            )
        }),
        with: Box::new(move |bytes, f| f(&mut Measured::new(new, Arena::with_mappings(bytes)))),
        confined: Ok(Box::new(move |bytes, f| {
            f(&mut Measured::new(new, Arena::new(bytes)))
        })),
        threads: Ok(Box::new(move |t| {
            let bytes = (t.ops() * (512 + 64) + (1 << 20)).min(8 << 30);
            let (source, _) = Tracked::new(Arena::with_mappings(bytes));
            run_threads(&OneLock(Mutex::new(new(source))), t)
        })),
    }
}

/// A thread-safe Rust global allocator, which lives as long as the race;
/// `confined` makes one of its kind over an arena, if it can be.
fn peer<G: GlobalAlloc + Sync + 'static>(
    name: &'static str,
    slow: bool,
    g: G,
    confined: Result<WithAlloc, &'static str>,
) -> Contestant {
    let g = Arc::new(Global(g));
    let (g2, g3) = (g.clone(), g.clone());
    Contestant {
        name,
        book: false,
        slow,
        run: Box::new(move |w| time(&mut Peer(&g.0), w)),
        with: Box::new(move |_, f| f(&mut Peer(&g2.0))),
        confined,
        threads: Ok(Box::new(move |t| run_threads(&*g3, t))),
    }
}

/// A Rust global allocator made for one thread.
fn single_threaded_peer<G: GlobalAlloc + 'static>(
    name: &'static str,
    g: G,
    confined: Result<WithAlloc, &'static str>,
    why: &'static str,
) -> Contestant {
    let g = std::rc::Rc::new(g);
    let g2 = g.clone();
    Contestant {
        name,
        book: false,
        slow: false,
        run: Box::new(move |w| time(&mut Peer(&*g), w)),
        with: Box::new(move |_, f| f(&mut Peer(&*g2))),
        confined,
        threads: Err(why),
    }
}

/// Memory for the peers that manage a region they are given.
fn region(bytes: usize) -> (*mut u8, usize) {
    let arena = Box::leak(Box::new(Arena::new(bytes)));
    (arena.start(), arena.capacity())
}

/// Why the system's allocators cannot be confined to an arena.
const OWN_MEMORY: &str =
    "takes its memory from the system itself (brk, mmap): it cannot be given an arena";

/// Every contestant: the system allocator first (the yardstick), the
/// other peers, then the book's chapters from 3 on. A new chapter joins
/// the race with one more line at the end.
pub fn contestants() -> Vec<Contestant> {
    // Allocators that are given one region up front: big enough for the
    // largest workload even if fragmented (untouched pages cost nothing).
    const REGION: usize = 1 << 30;
    let list = linked_list_allocator::LockedHeap::empty();
    let (start, len) = region(REGION);
    // SAFETY: the region is ours, leaked, and given to this heap alone.
    unsafe { list.lock().init(start, len) };
    let buddy = buddy_system_allocator::LockedHeap::<33>::new();
    let (start, len) = region(REGION);
    // SAFETY: as above.
    unsafe { buddy.lock().init(start as usize, len) };
    vec![
        peer("glibc (System)", false, System, Err(OWN_MEMORY)),
        peer("mimalloc", false, mimalloc::MiMalloc, Err(OWN_MEMORY)),
        peer(
            "jemalloc",
            false,
            tikv_jemallocator::Jemalloc,
            Err(OWN_MEMORY),
        ),
        single_threaded_peer(
            "talc",
            talc::TalcCell::new(talc::source::GlobalAllocSource::new(System)),
            Ok(Box::new(arena_peers::talc)),
            "talc's `TalcCell` is made for one thread (it is not `Sync`); \
             the thread-safe `TalcLock` needs a lock chosen by its user",
        ),
        peer(
            "rlsf",
            false,
            rlsf::GlobalTlsf::<()>::new(),
            Ok(Box::new(arena_peers::rlsf)),
        ),
        peer(
            "dlmalloc",
            false,
            dlmalloc::GlobalDlmalloc,
            Ok(Box::new(arena_peers::dlmalloc)),
        ),
        peer(
            "buddy_system_allocator",
            false,
            buddy,
            Ok(Box::new(arena_peers::buddy)),
        ),
        peer(
            "linked_list_allocator",
            true,
            list,
            Ok(Box::new(arena_peers::linked_list)),
        ),
        chapter(ch03_free_list::Heap::new),
        chapter(ch04_splitting::Heap::new),
        chapter(ch05_coalescing::Heap::new),
        chapter(ch06_malloc_api::Heap::new),
        chapter(ch07_global_alloc::Heap::new),
        chapter(ch08_mmap::Heap::new),
        chapter(ch09_ld_preload::Heap::new),
        named_chapter("ch10 first fit", true, ch10_placement::Heap::new),
        named_chapter("ch10 next fit", true, |s| {
            ch10_placement::Heap::with_policy(s, ch10_placement::NextFit::default())
        }),
        named_chapter("ch10 best fit", true, |s| {
            ch10_placement::Heap::with_policy(s, ch10_placement::BestFit)
        }),
        named_chapter("ch11 boundary tags", false, ch11_boundary_tags::Heap::new),
        named_chapter("ch11 address order", true, |s| {
            ch11_boundary_tags::Heap::with_order(s, ch11_boundary_tags::Order::Address)
        }),
    ]
}
// ANCHOR_END: contestant

/// The peers over an arena of their own and nothing else, for the heap
/// efficiency measure: each hands itself to `f`.
mod arena_peers {
    use super::{Alloc, Peer};
    use memsource::Arena;
    use std::alloc::Layout;
    use std::ptr::NonNull;

    pub fn talc(bytes: usize, f: &mut dyn FnMut(&mut dyn Alloc)) {
        let arena = Arena::new(bytes);
        let talc = talc::TalcCell::new(talc::source::Manual);
        // SAFETY: the arena's memory is given to this heap alone, and
        // outlives it.
        let claimed = unsafe { talc.claim(arena.start(), arena.capacity()) };
        assert!(claimed.is_some(), "talc refused the arena");
        f(&mut Peer(&talc));
    }

    pub fn buddy(bytes: usize, f: &mut dyn FnMut(&mut dyn Alloc)) {
        let arena = Arena::new(bytes);
        let heap = buddy_system_allocator::LockedHeap::<33>::new();
        // SAFETY: as for talc.
        unsafe { heap.lock().init(arena.start() as usize, arena.capacity()) };
        f(&mut Peer(&heap));
    }

    pub fn linked_list(bytes: usize, f: &mut dyn FnMut(&mut dyn Alloc)) {
        let arena = Arena::new(bytes);
        let heap = linked_list_allocator::LockedHeap::empty();
        // SAFETY: as for talc.
        unsafe { heap.lock().init(arena.start(), arena.capacity()) };
        f(&mut Peer(&heap));
    }

    /// TLSF over one block; blocks of up to 512 MiB.
    struct Tlsf(rlsf::Tlsf<'static, u32, u32, 24, 16>);

    const fn layout(size: usize) -> Layout {
        match Layout::from_size_align(size, 16) {
            Ok(l) => l,
            Err(_) => panic!("a block of the race fits a layout"),
        }
    }

    impl Alloc for Tlsf {
        fn alloc(&mut self, size: usize) -> *mut u8 {
            self.0
                .allocate(layout(size))
                .map_or(std::ptr::null_mut(), NonNull::as_ptr)
        }

        unsafe fn free(&mut self, p: *mut u8, _size: usize) {
            if let Some(p) = NonNull::new(p) {
                // SAFETY: the caller's promise: a live block, aligned to 16.
                unsafe { self.0.deallocate(p, 16) }
            }
        }

        unsafe fn realloc(&mut self, p: *mut u8, _size: usize, new: usize) -> *mut u8 {
            let Some(p) = NonNull::new(p) else {
                return std::ptr::null_mut();
            };
            // SAFETY: the caller's promise: a live block, aligned to 16.
            unsafe { self.0.reallocate(p, layout(new)) }
                .map_or(std::ptr::null_mut(), NonNull::as_ptr)
        }
    }

    pub fn rlsf(bytes: usize, f: &mut dyn FnMut(&mut dyn Alloc)) {
        let arena = Arena::new(bytes);
        let mut tlsf = Tlsf(rlsf::Tlsf::new());
        let block = NonNull::slice_from_raw_parts(
            NonNull::new(arena.start()).expect("an arena is never null"),
            arena.capacity(),
        );
        // SAFETY: the arena's memory is given to this heap alone, and
        // outlives it (the heap is dropped first).
        let used = unsafe { tlsf.0.insert_free_block_ptr(block) };
        assert!(used.is_some(), "rlsf refused the arena");
        f(&mut tlsf);
    }

    /// The system dlmalloc asks for memory: one arena, handed out from
    /// its start, never given back.
    struct Region {
        next: std::cell::Cell<usize>,
        end: usize,
    }

    // SAFETY: `alloc` hands out each byte of the arena at most once, page
    // aligned, zeroed (the arena is), and refuses what does not fit;
    // nothing is ever freed or moved.
    unsafe impl dlmalloc::Allocator for Region {
        fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
            let start = self.next.get();
            match start.checked_add(size) {
                Some(end) if end <= self.end => {
                    self.next.set(end);
                    (start as *mut u8, size, 0)
                }
                _ => (std::ptr::null_mut(), 0, 0),
            }
        }
        fn remap(&self, _: *mut u8, _: usize, _: usize, _: bool) -> *mut u8 {
            std::ptr::null_mut()
        }
        fn free_part(&self, _: *mut u8, _: usize, _: usize) -> bool {
            false
        }
        fn free(&self, _: *mut u8, _: usize) -> bool {
            false
        }
        fn can_release_part(&self, _: u32) -> bool {
            false
        }
        fn allocates_zeros(&self) -> bool {
            true
        }
        fn page_size(&self) -> usize {
            4096
        }
    }

    struct Dl(dlmalloc::Dlmalloc<Region>);

    impl Alloc for Dl {
        fn alloc(&mut self, size: usize) -> *mut u8 {
            // SAFETY: a non-zero size and a power-of-two alignment.
            unsafe { self.0.malloc(size, 16) }
        }

        unsafe fn free(&mut self, p: *mut u8, size: usize) {
            // SAFETY: the caller's promise: a live block of this size.
            unsafe { self.0.free(p, size, 16) }
        }

        unsafe fn realloc(&mut self, p: *mut u8, size: usize, new: usize) -> *mut u8 {
            // SAFETY: the caller's promise: a live block of this size.
            unsafe { self.0.realloc(p, size, 16, new) }
        }
    }

    pub fn dlmalloc(bytes: usize, f: &mut dyn FnMut(&mut dyn Alloc)) {
        let arena = Arena::new(bytes);
        let start = arena.start() as usize;
        let region = Region {
            next: std::cell::Cell::new(start),
            end: start + arena.capacity(),
        };
        let mut dl = Dl(dlmalloc::Dlmalloc::new_with_allocator(region));
        f(&mut dl);
    }
}

// ANCHOR: efficiency
/// Heap efficiency, one trial: in an arena of `arena` bytes, random
/// operations (six in ten allocate 8-512 bytes, three free a live block,
/// one resizes one to 8-512 bytes) until the first request fails; the
/// bytes live at that moment over the arena's size.
pub fn efficiency_trial(a: &mut dyn Alloc, arena: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let mut live = Live::new();
    let mut bytes = 0usize;
    loop {
        let roll = rng.range(0, 99);
        if roll < 60 || live.is_empty() {
            let size = rng.range(8, 512);
            let p = a.alloc(size);
            if p.is_null() {
                break;
            }
            touch(p, size);
            live.push((p, size));
            bytes += size;
        } else if roll < 90 {
            let (p, size) = live.swap_remove(rng.range(0, live.len() - 1));
            // SAFETY: a live block of `a`, given back once.
            unsafe { a.free(p, size) };
            bytes -= size;
        } else {
            let i = rng.range(0, live.len() - 1);
            let (p, size) = live[i];
            let new = rng.range(8, 512);
            // SAFETY: a live block of `a`, replaced by what comes back.
            let q = unsafe { a.realloc(p, size, new) };
            if q.is_null() {
                break;
            }
            touch(q, new);
            live[i] = (q, new);
            bytes = bytes - size + new;
        }
    }
    free_all(a, &mut live);
    bytes as f64 / arena as f64
}
// ANCHOR_END: efficiency

/// A contestant's times on one workload, in nanoseconds per operation.
#[derive(Debug, Clone, Default)]
pub struct Times {
    /// Operations timed per run.
    pub ops: usize,
    /// Nanoseconds per operation, one per round.
    pub ns: Vec<f64>,
}

impl Times {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.ns.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median of the rounds.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The fastest round.
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    /// The slowest round.
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

// ANCHOR: race
/// Races `contestants` on `workload` (or on `slow_workload` for the slow
/// ones), `rounds` times, interleaved: round 1 of everyone, then round 2,
/// so that a slow spell of the machine hits everyone alike. `progress` is
/// told each run as it starts.
pub fn race(
    contestants: &[&Contestant],
    workload: &Workload,
    slow_workload: &Workload,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Vec<Times> {
    rounds_of(
        contestants,
        rounds,
        &mut |c| {
            let w = if c.slow { slow_workload } else { workload };
            (w.name.clone(), w.counted())
        },
        &mut |c| (c.run)(if c.slow { slow_workload } else { workload }),
        progress,
    )
}

/// Races `contestants` on the threads workload `t` (`slow` for the slow
/// ones), as [`race`] does; those that cannot share themselves between
/// threads are left out (their times stay empty).
pub fn race_threads(
    contestants: &[&Contestant],
    t: &Threads,
    slow: &Threads,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Vec<Times> {
    let pick = |c: &Contestant| if c.slow { slow } else { t };
    rounds_of(
        contestants,
        rounds,
        &mut |c| (pick(c).name.clone(), pick(c).ops()),
        &mut |c| match &c.threads {
            Ok(run) => run(pick(c)),
            Err(_) => unreachable!("only the thread-safe race"),
        },
        progress,
    )
}

/// The rounds, interleaved: `what` names a contestant's workload and its
/// operations, `run` runs it once.
fn rounds_of(
    contestants: &[&Contestant],
    rounds: usize,
    what: &mut dyn FnMut(&Contestant) -> (String, usize),
    run: &mut dyn FnMut(&Contestant) -> Run,
    progress: &mut dyn FnMut(&str),
) -> Vec<Times> {
    let mut times = vec![Times::default(); contestants.len()];
    for round in 0..rounds {
        for (c, t) in contestants.iter().zip(&mut times) {
            let (name, ops) = what(c);
            progress(&format!("{name} round {}/{rounds}: {}", round + 1, c.name));
            let r = run(c);
            assert_eq!(r.failed, 0, "{} ran out of memory on {name}", c.name);
            t.ops = ops;
            t.ns.push(r.time.as_nanos() as f64 / ops as f64);
        }
    }
    times
}
// ANCHOR_END: race

/// A number of nanoseconds as the tables print it: three significant
/// digits at most.
pub fn ns(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A contestant's name as the tables print it: the book's in bold.
pub fn name(c: &Contestant) -> String {
    if c.book {
        format!("**{}**", c.name)
    } else {
        c.name.to_string()
    }
}

/// The table of one workload: each contestant's median, min and max
/// nanoseconds per operation, and its median against the first
/// contestant's (the system allocator), from the same run.
pub fn table(contestants: &[Contestant], times: &[Times]) -> String {
    let base = times[0].median();
    let mut s = String::from(
        "| allocator | ns per operation (median) | min | max | against glibc | operations timed |\n\
         |---|--:|--:|--:|--:|--:|\n",
    );
    for (c, t) in contestants.iter().zip(times) {
        s += &format!(
            "| {} | {} | {} | {} | {:.2}× | {} |\n",
            name(c),
            ns(t.median()),
            ns(t.min()),
            ns(t.max()),
            t.median() / base,
            t.ops
        );
    }
    s
}
