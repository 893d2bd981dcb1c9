//! `cargo run -p ch02-bump`: a bump allocator on the real program break.

fn main() {
    println!("A bump allocator on the real program break (sbrk).");
    println!("Offsets are from where this allocator's heap starts.\n");
    print!("{}", ch02_bump::demo::run(memsource::Sbrk::new()).render());
    println!("Exercises: edit chapters/ch02-bump/src/exercises.rs, then check them with");
    println!("    cargo test -p ch02-bump --features mine --test exercises");
}
