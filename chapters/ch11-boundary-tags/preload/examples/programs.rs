//! `cargo run -p ch11-preload --example programs`: perl's hash of 300,000
//! keys and the everyday programs of chapter 9, each run with glibc's
//! malloc and with chapter 11's, their output compared, their peak memory
//! and time measured. The book shows one recorded run of it.

use alloc_suite::preload::repo;
use alloc_suite::programs::{compare, perl_and_everyday};

fn main() {
    let root = repo();
    let library = root.join("target/debug/libch11_preload.so");
    println!(
        "Real programs with glibc's malloc and with the book's (target/debug/libch11_preload.so):\n"
    );
    let work = root.join("target/tmp/ch11-programs");
    print!("{}", compare(&library, perl_and_everyday(&work, &root)));
}
