//! The race's recorded results, as the book includes them: every contestant
//! present in every table and plot (or, where it cannot take part, the
//! reason), each ratio the one its own row and glibc's row give (so both
//! come from the same run), and each plot drawn from its table's numbers.
//! The values themselves are never checked: they are measurements. And
//! every contestant, run on small workloads, gives every block its own
//! memory and keeps what a resized block holds.

use alloc_suite::workload::Op;
use race::{
    Alloc, Contestant, Live, contestants, exec, fragmentation_workload, free_all, realloc_workload,
    scaling_workload,
};
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

/// The values the plot `svg` shows for `name`: in a bar chart, the
/// numbers printed after its label (up to the next label); in a line
/// chart, the numbers in its points' titles.
fn plotted_values(svg: &str, name: &str) -> Vec<f64> {
    let mut values: Vec<f64> = svg
        .split(&format!("<title>{name}: "))
        .skip(1)
        .filter_map(|t| t.split(' ').next()?.parse().ok())
        .collect();
    if let Some(at) = svg.find(&format!(">{name}<")) {
        let rest = &svg[at..];
        let rest = &rest[..rest[1..]
            .find("<text x=\"0\"")
            .map_or(rest.len(), |e| e + 1)];
        values.extend(
            rest.split("font-size=\"9\">")
                .skip(1)
                .filter_map(|t| t.split(' ').next()?.parse::<f64>().ok()),
        );
    }
    values
}

/// The plot `svg` shows `value` for `name` (the table rounds to three
/// digits, the plot to one decimal).
fn plotted(svg: &str, name: &str, value: f64) {
    let values = plotted_values(svg, name);
    assert!(
        values
            .iter()
            .any(|v| (v - value).abs() <= 0.05 + value * 0.005),
        "{name}: the plot shows {values:?}, not {value}, its number in the table"
    );
}

/// The line under a recorded table: machine, date and command.
fn says_how_it_was_recorded(table: &str) {
    assert!(
        table.contains("Recorded ") && table.contains(" cores, with `cargo run --release -p race"),
        "no machine, date and command under the table"
    );
}

/// A table of times (`race::table`): everyone, in order; min <= median
/// <= max; each ratio its own median over glibc's; and the plot made from
/// the same medians.
fn times_table(file: &str) {
    let table = recorded(&format!("{file}.md"));
    let rows = rows(&table);
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, names(), "{file}: the contestants, in order");
    let base = number(&rows[0].1[0]);
    let svg = recorded(&format!("{file}.svg"));
    for (name, cells) in &rows {
        let (median, min, max) = (number(&cells[0]), number(&cells[1]), number(&cells[2]));
        assert!(min <= median && median <= max, "{name}: min, median, max");
        let ratio = number(&cells[3]);
        let expected = median / base;
        assert!(
            (ratio - expected).abs() <= 0.01 + expected * 0.01,
            "{name}: ratio {ratio}, but its median over glibc's is {expected:.2}"
        );
        assert!(number(&cells[4]) > 0.0, "{name}: operations timed");
        plotted(&svg, name, median);
    }
    says_how_it_was_recorded(&table);
    every_name_in(&format!("{file}.svg"));
}

#[test]
fn the_reference_table_lists_everyone_with_ratios_from_the_same_run() {
    times_table("race-reference");
}

#[test]
fn the_realloc_big_and_fragmentation_tables_list_everyone_with_ratios_from_the_same_run() {
    for file in ["race-realloc", "race-big", "race-fragmentation"] {
        times_table(file);
    }
}

#[test]
fn the_threads_table_lists_every_thread_safe_contestant_and_says_why_the_others_are_not() {
    let table = recorded("race-threads.md");
    let rows = rows(&table);
    let svg = recorded("race-threads.svg");
    let all = contestants();
    let shared: Vec<String> = all
        .iter()
        .filter(|c| c.threads.is_ok())
        .map(|c| {
            if c.book {
                format!("{} (one lock)", c.name)
            } else {
                c.name.to_string()
            }
        })
        .collect();
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, shared, "the thread-safe contestants, in order");
    for peer in ["glibc (System)", "mimalloc", "jemalloc"] {
        assert!(listed.contains(&peer), "{peer} missing");
    }
    for c in all.iter().filter(|c| c.threads.is_err()) {
        assert!(
            table.contains(&format!("- {}: ", c.name)),
            "{}: left out without a reason",
            c.name
        );
    }
    for column in 0..2 {
        let base = number(&rows[0].1[4 * column]);
        for (name, cells) in &rows {
            let cells = &cells[4 * column..];
            let (median, min, max) = (number(&cells[0]), number(&cells[1]), number(&cells[2]));
            assert!(min <= median && median <= max, "{name}: min, median, max");
            let (ratio, expected) = (number(&cells[3]), median / base);
            assert!(
                (ratio - expected).abs() <= 0.01 + expected * 0.01,
                "{name}: ratio {ratio}, but its median over glibc's is {expected:.2}"
            );
            plotted(&svg, name, median);
        }
    }
    says_how_it_was_recorded(&table);
}

#[test]
fn the_efficiency_table_lists_everyone_measured_or_says_why_not() {
    let table = recorded("race-efficiency.md");
    let rows = rows(&table);
    let svg = recorded("race-efficiency.svg");
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, names(), "the contestants, in order");
    for (c, (name, cells)) in contestants().iter().zip(&rows) {
        match &c.confined {
            Ok(_) => {
                let pc = |i: usize| number(cells[i].trim_end_matches('%'));
                let (mean, lo, hi) = (pc(0), pc(1), pc(2));
                assert!(
                    lo <= mean && mean <= hi && hi <= 100.0,
                    "{name}: lowest, mean, highest"
                );
                plotted(&svg, name, mean);
            }
            Err(why) => {
                assert_eq!(cells[0], "—", "{name} cannot be confined, yet has a number");
                assert!(cells[3].contains(why), "{name}: the reason");
            }
        }
    }
    for peer in ["glibc (System)", "mimalloc", "jemalloc"] {
        assert!(listed.contains(&peer), "{peer} missing");
    }
    says_how_it_was_recorded(&table);
}

#[test]
fn the_footprint_table_lists_everyone_with_ratios_from_its_own_numbers() {
    let table = recorded("race-footprint.md");
    let rows = rows(&table);
    let svg = recorded("race-footprint.svg");
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, names(), "the contestants, in order");
    let pc = |cell: &str| number(cell.trim_end_matches('%'));
    for (c, (name, cells)) in contestants().iter().zip(&rows) {
        let live = number(&cells[0]);
        assert_eq!(live, number(&rows[0].1[0]), "{name}: the same workload");
        if c.book {
            let taken = number(&cells[1]);
            let expected = live / taken * 100.0;
            assert!(
                (pc(&cells[2]) - expected).abs() <= 0.1 + expected * 0.002,
                "{name}: live / taken"
            );
        } else {
            assert_eq!((cells[1].as_str(), cells[2].as_str()), ("—", "—"), "{name}");
        }
        let resident = number(&cells[3]);
        let expected = live / resident * 100.0;
        assert!(
            (pc(&cells[4]) - expected).abs() <= 0.1 + expected * 0.002,
            "{name}: live / resident growth"
        );
        let at = svg.find(&format!(">{name}<")).expect("in the plot");
        assert!(
            svg[at..].contains(&format!(">{resident} KiB<")),
            "{name}: plotted"
        );
    }
    says_how_it_was_recorded(&table);
}

/// A table of a workload at each heap size: everyone, in order, a number
/// at every size (or "—" at the largest, for the slow contestants left out
/// there, which the table says), and the growth from its own numbers.
fn scaled_table(file: &str) {
    let table = recorded(&format!("{file}.md"));
    let rows = rows(&table);
    let listed: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, names(), "{file}: the contestants, in order");
    let svg = recorded(&format!("{file}.svg"));
    for (name, cells) in &rows {
        assert_eq!(cells.len(), 4, "{name}: three heap sizes and the growth");
        let small = number(&cells[0]);
        let largest = if cells[2] == "—" {
            assert!(
                table.contains("— : not run at 100000"),
                "{file}: no word on why"
            );
            number(&cells[1])
        } else {
            number(&cells[2])
        };
        let growth = number(&cells[3]);
        let expected = largest / small;
        assert!(
            (growth - expected).abs() <= 0.1 + expected * 0.02,
            "{name}: growth {growth}, but its own numbers give {expected:.1}"
        );
        plotted(&svg, name, small);
    }
    says_how_it_was_recorded(&table);
    every_name_in(&format!("{file}.svg"));
}

#[test]
fn the_scaling_table_lists_everyone_at_every_heap_size() {
    scaled_table("race-scaling");
}

#[test]
fn the_free_table_lists_everyone_at_every_heap_size() {
    scaled_table("race-free");
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
        unsafe fn realloc(&mut self, p: *mut u8, size: usize, new: usize) -> *mut u8 {
            let want = p as usize as u8 ^ 0x5A;
            // SAFETY: a live block of `size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(bytes[1..size - 1].iter().all(|&b| b == want), "overwritten");
            // SAFETY: the caller's promise.
            let q = unsafe { self.0.realloc(p, size, new) };
            if !q.is_null() {
                assert_eq!(q as usize % 16, 0, "not aligned to 16");
                // SAFETY: the block kept what it held, up to the smaller size.
                let kept = unsafe { std::slice::from_raw_parts(q, size.min(new)) };
                assert!(
                    kept[1..size.min(new) - 1].iter().all(|&b| b == want),
                    "realloc lost the contents"
                );
                // SAFETY: a live block of `new` bytes.
                unsafe { q.write_bytes(q as usize as u8 ^ 0x5A, new) };
            }
            q
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
        for w in [realloc_workload(3_000, 100), fragmentation_workload(200, 2)] {
            assert_eq!(exec(&mut a, &mut live, &w.timed), 0, "{}", w.name);
            assert!(live.is_empty(), "{} frees everything", w.name);
        }
    });
    // Confined to an arena: the same, and the efficiency trial ends.
    if let Ok(confined) = &c.confined {
        confined(1 << 20, &mut |a: &mut dyn Alloc| {
            let mut a = Checked(a);
            let mut live = Live::new();
            assert_eq!(exec(&mut a, &mut live, &w.timed), 0);
            free_all(&mut a, &mut live);
            let e = race::efficiency_trial(&mut a, 1 << 20, 1);
            assert!(e > 0.3 && e <= 1.0, "{}: efficiency {e}", c.name);
        });
    }
}

#[test]
fn the_threads_workload_frees_every_block_on_every_thread_safe_contestant() {
    for c in contestants() {
        if let Ok(run) = &c.threads {
            let r = run(&race::Threads::new(3, 300));
            assert_eq!(r.failed, 0, "{}", c.name);
        }
    }
}

#[test]
fn every_contestant_gives_every_block_its_own_memory() {
    for c in contestants() {
        check(&c);
    }
}
