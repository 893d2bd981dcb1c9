//! Writes the benchmark tables the book shows, from criterion's results.
//!
//! ```text
//! cargo bench -p ch03-free-list
//! cargo run -p allocator-book --bin numbers -- ch03-free-list
//! ```
//!
//! For each chapter named, reads `target/criterion/<group>/<bench>/` for
//! every group whose name starts with the chapter's number (`ch03 ...`) and
//! writes `book/numbers/<chapter>.md`: the median time per operation of
//! each benchmark and its ratio to the system allocator (or to the group's
//! first row) measured in the same run.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The text after `"key":` in a JSON document, up to the next `,` or `}`.
fn json_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_matches('"'))
}

struct Row {
    group: String,
    bench: String,
    ns_per_op: f64,
}

fn read_bench(dir: &Path) -> Option<Row> {
    let bench = fs::read_to_string(dir.join("new/benchmark.json")).ok()?;
    let est = fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let median_at = est.find("\"median\"")?;
    let median: f64 = json_field(&est[median_at..], "point_estimate")?
        .parse()
        .ok()?;
    let elements: f64 = json_field(&bench, "Elements")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1.0);
    // A benchmark with a parameter has no function name, only a value.
    let name = match json_field(&bench, "function_id")? {
        "null" => format!("n = {}", json_field(&bench, "value_str")?),
        f => f.to_string(),
    };
    Some(Row {
        group: json_field(&bench, "group_id")?.to_string(),
        bench: name,
        ns_per_op: median / elements,
    })
}

fn table(chapter: &str, criterion: &Path) -> Result<String, String> {
    let prefix = format!("{} ", &chapter[..4]);
    let mut rows = Vec::new();
    let groups = fs::read_dir(criterion).map_err(|e| format!("{}: {e}", criterion.display()))?;
    for group in groups.flatten() {
        if !group.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        for bench in fs::read_dir(group.path()).into_iter().flatten().flatten() {
            rows.extend(read_bench(&bench.path()));
        }
    }
    if rows.is_empty() {
        return Err(format!(
            "no results for {chapter}: run `cargo bench -p {chapter}` first"
        ));
    }
    // By group, then by name, with numbers in numeric order (n = 10 < n = 100).
    rows.sort_by_key(|r| {
        let n: Option<u64> = r.bench.strip_prefix("n = ").and_then(|n| n.parse().ok());
        (r.group.clone(), n, r.bench.clone())
    });
    let mut out = String::from(
        "| benchmark | allocator | median per operation | relative |\n|---|---|--:|--:|\n",
    );
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    for g in groups {
        let in_group: Vec<&Row> = rows.iter().filter(|r| r.group == g).collect();
        let base = in_group
            .iter()
            .find(|r| r.bench == "system malloc")
            .unwrap_or(&in_group[0])
            .ns_per_op;
        for r in in_group {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} ns | {:.2}× |",
                r.group.trim_start_matches(&prefix),
                r.bench,
                r.ns_per_op,
                r.ns_per_op / base
            );
        }
    }
    let _ = write!(
        out,
        "\nRecorded {} on {}, with `cargo bench -p {chapter}` and then \
         `cargo run -p allocator-book --bin numbers -- {chapter}`. Times vary \
         from machine to machine and from run to run; ratios within one group \
         are measured in the same run.\n",
        alloc_suite::recorded::today(),
        alloc_suite::recorded::machine()
    );
    Ok(out)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let criterion = root.join("target/criterion");
    let chapters: Vec<String> = std::env::args().skip(1).collect();
    if chapters.is_empty() {
        eprintln!("usage: numbers <chapter crate>...   e.g. numbers ch03-free-list");
        std::process::exit(2);
    }
    for chapter in chapters {
        match table(&chapter, &criterion) {
            Ok(t) => {
                let path = root.join("book/numbers").join(format!("{chapter}.md"));
                fs::write(&path, t).expect("write the table");
                println!("wrote {}", path.display());
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}
