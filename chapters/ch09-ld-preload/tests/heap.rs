//! Chapter 9's heap on an arena: system calls saved by the top pad,
//! overwritten headers found, pages given back, big aligned blocks mapped.

use allockit::{FreeError, Malloc};
use c_api::CHeap;
use ch09_ld_preload::{HEADER, Heap, TOP_PAD, TRIM_THRESHOLD};
use memsource::{Arena, Counted};

/// 10,000 mallocs of 16 to 215 bytes, then 10,000 frees in the same order,
/// on `heap`; returns the calls it made to its memory source.
fn ten_thousand<H: Malloc>(
    heap: &mut H,
    calls: impl Fn(&mut H) -> memsource::Calls,
) -> memsource::Calls {
    let blocks: Vec<_> = (0..10_000).map(|i| heap.malloc(16 + i % 200)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    for p in blocks {
        // SAFETY: a live block of this heap, freed once.
        unsafe { heap.free(p) }.unwrap();
    }
    heap.check().unwrap();
    calls(heap)
}

#[test]
fn the_top_pad_saves_system_calls() {
    let mut table = String::from(
        "10,000 mallocs of 16-215 bytes, then 10,000 frees (calls to the memory source):\n\n\
         heap        grow the break   shrink the break   give pages back\n",
    );
    let old = ten_thousand(
        &mut ch08_mmap::Heap::new(Counted::new(Arena::new(4 << 20))),
        // SAFETY: only reads the counts.
        |h| unsafe { h.source_mut() }.calls,
    );
    let c = ten_thousand(
        &mut Heap::new(Counted::new(Arena::new(4 << 20))),
        // SAFETY: only reads the counts.
        |h| unsafe { h.source_mut() }.calls,
    );
    for (name, c) in [("chapter 8", old), ("chapter 9", c)] {
        table += &format!(
            "{name}   {:>14}   {:>16}   {:>15}\n",
            c.grow, c.shrink, c.release
        );
    }
    assert!(c.grow + c.shrink + c.release < 50, "{table}");
    assert_eq!(c.shrink, 0, "chapter 9 never moves the break down");
    insta::assert_snapshot!("system_calls", table);
}

#[test]
fn an_overwritten_header_is_reported_as_corruption_not_as_a_double_free() {
    alloc_suite::c_layer::an_overwritten_header_is_reported_as_corruption(
        Heap::new(Arena::new(1 << 16)),
        HEADER,
    );
}

#[test]
fn double_and_foreign_frees_are_told_apart_from_corruption() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let a = heap.malloc(24);
    let _guard = heap.malloc(24);
    // SAFETY: a is live, then freed once; the second free is the bug.
    unsafe {
        assert_eq!(heap.free(a), Ok(()));
        assert_eq!(heap.free(a), Err(FreeError::DoubleFree));
        assert_eq!(heap.free(a.add(8)), Err(FreeError::NotOurs));
        // realloc of a pointer that is not a live block is an error, not
        // "out of memory".
        assert_eq!(heap.try_realloc(a, 100), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.corruption(), None);
}

#[test]
fn free_memory_on_top_goes_back_as_pages_and_the_break_stays() {
    let mut heap = Heap::new(Arena::new(4 << 20));
    let small = heap.malloc(16);
    let end = heap.map().end;
    let blocks: Vec<_> = (0..40).map(|_| heap.malloc(50_000)).collect();
    for &p in &blocks {
        // SAFETY: each block has 50,000 bytes.
        unsafe { p.write_bytes(0xAA, 50_000) };
    }
    let grown = heap.held();
    assert!(grown > 2_000_000);
    for p in blocks.into_iter().rev() {
        // SAFETY: live blocks, freed once.
        unsafe { heap.free(p) }.unwrap();
    }
    heap.check().unwrap();
    assert!(heap.map().end > end, "the break is not moved down");
    assert!(
        heap.held() <= TOP_PAD + TRIM_THRESHOLD + 4096,
        "after freeing 2 MB the heap holds {} bytes, expected at most the pad and the trim threshold",
        heap.held()
    );
    let info = CHeap::info(&heap);
    assert_eq!(info.used_chunks, 1);
    assert!(info.top_free > 2_000_000);
    // Given back pages read as zero, and serve new blocks as before.
    let p = heap.calloc(1, 1_000_000);
    // SAFETY: p has 1,000,000 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p, 1_000_000) };
    assert!(bytes.iter().all(|&b| b == 0));
    // SAFETY: live blocks, freed once.
    unsafe {
        heap.free(p).unwrap();
        heap.free(small).unwrap();
    }
}

#[test]
fn malloc_trim_gives_back_free_pages_in_the_middle_too() {
    let mut heap = Heap::new(Arena::new(1 << 20));
    let a = heap.malloc(100_000);
    let guard = heap.malloc(16);
    // SAFETY: a has 100,000 bytes; freed once.
    unsafe {
        a.write_bytes(1, 100_000);
        heap.free(a).unwrap();
    }
    assert!(CHeap::trim(&mut heap, 0), "24 free pages in the middle");
    let page = memsource::page_size();
    let mid = (a as usize).next_multiple_of(page) - a as usize;
    // SAFETY: the freed block's memory is still the arena's, and nothing
    // writes it; reading it shows the pages came back zeroed.
    let byte = unsafe { *a.add(mid) };
    assert_eq!(byte, 0);
    heap.check().unwrap();
    // SAFETY: live block, freed once.
    unsafe { heap.free(guard) }.unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "makes real mappings")]
fn a_huge_alignment_gets_a_mapping_of_its_own() {
    let mut heap = Heap::new(Arena::with_mappings(1 << 16));
    let p = heap.memalign(1 << 30, 16);
    assert!(!p.is_null());
    assert_eq!(p as usize % (1 << 30), 0);
    assert_eq!(heap.map().chunks.len(), 0, "the break is untouched");
    assert_eq!(heap.map().mapped.len(), 1);
    // SAFETY: p has 16 bytes; then it is resized and freed once.
    unsafe {
        p.write_bytes(3, 16);
        let q = heap.realloc(p, 1 << 20);
        assert!(!q.is_null());
        assert_eq!(*q.add(15), 3);
        heap.free(q).unwrap();
    }
    assert_eq!(heap.map().mapped.len(), 0);
}
