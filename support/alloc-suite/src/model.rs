//! Model-based checking: run a sequence of operations against an allocator
//! and, after every step, compare it with a model of what must be true.
//!
//! The model is the set of live blocks, each with its size and a byte
//! pattern written into it. After every operation:
//! - a new block is non-null, aligned to 16 and overlaps no live block;
//! - a block about to be freed or moved still holds its pattern;
//! - `realloc` kept the contents, `calloc` returned zeros;
//! - the heap walk is well formed, every live block lies inside a used
//!   chunk, and (for allocators that track chunks) no used chunk holds nothing.

use crate::workload::Op;
use allockit::{Behaviour, Malloc};
use proptest::prelude::*;

/// Payload alignment every allocator in the book promises.
pub const ALIGN: usize = 16;

/// A live block of the model.
#[derive(Debug, Clone, Copy)]
struct Block {
    ptr: *mut u8,
    size: usize,
    tag: u8,
}

/// The live blocks and the allocator under test.
pub struct Model<A: Malloc> {
    alloc: A,
    live: Vec<Block>,
    next_tag: u8,
    step: usize,
}

impl<A: Malloc> Model<A> {
    /// Starts checking `alloc`, which must have no live blocks.
    pub fn new(alloc: A) -> Self {
        Model {
            alloc,
            live: Vec::new(),
            next_tag: 1,
            step: 0,
        }
    }

    /// The allocator under test.
    pub fn alloc(&self) -> &A {
        &self.alloc
    }

    /// Number of live blocks.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    fn tag(&mut self) -> u8 {
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        self.next_tag
    }

    fn fail<T>(&self, what: String) -> Result<T, String> {
        Err(format!(
            "{} step {}: {what}\n{}",
            A::NAME,
            self.step,
            self.alloc.map().render()
        ))
    }

    fn check_new(&self, p: *mut u8, size: usize) -> Result<(), String> {
        if p.is_null() {
            return self.fail(format!("allocation of {size} bytes returned null"));
        }
        if !(p as usize).is_multiple_of(ALIGN) {
            return self.fail(format!("block {p:p} is not aligned to {ALIGN}"));
        }
        let (a0, a1) = (p as usize, p as usize + size.max(1));
        for b in &self.live {
            let (b0, b1) = (b.ptr as usize, b.ptr as usize + b.size.max(1));
            if a0 < b1 && b0 < a1 {
                return self.fail(format!(
                    "new block {p:p}+{size} overlaps live block {:p}+{}",
                    b.ptr, b.size
                ));
            }
        }
        Ok(())
    }

    fn verify(&self, b: &Block, len: usize) -> Result<(), String> {
        // SAFETY: b is live, so `b.size >= len` bytes at b.ptr are ours.
        let bytes = unsafe { std::slice::from_raw_parts(b.ptr, len) };
        if let Some(i) = bytes.iter().position(|&x| x != b.tag) {
            return self.fail(format!(
                "block {:p}+{}: byte {i} is {:#04x}, expected {:#04x}",
                b.ptr, b.size, bytes[i], b.tag
            ));
        }
        Ok(())
    }

    fn fill(b: &Block) {
        // SAFETY: b is live and owns `b.size` bytes at b.ptr.
        unsafe { b.ptr.write_bytes(b.tag, b.size) };
    }

    /// `malloc(size)` where null is an allowed answer: `Ok(false)` when it
    /// returned null, `Ok(true)` when it returned a good block.
    pub fn try_malloc(&mut self, size: usize) -> Result<bool, String> {
        let p = self.alloc.malloc(size);
        if p.is_null() {
            self.check_walk()?;
            return Ok(false);
        }
        self.step += 1;
        self.check_new(p, size)?;
        let b = Block {
            ptr: p,
            size,
            tag: self.tag(),
        };
        Self::fill(&b);
        self.live.push(b);
        self.check_walk()?;
        Ok(true)
    }

    /// Applies one operation and checks everything the model knows.
    pub fn apply(&mut self, op: Op) -> Result<(), String> {
        self.step += 1;
        match op {
            Op::Malloc(size) => {
                let p = self.alloc.malloc(size);
                self.check_new(p, size)?;
                let b = Block {
                    ptr: p,
                    size,
                    tag: self.tag(),
                };
                Self::fill(&b);
                self.live.push(b);
            }
            Op::Calloc(n, size) => {
                let Some(p) = self.alloc.calloc(n, size) else {
                    return self.fail("calloc is not provided".into());
                };
                let total = n * size;
                self.check_new(p, total)?;
                let b = Block {
                    ptr: p,
                    size: total,
                    tag: 0,
                };
                self.verify(&b, total)?;
                let b = Block {
                    tag: self.tag(),
                    ..b
                };
                Self::fill(&b);
                self.live.push(b);
            }
            Op::Free(i) => {
                if self.live.is_empty() {
                    return Ok(());
                }
                let b = self.live.swap_remove(i % self.live.len());
                self.verify(&b, b.size)?;
                // SAFETY: b.ptr came from this allocator and is freed once.
                if let Err(e) = unsafe { self.alloc.free(b.ptr) } {
                    return self.fail(format!("free({:p}) refused a live block: {e}", b.ptr));
                }
            }
            Op::Realloc(i, size) => {
                if self.live.is_empty() {
                    return Ok(());
                }
                let i = i % self.live.len();
                let old = self.live[i];
                self.verify(&old, old.size)?;
                // SAFETY: old.ptr came from this allocator and is live.
                let Some(p) = (unsafe { self.alloc.realloc(old.ptr, size) }) else {
                    return self.fail("realloc is not provided".into());
                };
                self.live.swap_remove(i);
                if size == 0 {
                    // As in glibc: realloc(p, 0) frees p and returns null.
                    if !p.is_null() {
                        return self.fail(format!("realloc({:p}, 0) did not return null", old.ptr));
                    }
                    return self.check_walk();
                }
                self.check_new(p, size)?;
                let moved = Block {
                    ptr: p,
                    size,
                    tag: old.tag,
                };
                self.verify(&moved, old.size.min(size))?;
                let b = Block {
                    tag: self.tag(),
                    ..moved
                };
                Self::fill(&b);
                self.live.push(b);
            }
        }
        self.check_walk()
    }

    /// Checks the heap walk against the live blocks.
    pub fn check_walk(&self) -> Result<(), String> {
        if let Err(e) = self.alloc.check() {
            return self.fail(e);
        }
        let map = self.alloc.map();
        // Match live blocks to chunks in one pass over both, in address order.
        let mut blocks: Vec<&Block> = self.live.iter().collect();
        blocks.sort_by_key(|b| b.ptr as usize);
        let mut holders = vec![0usize; map.chunks.len()];
        let mut k = 0;
        for b in blocks {
            let (b0, b1) = (b.ptr as usize, b.ptr as usize + b.size);
            while k < map.chunks.len() && map.chunks[k].end() <= b0 {
                k += 1;
            }
            match map.chunks.get(k) {
                Some(c) if c.used && c.payload() <= b0 && b1 <= c.end() => holders[k] += 1,
                // Blocks mapped on their own are not in the heap.
                _ if map
                    .mapped
                    .iter()
                    .any(|c| c.payload() == b0 && b1 <= c.end()) => {}
                _ => {
                    return self.fail(format!(
                        "live block {:p}+{} is in no used chunk",
                        b.ptr, b.size
                    ));
                }
            }
        }
        // Allocators that reuse memory track each block in its own chunk.
        if A::BEHAVIOURS.contains(&Behaviour::ReusesFreed) {
            for (k, c) in map.chunks.iter().enumerate() {
                if c.used && holders[k] != 1 {
                    return self.fail(format!(
                        "used chunk at +{} holds {} live blocks",
                        c.addr - map.base,
                        holders[k]
                    ));
                }
            }
        }
        Ok(())
    }

    /// Frees every live block (checking each), then checks the walk.
    pub fn finish(mut self) -> Result<A, String> {
        while !self.live.is_empty() {
            self.apply(Op::Free(0))?;
        }
        let map = self.alloc.map();
        if A::BEHAVIOURS.contains(&Behaviour::ReusesFreed) && map.chunks.iter().any(|c| c.used) {
            return self.fail("a chunk is still used after everything was freed".into());
        }
        Ok(self.alloc)
    }
}

/// Runs `ops` against `alloc` and checks every step.
pub fn check<A: Malloc>(alloc: A, ops: &[Op]) -> Result<A, String> {
    let mut m = Model::new(alloc);
    for &op in ops {
        m.apply(op)?;
    }
    m.finish()
}

/// Largest size the strategies ask for.
pub const MAX_SIZE: usize = 600;

/// Random operation sequences for allocators that have `realloc` and
/// `calloc` exactly when `A` declares them.
pub fn ops<A: Malloc>(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let realloc = A::BEHAVIOURS.contains(&Behaviour::Realloc);
    let calloc = A::BEHAVIOURS.contains(&Behaviour::Calloc);
    let size = prop_oneof![0..=32usize, 0..=MAX_SIZE];
    let op = prop_oneof![
        4 => size.clone().prop_map(Op::Malloc),
        3 => any::<usize>().prop_map(Op::Free),
        (if realloc { 2 } else { 0 }) => (any::<usize>(), size).prop_map(|(i, s)| Op::Realloc(i, s)),
        (if calloc { 1 } else { 0 }) => (0..=8usize, 0..=64usize).prop_map(|(n, s)| Op::Calloc(n, s)),
    ];
    proptest::collection::vec(op, 0..=max_len)
}

/// Bytes of arena that a sequence of `n` operations can never exhaust, even
/// for an allocator that never reuses anything.
pub fn arena_for(n: usize) -> usize {
    (n + 1) * (MAX_SIZE + 64) + 4096
}
