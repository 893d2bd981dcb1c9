//! The C interface when the break cannot grow (the check, shared by every
//! chapter, is in `alloc_suite::c_layer`). One test, alone in its binary:
//! it moves the real break.

use c_api::State;
use ch09_ld_preload::Heap;
use memsource::Sbrk;

/// The C layer over this chapter's heap, as the shared library has it.
static C: State<Heap<Sbrk>> = State::new(Heap::new(Sbrk::new()), "ch09");

#[test]
#[cfg_attr(miri, ignore = "moves the real break")]
fn a_blocked_break_falls_back_to_mmap_quietly() {
    alloc_suite::c_layer::a_blocked_break_falls_back_to_mmap_quietly(&C);
}
