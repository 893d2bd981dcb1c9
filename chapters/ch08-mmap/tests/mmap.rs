//! Big blocks on their own mappings, on the real break and real mmap.

use alloc_suite::model;
use alloc_suite::workload::{Op, Rng};
use ch08_mmap::{FALLBACK_STEP, Heap, MMAP_THRESHOLD};
use memsource::{Arena, Grown, MemorySource, Sbrk};
use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn big_blocks_are_mapped_and_unmapped() {
    let mut heap = Heap::new(Sbrk::new());
    let small = heap.malloc(MMAP_THRESHOLD - 16);
    let big = heap.malloc(MMAP_THRESHOLD);
    let map = heap.map();
    assert_eq!(map.mapped.len(), 1, "only the big block is mapped");
    assert_eq!(map.mapped[0].payload(), big as usize);
    assert!(map.chunks.iter().any(|c| c.payload() == small as usize));
    assert!(heap.usable_size(big) >= MMAP_THRESHOLD);
    // SAFETY: big owns at least MMAP_THRESHOLD bytes; both blocks are live
    // and freed once; the second free of `big` is refused, not read.
    unsafe {
        big.write_bytes(0xAB, MMAP_THRESHOLD);
        assert_eq!(heap.free(big), Ok(()));
        assert!(heap.map().mapped.is_empty(), "unmapped");
        assert_eq!(heap.free(big), Err(allockit::FreeError::NotOurs));
        assert_eq!(heap.free(small), Ok(()));
    }
    heap.check().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn realloc_of_a_mapped_block_uses_mremap() {
    let mut heap = Heap::new(Sbrk::new());
    let p = heap.malloc(200_000);
    // SAFETY: p is live and replaced by what realloc returns.
    unsafe {
        for i in 0..200_000 {
            p.add(i).write(i as u8);
        }
        let q = heap.realloc(p, 3_000_000);
        assert!(!q.is_null());
        assert!((0..200_000).all(|i| *q.add(i) == i as u8), "contents kept");
        assert_eq!(heap.map().mapped.len(), 1, "still one mapping");
        assert!(heap.usable_size(q) >= 3_000_000);
        let r = heap.realloc(q, 150_000);
        assert!((0..150_000).all(|i| *r.add(i) == i as u8));
        heap.free(r).unwrap();
    }
    assert!(heap.map().mapped.is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn calloc_of_a_big_block_is_zero_without_clearing() {
    let mut heap = Heap::new(Sbrk::new());
    let p = heap.calloc(1000, 1000);
    // SAFETY: p owns 1,000,000 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p, 1_000_000) };
    assert!(bytes.iter().all(|&b| b == 0));
    assert_eq!(heap.map().mapped.len(), 1);
    // SAFETY: p is live.
    unsafe { heap.free(p).unwrap() };
}

/// A break that cannot grow past 4 KiB, but can map pages.
struct FullBreak(Arena, Sbrk);

// SAFETY: growth comes from the arena, mappings from real mmap, both
// telling the truth.
unsafe impl MemorySource for FullBreak {
    fn grow(&mut self, n: usize) -> Option<Grown> {
        self.0.grow(n)
    }
    unsafe fn shrink(&mut self, end: NonNull<u8>, n: usize) -> bool {
        // SAFETY: the caller makes the same promise to us.
        unsafe { self.0.shrink(end, n) }
    }
    fn base(&self) -> Option<NonNull<u8>> {
        self.0.base()
    }
    fn end(&self) -> Option<NonNull<u8>> {
        self.0.end()
    }
    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        self.1.map(len)
    }
}

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn when_the_break_cannot_grow_the_heap_grows_by_mmap() {
    let mut heap = Heap::new(FullBreak(Arena::new(4096), Sbrk::new()));
    let mut blocks = Vec::new();
    for i in 0..200 {
        let p = heap.malloc(100 + i);
        assert!(!p.is_null(), "block {i}");
        blocks.push(p);
    }
    heap.check().unwrap();
    let map = heap.map();
    assert!(
        map.chunks.iter().any(|c| c.size >= FALLBACK_STEP / 2),
        "a mapped region"
    );
    for p in blocks {
        // SAFETY: every block is live and freed once.
        unsafe { heap.free(p).unwrap() };
    }
    heap.check().unwrap();
}

/// The model check on the real break with sizes around the threshold.
#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn random_operations_around_the_threshold() {
    let mut rng = Rng::new(8);
    let size = |rng: &mut Rng| match rng.range(0, 2) {
        0 => rng.range(0, 512),
        _ => rng.range(MMAP_THRESHOLD - 4096, MMAP_THRESHOLD + 4096),
    };
    let ops: Vec<Op> = (0..600)
        .map(|_| match rng.range(0, 9) {
            0..=3 => Op::Malloc(size(&mut rng)),
            4..=6 => Op::Free(rng.next_u64() as usize),
            7 => Op::Realloc(rng.next_u64() as usize, size(&mut rng)),
            _ => Op::Calloc(rng.range(1, 4), size(&mut rng) / 4),
        })
        .collect();
    let heap = model::check(Heap::new(Sbrk::new()), &ops).unwrap();
    assert!(heap.map().mapped.is_empty());
}

/// The demo: resident memory drops after freeing big blocks on mmap.
#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn freeing_big_blocks_gives_memory_back_to_the_kernel() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch08-mmap"))
        .output()
        .expect("run the demo");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    alloc_suite::recorded::assert_same_shape(
        &stdout,
        include_str!("../recorded-run.txt"),
        "cargo run -p ch08-mmap > chapters/ch08-mmap/recorded-run.txt",
    );
    // The last three numbers: before, full, after, for chapter 8.
    let mib: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().rev().nth(1)?.parse().ok())
        .collect();
    let (before, full, after) = (mib[3], mib[4], mib[5]);
    assert!(full - before > 60.0, "{stdout}");
    assert!(after - before < 4.0, "mapped blocks went back: {stdout}");
    assert!(
        mib[2] - mib[0] > 60.0,
        "on the break they could not: {stdout}"
    );
}

/// A break that refuses to grow while `full` is set, and can map pages.
/// Its first mapping is reserved before the arena that plays the break is
/// made, so (mappings being placed top-down) it lies above the "break", as
/// a mapping right above a real break would.
struct FlakyBreak {
    reserved: Option<(NonNull<u8>, usize)>,
    arena: Arena,
    pages: Sbrk,
    full: Rc<Cell<bool>>,
    maps: Rc<Cell<usize>>,
    remaps: Rc<Cell<usize>>,
}

impl FlakyBreak {
    fn new() -> Self {
        let mut pages = Sbrk::new();
        let reserved = pages.map(FALLBACK_STEP).map(|p| (p, FALLBACK_STEP));
        FlakyBreak {
            reserved,
            arena: Arena::new(1 << 20),
            pages,
            full: Rc::default(),
            maps: Rc::default(),
            remaps: Rc::default(),
        }
    }
}

// SAFETY: growth comes from the arena, mappings from real mmap (the first
// one reserved earlier, whole and unused), all telling the truth; refusing
// to grow is always allowed.
unsafe impl MemorySource for FlakyBreak {
    fn grow(&mut self, n: usize) -> Option<Grown> {
        if self.full.get() {
            None
        } else {
            self.arena.grow(n)
        }
    }
    unsafe fn shrink(&mut self, end: NonNull<u8>, n: usize) -> bool {
        // SAFETY: the caller makes the same promise to us.
        unsafe { self.arena.shrink(end, n) }
    }
    fn base(&self) -> Option<NonNull<u8>> {
        self.arena.base()
    }
    fn end(&self) -> Option<NonNull<u8>> {
        self.arena.end()
    }
    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        self.maps.set(self.maps.get() + 1);
        match self.reserved {
            Some((p, reserved)) if len == reserved => {
                self.reserved = None;
                Some(p)
            }
            _ => self.pages.map(len),
        }
    }
    unsafe fn unmap(&mut self, p: NonNull<u8>, len: usize) {
        // SAFETY: the caller makes the same promise to us.
        unsafe { self.pages.unmap(p, len) }
    }
    unsafe fn remap(&mut self, p: NonNull<u8>, old: usize, new: usize) -> Option<NonNull<u8>> {
        self.remaps.set(self.remaps.get() + 1);
        // SAFETY: the caller makes the same promise to us.
        unsafe { self.pages.remap(p, old, new) }
    }
}

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn break_memory_after_a_fallback_mapping_stays_in_order() {
    let source = FlakyBreak::new();
    let full = source.full.clone();
    let mut heap = Heap::new(source);
    let a = heap.malloc(100);
    full.set(true);
    let b = heap.malloc(100); // the heap grows into the reserved mapping
    full.set(false);
    assert!(b as usize > a as usize, "the mapping lies above the break");
    let c = heap.malloc(100); // from the break again
    let d = heap.malloc(100);
    heap.check().unwrap();
    // SAFETY: every block is live and freed once; each must be found.
    unsafe {
        for p in [d, c, b, a] {
            assert_eq!(heap.free(p), Ok(()), "{p:p}");
        }
    }
    heap.check().unwrap();
    // Everything on the break went back; only the mapping's chunk stays.
    let map = heap.map();
    assert!(
        map.chunks
            .iter()
            .all(|c| !c.used && c.size >= FALLBACK_STEP / 2),
        "{map}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn realloc_of_a_mapped_block_calls_mremap_not_mmap() {
    let source = FlakyBreak::new();
    let (maps, remaps) = (source.maps.clone(), source.remaps.clone());
    let mut heap = Heap::new(source);
    let p = heap.malloc(MMAP_THRESHOLD);
    assert_eq!((maps.get(), remaps.get()), (1, 0));
    // SAFETY: p is live and replaced by what realloc returns.
    let q = unsafe { heap.realloc(p, 4 * MMAP_THRESHOLD) };
    assert!(!q.is_null());
    assert_eq!(
        (maps.get(), remaps.get()),
        (1, 1),
        "resized in place or moved by mremap"
    );
    // SAFETY: q is live.
    unsafe { heap.free(q).unwrap() };
}
