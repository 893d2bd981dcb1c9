//! The heap-efficiency table in the book is exactly what
//! `cargo run -p allocator-book --bin efficiency` prints.

#[test]
fn the_books_efficiency_table_is_current() {
    insta::assert_snapshot!("table", allocator_book::efficiency_report());
}
