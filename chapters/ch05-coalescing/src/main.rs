//! `cargo run -p ch05-coalescing`: a free list that merges and shrinks, on the real break.

fn main() {
    println!("A free list with coalescing, on the real program break (sbrk).");
    println!("Offsets are from where this allocator's heap starts; every chunk");
    println!(
        "is a {}-byte header (=) and a payload (# used, . free).\n",
        ch05_coalescing::HEADER
    );
    print!(
        "{}",
        ch05_coalescing::demo::run(memsource::Sbrk::new()).render()
    );
    println!("Exercises: edit chapters/ch05-coalescing/src/exercises.rs, then check them with");
    println!("    cargo test -p ch05-coalescing --features mine --test exercises");
}
