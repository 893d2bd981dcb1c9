//! Chapter 2's heap, pinned by snapshots. (Bad input is checked for every
//! chapter by the conformance suite in the root `tests/`.)

use ch02_bump::Bump;
use memsource::Arena;

alloc_suite::chapter_snapshots! {
    binary: env!("CARGO_BIN_EXE_ch02-bump"),
    demo: ch02_bump::demo::run,
    title: "The bump allocator's heap, step by step",
    new: Bump::new,
}

#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn a_bump_heap_never_shrinks() {
    let mut heap = Bump::new(alloc_suite::bench::arena());
    let fp = alloc_suite::workload::footprint(&mut heap, &alloc_suite::bench::ops());
    assert_eq!(fp.peak_heap, fp.end_heap);
}

#[test]
fn free_ignores_every_pointer_and_the_block_stays_usable() {
    let mut heap = Bump::new(Arena::new(4096));
    let a = heap.malloc(16);
    let before = heap.map();
    let mut local = 0u8;
    heap.free(a);
    heap.free(a); // a double free
    heap.free(&mut local); // a pointer this heap never gave out
    assert_eq!(heap.map(), before);
    // SAFETY: `a` owns 16 bytes, and nothing was given back.
    unsafe { a.write_bytes(7, 16) };
}
