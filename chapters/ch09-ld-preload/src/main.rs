//! `cargo run -p ch09-ld-preload`: builds the shared library, then runs real
//! programs with glibc's malloc and with ours, and compares them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Build the library with the cargo that runs us (or `cargo`).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "ch09-preload"])
        .current_dir(&root)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("could not build the library: cargo build -p ch09-preload");
        std::process::exit(1);
    }
    let library: PathBuf = root
        .join("target/debug/libch09_preload.so")
        .canonicalize()
        .unwrap();
    println!(
        "Real programs with glibc's malloc and with the book's (target/debug/libch09_preload.so):\n"
    );
    let work = root.join("target/tmp/ch09-demo");
    print!("{}", ch09_ld_preload::demo::report(&library, &work, &root));
    println!("\nTry any program yourself:");
    println!("    LD_PRELOAD=$PWD/target/debug/libch09_preload.so CH09_MALLOC_STATS=1 ls -l");
}
