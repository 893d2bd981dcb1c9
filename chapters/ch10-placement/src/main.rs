//! `cargo run -p ch10-placement`: the same requests under first fit, next
//! fit and best fit, then what each policy does over many requests.

fn main() {
    println!("Three placement policies on chapter 9's heap, each on an arena of its own.");
    println!("Offsets are from where the heap starts; every chunk is a");
    println!(
        "{}-byte header (=) and a payload (# used, . free).\n",
        ch10_placement::HEADER
    );
    for (name, script) in ch10_placement::demo::scripts() {
        println!("== {name} ==\n");
        print!("{}", script.render());
    }
    println!("Over many random requests:\n");
    print!("{}", ch10_placement::demo::table());
    println!("\nExercises: edit chapters/ch10-placement/src/exercises.rs, then check them with");
    println!("    cargo test -p ch10-placement --features mine --test exercises");
}
