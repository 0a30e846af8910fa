//! Compile-time shape errors of tensor-core, pinned with their exact messages.

#[test]
fn core_shape_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/core/*.rs");
}
