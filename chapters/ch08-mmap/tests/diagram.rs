//! Big blocks as the book draws them.

#[test]
#[cfg_attr(miri, ignore = "uses mmap")]
fn big_blocks_on_their_own_mappings() {
    let script = ch08_mmap::diagram::big_blocks();
    insta::assert_snapshot!("big_blocks", script.render());
    insta::assert_snapshot!(
        "big_blocks_svg",
        script.svg("Big blocks on their own mappings")
    );
}
