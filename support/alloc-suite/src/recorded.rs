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

/// The machine, for the line under a recorded table: its processor and
/// how many cores this process may use.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// Today's date, as `YYYY-MM-DD` (from the `date` command).
pub fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "recently".into(), |s| s.trim().to_string())
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
