//! `cargo run -p ch11-boundary-tags`: the heap with boundary tags and an
//! explicit free list, step by step, on an arena.

fn main() {
    println!("Chapter 11's heap on an arena. Offsets are from the start of the heap.");
    println!("Bars: = header, # used, L links, . free, F footer (16 bytes a character).");
    println!("P: the header's \"previous chunk is used\" bit is set (-: clear).\n");
    print!("{}", ch11_boundary_tags::demo::run());
    println!("Exercises: edit chapters/ch11-boundary-tags/src/exercises.rs, then check them with");
    println!("    cargo test -p ch11-boundary-tags --features mine --test exercises");
}
