//! The C interface when the break cannot grow: a mapping sits right above
//! it. Allocation must still succeed (the heap grows into a mapping), leave
//! `errno` as it was, and every block must still be found when freed, also
//! after the break can grow again. (One test, alone in its binary: it moves
//! the real break.)

use c_api::State;
use ch11_boundary_tags::Heap;
use memsource::Sbrk;

/// The C layer over this chapter's heap, as the shared library has it.
static C: State<Heap<Sbrk>> = State::new(Heap::new(Sbrk::new()), "ch11");

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}

#[test]
#[cfg_attr(miri, ignore = "moves the real break")]
fn a_blocked_break_falls_back_to_mmap_quietly() {
    let first = C.malloc(64); // the heap's first growth, with the top pad
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
    let blocked: Vec<_> = (0..4).map(|_| C.malloc(100_000)).collect();
    assert!(
        blocked.iter().all(|p| !p.is_null()),
        "no memory with the break blocked"
    );
    assert_eq!(errno(), 1234, "a successful malloc changed errno");
    // SAFETY: the blocker is ours, mapped just above.
    unsafe { libc::munmap(blocker, 16 * page) };
    let later: Vec<_> = (0..4).map(|_| C.malloc(100_000)).collect();
    assert!(later.iter().all(|p| !p.is_null()));
    for p in blocked.into_iter().chain(later).chain([first]) {
        // SAFETY: every block is live and freed once (a refused one aborts).
        unsafe { C.free(p) };
    }
    assert_eq!(errno(), 1234, "free changed errno");
}
