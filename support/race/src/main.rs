//! `cargo run --release -p race -- [--quick] [WORKLOAD...]`
//!
//! Races every contestant on the workloads named (all of them if none:
//! reference, scaling, realloc, big, fragmentation, threads, efficiency,
//! footprint), rounds interleaved, and writes the tables and plots the
//! book includes: `book/numbers/race-*.md` and `race-*.svg`. With
//! `--quick` (what CI runs) the workloads are small, one round, and
//! everything is written to `target/race-quick/` instead, so the recorded
//! numbers stay as recorded.

use race::{
    Contestant, Live, Threads, Times, Workload, big_workload, contestants, efficiency_trial, exec,
    fragmentation_workload, free_all, free_workload, peak_live, race, race_threads,
    realloc_workload, reference_workload, scaling_workload,
};
use std::path::{Path, PathBuf};

/// Every workload and measure, in the order a full run does them.
const ALL: [&str; 9] = [
    "reference",
    "scaling",
    "free",
    "realloc",
    "big",
    "fragmentation",
    "threads",
    "efficiency",
    "footprint",
];

/// The slow contestants that run at 100,000 live blocks. Filling a heap
/// whose every `malloc` walks every block to 100,000 blocks walks five
/// billion headers, minutes for each contestant: chapter 9 stands for the
/// chapters that walk every chunk (3 to 10, all the same walk), and the
/// slow ones that do not walk every chunk to fill run too.
const SLOW_AT_100K: [&str; 3] = [
    "linked_list_allocator",
    "ch09 LD_PRELOAD",
    "ch11 address order",
];

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
    if args.first().map(String::as_str) == Some(CHILD) {
        footprint_child(&args[1], quick);
        return;
    }
    let mut names: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        names = ALL.to_vec();
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
            "scaling" => scaling(&all, &plan, &SCALING),
            "free" => scaling(&all, &plan, &FREE),
            "realloc" => realloc(&all, &plan),
            "big" => big(&all, &plan),
            "fragmentation" => fragmentation(&all, &plan),
            "threads" => threads(&all, &plan),
            "efficiency" => efficiency(&all, &plan),
            "footprint" => footprint(&all, &plan),
            other => {
                eprintln!("no workload named {other}: try {}", ALL.join(", "));
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
        "\nRecorded {} on {}, with `{}`{}.",
        alloc_suite::recorded::today(),
        alloc_suite::recorded::machine(),
        plan.command,
        note,
    )
}

/// The line under a table of times: [`recorded`], and how the rounds ran.
fn recorded_times(plan: &Plan, note: &str) -> String {
    format!(
        "{} Rounds interleaved ({} of each); \
         the ratios are from the same run. Slow contestants (those whose \
         every operation walks a list: linked_list_allocator and most of the \
         book's heaps) run fewer operations, as the last \
         column says.\n",
        recorded(plan, note),
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
    timed(
        all,
        plan,
        "reference",
        "The reference workload",
        (&fast, &slow),
        "",
    );
}

fn realloc(all: &[Contestant], plan: &Plan) {
    let (fast, slow) = if plan.quick {
        (realloc_workload(20_000, 500), realloc_workload(5_000, 500))
    } else {
        (
            realloc_workload(1_000_000, 1_000),
            realloc_workload(100_000, 1_000),
        )
    };
    timed(
        all,
        plan,
        "realloc",
        "Blocks that grow",
        (&fast, &slow),
        "; chapters 3 to 5 have no `realloc`: for them the race allocates, copies and frees",
    );
}

fn big(all: &[Contestant], plan: &Plan) {
    let (fast, slow) = if plan.quick {
        (big_workload(1_000, 16), big_workload(500, 16))
    } else {
        (big_workload(20_000, 16), big_workload(5_000, 16))
    };
    timed(all, plan, "big", "Big blocks", (&fast, &slow), "");
}

fn fragmentation(all: &[Contestant], plan: &Plan) {
    // The same workload for everyone: its point is the heap it leaves.
    let w = if plan.quick {
        fragmentation_workload(500, 3)
    } else {
        fragmentation_workload(2_000, 5)
    };
    timed(all, plan, "fragmentation", "Fragmentation", (&w, &w), "");
}

/// Races everyone on `fast` (`slow` for the slow ones) and writes
/// `race-<file>.md` and its plot.
fn timed(
    all: &[Contestant],
    plan: &Plan,
    file: &str,
    title: &str,
    (fast, slow): (&Workload, &Workload),
    note: &str,
) {
    let everyone: Vec<&Contestant> = all.iter().collect();
    let times = race(&everyone, fast, slow, plan.rounds, &mut progress);
    let mut md = race::table(all, &times);
    md += &recorded_times(plan, note);
    write(plan, &format!("race-{file}.md"), &md);
    let rows: Vec<(&str, f64, bool)> = all
        .iter()
        .zip(&times)
        .map(|(c, t)| (c.name, (t.median() * 10.0).round() / 10.0, c.book))
        .collect();
    let svg = allockit::svg::log_bars(
        &format!("{title}: nanoseconds per operation (log scale)"),
        &rows,
        "ns",
    );
    write(plan, &format!("race-{file}.svg"), &svg);
}

/// A workload run at each of the [`SCALES`], and how its table and plot
/// are written.
struct Scaled {
    /// The files' name: `race-<file>.md` and `.svg`.
    file: &'static str,
    /// The workload at `live` blocks, with `n` for its size.
    make: fn(usize, usize) -> Workload,
    /// `n` for the fast and the slow contestants, quick and full.
    quick: (usize, usize),
    full: (usize, usize),
    /// What the table's columns count, and the plot's title.
    unit: &'static str,
    title: &'static str,
    note: &'static str,
}

const SCALING: Scaled = Scaled {
    file: "scaling",
    make: scaling_workload,
    quick: (10_000, 1_000),
    full: (200_000, 5_000),
    unit: "ns/op",
    title: "Nanoseconds per operation as the heap grows (log scale)",
    note: "; the heap is filled first, untimed, then operations that keep about that many blocks live are timed; \
           at 100000 live the slow contestants that ran, ran one round",
};

const FREE: Scaled = Scaled {
    file: "free",
    make: free_workload,
    quick: (100, 10),
    full: (2_000, 50),
    unit: "ns/free",
    title: "Nanoseconds per free as the heap grows (log scale)",
    note: "; the heap is filled first, untimed, then batches of 100 frees of blocks picked at random are timed \
           (one clock reading per batch), each followed by 100 new blocks, untimed; \
           at 100000 live the slow contestants that ran, ran one round",
};

fn scaling(all: &[Contestant], plan: &Plan, how: &Scaled) {
    let scales: &[usize] = if plan.quick { &SCALES[..2] } else { &SCALES };
    let mut columns: Vec<Vec<Times>> = Vec::new();
    for &live in scales {
        let (f, s) = if plan.quick { how.quick } else { how.full };
        let (fast, slow): (Workload, Workload) = ((how.make)(live, f), (how.make)(live, s));
        // At 100,000 live blocks, filling the heap of a list-walking
        // allocator takes minutes (every malloc walks every block): one
        // round for them.
        let rounds = if live >= 100_000 { 1 } else { plan.rounds };
        let (quick_ones, slow_ones): (Vec<usize>, Vec<usize>) =
            (0..all.len()).partition(|&i| !all[i].slow);
        let slow_ones: Vec<usize> = slow_ones
            .into_iter()
            .filter(|&i| live < 100_000 || SLOW_AT_100K.contains(&all[i].name))
            .collect();
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
        md += &format!(" {live} live ({}) |", how.unit);
    }
    md += " largest measured / smallest |\n|---|";
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
            if col[i].ns.is_empty() {
                md += " — |";
            } else {
                md += &format!(" {} |", race::ns(col[i].median()));
            }
        }
        let largest = columns.iter().rev().find(|col| !col[i].ns.is_empty());
        let growth = largest.map_or(f64::NAN, |col| col[i].median()) / columns[0][i].median();
        md += &format!(" {growth:.1}× |\n");
    }
    md += "\n— : not run at 100000 live blocks: filling the heap would take minutes \
           (every `malloc` walks every block); chapter 9 stands for chapters 3 to 10, \
           whose walk is the same.\n";
    md += &recorded_times(plan, how.note);
    write(plan, &format!("race-{}.md", how.file), &md);
    let xs: Vec<String> = scales.iter().map(|l| format!("{l} live")).collect();
    let xs: Vec<&str> = xs.iter().map(String::as_str).collect();
    let series: Vec<(&str, Vec<Option<f64>>, bool)> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = columns
                .iter()
                .map(|col| (!col[i].ns.is_empty()).then(|| (col[i].median() * 10.0).round() / 10.0))
                .collect();
            (c.name, v, c.book)
        })
        .collect();
    let svg = allockit::svg::lines(how.title, &xs, &series, "ns");
    write(plan, &format!("race-{}.svg", how.file), &svg);
}

/// The threads workload's table: the thread-safe contestants (the book's
/// heaps behind one lock), at 2 and 4 threads.
fn threads(all: &[Contestant], plan: &Plan) {
    let (fast, slow) = if plan.quick {
        (10_000, 1_000)
    } else {
        (250_000, 5_000)
    };
    let shared: Vec<&Contestant> = all.iter().filter(|c| c.threads.is_ok()).collect();
    let counts = [2, 4];
    let columns: Vec<Vec<Times>> = counts
        .iter()
        .map(|&n| {
            race_threads(
                &shared,
                &Threads::new(n, fast),
                &Threads::new(n, slow),
                plan.rounds,
                &mut progress,
            )
        })
        .collect();
    let label = |c: &Contestant| {
        if c.book {
            format!("**{} (one lock)**", c.name)
        } else {
            c.name.to_string()
        }
    };
    let mut md = String::from("| allocator |");
    for n in counts {
        md += &format!(" {n} threads (ns/op) | min | max | against glibc |");
    }
    md += " allocations per thread |\n|---|";
    md += &"--:|".repeat(4 * counts.len() + 1);
    md.push('\n');
    for (i, c) in shared.iter().enumerate() {
        md += &format!("| {} |", label(c));
        for col in &columns {
            let t = &col[i];
            md += &format!(
                " {} | {} | {} | {:.2}× |",
                race::ns(t.median()),
                race::ns(t.min()),
                race::ns(t.max()),
                t.median() / col[0].median()
            );
        }
        md += &format!(" {} |\n", columns[0][i].ops / 4);
    }
    md += "\nLeft out:\n\n";
    for c in all {
        if let Err(why) = &c.threads {
            md += &format!("- {}: {why}.\n", c.name);
        }
    }
    md += &recorded_times(
        plan,
        "; time is wall-clock from the moment all threads start to the moment the last one ends, \
         over the operations of all threads together (each allocation and each free is one)",
    );
    write(plan, "race-threads.md", &md);
    let xs: Vec<String> = counts.iter().map(|n| format!("{n} threads")).collect();
    let xs: Vec<&str> = xs.iter().map(String::as_str).collect();
    let names: Vec<String> = shared
        .iter()
        .map(|c| {
            if c.book {
                format!("{} (one lock)", c.name)
            } else {
                c.name.to_string()
            }
        })
        .collect();
    let series: Vec<(&str, Vec<Option<f64>>, bool)> = shared
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = columns
                .iter()
                .map(|col| Some((col[i].median() * 10.0).round() / 10.0))
                .collect();
            (names[i].as_str(), v, c.book)
        })
        .collect();
    let svg = allockit::svg::lines(
        "Threads freeing each other's blocks: nanoseconds per operation, all threads together (log scale)",
        &xs,
        &series,
        "ns",
    );
    write(plan, "race-threads.svg", &svg);
}

/// Heap efficiency: how full a fixed arena gets before the first
/// allocation fails, for every contestant that can be confined to one.
fn efficiency(all: &[Contestant], plan: &Plan) {
    let (arena, trials): (usize, u64) = if plan.quick {
        (256 << 10, 2)
    } else {
        (4 << 20, 5)
    };
    let mut md = format!(
        "| allocator | heap efficiency (mean of {trials}) | lowest | highest | arena |\n|---|--:|--:|--:|---|\n"
    );
    let mut groups: Vec<(&str, Vec<f64>)> = Vec::new();
    for c in all {
        match &c.confined {
            Ok(with) => {
                let mut e: Vec<f64> = Vec::new();
                for t in 0..trials {
                    progress(&format!("efficiency trial {}/{trials}: {}", t + 1, c.name));
                    with(arena, &mut |a| e.push(efficiency_trial(a, arena, 1000 + t)));
                }
                let mean = e.iter().sum::<f64>() / e.len() as f64;
                let lo = e.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = e.iter().copied().fold(0.0, f64::max);
                md += &format!(
                    "| {} | {:.1}% | {:.1}% | {:.1}% | {} KiB |\n",
                    race::name(c),
                    mean * 100.0,
                    lo * 100.0,
                    hi * 100.0,
                    arena >> 10
                );
                groups.push((c.name, vec![(mean * 1000.0).round() / 10.0]));
            }
            Err(why) => md += &format!("| {} | — | — | — | none: {why} |\n", race::name(c)),
        }
    }
    md += &recorded(
        plan,
        &format!(
            "; each trial on a fresh arena, seeds 1000 to {}; efficiency is the bytes live \
             when the first request fails, over the arena's size",
            999 + trials
        ),
    );
    md.push('\n');
    write(plan, "race-efficiency.md", &md);
    let svg = allockit::svg::bars(
        &format!(
            "Heap efficiency in an arena of {} KiB (mean of {trials} trials)",
            arena >> 10
        ),
        &["heap efficiency"],
        &groups,
        "%",
    );
    write(plan, "race-efficiency.svg", &svg);
}

/// The argument that makes this program measure one contestant's
/// footprint in a process of its own.
const CHILD: &str = "--footprint-child";

/// The workload of the footprint measure: the same for everyone.
fn footprint_workload(quick: bool) -> Workload {
    if quick {
        reference_workload(5_000, 1_000)
    } else {
        reference_workload(50_000, 10_000)
    }
}

/// A line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// In a child process: runs the footprint workload on contestant `index`
/// and prints the resident memory before, its peak during the run (KiB),
/// and the peak bytes taken from its memory source (or `-`).
fn footprint_child(index: &str, quick: bool) {
    let all = contestants();
    let c = &all[index.parse::<usize>().expect("a contestant's index")];
    let w = footprint_workload(quick);
    // The race's own bookkeeping, made and touched before measuring.
    let mut live = Live::with_capacity(w.timed.len());
    live.resize(w.timed.len(), (std::ptr::null_mut(), 0));
    live.clear();
    (c.with)(race::arena_for(&w), &mut |a| {
        // Resets the peak resident size to the current one.
        std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
        let before = status_kib("VmRSS:");
        assert_eq!(exec(a, &mut live, &w.timed), 0, "{} ran out", c.name);
        let peak = status_kib("VmHWM:");
        let taken = a.taken();
        free_all(a, &mut live);
        println!(
            "{before} {peak} {}",
            taken.map_or("-".to_string(), |t| t.to_string())
        );
    });
}

/// Peak footprint against peak live bytes, every contestant in a process
/// of its own.
fn footprint(all: &[Contestant], plan: &Plan) {
    let w = footprint_workload(plan.quick);
    let live = peak_live(&w.timed) as f64 / 1024.0;
    // This very program, even if its file was rebuilt since it started.
    let exe = Path::new("/proc/self/exe");
    let mut md = String::from(
        "| allocator | peak live (KiB) | taken from its memory source, peak (KiB) | live / taken | \
         resident growth, peak (KiB) | live / resident growth |\n|---|--:|--:|--:|--:|--:|\n",
    );
    let mut groups: Vec<(&str, Vec<f64>)> = Vec::new();
    for (i, c) in all.iter().enumerate() {
        progress(&format!("footprint, {}: {}", w.name, c.name));
        let mut cmd = std::process::Command::new(exe);
        cmd.args([CHILD, &i.to_string()]);
        if plan.quick {
            cmd.arg("--quick");
        }
        let out = cmd.output().expect("run the footprint child");
        assert!(
            out.status.success(),
            "the footprint child of {} failed",
            c.name
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        let (before, peak): (f64, f64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let resident = peak - before;
        let taken = f[2].parse::<f64>().ok().map(|t| t / 1024.0);
        md += &format!(
            "| {} | {:.0} | {} | {} | {:.0} | {:.1}% |\n",
            race::name(c),
            live,
            taken.map_or("—".into(), |t| format!("{t:.0}")),
            taken.map_or("—".into(), |t| format!("{:.1}%", live / t * 100.0)),
            resident,
            live / resident * 100.0
        );
        groups.push((c.name, vec![live.round(), resident.round()]));
    }
    md += &recorded(
        plan,
        &format!(
            "; the workload: {}; each contestant in a process of its own. Resident growth: the \
             process's peak resident size during the run (`VmHWM` in `/proc/self/status`, reset \
             just before) less its resident size at the start, in pages actually touched; \
             \"taken from its memory source\": the arena break plus mappings of the book's heaps, \
             which the race sees",
            w.name
        ),
    );
    md.push('\n');
    write(plan, "race-footprint.md", &md);
    let svg = allockit::svg::bars(
        &format!("Peak live bytes and peak resident growth, {} (KiB)", w.name),
        &["peak live", "peak resident growth"],
        &groups,
        "KiB",
    );
    write(plan, "race-footprint.svg", &svg);
}
