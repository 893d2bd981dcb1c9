//! Real programs on chapter 11's malloc, and the C programs that try its
//! corners: the checks every preload library is held to (in
//! `support/alloc-suite/src/preload.rs`).

alloc_suite::preload_tests!("libch11_preload.so", "ch11");
