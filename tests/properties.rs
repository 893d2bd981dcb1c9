//! Model-based property tests: random sequences of operations against every
//! chapter, checked step by step (alignment, overlap, contents, heap walk).

use alloc_suite::model::{arena_for, check, ops};
use ch02_bump::Bump;
use ch03_free_list::Heap;
use memsource::Arena;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn ch02_bump_survives_random_operations(ops in ops::<Bump<Arena>>(200)) {
        let r = check(Bump::new(Arena::new(arena_for(ops.len()))), &ops);
        prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
    }

    #[test]
    fn ch03_free_list_survives_random_operations(ops in ops::<Heap<Arena>>(200)) {
        let r = check(Heap::new(Arena::new(arena_for(ops.len()))), &ops);
        prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
    }
}
