//! The shared library: chapter 9's heap as C's malloc family, exported
//! under the C names by the shared C layer (`support/c-api`). Build it and
//! run any program on it:
//!
//! ```text
//! cargo build -p ch09-preload
//! LD_PRELOAD=$PWD/target/debug/libch09_preload.so CH09_MALLOC_STATS=1 ls -l
//! ```
//!
//! Every function of the family is exported: if one were missing, glibc's
//! version would run on our pointers, or ours on glibc's.

// ANCHOR: exports
use c_api::State;
use ch09_ld_preload::Heap;
use memsource::Sbrk;

/// The heap every program running with the library shares.
static STATE: State<Heap<Sbrk>> = State::new(Heap::new(Sbrk::new()), "ch09");

c_api::export_malloc!(STATE, c"CH09_MALLOC_STATS");
// ANCHOR_END: exports
