//! Chapter 3's heap, pinned by snapshots, and what it does with bad input.

use allockit::FreeError;
use ch03_free_list::{HEADER, Heap, demo};
use memsource::Arena;

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn demo_steps() {
    let script = demo::run(Arena::new(4096));
    insta::assert_snapshot!("demo", script.render());
    insta::assert_snapshot!("demo_svg", script.svg("The free list, step by step"));
}

/// The demo binary runs on the real break; its output must match the
/// arena run above, offsets and all.
#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn demo_binary_on_the_real_break() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch03-free-list"))
        .output()
        .expect("run the demo");
    assert!(out.status.success());
    insta::assert_snapshot!("demo_binary", String::from_utf8_lossy(&out.stdout));
}

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn workload_footprint() {
    let mut heap = Heap::new(alloc_suite::bench::arena());
    let fp = alloc_suite::workload::footprint(&mut heap, &alloc_suite::bench::ops());
    insta::assert_snapshot!("footprint", fp.to_string());
}

#[test]
fn first_fit_takes_the_first_chunk_that_fits_whole() {
    let mut heap = Heap::new(Arena::new(4096));
    let big = heap.malloc(200);
    let _guard = heap.malloc(8);
    let small = heap.malloc(32);
    let _guard2 = heap.malloc(8);
    // SAFETY: both came from this heap.
    unsafe {
        heap.free(big).unwrap();
        heap.free(small).unwrap();
    }
    // 32 bytes fit in both free chunks: first fit takes the first, and all
    // 208 bytes of it, because this chapter cannot split.
    assert_eq!(heap.malloc(32), big);
    let chunk = heap.chunks().next().unwrap();
    assert_eq!((chunk.size(), chunk.is_used()), (208, true));
    heap.check().unwrap();
}

#[test]
fn free_null_does_nothing() {
    let mut heap = Heap::new(Arena::new(4096));
    heap.malloc(10);
    let before = heap.map();
    // SAFETY: null is always allowed.
    assert_eq!(unsafe { heap.free(std::ptr::null_mut()) }, Ok(()));
    assert_eq!(heap.map(), before);
}

#[test]
fn double_free_is_refused_and_changes_nothing() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(10);
    // SAFETY: a came from this heap; the second free is the point of the test.
    unsafe {
        assert_eq!(heap.free(a), Ok(()));
        let before = heap.map();
        assert_eq!(heap.free(a), Err(FreeError::DoubleFree));
        assert_eq!(heap.map(), before);
    }
}

#[test]
fn foreign_pointers_are_refused_and_change_nothing() {
    let mut heap = Heap::new(Arena::new(4096));
    let mut local = [0u8; 64];
    let mut other = Heap::new(Arena::new(4096));
    let theirs = other.malloc(10);
    // SAFETY: before any chunk exists, nothing can be ours.
    assert_eq!(unsafe { heap.free(theirs) }, Err(FreeError::NotOurs));
    let a = heap.malloc(10);
    let before = heap.map();
    // SAFETY: all three lie outside this heap or are misaligned, which free
    // detects without reading a header.
    unsafe {
        assert_eq!(heap.free(local.as_mut_ptr()), Err(FreeError::NotOurs));
        assert_eq!(heap.free(theirs), Err(FreeError::NotOurs));
        assert_eq!(heap.free(a.wrapping_add(8)), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.map(), before);
}

#[test]
fn sizes_that_overflow_give_null_and_change_nothing() {
    let mut heap = Heap::new(Arena::new(4096));
    heap.malloc(1);
    let before = heap.map();
    for size in [
        usize::MAX,
        usize::MAX - 15,
        usize::MAX - HEADER,
        isize::MAX as usize,
    ] {
        assert!(heap.malloc(size).is_null(), "malloc({size:#x})");
    }
    assert_eq!(heap.map(), before);
    heap.check().unwrap();
}

#[test]
fn out_of_memory_gives_null_then_reuse_still_works() {
    let mut heap = Heap::new(Arena::new(1024));
    let mut blocks = Vec::new();
    loop {
        let p = heap.malloc(100);
        if p.is_null() {
            break;
        }
        blocks.push(p);
    }
    assert_eq!(blocks.len(), 1024 / (HEADER + 112));
    heap.check().unwrap();
    // SAFETY: blocks[1] came from this heap.
    unsafe { heap.free(blocks[1]).unwrap() };
    assert_eq!(heap.malloc(100), blocks[1]);
}

#[test]
fn a_foreign_sbrk_leaves_a_gap_the_list_steps_over() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(16);
    // SAFETY: growing the break above the heap takes nothing from it.
    assert!(unsafe { heap.source_mut() }.foreign_grow(64));
    let b = heap.malloc(16);
    assert_eq!(b as usize - a as usize, 16 + 64 + HEADER);
    heap.check().unwrap();
    if !cfg!(miri) {
        insta::assert_snapshot!("foreign_gap", heap.map().render());
    }
}

#[test]
fn header_is_32_bytes_and_keeps_payloads_aligned() {
    assert_eq!(HEADER, 32);
    let mut heap = Heap::new(Arena::new(4096));
    for size in 0..50 {
        assert_eq!(heap.malloc(size) as usize % 16, 0);
    }
}
