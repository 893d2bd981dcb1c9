//! The exercises' tests. `cargo test` runs them against the reference
//! solutions; `--features mine` runs them against `src/exercises.rs`.

use alloc_suite::exercises::ensure;
use ch11_boundary_tags::{HEADER, Header, Heap, Links, links};
use memsource::Arena;
use std::ptr::null_mut;

/// Room for six chunks of 64 bytes, aligned like a heap.
#[repr(C, align(16))]
struct Chunks([u8; 384]);

/// Chunk `i` of `mem`.
fn chunk(mem: &mut Chunks, i: usize) -> *mut Header {
    mem.0.as_mut_ptr().wrapping_add(64 * i).cast()
}

/// Links chunks `order` of `mem` into a list, returning its head.
fn list(mem: &mut Chunks, order: &[usize]) -> *mut Header {
    let ptrs: Vec<_> = order.iter().map(|&i| chunk(mem, i)).collect();
    for (k, &c) in ptrs.iter().enumerate() {
        let prev = if k == 0 { null_mut() } else { ptrs[k - 1] };
        let next = ptrs.get(k + 1).copied().unwrap_or(null_mut());
        // SAFETY: each chunk has 64 bytes in `mem`; its links are at 16.
        unsafe { links(c).write(Links { prev, next }) };
    }
    ptrs.first().copied().unwrap_or(null_mut())
}

/// The list from `head`, as chunk numbers, walked forwards, and checked
/// backwards.
fn walk(mem: &mut Chunks, head: *mut Header) -> Result<Vec<usize>, String> {
    let base = chunk(mem, 0) as usize;
    let (mut out, mut at, mut prev) = (Vec::new(), head, null_mut());
    while !at.is_null() && out.len() < 10 {
        // SAFETY: every link points at a chunk of `mem`.
        let l = unsafe { links(at).read() };
        if l.prev != prev {
            return Err(format!(
                "chunk {} has a wrong back link",
                (at as usize - base) / 64
            ));
        }
        out.push((at as usize - base) / 64);
        prev = at;
        at = l.next;
    }
    Ok(out)
}

macro_rules! checks {
    ($($ex:tt)*) => {
        use super::*;
        use $($ex)* as ex;

        pub fn exercise_1() -> Result<(), String> {
            for (order, take, left) in [
                (&[0, 1, 2][..], 1, &[0, 2][..]),
                (&[0, 1, 2], 0, &[1, 2]),
                (&[0, 1, 2], 2, &[0, 1]),
                (&[3], 3, &[]),
                (&[4, 0, 5, 2], 5, &[4, 0, 2]),
            ] {
                let mut mem = Chunks([0; 384]);
                let mut head = list(&mut mem, order);
                let c = chunk(&mut mem, take);
                // SAFETY: every chunk on the list has links in `mem`.
                let ok = unsafe { ex::unlink(&mut head, c) };
                ensure(ok, &format!("unlink of chunk {take} from {order:?} returned false"))?;
                let got = walk(&mut mem, head)?;
                ensure(got == left, &format!("unlink of chunk {take} from {order:?} left {got:?}, expected {left:?}"))?;
            }
            // An overwritten back link: nothing may change.
            let mut mem = Chunks([0; 384]);
            let mut head = list(&mut mem, &[0, 1, 2]);
            let (c1, c2, c5) = (chunk(&mut mem, 1), chunk(&mut mem, 2), chunk(&mut mem, 5));
            // SAFETY: chunk 2 has links in `mem`.
            unsafe { (*links(c2)).prev = c5 };
            let before = mem.0;
            // SAFETY: as above.
            let ok = unsafe { ex::unlink(&mut head, c1) };
            ensure(!ok, "unlink went ahead although the next chunk does not point back")?;
            ensure(mem.0 == before && head == chunk(&mut mem, 0), "a refused unlink changed the list")?;
            // A chunk with no `prev` that is not the head.
            let mut head = list(&mut mem, &[0, 1]);
            let c3 = chunk(&mut mem, 3);
            // SAFETY: chunk 3 has links in `mem`.
            unsafe { links(c3).write(Links { prev: null_mut(), next: null_mut() }) };
            // SAFETY: as above.
            let ok = unsafe { ex::unlink(&mut head, c3) };
            ensure(!ok && head == chunk(&mut mem, 0), "unlink of a chunk that is not on the list went ahead")
        }

        pub fn exercise_2() -> Result<(), String> {
            let mut heap = Heap::new(Arena::new(1 << 16));
            let p: Vec<_> = [100, 64, 200, 64, 32].iter().map(|&n| heap.malloc(n)).collect();
            let hdr = |q: *mut u8| q.wrapping_sub(HEADER).cast::<Header>().cast_const();
            // SAFETY: blocks of this heap, freed once.
            unsafe {
                heap.free(p[0]).unwrap();
                heap.free(p[2]).unwrap();
            }
            for (i, want) in [(1, Some(hdr(p[0]))), (3, Some(hdr(p[2]))), (2, None), (4, None)] {
                // SAFETY: a header of the heap; the chunk before it is free
                // exactly when its PREV_USED bit is clear.
                let got = unsafe { ex::prev_free(hdr(p[i])) };
                ensure(got == want, &format!("the chunk before block {i}: expected {want:?}, got {got:?}"))?;
            }
            Ok(())
        }

        pub fn exercise_3() -> Result<(), String> {
            let page = 4096;
            for (payload, end, want) in [
                (16, 3 * 4096, Some((4096, 2 * 4096))),
                (4096, 3 * 4096 + 8, Some((2 * 4096, 3 * 4096))),
                (4096 - 16, 3 * 4096 + 8, Some((4096, 3 * 4096))),
                (4096, 2 * 4096, None),
                (100, 200, None),
            ] {
                let got = ex::releasable(payload, end, page);
                ensure(got == want, &format!("payload {payload}..{end}: expected {want:?}, got {got:?}"))?;
            }
            Ok(())
        }
    };
}

alloc_suite::exercise_harness!(
    ch11_boundary_tags,
    include_str!("../src/exercises.rs"),
    [exercise_1, exercise_2, exercise_3]
);
