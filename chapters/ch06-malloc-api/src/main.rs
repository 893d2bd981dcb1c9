//! `cargo run -p ch06-malloc-api`: the whole malloc API, on the real break.

fn main() {
    println!("The whole malloc API, on the real program break (sbrk).");
    println!("Offsets are from where this allocator's heap starts; every chunk");
    println!(
        "is a {}-byte header (=) and a payload (# used, . free).\n",
        ch06_malloc_api::HEADER
    );
    print!(
        "{}",
        ch06_malloc_api::demo::run(memsource::Sbrk::new()).render()
    );
    println!("Exercises: edit chapters/ch06-malloc-api/src/exercises.rs, then check them with");
    println!("    cargo test -p ch06-malloc-api --features mine --test exercises");
}
