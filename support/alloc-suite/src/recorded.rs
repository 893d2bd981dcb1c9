//! Recorded runs. Some demos print numbers that change from run to run
//! (resident memory, what glibc did); the book shows one recorded run, and
//! a test checks that a live run prints the same lines, numbers aside.

/// The text with every run of digits (and a decimal point between digits)
/// replaced by `#`.
pub fn shape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Panics, saying how to record again, unless `live` and `recorded` differ
/// only in their numbers (and in the spaces that align them).
pub fn assert_same_shape(live: &str, recorded: &str, record_with: &str) {
    let squash = |t: &str| -> Vec<String> {
        shape(t)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        squash(live),
        squash(recorded),
        "the recorded run no longer matches the program; record it again with:\n    {record_with}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_words_are_not() {
        assert_eq!(shape("heap 1.5 MiB in 12 chunks"), "heap # MiB in # chunks");
        assert_same_shape("a   12.0 MiB\n", "a 7 MiB\n", "");
        let r = std::panic::catch_unwind(|| assert_same_shape("a 1 MiB", "b 1 MiB", ""));
        assert!(r.is_err());
    }
}
