//! Dims and helpers shared by the tensor-core integration tests.
#![allow(dead_code)]

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch;
    Seq;
    Rows = 2;
    Cols = 3;
    Inner = 3;
    Out = 2;
    Wide = 2;
    Deep = 3;
    Both = 5;
    Pick;
    Six = 6;
    Top2 = 2;
}

/// Asserts two float slices agree to `tol` absolutely or relatively.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol * scale,
            "element {i}: got {g}, want {w} (all: {got:?})"
        );
    }
}
