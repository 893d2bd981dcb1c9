//! `cargo run -p ch07-global-alloc`: a real Rust program, every allocation
//! of which goes through this chapter's allocator.

use alloc_text::{text, top_words};
use ch07_global_alloc::Global;
use std::collections::HashMap;

// ANCHOR: global_allocator
#[global_allocator]
static HEAP: Global = Global::new();
// ANCHOR_END: global_allocator

mod alloc_text {
    use std::collections::HashMap;

    /// 200,000 words drawn from a small vocabulary, the first words far more
    /// often than the last: the same text on every run.
    pub fn text() -> String {
        const WORDS: [&str; 24] = [
            "the", "heap", "a", "chunk", "free", "list", "block", "break", "of", "memory",
            "header", "size", "next", "used", "split", "merge", "align", "page", "sbrk", "mmap",
            "lock", "thread", "arena", "fragment",
        ];
        let mut state = 0x2545_f491_u64;
        let mut out = String::new();
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let (x, y) = ((state % 24) as usize, ((state >> 32) % 24) as usize);
            out.push_str(WORDS[x.min(y)]);
            out.push(' ');
        }
        out
    }

    /// The `n` most frequent words, most frequent first.
    pub fn top_words(counts: &HashMap<String, usize>, n: usize) -> Vec<(String, usize)> {
        let mut v: Vec<_> = counts.iter().map(|(w, c)| (w.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

fn count(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

fn stats(label: &str) {
    let map = HEAP.map();
    let t = map.totals();
    let gaps = map
        .chunks
        .windows(2)
        .filter(|w| w[0].end() != w[1].addr)
        .count();
    // Memory between our last chunk and our idea of the break: someone
    // else's, left there when we gave back what was above it.
    let above = map.end - map.chunks.last().map_or(map.base, |c| c.end());
    println!("{label}:");
    println!(
        "  heap {} B in {} chunks",
        map.len(),
        t.used_chunks + t.free_chunks
    );
    println!(
        "  used {} B in {} chunks, free {} B in {} chunks",
        t.used_bytes, t.used_chunks, t.free_bytes, t.free_chunks
    );
    println!(
        "  headers {} B; glibc's memory between our chunks: {} B in {} gaps",
        t.header_bytes, t.foreign_bytes, gaps
    );
    if above > 0 {
        println!("  not ours, above our last chunk: {above} B");
    }
    println!(
        "  invariants: {}",
        match HEAP.check() {
            Ok(()) => "ok".to_string(),
            Err(e) => e,
        }
    );
}

// ANCHOR: main
fn main() {
    // A word count on two threads: String, Vec and HashMap, all on our heap.
    let text = text();
    let middle = text[..text.len() / 2].rfind(' ').unwrap_or(0);
    let (left, right) = text.split_at(middle);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| count(left));
        let b = s.spawn(|| count(right));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut counts = a;
    for (word, n) in b {
        *counts.entry(word).or_insert(0) += n;
    }
    println!(
        "The ten most frequent of {} words:",
        text.split_whitespace().count()
    );
    for (word, n) in top_words(&counts, 10) {
        println!("  {word:10} {n:6}");
    }
    println!();
    println!("---- heap statistics (these depend on the run) ----");
    stats("After counting");

    // The shared break: glibc's malloc, which libc still uses inside, grows
    // the same break as we do, between our own growths.
    let ours = vec![1u8; 100_000];
    // SAFETY: plain calls to the C library's malloc and free.
    let glibc: Vec<_> = (0..4).map(|_| unsafe { libc::malloc(60_000) }).collect();
    let more = vec![2u8; 100_000];
    stats("With glibc's blocks between ours");
    drop((ours, more, counts, text));
    for p in glibc {
        // SAFETY: p came from libc::malloc and is freed once.
        unsafe { libc::free(p) };
    }
    stats("After freeing both");
}
// ANCHOR_END: main
