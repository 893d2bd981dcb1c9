//! What `cargo run -p ch09-ld-preload` shows: real programs, run with
//! glibc's malloc and with ours, their output compared and their peak
//! memory and time measured.

use std::path::Path;

/// Runs the everyday programs ([`alloc_suite::programs::everyday`]) with
/// glibc's malloc and with `library` preloaded, and returns the report.
pub fn report(library: &Path, work: &Path, repo: &Path) -> String {
    use alloc_suite::programs::{compare, everyday};
    compare(library, everyday(work, repo))
}
