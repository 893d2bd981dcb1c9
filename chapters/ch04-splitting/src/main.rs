//! `cargo run -p ch04-splitting`: a free list that splits, on the real break.

fn main() {
    println!("A free list with splitting, on the real program break (sbrk).");
    println!("Offsets are from where this allocator's heap starts; every chunk");
    println!(
        "is a {}-byte header (=) and a payload (# used, . free).\n",
        ch04_splitting::HEADER
    );
    print!(
        "{}",
        ch04_splitting::demo::run(memsource::Sbrk::new()).render()
    );
    println!("Exercises: edit chapters/ch04-splitting/src/exercises.rs, then check them with");
    println!("    cargo test -p ch04-splitting --features mine --test exercises");
}
