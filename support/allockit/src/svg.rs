//! Heap maps drawn as SVG, for the book.
//!
//! [`render`] draws one strip per heap map, all on the same scale, so a
//! sequence of steps reads like a film strip: headers grey, used payload
//! blue, free payload green, someone else's memory hatched. The output has
//! no blank lines, so it can be included straight into a Markdown page.

use crate::HeapMap;
use std::fmt::Write as _;

/// Width of the strip part of the picture.
const STRIP_W: f64 = 520.0;
/// Width of one character of a label (11px monospace).
const CHAR_W: f64 = 6.7;
const ROW_H: f64 = 44.0;
const BAR_H: f64 = 22.0;
const TOP: f64 = 8.0;
/// Width of the box drawn for a block mapped on its own (not to scale).
const MAPPED_W: f64 = 110.0;
/// Narrowest a drawn piece may be, so that tiny headers stay visible.
const MIN_W: f64 = 3.0;

/// Colours, shared with the legend.
const HEADER: &str = "#8a8f98";
const USED: &str = "#3d7bd9";
const FREE: &str = "#9fd49a";

/// Draws `rows` (a label and a heap map each) as one SVG picture.
pub fn render(title: &str, rows: &[(&str, &HeapMap)]) -> String {
    let longest = rows.iter().map(|(_, m)| m.len()).max().unwrap_or(0).max(16);
    let label_chars = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (label_chars as f64 * CHAR_W + 12.0).ceil();
    let mapped = rows.iter().map(|(_, m)| m.mapped.len()).max().unwrap_or(0);
    let width = label_w + STRIP_W + 30.0 + mapped as f64 * (MAPPED_W + 6.0);
    let scale = STRIP_W / longest as f64;
    let height = TOP + ROW_H * rows.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="heap-map" role="img" style="max-width:100%;height:auto" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    let _ = writeln!(
        s,
        r##"<defs><pattern id="foreign" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/></pattern></defs>"##
    );
    for (i, (label, map)) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="0" y="{:.1}">{}</text>"#,
            y + BAR_H * 0.7,
            escape(label)
        );
        let x0 = label_w;
        let mut at = map.base;
        let mut ticks = vec![0usize];
        for c in &map.chunks {
            if c.addr > at {
                piece(
                    &mut s,
                    x0,
                    y,
                    scale,
                    at - map.base,
                    c.addr - at,
                    "url(#foreign)",
                );
            }
            piece(&mut s, x0, y, scale, c.addr - map.base, c.header, HEADER);
            let fill = if c.used { USED } else { FREE };
            piece(&mut s, x0, y, scale, c.payload() - map.base, c.size, fill);
            ticks.push(c.addr - map.base);
            at = c.end();
        }
        if map.end > at {
            // Between our last chunk and where our last growth ended: memory
            // someone else took, left when what was above it went back.
            piece(
                &mut s,
                x0,
                y,
                scale,
                at - map.base,
                map.end - at,
                "url(#foreign)",
            );
        }
        for (k, c) in map.mapped.iter().enumerate() {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{y:.1}" width="{MAPPED_W}" height="{BAR_H}" fill="{USED}" stroke="#333" stroke-width="0.5" stroke-dasharray="3,2"><title>mapped: {} B</title></rect><text x="{:.1}" y="{:.1}" fill="#fff">mapped {} KiB</text>"##,
                x0 + STRIP_W + 12.0 + k as f64 * (MAPPED_W + 6.0),
                c.header + c.size,
                x0 + STRIP_W + 16.0 + k as f64 * (MAPPED_W + 6.0),
                y + BAR_H * 0.7,
                (c.header + c.size) / 1024
            );
        }
        ticks.push(map.len());
        ticks.dedup();
        // Offsets under the strip, skipping any that would overprint the last one drawn.
        let mut last_x = f64::NEG_INFINITY;
        for t in ticks {
            let x = x0 + t as f64 * scale;
            if x - last_x < 28.0 {
                continue;
            }
            last_x = x;
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" font-size="9" fill="#555">+{t}</text>"##,
                y + BAR_H + 10.0
            );
        }
    }
    let ly = TOP + ROW_H * rows.len() as f64 + 8.0;
    let mut lx = label_w;
    for (name, fill) in [
        ("header", HEADER),
        ("used", USED),
        ("free", FREE),
        ("not ours", "url(#foreign)"),
    ] {
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{fill}" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="{:.1}">{name}</text>"##,
            lx + 16.0,
            ly + 10.0
        );
        lx += 100.0;
    }
    s.push_str("</svg>\n");
    s
}

/// Draws grouped horizontal bars: for each group (a label), one bar per
/// series, all on one scale, with `unit` after each value.
pub fn bars(title: &str, series: &[&str], groups: &[(&str, Vec<f64>)], unit: &str) -> String {
    const BAR_W: f64 = 420.0;
    const ONE: f64 = 14.0;
    let colours = [HEADER, USED, FREE];
    let label_chars = groups
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (label_chars as f64 * CHAR_W + 12.0).ceil();
    let top = groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0, f64::max);
    let group_h = ONE * series.len() as f64 + 10.0;
    let height = TOP + group_h * groups.len() as f64 + 30.0;
    let width = label_w + BAR_W + 120.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" role="img" style="max-width:100%;height:auto" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    for (i, (label, values)) in groups.iter().enumerate() {
        let y = TOP + group_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="0" y="{:.1}">{}</text>"#,
            y + ONE * 0.8,
            escape(label)
        );
        for (k, v) in values.iter().enumerate() {
            let w = (v / top * BAR_W).max(1.0);
            let yk = y + ONE * k as f64;
            let _ = writeln!(
                s,
                r##"<rect x="{label_w:.1}" y="{yk:.1}" width="{w:.1}" height="{:.1}" fill="{}" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" font-size="9">{v} {unit}</text>"##,
                ONE - 2.0,
                colours[k % colours.len()],
                label_w + w + 4.0,
                yk + ONE * 0.7
            );
        }
    }
    let ly = TOP + group_h * groups.len() as f64 + 6.0;
    for (k, name) in series.iter().enumerate() {
        let lx = label_w + 160.0 * k as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{}" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            colours[k % colours.len()],
            lx + 16.0,
            ly + 10.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Powers of ten from below `lo` to above `hi`, for a logarithmic axis.
fn decades(lo: f64, hi: f64) -> (i32, i32) {
    let lo = lo.max(1e-3).log10().floor() as i32;
    let hi = (hi.max(1e-3).log10().ceil() as i32).max(lo + 1);
    (lo, hi)
}

/// `10^e` as an axis label.
fn power(e: i32) -> String {
    if e >= 0 {
        format!("{}", 10f64.powi(e) as u64)
    } else {
        format!("{}", 10f64.powi(e))
    }
}

/// Draws one horizontal bar per row on a logarithmic scale (the values may
/// differ a thousandfold), with `unit` after each value. Rows marked
/// `true` are drawn in the highlight colour.
pub fn log_bars(title: &str, rows: &[(&str, f64, bool)], unit: &str) -> String {
    const BAR_W: f64 = 420.0;
    const ONE: f64 = 16.0;
    let label_w =
        (rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0) as f64 * CHAR_W + 12.0).ceil();
    let (lo, hi) = decades(
        rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min),
        rows.iter().map(|r| r.1).fold(0.0, f64::max),
    );
    let x = |v: f64| label_w + (v.max(1e-3).log10() - lo as f64) / (hi - lo) as f64 * BAR_W;
    let height = TOP + ONE * rows.len() as f64 + 24.0;
    let width = label_w + BAR_W + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" role="img" style="max-width:100%;height:auto" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    let axis = TOP + ONE * rows.len() as f64 + 4.0;
    for e in lo..=hi {
        let xe = x(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{xe:.1}" y1="{TOP}" x2="{xe:.1}" y2="{axis:.1}" stroke="#ccc" stroke-width="0.5"/><text x="{xe:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"##,
            axis + 12.0,
            power(e)
        );
    }
    for (i, (label, v, mark)) in rows.iter().enumerate() {
        let y = TOP + ONE * i as f64;
        let w = (x(*v) - label_w).max(1.0);
        let fill = if *mark { USED } else { HEADER };
        let _ = writeln!(
            s,
            r##"<text x="0" y="{:.1}">{}</text><rect x="{label_w:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{fill}" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" font-size="9">{v} {unit}</text>"##,
            y + ONE * 0.75,
            escape(label),
            ONE - 3.0,
            label_w + w + 4.0,
            y + ONE * 0.7
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Draws one line per series across the points `xs`, on a logarithmic
/// vertical scale in `unit`. Missing values (`None`) break the line.
pub fn lines(
    title: &str,
    xs: &[&str],
    series: &[(&str, Vec<Option<f64>>, bool)],
    unit: &str,
) -> String {
    const PLOT_W: f64 = 360.0;
    const PLOT_H: f64 = 240.0;
    const LEFT: f64 = 60.0;
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().flatten().copied())
        .collect();
    let (lo, hi) = decades(
        all.iter().copied().fold(f64::INFINITY, f64::min),
        all.iter().copied().fold(0.0, f64::max),
    );
    let y = |v: f64| TOP + PLOT_H - (v.max(1e-3).log10() - lo as f64) / (hi - lo) as f64 * PLOT_H;
    let x = |i: usize| LEFT + PLOT_W * i as f64 / (xs.len().max(2) - 1) as f64;
    let legend_w = series
        .iter()
        .map(|s| s.0.chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR_W;
    let width = LEFT + PLOT_W + 40.0 + legend_w;
    let height = TOP + PLOT_H + 40.0;
    let palette = [
        "#3d7bd9", "#d9663d", "#3da35a", "#a33d9e", "#c9a227", "#3db3c9", "#8a8f98", "#6b3dd9",
        "#d93d6b", "#5a7a3d", "#9e6b3d", "#3d5ad9", "#b33d3d", "#3d9e8a", "#777777",
    ];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="line-chart" role="img" style="max-width:100%;height:auto" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    for e in lo..=hi {
        let ye = y(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{ye:.1}" x2="{:.1}" y2="{ye:.1}" stroke="#ccc" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="end">{} {unit}</text>"##,
            LEFT + PLOT_W,
            LEFT - 4.0,
            ye + 3.0,
            power(e)
        );
    }
    for (i, label) in xs.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            TOP + PLOT_H + 16.0,
            escape(label)
        );
    }
    for (k, (name, values, bold)) in series.iter().enumerate() {
        let colour = palette[k % palette.len()];
        let width = if *bold { 2.5 } else { 1.2 };
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen_down = true;
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"><title>{}: {v} {unit}</title></circle>"#,
                        x(i),
                        y(*v),
                        escape(name)
                    );
                }
                None => pen_down = false,
            }
        }
        let _ = writeln!(
            s,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="{width}"/>"#,
            path.trim_end()
        );
        let ly = TOP + 6.0 + 14.0 * k as f64;
        let lx = LEFT + PLOT_W + 16.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="{width}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 12.0,
            lx + 16.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn piece(s: &mut String, x0: f64, y: f64, scale: f64, offset: usize, bytes: usize, fill: &str) {
    if bytes == 0 {
        return;
    }
    let w = (bytes as f64 * scale).max(MIN_W);
    let _ = writeln!(
        s,
        r##"<rect x="{:.1}" y="{y:.1}" width="{w:.1}" height="{BAR_H}" fill="{fill}" stroke="#333" stroke-width="0.5"><title>+{offset}: {bytes} B</title></rect>"##,
        x0 + offset as f64 * scale
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Chunk;

    #[test]
    fn draws_every_piece_without_blank_lines() {
        let map = HeapMap {
            base: 0,
            end: 160,
            chunks: vec![
                Chunk {
                    addr: 0,
                    header: 32,
                    size: 48,
                    used: true,
                },
                Chunk {
                    addr: 96,
                    header: 32,
                    size: 32,
                    used: false,
                },
            ],
            mapped: vec![],
        };
        let svg = render("two chunks", &[("after malloc", &map)]);
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("\n\n"));
        assert_eq!(
            svg.matches(HEADER).count(),
            2 + 1,
            "two headers and the legend"
        );
        assert!(svg.contains(USED) && svg.contains(FREE));
        assert!(svg.contains("url(#foreign)"), "the gap at +80");
        assert!(svg.contains(">+96<"));
    }
}
