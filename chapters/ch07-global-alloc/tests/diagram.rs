//! The shared break as the book draws it.

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn the_shared_break() {
    let script = ch07_global_alloc::diagram::shared_break();
    insta::assert_snapshot!("shared_break", script.render());
    insta::assert_snapshot!(
        "shared_break_svg",
        script.svg("Sharing the break with glibc")
    );
}
