//! Chapter 11's heap: what the boundary tags and the free list promise.

use allockit::{FreeError, Malloc};
use c_api::CHeap;
use ch11_boundary_tags::{HEADER, Heap, MIN_PAYLOAD, Order, TOP_PAD, TRIM_THRESHOLD};
use memsource::Arena;

#[test]
#[cfg_attr(miri, ignore = "slow under Miri")]
fn conforms() {
    alloc_suite::conformance::assert_conforms(Heap::new);
    alloc_suite::conformance::assert_conforms(|a| Heap::with_order(a, Order::Address));
}

#[test]
fn random_operations_keep_every_invariant_in_both_orders() {
    for order in [Order::Lifo, Order::Address] {
        let n = if cfg!(miri) { 300 } else { 20_000 };
        let mut heap = Heap::with_order(Arena::new(4 << 20), order);
        let mut rng = alloc_suite::workload::Rng::new(7);
        let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
        for i in 0..n {
            match rng.range(0, 9) {
                0..=4 => {
                    let size = rng.range(0, 700);
                    let p = heap.malloc(size);
                    assert!(!p.is_null());
                    let tag = i as u8;
                    // SAFETY: p has `size` bytes.
                    unsafe { p.write_bytes(tag, size) };
                    live.push((p, size, tag));
                }
                5..=7 if !live.is_empty() => {
                    let (p, size, tag) = live.swap_remove(rng.range(0, live.len() - 1));
                    // SAFETY: p has `size` bytes, live.
                    let ok = unsafe { std::slice::from_raw_parts(p, size) }
                        .iter()
                        .all(|&b| b == tag);
                    assert!(ok, "contents of a block changed");
                    // SAFETY: a live block, freed once.
                    unsafe { heap.free(p) }.unwrap();
                }
                _ if !live.is_empty() => {
                    let k = rng.range(0, live.len() - 1);
                    let (p, size, tag) = live[k];
                    let new = rng.range(1, 900);
                    // SAFETY: a live block; replaced by the result.
                    let q = unsafe { heap.realloc(p, new) };
                    assert!(!q.is_null());
                    // SAFETY: q has at least min(size, new) bytes.
                    let ok = unsafe { std::slice::from_raw_parts(q, size.min(new)) }
                        .iter()
                        .all(|&b| b == tag);
                    assert!(ok, "realloc lost the contents");
                    // SAFETY: q has `new` bytes.
                    unsafe { q.write_bytes(tag, new) };
                    live[k] = (q, new, tag);
                }
                _ => {}
            }
            if i % 97 == 0 {
                heap.check().unwrap();
            }
        }
        for (p, _, _) in live {
            // SAFETY: live blocks, freed once.
            unsafe { heap.free(p) }.unwrap();
        }
        heap.check().unwrap();
        assert_eq!(heap.chunks().filter(|c| c.used).count(), 0);
    }
}

#[test]
fn free_merges_with_both_neighbours() {
    let mut heap = Heap::new(Arena::new(1 << 20));
    let p: Vec<_> = (0..4).map(|_| heap.malloc(64)).collect();
    // SAFETY: live blocks of this heap, freed once.
    unsafe {
        heap.free(p[0]).unwrap();
        heap.free(p[2]).unwrap();
        heap.free(p[1]).unwrap();
    }
    heap.check().unwrap();
    let first = heap.chunks().next().unwrap();
    assert_eq!(first.size, 3 * 64 + 2 * HEADER);
    assert!(!first.used);
    assert_eq!(
        heap.free_list().count(),
        2,
        "the merged chunk and the top chunk"
    );
}

#[test]
fn an_overwritten_header_is_reported_as_corruption_not_as_a_double_free() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let a = heap.malloc(24);
    assert_eq!(
        heap.usable_size(a),
        MIN_PAYLOAD,
        "24 bytes get the smallest payload"
    );
    alloc_suite::c_layer::an_overwritten_header_is_reported_as_corruption(
        Heap::new(Arena::new(1 << 16)),
        HEADER,
    );
}

#[test]
fn overwritten_links_are_found_before_they_are_followed() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let a = heap.malloc(64);
    let _guard = heap.malloc(64);
    let b = heap.malloc(64);
    let _guard2 = heap.malloc(64);
    // SAFETY: live blocks, freed once; then a use after free writes a's
    // `next` link: the bug this test plays.
    unsafe {
        heap.free(a).unwrap();
        heap.free(b).unwrap();
        a.cast::<usize>().add(1).write(0xdead_bee0);
    }
    // b is first on the list (most recently freed), then a; a's next now
    // points nowhere. A malloc too big for both walks past a.
    let p = heap.malloc(5000);
    assert!(p.is_null(), "the walk must stop at the bad link");
    assert!(heap.corruption().is_some());
}

#[test]
fn double_and_foreign_frees_are_told_apart_from_corruption() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let a = heap.malloc(24);
    let b = heap.malloc(24);
    let _guard = heap.malloc(24);
    let mut local = [0u8; 64];
    // SAFETY: a and b are live, then freed once; the second frees are the
    // bugs. b merges with a: its header is left free, so a second free of
    // b is still a double free.
    unsafe {
        assert_eq!(heap.free(a), Ok(()));
        assert_eq!(heap.free(a), Err(FreeError::DoubleFree));
        assert_eq!(heap.free(b), Ok(()));
        assert_eq!(heap.free(b), Err(FreeError::DoubleFree));
        assert_eq!(heap.free(a.add(8)), Err(FreeError::NotOurs));
        assert_eq!(
            heap.free(local.as_mut_ptr().add(16)),
            Err(FreeError::NotOurs)
        );
        assert_eq!(heap.try_realloc(a, 100), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.corruption(), None);
    heap.check().unwrap();
}

#[test]
fn a_foreign_sbrk_makes_a_new_region_and_nothing_merges_across_it() {
    let mut heap = Heap::new(Arena::new(1 << 20));
    CHeap::tune(&mut heap, c_api::Tunable::TopPad, 0);
    let a = heap.malloc(64);
    // SAFETY: growing the break above the heap takes nothing from it.
    assert!(unsafe { heap.source_mut() }.foreign_grow(32));
    let b = heap.malloc(64);
    let c = heap.malloc(64); // contiguous with b: the same region
    heap.check().unwrap();
    let map = heap.map();
    assert!(map.render().contains("not ours 32"), "{}", map.render());
    // SAFETY: live blocks, freed once.
    unsafe {
        heap.free(a).unwrap();
        heap.free(b).unwrap();
        heap.free(c).unwrap();
    }
    heap.check().unwrap();
    assert_eq!(heap.free_list().count(), 2, "one free chunk per region");
}

#[test]
fn free_memory_on_top_goes_back_as_pages_and_links_survive() {
    let mut heap = Heap::new(Arena::new(4 << 20));
    let small = heap.malloc(16);
    let blocks: Vec<_> = (0..40).map(|_| heap.malloc(50_000)).collect();
    for &p in &blocks {
        // SAFETY: each block has 50,000 bytes.
        unsafe { p.write_bytes(0xAA, 50_000) };
    }
    for p in blocks.into_iter().rev() {
        // SAFETY: live blocks, freed once.
        unsafe { heap.free(p) }.unwrap();
    }
    heap.check().unwrap();
    assert!(
        heap.held() <= TOP_PAD + TRIM_THRESHOLD + 8192,
        "after freeing 2 MB the heap holds {} bytes",
        heap.held()
    );
    // SAFETY: only reads the count.
    assert!(unsafe { heap.source_mut() }.released() > 1_000_000);
    assert!(CHeap::trim(&mut heap, 0));
    heap.check().unwrap();
    let p = heap.calloc(1, 1_000_000);
    // SAFETY: p has 1,000,000 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p, 1_000_000) };
    assert!(bytes.iter().all(|&b| b == 0));
    // SAFETY: live blocks, freed once.
    unsafe {
        heap.free(p).unwrap();
        heap.free(small).unwrap();
    }
    heap.check().unwrap();
}

#[test]
fn realloc_grows_in_place_into_the_free_chunk_after_it_and_on_top() {
    let mut heap = Heap::new(Arena::new(1 << 20));
    let a = heap.malloc(64);
    let b = heap.malloc(64);
    let _guard = heap.malloc(64);
    // SAFETY: live blocks; b is freed once, a resized.
    unsafe {
        a.write_bytes(7, 64);
        heap.free(b).unwrap();
        let q = heap.realloc(a, 140);
        assert_eq!(q, a, "grew into b's chunk");
        assert!(std::slice::from_raw_parts(q, 64).iter().all(|&x| x == 7));
    }
    heap.check().unwrap();
    let top = heap.malloc(100);
    // SAFETY: `top` is live, resized past the top pad: the break grows.
    let q = unsafe { heap.realloc(top, 600_000) };
    assert_eq!(q, top, "the block on top grows with the break");
    heap.check().unwrap();
}

#[test]
fn memalign_gives_aligned_blocks_and_the_rest_back() {
    let mut heap = Heap::new(Arena::new(1 << 20));
    for align in [32, 64, 256, 4096] {
        let p = heap.memalign(align, 100);
        assert_eq!(p as usize % align, 0);
        heap.check().unwrap();
        // SAFETY: p has 100 bytes; freed once.
        unsafe {
            p.write_bytes(1, 100);
            heap.free(p).unwrap();
        }
        heap.check().unwrap();
    }
}

#[test]
fn address_order_keeps_the_list_sorted() {
    let mut heap = Heap::with_order(Arena::new(1 << 16), Order::Address);
    let p: Vec<_> = (0..8).map(|i| heap.malloc(32 + 16 * i)).collect();
    for i in [5, 1, 7, 3] {
        // SAFETY: live blocks, freed once.
        unsafe { heap.free(p[i]) }.unwrap();
    }
    heap.check().unwrap();
    let addrs: Vec<_> = heap.free_list().map(|(a, _, _)| a).collect();
    assert!(addrs.windows(2).all(|w| w[0] < w[1]), "{addrs:?}");
    assert_eq!(addrs.len(), 4, "p[7] merged with the top chunk");
}

#[test]
#[cfg_attr(miri, ignore = "makes real mappings")]
fn big_blocks_get_mappings_of_their_own() {
    let mut heap = Heap::new(Arena::with_mappings(1 << 16));
    let p = heap.memalign(1 << 30, 16);
    assert_eq!(p as usize % (1 << 30), 0);
    let q = heap.malloc(1 << 20);
    assert_eq!(heap.map().mapped.len(), 2);
    assert_eq!(heap.map().chunks.len(), 0, "the break is untouched");
    // SAFETY: live blocks; resized and freed once.
    unsafe {
        p.write_bytes(3, 16);
        let r = heap.realloc(p, 1 << 21);
        assert_eq!(*r.add(15), 3);
        heap.free(r).unwrap();
        heap.free(q).unwrap();
        assert_eq!(heap.free(q), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.map().mapped.len(), 0);
    heap.check().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "makes real mappings")]
fn when_the_break_is_full_a_mapping_becomes_a_region() {
    let mut heap = Heap::new(Arena::with_mappings(1 << 16));
    CHeap::tune(&mut heap, c_api::Tunable::TopPad, 0);
    CHeap::tune(&mut heap, c_api::Tunable::MmapThreshold, 1 << 30);
    let a = heap.malloc(16);
    let b = heap.malloc(300_000); // the arena is too small: a mapping
    heap.check().unwrap();
    // The break grows again, right after its region, whose fence is now
    // second in the list of regions.
    let c = heap.malloc(20_000);
    heap.check().unwrap();
    assert_eq!(
        c as usize,
        a as usize + 32 + HEADER,
        "c follows a on the break"
    );
    // SAFETY: live blocks, written within their sizes and freed once.
    unsafe {
        b.write_bytes(1, 300_000);
        c.write_bytes(2, 20_000);
        heap.free(b).unwrap();
        heap.free(a).unwrap();
        heap.check().unwrap();
        heap.free(c).unwrap();
    }
    heap.check().unwrap();
    assert_eq!(heap.chunks().filter(|c| c.used).count(), 0);
}
