//! The conformance suite over every chapter: each chapter's declared
//! behaviours must pass and the ones it leaves out must fail. The table the
//! book shows is this test's snapshot.

use alloc_suite::conformance::{Report, assert_conforms, table};
use ch02_bump::Bump;
use ch10_placement::{BestFit, Heap as Heap10, NextFit};
use ch11_boundary_tags::{Heap as Heap11, Order};

// ANCHOR: reports
fn reports() -> Vec<(&'static str, Report)> {
    vec![
        ("2. bump", assert_conforms(Bump::new)),
        ("3. free list", assert_conforms(ch03_free_list::Heap::new)),
        ("4. splitting", assert_conforms(ch04_splitting::Heap::new)),
        ("5. coalescing", assert_conforms(ch05_coalescing::Heap::new)),
        ("6. malloc API", assert_conforms(ch06_malloc_api::Heap::new)),
        (
            "7. global allocator",
            assert_conforms(ch07_global_alloc::Heap::new),
        ),
        ("8. mmap", assert_conforms(ch08_mmap::Heap::new)),
        ("9. LD_PRELOAD", assert_conforms(ch09_ld_preload::Heap::new)),
        ("10. first fit", assert_conforms(ch10_placement::Heap::new)),
        (
            "10. next fit",
            assert_conforms(|a| Heap10::with_policy(a, NextFit::default())),
        ),
        (
            "10. best fit",
            assert_conforms(|a| Heap10::with_policy(a, BestFit)),
        ),
        (
            "11. boundary tags",
            assert_conforms(ch11_boundary_tags::Heap::new),
        ),
        (
            "11. address order",
            assert_conforms(|a| Heap11::with_order(a, Order::Address)),
        ),
    ]
}
// ANCHOR_END: reports

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri: see `mod miri`")]
fn every_chapter_does_what_it_declares_and_no_more() {
    let reports = reports();
    let rows: Vec<(&str, &Report)> = reports.iter().map(|(n, r)| (*n, r)).collect();
    insta::assert_snapshot!("table", table(&rows));
    for (name, report) in &rows {
        let file = name.replace(". ", "_").replace(' ', "_");
        insta::assert_snapshot!(format!("row_{file}"), table(&[(name, report)]));
    }
}

/// The suite must be able to fail: a deliberately broken allocator fails
/// the checks it breaks.
#[test]
fn the_suite_catches_a_broken_allocator() {
    use allockit::{Behaviour, FreeError, HeapMap, Malloc};
    use memsource::Arena;

    /// Hands out 8-byte-aligned blocks that overlap their neighbours.
    struct Sloppy(Bump<Arena>);
    impl Malloc for Sloppy {
        const NAME: &'static str = "sloppy";
        const BEHAVIOURS: &'static [Behaviour] = &[Behaviour::Correct];
        fn malloc(&mut self, size: usize) -> *mut u8 {
            let p = self.0.malloc(size);
            if size > 8 { p.wrapping_add(8) } else { p }
        }
        unsafe fn free(&mut self, _: *mut u8) -> Result<(), FreeError> {
            Ok(())
        }
        fn map(&self) -> HeapMap {
            self.0.map()
        }
    }
    let report = alloc_suite::conformance::run(|a| Sloppy(Bump::new(a)));
    let correct = &report
        .iter()
        .find(|(b, _)| *b == Behaviour::Correct)
        .unwrap()
        .1;
    let why = correct.as_ref().unwrap_err();
    assert!(
        why.contains("not aligned") || why.contains("overlaps"),
        "{why}"
    );
    let r = std::panic::catch_unwind(|| assert_conforms(|a| Sloppy(Bump::new(a))));
    assert!(r.is_err(), "assert_conforms accepted a broken allocator");
}

/// Under Miri, which checks the unsafe code as it runs, each distinct heap
/// once, one test each (so that CI can share them out between processes).
/// Chapter 7 wraps the heap of chapter 6 unchanged, and chapter 10 is
/// chapter 9's heap with placement policies written in safe code.
#[cfg(miri)]
mod miri {
    use super::*;

    #[test]
    fn ch02() {
        assert_conforms(Bump::new);
    }
    #[test]
    fn ch03() {
        assert_conforms(ch03_free_list::Heap::new);
    }
    #[test]
    fn ch04() {
        assert_conforms(ch04_splitting::Heap::new);
    }
    #[test]
    fn ch05() {
        assert_conforms(ch05_coalescing::Heap::new);
    }
    #[test]
    fn ch06() {
        assert_conforms(ch06_malloc_api::Heap::new);
    }
    #[test]
    fn ch08() {
        assert_conforms(ch08_mmap::Heap::new);
    }
    #[test]
    fn ch09() {
        assert_conforms(ch09_ld_preload::Heap::new);
    }
    #[test]
    fn ch11_lifo() {
        assert_conforms(ch11_boundary_tags::Heap::new);
    }
    #[test]
    fn ch11_address_order() {
        assert_conforms(|a| Heap11::with_order(a, Order::Address));
    }
}
