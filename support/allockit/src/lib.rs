//! The interface every chapter's allocator implements, and the tools that
//! walk and draw its heap.
//!
//! - [`Malloc`] is the C-shaped interface (`malloc`, `free`, and where a
//!   chapter has them `realloc` and `calloc`) that the conformance suite, the
//!   property tests and the benchmarks drive. Point them at your own
//!   allocator by implementing it.
//! - [`HeapMap`] is what a heap walk returns: every chunk, in address order.
//!   [`HeapMap::render`] draws it as text (offsets from the start of the heap,
//!   so it reads the same on every run) and [`svg::render`] as a picture.

#![warn(missing_docs)]

pub mod svg;

use std::fmt::{self, Write as _};

// ANCHOR: behaviour
/// Things an allocator can do, each checked by the conformance suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    /// Every block is aligned to 16 bytes, writable, and overlaps no other live block.
    Correct,
    /// `malloc(0)` returns a unique pointer that can be freed.
    ZeroSize,
    /// A size near `usize::MAX` gives null, and the heap still works.
    HugeSize,
    /// When memory runs out: null, the heap and every live block intact,
    /// and a smaller request that still fits is served.
    OutOfMemory,
    /// A freed block is used again for a later request.
    ReusesFreed,
    /// A large free block serves a small request and keeps the rest free.
    Splits,
    /// Neighbouring free blocks merge into one.
    Coalesces,
    /// Freeing the block on top of the heap gives its memory back to the
    /// system.
    ReturnsMemory,
    /// `realloc` keeps the contents.
    Realloc,
    /// `calloc` returns zeroed memory.
    Calloc,
    /// A long random sequence of operations, contents checked throughout.
    RandomOps,
    /// Freeing a block twice is refused with [`FreeError::DoubleFree`] and
    /// changes nothing.
    RefusesDoubleFree,
    /// Freeing a pointer from outside the heap is refused with
    /// [`FreeError::NotOurs`] and changes nothing.
    RefusesForeign,
}
// ANCHOR_END: behaviour

impl Behaviour {
    /// Every behaviour, in the order the conformance table lists them.
    pub const ALL: [Behaviour; 13] = [
        Behaviour::Correct,
        Behaviour::ZeroSize,
        Behaviour::HugeSize,
        Behaviour::OutOfMemory,
        Behaviour::RandomOps,
        Behaviour::RefusesDoubleFree,
        Behaviour::RefusesForeign,
        Behaviour::ReusesFreed,
        Behaviour::Splits,
        Behaviour::Coalesces,
        Behaviour::ReturnsMemory,
        Behaviour::Realloc,
        Behaviour::Calloc,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Correct => "aligned, no overlap",
            Behaviour::ZeroSize => "malloc(0)",
            Behaviour::HugeSize => "huge sizes",
            Behaviour::OutOfMemory => "out of memory",
            Behaviour::RandomOps => "random ops",
            Behaviour::RefusesDoubleFree => "double free refused",
            Behaviour::RefusesForeign => "foreign free refused",
            Behaviour::ReusesFreed => "reuses freed",
            Behaviour::Splits => "splits",
            Behaviour::Coalesces => "coalesces",
            Behaviour::ReturnsMemory => "returns memory",
            Behaviour::Realloc => "realloc",
            Behaviour::Calloc => "calloc",
        }
    }
}

// ANCHOR: free_error
/// Why `free` refused a pointer. The heap is left exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The pointer is not inside this heap, or not where a block could start.
    NotOurs,
    /// The block is already free.
    DoubleFree,
    /// A chunk header on the way to the block does not hold what the heap
    /// wrote there: the program wrote outside a block it owns. The heap
    /// changed nothing, and cannot be trusted any more.
    Corrupt,
}
// ANCHOR_END: free_error

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FreeError::NotOurs => "free(): pointer was not allocated by this heap",
            FreeError::DoubleFree => "free(): block is already free (double free)",
            FreeError::Corrupt => "free(): corrupted chunk header (a write out of bounds)",
        })
    }
}

impl std::error::Error for FreeError {}

// ANCHOR: malloc_trait
/// The C-shaped interface the suite, the property tests and the benchmarks drive.
pub trait Malloc {
    /// What the conformance table calls this allocator.
    const NAME: &'static str;
    /// What this allocator claims to do. The suite checks every claim, and
    /// checks that every behaviour left out really fails.
    const BEHAVIOURS: &'static [Behaviour];

    /// A block of at least `size` bytes aligned to 16, or null when there is
    /// no memory or the size is too large. Never panics.
    fn malloc(&mut self, size: usize) -> *mut u8;

    /// Gives a block back. `free(null)` does nothing.
    ///
    /// # Safety
    /// `ptr` is null, or a pointer this allocator returned and that has not
    /// been freed since, or a pointer outside this allocator's heap. (What a
    /// chapter detects beyond that, it reports as a [`FreeError`].)
    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), FreeError>;

    /// `None` if this allocator has no `realloc`; otherwise what C's
    /// `realloc` returns.
    ///
    /// # Safety
    /// As for [`free`](Malloc::free).
    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Option<*mut u8> {
        let _ = (ptr, size);
        None
    }

    /// `None` if this allocator has no `calloc`; otherwise what C's `calloc`
    /// returns.
    fn calloc(&mut self, count: usize, size: usize) -> Option<*mut u8> {
        let _ = (count, size);
        None
    }

    /// Walks the heap: every chunk in address order.
    fn map(&self) -> HeapMap;

    /// Free bytes this allocator keeps on top of its heap on purpose instead
    /// of giving them back at once (glibc's `M_TOP_PAD`): the conformance
    /// suite allows that much. None for the early chapters.
    const KEEPS: usize = 0;

    /// Bytes of memory the heap holds from the system right now. By default
    /// all of it, from its start to its end; a heap that gives pages back
    /// without moving the break (`MemorySource::release`) leaves those out.
    fn held(&self) -> usize {
        self.map().len()
    }

    /// Walks the heap checking its invariants; `Err` says which one broke.
    /// The default checks what every heap map must show.
    fn check(&self) -> Result<(), String> {
        self.map().check()
    }
}
// ANCHOR_END: malloc_trait

/// One chunk found by a heap walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Address of the chunk (its header, if it has one).
    pub addr: usize,
    /// Bytes of bookkeeping before the payload.
    pub header: usize,
    /// Bytes of payload.
    pub size: usize,
    /// Whether the payload is handed out.
    pub used: bool,
}

impl Chunk {
    /// Address of the payload: what `malloc` returned for this chunk.
    pub fn payload(&self) -> usize {
        self.addr + self.header
    }

    /// One past the last byte of the chunk.
    pub fn end(&self) -> usize {
        self.addr + self.header + self.size
    }
}

/// A walk of a whole heap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeapMap {
    /// Where the heap starts; offsets are printed from here.
    pub base: usize,
    /// Where the heap ends (the allocator's idea of the break).
    pub end: usize,
    /// The chunks, in address order.
    pub chunks: Vec<Chunk>,
    /// Blocks mapped on their own, outside the heap (with `mmap`).
    pub mapped: Vec<Chunk>,
}

/// Summary figures of a [`HeapMap`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Chunks in use.
    pub used_chunks: usize,
    /// Payload bytes in use.
    pub used_bytes: usize,
    /// Free chunks.
    pub free_chunks: usize,
    /// Payload bytes free.
    pub free_bytes: usize,
    /// Bytes spent on headers.
    pub header_bytes: usize,
    /// Bytes between chunks that belong to someone else.
    pub foreign_bytes: usize,
}

/// Bytes one character of a drawn bar stands for.
const BAR_UNIT: usize = 16;
/// Longest bar drawn; longer chunks are cut and marked with `>`.
const BAR_MAX: usize = 40;

impl HeapMap {
    /// An empty map for a heap that starts at `base` and ends at `end` (null
    /// pointers when the heap has not grown yet).
    pub fn new(base: *const u8, end: *const u8) -> Self {
        HeapMap {
            base: base as usize,
            end: end as usize,
            chunks: Vec::new(),
            mapped: Vec::new(),
        }
    }

    /// Adds the chunk at `addr` (chunks must be pushed in address order).
    pub fn push(&mut self, addr: *const u8, header: usize, size: usize, used: bool) {
        self.chunks.push(Chunk {
            addr: addr as usize,
            header,
            size,
            used,
        });
    }

    /// Where `p` is, as an offset from the heap start (`+48`), or `null`.
    pub fn offset(&self, p: *const u8) -> String {
        if p.is_null() {
            "null".to_string()
        } else {
            format!("+{}", (p as usize).wrapping_sub(self.base) as isize)
        }
    }

    /// Bytes from the start of the heap to its end.
    pub fn len(&self) -> usize {
        self.end - self.base
    }

    /// Whether the heap has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts used, free, header and foreign bytes.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        let mut at = self.base;
        for c in &self.chunks {
            t.foreign_bytes += c.addr.saturating_sub(at);
            t.header_bytes += c.header;
            if c.used {
                t.used_chunks += 1;
                t.used_bytes += c.size;
            } else {
                t.free_chunks += 1;
                t.free_bytes += c.size;
            }
            at = c.end();
        }
        t
    }

    /// Checks what every heap walk must show: chunks in address order, inside
    /// the heap, not overlapping. Returns a description of the first problem.
    pub fn check(&self) -> Result<(), String> {
        let mut at = self.base;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.addr < at {
                return Err(format!(
                    "chunk {i} at +{} overlaps the previous chunk (which ends at +{})",
                    c.addr - self.base,
                    at - self.base
                ));
            }
            if c.end() > self.end {
                return Err(format!(
                    "chunk {i} at +{} ends at +{}, past the end of the heap (+{})",
                    c.addr - self.base,
                    c.end() - self.base,
                    self.end - self.base
                ));
            }
            at = c.end();
        }
        Ok(())
    }

    /// Draws the heap as text, one line per chunk, with offsets from the
    /// start of the heap. Bars use one character per 16 bytes: `=` header,
    /// `#` used, `.` free; `~` marks memory someone else put between chunks.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let t = self.totals();
        let _ = writeln!(
            out,
            "heap {} B: {} used ({} B), {} free ({} B), headers {} B{}",
            self.len(),
            t.used_chunks,
            t.used_bytes,
            t.free_chunks,
            t.free_bytes,
            t.header_bytes,
            if t.foreign_bytes > 0 {
                format!(", foreign {} B", t.foreign_bytes)
            } else {
                String::new()
            }
        );
        let mut at = self.base;
        for c in &self.chunks {
            if c.addr > at {
                let gap = c.addr - at;
                let _ = writeln!(
                    out,
                    "  +{:<6} {:<22} {}",
                    at.saturating_sub(self.base),
                    format!("not ours {gap}"),
                    bar(&[('~', gap)])
                );
            }
            let state = if c.used { "used" } else { "free" };
            let fill = if c.used { '#' } else { '.' };
            let label = if c.header > 0 {
                format!("hdr {} + {state} {}", c.header, c.size)
            } else {
                format!("{state} {}", c.size)
            };
            let _ = writeln!(
                out,
                "  +{:<6} {:<22} {}",
                c.addr.saturating_sub(self.base),
                label,
                bar(&[('=', c.header), (fill, c.size)])
            );
            at = c.end();
        }
        if self.end > at {
            let gap = self.end - at;
            let _ = writeln!(
                out,
                "  +{:<6} {:<22} {}",
                at - self.base,
                format!("not ours {gap}"),
                bar(&[('~', gap)])
            );
        }
        let _ = writeln!(out, "  +{:<6} end", self.len());
        for c in &self.mapped {
            let _ = writeln!(out, "  mapped  hdr {} + used {}", c.header, c.size);
        }
        out
    }
}

fn bar(parts: &[(char, usize)]) -> String {
    let mut s = String::from("|");
    let mut n = 0;
    for &(ch, bytes) in parts {
        for _ in 0..bytes.div_ceil(BAR_UNIT) {
            if n == BAR_MAX {
                s.push('>');
                return s;
            }
            s.push(ch);
            n += 1;
        }
    }
    s.push('|');
    s
}

// ANCHOR: tag_map
/// What a heap with boundary tags keeps for one chunk beyond what a
/// [`Chunk`] says: the flag in its header about the chunk before it, the
/// footer and links in a free payload, and whether it is a fence (the
/// bookkeeping that ends a region).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tags {
    /// Address of the chunk (a [`Chunk::addr`] of the map).
    pub addr: usize,
    /// The header's "previous chunk is used" bit, if the heap has one.
    pub prev_used: Option<bool>,
    /// The size a free chunk's footer holds, if it has one.
    pub footer: Option<usize>,
    /// A free chunk's links: the addresses of the chunks before and after
    /// it on its list (0 for none). For a fence: where its region starts,
    /// and the next region's fence (0 for none).
    pub links: Option<(usize, usize)>,
    /// Whether this is a fence rather than a chunk.
    pub fence: bool,
}

/// A [`HeapMap`] with the tags of every chunk and the free lists: what a
/// heap with boundary tags and explicit free lists draws.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagMap {
    /// The chunks, as every heap map has them.
    pub map: HeapMap,
    /// One per chunk of `map.chunks`, in the same order.
    pub tags: Vec<Tags>,
    /// Each free list: its name, and its chunks' addresses from its head.
    pub lists: Vec<(String, Vec<usize>)>,
    /// Bytes of a chunk header.
    pub header: usize,
    /// Bytes of the links at the start of a free payload.
    pub links: usize,
    /// Bytes of the footer at the end of a free payload.
    pub footer: usize,
}

impl TagMap {
    /// Where `addr` is, as an offset from the heap start, or `null` for 0.
    fn at(&self, addr: usize) -> String {
        if addr == 0 {
            "null".into()
        } else {
            format!("+{}", addr.wrapping_sub(self.map.base) as isize)
        }
    }

    /// Draws the heap as text, one line per chunk, as [`HeapMap::render`]
    /// does, with more in each bar: `=` header, `#` used payload, and in a
    /// free payload `L` its links, `.` the rest and `F` the 16 bytes that end
    /// with its footer. After the label, `P` says the header's "previous
    /// chunk is used" bit is set, `-` that it is clear. After the bar, a free
    /// chunk's links and footer, and a fence's region; then the lists.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let t = self.map.totals();
        let fences: Vec<&Chunk> = self
            .map
            .chunks
            .iter()
            .zip(&self.tags)
            .filter(|(_, g)| g.fence)
            .map(|(c, _)| c)
            .collect();
        let fence_bytes: usize = fences.iter().map(|c| c.header).sum();
        let footers = self.tags.iter().filter(|g| g.footer.is_some()).count() * self.footer;
        let _ = writeln!(
            out,
            "heap {} B: {} used ({} B), {} free ({} B), headers {} B, fences {} B, footers {} B",
            self.map.len(),
            t.used_chunks,
            t.used_bytes,
            t.free_chunks - fences.len(),
            t.free_bytes,
            t.header_bytes - fence_bytes,
            fence_bytes,
            footers,
        );
        let mut at = self.map.base;
        for (c, g) in self.map.chunks.iter().zip(&self.tags) {
            if c.addr > at {
                let gap = c.addr - at;
                let _ = writeln!(
                    out,
                    "  +{:<6} {:<24} {}",
                    at.saturating_sub(self.map.base),
                    format!("not ours {gap}"),
                    bar(&[('~', gap)])
                );
            }
            let flag = match g.prev_used {
                Some(true) => 'P',
                Some(false) => '-',
                None => ' ',
            };
            let (label, drawn, note) = if g.fence {
                let (start, next) = g.links.unwrap_or_default();
                (
                    format!("fence {}", c.header),
                    bar(&[('=', c.header)]),
                    format!(
                        "region from {}, next region {}",
                        self.at(start),
                        if next == 0 {
                            "none".into()
                        } else {
                            self.at(next)
                        }
                    ),
                )
            } else if c.used {
                (
                    format!("hdr {} + used {}", c.header, c.size),
                    bar(&[('=', c.header), ('#', c.size)]),
                    String::new(),
                )
            } else {
                let rest = c.size.saturating_sub(self.links + BAR_UNIT);
                let mut note = String::new();
                if let Some((prev, next)) = g.links {
                    note = format!("prev {}, next {}", self.at(prev), self.at(next));
                }
                if let Some(f) = g.footer {
                    note += &format!(", footer {f}");
                }
                (
                    format!("hdr {} + free {}", c.header, c.size),
                    bar(&[
                        ('=', c.header),
                        ('L', self.links.min(c.size)),
                        ('.', rest),
                        ('F', c.size.saturating_sub(self.links).min(BAR_UNIT)),
                    ]),
                    note,
                )
            };
            let line = format!(
                "  +{:<6} {:<22} {} {:<42} {}",
                c.addr.saturating_sub(self.map.base),
                label,
                flag,
                drawn,
                note
            );
            let _ = writeln!(out, "{}", line.trim_end());
            at = c.end();
        }
        if self.map.end > at {
            let gap = self.map.end - at;
            let _ = writeln!(
                out,
                "  +{:<6} {:<24} {}",
                at - self.map.base,
                format!("not ours {gap}"),
                bar(&[('~', gap)])
            );
        }
        let _ = writeln!(out, "  +{:<6} end", self.map.len());
        for c in &self.map.mapped {
            let _ = writeln!(out, "  mapped  hdr {} + used {}", c.header, c.size);
        }
        for (name, list) in &self.lists {
            let mut line = format!("{name}:");
            for &a in list {
                line += &format!(" {} ->", self.at(a));
            }
            line += " null";
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

impl fmt::Display for TagMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
// ANCHOR_END: tag_map

/// One step of a scripted demo: what was done, and the heap afterwards.
#[derive(Debug, Clone)]
pub struct Step {
    /// The operation, as the demo prints it.
    pub what: String,
    /// The heap after the operation.
    pub map: HeapMap,
}

/// Records the steps of a scripted demo.
#[derive(Debug, Default)]
pub struct Script {
    /// The steps so far.
    pub steps: Vec<Step>,
}

impl Script {
    /// Records that `what` was done, leaving the heap as `map` shows.
    pub fn step(&mut self, what: impl Into<String>, map: HeapMap) {
        self.steps.push(Step {
            what: what.into(),
            map,
        });
    }

    /// Every step as text: the operation, then the heap map.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let _ = write!(out, "{}\n{}\n", s.what, s.map.render());
        }
        out
    }

    /// Every step as one SVG film strip.
    pub fn svg(&self, title: &str) -> String {
        let rows: Vec<(&str, &HeapMap)> = self
            .steps
            .iter()
            .map(|s| (s.what.as_str(), &s.map))
            .collect();
        svg::render(title, &rows)
    }
}

impl fmt::Display for HeapMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HeapMap {
        let mut m = HeapMap {
            base: 1000,
            end: 1000 + 176,
            ..HeapMap::default()
        };
        m.chunks.push(Chunk {
            addr: 1000,
            header: 32,
            size: 48,
            used: true,
        });
        m.chunks.push(Chunk {
            addr: 1080,
            header: 32,
            size: 16,
            used: false,
        });
        m.chunks.push(Chunk {
            addr: 1144,
            header: 32,
            size: 0,
            used: true,
        });
        m
    }

    #[test]
    fn totals_count_gaps_and_headers() {
        let t = sample().totals();
        assert_eq!(t.used_chunks, 2);
        assert_eq!(t.used_bytes, 48);
        assert_eq!(t.free_bytes, 16);
        assert_eq!(t.header_bytes, 96);
        assert_eq!(t.foreign_bytes, 1144 - 1128);
    }

    #[test]
    fn render_marks_gaps_and_uses_offsets() {
        let text = sample().render();
        assert!(text.contains("+0      hdr 32 + used 48"), "{text}");
        assert!(text.contains("+128    not ours 16"), "{text}");
        assert!(text.contains("|~|"), "{text}");
        assert!(text.contains("|==.|"), "{text}");
        assert!(text.ends_with("+176    end\n"), "{text}");
    }

    #[test]
    fn check_finds_overlap_and_overrun() {
        assert_eq!(sample().check(), Ok(()));
        let mut m = sample();
        m.chunks[1].addr = 1070;
        assert!(m.check().unwrap_err().contains("overlaps"));
        let mut m = sample();
        m.end = 1150;
        assert!(m.check().unwrap_err().contains("past the end"));
    }

    #[test]
    fn long_bars_are_cut() {
        let b = bar(&[('#', 10_000)]);
        assert_eq!(b.len(), 1 + BAR_MAX + 1);
        assert!(b.ends_with('>'));
    }
}
