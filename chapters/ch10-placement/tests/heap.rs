//! Chapter 10's policies, pinned by snapshots, and what each must do. (Bad
//! input is checked for every chapter by the conformance suite in the root
//! `tests/`, for each policy.)

use ch10_placement::{BestFit, Heap, NextFit, Policy, demo};
use memsource::Arena;

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn demo_steps() {
    for (name, script) in demo::scripts() {
        let file = name.replace(' ', "_");
        insta::assert_snapshot!(format!("demo_{file}"), script.render());
        insta::assert_snapshot!(
            format!("demo_{file}_svg"),
            script.svg(&format!("The same requests, {name}"))
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn demo_binary() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch10-placement"))
        .output()
        .expect("run the demo");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (_, script) in demo::scripts() {
        assert!(stdout.contains(&script.render()), "{stdout}");
    }
    insta::assert_snapshot!("demo_binary", stdout);
}

/// Holes of 160, 48 and 96 bytes (payload), in that address order, each
/// followed by a used block; returns the holes' payloads.
fn holes<P: Policy>(heap: &mut Heap<Arena, P>) -> Vec<*mut u8> {
    let holes: Vec<*mut u8> = [160, 48, 96]
        .iter()
        .map(|&size| {
            let hole = heap.malloc(size);
            assert!(!heap.malloc(16).is_null());
            hole
        })
        .collect();
    for &h in &holes {
        // SAFETY: each hole is a live block of this heap, freed once.
        unsafe { heap.free(h) }.unwrap();
    }
    holes
}

#[test]
fn first_fit_takes_the_lowest_hole_that_fits() {
    let mut heap = Heap::new(Arena::new(4096));
    let h = holes(&mut heap);
    assert_eq!(heap.malloc(48), h[0]);
    assert_eq!(heap.malloc(96), h[2], "the 160 hole has 80 left: too small");
    heap.check().unwrap();
}

#[test]
fn best_fit_takes_the_smallest_hole_that_fits() {
    let mut heap = Heap::with_policy(Arena::new(4096), BestFit);
    let h = holes(&mut heap);
    assert_eq!(
        heap.malloc(40),
        h[1],
        "48 is the smallest hole of at least 48"
    );
    assert_eq!(heap.malloc(90), h[2]);
    assert_eq!(heap.malloc(100), h[0]);
    heap.check().unwrap();
}

#[test]
fn next_fit_goes_on_from_where_it_stopped_and_wraps_around() {
    let mut heap = Heap::with_policy(Arena::new(4096), NextFit::default());
    let h = holes(&mut heap);
    assert_eq!(heap.malloc(96), h[0]);
    assert_eq!(heap.malloc(48), h[1]);
    // SAFETY: h[0] was handed out again above and is live.
    unsafe { heap.free(h[0]) }.unwrap();
    // First fit would take h[0] again; next fit goes on to h[2] ...
    assert_eq!(heap.malloc(96), h[2]);
    // ... and only then wraps around to the start.
    assert_eq!(heap.malloc(96), h[0]);
    heap.check().unwrap();
}

#[test]
fn the_rover_moves_off_a_chunk_that_is_merged_away() {
    let mut heap = Heap::with_policy(Arena::new(4096), NextFit::default());
    let h = holes(&mut heap);
    // The rover points at the 48 hole's chunk once it is chosen ...
    assert_eq!(heap.malloc(160), h[0]);
    let a = heap.malloc(48);
    assert_eq!(a, h[1]);
    assert_eq!(
        heap.policy().remembered(),
        Some(h[1].wrapping_sub(32).cast())
    );
    // ... which merges into the free chunk before it when the block in
    // front, the used block between them, and then it are freed.
    let fence = h[0].wrapping_add(160 + 32);
    // SAFETY: h[0], `fence` (the 16-byte block after the first hole) and
    // `a` are live blocks of this heap; each is freed once.
    unsafe {
        heap.free(h[0]).unwrap();
        heap.free(fence).unwrap();
        heap.free(a).unwrap();
    }
    assert_eq!(
        heap.policy().remembered(),
        Some(h[0].wrapping_sub(32).cast())
    );
    heap.check().unwrap();
    // The next search starts from the merged chunk.
    assert_eq!(heap.malloc(256), h[0]);
    heap.check().unwrap();
}

/// The table of heap efficiency and footprint the page shows.
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn policies_measured() {
    insta::assert_snapshot!("policies", demo::table());
}
