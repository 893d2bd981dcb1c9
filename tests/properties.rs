//! Model-based property tests: random sequences of operations against every
//! chapter, checked step by step (alignment, overlap, contents, heap walk).

use alloc_suite::model::{arena_for, check, ops};
use memsource::Arena;
use proptest::prelude::*;

/// One property test per chapter: `name => allocator type, constructor`.
macro_rules! chapters {
    ($($name:ident => $ty:ty, $new:expr;)+) => {
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: if cfg!(miri) { 4 } else { 256 },
                failure_persistence: None,
                ..ProptestConfig::default()
            })]
            $(
                #[test]
                fn $name(ops in ops::<$ty>(200)) {
                    let r = check($new(Arena::new(arena_for(ops.len()))), &ops);
                    prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
                }
            )+
        }
    };
}

chapters! {
    ch02_bump => ch02_bump::Bump<Arena>, ch02_bump::Bump::new;
    ch03_free_list => ch03_free_list::Heap<Arena>, ch03_free_list::Heap::new;
    ch04_splitting => ch04_splitting::Heap<Arena>, ch04_splitting::Heap::new;
    ch05_coalescing => ch05_coalescing::Heap<Arena>, ch05_coalescing::Heap::new;
}
