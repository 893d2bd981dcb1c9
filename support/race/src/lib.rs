//! The race track: every allocator of the book from chapter 3 on, and the
//! allocators a reader would pick instead, on the same workloads, in one
//! run, rounds interleaved, so that their ratios mean something on a noisy
//! machine. `src/main.rs` writes what the book shows; this library holds
//! the contestants, the workloads and the measuring.

use alloc_suite::workload::{Op, reference};
use allockit::Malloc;
use memsource::Arena;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::{Duration, Instant};

// ANCHOR: alloc
/// What the race asks of an allocator: a block of `size` bytes aligned to
/// 16, and giving it back with its size (Rust's `GlobalAlloc` needs it;
/// the book's heaps ignore it).
pub trait Alloc {
    /// A block, or null.
    fn alloc(&mut self, size: usize) -> *mut u8;
    /// Gives back a block of `size` bytes from `alloc`.
    ///
    /// # Safety
    /// `p` is a live block of this allocator, of `size` bytes.
    unsafe fn free(&mut self, p: *mut u8, size: usize);
}

/// A chapter's heap, through the book's own interface.
pub struct Book<M>(pub M);

impl<M: Malloc> Alloc for Book<M> {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.0.malloc(size)
    }

    unsafe fn free(&mut self, p: *mut u8, _size: usize) {
        // SAFETY: the caller's promise: a live block of this heap.
        let r = unsafe { self.0.free(p) };
        debug_assert!(r.is_ok());
    }
}

/// A Rust global allocator, through `GlobalAlloc`.
pub struct Peer<'a, G>(pub &'a G);

impl<G: GlobalAlloc> Alloc for Peer<'_, G> {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        match Layout::from_size_align(size, 16) {
            // SAFETY: the layout has a non-zero size (the workloads never
            // ask for 0 bytes).
            Ok(l) => unsafe { self.0.alloc(l) },
            Err(_) => std::ptr::null_mut(),
        }
    }

    unsafe fn free(&mut self, p: *mut u8, size: usize) {
        // SAFETY: the caller's promise: a live block of this layout.
        unsafe {
            self.0
                .dealloc(p, Layout::from_size_align_unchecked(size, 16))
        }
    }
}
// ANCHOR_END: alloc

/// The blocks a workload holds: address and size.
pub type Live = Vec<(*mut u8, usize)>;

// ANCHOR: exec
/// Runs `ops` on `a`, with `live` the blocks held (from earlier ops),
/// writing the first and last byte of every new block. Returns how many
/// allocations failed.
pub fn exec(a: &mut impl Alloc, live: &mut Live, ops: &[Op]) -> usize {
    let mut failed = 0;
    for op in ops {
        match *op {
            Op::Malloc(size) => {
                let p = black_box(a.alloc(size));
                if p.is_null() {
                    failed += 1;
                    continue;
                }
                // SAFETY: p is a new block of `size` >= 1 bytes.
                unsafe {
                    p.write(size as u8);
                    p.add(size - 1).write(size as u8);
                }
                live.push((p, size));
            }
            Op::Free(i) if !live.is_empty() => {
                let (p, size) = live.swap_remove(i % live.len());
                // SAFETY: a live block of `a`, given back once.
                unsafe { a.free(p, size) };
            }
            Op::Free(_) => {}
            Op::Realloc(..) | Op::Calloc(..) => unreachable!("the race's workloads do not use it"),
        }
    }
    failed
}
// ANCHOR_END: exec

/// Gives back every block in `live`.
pub fn free_all(a: &mut impl Alloc, live: &mut Live) {
    for (p, size) in live.drain(..) {
        // SAFETY: a live block of `a`, given back once.
        unsafe { a.free(p, size) };
    }
}

// ANCHOR: workload
/// A workload: `fill` builds the heap (not timed), `timed` is measured,
/// and whatever is still live afterwards is freed (not timed).
pub struct Workload {
    /// Its name in tables.
    pub name: String,
    /// Operations run before the clock starts.
    pub fill: Vec<Op>,
    /// Operations timed.
    pub timed: Vec<Op>,
}

/// The reference workload (sizes 8-512 bytes, fill to `max_live`, then
/// malloc or free with equal odds, then free everything), all of it timed.
pub fn reference_workload(ops: usize, max_live: usize) -> Workload {
    Workload {
        name: format!("reference ({ops} ops, {max_live} live)"),
        fill: Vec::new(),
        timed: reference(ops, max_live, SEED),
    }
}

/// How cost grows with the heap: `live` blocks allocated first (not
/// timed), then `ops` operations of the reference kind that keep about
/// that many live.
pub fn scaling_workload(live: usize, ops: usize) -> Workload {
    let all = reference(live + ops, live, SEED);
    Workload {
        name: format!("{live} live"),
        fill: all[..live].to_vec(),
        timed: all[live..live + ops].to_vec(),
    }
}
// ANCHOR_END: workload

/// The seed of every workload.
pub const SEED: u64 = 2026;

/// Bytes of arena that `ops` can need if nothing is ever reused.
pub fn arena_for(w: &Workload) -> usize {
    w.fill
        .iter()
        .chain(&w.timed)
        .map(|op| match op {
            Op::Malloc(s) => s + 64,
            _ => 0,
        })
        .sum::<usize>()
        + (1 << 20)
}

/// One run: how long the timed part took, and how many allocations failed.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Time of the timed operations.
    pub time: Duration,
    /// Allocations that returned null.
    pub failed: usize,
}

/// Runs `w` on `a`: the fill, the timed part under the clock, then frees
/// what is left.
pub fn time(a: &mut impl Alloc, w: &Workload) -> Run {
    let mut live = Live::with_capacity(w.fill.len() + w.timed.len());
    let mut failed = exec(a, &mut live, &w.fill);
    let start = Instant::now();
    failed += exec(a, &mut live, black_box(&w.timed));
    let time = start.elapsed();
    free_all(a, &mut live);
    Run { time, failed }
}

// ANCHOR: contestant
/// Who races, and how to run a workload on a fresh (or emptied) instance.
pub struct Contestant {
    /// Its name in tables.
    pub name: &'static str,
    /// One of the book's allocators (else a peer).
    pub book: bool,
    /// Whether its cost grows with the number of blocks (a walk over a
    /// list): it then runs fewer operations.
    pub slow: bool,
    /// Runs a workload once.
    pub run: Box<dyn Fn(&Workload) -> Run>,
    /// Hands the allocator (over an arena of the given size, if it needs
    /// one) to a function, for checks outside the race.
    pub with: WithAlloc,
}

/// Hands an allocator, over an arena of the given size, to a function.
pub type WithAlloc = Box<dyn Fn(usize, &mut dyn FnMut(&mut dyn Alloc))>;

/// A chapter's heap over a fresh arena for every run (made before the
/// clock starts).
fn chapter<M: Malloc + 'static>(new: fn(Arena) -> M) -> Contestant {
    Contestant {
        name: M::NAME,
        book: true,
        slow: true,
        run: Box::new(move |w| time(&mut Book(new(Arena::new(arena_for(w)))), w)),
        with: Box::new(move |bytes, f| f(&mut Book(new(Arena::new(bytes))))),
    }
}

/// A Rust global allocator, which lives as long as the race.
fn peer<G: GlobalAlloc + 'static>(name: &'static str, slow: bool, g: G) -> Contestant {
    let g = std::rc::Rc::new(g);
    let g2 = g.clone();
    Contestant {
        name,
        book: false,
        slow,
        run: Box::new(move |w| time(&mut Peer(&*g), w)),
        with: Box::new(move |_, f| f(&mut Peer(&*g2))),
    }
}

/// Memory for the peers that manage a region they are given.
fn region(bytes: usize) -> (*mut u8, usize) {
    let arena = Box::leak(Box::new(Arena::new(bytes)));
    (arena.start(), arena.capacity())
}

/// Every contestant: the system allocator first (the yardstick), the
/// other peers, then the book's chapters from 3 on.
pub fn contestants() -> Vec<Contestant> {
    // Allocators that are given one region up front: big enough for the
    // largest workload even if fragmented (untouched pages cost nothing).
    const REGION: usize = 1 << 30;
    let list = linked_list_allocator::LockedHeap::empty();
    let (start, len) = region(REGION);
    // SAFETY: the region is ours, leaked, and given to this heap alone.
    unsafe { list.lock().init(start, len) };
    let buddy = buddy_system_allocator::LockedHeap::<33>::new();
    let (start, len) = region(REGION);
    // SAFETY: as above.
    unsafe { buddy.lock().init(start as usize, len) };
    vec![
        peer("glibc (System)", false, System),
        peer("mimalloc", false, mimalloc::MiMalloc),
        peer("jemalloc", false, tikv_jemallocator::Jemalloc),
        peer(
            "talc",
            false,
            talc::TalcCell::new(talc::source::GlobalAllocSource::new(System)),
        ),
        peer("rlsf", false, rlsf::GlobalTlsf::<()>::new()),
        peer("dlmalloc", false, dlmalloc::GlobalDlmalloc),
        peer("buddy_system_allocator", false, buddy),
        peer("linked_list_allocator", true, list),
        chapter(ch03_free_list::Heap::new),
        chapter(ch04_splitting::Heap::new),
        chapter(ch05_coalescing::Heap::new),
        chapter(ch06_malloc_api::Heap::new),
        chapter(ch07_global_alloc::Heap::new),
        chapter(ch08_mmap::Heap::new),
        chapter(ch09_ld_preload::Heap::new),
    ]
}
// ANCHOR_END: contestant

/// A contestant's times on one workload, in nanoseconds per operation.
#[derive(Debug, Clone, Default)]
pub struct Times {
    /// Operations timed per run.
    pub ops: usize,
    /// Nanoseconds per operation, one per round.
    pub ns: Vec<f64>,
}

impl Times {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.ns.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median of the rounds.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The fastest round.
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    /// The slowest round.
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

// ANCHOR: race
/// Races `contestants` on `workload` (or on `slow_workload` for the slow
/// ones), `rounds` times, interleaved: round 1 of everyone, then round 2,
/// so that a slow spell of the machine hits everyone alike. `progress` is
/// told each run as it starts.
pub fn race(
    contestants: &[&Contestant],
    workload: &Workload,
    slow_workload: &Workload,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Vec<Times> {
    let mut times = vec![Times::default(); contestants.len()];
    for round in 0..rounds {
        for (c, t) in contestants.iter().zip(&mut times) {
            let w = if c.slow { slow_workload } else { workload };
            progress(&format!(
                "{} round {}/{rounds}: {}",
                w.name,
                round + 1,
                c.name
            ));
            let r = (c.run)(w);
            assert_eq!(r.failed, 0, "{} ran out of memory on {}", c.name, w.name);
            t.ops = w.timed.len();
            t.ns.push(r.time.as_nanos() as f64 / w.timed.len() as f64);
        }
    }
    times
}
// ANCHOR_END: race

/// A number of nanoseconds as the tables print it: three significant
/// digits at most.
pub fn ns(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table of one workload: each contestant's median, min and max
/// nanoseconds per operation, and its median against the first
/// contestant's (the system allocator), from the same run.
pub fn table(contestants: &[Contestant], times: &[Times]) -> String {
    let base = times[0].median();
    let mut s = String::from(
        "| allocator | ns per operation (median) | min | max | against glibc | operations timed |\n\
         |---|--:|--:|--:|--:|--:|\n",
    );
    for (c, t) in contestants.iter().zip(times) {
        let name = if c.book {
            format!("**{}**", c.name)
        } else {
            c.name.to_string()
        };
        s += &format!(
            "| {name} | {} | {} | {} | {:.2}× | {} |\n",
            ns(t.median()),
            ns(t.min()),
            ns(t.max()),
            t.median() / base,
            t.ops
        );
    }
    s
}
