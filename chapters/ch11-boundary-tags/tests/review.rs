//! Review tests: bad input and broken bookkeeping the heap must notice or
//! survive.

use allockit::FreeError;
use c_api::{CHeap, Tunable};
use ch11_boundary_tags::{Heap, Order};
use memsource::Arena;

/// `check` verifies invariant 5 both ways: a `prev` link that does not
/// point back at the chunk before it on the list is reported.
#[test]
fn check_sees_a_prev_link_that_does_not_point_back() {
    let mut heap = Heap::new(Arena::new(1 << 16));
    let p: Vec<_> = (0..6).map(|_| heap.malloc(64)).collect();
    // SAFETY: live blocks, freed once; then a use after free writes p[1]'s
    // `prev` link: the bug this test plays.
    unsafe {
        heap.free(p[1]).unwrap();
        heap.free(p[3]).unwrap();
        heap.check().unwrap();
        // LIFO: p[3] first, then p[1], whose `prev` points at p[3]'s chunk.
        p[1].cast::<usize>().write(0);
    }
    let e = heap.check().unwrap_err();
    assert!(e.contains("prev link"), "{e}");
}

/// A block freed, merged into a free chunk whose pages then went back (its
/// header now reads as zero), and freed again: refused, and the heap, which
/// was not corrupted, goes on working. Likewise `realloc` of it.
#[test]
fn a_second_free_after_the_page_went_back_is_refused_and_the_heap_lives() {
    let mut heap = Heap::new(Arena::new(4 << 20));
    let _guard = heap.malloc(64);
    let blocks: Vec<_> = (0..4).map(|_| heap.malloc(100_000)).collect();
    // SAFETY: live blocks, freed once; the last free merges them all with
    // the top chunk, and the pages above the top pad go back.
    unsafe {
        for &b in &blocks {
            heap.free(b).unwrap();
        }
    }
    // SAFETY: reads a counter of the arena.
    assert!(unsafe { heap.source_mut() }.released() > 0);
    // SAFETY: the bugs this test plays: blocks[2] was freed already.
    unsafe {
        assert_eq!(heap.free(blocks[2]), Err(FreeError::NotOurs));
        assert_eq!(heap.try_realloc(blocks[2], 10), Err(FreeError::NotOurs));
    }
    assert_eq!(heap.corruption(), None);
    heap.check().unwrap();
    assert!(!heap.malloc(64).is_null(), "the heap stopped working");
}

/// A xorshift generator: the same operations on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random malloc, calloc (checked zero), memalign (up to 4096), free
/// (sometimes twice), realloc, trim and foreign growths of the break, with
/// every block's contents and every invariant checked after each step. With
/// `maps`, big blocks get mappings of their own.
fn stress(order: Order, seed: u64, n: usize, maps: bool) {
    let arena = if maps {
        Arena::with_mappings(8 << 20)
    } else {
        Arena::new(8 << 20)
    };
    let mut heap = Heap::with_order(arena, order);
    CHeap::tune(&mut heap, Tunable::TopPad, 0);
    CHeap::tune(&mut heap, Tunable::TrimThreshold, 4096);
    let big = if maps { 400_000 } else { 40_000 };
    let mut rng = Rng(seed);
    let pick = |rng: &mut Rng, small| {
        (if rng.below(10) == 0 {
            rng.below(big)
        } else {
            rng.below(small)
        }) as usize
    };
    let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
    for i in 0..n {
        let tag = (i % 251) as u8 + 1;
        match rng.below(20) {
            0..=5 => {
                let size = pick(&mut rng, 600);
                let p = heap.malloc(size);
                assert!(!p.is_null(), "malloc({size}) at step {i}");
                // SAFETY: p has `size` bytes.
                unsafe { p.write_bytes(tag, size) };
                live.push((p, size, tag));
            }
            6 => {
                let size = pick(&mut rng, 3000);
                let p = heap.calloc(1, size);
                assert!(!p.is_null());
                // SAFETY: p has `size` bytes.
                let s = unsafe { std::slice::from_raw_parts(p, size) };
                assert!(s.iter().all(|&b| b == 0), "calloc({size}) not zero at {i}");
                // SAFETY: as above.
                unsafe { p.write_bytes(tag, size) };
                live.push((p, size, tag));
            }
            7 | 8 => {
                let align = 1usize << (4 + rng.below(9));
                let size = pick(&mut rng, 2000);
                let p = heap.memalign(align, size);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                assert!(heap.usable_size(p) >= size);
                // SAFETY: p has `size` bytes.
                unsafe { p.write_bytes(tag, size) };
                live.push((p, size, tag));
            }
            9..=13 if !live.is_empty() => {
                let (p, size, t) = live.swap_remove(rng.below(live.len() as u64) as usize);
                // SAFETY: a live block of `size` bytes.
                let s = unsafe { std::slice::from_raw_parts(p, size) };
                assert!(s.iter().all(|&b| b == t), "contents changed at {i}");
                // SAFETY: a live block, freed once; the second free is the
                // bug, which must be refused without harm.
                unsafe {
                    heap.free(p).unwrap();
                    if rng.below(4) == 0 {
                        assert!(heap.free(p).is_err());
                        assert_eq!(heap.corruption(), None, "second free at {i}");
                    }
                }
            }
            14..=16 if !live.is_empty() => {
                let k = rng.below(live.len() as u64) as usize;
                let (p, size, t) = live[k];
                let new = pick(&mut rng, 800) + 1;
                // SAFETY: a live block, replaced by the result.
                let q = unsafe { heap.realloc(p, new) };
                assert!(!q.is_null());
                // SAFETY: q has at least min(size, new) bytes, then `new`.
                unsafe {
                    let s = std::slice::from_raw_parts(q, size.min(new));
                    assert!(s.iter().all(|&b| b == t), "realloc lost contents at {i}");
                    q.write_bytes(t, new);
                }
                live[k] = (q, new, t);
            }
            17 => {
                heap.trim(rng.below(3) as usize * 4096);
            }
            18 if rng.below(8) == 0 => {
                // SAFETY: growing the break above the heap takes nothing.
                unsafe { heap.source_mut() }.foreign_grow(4096);
            }
            _ => {}
        }
        if let Err(e) = heap.check() {
            panic!("step {i}: {e}");
        }
    }
    for (p, size, t) in live {
        // SAFETY: live blocks of `size` bytes, freed once.
        unsafe {
            assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == t));
            heap.free(p).unwrap();
        }
    }
    heap.check().unwrap();
}

#[test]
fn random_operations_with_trims_foreign_growths_and_second_frees() {
    let (seeds, n) = if cfg!(miri) { (2, 150) } else { (6, 6000) };
    for seed in 1..seeds {
        stress(Order::Lifo, seed * 7919, n, false);
        stress(Order::Address, seed * 104_729, n, false);
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no mmap")]
fn random_operations_with_mapped_blocks() {
    for seed in 1..6 {
        stress(Order::Lifo, seed * 7919, 3000, true);
        stress(Order::Address, seed * 104_729, 3000, true);
    }
}

/// Sizes and alignments near the top of the address space: null, and the
/// heap (and a live block) as they were.
#[test]
fn huge_requests_fail_cleanly() {
    for maps in [false, !cfg!(miri)] {
        let arena = if maps {
            Arena::with_mappings(1 << 20)
        } else {
            Arena::new(1 << 20)
        };
        let mut heap = Heap::new(arena);
        let p = heap.malloc(100);
        // SAFETY: p has 100 bytes.
        unsafe { p.write_bytes(7, 100) };
        let sizes = [
            usize::MAX,
            usize::MAX - 15,
            usize::MAX - 16,
            usize::MAX - 100,
            usize::MAX - 8192,
            isize::MAX as usize,
            1 << 40,
        ];
        for s in sizes {
            assert!(heap.malloc(s).is_null());
            assert!(heap.calloc(1, s).is_null());
            assert!(heap.calloc(s, 2).is_null());
            for align in [32, 4096, 1 << 20, 1 << 40, 1 << 63] {
                assert!(heap.memalign(align, s).is_null(), "memalign({align}, {s})");
            }
            // SAFETY: p is live; a failed realloc leaves it so.
            assert!(unsafe { heap.realloc(p, s) }.is_null());
        }
        for align in [1 << 40, 1 << 62, 1 << 63] {
            assert!(heap.memalign(align, 1).is_null());
        }
        assert!(heap.memalign(0, 10).is_null());
        assert!(heap.memalign(48, 10).is_null());
        // SAFETY: p is still live, with 100 bytes.
        let s = unsafe { std::slice::from_raw_parts(p, 100) };
        assert!(s.iter().all(|&b| b == 7));
        heap.check().unwrap();
        assert_eq!(heap.corruption(), None);
    }
}

/// A heap of three blocks, the middle one freed, the top trimmed: its
/// arena, and the live blocks.
fn small_heap() -> (Heap<Arena>, Vec<*mut u8>) {
    let mut heap = Heap::new(Arena::new(8192));
    CHeap::tune(&mut heap, Tunable::TopPad, 0);
    let a = heap.malloc(40);
    let b = heap.malloc(100);
    let c = heap.malloc(24);
    // SAFETY: live blocks of those sizes; b freed once.
    unsafe {
        a.write_bytes(0xAB, 40);
        c.write_bytes(0, 24);
        heap.free(b).unwrap();
    }
    (heap, vec![a, c])
}

/// `usable_size` and `free` of every 8-aligned address from the arena's
/// start to past the heap's end (headers, links, footers, the fence and
/// its record, memory beyond): an answer each time, only the live blocks
/// freed, and nothing read outside the heap's memory (Miri).
#[test]
fn every_pointer_in_and_around_the_heap_gets_an_answer() {
    let (mut heap, live) = small_heap();
    // SAFETY: only reads the arena's fields.
    let (start, used) = unsafe {
        let s = heap.source_mut();
        (s.start(), s.used())
    };
    for off in (0..used + 64).step_by(8) {
        let p = start.wrapping_add(off);
        let n = heap.usable_size(p);
        assert_eq!(n > 0, live.contains(&p), "usable_size(+{off}) = {n}");
    }
    assert_eq!(heap.corruption(), None);
    heap.check().unwrap();
    for off in (0..used + 64).step_by(8) {
        let (mut heap, live) = small_heap();
        // SAFETY: only reads the arena's field.
        let p = unsafe { heap.source_mut() }.start().wrapping_add(off);
        // SAFETY: the live blocks are freed once; every other address is
        // the bug this test plays.
        let e = unsafe { heap.free(p) };
        if live.contains(&p) {
            assert_eq!(e, Ok(()));
            heap.check().unwrap();
        } else {
            assert!(e.is_err(), "free(+{off}) accepted");
        }
    }
}

/// When the break cannot grow, each mapping that becomes a region is at
/// least as big as all the earlier ones together: a heap of n bytes has
/// O(log n) regions, so finding a pointer's region (every `free`, every
/// link followed) stays a handful of comparisons.
#[test]
#[cfg_attr(miri, ignore = "Miri has no mmap")]
fn a_blocked_break_keeps_the_regions_few() {
    let mut heap = Heap::new(Arena::with_mappings(1 << 16));
    let blocks: Vec<_> = (0..2000).map(|_| heap.malloc(100_000)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    let regions = heap.tag_map().tags.iter().filter(|t| t.fence).count();
    assert!(regions <= 16, "{regions} regions for 200 MB");
    heap.check().unwrap();
    for p in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { heap.free(p) }.unwrap();
    }
    heap.check().unwrap();
}
