//! Chapter 3's heap, pinned by snapshots, and its chapter-specific
//! behaviour. (Bad input is checked for every chapter by the conformance
//! suite in the root `tests/`.)

use ch03_free_list::{HEADER, Heap};
use memsource::Arena;

alloc_suite::chapter_snapshots! {
    binary: env!("CARGO_BIN_EXE_ch03-free-list"),
    demo: ch03_free_list::demo::run,
    title: "The free list, step by step",
    new: Heap::new,
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
