//! This allocator as the global allocator of a test program: two threads
//! hammering it, and blocks freed by another thread than the one that made
//! them. (Sharing the break with glibc is `tests/shared_break.rs`.)

use ch07_global_alloc::Global;
use std::sync::mpsc;

#[global_allocator]
static HEAP: Global = Global::new();

/// A small random number generator, so that the test needs nothing else.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `ops` random operations on up to 200 live blocks: allocate (a `Vec`
/// filled with a tag), free, or grow (`Vec::extend`, which reallocates);
/// every block's contents are checked before it is freed or grown.
fn churn(seed: u64, ops: usize) {
    let mut state = seed;
    let mut live: Vec<Vec<u8>> = Vec::with_capacity(200);
    for _ in 0..ops {
        let r = next(&mut state);
        let pick = (r >> 8) as usize;
        match r % 4 {
            0 | 1 if live.len() < 200 => {
                let size = 1 + pick % 256;
                live.push(vec![(r >> 40) as u8; size]);
            }
            2 if !live.is_empty() => {
                let v = live.swap_remove(pick % live.len());
                assert!(v.iter().all(|&b| b == v[0]), "a block was overwritten");
            }
            _ if !live.is_empty() => {
                let i = pick % live.len();
                let v = &mut live[i];
                assert!(v.iter().all(|&b| b == v[0]), "a block was overwritten");
                let tag = v[0];
                v.extend(std::iter::repeat_n(tag, 1 + pick % 64));
            }
            _ => {}
        }
    }
    for v in live {
        assert!(v.iter().all(|&b| b == v[0]), "a block was overwritten");
    }
}

#[test]
#[cfg_attr(miri, ignore = "uses the real program break")]
fn two_threads_a_million_operations_each() {
    let ops = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    let a = std::thread::spawn(move || churn(1, ops));
    let b = std::thread::spawn(move || churn(2, ops));
    a.join().unwrap();
    b.join().unwrap();
    HEAP.check().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "uses the real program break")]
fn blocks_freed_by_another_thread() {
    let (tx, rx) = mpsc::channel::<Box<[u8]>>();
    let consumer = std::thread::spawn(move || {
        let mut n = 0;
        for block in rx {
            assert!(block.iter().all(|&b| b == block.len() as u8));
            n += 1;
        }
        n
    });
    for i in 0..20_000usize {
        let len = 1 + i % 200;
        tx.send(vec![len as u8; len].into_boxed_slice()).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), 20_000);
    HEAP.check().unwrap();
}
