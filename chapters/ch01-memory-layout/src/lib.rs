//! Chapter 1: a program that reads its own address space.
//!
//! On Linux every process can read the list of its own memory mappings from
//! `/proc/self/maps`. This crate turns that list into something a person can
//! look at:
//!
//! - [`parse_line`] and [`parse_maps`] read the kernel's text into
//!   [`Region`]s, skipping (and reporting) any line they do not understand;
//! - [`classify`] says what each region is for ([`Kind`]): the program's code
//!   and static data, the heap, anonymous mappings, shared libraries, the
//!   stack, and the pages the kernel provides;
//! - [`place`] finds the region a given address falls in;
//! - [`move_break`] moves the program break with `sbrk`, and [`AnonPage`]
//!   maps a page with `mmap`, so that both can be seen in the picture;
//! - [`render_text`] prints a [`Layout`] as a table (which
//!   [`parse_recorded`] reads back), and [`render_svg`] draws it.

#![warn(missing_docs)]

mod svg;

pub use svg::render_svg;

use std::fmt;
use std::io;
use std::ptr::{self, NonNull};

// ANCHOR: region
/// One line of `/proc/self/maps`: a run of virtual addresses, `start`
/// included and `end` excluded, that share permissions and backing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The first address of the region.
    pub start: usize,
    /// One past the last address of the region.
    pub end: usize,
    /// What the process may do with these pages.
    pub perms: Perms,
    /// The file mapped here, a name in brackets such as `[heap]` for the
    /// kernel's special regions, or empty for anonymous memory.
    pub path: String,
    /// The kernel marked the file ` (deleted)`: it was removed or replaced
    /// after being mapped. The mark is not part of `path`.
    pub deleted: bool,
}
// ANCHOR_END: region

impl Region {
    /// The size of the region in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the region holds no bytes (never true for a parsed region).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether `addr` lies inside the region.
    pub fn contains(&self, addr: usize) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// The permission column of a mapping, such as `r-xp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// The pages may be read.
    pub read: bool,
    /// The pages may be written.
    pub write: bool,
    /// The pages may be executed.
    pub exec: bool,
    /// Writes are shared with other mappings of the same file (`s`), rather
    /// than private copies (`p`).
    pub shared: bool,
}

impl Perms {
    /// Reads the four-letter form the kernel prints; `None` if it is malformed.
    pub fn parse(text: &str) -> Option<Perms> {
        let [r, w, x, s] = text.as_bytes() else {
            return None;
        };
        let flag = |byte: u8, set: u8| match byte {
            b'-' => Some(false),
            b if b == set => Some(true),
            _ => None,
        };
        Some(Perms {
            read: flag(*r, b'r')?,
            write: flag(*w, b'w')?,
            exec: flag(*x, b'x')?,
            shared: match s {
                b's' => true,
                b'p' => false,
                _ => return None,
            },
        })
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pick = |on: bool, letter: char| if on { letter } else { '-' };
        write!(
            f,
            "{}{}{}{}",
            pick(self.read, 'r'),
            pick(self.write, 'w'),
            pick(self.exec, 'x'),
            if self.shared { 's' } else { 'p' }
        )
    }
}

/// Why a line of `/proc/self/maps` could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The line ended before this field.
    Missing(&'static str),
    /// This field is there but is not what the format says it should be.
    Malformed(&'static str, String),
    /// The end of the range is not above its start.
    EmptyRange(usize, usize),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Missing(field) => write!(f, "the line has no {field}"),
            ParseError::Malformed(field, text) => write!(f, "bad {field}: {text:?}"),
            ParseError::EmptyRange(start, end) => {
                write!(f, "the range {start:#x}-{end:#x} is empty or backwards")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Takes the next whitespace-separated field off the front of `rest`.
fn next_field<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let text = rest.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (field, tail) = text.split_at(end);
    *rest = tail;
    Some(field)
}

/// Reads `start-end` in hexadecimal.
fn parse_range(text: &str) -> Result<(usize, usize), ParseError> {
    let bad = || ParseError::Malformed("address range", text.to_string());
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let start = usize::from_str_radix(start, 16).map_err(|_| bad())?;
    let end = usize::from_str_radix(end, 16).map_err(|_| bad())?;
    if end <= start {
        return Err(ParseError::EmptyRange(start, end));
    }
    Ok((start, end))
}

/// Splits what is left of a line after the fixed fields into the path and
/// the kernel's ` (deleted)` mark.
fn parse_path(rest: &str) -> (String, bool) {
    let path = rest.trim_start();
    match path.strip_suffix(" (deleted)") {
        Some(path) => (path.to_string(), true),
        None => (path.to_string(), false),
    }
}

// ANCHOR: parse_line
/// Reads one line of `/proc/self/maps`:
///
/// ```text
/// 7f06a0bb6000-7f06a0d0c000 r-xp 00026000 fe:00 326279  /usr/lib/libc.so.6
/// start-end                 perms offset  dev   inode   path (may be empty)
/// ```
pub fn parse_line(line: &str) -> Result<Region, ParseError> {
    let mut rest = line;
    let mut field = |name| next_field(&mut rest).ok_or(ParseError::Missing(name));
    let range = field("address range")?;
    let perms = field("permissions")?;
    let offset = field("offset")?;
    let device = field("device")?;
    let inode = field("inode")?;

    let (start, end) = parse_range(range)?;
    let perms = Perms::parse(perms)
        .ok_or_else(|| ParseError::Malformed("permissions", perms.to_string()))?;
    // The offset, device and inode are not needed here, but checking them
    // catches a line that only looks like a mapping.
    if u64::from_str_radix(offset, 16).is_err() {
        return Err(ParseError::Malformed("offset", offset.to_string()));
    }
    if !device.contains(':') {
        return Err(ParseError::Malformed("device", device.to_string()));
    }
    if inode.parse::<u64>().is_err() {
        return Err(ParseError::Malformed("inode", inode.to_string()));
    }
    // Whatever follows the inode, spaces included, is the path.
    let (path, deleted) = parse_path(rest);
    Ok(Region {
        start,
        end,
        perms,
        path,
        deleted,
    })
}
// ANCHOR_END: parse_line

/// A line that [`parse_maps`] skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// The line number, counting from 1.
    pub line: usize,
    /// The line itself.
    pub text: String,
    /// What was wrong with it.
    pub error: ParseError,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} ({:?}): {}", self.line, self.text, self.error)
    }
}

/// Reads the whole of `/proc/self/maps`. Blank lines are ignored; lines that
/// do not parse are left out of the regions and returned as errors, so one
/// odd line cannot stop the program.
pub fn parse_maps(text: &str) -> (Vec<Region>, Vec<LineError>) {
    let mut regions = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(region) => regions.push(region),
            Err(error) => errors.push(LineError {
                line: i + 1,
                text: line.to_string(),
                error,
            }),
        }
    }
    (regions, errors)
}

/// What a region is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The program's machine code (`.text`): the executable's `r-x` mapping.
    Code,
    /// The program's read-only data: constants, string literals, and the
    /// ELF headers and tables the loader reads.
    ReadOnly,
    /// The program's writable statics: `.data` (with a starting value) and
    /// `.bss` (zero at start).
    Data,
    /// The heap: the memory between the start of the heap and the program
    /// break, which `brk` and `sbrk` move.
    Heap,
    /// Memory from `mmap` with no file behind it.
    Anon,
    /// A shared library, or any other file mapped into memory.
    Library,
    /// The main thread's stack.
    Stack,
    /// Pages the kernel maps into every process: `[vdso]`, `[vvar]`,
    /// `[vsyscall]`.
    Kernel,
    /// Anything else.
    Other,
}

impl Kind {
    /// Every kind, in the order of the enum.
    pub const ALL: [Kind; 9] = [
        Kind::Code,
        Kind::ReadOnly,
        Kind::Data,
        Kind::Heap,
        Kind::Anon,
        Kind::Library,
        Kind::Stack,
        Kind::Kernel,
        Kind::Other,
    ];

    /// A one-word name, used in the text output.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Code => "code",
            Kind::ReadOnly => "rodata",
            Kind::Data => "data",
            Kind::Heap => "heap",
            Kind::Anon => "anon",
            Kind::Library => "library",
            Kind::Stack => "stack",
            Kind::Kernel => "kernel",
            Kind::Other => "other",
        }
    }

    /// The kind whose [`label`](Kind::label) is `label`.
    pub fn from_label(label: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.label() == label)
    }
}

// ANCHOR: classify
/// Says what each region is for. `exe` is the path of the running program
/// (what `/proc/self/exe` points to), which is how its own mappings are told
/// apart from those of the libraries it uses.
pub fn classify(regions: &[Region], exe: &str) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = Vec::with_capacity(regions.len());
    for (i, region) in regions.iter().enumerate() {
        let kind = match region.path.as_str() {
            "[heap]" => Kind::Heap,
            "[stack]" => Kind::Stack,
            "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]" => Kind::Kernel,
            path if path == exe => {
                if region.perms.exec {
                    Kind::Code
                } else if region.perms.write {
                    Kind::Data
                } else {
                    Kind::ReadOnly
                }
            }
            "" => {
                // A `.bss` too big for the last page of the file goes on in an
                // anonymous mapping that starts right where the file's ends.
                let continues_data = i > 0
                    && kinds[i - 1] == Kind::Data
                    && regions[i - 1].end == region.start
                    && region.perms.write;
                if continues_data {
                    Kind::Data
                } else {
                    Kind::Anon
                }
            }
            // Anonymous memory that its owner gave a name with prctl().
            path if path.starts_with("[anon:") => Kind::Anon,
            path if path.starts_with('[') => Kind::Other,
            _ => Kind::Library,
        };
        kinds.push(kind);
    }
    kinds
}
// ANCHOR_END: classify

/// A region together with what it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The region, as the kernel listed it.
    pub region: Region,
    /// What it is for.
    pub kind: Kind,
}

/// An address worth finding in the picture, with a name for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// What lives at the address, such as `a local variable`.
    pub name: String,
    /// The address.
    pub addr: usize,
}

impl Named {
    /// Names an address.
    pub fn new(name: impl Into<String>, addr: usize) -> Named {
        Named {
            name: name.into(),
            addr,
        }
    }
}

// ANCHOR: place
/// The index of the mapping that holds `addr`, if any. `mappings` must be in
/// address order without overlaps, as the kernel lists them.
pub fn place(mappings: &[Mapping], addr: usize) -> Option<usize> {
    // Every mapping before index `i` ends at or below `addr`, so mapping `i`
    // is the only one that can hold it.
    let i = mappings.partition_point(|m| m.region.end <= addr);
    let candidate = mappings.get(i)?;
    candidate.region.contains(addr).then_some(i)
}
// ANCHOR_END: place

/// Where the program break is in relation to the mappings: its address is one
/// past the heap's last byte, so it may equal the end of the heap mapping.
/// Gives the mapping that holds it, or else the one that ends exactly there.
pub fn place_break(mappings: &[Mapping], addr: usize) -> Option<usize> {
    place(mappings, addr).or_else(|| {
        let below = place(mappings, addr.checked_sub(1)?)?;
        (mappings[below].region.end == addr).then_some(below)
    })
}

/// The program break, before and after [`move_break`] moved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakMove {
    /// What `sbrk(0)` said before.
    pub before: usize,
    /// What `sbrk(0)` said after.
    pub after: usize,
}

// ANCHOR: move_break
/// What `sbrk` returns when it fails: `(void *) -1`, not null.
fn sbrk_failed(ptr: *mut libc::c_void) -> bool {
    ptr.addr() == usize::MAX
}

/// Moves the program break by `increment` bytes and reports where it was
/// before and where it is after.
///
/// # Safety
///
/// Nothing else may move the break while this runs. `sbrk` keeps the break
/// in a global variable without a lock, and glibc's `malloc` calls it too,
/// so in practice: call this before the program starts any other thread.
///
/// A negative `increment` unmaps the top of the heap: the caller must own
/// every byte it gives back, and nothing (glibc's `malloc` included) may
/// use them afterwards.
pub unsafe fn move_break(increment: isize) -> io::Result<BreakMove> {
    let failed = |call: &str| {
        let error = io::Error::last_os_error();
        io::Error::new(error.kind(), format!("{call} failed: {error}"))
    };
    // SAFETY: `sbrk(0)` only reports the break, and the caller promised that
    // no one else is moving it.
    let before = unsafe { libc::sbrk(0) };
    if sbrk_failed(before) {
        return Err(failed("sbrk(0)"));
    }
    // SAFETY: growing the break maps fresh pages above it that nobody uses
    // yet, so no existing memory changes; glibc's malloc, which shares the
    // break, notices that its heap no longer ends there and works around our
    // memory. Shrinking it releases only bytes the caller promised are theirs
    // to give back.
    let old = unsafe { libc::sbrk(increment) };
    if sbrk_failed(old) {
        return Err(failed(&format!("sbrk({increment})")));
    }
    // SAFETY: as for the first call.
    let after = unsafe { libc::sbrk(0) };
    if sbrk_failed(after) {
        return Err(failed("sbrk(0)"));
    }
    Ok(BreakMove {
        before: before.addr(),
        after: after.addr(),
    })
}
// ANCHOR_END: move_break

/// The size of a page, from `sysconf`.
pub fn page_size() -> usize {
    // SAFETY: `sysconf` only reads a system setting.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

// ANCHOR: anon_page
/// Memory mapped with `mmap`, with no file behind it. Unmapped on drop.
pub struct AnonPage {
    ptr: NonNull<libc::c_void>,
    len: usize,
}

impl AnonPage {
    /// Maps `len` bytes of fresh, zeroed, readable and writable memory.
    pub fn map(len: usize) -> io::Result<AnonPage> {
        // SAFETY: a private anonymous mapping at an address of the kernel's
        // choosing (the hint is null and there is no MAP_FIXED) never
        // replaces anything already mapped; we check for failure below.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(AnonPage { ptr, len })
    }

    /// Where the mapping starts.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr().addr()
    }
}

impl Drop for AnonPage {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` describe exactly the mapping `map` made, we
        // own it, and no reference into it exists (only its address is handed
        // out, as a number).
        unsafe {
            libc::munmap(self.ptr.as_ptr(), self.len);
        }
    }
}
// ANCHOR_END: anon_page

/// A picture of an address space: the mappings in address order, addresses
/// worth finding in it, and what happened to the program break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The processor architecture, as Rust names it (`x86_64`, `aarch64`):
    /// the order of the mappings is a little different on each.
    pub machine: String,
    /// Every mapping, lowest address first.
    pub mappings: Vec<Mapping>,
    /// The named addresses, in the order they were given.
    pub named: Vec<Named>,
    /// How the break moved, or why it could not be moved.
    pub brk: Result<BreakMove, String>,
}

impl Layout {
    /// Reads this process's own mappings from `/proc/self/maps` and
    /// classifies them. Also returns the lines that could not be read.
    pub fn of_this_process(
        named: Vec<Named>,
        brk: Result<BreakMove, String>,
    ) -> io::Result<(Layout, Vec<LineError>)> {
        let text = std::fs::read_to_string("/proc/self/maps")?;
        let exe = std::fs::read_link("/proc/self/exe")?;
        let (exe, _) = parse_path(&exe.to_string_lossy());
        let (mut regions, errors) = parse_maps(&text);
        regions.sort_by_key(|r| r.start);
        let kinds = classify(&regions, &exe);
        let mappings = regions
            .into_iter()
            .zip(kinds)
            .map(|(region, kind)| Mapping { region, kind })
            .collect();
        let layout = Layout {
            machine: std::env::consts::ARCH.to_string(),
            mappings,
            named,
            brk,
        };
        Ok((layout, errors))
    }

    /// The kind of every mapping, in address order.
    pub fn kinds(&self) -> Vec<Kind> {
        self.mappings.iter().map(|m| m.kind).collect()
    }

    /// The kind of mapping each named address falls in (`None`: in none),
    /// sorted by name, so that two layouts can be compared whatever order
    /// they list the names in.
    pub fn placed_kinds(&self) -> Vec<(&str, Option<Kind>)> {
        let mut placed: Vec<_> = self
            .named
            .iter()
            .map(|n| {
                let kind = place(&self.mappings, n.addr).map(|i| self.mappings[i].kind);
                (n.name.as_str(), kind)
            })
            .collect();
        placed.sort();
        placed
    }
}

/// A byte count in binary units: `512 B`, `4 KiB`, `1.5 MiB`.
pub fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    let mut whole = bytes;
    while whole >= 1024 && unit + 1 < UNITS.len() {
        whole /= 1024;
        unit += 1;
    }
    let exact = unit == 0 || bytes.is_multiple_of(1usize << (10 * unit));
    if exact {
        format!("{whole} {}", UNITS[unit])
    } else {
        let value = bytes as f64 / (1u64 << (10 * unit)) as f64;
        format!("{value:.1} {}", UNITS[unit])
    }
}

const MACHINE: &str = "machine:";
const BREAK_BEFORE: &str = "program break before:";
const BREAK_AFTER: &str = "program break after:";
const BREAK_FAILED: &str = "program break:";

/// The table's columns, also the width of the range column.
const RANGE_WIDTH: usize = 33;

/// Prints a layout as a table, lowest address first, with each named address
/// and the program break listed under the mapping it falls in.
/// [`parse_recorded`] reads the result back.
pub fn render_text(layout: &Layout) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line("The address space of ch01-memory-layout, read from /proc/self/maps.".into());
    line("Lowest addresses first; `<-` marks a named address, `==` the program break.".into());
    line(String::new());
    line(format!("{MACHINE} {}", layout.machine));
    // Markers: (address, text) for each mapping, and those outside every mapping.
    let mut marks: Vec<Vec<(usize, String)>> = vec![Vec::new(); layout.mappings.len()];
    let mut lost: Vec<(usize, String)> = Vec::new();
    match &layout.brk {
        Ok(b) => {
            line(format!("{BREAK_BEFORE} 0x{:012x}", b.before));
            line(format!(
                "{BREAK_AFTER}  0x{:012x}  ({:+} bytes)",
                b.after,
                b.after as i128 - b.before as i128
            ));
            for (addr, what) in [(b.before, "before"), (b.after, "after")] {
                let text = format!("    == 0x{addr:012x}  program break {what} sbrk");
                match place_break(&layout.mappings, addr) {
                    Some(i) => marks[i].push((addr, text)),
                    None => lost.push((addr, text)),
                }
            }
        }
        Err(why) => line(format!("{BREAK_FAILED} {why}")),
    }
    for named in &layout.named {
        let text = format!("    <- 0x{:012x}  {}", named.addr, named.name);
        match place(&layout.mappings, named.addr) {
            Some(i) => marks[i].push((named.addr, text)),
            None => lost.push((named.addr, text)),
        }
    }
    line(String::new());
    line(format!(
        "{:<RANGE_WIDTH$} perms kind         size  path",
        "range"
    ));
    let mut previous_end = None;
    for (mapping, marks) in layout.mappings.iter().zip(&mut marks) {
        let r = &mapping.region;
        if let Some(end) = previous_end
            && r.start > end
        {
            let gap = human_size(r.start - end);
            line(format!("{:RANGE_WIDTH$}   ~ {gap} unmapped ~", ""));
        }
        previous_end = Some(r.end);
        let range = format!("{:012x}-{:012x}", r.start, r.end);
        let deleted = if r.deleted { " (deleted)" } else { "" };
        line(format!(
            "{range:<RANGE_WIDTH$} {}  {:<7} {:>10}  {}{deleted}",
            r.perms,
            mapping.kind.label(),
            human_size(r.len()),
            r.path
        ));
        marks.sort_by_key(|(addr, _)| *addr);
        for (_, text) in marks.iter() {
            line(text.clone());
        }
    }
    if !lost.is_empty() {
        line(String::new());
        line("In no mapping:".into());
        for (_, text) in lost {
            line(text);
        }
    }
    out
}

/// Why a recorded run could not be read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The line number, counting from 1 (0: the text as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RecordError {}

/// Reads `0x`-prefixed hexadecimal.
fn parse_hex(text: &str) -> Option<usize> {
    usize::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// Reads back what [`render_text`] printed. Lines that are neither a
/// mapping, a named address nor a break are ignored; those that start like
/// one but do not parse are errors.
pub fn parse_recorded(text: &str) -> Result<Layout, RecordError> {
    let mut mappings: Vec<Mapping> = Vec::new();
    let mut named = Vec::new();
    let (mut before, mut after, mut failed) = (None, None, None);
    let mut machine = None;
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| RecordError {
            line: i + 1,
            message,
        };
        let hex_after = |prefix: &str| {
            let mut rest = line.strip_prefix(prefix)?;
            next_field(&mut rest).and_then(parse_hex)
        };
        if let Some(name) = line.strip_prefix(MACHINE) {
            machine = Some(name.trim().to_string());
        } else if line.starts_with(BREAK_BEFORE) {
            before = Some(hex_after(BREAK_BEFORE).ok_or_else(|| err("bad break".into()))?);
        } else if line.starts_with(BREAK_AFTER) {
            after = Some(hex_after(BREAK_AFTER).ok_or_else(|| err("bad break".into()))?);
        } else if let Some(why) = line.strip_prefix(BREAK_FAILED) {
            failed = Some(why.trim().to_string());
        } else if let Some(mut rest) = line.trim_start().strip_prefix("<-") {
            let addr = next_field(&mut rest)
                .and_then(parse_hex)
                .ok_or_else(|| err("a named address without an address".into()))?;
            named.push(Named::new(rest.trim(), addr));
        } else if looks_like_range(line) {
            let mapping = parse_table_row(line).map_err(err)?;
            if let Some(last) = mappings.last()
                && last.region.end > mapping.region.start
            {
                return Err(err("mappings overlap or are out of order".into()));
            }
            mappings.push(mapping);
        }
    }
    let whole = |message: &str| RecordError {
        line: 0,
        message: message.into(),
    };
    let brk = match (before, after, failed) {
        (Some(before), Some(after), None) => Ok(BreakMove { before, after }),
        (None, None, Some(why)) => Err(why),
        _ => {
            return Err(whole(
                "expected both breaks, or one line saying why there are none",
            ));
        }
    };
    if mappings.is_empty() {
        return Err(whole("no mappings"));
    }
    let machine = machine.ok_or_else(|| whole("no line saying which machine ran it"))?;
    Ok(Layout {
        machine,
        mappings,
        named,
        brk,
    })
}

/// Whether a line starts with `hex-hex`, as the rows of the table do.
fn looks_like_range(line: &str) -> bool {
    let mut rest = line;
    next_field(&mut rest).is_some_and(|field| parse_range(field).is_ok())
}

/// Reads one row of the table that [`render_text`] prints:
/// `range perms kind size unit path`.
fn parse_table_row(line: &str) -> Result<Mapping, String> {
    let mut rest = line;
    let mut field = |name: &str| next_field(&mut rest).ok_or(format!("no {name}"));
    let range = field("range")?;
    let perms = field("permissions")?;
    let kind = field("kind")?;
    field("size")?;
    field("size unit")?;
    let (start, end) = parse_range(range).map_err(|e| e.to_string())?;
    let perms = Perms::parse(perms).ok_or(format!("bad permissions {perms:?}"))?;
    let kind = Kind::from_label(kind).ok_or(format!("unknown kind {kind:?}"))?;
    let (path, deleted) = parse_path(rest);
    Ok(Mapping {
        region: Region {
            start,
            end,
            perms,
            path,
            deleted,
        },
        kind,
    })
}

/// Shared by the text and the picture: the last part of a path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/home/me/target/debug/demo";

    fn region(line: &str) -> Region {
        parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn parses_a_file_mapping() {
        let r = region(
            "7f06a0bb6000-7f06a0d0c000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6",
        );
        assert_eq!(r.start, 0x7f06a0bb6000);
        assert_eq!(r.end, 0x7f06a0d0c000);
        assert_eq!(r.len(), 0x156000);
        assert_eq!(r.perms.to_string(), "r-xp");
        assert!(r.perms.read && !r.perms.write && r.perms.exec && !r.perms.shared);
        assert_eq!(r.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
        assert!(!r.deleted);
    }

    #[test]
    fn parses_anonymous_mappings_with_and_without_trailing_space() {
        for line in [
            "7f06a0b0c000-7f06a0b2e000 rw-p 00000000 00:00 0 ",
            "7f06a0b0c000-7f06a0b2e000 rw-p 00000000 00:00 0",
        ] {
            let r = region(line);
            assert_eq!(r.path, "");
            assert_eq!(r.perms.to_string(), "rw-p");
        }
    }

    #[test]
    fn parses_special_names_spaces_and_deleted_files() {
        let vvar = region("7f06a0d7e000-7f06a0d82000 r--p 00000000 00:00 0   [vvar]");
        assert_eq!(vvar.path, "[vvar]");
        let spaced =
            region("7f0000000000-7f0000001000 r--s 00000000 08:01 42  /tmp/my data/a file.bin");
        assert_eq!(spaced.path, "/tmp/my data/a file.bin");
        assert!(spaced.perms.shared);
        let gone =
            region("7f0000000000-7f0000002000 rw-s 00000000 00:01 1025 /memfd:pool (deleted)");
        assert_eq!(gone.path, "/memfd:pool");
        assert!(gone.deleted);
        let named =
            region("7f0000000000-7f0000002000 rw-p 00000000 00:00 0  [anon: glibc: malloc arena]");
        assert_eq!(named.path, "[anon: glibc: malloc arena]");
        let top = region("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]");
        assert_eq!(top.end, 0xffffffffff601000);
        assert!(!top.perms.read && top.perms.exec);
    }

    #[test]
    fn odd_lines_are_errors_not_panics() {
        let cases: [(&str, ParseError); 8] = [
            ("", ParseError::Missing("address range")),
            ("7f00-7f01", ParseError::Missing("permissions")),
            ("7f00-7f01 r-xp 0 fe:00", ParseError::Missing("inode")),
            (
                "hello world 0 0:0 0",
                ParseError::Malformed("address range", "hello".into()),
            ),
            (
                "7f00-zz r-xp 0 fe:00 1",
                ParseError::Malformed("address range", "7f00-zz".into()),
            ),
            (
                "7f01-7f00 r-xp 0 fe:00 1",
                ParseError::EmptyRange(0x7f01, 0x7f00),
            ),
            (
                "7f00-7f01 rwxq 0 fe:00 1",
                ParseError::Malformed("permissions", "rwxq".into()),
            ),
            (
                "7f00-7f01 r-xp 0 fe:00 -1 /lib",
                ParseError::Malformed("inode", "-1".into()),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line), Err(expected), "{line:?}");
        }
        let huge = format!("{}-1 r-xp 0 0:0 0", "f".repeat(40));
        assert!(parse_line(&huge).is_err());
        assert!(parse_line("7f00-7f01 r-x 0 0:0 0").is_err());
        assert!(parse_line("7f00-7f01 r-xp 0 0:0 0 é ünïcödé").is_ok());
    }

    #[test]
    fn parse_maps_skips_and_reports_bad_lines() {
        let text = "1000-2000 r-xp 0 fe:00 7 /bin/x\nnot a mapping\n\n3000-4000 rw-p 0 00:00 0\n";
        let (regions, errors) = parse_maps(text);
        assert_eq!(regions.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(errors[0].text, "not a mapping");
    }

    /// A small but realistic address space, in the kernel's format.
    fn sample() -> Vec<Region> {
        let text = format!(
            "\
555555554000-555555558000 r--p 00000000 fe:00 10 {EXE}
555555558000-555555590000 r-xp 00004000 fe:00 10 {EXE}
555555590000-5555555a0000 r--p 0003c000 fe:00 10 {EXE}
5555555a0000-5555555a2000 rw-p 0004c000 fe:00 10 {EXE}
5555555a2000-5555555a3000 rw-p 00000000 00:00 0
555556000000-555556021000 rw-p 00000000 00:00 0  [heap]
7ffff7d00000-7ffff7e00000 rw-p 00000000 00:00 0
7ffff7e00000-7ffff7e26000 r--p 00000000 fe:00 20 /usr/lib/libc.so.6
7ffff7e26000-7ffff7f7c000 r-xp 00026000 fe:00 20 /usr/lib/libc.so.6
7ffff7f7c000-7ffff7f80000 rw-p 0017c000 fe:00 20 /usr/lib/libc.so.6
7ffff7f80000-7ffff7f8d000 rw-p 00000000 00:00 0
7ffff7fc0000-7ffff7fc4000 r--p 00000000 00:00 0  [vvar]
7ffff7fc4000-7ffff7fc6000 r-xp 00000000 00:00 0  [vdso]
7ffff7fc6000-7ffff7fc8000 r--p 00000000 00:00 0  [uprobes]
7ffff7fc8000-7ffff7ff0000 r-xp 00000000 fe:00 30 /usr/lib/ld-linux-x86-64.so.2
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0  [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
"
        );
        let (regions, errors) = parse_maps(&text);
        assert!(errors.is_empty(), "{errors:?}");
        regions
    }

    #[test]
    fn classifies_every_kind() {
        use Kind::*;
        let kinds = classify(&sample(), EXE);
        assert_eq!(
            kinds,
            [
                ReadOnly, Code, ReadOnly, Data, Data, Heap, Anon, Library, Library, Library, Anon,
                Kernel, Kernel, Other, Library, Stack, Kernel
            ]
        );
    }

    #[test]
    fn anonymous_memory_after_a_gap_is_not_bss() {
        let text = format!(
            "1000-2000 rw-p 0 fe:00 10 {EXE}\n3000-4000 rw-p 0 00:00 0\n4000-5000 r--p 0 00:00 0\n"
        );
        let (regions, _) = parse_maps(&text);
        assert_eq!(
            classify(&regions, EXE),
            [Kind::Data, Kind::Anon, Kind::Anon]
        );
        // Without the program's own path, its mappings count as a library.
        assert_eq!(classify(&regions[..1], "/bin/other"), [Kind::Library]);
    }

    fn sample_layout() -> Layout {
        let regions = sample();
        let kinds = classify(&regions, EXE);
        Layout {
            machine: "x86_64".into(),
            mappings: regions
                .into_iter()
                .zip(kinds)
                .map(|(region, kind)| Mapping { region, kind })
                .collect(),
            named: vec![
                Named::new("fn main", 0x555555560010),
                Named::new("a Box<u64>", 0x5555560002a0),
                Named::new("nowhere", 0x10),
                Named::new("a local", 0x7fffffffe010),
            ],
            brk: Ok(BreakMove {
                before: 0x555556020000,
                after: 0x555556021000,
            }),
        }
    }

    #[test]
    fn places_addresses_in_their_regions() {
        let layout = sample_layout();
        let m = &layout.mappings;
        let kind_at = |addr| place(m, addr).map(|i| m[i].kind);
        assert_eq!(kind_at(0), None);
        assert_eq!(kind_at(0x555555554000), Some(Kind::ReadOnly));
        assert_eq!(kind_at(0x555555557fff), Some(Kind::ReadOnly));
        assert_eq!(kind_at(0x555555558000), Some(Kind::Code));
        assert_eq!(kind_at(0x5555555a3000), None, "between bss and heap");
        assert_eq!(kind_at(0x7ffffffff000), None, "end is not included");
        assert_eq!(kind_at(usize::MAX), None);
        // The break may sit exactly at the end of the heap mapping.
        assert_eq!(
            place_break(m, 0x555556021000).map(|i| m[i].kind),
            Some(Kind::Heap)
        );
        assert_eq!(
            place_break(m, 0x555556020000).map(|i| m[i].kind),
            Some(Kind::Heap)
        );
        assert_eq!(place_break(m, 0), None);
        assert_eq!(
            layout.placed_kinds(),
            [
                ("a Box<u64>", Some(Kind::Heap)),
                ("a local", Some(Kind::Stack)),
                ("fn main", Some(Kind::Code)),
                ("nowhere", None),
            ]
        );
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(132 << 10), "132 KiB");
        assert_eq!(human_size((1 << 20) + (4 << 10)), "1.0 MiB");
        assert_eq!(human_size(usize::MAX), "16.0 EiB");
    }

    #[test]
    fn text_reads_back_as_the_same_layout() {
        let mut layout = sample_layout();
        layout.mappings[7].region.path = "/opt/with space/lib.so".into();
        layout.mappings[7].region.deleted = true;
        let text = render_text(&layout);
        // The text lists the names by address, those in no mapping last.
        let mut read = parse_recorded(&text).expect("parses");
        let by_address = |n: &Named| (place(&layout.mappings, n.addr).is_none(), n.addr);
        layout.named.sort_by_key(by_address);
        read.named.sort_by_key(by_address);
        assert_eq!(read, layout);
        assert!(text.contains("  ~ 42.7 TiB unmapped ~"), "{text}");
        assert!(text.contains("In no mapping:\n    <- 0x000000000010  nowhere\n"));

        layout.brk = Err("sbrk(4096) failed: Cannot allocate memory (os error 12)".into());
        let text = render_text(&layout);
        let read = parse_recorded(&text).expect("parses");
        assert_eq!(read.brk, layout.brk);
        assert_eq!(read.mappings, layout.mappings);
    }

    #[test]
    fn broken_recordings_are_errors() {
        let good = render_text(&sample_layout());
        let unknown = good.replace("  heap  ", "  heaps ");
        assert!(parse_recorded(&unknown).is_err());
        let one_break: String = good
            .lines()
            .filter(|l| !l.starts_with(BREAK_AFTER))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_recorded(&one_break).is_err());
        let swapped = good.replace("555555554000-555555558000", "555555554000-555555559000");
        assert_eq!(parse_recorded(&swapped).map_err(|e| e.line), Err(10));
        assert!(parse_recorded("").is_err());
        assert!(parse_recorded("    <- nothing").is_err());
    }

    #[test]
    fn svg_is_one_block_of_inline_html() {
        let svg = render_svg(&sample_layout());
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.lines().any(|l| l.trim().is_empty()), "no blank lines");
        for needle in [
            r#"class="layout-map""#,
            "viewBox=",
            r#"font-family="monospace""#,
            "a Box&lt;u64&gt;",
            "libc.so.6",
            "[vsyscall]",
            "program break after sbrk",
        ] {
            assert!(svg.contains(needle), "{needle}");
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a & "b">"#), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
