//! Prints the heap-efficiency table of every chapter:
//!
//! ```text
//! cargo run -p allocator-book --bin efficiency
//! ```

fn main() {
    print!("{}", allocator_book::efficiency_report());
}
