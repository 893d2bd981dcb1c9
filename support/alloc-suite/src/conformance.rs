//! The conformance suite: one check per [`Behaviour`].
//!
//! Each check builds a fresh allocator over an [`Arena`] with the function it
//! is given, exercises one behaviour, and returns `Err` with a reason when the
//! behaviour is not there. [`assert_conforms`] runs them all and insists that
//! the allocator's [`Malloc::BEHAVIOURS`] tell the truth both ways.

use crate::model;
use crate::workload::{Op, Rng};
use allockit::{Behaviour, FreeError, Malloc};
use memsource::Arena;

/// A result for each behaviour, in [`Behaviour::ALL`] order.
pub type Report = Vec<(Behaviour, Result<(), String>)>;

/// Runs every check against allocators made by `make`.
pub fn run<A: Malloc>(make: impl Fn(Arena) -> A) -> Report {
    Behaviour::ALL
        .iter()
        .map(|&b| (b, check(b, &make)))
        .collect()
}

/// Runs every check and panics, listing each disagreement, unless the
/// allocator has exactly the behaviours it declares.
pub fn assert_conforms<A: Malloc>(make: impl Fn(Arena) -> A) -> Report {
    let report = run(&make);
    let mut wrong = Vec::new();
    for (b, r) in &report {
        let declared = A::BEHAVIOURS.contains(b);
        match (declared, r) {
            (true, Err(why)) => wrong.push(format!("declares `{}` but fails it: {why}", b.name())),
            (false, Ok(())) => wrong.push(format!(
                "passes `{}` but does not declare it: add it to BEHAVIOURS",
                b.name()
            )),
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}:\n  {}", A::NAME, wrong.join("\n  "));
    report
}

/// Renders reports as a Markdown table: one row per behaviour, one column
/// per allocator.
pub fn table(columns: &[(&str, &Report)]) -> String {
    let mut s = String::from("| behaviour |");
    for (name, _) in columns {
        s.push_str(&format!(" {name} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&":-:|".repeat(columns.len()));
    s.push('\n');
    for (i, b) in Behaviour::ALL.iter().enumerate() {
        s.push_str(&format!("| {} |", b.name()));
        for (_, report) in columns {
            s.push_str(match &report[i].1 {
                Ok(()) => " ✔ |",
                Err(why) if why == NOT_RUN => " – |",
                Err(_) => " ✘ |",
            });
        }
        s.push('\n');
    }
    s
}

/// The reason given for a check that is not run: the table shows it as `–`.
pub const NOT_RUN: &str = "not claimed, and not run: it would be undefined behaviour";

/// Runs the check for one behaviour.
pub fn check<A: Malloc>(b: Behaviour, make: &impl Fn(Arena) -> A) -> Result<(), String> {
    match b {
        Behaviour::Correct => correct(make(Arena::new(if cfg!(miri) { 1 << 16 } else { 1 << 20 }))),
        Behaviour::ZeroSize => zero_size(make(Arena::new(4096))),
        Behaviour::HugeSize => huge_size(make(Arena::new(4096))),
        Behaviour::OutOfMemory => out_of_memory(make(Arena::new(4096))),
        Behaviour::RandomOps => random_ops(make),
        // A double free is undefined behaviour for an allocator that does
        // not promise to detect it: only run the check on those that do.
        Behaviour::RefusesDoubleFree if !A::BEHAVIOURS.contains(&b) => Err(NOT_RUN.into()),
        Behaviour::RefusesDoubleFree => refuses_double_free(make(Arena::new(4096))),
        Behaviour::RefusesForeign => {
            refuses_foreign(make(Arena::new(4096)), make(Arena::new(4096)))
        }
        Behaviour::ReusesFreed => reuses_freed(make(Arena::new(1 << 16))),
        Behaviour::Splits => splits(make(Arena::new(1 << 16))),
        Behaviour::Coalesces => coalesces(make(Arena::new(1 << 16))),
        Behaviour::ReturnsMemory => returns_memory(make(Arena::new(1 << 21))),
        Behaviour::Realloc => realloc(make(Arena::new(1 << 16))),
        Behaviour::Calloc => calloc(make(Arena::new(1 << 16))),
    }
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

fn alloc<A: Malloc>(a: &mut A, size: usize) -> Result<*mut u8, String> {
    let p = a.malloc(size);
    ensure(!p.is_null(), || format!("malloc({size}) returned null"))?;
    Ok(p)
}

fn free<A: Malloc>(a: &mut A, p: *mut u8) -> Result<(), String> {
    // SAFETY: every caller passes a live block from `a`.
    unsafe { a.free(p) }.map_err(|e| format!("free refused a live block: {e}"))
}

fn heap_len<A: Malloc>(a: &A) -> usize {
    a.map().len()
}

fn correct<A: Malloc>(mut a: A) -> Result<(), String> {
    // SAFETY: free(null) is always allowed, and must do nothing.
    let r = unsafe { a.free(std::ptr::null_mut()) };
    ensure(r.is_ok(), || format!("free(null) gave {r:?}"))?;
    let p = alloc(&mut a, 8)?;
    let before = a.map();
    // SAFETY: as above.
    let r = unsafe { a.free(std::ptr::null_mut()) };
    ensure(r.is_ok() && a.map() == before, || {
        "free(null) changed the heap".into()
    })?;
    free(&mut a, p)?;
    let mut m = model::Model::new(a);
    let mut rng = Rng::new(3);
    for size in (1..=64).chain([100, 128, 255, 256, 1000, 4096]) {
        m.apply(Op::Malloc(size))?;
    }
    for _ in 0..if cfg!(miri) { 50 } else { 200 } {
        let op = if rng.next_u64().is_multiple_of(3) {
            Op::Free(rng.next_u64() as usize)
        } else {
            Op::Malloc(rng.range(1, 300))
        };
        m.apply(op)?;
    }
    m.finish().map(drop)
}

fn refuses_double_free<A: Malloc>(mut a: A) -> Result<(), String> {
    let p = alloc(&mut a, 40)?;
    let _guard = alloc(&mut a, 40)?;
    free(&mut a, p)?;
    let before = a.map();
    // SAFETY: p came from `a`; freeing it twice is what is being tested,
    // and this check only runs on allocators that declare they detect it.
    let r = unsafe { a.free(p) };
    ensure(r == Err(FreeError::DoubleFree), || {
        format!("double free gave {r:?}")
    })?;
    ensure(a.map() == before, || {
        "a refused double free changed the heap".into()
    })
}

fn refuses_foreign<A: Malloc>(mut a: A, mut other: A) -> Result<(), String> {
    let mut local = [0u8; 64];
    let theirs = alloc(&mut other, 40)?;
    // SAFETY: nothing is allocated yet, so no pointer can be `a`'s.
    let r = unsafe { a.free(theirs) };
    ensure(r == Err(FreeError::NotOurs), || {
        format!("free before any malloc gave {r:?}")
    })?;
    let _mine = alloc(&mut a, 40)?;
    let before = a.map();
    for (what, p) in [
        ("a stack address", local.as_mut_ptr()),
        ("another heap's block", theirs),
    ] {
        // SAFETY: p lies outside `a`'s heap, which `free` must detect
        // without reading anything at p.
        let r = unsafe { a.free(p) };
        ensure(r == Err(FreeError::NotOurs), || {
            format!("free of {what} gave {r:?}")
        })?;
        ensure(a.map() == before, || {
            format!("free of {what} changed the heap")
        })?;
    }
    Ok(())
}

fn zero_size<A: Malloc>(mut a: A) -> Result<(), String> {
    let p = alloc(&mut a, 0)?;
    let q = alloc(&mut a, 0)?;
    ensure(p != q, || "two malloc(0) returned the same pointer".into())?;
    ensure((p as usize).is_multiple_of(model::ALIGN), || {
        "malloc(0) is not aligned".into()
    })?;
    free(&mut a, p)?;
    free(&mut a, q)
}

fn huge_size<A: Malloc>(mut a: A) -> Result<(), String> {
    let keep = alloc(&mut a, 24)?;
    let before = a.map();
    for size in [
        usize::MAX,
        usize::MAX - 1,
        usize::MAX - 15,
        usize::MAX - 64,
        isize::MAX as usize,
        isize::MAX as usize + 1,
        1 << 40,
    ] {
        let p = a.malloc(size);
        ensure(p.is_null(), || {
            format!("malloc({size:#x}) did not return null")
        })?;
        ensure(a.map() == before, || {
            format!("malloc({size:#x}) changed the heap")
        })?;
    }
    let p = alloc(&mut a, 32)?;
    free(&mut a, p)?;
    free(&mut a, keep)
}

fn out_of_memory<A: Malloc>(a: A) -> Result<(), String> {
    // The arena is 4 KiB: a second block of 2500 bytes cannot fit.
    let mut m = model::Model::new(a);
    m.apply(Op::Malloc(2500))?;
    let before = m.alloc().map();
    ensure(!m.try_malloc(2500)?, || {
        "a request larger than what is left succeeded".into()
    })?;
    ensure(m.alloc().map() == before, || {
        "a failed malloc changed the heap".into()
    })?;
    // What still fits must still be served, and nothing live may be touched.
    ensure(m.try_malloc(64)?, || {
        "64 bytes that fit were refused after a failure".into()
    })?;
    loop {
        let before = m.alloc().map();
        if !m.try_malloc(64)? {
            ensure(m.alloc().map() == before, || {
                "a failed malloc changed the heap".into()
            })?;
            break;
        }
    }
    // `finish` checks every block's contents as it frees them.
    m.finish().map(drop)
}

fn reuses_freed<A: Malloc>(mut a: A) -> Result<(), String> {
    let p = alloc(&mut a, 64)?;
    let _guard = alloc(&mut a, 64)?;
    free(&mut a, p)?;
    let len = heap_len(&a);
    let q = alloc(&mut a, 64)?;
    ensure(heap_len(&a) == len, || {
        "the heap grew instead of reusing a freed block".into()
    })?;
    ensure(q == p, || {
        format!("malloc(64) after free gave {q:p}, not the freed {p:p}")
    })
}

fn splits<A: Malloc>(mut a: A) -> Result<(), String> {
    let p = alloc(&mut a, 1024)?;
    let _guard = alloc(&mut a, 16)?;
    free(&mut a, p)?;
    let len = heap_len(&a);
    let x = alloc(&mut a, 64)?;
    let y = alloc(&mut a, 64)?;
    ensure(heap_len(&a) == len, || {
        "two small blocks did not both fit in one freed 1024-byte block".into()
    })?;
    let inside = |q: *mut u8| (p as usize..p as usize + 1024).contains(&(q as usize));
    ensure(inside(x) && inside(y), || {
        "the small blocks are not in the freed block".into()
    })
}

fn coalesces<A: Malloc>(mut a: A) -> Result<(), String> {
    let x = alloc(&mut a, 256)?;
    let y = alloc(&mut a, 256)?;
    let _guard = alloc(&mut a, 16)?;
    free(&mut a, x)?;
    free(&mut a, y)?;
    let len = heap_len(&a);
    let z = alloc(&mut a, 512)?;
    ensure(heap_len(&a) == len, || {
        "512 bytes did not fit in two freed neighbouring 256-byte blocks".into()
    })?;
    ensure(z == x, || {
        "the merged block does not start at the first one".into()
    })
}

fn returns_memory<A: Malloc>(mut a: A) -> Result<(), String> {
    let small = alloc(&mut a, 16)?;
    let before = a.held();
    let big = alloc(&mut a, 512 * 1024)?;
    free(&mut a, big)?;
    let after = a.held();
    ensure(after <= before + A::KEEPS, || {
        format!(
            "after freeing 512 KiB on top the heap holds {after} bytes, was {before} \
             (it may keep {} more)",
            A::KEEPS
        )
    })?;
    free(&mut a, small)
}

fn realloc<A: Malloc>(mut a: A) -> Result<(), String> {
    // realloc(null, n) is malloc(n).
    // SAFETY: null is always allowed.
    let p = unsafe { a.realloc(std::ptr::null_mut(), 50) }.ok_or("realloc is not provided")?;
    ensure(!p.is_null(), || "realloc(null, 50) returned null".into())?;
    free(&mut a, p)?;
    let mut m = model::Model::new(a);
    m.apply(Op::Malloc(100))?;
    m.apply(Op::Malloc(8))?;
    m.apply(Op::Realloc(0, 1000))?;
    m.apply(Op::Realloc(0, 10))?;
    m.apply(Op::Realloc(1, 3000))?;
    // realloc(p, 0) frees p and returns null (the model checks both).
    m.apply(Op::Realloc(0, 0))?;
    m.finish().map(drop)
}

fn calloc<A: Malloc>(a: A) -> Result<(), String> {
    let mut a = a;
    // Dirty some memory first so that reuse would show.
    let p = alloc(&mut a, 256)?;
    // A used block after it, so that freeing `p` cannot shrink the heap.
    let guard = alloc(&mut a, 16)?;
    // SAFETY: p owns 256 bytes.
    unsafe { p.write_bytes(0xff, 256) };
    free(&mut a, p)?;
    let Some(q) = a.calloc(usize::MAX, 2) else {
        return Err("calloc is not provided".into());
    };
    ensure(q.is_null(), || {
        "calloc(usize::MAX, 2) did not return null".into()
    })?;
    // The freed, dirty block is reused, and must come back zeroed.
    let q = a.calloc(16, 16).ok_or("calloc is not provided")?;
    ensure(q == p, || "calloc did not reuse the freed block".into())?;
    // SAFETY: q owns 256 bytes.
    let zero = unsafe { std::slice::from_raw_parts(q, 256) }
        .iter()
        .all(|&b| b == 0);
    ensure(zero, || {
        "calloc returned reused memory without clearing it".into()
    })?;
    free(&mut a, q)?;
    free(&mut a, guard)?;
    let mut m = model::Model::new(a);
    m.apply(Op::Calloc(16, 16))?;
    m.apply(Op::Calloc(3, 100))?;
    m.finish().map(drop)
}

fn random_ops<A: Malloc>(make: &impl Fn(Arena) -> A) -> Result<(), String> {
    let n = if cfg!(miri) { 100 } else { 5_000 };
    let mut rng = Rng::new(42);
    let realloc = A::BEHAVIOURS.contains(&Behaviour::Realloc);
    let calloc = A::BEHAVIOURS.contains(&Behaviour::Calloc);
    let ops: Vec<Op> = (0..n)
        .map(|_| match rng.range(0, 9) {
            0..=3 => Op::Malloc(rng.range(0, model::MAX_SIZE)),
            4..=6 => Op::Free(rng.next_u64() as usize),
            7 if realloc => Op::Realloc(rng.next_u64() as usize, rng.range(0, model::MAX_SIZE)),
            8 if calloc => Op::Calloc(rng.range(0, 8), rng.range(0, 64)),
            _ => Op::Malloc(rng.range(0, 64)),
        })
        .collect();
    model::check(make(Arena::new(model::arena_for(n))), &ops).map(drop)
}
