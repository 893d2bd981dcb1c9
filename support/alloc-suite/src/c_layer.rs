//! What the C layer must do whatever the heap under it: checks shared by
//! every chapter's C interface.

use allockit::{FreeError, Malloc};
use c_api::{CHeap, State};

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}

/// The C interface when the break cannot grow: a mapping sits right above
/// it. Allocation through `c` must still succeed (the heap grows into a
/// mapping), leave `errno` as it was, and every block must still be found
/// when freed, also after the break can grow again. Moves the real break:
/// call it alone in its test binary.
pub fn a_blocked_break_falls_back_to_mmap_quietly<H: CHeap>(c: &State<H>) {
    let first = c.malloc(64); // the heap's first growth, with the top pad
    assert!(!first.is_null());
    let page = memsource::page_size();
    // SAFETY: sbrk(0) only reads the break.
    let brk = unsafe { libc::sbrk(0) } as usize;
    let at = brk.next_multiple_of(page);
    // SAFETY: MAP_FIXED_NOREPLACE maps only if nothing is there.
    let blocker = unsafe {
        libc::mmap(
            at as *mut libc::c_void,
            16 * page,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_ne!(blocker, libc::MAP_FAILED, "could not block the break");
    set_errno(1234);
    let blocked: Vec<_> = (0..4).map(|_| c.malloc(100_000)).collect();
    assert!(
        blocked.iter().all(|p| !p.is_null()),
        "no memory with the break blocked"
    );
    assert_eq!(errno(), 1234, "a successful malloc changed errno");
    // SAFETY: the blocker is ours, mapped just above.
    unsafe { libc::munmap(blocker, 16 * page) };
    let later: Vec<_> = (0..4).map(|_| c.malloc(100_000)).collect();
    assert!(later.iter().all(|p| !p.is_null()));
    for p in blocked.into_iter().chain(later).chain([first]) {
        // SAFETY: every block is live and freed once (a refused one aborts).
        unsafe { c.free(p) };
    }
    assert_eq!(errno(), 1234, "free changed errno");
}

/// A write 16 bytes past the end of a block lands on the header of the
/// block after it: `heap` (fresh, with headers of `header` bytes) must
/// refuse to free that block as corrupt (not as a double free), record
/// where, and say so in its heap walk.
pub fn an_overwritten_header_is_reported_as_corruption<H: Malloc + CHeap>(
    mut heap: H,
    header: usize,
) {
    let a = Malloc::malloc(&mut heap, 24);
    let b = Malloc::malloc(&mut heap, 24);
    let usable = CHeap::usable_size(&heap, a).expect("a live block");
    assert_eq!(b as usize, a as usize + usable + header, "b right after a");
    // SAFETY: writes 16 bytes past a's block, over b's header: the bug
    // this check plays. The heap owns those bytes, and must notice.
    unsafe { a.add(usable).write_bytes(b'x', 16) };
    // SAFETY: b is a live block (whose header was overwritten).
    let freed = unsafe { Malloc::free(&mut heap, b) };
    assert_eq!(freed, Err(FreeError::Corrupt));
    assert_eq!(CHeap::corruption(&heap), Some(b as usize - header));
    let why = Malloc::check(&heap).expect_err("the heap walk must see it");
    assert!(why.contains("overwritten"), "{why}");
}
