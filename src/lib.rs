//! Checks that hold the book and the chapter crates together (see `tests/`),
//! and the reports the book shows that are computed rather than measured.

use alloc_suite::efficiency;

/// The heap-efficiency table for every chapter, as the book shows it:
/// `cargo run -p allocator-book --bin efficiency` prints it, and
/// `tests/efficiency.rs` keeps the book's copy current.
pub fn efficiency_report() -> String {
    let rows = [
        ("2. bump", efficiency::measure(ch02_bump::Bump::new)),
        (
            "3. free list",
            efficiency::measure(ch03_free_list::Heap::new),
        ),
        (
            "4. splitting",
            efficiency::measure(ch04_splitting::Heap::new),
        ),
        (
            "5. coalescing",
            efficiency::measure(ch05_coalescing::Heap::new),
        ),
        (
            "6. malloc API",
            efficiency::measure(ch06_malloc_api::Heap::new),
        ),
    ];
    efficiency::table(&rows)
}
