//! trybuild UI tests of `model!`: every compile-time check, with its exact message pinned in
//! `tests/ui/model/<mistake>.stderr` (regenerate with `TRYBUILD=overwrite` and review the diff).

#[test]
fn model_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/model/*.rs");
}
