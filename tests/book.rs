//! Checks that hold the book's pages and the chapter crates together.
//!
//! mdBook forgives too much: an `{{#include}}` of a missing file only logs an
//! error and leaves the directive in the page, and an anchor that does not
//! exist gives a silently empty code block. These tests turn every such slip
//! into a failure, build the whole book, and make sure the Rust on its pages
//! is always included from crates that compile and are tested.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use mdbook_driver::MDBook;
use mdbook_driver::book::BookItem;

/// How deep `{{#include}}`s of Markdown files may nest (mdBook's own limit).
const MAX_INCLUDE_DEPTH: usize = 10;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown sources (`src` in `book.toml`).
fn book_dir() -> PathBuf {
    repo_root().join("book")
}

/// Fails the test with every problem found, one per line.
fn report(what: &str, problems: &[String]) {
    if !problems.is_empty() {
        let mut msg = format!("{what}: {} problem(s)\n", problems.len());
        for p in problems {
            let _ = writeln!(msg, "  - {p}");
        }
        panic!("{msg}");
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Shows a path relative to the repository root.
fn show(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------
// SUMMARY.md
// ---------------------------------------------------------------------------

/// The pages `SUMMARY.md` links to, relative to `book/`, in order. Draft
/// chapters (`[Title]()`) have no page and are left out.
fn summary_pages() -> Vec<PathBuf> {
    let summary = read(&book_dir().join("SUMMARY.md"));
    let mut pages = Vec::new();
    for line in summary.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(close) = after.find(')') else { break };
            let target = after[..close].trim();
            if !target.is_empty() {
                pages.push(PathBuf::from(target));
            }
            rest = &after[close + 1..];
        }
    }
    pages
}

#[test]
fn every_page_in_the_summary_exists() {
    let pages = summary_pages();
    assert!(!pages.is_empty(), "SUMMARY.md lists no pages");
    let problems: Vec<String> = pages
        .iter()
        .filter(|p| !book_dir().join(p).is_file())
        .map(|p| {
            format!(
                "SUMMARY.md lists book/{}, which does not exist",
                p.display()
            )
        })
        .collect();
    report("pages listed in SUMMARY.md", &problems);
}

/// The chapter crates: directories `chapters/chNN-*` holding a `Cargo.toml`.
fn chapter_crates() -> Vec<String> {
    let dir = repo_root().join("chapters");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .filter(|name| is_chapter_name(name))
        .collect();
    names.sort();
    names
}

/// `ch` + two digits + `-` + a name, like `ch03-free-list`.
fn is_chapter_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 5
        && name.starts_with("ch")
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
        && b[4] == b'-'
}

#[test]
fn every_chapter_crate_has_its_page() {
    let listed: BTreeSet<PathBuf> = summary_pages().into_iter().collect();
    let crates = chapter_crates();
    assert!(!crates.is_empty(), "no chapter crates found in chapters/");
    let problems: Vec<String> = crates
        .iter()
        .filter(|name| !listed.contains(Path::new(&format!("{name}.md"))))
        .map(|name| format!("chapters/{name} has no page: SUMMARY.md must list book/{name}.md"))
        .collect();
    report("chapter crates without a page", &problems);
}

// ---------------------------------------------------------------------------
// Directives: {{#include}}, {{#rustdoc_include}}, ...
// ---------------------------------------------------------------------------

/// One `{{#kind args}}` directive found in a Markdown file.
#[derive(Debug)]
struct Directive {
    kind: String,
    /// Everything after the kind, trimmed.
    args: String,
    /// 1-based line of the opening `{{`.
    line: usize,
}

/// Finds directives the way mdBook's link preprocessor does: `{{`, optional
/// whitespace, `#`, a kind made of `[A-Za-z0-9_]`, whitespace, then anything
/// but `}` up to `}}`. A directive escaped with a backslash (`\{{#...}}`) is
/// shown literally by mdBook and is skipped here.
fn find_directives(text: &str) -> Vec<Directive> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].find("{{") {
        let start = i + off;
        i = start + 1;
        if start > 0 && bytes[start - 1] == b'\\' {
            // Escaped: mdBook consumes through the last `}}` on that line.
            let eol = text[start..].find('\n').map_or(text.len(), |n| start + n);
            if let Some(close) = text[start..eol].rfind("}}") {
                i = start + close + 2;
            }
            continue;
        }
        let mut j = start + 2;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes.get(j) != Some(&b'#') {
            continue;
        }
        j += 1;
        let kind_start = j;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        if j == kind_start || !bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
            continue;
        }
        let kind = &text[kind_start..j];
        let args_start = j;
        while j < bytes.len() && bytes[j] != b'}' {
            j += 1;
        }
        if !text[j..].starts_with("}}") || text[args_start..j].trim().is_empty() {
            continue;
        }
        found.push(Directive {
            kind: kind.to_owned(),
            args: text[args_start..j].trim().to_owned(),
            line: text[..start].matches('\n').count() + 1,
        });
        i = j + 2;
    }
    found
}

/// The directives a page escapes (`\{{#include x.rs}}`) to show them as
/// text, each without its backslash and up to its first `}}`.
fn escaped_directives(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("\\{{#") {
        let from = &rest[at + 1..];
        let end = from.find("}}").map_or(from.len(), |n| n + 2);
        found.push(from[..end].to_owned());
        rest = &from[2..];
    }
    found
}

/// Each `{{#` on a line of HTML, up to its first `}}`.
fn directives_in_html(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("{{#") {
        let from = &rest[at..];
        let end = from.find("}}").map_or(from.len(), |n| n + 2);
        found.push(&from[..end]);
        rest = &from[3..];
    }
    found
}

/// What part of a file an include takes.
#[derive(Debug, PartialEq)]
enum Part {
    Whole,
    Anchor(String),
    /// 0-based, end exclusive, as mdBook computes them.
    Lines(usize, Option<usize>),
}

/// Splits `path:anchor`, `path:N`, `path:N:`, `path::M`, `path:N:M` exactly as
/// mdBook does. `:N` alone takes the single line N.
fn parse_target(args: &str) -> (PathBuf, Part) {
    let file_arg = args.split_whitespace().next().unwrap_or("");
    let (path, rest) = match file_arg.split_once(':') {
        Some((p, r)) => (p, Some(r)),
        None => (file_arg, None),
    };
    let Some(rest) = rest else {
        return (PathBuf::from(path), Part::Whole);
    };
    let mut parts = rest.splitn(3, ':');
    let first = parts.next().unwrap_or("");
    let start = if let Ok(n) = first.parse::<usize>() {
        Some(n.saturating_sub(1))
    } else if first.is_empty() {
        None
    } else {
        return (PathBuf::from(path), Part::Anchor(first.to_owned()));
    };
    let end = parts.next().map(str::parse::<usize>);
    let part = match (start, end) {
        (Some(s), Some(Ok(e))) => Part::Lines(s, Some(e)),
        (Some(s), Some(Err(_))) => Part::Lines(s, None),
        (Some(s), None) => Part::Lines(s, Some(s + 1)),
        (None, Some(Ok(e))) => Part::Lines(0, Some(e)),
        (None, _) => Part::Whole,
    };
    (PathBuf::from(path), part)
}

/// The anchor name on a line holding `marker` (`ANCHOR:` or `ANCHOR_END:`).
fn anchor_on_line<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    let rest = line[at + marker.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The text an include takes from `content`, or why it cannot.
fn included_text(content: &str, part: &Part) -> Result<String, String> {
    match part {
        Part::Whole => Ok(content.to_owned()),
        Part::Lines(start, end) => {
            let lines: Vec<&str> = content.lines().collect();
            let end = end.unwrap_or(lines.len());
            if *start >= lines.len() || end > lines.len() || *start >= end {
                return Err(format!(
                    "lines {}..={end} are not in the file, which has {} lines",
                    start + 1,
                    lines.len()
                ));
            }
            Ok(lines[*start..end].join("\n"))
        }
        Part::Anchor(name) => {
            let mut inside = false;
            let mut taken = Vec::new();
            for line in content.lines() {
                if inside {
                    if anchor_on_line(line, "ANCHOR_END:") == Some(name.as_str()) {
                        return Ok(taken.join("\n"));
                    }
                    if anchor_on_line(line, "ANCHOR:").is_none()
                        && anchor_on_line(line, "ANCHOR_END:").is_none()
                    {
                        taken.push(line);
                    }
                } else if anchor_on_line(line, "ANCHOR:") == Some(name.as_str()) {
                    inside = true;
                }
            }
            if inside {
                Err(format!("`ANCHOR: {name}` has no `ANCHOR_END: {name}`"))
            } else {
                Err(format!("the file has no `ANCHOR: {name}`"))
            }
        }
    }
}

/// Checks every directive in `file`, and in the Markdown files it includes.
fn check_directives(file: &Path, text: &str, depth: usize, problems: &mut Vec<String>) {
    let dir = file.parent().expect("a file has a parent directory");
    for d in find_directives(text) {
        let at = format!(
            "{}:{}: `{{{{#{} {}}}}}`",
            show(file),
            d.line,
            d.kind,
            d.args
        );
        match d.kind.as_str() {
            "include" | "rustdoc_include" | "playground" => {}
            "title" => continue,
            other => {
                problems.push(format!("{at}: mdBook has no `{other}` directive"));
                continue;
            }
        }
        let (path, part) = parse_target(&d.args);
        let part = if d.kind == "playground" {
            Part::Whole
        } else {
            part
        };
        let target = dir.join(&path);
        let content = match fs::read_to_string(&target) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{at}: cannot read {}: {e}", show(&target)));
                continue;
            }
        };
        match included_text(&content, &part) {
            Err(why) => problems.push(format!("{at}: {why}")),
            Ok(taken) if taken.trim().is_empty() => {
                problems.push(format!("{at}: includes nothing but whitespace"));
            }
            Ok(taken) => {
                // A snapshot's body starts right after insta's header, which
                // ends with `---`: an include that starts anywhere else
                // shows header lines in the book, or cuts the body.
                if target.extension().is_some_and(|e| e == "snap")
                    && let Part::Lines(start, _) = part
                    && content.lines().nth(start.wrapping_sub(1)) != Some("---")
                {
                    problems.push(format!(
                        "{at}: the snapshot's header does not end on the line before \
                         the include (accept snapshots with .ci/accept-snapshots)"
                    ));
                }
                if target.extension().is_some_and(|e| e == "md") {
                    if depth >= MAX_INCLUDE_DEPTH {
                        problems.push(format!("{at}: includes nest too deep (a cycle?)"));
                    } else {
                        check_directives(&target, &taken, depth + 1, problems);
                    }
                }
            }
        }
    }
}

/// The Markdown that ends up in the book: every page SUMMARY.md lists, and
/// every Markdown file those pages include (the part they include).
fn markdown_sources() -> Vec<(PathBuf, String)> {
    fn add(file: PathBuf, text: String, depth: usize, out: &mut Vec<(PathBuf, String)>) {
        let dir = file
            .parent()
            .expect("a file has a parent directory")
            .to_owned();
        out.push((file, text.clone()));
        if depth >= MAX_INCLUDE_DEPTH {
            return;
        }
        for d in find_directives(&text) {
            if d.kind != "include" {
                continue;
            }
            let (path, part) = parse_target(&d.args);
            let target = dir.join(path);
            if target.extension().is_some_and(|e| e == "md") {
                let taken = fs::read_to_string(&target)
                    .ok()
                    .and_then(|c| included_text(&c, &part).ok());
                if let Some(taken) = taken {
                    add(target, taken, depth + 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for page in summary_pages() {
        let file = book_dir().join(&page);
        if let Ok(text) = fs::read_to_string(&file) {
            add(file, text, 0, &mut out);
        }
    }
    out
}

#[test]
fn every_include_points_at_real_content() {
    let mut problems = Vec::new();
    for page in summary_pages() {
        let file = book_dir().join(&page);
        if let Ok(text) = fs::read_to_string(&file) {
            check_directives(&file, &text, 0, &mut problems);
        }
    }
    report("includes in the book", &problems);
}

// ---------------------------------------------------------------------------
// Code blocks
// ---------------------------------------------------------------------------

/// A fenced code block in a Markdown file.
#[derive(Debug)]
struct CodeBlock {
    /// The info string after the fence, trimmed.
    info: String,
    body: Vec<String>,
    /// 1-based line of the opening fence.
    line: usize,
}

/// The fence at the start of `line` (after indentation), as (char, length).
fn fence(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let c = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

fn code_blocks(text: &str) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let mut open: Option<(char, usize, CodeBlock)> = None;
    for (i, line) in text.lines().enumerate() {
        match open.take() {
            None => {
                if let Some((c, n)) = fence(line) {
                    let info = line.trim_start()[n..].trim().to_owned();
                    // A backtick fence's info string may not contain a backtick.
                    if c == '`' && info.contains('`') {
                        continue;
                    }
                    let block = CodeBlock {
                        info,
                        body: Vec::new(),
                        line: i + 1,
                    };
                    open = Some((c, n, block));
                }
            }
            Some((c, n, mut block)) => {
                let closes = fence(line)
                    .is_some_and(|(c2, n2)| c2 == c && n2 >= n && line.trim()[n2..].is_empty());
                if closes {
                    blocks.push(block);
                } else {
                    block.body.push(line.to_owned());
                    open = Some((c, n, block));
                }
            }
        }
    }
    // An unclosed block runs to the end of the page.
    if let Some((_, _, block)) = open {
        blocks.push(block);
    }
    blocks
}

/// The language of a block: the first word of its info string, up to a comma.
fn language(info: &str) -> &str {
    info.split(|c: char| c == ',' || c.is_whitespace())
        .next()
        .unwrap_or("")
}

/// Rust on the pages is always included from a crate that builds and is
/// tested, never pasted. Output and shell blocks (`text`, `console`, `sh`, ...)
/// may hold anything, but must say what they are: a block with no language
/// would be guessed at by the highlighter and could hide pasted Rust.
#[test]
fn rust_code_is_included_never_pasted() {
    let mut problems = Vec::new();
    for (file, text) in markdown_sources() {
        for block in code_blocks(&text) {
            let at = format!("{}:{}", show(&file), block.line);
            match language(&block.info) {
                "" => problems.push(format!(
                    "{at}: a code block without a language; name one (`text`, `console`, ...)"
                )),
                "rust" => {
                    let lines: Vec<&str> = block
                        .body
                        .iter()
                        .map(|l| l.trim())
                        .filter(|l| !l.is_empty())
                        .collect();
                    if lines.is_empty() {
                        problems.push(format!("{at}: an empty ```rust block"));
                    }
                    for l in lines {
                        let is_include = (l.starts_with("{{#include ")
                            || l.starts_with("{{#rustdoc_include "))
                            && l.ends_with("}}");
                        if !is_include {
                            problems.push(format!(
                                "{at}: ```rust blocks hold only {{{{#include}}}} or \
                                 {{{{#rustdoc_include}}}} lines, found `{l}`"
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    report("code blocks in the book", &problems);
}

// ---------------------------------------------------------------------------
// The build
// ---------------------------------------------------------------------------

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            html_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

/// Builds the book with the pinned mdBook library, into a directory of its own
/// so it never disturbs a running `mdbook serve` (which uses `target/book`).
///
/// Any `{{#` left in the HTML fails, except where a page escaped a directive
/// on purpose (`\{{#include ...}}`) to show the syntax itself.
#[test]
fn the_book_builds_with_every_directive_expanded() {
    let mut book = MDBook::load(repo_root()).expect("mdBook cannot load the book");

    // The pages mdBook loaded are the pages SUMMARY.md lists, as read above.
    let loaded: Vec<PathBuf> = book
        .iter()
        .filter_map(|item| match item {
            BookItem::Chapter(ch) => ch.source_path.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        loaded,
        summary_pages(),
        "mdBook and tests/book.rs read SUMMARY.md differently"
    );

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("book-html");
    if out.exists() {
        fs::remove_dir_all(&out).expect("remove the previous test build");
    }
    book.config.build.build_dir = out.clone();
    book.build().expect("mdBook cannot build the book");

    let mut pages = Vec::new();
    html_files(&out, &mut pages);
    let mut problems = Vec::new();
    for page in &loaded {
        let html = out.join(page).with_extension("html");
        if !html.is_file() {
            problems.push(format!("book/{} was not rendered", page.display()));
        }
    }
    // What the pages show literally on purpose.
    let escaped: BTreeSet<String> = loaded
        .iter()
        .filter_map(|page| fs::read_to_string(book_dir().join(page)).ok())
        .flat_map(|text| escaped_directives(&text))
        .collect();
    // print.html repeats every page; each problem is reported once, per page.
    for html in pages.iter().filter(|p| !p.ends_with("print.html")) {
        let text = read(html);
        for (n, line) in text.lines().enumerate() {
            for directive in directives_in_html(line) {
                if !escaped.contains(directive) {
                    problems.push(format!(
                        "{}:{}: directive left unexpanded: {directive}",
                        html.strip_prefix(&out).unwrap_or(html).display(),
                        n + 1,
                    ));
                }
            }
        }
    }
    report("the built book", &problems);
}

// ---------------------------------------------------------------------------
// The checks' own parsers
// ---------------------------------------------------------------------------

#[test]
fn directive_parser_reads_what_mdbook_reads() {
    let text = "a {{#include ../x.rs:demo}} b\n\\{{#include shown.rs}}\n\
                {{ #rustdoc_include y.rs:3:9 }} {{#include}} {{not}}\n{{#title T}}";
    let found: Vec<(String, String, usize)> = find_directives(text)
        .into_iter()
        .map(|d| (d.kind, d.args, d.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("include".into(), "../x.rs:demo".into(), 1),
            ("rustdoc_include".into(), "y.rs:3:9".into(), 3),
            ("title".into(), "T".into(), 4),
        ]
    );

    assert_eq!(escaped_directives(text), vec!["{{#include shown.rs}}"]);
    assert_eq!(
        directives_in_html("<p>{{#include a}} and {{#b c}}</p><p>{{#open"),
        vec!["{{#include a}}", "{{#b c}}", "{{#open"]
    );

    assert_eq!(parse_target("f.rs"), ("f.rs".into(), Part::Whole));
    assert_eq!(
        parse_target("f.rs:name"),
        ("f.rs".into(), Part::Anchor("name".into()))
    );
    assert_eq!(
        parse_target("f.rs:4"),
        ("f.rs".into(), Part::Lines(3, Some(4)))
    );
    assert_eq!(
        parse_target("f.rs:4:"),
        ("f.rs".into(), Part::Lines(3, None))
    );
    assert_eq!(
        parse_target("f.rs::2"),
        ("f.rs".into(), Part::Lines(0, Some(2)))
    );
    assert_eq!(
        parse_target("f.rs:2:3"),
        ("f.rs".into(), Part::Lines(1, Some(3)))
    );

    let src = "a\n// ANCHOR: all\nb\n// ANCHOR: inner\nc\n// ANCHOR_END: inner\n\
               // ANCHOR_END: all\n// ANCHOR: empty\n\n// ANCHOR_END: empty\n";
    assert_eq!(
        included_text(src, &Part::Anchor("all".into())),
        Ok("b\nc".into())
    );
    assert_eq!(
        included_text(src, &Part::Anchor("inner".into())),
        Ok("c".into())
    );
    assert_eq!(
        included_text(src, &Part::Anchor("empty".into())),
        Ok(String::new())
    );
    assert!(included_text(src, &Part::Anchor("al".into())).is_err());
    assert!(included_text("// ANCHOR: open\nx\n", &Part::Anchor("open".into())).is_err());
    assert_eq!(included_text(src, &Part::Lines(2, Some(3))), Ok("b".into()));
    assert!(included_text(src, &Part::Lines(20, Some(30))).is_err());
}

#[test]
fn code_block_parser_finds_fences_and_languages() {
    let text = "```rust,ignore\n{{#include a.rs}}\n```\n\n~~~~text\n```\nnot a fence end\n~~~~\n\
                ```\nuntagged\n```\n";
    let blocks = code_blocks(text);
    let seen: Vec<(&str, usize, usize)> = blocks
        .iter()
        .map(|b| (language(&b.info), b.body.len(), b.line))
        .collect();
    assert_eq!(seen, vec![("rust", 1, 1), ("text", 2, 5), ("", 1, 9)]);
    assert!(is_chapter_name("ch03-free-list"));
    assert!(!is_chapter_name("chapter-one"));
}
