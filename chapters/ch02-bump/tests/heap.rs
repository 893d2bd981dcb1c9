//! Chapter 2's heap, pinned by snapshots, and what it does with bad input.

use ch02_bump::{Bump, demo};
use memsource::Arena;

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn demo_steps() {
    let script = demo::run(Arena::new(4096));
    insta::assert_snapshot!("demo", script.render());
    insta::assert_snapshot!(
        "demo_svg",
        script.svg("The bump allocator's heap, step by step")
    );
}

/// The demo binary runs on the real break; its output must match the
/// arena run above, offsets and all.
#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn demo_binary_on_the_real_break() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch02-bump"))
        .output()
        .expect("run the demo");
    assert!(out.status.success());
    insta::assert_snapshot!("demo_binary", String::from_utf8_lossy(&out.stdout));
}

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn memory_is_never_reused() {
    let mut heap = Bump::new(alloc_suite::bench::arena());
    let fp = alloc_suite::workload::footprint(&mut heap, &alloc_suite::bench::ops());
    insta::assert_snapshot!("footprint", fp.to_string());
    assert_eq!(fp.peak_heap, fp.end_heap, "a bump heap never shrinks");
}

#[test]
fn free_ignores_every_pointer() {
    let mut heap = Bump::new(Arena::new(4096));
    let a = heap.malloc(16);
    let before = heap.map();
    let mut local = 0u8;
    heap.free(std::ptr::null_mut());
    heap.free(a);
    heap.free(a); // a double free
    heap.free(&mut local); // a pointer this heap never gave out
    assert_eq!(heap.map(), before);
    // The block is still usable: nothing was given back.
    // SAFETY: `a` owns 16 bytes.
    unsafe { a.write_bytes(7, 16) };
}

#[test]
fn sizes_that_overflow_give_null() {
    let mut heap = Bump::new(Arena::new(4096));
    for size in [usize::MAX, usize::MAX - 14, isize::MAX as usize + 1] {
        assert!(heap.malloc(size).is_null(), "malloc({size:#x})");
    }
    assert!(heap.map().is_empty(), "failed requests took nothing");
    assert!(!heap.malloc(1).is_null());
}

#[test]
fn a_full_arena_gives_null_and_keeps_what_it_had() {
    let mut heap = Bump::new(Arena::new(64));
    let blocks: Vec<_> = (0..4).map(|_| heap.malloc(16)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    assert!(heap.malloc(1).is_null());
    assert_eq!(heap.map().len(), 64);
}
