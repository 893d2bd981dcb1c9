//! Sharing the program break with glibc. This test has no test harness
//! (`harness = false`): it must run on the main thread, because glibc's
//! `malloc` serves other threads from arenas of their own, made with
//! `mmap`, and only the main thread's arena grows the break.

use ch07_global_alloc::Global;

#[global_allocator]
static HEAP: Global = Global::new();

fn main() {
    // Our block, then glibc's, then ours again: glibc has to grow the
    // break in between (60 KB blocks fit under its mmap threshold).
    let ours = vec![1u8; 200_000];
    // SAFETY: plain calls to the C library's malloc.
    let glibc: Vec<_> = (0..6).map(|_| unsafe { libc::malloc(60_000) }).collect();
    assert!(glibc.iter().all(|p| !p.is_null()));
    let more = vec![2u8; 200_000];
    let map = HEAP.map();
    HEAP.check().unwrap();
    let last = map.chunks.last().unwrap().end();
    let foreign = map.totals().foreign_bytes + (map.end - last);
    assert!(foreign > 0, "glibc's memory should sit between our chunks");
    drop((ours, more));
    HEAP.check().unwrap();
    // glibc still works, so we did not give its memory away.
    for p in glibc {
        // SAFETY: p came from libc::malloc; write to all of it, then free it.
        unsafe {
            p.cast::<u8>().write_bytes(7, 60_000);
            libc::free(p);
        }
    }
    // SAFETY: as above.
    let p = unsafe { libc::malloc(100_000) };
    assert!(!p.is_null());
    // SAFETY: p came from libc::malloc.
    unsafe { libc::free(p) };
    HEAP.check().unwrap();
    println!("shared break: ok ({foreign} bytes of glibc's memory between ours)");
}
