//! Keeps the run shown in the book honest.
//!
//! Addresses change on every run (ASLR), so the book cannot show a snapshot
//! of a live run. Instead it shows `recorded-run.txt`, one real run written
//! by `cargo run -p ch01-memory-layout -- --record`, and these tests check
//! that
//!
//! - the diagram in the book is what the current renderer draws from that
//!   run (an insta snapshot the page includes);
//! - the recording is exactly what the current program prints for it;
//! - a live run today has the same shape as the recording: the same kinds of
//!   regions in the same order, each named address in the same kind of
//!   region, and the break moved by one page. (On another processor than the
//!   one that made the recording, only the parts that do not depend on it.)

use ch01_memory_layout::{Kind, Layout, parse_recorded, render_svg, render_text};
use std::process::Command;

const RECORDING: &str = include_str!("../recorded-run.txt");

fn recorded() -> Layout {
    parse_recorded(RECORDING).expect("recorded-run.txt should parse")
}

fn live() -> Layout {
    let output = Command::new(env!("CARGO_BIN_EXE_ch01-memory-layout"))
        .output()
        .expect("the demo should start");
    assert!(output.status.success(), "the demo failed: {output:?}");
    let text = String::from_utf8(output.stdout).expect("the demo prints UTF-8");
    parse_recorded(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The kinds of the mappings in address order, with runs of the same kind
/// counted once: how many mappings a library or the kernel's pages take is
/// a detail of the system, their order is not.
fn shape(layout: &Layout) -> Vec<Kind> {
    let mut kinds = layout.kinds();
    // The kernel's special pages depend on how the kernel was configured
    // (`vsyscall=none` removes one): leave them out.
    kinds.retain(|k| *k != Kind::Kernel);
    kinds.dedup();
    kinds
}

#[test]
fn diagram() {
    insta::assert_snapshot!("diagram", render_svg(&recorded()));
}

#[test]
fn the_recording_is_what_the_program_prints() {
    assert_eq!(render_text(&recorded()), RECORDING);
}

/// The part of the shape that is the same on every processor. Linkers lay
/// out a program's own file differently on some (read-only data may share
/// the code's mapping), and the kernel's special pages differ.
fn portable_shape(layout: &Layout) -> (Vec<Kind>, Vec<(&str, Option<Kind>)>) {
    let varies = [Kind::Code, Kind::ReadOnly, Kind::Data, Kind::Kernel];
    let mut kinds = layout.kinds();
    kinds.retain(|k| !varies.contains(k));
    kinds.dedup();
    let mut placed = layout.placed_kinds();
    placed.retain(|(_, k)| !k.is_some_and(|k| varies.contains(&k)));
    (kinds, placed)
}

#[test]
fn a_live_run_has_the_recorded_shape() {
    let (recorded, live) = (recorded(), live());
    if live.machine == recorded.machine {
        assert_eq!(shape(&live), shape(&recorded));
        assert_eq!(live.placed_kinds(), recorded.placed_kinds());
    } else {
        assert_eq!(portable_shape(&live), portable_shape(&recorded));
    }
    for layout in [&recorded, &live] {
        let brk = layout.brk.as_ref().expect("the break moved");
        assert_eq!(brk.after - brk.before, 4096);
        let heap = layout.mappings.iter().find(|m| m.kind == Kind::Heap);
        let heap = &heap.expect("there is a heap").region;
        assert!(heap.start <= brk.before && brk.after <= heap.end);
    }
}

#[test]
fn every_named_address_lands_where_the_book_says() {
    let expected = [
        ("fn main", Kind::Code),
        ("a string literal", Kind::ReadOnly),
        ("static STARTS_AT_ONE", Kind::Data),
        ("static STARTS_AT_ZERO", Kind::Data),
        ("Box::new(7u64)", Kind::Heap),
        ("vec![0u8; 1 MiB]", Kind::Anon),
        ("AnonPage::map", Kind::Anon),
        ("libc's malloc", Kind::Library),
        ("a local variable", Kind::Stack),
    ];
    let mut expected: Vec<_> = expected.iter().map(|&(n, k)| (n, Some(k))).collect();
    expected.sort();
    assert_eq!(recorded().placed_kinds(), expected);
}
