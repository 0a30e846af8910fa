//! Tape semantics: typed gradients of variables and inputs, upstream gradients, stop_gradient,
//! persistent tapes, nesting, errors, kinks and custom ops. Expected values are derived by hand
//! in the comments.
use tensor_core::autodiff::{check_gradients, CustomOp, GradientTape, Variable};
use tensor_core::prelude::*;

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch;
    Pixels = 3;
    Hidden = 2;
    N = 3;
}

type T<S> = Tensor<S, f64>;

fn v3(a: [f64; 3]) -> T<(N,)> {
    Tensor::from_vec(a.to_vec(), &[]).unwrap()
}

#[test]
fn no_tape_no_tracking() {
    let x = v3([1., 2., 3.]);
    assert!(!x.exp().is_tracked());
    {
        let tape = GradientTape::new();
        let w = tape.watch(&x);
        assert!(w.exp().is_tracked());
        assert!(!x.exp().is_tracked(), "an unwatched input is not tracked");
        assert_eq!(tape.len(), 2);
    }
    // the tape is gone: nothing records any more, even from a once-tracked value
    let w = {
        let tape = GradientTape::new();
        tape.watch(&x)
    };
    assert!(!w.exp().is_tracked());
}

#[test]
fn typed_gradients_of_variables_and_inputs() {
    // y = sum((x W) * (x W)) with x: (Batch, Pixels), W: (Pixels, Hidden)
    // dy/dW = xᵀ (2 x W), dy/dx = (2 x W) Wᵀ
    let w = Variable::new(
        "w",
        T::<(Pixels, Hidden)>::from_vec(vec![1., 0., 0., 1., 1., -1.], &[]).unwrap(),
    );
    let x0 = T::<(Batch, Pixels)>::from_vec(vec![1., 2., 3., 0., 1., 0.], &[2]).unwrap();
    let tape = GradientTape::new();
    let x = tape.watch(&x0);
    let h = x.matmul(&w.read()); // [[1+3, 2-3], [0, 1]] = [[4, -1], [0, 1]]
    let y = h.square().sum_to_scalar();
    let grads = tape.gradient(&y).unwrap();
    let gw: Tensor<(Pixels, Hidden), f64> = grads.wrt(&w).unwrap();
    let gx: Tensor<(Batch, Pixels), f64> = grads.wrt(&x).unwrap();
    // 2h = [[8, -2], [0, 2]]; xᵀ 2h = [[8, -2], [16, -4 + 2], [24, -6]]
    assert_eq!(gw.to_vec(), vec![8., -2., 16., -2., 24., -6.]);
    // 2h Wᵀ: row0 = [8, -2, 8 + 2] , row1 = [0, 2, -2]
    assert_eq!(gx.to_vec(), vec![8., -2., 10., 0., 2., -2.]);
    assert_eq!(grads.len(), 2);
}

#[test]
fn non_scalar_target_needs_an_upstream_gradient() {
    let x0 = v3([1., 2., 3.]);
    let tape = GradientTape::persistent();
    let x = tape.watch(&x0);
    let y = x.square(); // dy_i/dx_i = 2 x_i
    let err = tape.gradient(&y).unwrap_err();
    assert!(matches!(err, TensorError::NonScalarTarget { .. }), "{err}");
    assert!(err.to_string().contains("gradient_with"), "{err}");
    let up = v3([1., 10., 100.]);
    let g = tape.gradient_with(&y, &up).unwrap().wrt(&x).unwrap();
    assert_eq!(g.to_vec(), vec![2., 40., 600.]);
}

#[test]
fn errors_are_clear_not_panics() {
    let x0 = v3([1., 2., 3.]);
    let tape = GradientTape::new();
    let x = tape.watch(&x0);
    // a target computed from nothing tracked was not recorded
    let err = tape.gradient(&x0.sum_to_scalar()).unwrap_err();
    assert!(matches!(err, TensorError::NotRecorded { .. }), "{err}");
    let h = x.exp();
    let y = h.sum_to_scalar();
    let grads = tape.gradient(&y).unwrap();
    // an unwatched tensor, an intermediate value, a variable never read
    assert!(matches!(grads.wrt(&x0), Err(TensorError::NotRecorded { .. })));
    assert!(matches!(grads.wrt(&h), Err(TensorError::NotWatched)));
    let v = Variable::new("v", x0.clone());
    assert!(matches!(grads.wrt(&v), Err(TensorError::NotRecorded { .. })));
    // a non-persistent tape answers once
    assert!(matches!(tape.gradient(&y), Err(TensorError::TapeUsed)));
}

#[test]
fn persistent_tape_answers_twice_and_stop_gradient_cuts() {
    let x0 = v3([1., 2., 3.]);
    let tape = GradientTape::persistent();
    let x = tape.watch(&x0);
    let y = x.mul(&x.stop_gradient()).sum_to_scalar(); // x * c with c = x held constant: dy/dx = x
    let z = x.powi(3).sum_to_scalar(); // dz/dx = 3 x^2
    assert_eq!(
        tape.gradient(&y).unwrap().wrt(&x).unwrap().to_vec(),
        vec![1., 2., 3.]
    );
    assert_eq!(
        tape.gradient(&z).unwrap().wrt(&x).unwrap().to_vec(),
        vec![3., 12., 27.]
    );
    assert_eq!(
        tape.gradient(&y).unwrap().wrt(&x).unwrap().to_vec(),
        vec![1., 2., 3.]
    );
}

#[test]
fn unconnected_source_gets_zeros_and_watching_an_intermediate_works() {
    let tape = GradientTape::new();
    let a = tape.watch(&v3([1., 2., 3.]));
    let b = tape.watch(&v3([5., 5., 5.]));
    let h = tape.watch(&a.mul_scalar(2.0)); // h = 2a, watched: dy/dh = 2h, dy/da = 2h * 2
    let y = h.square().sum_to_scalar();
    let g = tape.gradient(&y).unwrap();
    assert_eq!(g.wrt(&b).unwrap().to_vec(), vec![0., 0., 0.]);
    assert_eq!(g.wrt(&h).unwrap().to_vec(), vec![4., 8., 12.]);
    assert_eq!(g.wrt(&a).unwrap().to_vec(), vec![8., 16., 24.]);
}

#[test]
fn variables_update_in_place_and_non_trainable_are_not_tracked() {
    let mut w = Variable::new("w", v3([1., 2., 3.]));
    let frozen = Variable::non_trainable("f", v3([1., 1., 1.]));
    assert_eq!(w.name(), "w");
    assert!(w.trainable() && !frozen.trainable());
    for _ in 0..2 {
        let tape = GradientTape::new();
        // loss = sum(w^2 + f): d/dw = 2w
        let loss = w.read().square().add(&frozen.read()).sum_to_scalar();
        let g = tape.gradient(&loss).unwrap();
        assert!(g.wrt(&frozen).is_err());
        let gw = g.wrt(&w).unwrap();
        w.assign_sub(&gw.mul_scalar(0.25)).unwrap(); // w <- w - 0.5 w
    }
    assert_eq!(w.value().to_vec(), vec![0.25, 0.5, 0.75]);
    w.update(|v| v[0] = 9.0);
    assert_eq!(w.read().to_vec(), vec![9.0, 0.5, 0.75]);
    w.assign(&v3([0., 0., 1.])).unwrap();
    assert_eq!(w.read().to_vec(), vec![0., 0., 1.]);
}

#[test]
fn a_variable_read_twice_is_one_source() {
    let w = Variable::new("w", v3([1., 2., 3.]));
    let tape = GradientTape::new();
    // y = sum(w * w) read twice: dy/dw = 2w
    let y = w.read().mul(&w.read()).sum_to_scalar();
    assert_eq!(
        tape.gradient(&y).unwrap().wrt(&w).unwrap().to_vec(),
        vec![2., 4., 6.]
    );
}

#[test]
fn stop_recording_and_nested_tapes() {
    let x0 = v3([1., 2., 3.]);
    let outer = GradientTape::new();
    let x = outer.watch(&x0);
    let c = outer.stop_recording(|| x.exp());
    assert!(!c.is_tracked());
    let y_outer = x.mul_scalar(3.0).sum_to_scalar();
    {
        let inner = GradientTape::new();
        let xi = inner.watch(&x0);
        let yi = xi.square().sum_to_scalar();
        assert_eq!(
            inner.gradient(&yi).unwrap().wrt(&xi).unwrap().to_vec(),
            vec![2., 4., 6.]
        );
    }
    // the outer tape records again once the inner one is dropped
    let y2 = x.mul_scalar(2.0).sum_to_scalar().add(&y_outer);
    assert_eq!(
        outer.gradient(&y2).unwrap().wrt(&x).unwrap().to_vec(),
        vec![5., 5., 5.]
    );
}

#[test]
fn sub_gradients_at_kinks() {
    let tape = GradientTape::persistent();
    let x = tape.watch(&v3([-1., 0., 2.]));
    let g = |y: &T<()>| tape.gradient(y).unwrap().wrt(&x).unwrap().to_vec();
    // relu and abs: 0 at 0
    assert_eq!(g(&x.relu().sum_to_scalar()), vec![0., 0., 1.]);
    assert_eq!(g(&x.abs().sum_to_scalar()), vec![-1., 0., 1.]);
    // clamp passes the gradient on the closed interval [lo, hi]
    assert_eq!(g(&x.clamp(0.0, 2.0).sum_to_scalar()), vec![0., 1., 1.]);
    // maximum on a tie sends everything to the left operand
    let z = tape.watch(&v3([0., 0., 0.]));
    let m = x.maximum(&z).sum_to_scalar();
    let gm = tape.gradient(&m).unwrap();
    assert_eq!(gm.wrt(&x).unwrap().to_vec(), vec![0., 1., 1.]);
    assert_eq!(gm.wrt(&z).unwrap().to_vec(), vec![1., 0., 0.]);
    // max reduction: tied maxima share the gradient equally
    let t = tape.watch(&v3([3., 1., 3.]));
    let mx = t.max::<N, _>();
    let gt = tape.gradient(&mx).unwrap().wrt(&t).unwrap();
    assert_eq!(gt.to_vec(), vec![0.5, 0., 0.5]);
}

struct Swish;
impl CustomOp<(Batch, N), f64> for Swish {
    type Output = (Batch, N);
    fn forward(&self, x: &T<(Batch, N)>) -> T<(Batch, N)> {
        x.zip_map(&x.sigmoid(), |x, s| x * s)
    }
    fn backward(&self, x: &T<(Batch, N)>, _y: &T<(Batch, N)>, g: &T<(Batch, N)>) -> T<(Batch, N)> {
        // d/dx x s(x) = s + x s (1 - s)
        let s = x.sigmoid();
        g.zip_map(&x.zip_map(&s, |x, s| s + x * s * (1.0 - s)), |g, d| g * d)
    }
}

#[test]
fn custom_op_records_like_a_builtin() {
    let x = T::<(Batch, N)>::from_vec(vec![-2., -0.5, 0.1, 0.7, 1.5, 3.], &[2]).unwrap();
    let report = check_gradients(
        |x: &T<(Batch, N)>| x.apply(Swish).mul_scalar(1.5).exp().sum_to_scalar(),
        &x,
        1e-6,
        1e-7,
    )
    .unwrap();
    assert_eq!(report.checked, 6);
    // without a tape the op is just its forward
    assert!((x.apply(Swish).get(&[0, 0]) - (-2.0 / (1.0 + 2f64.exp()))).abs() < 1e-12);
}

#[test]
fn check_gradients_catches_a_wrong_rule() {
    struct Wrong;
    impl CustomOp<(N,), f64> for Wrong {
        type Output = (N,);
        fn forward(&self, x: &T<(N,)>) -> T<(N,)> {
            x.square()
        }
        fn backward(&self, x: &T<(N,)>, _y: &T<(N,)>, g: &T<(N,)>) -> T<(N,)> {
            g.zip_map(x, |g, x| g * x) // should be 2x
        }
    }
    let err = check_gradients(
        |x: &T<(N,)>| x.apply(Wrong).sum_to_scalar(),
        &v3([1., 2., 3.]),
        1e-6,
        1e-6,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TensorError::GradientCheck {
                input: 0,
                index: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn upstream_of_other_lengths_is_an_error() {
    let tape = GradientTape::new();
    let x = tape.watch(&T::<(Batch, N)>::zeros(&[2]));
    let y = x.exp();
    let up = T::<(Batch, N)>::ones(&[3]);
    let err = tape.gradient_with(&y, &up).unwrap_err();
    assert_eq!(
        err.to_string(),
        "gradient_with: dimension `Batch` has length 2 on the left but 3 on the right"
    );
}
