//! The address space drawn as one column, low addresses at the bottom.
//!
//! A 64-bit address space is almost all empty: drawn to scale, everything a
//! program uses would be a thin line. So each box gets a height that grows
//! only with the logarithm of its size, every unmapped gap is drawn the same
//! short height with its size written in it, and the exact addresses are
//! printed at every boundary.

use crate::{Kind, Layout, Mapping, escape, file_name, human_size};

const WIDTH: f64 = 790.0;
/// Right edge of the address labels.
const ADDR_RIGHT: f64 = 134.0;
const COL_X: f64 = 142.0;
const COL_W: f64 = 330.0;
/// Left edge of the labels for named addresses.
const MARK_X: f64 = 500.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 14.0;
const GAP_H: f64 = 26.0;
const MIN_H: f64 = 20.0;
const MAX_H: f64 = 54.0;
/// Closest two labels for named addresses may be, vertically.
const LINE: f64 = 13.0;
/// Longest title written inside a box, in characters.
const TITLE_MAX: usize = 38;

const BREAK_COLOUR: &str = "#c0392b";
const SBRK_FILL: &str = "#6fa8e8";

fn fill(kind: Kind) -> &'static str {
    match kind {
        Kind::Code => "#f5c26b",
        Kind::ReadOnly => "#fbe3b0",
        Kind::Data => "#f2a07b",
        Kind::Heap => "#a9cdf3",
        Kind::Anon => "#cdb8e6",
        Kind::Library => "#d5d9de",
        Kind::Stack => "#f3a3b6",
        Kind::Kernel => "#aab0b8",
        Kind::Other => "#ececec",
    }
}

/// One box of the column: mappings, part of the heap, or a gap.
struct Band {
    start: usize,
    end: usize,
    title: String,
    /// What the tooltip says: the exact range and permissions.
    detail: String,
    fill: &'static str,
    gap: bool,
    height: f64,
}

impl Band {
    fn gap(start: usize, end: usize) -> Band {
        let size = human_size(end - start);
        let title = if start == 0 {
            format!("unmapped · {size}, from address 0 (null)")
        } else if end > usize::MAX / 2 + 1 {
            format!("{size}: end of user space, the kernel's half")
        } else {
            format!("unmapped · {size}")
        };
        Band {
            start,
            end,
            title,
            detail: format!("{start:#x}-{end:#x} unmapped"),
            fill: "#ffffff",
            gap: true,
            height: GAP_H,
        }
    }

    fn mapped(start: usize, end: usize, title: String, detail: String, fill: &'static str) -> Band {
        let pages = ((end - start) as f64 / 4096.0).max(1.0);
        Band {
            start,
            end,
            title,
            detail,
            fill,
            gap: false,
            height: (MIN_H + 3.0 * pages.log2()).min(MAX_H),
        }
    }
}

/// Consecutive mappings that belong in one box: the same kind, touching,
/// and (except for static data and the kernel's pages) the same file.
fn same_box(a: &Mapping, b: &Mapping) -> bool {
    a.kind == b.kind
        && a.region.end == b.region.start
        && (a.region.path == b.region.path || matches!(a.kind, Kind::Data | Kind::Kernel))
}

fn title(group: &[Mapping]) -> String {
    let first = &group[0];
    let file = file_name(&first.region.path);
    let text = match first.kind {
        Kind::Code => format!("code · {file}"),
        Kind::ReadOnly => format!("read-only data · {file}"),
        Kind::Data => format!("static data · {file}"),
        Kind::Heap => "heap".to_string(),
        Kind::Anon if group.len() > 1 => format!("anonymous · {} mappings", group.len()),
        Kind::Anon => "anonymous".to_string(),
        Kind::Library => format!("library · {file}"),
        Kind::Stack => "stack".to_string(),
        Kind::Kernel => format!("kernel · {}", paths(group)),
        Kind::Other => format!("other · {}", paths(group)),
    };
    if text.chars().count() > TITLE_MAX {
        let cut: String = text.chars().take(TITLE_MAX - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The paths of a group's mappings, separated by spaces.
fn paths(group: &[Mapping]) -> String {
    let names: Vec<&str> = group.iter().map(|m| m.region.path.as_str()).collect();
    names.join(" ")
}

/// The boxes of the picture, lowest address first, gaps included.
fn bands(layout: &Layout) -> Vec<Band> {
    let mut groups: Vec<&[Mapping]> = Vec::new();
    let mut first = 0;
    for i in 1..=layout.mappings.len() {
        let ends_here =
            i == layout.mappings.len() || !same_box(&layout.mappings[i - 1], &layout.mappings[i]);
        if ends_here {
            groups.push(&layout.mappings[first..i]);
            first = i;
        }
    }

    let mut out = Vec::new();
    let mut at = 0;
    for group in groups {
        let (start, end) = (group[0].region.start, group[group.len() - 1].region.end);
        if start > at {
            out.push(Band::gap(at, start));
        }
        at = end;
        let perms: Vec<String> = group.iter().map(|m| m.region.perms.to_string()).collect();
        let detail = format!("{start:#x}-{end:#x} {}", perms.join(" "));
        let kind = group[0].kind;
        match layout.brk {
            Ok(brk)
                if kind == Kind::Heap
                    && start <= brk.before
                    && brk.before <= brk.after
                    && brk.after <= end =>
            {
                // Cut the heap where the break was before and after sbrk, so
                // the page that sbrk added gets a box of its own.
                let mut cuts = vec![start, brk.before, brk.after, end];
                cuts.dedup();
                for pair in cuts.windows(2) {
                    let (s, e) = (pair[0], pair[1]);
                    let (title, colour) = if e <= brk.before {
                        ("heap · up to the old break".to_string(), fill(kind))
                    } else if e <= brk.after {
                        let grown = brk.after - brk.before;
                        (format!("heap · sbrk({grown}) added this"), SBRK_FILL)
                    } else if e - s < 4096 {
                        ("heap · rest of the last page".to_string(), fill(kind))
                    } else {
                        ("heap · above the new break".to_string(), fill(kind))
                    };
                    let detail = format!("{s:#x}-{e:#x} {}", perms.join(" "));
                    out.push(Band::mapped(s, e, title, detail, colour));
                }
            }
            _ => out.push(Band::mapped(start, end, title(group), detail, fill(kind))),
        }
    }
    out
}

/// Something to point at: a named address or the program break.
struct Mark {
    /// Where it is, in picture coordinates.
    y: f64,
    /// Where its label goes, after labels are pushed apart.
    label_y: f64,
    name: String,
    addr: usize,
    is_break: bool,
}

/// Where in the picture an address lies: `bands` run low to high and
/// `tops[i]` is where band `i` starts, counting down from the top.
fn y_of(bands: &[Band], tops: &[f64], addr: usize, is_break: bool) -> Option<f64> {
    let i = bands
        .iter()
        .position(|b| b.start <= addr && (addr < b.end || (is_break && addr == b.end)))?;
    let band = &bands[i];
    let fraction = (addr - band.start) as f64 / (band.end - band.start) as f64;
    Some(tops[i] + band.height * (1.0 - fraction))
}

/// Draws a layout as an SVG picture: the address space as a column, low
/// addresses at the bottom, with the named addresses and the program break
/// marked where they fall. The text has no blank lines, so it can be put
/// straight into a Markdown page.
pub fn render_svg(layout: &Layout) -> String {
    let bands = bands(layout);
    let mut tops = vec![0.0; bands.len()];
    let mut y = TOP;
    for (i, band) in bands.iter().enumerate().rev() {
        tops[i] = y;
        y += band.height;
    }
    let column_bottom = y;

    let mut marks: Vec<Mark> = Vec::new();
    let mut add = |name: String, addr: usize, is_break: bool| {
        if let Some(y) = y_of(&bands, &tops, addr, is_break) {
            marks.push(Mark {
                y,
                label_y: y,
                name,
                addr,
                is_break,
            });
        }
    };
    if let Ok(brk) = layout.brk {
        add("program break before sbrk".into(), brk.before, true);
        add("program break after sbrk".into(), brk.after, true);
    }
    for named in &layout.named {
        add(named.name.clone(), named.addr, false);
    }
    // Labels go in the order of their addresses; push each down until it
    // clears the one above, then pull them up again if they ran off the end.
    marks.sort_by(|a, b| a.y.total_cmp(&b.y));
    for i in 1..marks.len() {
        marks[i].label_y = marks[i].label_y.max(marks[i - 1].label_y + LINE);
    }
    let mut limit = column_bottom;
    for mark in marks.iter_mut().rev() {
        mark.label_y = mark.label_y.min(limit);
        limit = mark.label_y - LINE;
    }
    let height = column_bottom + BOTTOM;

    let mut s = String::new();
    let mut put = |line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    put(format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="layout-map" role="img" viewBox="0 0 {WIDTH} {height:.1}" width="{WIDTH}" height="{height:.1}" font-family="monospace" font-size="11" style="max-width: 100%; height: auto">"#
    ));
    put("<title>The address space of one run of ch01-memory-layout</title>".into());
    put(format!(
        r##"<rect width="{WIDTH}" height="{height:.1}" fill="#ffffff"/>"##
    ));
    put(format!(
        r#"<text x="{COL_X}" y="16" font-size="12" font-weight="bold">Address space of one run, low addresses at the bottom</text>"#
    ));
    put(format!(
        r##"<text x="{COL_X}" y="31" font-size="10" fill="#555">Box heights are not to scale: sizes are written in the boxes.</text>"##
    ));
    for (band, top) in bands.iter().zip(&tops) {
        let (stroke, extra, text_colour) = if band.gap {
            ("#999999", r#" stroke-dasharray="4 3""#, "#666666")
        } else {
            ("#333333", "", "#000000")
        };
        put(format!(
            r#"<rect x="{COL_X}" y="{top:.1}" width="{COL_W}" height="{:.1}" fill="{}" stroke="{stroke}" stroke-width="0.7"{extra}><title>{}</title></rect>"#,
            band.height,
            band.fill,
            escape(&band.detail)
        ));
        let text_y = top + band.height / 2.0 + 4.0;
        let style = if band.gap {
            r#" font-style="italic""#
        } else {
            ""
        };
        put(format!(
            r#"<text x="{:.1}" y="{text_y:.1}" fill="{text_colour}"{style}>{}</text>"#,
            COL_X + 8.0,
            escape(&band.title)
        ));
        if !band.gap {
            put(format!(
                r#"<text x="{:.1}" y="{text_y:.1}" text-anchor="end">{}</text>"#,
                COL_X + COL_W - 8.0,
                human_size(band.end - band.start)
            ));
        }
    }
    // An address at every boundary: the start of each band at its bottom
    // edge, and the end of the highest band at the top.
    let mut boundaries: Vec<(f64, usize)> = bands
        .iter()
        .zip(&tops)
        .map(|(band, top)| (top + band.height, band.start))
        .collect();
    if let Some(last) = bands.last() {
        boundaries.push((TOP, last.end));
    }
    for (y, addr) in boundaries {
        put(format!(
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{COL_X}" y2="{y:.1}" stroke="#999999" stroke-width="0.7"/><text x="{ADDR_RIGHT}" y="{:.1}" font-size="10" fill="#444444" text-anchor="end">{addr:#x}</text>"##,
            ADDR_RIGHT + 2.0,
            y + 3.5
        ));
    }
    let edge = COL_X + COL_W;
    for mark in &marks {
        let colour = if mark.is_break {
            BREAK_COLOUR
        } else {
            "#1f3f77"
        };
        if mark.is_break {
            put(format!(
                r#"<line x1="{COL_X}" y1="{y:.1}" x2="{edge}" y2="{y:.1}" stroke="{colour}" stroke-width="1.6" stroke-dasharray="5 2"/>"#,
                y = mark.y
            ));
        } else {
            put(format!(
                r#"<path d="M{edge} {y:.1} l7 -4 v8 z" fill="{colour}"/>"#,
                y = mark.y
            ));
        }
        put(format!(
            r#"<path d="M{:.1} {:.1} L{:.1} {:.1} H{:.1}" fill="none" stroke="{colour}" stroke-width="0.8"/>"#,
            edge + 7.0,
            mark.y,
            MARK_X - 16.0,
            mark.label_y,
            MARK_X - 4.0
        ));
        put(format!(
            r##"<text x="{MARK_X}" y="{:.1}" fill="{colour}">{} <tspan fill="#666666">{:#x}</tspan></text>"##,
            mark.label_y + 3.5,
            escape(&mark.name),
            mark.addr
        ));
    }
    put("</svg>".into());
    s
}
