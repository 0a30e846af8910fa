//! Constructors, errors on bad input, seeded randomness and display.
mod common;
use common::*;
use tensor_core::prelude::*;

#[test]
fn from_vec_checks_length_and_runtime_sizes() {
    let e = Tensor::<(Batch, Cols)>::from_vec(vec![1.; 5], &[2]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "from_vec: shape [Batch=2, Cols=3] needs 6 elements, got 5"
    );
    let e = Tensor::<(Batch, Cols)>::from_vec(vec![1.; 6], &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("has 1 run-time dimension(s), got 0 size(s)"),
        "{e}"
    );
    let e = Tensor::<(Batch, Cols)>::from_vec(vec![], &[0]).unwrap_err();
    assert_eq!(e.to_string(), "from_vec: dimension `Batch` cannot have length 0");
    let e = Tensor::<(Batch, Cols)>::from_vec_dims(vec![1.; 8], &[2, 4]).unwrap_err();
    assert!(
        e.to_string()
            .contains("`Cols` cannot have length 4, its static size is 3"),
        "{e}"
    );
}

#[test]
fn arange_linspace_eye() {
    let a = Tensor::<(Seq,), i64>::arange(3, 2, &[4]).unwrap();
    assert_eq!(a.to_vec(), vec![3, 5, 7, 9]);
    let l = Tensor::<(Seq,), f64>::linspace(0.0, 1.0, &[5]).unwrap();
    assert_eq!(l.to_vec(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    let e = Tensor::<(Inner, Cols)>::eye(&[]).unwrap();
    assert_eq!(e.to_vec(), vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]);
}

#[test]
fn random_streams_are_reproducible_and_have_the_right_moments() {
    let mut r1 = Rng::seed(42);
    let mut r2 = Rng::seed(42);
    let a = Tensor::<(Batch,), f64>::random_normal(&mut r1, 1.0, 2.0, &[20000]).unwrap();
    let b = Tensor::<(Batch,), f64>::random_normal(&mut r2, 1.0, 2.0, &[20000]).unwrap();
    assert_eq!(a.to_vec(), b.to_vec());
    // mean 1 within ~4 standard errors (2/sqrt(20000) = 0.014), variance 4 within 3%
    assert!((a.mean_all() - 1.0).abs() < 0.06);
    assert!((a.variance::<Batch, _>().item() / 4.0 - 1.0).abs() < 0.03);
    let t = Tensor::<(Batch,), f64>::random_truncated_normal(&mut r1, 0.0, 1.0, &[5000]).unwrap();
    assert!(t.max_all() <= 2.0 && t.min_all() >= -2.0);
    let u = Tensor::<(Batch,)>::random_uniform(&mut r1, -1.0, 3.0, &[5000]).unwrap();
    assert!(u.min_all() >= -1.0 && u.max_all() < 3.0);
    assert!((u.mean_all() - 1.0).abs() < 0.1);
}

#[test]
fn display_is_numpy_like_and_elides_large_tensors() {
    let t = Tensor::<(Rows, Cols)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[]).unwrap();
    assert_eq!(format!("{t}"), "[[1, 2, 3],\n [4, 5, 6]]");
    assert_eq!(
        format!("{t:?}"),
        "Tensor[Rows=2, Cols=3] f32\n[[1, 2, 3],\n [4, 5, 6]]"
    );
    let big = Tensor::<(Seq,), i64>::arange(0, 1, &[2000]).unwrap();
    assert_eq!(format!("{big}"), "[0, 1, 2, ..., 1997, 1998, 1999]");
}
