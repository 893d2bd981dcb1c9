//! `cargo run -p ch08-mmap`: big blocks come from mmap and go back to the
//! kernel when freed; on the break they could not.

use std::alloc::{GlobalAlloc, Layout};

// ANCHOR: global_allocator
#[global_allocator]
static HEAP: ch08_mmap::Global = ch08_mmap::Global::new();

/// Chapter 7's allocator, everything on the break, for comparison.
static BREAK_ONLY: ch07_global_alloc::Global = ch07_global_alloc::Global::new();
// ANCHOR_END: global_allocator

/// Resident memory of this process, in MiB, from /proc/self/statm.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * memsource::page_size() as f64 / (1024.0 * 1024.0)
}

// ANCHOR: main
/// Allocates 16 blocks of 4 MiB, touches every page, then a small block
/// that outlives them, frees the big blocks, and reports resident memory.
fn run(name: &str, alloc: &dyn GlobalAlloc) {
    let big = Layout::from_size_align(4 << 20, 16).unwrap();
    let small = Layout::from_size_align(64, 16).unwrap();
    let before = rss_mib();
    // SAFETY: every block is used within its layout and freed once.
    unsafe {
        let blocks: Vec<*mut u8> = (0..16).map(|_| alloc.alloc(big)).collect();
        for &p in &blocks {
            assert!(!p.is_null());
            p.write_bytes(1, big.size()); // touch every page
        }
        let keep = alloc.alloc(small); // a small block above the big ones
        let full = rss_mib();
        for p in blocks {
            alloc.dealloc(p, big);
        }
        let after = rss_mib();
        println!("{name}:");
        println!("  resident before        {before:7.1} MiB");
        println!("  with 64 MiB allocated  {full:7.1} MiB");
        println!("  after freeing it       {after:7.1} MiB");
        alloc.dealloc(keep, small);
    }
}

fn main() {
    println!("16 blocks of 4 MiB, then a small block, then the big blocks freed.\n");
    run("Chapter 7, everything on the break", &BREAK_ONLY);
    run("Chapter 8, big blocks mapped on their own", &HEAP);
}
// ANCHOR_END: main
