//! Activations, Dense/Dropout layers and Sequential's backward pass against hand-derived values
//! and central finite differences; initializers against their defining statistics.

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::init::{fans, seeded_rng, Initializer};
use tensor_nn::losses::{Loss, MeanSquaredError};
use tensor_nn::regularizers::Regularizer;
use tensor_nn::sequential::{Dropout, RuntimeLayer, Sequential};
use tensor_nn::Model;

tensor_macros::dims! { crate = ::tensor_core; Batch; In = 3; Out = 2; }

fn act(a: Activation, x: f32) -> f32 {
    let mut v = [x];
    a.apply_rows(&mut v, 1);
    v[0]
}

#[test]
fn activation_values_match_closed_forms() {
    // Values from the definitions, computed by hand:
    let cases = [
        (Activation::Relu, -1.5, 0.0),
        (Activation::LeakyRelu(0.2), -2.0, -0.4),
        (Activation::Elu(1.0), -1.0, -0.632_120_56),    // e^-1 - 1
        (Activation::Selu, -1.0, -1.111_330_7),         // 1.0507·1.6733·(e^-1 - 1)
        (Activation::Selu, 2.0, 2.101_402),             // 1.0507·2
        (Activation::Gelu(false), 1.0, 0.841_344_7),    // 1·Φ(1)
        (Activation::Gelu(false), -1.0, -0.158_655_25), // -1·Φ(-1)
        (Activation::Gelu(true), 1.0, 0.841_192),       // tanh form
        (Activation::Softplus, 0.0, std::f32::consts::LN_2),
        (Activation::Softplus, -100.0, (-100f32).exp()), // log(1 + e^-100) ≈ e^-100
        (Activation::Sigmoid, 0.0, 0.5),
        (Activation::Tanh, 0.5, 0.462_117_16),
        (Activation::Swish, 1.0, 0.731_058_6), // 1·σ(1)
        (Activation::Linear, 3.0, 3.0),
    ];
    for (a, x, want) in cases {
        let got = act(a, x);
        assert!(
            (got - want).abs() <= 2e-6 * want.abs().max(1e-30) + 1e-7,
            "{a:?}({x}) = {got}, want {want}"
        );
    }
    let mut s = vec![1.0f32, 2.0, 3.0, 1000.0, 1000.0, 1000.0];
    Activation::Softmax.apply_rows(&mut s, 3);
    // e^(x - 3) / Σ: 0.09003057, 0.24472847, 0.66524096; equal logits give thirds, no overflow.
    let want = [
        0.090_030_57,
        0.244_728_47,
        0.665_240_96,
        1.0 / 3.0,
        1.0 / 3.0,
        1.0 / 3.0,
    ];
    for (g, w) in s.iter().zip(want) {
        assert!((g - w).abs() < 1e-6);
    }
}

#[test]
fn activation_derivatives_match_finite_differences() {
    let all = [
        Activation::Relu,
        Activation::LeakyRelu(0.3),
        Activation::Elu(0.7),
        Activation::Selu,
        Activation::Gelu(false),
        Activation::Gelu(true),
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Swish,
        Activation::Softmax,
        Activation::Linear,
    ];
    let x = vec![-1.7f32, -0.4, 0.3, 1.1, 2.5, -0.9];
    let dy = vec![0.3f32, -1.2, 0.7, 0.5, -0.4, 1.0];
    for a in all {
        let mut y = x.clone();
        a.apply_rows(&mut y, 3);
        let dx = a.backward_rows(&x, &y, &dy, 3);
        // d/dx_i Σ dy·f(x), central differences in f64 around f32 evaluations.
        let h = 1e-3f32;
        for i in 0..x.len() {
            let f = |d: f32| {
                let mut v = x.clone();
                v[i] += d;
                a.apply_rows(&mut v, 3);
                v.iter()
                    .zip(&dy)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum::<f64>()
            };
            let num = (f(h) - f(-h)) / (2.0 * f64::from(h));
            assert!(
                (f64::from(dx[i]) - num).abs() < 2e-3,
                "{a:?} dx[{i}] = {}, numeric {num}",
                dx[i]
            );
        }
    }
}

/// Loss of `model` on (x, y) with MSE plus its regularization.
fn loss_of(model: &Sequential<(Batch, In), (Batch, Out)>, x: &Tensor<(Batch, In)>, y: &[f32]) -> f64 {
    let out = model.forward(x);
    let l = MeanSquaredError::default()
        .compute(out.as_slice().unwrap(), y, 4, None)
        .unwrap();
    f64::from(l.value) + f64::from(model.regularization_loss())
}

#[test]
fn sequential_backward_matches_finite_differences() {
    for hidden in [
        Activation::Tanh,
        Activation::Gelu(false),
        Activation::Softplus,
        Activation::Sigmoid,
    ] {
        let mut model = Sequential::builder(3, 11)
            .dense_regularized(5, hidden, Some(Regularizer::l1_l2(0.01, 0.02)))
            .dense(2, Activation::Linear)
            .build::<(Batch, In), (Batch, Out)>()
            .unwrap();
        let x = Tensor::<(Batch, In)>::from_fn(&[4], |i| ((i[0] * 3 + i[1]) as f32 * 0.37).sin());
        let y: Vec<f32> = (0..8).map(|i| (i as f32 * 0.5).cos()).collect();
        let out = model.forward_train(&x);
        let l = MeanSquaredError::default()
            .compute(out.as_slice().unwrap(), &y, 4, None)
            .unwrap();
        model.backward(&Tensor::from_vec_dims(l.grad, out.dims()).unwrap());
        let analytic: Vec<(String, Vec<f32>)> = model
            .params_mut()
            .iter()
            .map(|p| (p.name.to_string(), p.grad.to_vec()))
            .collect();
        assert_eq!(
            analytic.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            ["dense1.kernel", "dense1.bias", "dense2.kernel", "dense2.bias"]
        );
        for (pi, (name, grad)) in analytic.iter().enumerate() {
            for (i, &g) in grad.iter().enumerate() {
                let h = 1e-2f32;
                let mut at = |d: f32| {
                    model.params_mut()[pi].value[i] += d;
                    let v = loss_of(&model, &x, &y);
                    model.params_mut()[pi].value[i] -= d;
                    v
                };
                let num = (at(h) - at(-h)) / (2.0 * f64::from(h));
                // L1 has a kink at 0; none of these weights is near it.
                assert!(
                    (f64::from(g) - num).abs() < 2e-3 + 1e-2 * num.abs(),
                    "{hidden:?} {name}[{i}]: {} vs numeric {num}",
                    g
                );
            }
        }
    }
}

#[test]
fn dropout_is_inverted_seeded_and_off_at_inference() {
    let mut d = Dropout::new("dropout1", 0.25, 7);
    let x = vec![1.0f32; 40_000];
    assert_eq!(d.forward(&x, 1), x);
    let y = d.forward_train(x.clone(), 1);
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    // Binomial(40000, 0.25): stddev of the fraction 0.0022, so ±0.01 is > 4 sigma.
    assert!((zeros - 0.25).abs() < 0.01, "{zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let g = d.backward(&vec![2.0; 40_000], 1, true).unwrap();
    assert!(g.iter().zip(&y).all(|(g, y)| (*g == 0.0) == (*y == 0.0)));
    let mut d2 = Dropout::new("dropout1", 0.25, 7);
    assert_eq!(d2.forward_train(x, 1), y, "same seed, same mask");
}

#[test]
fn initializers_follow_keras_formulas() {
    let mut rng = seeded_rng(3);
    let shape = [400, 300];
    let (fi, fo) = fans(&shape);
    assert_eq!((fi, fo), (400.0, 300.0));
    assert_eq!(fans(&[3, 3, 16, 32]), (144.0, 288.0)); // receptive field 9
    let stats = |v: &[f32]| {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n;
        (m, var.sqrt())
    };
    let uniform_limit = |scale: f64, fan: f64| (3.0 * scale / fan).sqrt();
    for (init, limit) in [
        (Initializer::GlorotUniform, uniform_limit(1.0, 350.0)),
        (Initializer::HeUniform, uniform_limit(2.0, 400.0)),
        (Initializer::LecunUniform, uniform_limit(1.0, 400.0)),
    ] {
        let w = init.sample(&shape, &mut rng);
        let (m, sd) = stats(&w);
        assert!(
            w.iter().all(|&x| f64::from(x.abs()) <= limit * (1.0 + 1e-6)),
            "{init:?}"
        );
        // Uniform(−L, L) has stddev L/√3; 120000 samples pin it to well under 1%.
        assert!(
            m.abs() < 0.01 * limit && (sd / (limit / 3f64.sqrt()) - 1.0).abs() < 0.01,
            "{init:?}: {m} {sd}"
        );
    }
    for (init, target) in [
        (Initializer::GlorotNormal, (1.0f64 / 350.0).sqrt()),
        (Initializer::HeNormal, (2.0f64 / 400.0).sqrt()),
        (Initializer::LecunNormal, (1.0f64 / 400.0).sqrt()),
    ] {
        let w = init.sample(&shape, &mut rng);
        let (m, sd) = stats(&w);
        // Keras divides by 0.8796, the stddev of a unit normal truncated to ±2, so the result
        // has exactly the target stddev, and nothing beyond 2/0.8796 of it.
        assert!(
            (sd / target - 1.0).abs() < 0.01 && m.abs() < 0.01 * target,
            "{init:?}: {sd} vs {target}"
        );
        assert!(w
            .iter()
            .all(|&x| f64::from(x.abs()) <= 2.0 * target / 0.879_625_661 + 1e-6));
    }
    let t = Initializer::TruncatedNormal {
        mean: 1.0,
        stddev: 0.05,
    }
    .sample(&[10_000], &mut rng);
    assert!(t.iter().all(|&x| (x - 1.0).abs() <= 0.1 + 1e-6));
    assert_eq!(Initializer::Constant(0.5).sample(&[2, 2], &mut rng), vec![0.5; 4]);
    assert_eq!(Initializer::Zeros.sample(&[3], &mut rng), vec![0.0; 3]);
    assert_eq!(Initializer::Ones.sample(&[3], &mut rng), vec![1.0; 3]);
    let a = Initializer::HeNormal.sample(&[10, 10], &mut seeded_rng(9));
    let b = Initializer::HeNormal.sample(&[10, 10], &mut seeded_rng(9));
    assert_eq!(a, b);
}

#[test]
fn build_rejects_shapes_that_do_not_fit_the_layers() {
    let err = Sequential::builder(4, 0)
        .dense(2, Activation::Linear)
        .build::<(Batch, In), (Batch, Out)>()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("3 features per sample, the model takes 4"),
        "{err}"
    );
    let err = Sequential::builder(3, 0)
        .dense(5, Activation::Linear)
        .build::<(Batch, In), (Batch, Out)>()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`Out` has size 2, the last layer gives 5"),
        "{err}"
    );
}

#[test]
fn small_and_large_batches_give_the_same_outputs() {
    // Batches of ≤ 4 rows take the axpy path, larger ones the GEMM: both must agree row by row.
    let model = Sequential::builder(3, 5)
        .dense(7, Activation::Tanh)
        .dense(2, Activation::Linear)
        .build::<(Batch, In), (Batch, Out)>()
        .unwrap();
    let x = Tensor::<(Batch, In)>::from_fn(&[9], |i| ((i[0] * 3 + i[1]) as f32 * 0.61).cos());
    let all = model.forward(&x).to_vec();
    for r in 0..9 {
        let one = Tensor::<(Batch, In)>::from_vec(x.to_vec()[r * 3..r * 3 + 3].to_vec(), &[1]).unwrap();
        let y = model.forward(&one).to_vec();
        for j in 0..2 {
            assert!(
                (y[j] - all[r * 2 + j]).abs() < 1e-5,
                "row {r}: {y:?} vs {:?}",
                &all[r * 2..r * 2 + 2]
            );
        }
    }
}
