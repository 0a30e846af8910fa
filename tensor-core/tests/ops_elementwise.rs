//! Element-wise ops and name-aware broadcasting, against hand-derived values.
mod common;
use common::*;
use tensor_core::prelude::*;

fn m23(v: [f32; 6]) -> Tensor<(Rows, Cols)> {
    Tensor::from_vec(v.to_vec(), &[]).unwrap()
}

#[test]
fn add_sub_mul_div_same_shape() {
    let a = m23([1., 2., 3., 4., 5., 6.]);
    let b = m23([6., 5., 4., 3., 2., 1.]);
    assert_eq!((&a + &b).to_vec(), vec![7.; 6]);
    assert_eq!((&a - &b).to_vec(), vec![-5., -3., -1., 1., 3., 5.]);
    assert_eq!((&a * &b).to_vec(), vec![6., 10., 12., 12., 10., 6.]);
    assert_eq!(
        (a.clone() / b.clone()).to_vec(),
        vec![1. / 6., 0.4, 0.75, 4. / 3., 2.5, 6.]
    );
    assert_eq!((&a * 2.0).to_vec(), vec![2., 4., 6., 8., 10., 12.]);
    assert_eq!(a.rsub_scalar(1.0).to_vec(), vec![0., -1., -2., -3., -4., -5.]);
    assert_eq!((-&a).to_vec(), vec![-1., -2., -3., -4., -5., -6.]);
}

#[test]
fn bias_broadcasts_over_the_leading_dim_by_name() {
    let x = Tensor::<(Batch, Cols)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2]).unwrap();
    let bias = Tensor::<(Cols,)>::from_vec(vec![10., 20., 30.], &[]).unwrap();
    let y: Tensor<(Batch, Cols)> = &x + &bias;
    assert_eq!(y.to_vec(), vec![11., 22., 33., 14., 25., 36.]);
    // the shorter operand on the left: bias - x
    let z: Tensor<(Batch, Cols)> = &bias - &x;
    assert_eq!(z.to_vec(), vec![9., 18., 27., 6., 15., 24.]);
    // scalar tensor broadcasts against anything
    let s = Tensor::<()>::scalar(2.0);
    assert_eq!(x.mul(&s).to_vec(), vec![2., 4., 6., 8., 10., 12.]);
}

#[test]
fn runtime_length_mismatch_names_the_dim() {
    let a = Tensor::<(Batch, Cols)>::zeros(&[2]);
    let b = Tensor::<(Batch, Cols)>::zeros(&[3]);
    let err = a.try_add(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "add: dimension `Batch` has length 2 on the left but 3 on the right"
    );
    let r = std::panic::catch_unwind(|| &a + &b);
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(
        msg.contains("dimension `Batch` has length 2 on the left but 3"),
        "{msg}"
    );
}

#[test]
fn unary_functions_match_libm() {
    let v = [-2.0f32, -0.5, 0.0, 0.25, 1.0, 3.0];
    let x = Tensor::<(Rows, Cols)>::from_vec(v.to_vec(), &[]).unwrap();
    let check = |got: Tensor<(Rows, Cols)>, f: fn(f32) -> f32| {
        let want: Vec<f32> = v.iter().map(|&x| f(x)).collect();
        assert_close(&got.to_vec(), &want, 1e-6);
    };
    check(x.abs(), f32::abs);
    check(x.exp(), f32::exp);
    check(x.tanh(), f32::tanh);
    check(x.sigmoid(), |x| 1.0 / (1.0 + (-x).exp()));
    check(x.relu(), |x| x.max(0.0));
    check(x.square(), |x| x * x);
    check(x.sign(), |x| {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    });
    check(x.clamp(-1.0, 1.0), |x| x.clamp(-1.0, 1.0));
    check(x.powi(3), |x| x * x * x);
    let pos = x.abs().add_scalar(0.5);
    assert_close(
        &pos.ln().to_vec(),
        &v.iter().map(|x| (x.abs() + 0.5).ln()).collect::<Vec<_>>(),
        1e-6,
    );
    assert_close(
        &pos.sqrt().to_vec(),
        &v.iter().map(|x| (x.abs() + 0.5).sqrt()).collect::<Vec<_>>(),
        1e-6,
    );
    assert_close(
        &pos.powf(1.5).to_vec(),
        &v.iter().map(|x| (x.abs() + 0.5).powf(1.5)).collect::<Vec<_>>(),
        1e-6,
    );
}

#[test]
fn erf_matches_tabulated_values() {
    // erf values from Abramowitz & Stegun table 7.1
    let x = Tensor::<(Cols,), f64>::from_vec(vec![0.5, 1.0, 2.0], &[]).unwrap();
    let want = [0.520_499_877_8, 0.842_700_792_9, 0.995_322_265_0];
    for (g, w) in x.erf().to_vec().iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{g} vs {w}");
    }
    assert!((Tensor::<(), f64>::scalar(-3.0).erf().item() + 0.999_977_909_5).abs() < 1e-9);
}

#[test]
fn maximum_minimum_and_where() {
    let a = m23([1., 5., 3., 4., 2., 6.]);
    let b = m23([2., 2., 2., 5., 5., 5.]);
    assert_eq!(a.maximum(&b).to_vec(), vec![2., 5., 3., 5., 5., 6.]);
    assert_eq!(a.minimum(&b).to_vec(), vec![1., 2., 2., 4., 2., 5.]);
    let mask = a.gt(&b);
    assert_eq!(mask.to_vec(), vec![false, true, true, false, false, true]);
    assert_eq!(mask.count_true(), 3);
    assert_eq!(mask.select(&a, &b).to_vec(), a.maximum(&b).to_vec());
    assert_eq!(a.le(&b).to_vec(), vec![true, false, false, true, true, false]);
}

#[test]
fn f64_tensors_work_the_same() {
    let a = Tensor::<(Rows, Cols), f64>::from_fn(&[], |i| (i[0] * 3 + i[1]) as f64);
    let b = Tensor::<(Cols,), f64>::ones(&[]);
    assert_eq!((&a + &b).to_vec(), vec![1., 2., 3., 4., 5., 6.]);
    assert_eq!(
        a.zip_map(&a, |x, y| x * y + 1.0).to_vec(),
        vec![1., 2., 5., 10., 17., 26.]
    );
}
