//! The race's recorded results, as the book includes them: every contestant
//! present in every table and plot, and each ratio the one its own row and
//! glibc's row give (so both come from the same run). The values themselves
//! are never checked: they are measurements. And every contestant, run on
//! a small workload, gives every block its own memory.

use alloc_suite::workload::Op;
use race::{Alloc, Contestant, Live, contestants, exec, free_all, scaling_workload};
use std::path::Path;

fn recorded(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../book/numbers")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with `cargo run --release -p race`",
            path.display()
        )
    })
}

/// The table's rows: name (without the bold marks) and cells.
fn rows(table: &str) -> Vec<(String, Vec<String>)> {
    table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| allocator"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            (cells[0].trim_matches('*').to_string(), cells[1..].to_vec())
        })
        .collect()
}

fn number(cell: &str) -> f64 {
    cell.trim_end_matches('×')
        .parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

fn names() -> Vec<&'static str> {
    contestants().iter().map(|c| c.name).collect()
}

/// Every contestant is named in the recorded plot `svg`.
fn every_name_in(svg: &str) {
    let svg = recorded(svg);
    for name in names() {
        assert!(svg.contains(name), "{name} missing from the plot");
    }
}

#[test]
fn the_reference_table_lists_everyone_with_ratios_from_the_same_run() {
    let table = recorded("race-reference.md");
    let rows = rows(&table);
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, names(), "the contestants, in order");
    let base = number(&rows[0].1[0]);
    for (name, cells) in &rows {
        let (median, min, max) = (number(&cells[0]), number(&cells[1]), number(&cells[2]));
        assert!(min <= median && median <= max, "{name}: min, median, max");
        let ratio = number(&cells[3]);
        let expected = median / base;
        assert!(
            (ratio - expected).abs() <= 0.01 + expected * 0.01,
            "{name}: ratio {ratio}, but its median over glibc's is {expected:.2}"
        );
    }
    assert!(table.contains("Recorded ") && table.contains("cargo run --release -p race"));
    every_name_in("race-reference.svg");
}

#[test]
fn the_scaling_table_lists_everyone_at_every_heap_size() {
    let table = recorded("race-scaling.md");
    let rows = rows(&table);
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, names(), "the contestants, in order");
    for (name, cells) in &rows {
        assert_eq!(cells.len(), 4, "{name}: three heap sizes and the growth");
        let (small, big) = (number(&cells[0]), number(&cells[2]));
        let growth = number(&cells[3]);
        let expected = big / small;
        assert!(
            (growth - expected).abs() <= 0.1 + expected * 0.02,
            "{name}: growth {growth}, but its own numbers give {expected:.1}"
        );
    }
    every_name_in("race-scaling.svg");
}

/// Runs a small workload on `c` through a checking allocator: every block
/// filled with its own byte, checked before it is freed (all sizes are 8
/// bytes or more).
fn check(c: &Contestant) {
    struct Checked<'a>(&'a mut dyn Alloc);
    impl Alloc for Checked<'_> {
        fn alloc(&mut self, size: usize) -> *mut u8 {
            let p = self.0.alloc(size);
            if !p.is_null() {
                assert_eq!(p as usize % 16, 0, "not aligned to 16");
                // SAFETY: a new block of `size` bytes.
                unsafe { p.write_bytes(p as usize as u8 ^ 0x5A, size) };
            }
            p
        }
        unsafe fn free(&mut self, p: *mut u8, size: usize) {
            // SAFETY: a live block of `size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
            let want = p as usize as u8 ^ 0x5A;
            // (`exec` writes the first and the last byte itself.)
            assert!(
                bytes[1..size - 1].iter().all(|&b| b == want),
                "a block of {size} bytes was overwritten by another"
            );
            // SAFETY: the caller's promise.
            unsafe { self.0.free(p, size) }
        }
    }
    let w = scaling_workload(300, 2_000);
    (c.with)(race::arena_for(&w), &mut |a: &mut dyn Alloc| {
        let mut a = Checked(a);
        let mut live = Live::new();
        assert_eq!(exec(&mut a, &mut live, &w.fill), 0);
        assert_eq!(exec(&mut a, &mut live, &w.timed), 0);
        assert_eq!(exec(&mut a, &mut live, &[Op::Malloc(100)]), 0);
        free_all(&mut a, &mut live);
    });
}

#[test]
fn every_contestant_gives_every_block_its_own_memory() {
    for c in contestants() {
        check(&c);
    }
}
