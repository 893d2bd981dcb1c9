//! Checks that hold the book and the chapter crates together; see `tests/`.
