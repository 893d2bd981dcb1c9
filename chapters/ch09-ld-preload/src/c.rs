//! C's malloc family, with C's calling convention and error conventions.
//!
//! These functions have the C names' signatures but not the C names: the
//! shared library in `chapters/ch09-ld-preload/preload` exports them as
//! `malloc`, `free` and so on. Keeping the exports out of this crate means
//! that tests can link it without replacing their own `malloc`.
//!
//! Every function here:
//! - never panics (a panic would run the panic hook, which allocates, which
//!   comes back here): all arithmetic is checked;
//! - reports failure as C does: null, and `errno` set to `ENOMEM` (or the
//!   error code returned, for `posix_memalign`);
//! - leaves `errno` alone when it succeeds, and `free` never changes it;
//! - survives being called again while it runs on the same thread (see
//!   `locked`).

use crate::{FreeError, Global, Heap};
use memsource::Sbrk;
use memsource::page_size;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::Relaxed};

/// The heap every program running with the library shares.
static HEAP: Global = Global::new();

/// Counts for the statistics printed at exit.
static MALLOCS: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// ANCHOR: errno
fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}
// ANCHOR_END: errno

// ANCHOR: reentry
/// The thread that holds the heap's lock (its `pthread_self()`), or 0.
static OWNER: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` on the locked heap, or returns `None` if this thread already
/// holds the lock: the call came from inside the allocator (a signal
/// handler that interrupted it, a hook of a library it called), and taking
/// the lock again would wait forever. No thread-local storage is involved:
/// reaching a shared library's thread-locals can itself call `malloc`.
fn locked<R>(f: impl FnOnce(&mut Heap<Sbrk>) -> R) -> Option<R> {
    // SAFETY: pthread_self has no preconditions and never fails.
    let me = unsafe { libc::pthread_self() } as usize;
    // Only this thread ever stores `me`, so seeing it means this thread is
    // inside `with` below, right now.
    if OWNER.load(Relaxed) == me {
        return None;
    }
    Some(HEAP.with(|h| {
        OWNER.store(me, Relaxed);
        let r = f(h);
        OWNER.store(0, Relaxed);
        r
    }))
}

/// Bytes for re-entrant calls, handed out once and never reused.
const POOL: usize = 64 * 1024;
static mut POOL_MEM: [u8; POOL] = [0; POOL];
static POOL_USED: AtomicUsize = AtomicUsize::new(0);

/// A block from the emergency pool, or null when it is used up.
fn emergency(size: usize) -> *mut u8 {
    let Some(size) = memsource::align_up(size.max(1)) else {
        return ptr::null_mut();
    };
    let mut at = POOL_USED.load(Relaxed);
    loop {
        let Some(end) = at.checked_add(size).filter(|&e| e <= POOL) else {
            return ptr::null_mut();
        };
        match POOL_USED.compare_exchange_weak(at, end, Relaxed, Relaxed) {
            // SAFETY: [at, end) is inside the pool and now ours alone: the
            // exchange handed it to this caller only.
            Ok(_) => return unsafe { (&raw mut POOL_MEM).cast::<u8>().add(at) },
            Err(now) => at = now,
        }
    }
}

/// Whether `p` points into the emergency pool (whose blocks are never freed).
fn in_pool(p: *const u8) -> bool {
    let start = (&raw const POOL_MEM).cast::<u8>() as usize;
    (start..start + POOL).contains(&(p as usize))
}
// ANCHOR_END: reentry

/// Null, with errno set to ENOMEM.
fn enomem() -> *mut c_void {
    set_errno(libc::ENOMEM);
    ptr::null_mut()
}

/// The result of an allocation: null with ENOMEM, or the block with
/// `errno` put back to `saved` (a failed `sbrk` on the way to a successful
/// `mmap` must not show).
fn finish(p: *mut u8, saved: i32) -> *mut c_void {
    if p.is_null() {
        return enomem();
    }
    set_errno(saved);
    MALLOCS.fetch_add(1, Relaxed);
    p.cast()
}

/// A block from the emergency pool, counted like any other, or ENOMEM.
fn from_pool(size: usize, saved: i32) -> *mut c_void {
    finish(emergency(size), saved)
}

// ANCHOR: malloc
/// `malloc(size)`.
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    let saved = errno();
    let p = locked(|h| {
        let p = h.malloc(size);
        PEAK.fetch_max(h.map_len(), Relaxed);
        p
    });
    match p {
        Some(p) => finish(p, saved),
        None => from_pool(size, saved), // re-entered
    }
}
// ANCHOR_END: malloc

// ANCHOR: free
/// `free(ptr)`. A pointer that is not a live block of this heap is a bug
/// in the program: report it and abort, as glibc does.
///
/// # Safety
/// `ptr` is null or a pointer from these functions (anything else is
/// detected, reported and aborts).
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() || in_pool(ptr.cast()) {
        return;
    }
    let saved = errno(); // free must not change errno
    // SAFETY: the caller's promise; the heap checks the pointer before
    // using it.
    match locked(|h| unsafe { h.free(ptr.cast()) }) {
        Some(Ok(())) => {
            FREES.fetch_add(1, Relaxed);
        }
        Some(Err(e)) => bad_pointer("free", e, ptr),
        None => {} // re-entered: the block cannot be freed now; leak it
    }
    set_errno(saved);
}
// ANCHOR_END: free

/// `calloc(count, size)`: zeroed, and null with ENOMEM if `count * size`
/// overflows.
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    let saved = errno();
    match locked(|h| h.calloc(count, size)) {
        Some(p) => finish(p, saved),
        // Re-entered: the pool is zeroed and never reused.
        None => match count.checked_mul(size) {
            Some(total) => from_pool(total, saved),
            None => enomem(),
        },
    }
}

// ANCHOR: realloc
/// `realloc(ptr, size)`, as glibc: `realloc(null, n)` is `malloc(n)`;
/// `realloc(p, 0)` frees `p` and returns null; on failure, null with
/// ENOMEM and the block untouched.
///
/// # Safety
/// As for [`free`]; after success, only the returned pointer is used.
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: the caller gives the block up.
        unsafe { free(ptr) };
        return ptr::null_mut();
    }
    let saved = errno();
    if in_pool(ptr.cast()) {
        // A block from the emergency pool: its size is not recorded, so copy
        // as much as both could hold.
        let q = malloc(size);
        if !q.is_null() {
            let pool_end = (&raw const POOL_MEM).cast::<u8>() as usize + POOL;
            let n = size.min(pool_end - ptr as usize);
            // SAFETY: q has `size` bytes; the pool has `n` bytes from ptr.
            unsafe { ptr::copy_nonoverlapping(ptr.cast::<u8>(), q.cast::<u8>(), n) };
        }
        return q;
    }
    let Some((q, known)) = locked(|h| {
        let known = h.usable_size(ptr.cast()) > 0;
        let q = if known {
            // SAFETY: the caller's promise, and `known` checked the pointer.
            unsafe { h.realloc(ptr.cast(), size) }
        } else {
            ptr::null_mut()
        };
        PEAK.fetch_max(h.map_len(), Relaxed);
        (q, known)
    }) else {
        return enomem(); // re-entered: cannot resize now
    };
    if !known {
        bad_pointer("realloc", FreeError::NotOurs, ptr);
    }
    finish(q, saved)
}
// ANCHOR_END: realloc

// ANCHOR: aligned
/// `posix_memalign(out, align, size)`: 0 and the block in `*out`; EINVAL if
/// `align` is not a power of two times `sizeof(void *)`; ENOMEM if there
/// is no memory. `*out` and `errno` are left alone on failure.
///
/// # Safety
/// `out` is valid for a write.
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let saved = errno(); // posix_memalign reports errors by its result only
    let p = locked(|h| h.memalign(align, size)).unwrap_or(ptr::null_mut());
    set_errno(saved);
    if p.is_null() {
        return libc::ENOMEM;
    }
    MALLOCS.fetch_add(1, Relaxed);
    // SAFETY: the caller's promise.
    unsafe { *out = p.cast() };
    0
}

/// `aligned_alloc(align, size)`: null with EINVAL if `align` is not a
/// power of two (as glibc since 2.38).
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    memalign(align, size)
}

/// `memalign(align, size)`: as glibc, an alignment that is not a power of
/// two is rounded up to one.
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    let saved = errno();
    match locked(|h| h.memalign(align, size)) {
        Some(p) => finish(p, saved),
        None => enomem(), // re-entered: the pool cannot align
    }
}

/// `valloc(size)`: aligned to a page.
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    memalign(page_size(), size)
}

/// `pvalloc(size)`: aligned to a page, and the size rounded up to pages.
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let page = page_size();
    match size.max(1).checked_next_multiple_of(page) {
        Some(size) => memalign(page, size),
        None => enomem(),
    }
}

/// `malloc_usable_size(ptr)`: 0 for null or a pointer that is not ours.
///
/// # Safety
/// None beyond C's: any pointer is looked up, never read.
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    if ptr.is_null() || in_pool(ptr.cast()) {
        return 0;
    }
    locked(|h| h.usable_size(ptr.cast())).unwrap_or(0)
}

/// `reallocarray(ptr, count, size)`: `realloc(ptr, count * size)`, with
/// null and ENOMEM if the multiplication overflows. glibc's version would
/// call our `realloc` anyway; exporting it keeps every call on one
/// implementation.
///
/// # Safety
/// As for [`realloc`].
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        // SAFETY: the caller's promise.
        Some(total) => unsafe { realloc(ptr, total) },
        None => enomem(),
    }
}
// ANCHOR_END: aligned

// ANCHOR: report
/// Writes `bytes` to file descriptor `fd` without allocating.
fn write_to(fd: i32, bytes: &[u8]) {
    // SAFETY: writing a buffer we own to a file descriptor.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// Writes `bytes` to stderr without allocating.
fn say(bytes: &[u8]) {
    write_to(2, bytes);
}

/// Where the statistics go: a copy of stderr made at load time, because
/// some programs (`ls`, `sort` and the rest of coreutils) close stderr in
/// an exit handler that runs before ours.
static STATS_FD: AtomicI32 = AtomicI32::new(2);

/// Keeps a copy of stderr for [`print_stats`] (close-on-exec, so that the
/// programs it starts do not inherit it).
pub fn keep_stderr_for_stats() {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC duplicates a descriptor; if 2 is
    // not open it fails with -1 and nothing changes.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    if fd >= 0 {
        STATS_FD.store(fd, Relaxed);
    }
}

/// Formats `n` in decimal (or hex) into `buf`, without allocating.
fn number(buf: &mut [u8; 24], mut n: usize, base: usize) -> &[u8] {
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

/// Reports a bad pointer passed to `what` and aborts, as glibc does.
fn bad_pointer(what: &str, e: FreeError, ptr: *mut c_void) -> ! {
    let mut buf = [0u8; 24];
    say(b"ch09: ");
    say(what.as_bytes());
    say(match e {
        FreeError::NotOurs => b"(): invalid pointer 0x",
        FreeError::DoubleFree => b"(): double free of 0x",
    });
    say(number(&mut buf, ptr as usize, 16));
    say(b"\n");
    std::process::abort()
}

/// Prints the heap's statistics on stderr; the library calls it at exit
/// when `CH09_MALLOC_STATS` is set.
pub extern "C" fn print_stats() {
    let Some(((t, mapped), len)) = locked(|h| (h.totals(), h.map_len())) else {
        return;
    };
    let fd = STATS_FD.load(Relaxed);
    let mut buf = [0u8; 24];
    let line: [(&[u8], usize); 8] = [
        (
            b"ch09 malloc: calls to malloc and friends ",
            MALLOCS.load(Relaxed),
        ),
        (b", frees ", FREES.load(Relaxed)),
        (b"\nch09 malloc: heap now ", len),
        (b" bytes (peak ", PEAK.load(Relaxed)),
        (b"), used ", t.used_bytes),
        (b" bytes in chunks: ", t.used_chunks),
        (b", free chunks: ", t.free_chunks),
        (b", mapped blocks: ", mapped),
    ];
    for (label, n) in line {
        write_to(fd, label);
        write_to(fd, number(&mut buf, n, 10));
    }
    write_to(fd, b"\n");
}
// ANCHOR_END: report
