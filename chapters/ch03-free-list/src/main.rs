//! `cargo run -p ch03-free-list`: chunks and a free list on the real break.

fn main() {
    println!("A free-list allocator on the real program break (sbrk).");
    println!("Offsets are from where this allocator's heap starts; every chunk");
    println!(
        "is a {}-byte header (=) and a payload (# used, . free).\n",
        ch03_free_list::HEADER
    );
    print!(
        "{}",
        ch03_free_list::demo::run(memsource::Sbrk::new()).render()
    );
    println!("Exercises: edit chapters/ch03-free-list/src/exercises.rs, then check them with");
    println!("    cargo test -p ch03-free-list --features mine --test exercises");
}
