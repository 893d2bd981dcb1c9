//! The shared library: chapter 9's C functions exported under their C
//! names. Build it and run any program on it:
//!
//! ```text
//! cargo build -p ch09-preload
//! LD_PRELOAD=$PWD/target/debug/libch09_preload.so CH09_MALLOC_STATS=1 ls -l
//! ```
//!
//! Every function of the family is exported: if one were missing, glibc's
//! version would run on our pointers, or ours on glibc's.

use ch09_ld_preload::c;
use std::ffi::c_void;

// ANCHOR: exports
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    c::malloc(size)
}

/// # Safety
/// C's contract for `free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: the caller's promise, passed on.
    unsafe { c::free(ptr) }
}
// ANCHOR_END: exports

#[unsafe(no_mangle)]
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    c::calloc(count, size)
}

/// # Safety
/// C's contract for `realloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the caller's promise, passed on.
    unsafe { c::realloc(ptr, size) }
}

/// # Safety
/// C's contract for `reallocarray`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    // SAFETY: the caller's promise, passed on.
    unsafe { c::reallocarray(ptr, count, size) }
}

/// # Safety
/// C's contract for `posix_memalign`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    // SAFETY: the caller's promise, passed on.
    unsafe { c::posix_memalign(out, align, size) }
}

#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    c::aligned_alloc(align, size)
}

#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    c::memalign(align, size)
}

#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    c::valloc(size)
}

#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    c::pvalloc(size)
}

/// # Safety
/// C's contract for `malloc_usable_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    // SAFETY: the caller's promise, passed on.
    unsafe { c::malloc_usable_size(ptr) }
}

// ANCHOR: init
/// Runs when the library is loaded, before `main`: if `CH09_MALLOC_STATS`
/// is set, print the heap's statistics at exit.
extern "C" fn init() {
    // SAFETY: getenv reads the environment (set up before any constructor
    // runs), and atexit registers a function that lives as long as the
    // library.
    unsafe {
        if !libc::getenv(c"CH09_MALLOC_STATS".as_ptr()).is_null() {
            c::keep_stderr_for_stats();
            libc::atexit(c::print_stats);
        }
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;
// ANCHOR_END: init
