//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use alloc_suite::exercises::ensure;
use alloc_suite::workload::Rng;
use ch10_placement::{Heap, Policy};
use memsource::Arena;

/// Runs random mallocs and frees on a heap placing with `P`. Before each
/// `malloc`, `expect` names the payload the policy must choose among the
/// unused chunks `(payload, size)` in address order (`None`: no chunk
/// fits, and the heap may grow); the block returned must be that one.
fn chooses<P: Policy>(
    policy: P,
    expect: impl Fn(&[(usize, usize)], usize) -> Option<usize>,
) -> Result<(), String> {
    let mut heap = Heap::with_policy(Arena::new(1 << 22), policy);
    let mut rng = Rng::new(10);
    let mut live: Vec<*mut u8> = Vec::new();
    for step in 0..3000 {
        if rng.range(0, 99) < 55 || live.is_empty() {
            let size = rng.range(1, 600);
            let free: Vec<(usize, usize)> = heap
                .chunks()
                .filter(|c| !c.is_used())
                .map(|c| (c.payload() as usize, c.size()))
                .collect();
            let want = expect(&free, size.next_multiple_of(16));
            let p = heap.malloc(size);
            ensure(
                !p.is_null(),
                &format!("step {step}: malloc({size}) returned null"),
            )?;
            if let Some(want) = want {
                ensure(
                    p as usize == want,
                    &format!(
                        "step {step}: malloc({size}) with free chunks (payload, size) {free:x?}: \
                         expected the chunk at {want:#x}, got {:#x}",
                        p as usize
                    ),
                )?;
            }
            live.push(p);
        } else {
            let p = live.swap_remove(rng.range(0, live.len() - 1));
            // SAFETY: `p` is a live block of `heap`, freed once.
            unsafe { heap.free(p) }.map_err(|e| format!("step {step}: free failed: {e:?}"))?;
        }
        heap.check().map_err(|e| format!("step {step}: {e}"))?;
    }
    Ok(())
}

/// The whole conformance suite, with the reader's policy placing blocks.
fn conforms<P: Policy + Copy>(policy: P) -> Result<(), String> {
    for (behaviour, result) in alloc_suite::conformance::run(|a| Heap::with_policy(a, policy)) {
        result.map_err(|e| format!("conformance, {behaviour:?}: {e}"))?;
    }
    Ok(())
}

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            chooses(ex::WorstFit, |free, size| {
                // The first of the largest chunks, if it fits.
                let largest = free.iter().map(|c| c.1).max()?;
                let c = free.iter().find(|c| c.1 == largest)?;
                (c.1 >= size).then_some(c.0)
            })?;
            conforms(ex::WorstFit)
        }

        pub fn exercise_2() -> Result<(), String> {
            chooses(ex::GoodFit, |free, size| {
                let fitting: Vec<_> = free.iter().filter(|c| c.1 >= size).collect();
                let look = &fitting[..fitting.len().min(ch10_placement::exercises::GOOD_FIT_LOOK)];
                if let Some(exact) = look.iter().find(|c| c.1 == size) {
                    return Some(exact.0);
                }
                let smallest = look.iter().map(|c| c.1).min()?;
                look.iter().find(|c| c.1 == smallest).map(|c| c.0)
            })?;
            conforms(ex::GoodFit)
        }
    };
}

alloc_suite::exercise_harness!(
    ch10_placement,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2]
);
