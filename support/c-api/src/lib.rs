//! C's malloc family, written once, over any chapter's heap.
//!
//! From chapter 9 on, every chapter's allocator is also a drop-in `malloc`
//! for C programs. What that takes does not depend on how the heap works:
//! C's calling and error conventions (`errno`), surviving calls that come
//! back into the allocator on the same thread (signal handlers, a library's
//! hooks), `fork`, statistics, and the exports themselves. It lives here,
//! once: a chapter implements [`CHeap`] for its heap, and its `chNN-preload`
//! crate is one line, [`export_malloc!`].
//!
//! Every function here:
//! - never panics (a panic would run the panic hook, which allocates, which
//!   comes back here): all arithmetic is checked;
//! - reports failure as C does: null, and `errno` set to `ENOMEM` (or the
//!   error code returned, for `posix_memalign`);
//! - leaves `errno` alone when it succeeds, and `free` never changes it;
//! - runs the heap under an [`OwnerLock`], and serves a call made while this
//!   same thread holds it from the emergency [`Pool`].

pub mod lock;
pub mod pool;

pub use allockit::FreeError;
/// C's `FILE`, for `malloc_info`.
pub use libc::FILE;
pub use lock::OwnerLock;
pub use pool::Pool;

use memsource::page_size;
use std::cell::UnsafeCell;
use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
    compiler_fence,
};

// ANCHOR: cheap
/// What the C layer needs from a chapter's heap. Each method is called
/// with the heap locked, and must not allocate through `malloc` (that
/// would come back to this same heap).
pub trait CHeap: Send {
    /// A block of at least `size` bytes aligned to 16, or null.
    fn malloc(&mut self, size: usize) -> *mut u8;
    /// Frees a block; `Err` for a pointer that is not a live block.
    ///
    /// # Safety
    /// If `ptr` is a live block of this heap, it is not used after this.
    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError>;
    /// `count * size` zeroed bytes, or null (also on overflow).
    fn calloc(&mut self, count: usize, size: usize) -> *mut u8;
    /// Resizes the live block `ptr` (not null) to `size` bytes (not 0):
    /// the new block, or null with the old one untouched; `Err` if `ptr`
    /// is not a live block.
    ///
    /// # Safety
    /// After success, only the returned pointer is used.
    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Result<*mut u8, FreeError>;
    /// A block whose address is a multiple of `align` (a power of two).
    fn memalign(&mut self, align: usize, size: usize) -> *mut u8;
    /// Usable bytes of the live block `ptr`, or `None` if it is not one.
    fn usable_size(&self, ptr: *const u8) -> Option<usize>;
    /// The address of a chunk header found corrupted, if any: the program
    /// wrote outside a block. Checked after every call.
    fn corruption(&self) -> Option<usize>;
    /// Bytes the heap spans now, cheaply (for the peak in the statistics).
    fn footprint(&self) -> usize;
    /// Counts for `mallinfo2` and the statistics (may walk the heap).
    fn info(&self) -> Info;
    /// Gives back every free page it can, keeping `pad` bytes on top.
    /// Returns whether it gave any back.
    fn trim(&mut self, pad: usize) -> bool;
    /// Sets one of the heap's tunables; false if it has no such tunable.
    fn tune(&mut self, what: Tunable, value: usize) -> bool;
}

/// The heap's tunables that `mallopt` can set (glibc's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tunable {
    /// `M_TRIM_THRESHOLD`: free memory on top beyond this goes back.
    TrimThreshold,
    /// `M_TOP_PAD`: extra bytes asked for at each growth, and kept on top.
    TopPad,
    /// `M_MMAP_THRESHOLD`: requests this big get a mapping of their own.
    MmapThreshold,
}

/// A heap's counts, in bytes and chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Info {
    /// Bytes of the heap (headers included), not counting own mappings.
    pub heap_bytes: usize,
    /// Chunks handed out, and their payload bytes.
    pub used_chunks: usize,
    /// Payload bytes of the chunks handed out.
    pub used_bytes: usize,
    /// Free chunks.
    pub free_chunks: usize,
    /// Payload bytes of the free chunks.
    pub free_bytes: usize,
    /// Free bytes at the top of the heap (what trimming could give back).
    pub top_free: usize,
    /// Blocks in mappings of their own.
    pub mapped_blocks: usize,
    /// Bytes of those mappings.
    pub mapped_bytes: usize,
}
// ANCHOR_END: cheap

// ANCHOR: errno
/// This thread's `errno`.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

/// Sets this thread's `errno`.
pub fn set_errno(e: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}
// ANCHOR_END: errno

/// glibc's `struct mallinfo2`, field for field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mallinfo2 {
    /// Bytes of the heap (not counting own mappings).
    pub arena: usize,
    /// Free chunks.
    pub ordblks: usize,
    /// Always 0 (glibc: free fastbin blocks).
    pub smblks: usize,
    /// Blocks in mappings of their own.
    pub hblks: usize,
    /// Bytes in those mappings.
    pub hblkhd: usize,
    /// Always 0 (unused in glibc too).
    pub usmblks: usize,
    /// Always 0 (glibc: bytes in fastbins).
    pub fsmblks: usize,
    /// Bytes of the heap not free: blocks handed out and every header.
    pub uordblks: usize,
    /// Bytes in free chunks.
    pub fordblks: usize,
    /// Free bytes on top, which `malloc_trim` could give back.
    pub keepcost: usize,
}

/// glibc's older `struct mallinfo`: the same fields as `int`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mallinfo {
    /// As in [`Mallinfo2`], clamped to `int`.
    pub arena: c_int,
    /// As in [`Mallinfo2`].
    pub ordblks: c_int,
    /// As in [`Mallinfo2`].
    pub smblks: c_int,
    /// As in [`Mallinfo2`].
    pub hblks: c_int,
    /// As in [`Mallinfo2`].
    pub hblkhd: c_int,
    /// As in [`Mallinfo2`].
    pub usmblks: c_int,
    /// As in [`Mallinfo2`].
    pub fsmblks: c_int,
    /// As in [`Mallinfo2`].
    pub uordblks: c_int,
    /// As in [`Mallinfo2`].
    pub fordblks: c_int,
    /// As in [`Mallinfo2`].
    pub keepcost: c_int,
}

// ANCHOR: state
/// Everything a process's `malloc` needs: the heap behind its lock, the
/// emergency pool, and counts for the statistics. One `static` of it per
/// shared library.
pub struct State<H> {
    lock: OwnerLock,
    heap: UnsafeCell<H>,
    pool: Pool,
    /// Prefix of every message, such as "ch09".
    name: &'static str,
    /// Whether `fork_prepare` took the lock (and so must release it).
    fork_took: AtomicBool,
    /// The thread inside `fork` that holds the lock for it, or 0.
    forking: AtomicUsize,
    /// Whether a call on the thread holding the lock is inside the heap.
    busy: AtomicBool,
    mallocs: AtomicUsize,
    frees: AtomicUsize,
    peak: AtomicUsize,
    /// Where the statistics go (see [`State::keep_stderr_for_stats`]),
    /// and which file that was (see [`file_id`]).
    stats_fd: AtomicI32,
    stats_file: AtomicU64,
}

// SAFETY: the heap is reached only through `locked`, which holds the lock;
// everything else is atomic or the pool, which is Sync.
unsafe impl<H: Send> Sync for State<H> {}
// ANCHOR_END: state

impl<H: CHeap> State<H> {
    /// The state for `heap`, whose messages start with `name`.
    pub const fn new(heap: H, name: &'static str) -> Self {
        State {
            lock: OwnerLock::new(),
            heap: UnsafeCell::new(heap),
            pool: Pool::new(),
            name,
            fork_took: AtomicBool::new(false),
            forking: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            mallocs: AtomicUsize::new(0),
            frees: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            stats_fd: AtomicI32::new(-1),
            stats_file: AtomicU64::new(0),
        }
    }

    // ANCHOR: locked
    /// Runs `f` on the locked heap, or returns `None` if this thread holds
    /// the lock already: the call came from inside the allocator (a signal
    /// handler that interrupted it, a hook of a library it called), and
    /// waiting for the lock would wait forever. If `f` finds the heap
    /// corrupted, reports it and aborts. No thread-local storage is
    /// involved: reaching a shared library's thread-locals can itself call
    /// `malloc`.
    fn locked<R>(&self, what: &str, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        let me = lock::me();
        let took = self.lock.lock(me);
        // This thread holds the lock already. Only one case lets it use the
        // heap: it is inside `fork`, between our "before" handler and the
        // copy (other libraries' fork handlers allocate there), and this
        // call did not interrupt another that is changing the heap.
        if !took && (self.forking.load(Relaxed) != me || self.busy.load(Relaxed)) {
            return None;
        }
        self.busy.store(true, Relaxed);
        // A signal handler on this thread sees `busy` before the heap changes.
        compiler_fence(SeqCst);
        // SAFETY: this thread holds the lock, so nothing else touches the
        // heap until `unlock`; and no call on this thread is inside the
        // heap (`busy` was false). `f` gets the only reference.
        let heap = unsafe { &mut *self.heap.get() };
        let r = f(heap);
        if let Some(at) = heap.corruption() {
            self.corrupted(what, at); // aborts, with the lock held
        }
        self.peak.fetch_max(heap.footprint(), Relaxed);
        compiler_fence(SeqCst);
        self.busy.store(false, Relaxed);
        if took {
            self.lock.unlock();
        }
        Some(r)
    }
    // ANCHOR_END: locked

    /// The result of an allocation: null with ENOMEM, or the block with
    /// `errno` put back to `saved` (a failed `sbrk` on the way to a
    /// successful `mmap` must not show).
    fn finish(&self, p: *mut u8, saved: i32) -> *mut c_void {
        if p.is_null() {
            return enomem();
        }
        set_errno(saved);
        self.mallocs.fetch_add(1, Relaxed);
        p.cast()
    }

    // ANCHOR: malloc
    /// `malloc(size)`.
    pub fn malloc(&self, size: usize) -> *mut c_void {
        let saved = errno();
        let p = self
            .locked("malloc", |h| h.malloc(size))
            .unwrap_or_else(|| self.pool.alloc(size)); // re-entered
        self.finish(p, saved)
    }
    // ANCHOR_END: malloc

    // ANCHOR: free
    /// `free(ptr)`. A pointer that is not a live block of this heap is a
    /// bug in the program: report it and abort, as glibc does.
    ///
    /// # Safety
    /// `ptr` is null or a pointer from these functions (anything else is
    /// detected, reported and aborts).
    pub unsafe fn free(&self, ptr: *mut c_void) {
        if ptr.is_null() {
            return;
        }
        let saved = errno(); // free must not change errno
        if self.pool.contains(ptr.cast()) {
            let Some(size) = self.pool.usable(ptr.cast()) else {
                self.bad_pointer("free", FreeError::NotOurs, ptr);
            };
            // SAFETY: a live pool block (the caller's promise; the tag
            // checked that it is a block).
            unsafe { self.pool.free(ptr.cast(), size) };
        } else {
            // SAFETY: the caller's promise; the heap checks the pointer
            // before using it.
            match self.locked("free", |h| unsafe { h.free(ptr.cast()) }) {
                Some(Ok(())) => {}
                Some(Err(e)) => self.bad_pointer("free", e, ptr),
                None => {} // re-entered: the block cannot be freed now; leak it
            }
        }
        self.frees.fetch_add(1, Relaxed);
        set_errno(saved);
    }
    // ANCHOR_END: free

    /// `calloc(count, size)`: zeroed, and null with ENOMEM if `count *
    /// size` overflows.
    pub fn calloc(&self, count: usize, size: usize) -> *mut c_void {
        let saved = errno();
        let p = match self.locked("calloc", |h| h.calloc(count, size)) {
            Some(p) => p,
            // Re-entered: a pool block is zero unless it was handed out
            // and given back before; clear it.
            None => match count.checked_mul(size) {
                Some(total) => {
                    let p = self.pool.alloc(total);
                    if !p.is_null() {
                        // SAFETY: p is a new pool block of `total` bytes.
                        unsafe { p.write_bytes(0, total) };
                    }
                    p
                }
                None => ptr::null_mut(),
            },
        };
        self.finish(p, saved)
    }

    // ANCHOR: realloc
    /// `realloc(ptr, size)`, as glibc: `realloc(null, n)` is `malloc(n)`;
    /// `realloc(p, 0)` frees `p` and returns null; on failure, null with
    /// ENOMEM and the block untouched; a pointer that is not a live block
    /// is reported and aborts, like `free`.
    ///
    /// # Safety
    /// As for [`free`](State::free); after success, only the returned
    /// pointer is used.
    pub unsafe fn realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        if ptr.is_null() {
            return self.malloc(size);
        }
        if size == 0 {
            // SAFETY: the caller gives the block up.
            unsafe { self.free(ptr) };
            return ptr::null_mut();
        }
        let saved = errno();
        if self.pool.contains(ptr.cast()) {
            let Some(old) = self.pool.usable(ptr.cast()) else {
                self.bad_pointer("realloc", FreeError::NotOurs, ptr);
            };
            // Re-entered: grow the pool block where it is, if it is the last.
            // SAFETY: a live pool block of `old` bytes (the caller's promise).
            if self.lock.held_by(lock::me()) && unsafe { self.pool.resize(ptr.cast(), old, size) } {
                return ptr;
            }
            // Otherwise the block moves to the heap (or to a new pool
            // block, if this call is itself re-entrant).
            let q = self.malloc(size);
            if !q.is_null() {
                // SAFETY: q has `size` bytes, the old block `old`; they are
                // distinct blocks. The old one is given up.
                unsafe {
                    ptr::copy_nonoverlapping(ptr.cast::<u8>(), q.cast::<u8>(), old.min(size));
                    self.pool.free(ptr.cast(), old);
                }
            }
            return q;
        }
        // SAFETY: the caller's promise; the heap checks the pointer.
        match self.locked("realloc", |h| unsafe { h.realloc(ptr.cast(), size) }) {
            Some(Ok(q)) => self.finish(q, saved),
            Some(Err(e)) => self.bad_pointer("realloc", e, ptr),
            None => enomem(), // re-entered: a heap block cannot be resized now
        }
    }
    // ANCHOR_END: realloc

    // ANCHOR: aligned
    /// `posix_memalign(out, align, size)`: 0 and the block in `*out`;
    /// EINVAL if `align` is not a power of two times `sizeof(void *)`;
    /// ENOMEM if there is no memory. `*out` and `errno` are left alone on
    /// failure.
    ///
    /// # Safety
    /// `out` is valid for a write.
    pub unsafe fn posix_memalign(&self, out: *mut *mut c_void, align: usize, size: usize) -> i32 {
        if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut c_void>()) {
            return libc::EINVAL;
        }
        let saved = errno(); // posix_memalign reports errors by its result only
        let p = self.memalign(align, size);
        set_errno(saved);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller's promise.
        unsafe { *out = p };
        0
    }

    /// `aligned_alloc(align, size)`: null with EINVAL if `align` is not a
    /// power of two (as glibc since 2.38).
    pub fn aligned_alloc(&self, align: usize, size: usize) -> *mut c_void {
        if !align.is_power_of_two() {
            set_errno(libc::EINVAL);
            return ptr::null_mut();
        }
        self.memalign(align, size)
    }

    /// `memalign(align, size)`: as glibc, an alignment that is not a power
    /// of two is rounded up to one.
    pub fn memalign(&self, align: usize, size: usize) -> *mut c_void {
        let Some(align) = align.max(1).checked_next_power_of_two() else {
            set_errno(libc::EINVAL);
            return ptr::null_mut();
        };
        let saved = errno();
        if align <= memsource::ALIGN {
            return self.malloc(size); // every block is aligned to 16
        }
        match self.locked("memalign", |h| h.memalign(align, size)) {
            Some(p) => self.finish(p, saved),
            None => enomem(), // re-entered: the pool does not align further
        }
    }

    /// `valloc(size)`: aligned to a page.
    pub fn valloc(&self, size: usize) -> *mut c_void {
        self.memalign(page_size(), size)
    }

    /// `pvalloc(size)`: aligned to a page, the size rounded up to pages.
    pub fn pvalloc(&self, size: usize) -> *mut c_void {
        let page = page_size();
        match size.max(1).checked_next_multiple_of(page) {
            Some(size) => self.memalign(page, size),
            None => enomem(),
        }
    }

    /// `malloc_usable_size(ptr)`: 0 for null or a pointer that is not ours.
    ///
    /// # Safety
    /// None beyond C's: any pointer is looked up, never read.
    pub unsafe fn malloc_usable_size(&self, ptr: *mut c_void) -> usize {
        if ptr.is_null() {
            return 0;
        }
        if self.pool.contains(ptr.cast()) {
            return self.pool.usable(ptr.cast()).unwrap_or(0);
        }
        self.locked("malloc_usable_size", |h| h.usable_size(ptr.cast()))
            .flatten()
            .unwrap_or(0)
    }

    /// `reallocarray(ptr, count, size)`: `realloc(ptr, count * size)`, with
    /// null and ENOMEM if the multiplication overflows.
    ///
    /// # Safety
    /// As for [`realloc`](State::realloc).
    pub unsafe fn reallocarray(&self, ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
        match count.checked_mul(size) {
            // SAFETY: the caller's promise.
            Some(total) => unsafe { self.realloc(ptr, total) },
            None => enomem(),
        }
    }
    // ANCHOR_END: aligned

    // ANCHOR: introspection
    /// `mallinfo2()`: this heap's counts (all zero if called from inside
    /// the allocator).
    pub fn mallinfo2(&self) -> Mallinfo2 {
        let i = self.locked("mallinfo2", |h| h.info()).unwrap_or_default();
        Mallinfo2 {
            arena: i.heap_bytes,
            ordblks: i.free_chunks,
            hblks: i.mapped_blocks,
            hblkhd: i.mapped_bytes,
            uordblks: i.heap_bytes.saturating_sub(i.free_bytes),
            fordblks: i.free_bytes,
            keepcost: i.top_free,
            ..Mallinfo2::default()
        }
    }

    /// `mallinfo()`: the same, in `int`s (clamped, where glibc wraps).
    pub fn mallinfo(&self) -> Mallinfo {
        let m = self.mallinfo2();
        let int = |n: usize| c_int::try_from(n).unwrap_or(c_int::MAX);
        Mallinfo {
            arena: int(m.arena),
            ordblks: int(m.ordblks),
            smblks: 0,
            hblks: int(m.hblks),
            hblkhd: int(m.hblkhd),
            usmblks: 0,
            fsmblks: 0,
            uordblks: int(m.uordblks),
            fordblks: int(m.fordblks),
            keepcost: int(m.keepcost),
        }
    }

    /// `malloc_trim(pad)`: 1 if memory went back to the system, else 0.
    pub fn malloc_trim(&self, pad: usize) -> c_int {
        self.locked("malloc_trim", |h| h.trim(pad))
            .map_or(0, c_int::from)
    }

    /// `mallopt(param, value)`: 1 if set. This heap has three of glibc's
    /// tunables (`M_TRIM_THRESHOLD`, `M_TOP_PAD`, `M_MMAP_THRESHOLD`); for
    /// any other parameter, or a negative value, it returns 0, which is
    /// what glibc returns for an error.
    pub fn mallopt(&self, param: c_int, value: c_int) -> c_int {
        let what = match param {
            libc::M_TRIM_THRESHOLD => Tunable::TrimThreshold,
            libc::M_TOP_PAD => Tunable::TopPad,
            libc::M_MMAP_THRESHOLD => Tunable::MmapThreshold,
            _ => return 0,
        };
        let Ok(value) = usize::try_from(value) else {
            return 0;
        };
        self.locked("mallopt", |h| h.tune(what, value))
            .map_or(0, c_int::from)
    }

    /// `malloc_info(options, stream)`: this heap's counts as one line of
    /// XML, in this library's own format (glibc's describes its arenas and
    /// bins, which this heap does not have). 0, or `EINVAL` (returned, as
    /// glibc does) if `options` is not 0.
    ///
    /// # Safety
    /// `stream` is an open `FILE`.
    pub unsafe fn malloc_info(&self, options: c_int, stream: *mut libc::FILE) -> c_int {
        if options != 0 {
            return libc::EINVAL;
        }
        let i = self.locked("malloc_info", |h| h.info()).unwrap_or_default();
        let mut l = Line::new();
        l.push(b"<malloc version=\"").push(self.name.as_bytes());
        l.push(b"\"><heap bytes=\"").num(i.heap_bytes);
        l.push(b"\" used=\"").num(i.used_bytes);
        l.push(b"\" used_chunks=\"").num(i.used_chunks);
        l.push(b"\" free=\"").num(i.free_bytes);
        l.push(b"\" free_chunks=\"").num(i.free_chunks);
        l.push(b"\" top_free=\"").num(i.top_free);
        l.push(b"\"/><mapped blocks=\"").num(i.mapped_blocks);
        l.push(b"\" bytes=\"").num(i.mapped_bytes);
        l.push(b"\"/></malloc>\n");
        // SAFETY: the line ends with a 0 byte (the buffer was zeroed and
        // `push` leaves the last byte alone); `stream` is the caller's.
        // Not under our lock: stdio may allocate.
        unsafe { libc::fputs(l.buf.as_ptr().cast(), stream) };
        0
    }

    /// `malloc_stats()`: this heap's statistics on stderr, in this
    /// library's own format (so it cannot be mistaken for glibc's).
    pub fn malloc_stats(&self) {
        self.print_stats_to(2);
    }
    // ANCHOR_END: introspection

    // ANCHOR: fork
    /// Before `fork`: take the lock, so that no other thread is inside the
    /// heap at the moment the process is copied. (If this thread holds it
    /// already, `fork` was called from inside the allocator, from a signal
    /// handler: the lock stays as it is.)
    pub fn fork_prepare(&self) {
        let me = lock::me();
        let took = self.lock.lock(me);
        self.fork_took.store(took, Relaxed);
        if took {
            // Until the copy is made, this thread may use the heap (see
            // `locked`): the other "before" handlers, and the "after"
            // handlers registered before ours, may allocate.
            self.forking.store(me, Relaxed);
        }
    }

    /// After `fork`, in the parent: release what `fork_prepare` took.
    pub fn fork_parent(&self) {
        if self.fork_took.load(Relaxed) {
            self.forking.store(0, Relaxed);
            self.lock.unlock();
        }
    }

    /// After `fork`, in the child: the child has one thread, the one that
    /// forked, and a copy of a heap nobody was changing. Start its lock
    /// afresh: the threads that held or waited for it do not exist here.
    pub fn fork_child(&self) {
        if self.fork_took.load(Relaxed) {
            self.forking.store(0, Relaxed);
            self.lock.reset_in_child();
        }
    }
    // ANCHOR_END: fork

    /// Keeps a copy of stderr for the statistics at exit (close-on-exec, so
    /// that the programs it starts do not inherit it): `ls`, `sort` and the
    /// rest of coreutils close stderr in an exit handler that runs before
    /// ours.
    pub fn keep_stderr_for_stats(&self) {
        // SAFETY: fcntl with F_DUPFD_CLOEXEC duplicates a descriptor; if 2
        // is not open it fails with -1 and nothing changes.
        let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
        if let Some(id) = file_id(fd) {
            self.stats_fd.store(fd, Relaxed);
            self.stats_file.store(id, Relaxed);
        }
    }

    /// Prints the statistics where [`keep_stderr_for_stats`] said; the
    /// library calls it at exit when asked to.
    ///
    /// [`keep_stderr_for_stats`]: State::keep_stderr_for_stats
    ///
    /// A program may have closed our copy and opened a file of its own under
    /// the same number (daemons close every descriptor): then nothing is
    /// printed, rather than write into its file.
    pub fn print_stats(&self) {
        let fd = self.stats_fd.load(Relaxed);
        if file_id(fd) == Some(self.stats_file.load(Relaxed)) {
            self.print_stats_to(fd);
        }
    }

    fn print_stats_to(&self, fd: i32) {
        let Some(i) = self.locked("malloc_stats", |h| h.info()) else {
            return;
        };
        let mut buf = [0u8; 24];
        let lines: [&[(&[u8], usize)]; 2] = [
            &[
                (
                    b" malloc: calls to malloc and friends ",
                    self.mallocs.load(Relaxed),
                ),
                (b", frees ", self.frees.load(Relaxed)),
            ],
            &[
                (b" malloc: heap now ", i.heap_bytes),
                (b" bytes (peak ", self.peak.load(Relaxed)),
                (b"), used ", i.used_bytes),
                (b" bytes in chunks: ", i.used_chunks),
                (b", free chunks: ", i.free_chunks),
                (b", mapped blocks: ", i.mapped_blocks),
            ],
        ];
        for line in lines {
            write_to(fd, self.name.as_bytes());
            for &(label, n) in line {
                write_to(fd, label);
                write_to(fd, number(&mut buf, n, 10));
            }
            write_to(fd, b"\n");
        }
    }

    // ANCHOR: report
    /// Reports a bad pointer passed to `what` and aborts, as glibc does.
    /// (A heap that finds corruption has already been reported by
    /// `locked`, so `e` is a double free or a pointer that is not a block.)
    fn bad_pointer(&self, what: &str, e: FreeError, ptr: *mut c_void) -> ! {
        let mut buf = [0u8; 24];
        say(self.name.as_bytes());
        say(b": ");
        say(what.as_bytes());
        say(match e {
            FreeError::DoubleFree => b"(): double free of 0x",
            _ => b"(): invalid pointer 0x",
        });
        say(number(&mut buf, ptr as usize, 16));
        say(b"\n");
        std::process::abort()
    }

    /// Reports a corrupted chunk header at `at`, found by `what`, and aborts.
    fn corrupted(&self, what: &str, at: usize) -> ! {
        let mut buf = [0u8; 24];
        say(self.name.as_bytes());
        say(b": ");
        say(what.as_bytes());
        say(b"(): corrupted chunk at 0x");
        say(number(&mut buf, at, 16));
        say(b" (something wrote outside a block)\n");
        std::process::abort()
    }
    // ANCHOR_END: report

    /// Runs `f` on the locked heap, as the C functions do; `None` if this
    /// thread holds the lock already. For tests and demos: `f` must not
    /// allocate through `malloc`.
    pub fn with<R>(&self, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        self.locked("with", f)
    }

    /// Whether `p` is a block of the emergency pool.
    pub fn in_pool(&self, p: *const c_void) -> bool {
        self.pool.contains(p.cast())
    }
}

/// Which open file `fd` is (its device and inode numbers, mixed), or
/// `None` if `fd` is not open.
fn file_id(fd: i32) -> Option<u64> {
    // SAFETY: fstat writes a `stat` we own; on a closed descriptor it fails.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if fd < 0 || unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev as u64).rotate_left(32) ^ st.st_ino as u64)
}

/// A line of text built on the stack, for reports made without allocating.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Appends `bytes`, as much as fits (leaving room for a final 0).
    fn push(&mut self, bytes: &[u8]) -> &mut Self {
        let n = bytes.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    /// Appends `n` in decimal.
    fn num(&mut self, n: usize) -> &mut Self {
        let mut digits = [0u8; 24];
        self.push(number(&mut digits, n, 10))
    }
}

/// Null, with errno set to ENOMEM.
fn enomem() -> *mut c_void {
    set_errno(libc::ENOMEM);
    ptr::null_mut()
}

/// Writes `bytes` to file descriptor `fd` without allocating.
fn write_to(fd: i32, bytes: &[u8]) {
    // SAFETY: writing a buffer we own to a file descriptor.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// Writes `bytes` to stderr without allocating.
fn say(bytes: &[u8]) {
    write_to(2, bytes);
}

/// Formats `n` in decimal (or hex) into `buf`, without allocating.
pub fn number(buf: &mut [u8; 24], mut n: usize, base: usize) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[n % base];
        n /= base;
        if n == 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

// ANCHOR: init
/// Runs when the library is loaded, before `main` (the export macro calls
/// it from a constructor): registers the fork handlers, and if the
/// variable `stats` is set, keeps stderr and prints the statistics at exit.
///
/// # Safety
/// Called once, from the library's constructor, with handlers that call
/// this state's `fork_*` and `print_stats` methods.
pub unsafe fn init<H: CHeap>(
    state: &State<H>,
    stats: &CStr,
    fork: [unsafe extern "C" fn(); 3],
    at_exit: extern "C" fn(),
) {
    let [prepare, parent, child] = fork;
    // SAFETY: pthread_atfork stores three functions that live as long as
    // the library; getenv reads the environment (set up before any
    // constructor runs); atexit registers a function that lives as long as
    // the library.
    unsafe {
        libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
        if !libc::getenv(stats.as_ptr()).is_null() {
            state.keep_stderr_for_stats();
            libc::atexit(at_exit);
        }
    }
}
// ANCHOR_END: init

// ANCHOR: export
/// Exports `$state`'s functions under C's names, with a constructor that
/// registers the fork handlers and, if the environment variable `$stats`
/// is set, the statistics at exit. Use it in a `cdylib` only: a library
/// that tests link must not replace their `malloc`.
#[macro_export]
macro_rules! export_malloc {
    ($state:path, $stats:expr) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn malloc(size: usize) -> *mut ::std::ffi::c_void {
            $state.malloc(size)
        }

        /// # Safety
        /// C's contract for `free`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn free(ptr: *mut ::std::ffi::c_void) {
            // SAFETY: the caller's promise, passed on.
            unsafe { $state.free(ptr) }
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn calloc(count: usize, size: usize) -> *mut ::std::ffi::c_void {
            $state.calloc(count, size)
        }

        /// # Safety
        /// C's contract for `realloc`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn realloc(
            ptr: *mut ::std::ffi::c_void,
            size: usize,
        ) -> *mut ::std::ffi::c_void {
            // SAFETY: the caller's promise, passed on.
            unsafe { $state.realloc(ptr, size) }
        }

        /// # Safety
        /// C's contract for `reallocarray`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn reallocarray(
            ptr: *mut ::std::ffi::c_void,
            count: usize,
            size: usize,
        ) -> *mut ::std::ffi::c_void {
            // SAFETY: the caller's promise, passed on.
            unsafe { $state.reallocarray(ptr, count, size) }
        }

        /// # Safety
        /// C's contract for `posix_memalign`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn posix_memalign(
            out: *mut *mut ::std::ffi::c_void,
            align: usize,
            size: usize,
        ) -> i32 {
            // SAFETY: the caller's promise, passed on.
            unsafe { $state.posix_memalign(out, align, size) }
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut ::std::ffi::c_void {
            $state.aligned_alloc(align, size)
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn memalign(align: usize, size: usize) -> *mut ::std::ffi::c_void {
            $state.memalign(align, size)
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn valloc(size: usize) -> *mut ::std::ffi::c_void {
            $state.valloc(size)
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn pvalloc(size: usize) -> *mut ::std::ffi::c_void {
            $state.pvalloc(size)
        }

        /// # Safety
        /// C's contract for `malloc_usable_size`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn malloc_usable_size(ptr: *mut ::std::ffi::c_void) -> usize {
            // SAFETY: the caller's promise, passed on.
            unsafe { $state.malloc_usable_size(ptr) }
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn mallinfo2() -> $crate::Mallinfo2 {
            $state.mallinfo2()
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn mallinfo() -> $crate::Mallinfo {
            $state.mallinfo()
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn malloc_trim(pad: usize) -> ::std::ffi::c_int {
            $state.malloc_trim(pad)
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn mallopt(
            param: ::std::ffi::c_int,
            value: ::std::ffi::c_int,
        ) -> ::std::ffi::c_int {
            $state.mallopt(param, value)
        }

        /// # Safety
        /// C's contract for `malloc_info`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn malloc_info(
            options: ::std::ffi::c_int,
            stream: *mut $crate::FILE,
        ) -> ::std::ffi::c_int {
            // SAFETY: the caller's promise, passed on.
            unsafe { $state.malloc_info(options, stream) }
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn malloc_stats() {
            $state.malloc_stats()
        }

        unsafe extern "C" fn __fork_prepare() {
            $state.fork_prepare()
        }

        unsafe extern "C" fn __fork_parent() {
            $state.fork_parent()
        }

        unsafe extern "C" fn __fork_child() {
            $state.fork_child()
        }

        extern "C" fn __print_stats() {
            $state.print_stats()
        }

        extern "C" fn __init() {
            // SAFETY: runs once, as the library's constructor, with the
            // handlers above.
            unsafe {
                $crate::init(
                    &$state,
                    $stats,
                    [__fork_prepare, __fork_parent, __fork_child],
                    __print_stats,
                )
            }
        }

        #[used]
        #[unsafe(link_section = ".init_array")]
        static __INIT: extern "C" fn() = __init;
    };
}
// ANCHOR_END: export

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap with no memory at all: only the pool can serve.
    struct Empty;

    impl CHeap for Empty {
        fn malloc(&mut self, _: usize) -> *mut u8 {
            ptr::null_mut()
        }
        unsafe fn free(&mut self, _: *mut u8) -> Result<(), FreeError> {
            Err(FreeError::NotOurs)
        }
        fn calloc(&mut self, _: usize, _: usize) -> *mut u8 {
            ptr::null_mut()
        }
        unsafe fn realloc(&mut self, _: *mut u8, _: usize) -> Result<*mut u8, FreeError> {
            Ok(ptr::null_mut())
        }
        fn memalign(&mut self, _: usize, _: usize) -> *mut u8 {
            ptr::null_mut()
        }
        fn usable_size(&self, _: *const u8) -> Option<usize> {
            None
        }
        fn corruption(&self) -> Option<usize> {
            None
        }
        fn footprint(&self) -> usize {
            0
        }
        fn info(&self) -> Info {
            Info::default()
        }
        fn trim(&mut self, _: usize) -> bool {
            false
        }
        fn tune(&mut self, _: Tunable, _: usize) -> bool {
            false
        }
    }

    #[test]
    fn calls_made_while_this_thread_holds_the_lock_use_the_pool_and_give_it_back() {
        let state = Box::new(State::new(Empty, "test"));
        assert!(state.lock.lock(lock::me())); // as if interrupted inside malloc
        // More rounds than the pool could serve if anything leaked.
        for _ in 0..if cfg!(miri) { 8_000 } else { 100_000 } {
            let p = state.malloc(24).cast::<u8>();
            assert!(!p.is_null() && state.in_pool(p.cast()));
            assert_eq!(p as usize % 16, 0);
            // SAFETY: p is a live block of 24 bytes (at least).
            unsafe {
                p.write_bytes(7, 24);
                let q = state.realloc(p.cast(), 200).cast::<u8>();
                assert!(!q.is_null());
                assert_eq!(*q.add(23), 7);
                assert!(state.malloc_usable_size(q.cast()) >= 200);
                state.free(q.cast());
            }
            let z = state.calloc(4, 8).cast::<u8>();
            // SAFETY: z is a live block of 32 zeroed bytes.
            unsafe {
                assert_eq!(*z.add(31), 0);
                state.free(z.cast());
            }
        }
        state.lock.unlock();
    }
}
