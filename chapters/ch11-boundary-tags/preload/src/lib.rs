//! The shared library: chapter 11's heap as C's malloc family, exported
//! under the C names by the shared C layer (`support/c-api`). Build it and
//! run any program on it:
//!
//! ```text
//! cargo build -p ch11-preload
//! LD_PRELOAD=$PWD/target/debug/libch11_preload.so CH11_MALLOC_STATS=1 ls -l
//! ```

// ANCHOR: exports
use c_api::State;
use ch11_boundary_tags::Heap;
use memsource::Sbrk;

/// The heap every program running with the library shares.
static STATE: State<Heap<Sbrk>> = State::new(Heap::new(Sbrk::new()), "ch11");

c_api::export_malloc!(STATE, c"CH11_MALLOC_STATS");
// ANCHOR_END: exports
