//! Deterministic operation sequences, shared by benchmarks and tests.

use allockit::Malloc;
use std::hint::black_box;

/// One step of a workload or a property test. Indices pick a live block:
/// `i % live.len()`, and are ignored when nothing is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `malloc(size)`.
    Malloc(usize),
    /// `free` the chosen live block.
    Free(usize),
    /// `realloc` the chosen live block to a new size.
    Realloc(usize, usize),
    /// `calloc(count, size)`.
    Calloc(usize, usize),
}

/// A small, fast, seedable random number generator (xorshift64*), so that
/// workloads are the same on every machine without another dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

// ANCHOR: reference
/// The reference workload: sizes uniform in `8..=512`; first fill up to
/// `max_live` blocks, then malloc or free with equal odds (never above
/// `max_live` live blocks), `ops` operations in all, then free everything.
pub fn reference(ops: usize, max_live: usize, seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(ops + max_live);
    let mut live = 0usize;
    for n in 0..ops {
        let fill = n < max_live;
        if live > 0 && (live == max_live || (!fill && rng.next_u64().is_multiple_of(2))) {
            out.push(Op::Free(rng.range(0, usize::MAX - 1)));
            live -= 1;
        } else {
            out.push(Op::Malloc(rng.range(8, 512)));
            live += 1;
        }
    }
    out.extend((0..live).map(|_| Op::Free(0)));
    out
}
// ANCHOR_END: reference

/// Runs `ops` on `a`, touching the first byte of every block, and returns how
/// many allocations failed. Used by the benchmarks: it checks nothing else.
pub fn run<A: Malloc>(a: &mut A, ops: &[Op]) -> usize {
    let mut live: Vec<*mut u8> = Vec::with_capacity(ops.len());
    let mut failed = 0;
    for op in ops {
        match *op {
            Op::Malloc(size) => {
                let p = black_box(a.malloc(size));
                if p.is_null() {
                    failed += 1;
                } else {
                    // SAFETY: p points to at least `size` >= 1 writable bytes.
                    unsafe { p.write(size as u8) };
                    live.push(p);
                }
            }
            Op::Calloc(n, size) => match a.calloc(n, size) {
                Some(p) if !p.is_null() => live.push(black_box(p)),
                _ => failed += 1,
            },
            Op::Free(i) if !live.is_empty() => {
                let p = live.swap_remove(i % live.len());
                // SAFETY: p came from `a` and is freed once.
                let _ = unsafe { a.free(black_box(p)) };
            }
            Op::Realloc(i, size) if !live.is_empty() => {
                let i = i % live.len();
                // SAFETY: live[i] came from `a` and is live.
                match unsafe { a.realloc(live[i], size) } {
                    Some(p) if !p.is_null() => live[i] = black_box(p),
                    _ => failed += 1,
                }
            }
            Op::Free(_) | Op::Realloc(..) => {}
        }
    }
    for p in live {
        // SAFETY: every pointer left came from `a` and is still live.
        let _ = unsafe { a.free(p) };
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_is_deterministic_and_bounded() {
        let n = if cfg!(miri) { 500 } else { 10_000 };
        let a = reference(n, 100, 7);
        assert_eq!(a, reference(n, 100, 7));
        assert_ne!(a, reference(n, 100, 8));
        let mut live = 0i64;
        let mut peak = 0;
        for op in &a {
            match op {
                Op::Malloc(s) => {
                    assert!((8..=512).contains(s));
                    live += 1;
                }
                Op::Free(_) => live -= 1,
                _ => unreachable!(),
            }
            assert!(live >= 0);
            peak = peak.max(live);
        }
        assert_eq!(live, 0, "everything is freed at the end");
        assert_eq!(peak, 100);
    }

    #[test]
    fn run_counts_failures() {
        let mut sys = crate::System;
        let n = if cfg!(miri) { 200 } else { 2_000 };
        assert_eq!(run(&mut sys, &reference(n, 50, 1)), 0);
    }
}

/// How much memory a workload needed, against how much it had live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Operations run.
    pub ops: usize,
    /// Most payload bytes live at any one time.
    pub peak_live: usize,
    /// Most memory the heap held ([`Malloc::held`]: from its start to its
    /// end, less what it reserved but never touched or gave back).
    pub peak_heap: usize,
    /// Size of the heap once everything was freed.
    pub end_heap: usize,
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "operations          {:>10}", self.ops)?;
        writeln!(f, "peak live bytes     {:>10}", self.peak_live)?;
        writeln!(
            f,
            "peak heap bytes     {:>10}  ({:.2} x peak live)",
            self.peak_heap,
            self.peak_heap as f64 / self.peak_live.max(1) as f64
        )?;
        writeln!(f, "heap after freeing  {:>10}", self.end_heap)
    }
}

/// Runs `ops` on `a` (like [`run`]) and measures its [`Footprint`]. Panics
/// if an allocation fails: give it enough memory.
pub fn footprint<A: Malloc>(a: &mut A, ops: &[Op]) -> Footprint {
    let mut live: Vec<(*mut u8, usize)> = Vec::new();
    let mut fp = Footprint {
        ops: ops.len(),
        ..Footprint::default()
    };
    let mut live_bytes = 0;
    for op in ops {
        match *op {
            Op::Malloc(size) => {
                let p = a.malloc(size);
                assert!(!p.is_null(), "{}: malloc({size}) failed", A::NAME);
                live.push((p, size));
                live_bytes += size;
            }
            Op::Free(i) if !live.is_empty() => {
                let (p, size) = live.swap_remove(i % live.len());
                // SAFETY: p came from `a` and is freed once.
                let _ = unsafe { a.free(p) };
                live_bytes -= size;
            }
            _ => {}
        }
        fp.peak_live = fp.peak_live.max(live_bytes);
        fp.peak_heap = fp.peak_heap.max(a.held());
    }
    for (p, _) in live {
        // SAFETY: every pointer left came from `a` and is still live.
        let _ = unsafe { a.free(p) };
    }
    fp.end_heap = a.held();
    fp
}

/// Runs `ops` through a Rust global allocator (`GlobalAlloc`), touching the
/// first byte of every block; returns how many allocations failed. Used by
/// the benchmarks of the chapters that implement `GlobalAlloc`.
pub fn run_global<G: std::alloc::GlobalAlloc>(g: &G, ops: &[Op]) -> usize {
    use std::alloc::Layout;
    let mut live: Vec<(*mut u8, Layout)> = Vec::with_capacity(ops.len());
    let mut failed = 0;
    for op in ops {
        match *op {
            Op::Malloc(size) | Op::Calloc(1, size) => {
                let Ok(layout) = Layout::from_size_align(size.max(1), 16) else {
                    failed += 1;
                    continue;
                };
                // SAFETY: the layout has a non-zero size.
                let p = black_box(unsafe { g.alloc(layout) });
                if p.is_null() {
                    failed += 1;
                } else {
                    // SAFETY: p points to at least one writable byte.
                    unsafe { p.write(size as u8) };
                    live.push((p, layout));
                }
            }
            Op::Free(i) if !live.is_empty() => {
                let (p, layout) = live.swap_remove(i % live.len());
                // SAFETY: p came from `g` with this layout and is freed once.
                unsafe { g.dealloc(black_box(p), layout) };
            }
            _ => {}
        }
    }
    for (p, layout) in live {
        // SAFETY: every block left is live.
        unsafe { g.dealloc(p, layout) };
    }
    failed
}
