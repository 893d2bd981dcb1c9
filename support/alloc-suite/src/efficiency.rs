//! Heap efficiency: how full a fixed heap gets before the first request
//! fails.
//!
//! In an arena of a fixed size, run random `malloc`, `free` and `realloc`
//! (more allocating than freeing, so the heap fills up) until the first
//! request fails, and take the bytes live at that moment over the arena
//! size. An allocator that wasted nothing would reach 100%; headers,
//! rounding and fragmentation all bring it down. Averaged over many trials
//! with different seeds, it is one number that summarises how well an
//! allocator uses memory.

use crate::workload::Rng;
use allockit::{Behaviour, Malloc};
use memsource::Arena;

/// Arena size for [`measure`] in the book's table.
pub const ARENA: usize = 64 * 1024;
/// Trials averaged for the book's table.
pub const TRIALS: u64 = 20;

// ANCHOR: trial
/// One trial: the fraction of the arena live when the first request fails.
pub fn trial<A: Malloc>(mut a: A, arena: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(*mut u8, usize)> = Vec::new();
    let mut live_bytes = 0usize;
    let has_realloc = A::BEHAVIOURS.contains(&Behaviour::Realloc);
    loop {
        let roll = rng.range(0, 99);
        if roll < 60 || live.is_empty() {
            let size = rng.range(8, 512);
            let p = a.malloc(size);
            if p.is_null() {
                break;
            }
            live.push((p, size));
            live_bytes += size;
        } else if roll < 90 {
            let (p, size) = live.swap_remove(rng.range(0, live.len() - 1));
            // SAFETY: p came from `a` and is freed once.
            let _ = unsafe { a.free(p) };
            live_bytes -= size;
        } else {
            let i = rng.range(0, live.len() - 1);
            let (p, size) = live[i];
            let new = rng.range(8, 512);
            let q = if has_realloc {
                // SAFETY: p is live and replaced by what realloc returns.
                unsafe { a.realloc(p, new) }.unwrap_or(std::ptr::null_mut())
            } else {
                // What a program does without realloc: allocate, copy, free.
                let q = a.malloc(new);
                if !q.is_null() {
                    // SAFETY: p and q are live, distinct, and big enough.
                    unsafe {
                        std::ptr::copy_nonoverlapping(p, q, size.min(new));
                        let _ = a.free(p);
                    }
                }
                q
            };
            if q.is_null() {
                break;
            }
            live[i] = (q, new);
            live_bytes = live_bytes - size + new;
        }
    }
    for (p, _) in live {
        // SAFETY: every block left is live.
        let _ = unsafe { a.free(p) };
    }
    live_bytes as f64 / arena as f64
}
// ANCHOR_END: trial

/// The average of [`TRIALS`] trials in arenas of [`ARENA`] bytes.
pub fn measure<A: Malloc>(make: impl Fn(Arena) -> A) -> f64 {
    let sum: f64 = (0..TRIALS)
        .map(|t| trial(make(Arena::new(ARENA)), ARENA, 1000 + t))
        .sum();
    sum / TRIALS as f64
}

/// A Markdown table of heap efficiencies.
pub fn table(rows: &[(&str, f64)]) -> String {
    let mut s = String::from("| chapter | heap efficiency |\n|---|--:|\n");
    for (name, e) in rows {
        s.push_str(&format!("| {name} | {:.1}% |\n", e * 100.0));
    }
    s
}
