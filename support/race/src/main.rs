//! `cargo run --release -p race -- [--quick] [reference] [scaling]`
//!
//! Races every contestant on the workloads named (all of them if none),
//! rounds interleaved, and writes the tables and plots the book includes:
//! `book/numbers/race-*.md` and `race-*.svg`. With `--quick` (what CI
//! runs) the workloads are small, one round, and everything is written to
//! `target/race-quick/` instead, so the recorded numbers stay as recorded.

use race::{Contestant, Times, Workload, contestants, race, reference_workload, scaling_workload};
use std::path::{Path, PathBuf};

/// Sizes of the scaling workload: live blocks.
const SCALES: [usize; 3] = [1_000, 10_000, 100_000];

struct Plan {
    quick: bool,
    rounds: usize,
    out: PathBuf,
    command: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut names: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        names = vec!["reference", "scaling"];
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plan = Plan {
        quick,
        rounds: if quick { 1 } else { 5 },
        out: if quick {
            root.join("target/race-quick")
        } else {
            root.join("book/numbers")
        },
        command: format!(
            "cargo run --release -p race --{}",
            args.iter().map(|a| format!(" {a}")).collect::<String>()
        ),
    };
    std::fs::create_dir_all(&plan.out).expect("output directory");
    let all = contestants();
    for name in names {
        match name {
            "reference" => reference(&all, &plan),
            "scaling" => scaling(&all, &plan),
            other => {
                eprintln!("no workload named {other}: try reference, scaling");
                std::process::exit(2);
            }
        }
    }
}

fn progress(what: &str) {
    eprintln!("race: {what}");
}

/// The line under every table: when, where, how.
fn recorded(plan: &Plan, note: &str) -> String {
    format!(
        "\nRecorded {} on {}, with `{}`{}. Rounds interleaved ({} of each); \
         the ratios are from the same run. Slow contestants (the book's \
         chapters so far and linked_list_allocator, whose every operation \
         walks a list) run fewer operations, as the last column says.\n",
        alloc_suite::recorded::today(),
        alloc_suite::recorded::machine(),
        plan.command,
        note,
        plan.rounds
    )
}

fn write(plan: &Plan, name: &str, text: &str) {
    let path = plan.out.join(name);
    std::fs::write(&path, text).expect("write the results");
    eprintln!("race: wrote {}", path.display());
}

fn reference(all: &[Contestant], plan: &Plan) {
    let (fast, slow) = if plan.quick {
        (
            reference_workload(20_000, 1_000),
            reference_workload(5_000, 1_000),
        )
    } else {
        (
            reference_workload(1_000_000, 10_000),
            reference_workload(50_000, 10_000),
        )
    };
    let everyone: Vec<&Contestant> = all.iter().collect();
    let times = race(&everyone, &fast, &slow, plan.rounds, &mut progress);
    let mut md = race::table(all, &times);
    md += &recorded(plan, "");
    write(plan, "race-reference.md", &md);
    let rows: Vec<(&str, f64, bool)> = all
        .iter()
        .zip(&times)
        .map(|(c, t)| (c.name, (t.median() * 10.0).round() / 10.0, c.book))
        .collect();
    let svg = allockit::svg::log_bars(
        "The reference workload: nanoseconds per operation (log scale)",
        &rows,
        "ns",
    );
    write(plan, "race-reference.svg", &svg);
}

fn scaling(all: &[Contestant], plan: &Plan) {
    let scales: &[usize] = if plan.quick { &SCALES[..2] } else { &SCALES };
    let mut columns: Vec<Vec<Times>> = Vec::new();
    for &live in scales {
        let (fast, slow): (Workload, Workload) = if plan.quick {
            (
                scaling_workload(live, 10_000),
                scaling_workload(live, 1_000),
            )
        } else {
            (
                scaling_workload(live, 200_000),
                scaling_workload(live, 5_000),
            )
        };
        // At 100,000 live blocks, filling the heap of a list-walking
        // allocator takes minutes (every malloc walks every block): one
        // round for them.
        let rounds = if live >= 100_000 { 1 } else { plan.rounds };
        let (quick_ones, slow_ones): (Vec<usize>, Vec<usize>) =
            (0..all.len()).partition(|&i| !all[i].slow);
        let mut col = vec![Times::default(); all.len()];
        let fast_list: Vec<&Contestant> = quick_ones.iter().map(|&i| &all[i]).collect();
        let slow_list: Vec<&Contestant> = slow_ones.iter().map(|&i| &all[i]).collect();
        for (list, idx, r) in [
            (&fast_list, &quick_ones, plan.rounds),
            (&slow_list, &slow_ones, rounds),
        ] {
            let times = race(list, &fast, &slow, r, &mut progress);
            for (&i, t) in idx.iter().zip(times) {
                col[i] = t;
            }
        }
        columns.push(col);
    }
    // The table: one column per heap size, and how much dearer an
    // operation is on the biggest heap than on the smallest.
    let mut md = String::from("| allocator |");
    for &live in scales {
        md += &format!(" {live} live (ns/op) |");
    }
    md += " biggest / smallest |\n|---|";
    md += &"--:|".repeat(scales.len() + 1);
    md.push('\n');
    for (i, c) in all.iter().enumerate() {
        let name = if c.book {
            format!("**{}**", c.name)
        } else {
            c.name.to_string()
        };
        md += &format!("| {name} |");
        for col in &columns {
            md += &format!(" {} |", race::ns(col[i].median()));
        }
        let growth = columns.last().unwrap()[i].median() / columns[0][i].median();
        md += &format!(" {growth:.1}× |\n");
    }
    md += &recorded(
        plan,
        "; the heap is filled first, untimed, then operations that keep about that many blocks live are timed; \
         at 100000 live the slow contestants ran one round",
    );
    write(plan, "race-scaling.md", &md);
    let xs: Vec<String> = scales.iter().map(|l| format!("{l} live")).collect();
    let xs: Vec<&str> = xs.iter().map(String::as_str).collect();
    let series: Vec<(&str, Vec<Option<f64>>, bool)> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = columns
                .iter()
                .map(|col| Some((col[i].median() * 10.0).round() / 10.0))
                .collect();
            (c.name, v, c.book)
        })
        .collect();
    let svg = allockit::svg::lines(
        "Nanoseconds per operation as the heap grows (log scale)",
        &xs,
        &series,
        "ns",
    );
    write(plan, "race-scaling.svg", &svg);
}
