//! The demo, pinned: the heap with its headers, footers and links after
//! every step, and the binary that prints it.

#[test]
#[cfg_attr(miri, ignore = "insta cannot run under Miri")]
fn demo_steps() {
    insta::assert_snapshot!("demo", ch11_boundary_tags::demo::run());
}

#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn demo_binary() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch11-boundary-tags"))
        .output()
        .expect("run the demo");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&ch11_boundary_tags::demo::run()));
    insta::assert_snapshot!("demo_binary", stdout);
}
