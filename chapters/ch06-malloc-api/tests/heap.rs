//! Chapter 6's heap, pinned by snapshots, and its chapter-specific
//! behaviour. (Bad input common to all chapters is checked by the
//! conformance suite in the root `tests/`.)

use ch06_malloc_api::{HEADER, Heap};
use memsource::Arena;
use std::alloc::Layout;

alloc_suite::chapter_snapshots! {
    binary: env!("CARGO_BIN_EXE_ch06-malloc-api"),
    demo: ch06_malloc_api::demo::run,
    title: "The whole malloc API, step by step",
    new: Heap::new,
}

fn sizes(heap: &Heap<Arena>) -> Vec<(usize, bool)> {
    heap.chunks().map(|c| (c.size(), c.is_used())).collect()
}

#[test]
fn memalign_returns_aligned_blocks_and_loses_no_bytes() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    heap.malloc(8); // so that the next block is not aligned by chance
    for align in [32, 64, 256, 4096] {
        let p = heap.memalign(align, 100);
        assert!(
            !p.is_null() && (p as usize).is_multiple_of(align),
            "{align}"
        );
        heap.check().unwrap();
    }
    // Every byte of the heap is in some chunk: nothing leaked into padding.
    let map = heap.map();
    let t = map.totals();
    assert_eq!(t.used_bytes + t.free_bytes + t.header_bytes, map.len());
    if !cfg!(miri) {
        insta::assert_snapshot!("memalign", map.render());
    }
}

#[test]
fn memalign_refuses_bad_alignments_and_sizes() {
    let mut heap = Heap::new(Arena::new(4096));
    for align in [0, 3, 24, 100] {
        assert!(heap.memalign(align, 16).is_null(), "{align}");
    }
    assert!(heap.memalign(64, usize::MAX - 100).is_null());
    assert!(heap.memalign(1 << 62, 16).is_null());
    assert!(heap.map().is_empty());
    // Rust's Layout cannot even express a bad alignment.
    assert!(Layout::from_size_align(16, 24).is_err());
}

#[test]
fn freeing_aligned_blocks_merges_everything_back() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let a = heap.malloc(8);
    let b = heap.memalign(512, 1000);
    // SAFETY: a and b came from this heap and are live.
    unsafe {
        heap.free(b).unwrap();
        heap.free(a).unwrap();
    }
    assert_eq!(heap.map().len(), 0, "all memory returned");
}

#[test]
fn calloc_clears_reused_memory_and_checks_overflow() {
    let mut heap = Heap::new(Arena::new(4096));
    let p = heap.malloc(200);
    heap.malloc(16);
    // SAFETY: p owns 200 bytes; then it is freed once.
    unsafe {
        p.write_bytes(0xEE, 200);
        heap.free(p).unwrap();
    }
    let q = heap.calloc(25, 8);
    assert_eq!(q, p, "reuses the dirty chunk");
    // SAFETY: q owns 200 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(q, 200) };
    assert!(bytes.iter().all(|&b| b == 0));
    let before = heap.map();
    assert!(heap.calloc(usize::MAX, 2).is_null());
    assert!(heap.calloc(1 << 33, 1 << 33).is_null());
    assert_eq!(heap.map(), before);
}

#[test]
fn realloc_in_place_and_by_moving() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let a = heap.malloc(100);
    let b = heap.malloc(100);
    // SAFETY: every pointer is live and replaced by what realloc returns.
    unsafe {
        a.write_bytes(1, 100);
        // Shrink in place: the rest becomes a free chunk.
        assert_eq!(heap.realloc(a, 40), a);
        assert_eq!(
            sizes(&heap),
            [(48, true), (112 - 48 - HEADER, false), (112, true)]
        );
        // Grow in place into that free chunk again.
        assert_eq!(heap.realloc(a, 100), a);
        assert_eq!(sizes(&heap)[0], (112, true));
        // b is last: it grows by moving the break.
        assert_eq!(heap.realloc(b, 1000), b);
        // a cannot grow in place any more: it moves, contents kept.
        let a2 = heap.realloc(a, 500);
        assert_ne!(a2, a);
        assert!(std::slice::from_raw_parts(a2, 40).iter().all(|&x| x == 1));
        heap.check().unwrap();
        // Shrinking the last block gives memory back.
        let len = heap.map().len();
        assert_eq!(heap.realloc(a2, 16), a2);
        assert!(heap.map().len() < len);
    }
    heap.check().unwrap();
}

#[test]
fn realloc_bad_input() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(32);
    let mut local = 0u8;
    let before = heap.map();
    // SAFETY: a is live; the other pointers are refused without being read.
    unsafe {
        assert!(heap.realloc(a, usize::MAX - 3).is_null(), "too large");
        assert!(heap.realloc(a, 1 << 20).is_null(), "out of memory");
        assert!(heap.realloc(&mut local, 64).is_null(), "not ours");
        assert!(
            heap.realloc(a.wrapping_add(16), 64).is_null(),
            "inside a block"
        );
    }
    assert_eq!(heap.map(), before, "the block is left as it was");
    assert_eq!(heap.usable_size(a), 32);
    // SAFETY: a is live; realloc(a, 0) frees it.
    assert!(unsafe { heap.realloc(a, 0) }.is_null());
    assert_eq!(heap.usable_size(a), 0, "freed");
    assert_eq!(heap.map().len(), 0);
}

#[test]
fn growing_the_last_block_copes_with_a_foreign_sbrk() {
    let mut heap = Heap::new(Arena::new(4096));
    let a = heap.malloc(64);
    // SAFETY: growing the break above the heap takes nothing from it.
    assert!(unsafe { heap.source_mut() }.foreign_grow(32));
    // SAFETY: a is live and replaced by what realloc returns.
    let b = unsafe { heap.realloc(a, 128) };
    assert!(
        !b.is_null() && b != a,
        "moved: the break is not ours to extend"
    );
    heap.check().unwrap();
    let t = heap.map().totals();
    assert_eq!(t.foreign_bytes, 32);
    // The growth that could not be used in place went straight back: the
    // heap is the old chunk, the gap, and the new chunk, nothing more.
    assert_eq!(heap.map().len(), 96 + 32 + 160);
}

#[test]
fn layout_interface() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let layout = Layout::from_size_align(100, 128).unwrap();
    let p = heap.alloc(layout);
    assert!((p as usize).is_multiple_of(128));
    // SAFETY: p is a live block of `layout`, replaced by what is returned.
    unsafe {
        p.write_bytes(9, 100);
        let q = heap.realloc_layout(p, layout, 300);
        assert!((q as usize).is_multiple_of(128));
        assert!(std::slice::from_raw_parts(q, 100).iter().all(|&x| x == 9));
        heap.dealloc(q, Layout::from_size_align(300, 128).unwrap());
    }
    assert_eq!(heap.map().len(), 0);
}
