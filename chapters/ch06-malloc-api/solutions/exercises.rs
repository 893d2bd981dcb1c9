//! Reference solutions to chapter 6's exercises. Try them yourself first,
//! in `src/exercises.rs`.

use crate::Heap;
use memsource::MemorySource;

// ANCHOR: ex1
/// Exercise 1: `reallocarray`.
///
/// # Safety
/// As for [`Heap::realloc`].
pub unsafe fn reallocarray<S: MemorySource>(
    heap: &mut Heap<S>,
    ptr: *mut u8,
    count: usize,
    size: usize,
) -> *mut u8 {
    let Some(total) = count.checked_mul(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the caller's promise.
    unsafe { heap.realloc(ptr, total) }
}
// ANCHOR_END: ex1

// ANCHOR: ex2
/// `posix_memalign`'s error for a bad alignment.
pub const EINVAL: i32 = 22;
/// `posix_memalign`'s error when memory runs out.
pub const ENOMEM: i32 = 12;

/// Exercise 2: `posix_memalign`.
pub fn posix_memalign<S: MemorySource>(
    heap: &mut Heap<S>,
    out: &mut *mut u8,
    align: usize,
    size: usize,
) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut u8>()) {
        return EINVAL;
    }
    let p = heap.memalign(align, size);
    if p.is_null() {
        return ENOMEM;
    }
    *out = p;
    0
}
// ANCHOR_END: ex2
