//! Compile-time shape errors of tensor-core and `dims!`, pinned with their exact messages.

#[test]
fn core_shape_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/core/*.rs");
}

#[test]
fn dims_macro_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/dims/*.rs");
}
