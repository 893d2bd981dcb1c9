//! The shared library: chapter 10's heap as C's malloc family, exported
//! under the C names by the shared C layer (`support/c-api`). Build it and
//! run any program on it:
//!
//! ```text
//! cargo build -p ch10-preload
//! LD_PRELOAD=$PWD/target/debug/libch10_preload.so CH10_MALLOC_STATS=1 ls -l
//! ```

// ANCHOR: exports
use c_api::State;
use ch10_placement::Heap;
use memsource::Sbrk;

/// The heap every program running with the library shares.
static STATE: State<Heap<Sbrk>> = State::new(Heap::new(Sbrk::new()), "ch10");

c_api::export_malloc!(STATE, c"CH10_MALLOC_STATS");
// ANCHOR_END: exports
