//! Sequential CNNs: parameter names and shapes; outputs and gradients against the same network
//! written with tensor-core's tape ops in f64 (whose conv and pooling rules are themselves
//! checked against finite differences and TensorFlow in tensor-core/tests/ops_conv.rs); and
//! gradients of a smooth CNN against central finite differences of the model itself.

use tensor_core::ops::conv::{Conv2d, Padding, Pool2d};
use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::losses::MeanSquaredError;
use tensor_nn::optim::Optimizer;
use tensor_nn::regularizers::Regularizer;
use tensor_nn::sequential::{Conv2dOptions, Sequential, WeightConstraint};
use tensor_nn::train::{Compile, FitConfig};
use tensor_nn::Model;

tensor_macros::dims! {
    crate = ::tensor_core;
    N; H; W; C; Kh; Kw; Ci; F; Ho; Wo; H2; W2; Kh2; Kw2; Ci2; F2; H3; W3; H4; W4; Flat; Out;
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    test_support::uniform_f32(seed, n)
}

const SAME_S21: Conv2dOptions = Conv2dOptions {
    strides: (2, 1),
    padding: Padding::Same,
    dilation: (1, 1),
    groups: 1,
    activation: Activation::Relu,
    use_bias: true,
    kernel_regularizer: None,
    bias_regularizer: None,
    activity_regularizer: None,
    kernel_constraint: None,
    bias_constraint: None,
};

/// 9×8×2 → conv 3@(3,2) stride (2,1) same relu (5×8×3) → max pool 2 same (3×4×3) → depthwise
/// (2,2)×2 valid (2×3×6) → avg pool 2 stride 1 same (2×3×6) → flatten (36) → dense 4.
fn cnn(seed: u64, act: Activation, max: bool) -> Sequential<(N, H, W, C), (N, Out)> {
    let pool = Pool2d {
        pool: (2, 2),
        stride: None,
        padding: Padding::Same,
    };
    let b = Sequential::builder_image(9, 8, 2, seed).conv2d(
        3,
        (3, 2),
        Conv2dOptions {
            activation: act,
            ..SAME_S21
        },
    );
    let b = if max {
        b.max_pool2d(pool)
    } else {
        b.avg_pool2d(pool)
    };
    b.depthwise_conv2d((2, 2), 2, Conv2dOptions::default())
        .avg_pool2d(Pool2d {
            pool: (2, 2),
            stride: Some((1, 1)),
            padding: Padding::Same,
        })
        .flatten()
        .dense(4, Activation::Linear)
        .build()
        .unwrap()
}

#[test]
fn names_shapes_and_errors() {
    let m = cnn(1, Activation::Relu, true);
    let ps: Vec<(String, Vec<usize>)> = m
        .params()
        .iter()
        .map(|p| (p.name.to_string(), p.shape.to_vec()))
        .collect();
    let want: Vec<(String, Vec<usize>)> = [
        ("conv2d1.kernel", vec![3, 2, 2, 3]),
        ("conv2d1.bias", vec![3]),
        ("depthwise_conv2d1.kernel", vec![2, 2, 1, 6]),
        ("depthwise_conv2d1.bias", vec![6]),
        ("dense1.kernel", vec![36, 4]),
        ("dense1.bias", vec![4]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(ps, want);
    let names: Vec<&str> = m.layers().iter().map(|l| l.name()).collect();
    assert_eq!(
        names,
        [
            "conv2d1",
            "max_pooling2d1",
            "depthwise_conv2d1",
            "average_pooling2d1",
            "flatten1",
            "dense1"
        ]
    );
    // a 5×5 window over a 4×4 image, and a conv without image input
    let e = Sequential::builder_image(4, 4, 1, 0)
        .conv2d(2, (5, 5), Conv2dOptions::default())
        .flatten()
        .dense(2, Activation::Linear)
        .build::<(N, Flat), (N, Out)>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("spans 5"), "{e}");
    let e = Sequential::builder(16, 0)
        .conv2d(2, (3, 3), Conv2dOptions::default())
        .build::<(N, Flat), (N, Out)>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("builder_image"), "{e}");
    // a tanh conv gets a following activation layer; global pooling ends the image part
    let m = Sequential::builder_image(5, 5, 2, 0)
        .conv2d(
            4,
            (3, 3),
            Conv2dOptions {
                activation: Activation::Tanh,
                ..Conv2dOptions::default()
            },
        )
        .global_avg_pool2d()
        .dense(3, Activation::Linear)
        .build::<(N, Flat), (N, Out)>()
        .unwrap();
    let names: Vec<&str> = m.layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["conv2d1", "tanh1", "global_average_pooling2d1", "dense1"]);
}

fn t64<S: Shape>(v: &[f32], dims: &[usize]) -> Tensor<S, f64> {
    Tensor::from_vec(v.iter().map(|&x| f64::from(x)).collect(), dims).unwrap()
}

#[test]
fn gradients_match_the_tape() {
    let mut model = cnn(7, Activation::Relu, true);
    let (n, shape) = (3usize, [9usize, 8, 2]);
    let xv = values(n * 9 * 8 * 2, 3);
    let x: Tensor<(N, H, W, C)> = Tensor::from_vec(xv.clone(), &[n, shape[0], shape[1], shape[2]]).unwrap();
    let y = model.forward_train(&x);
    let rv = values(n * 4, 4);
    let r: Tensor<(N, Out)> = Tensor::from_vec(rv.clone(), &[n, 4]).unwrap();
    model.backward(&r);
    let params: Vec<(Vec<f32>, Vec<usize>, Vec<f32>)> = model
        .params_mut()
        .into_iter()
        .map(|p| (p.value.to_vec(), p.shape.to_vec(), p.grad.to_vec()))
        .collect();

    // The same network on the tape, in f64.
    let tape = GradientTape::new();
    let w1 = tape.watch(&t64::<(Kh, Kw, Ci, F)>(&params[0].0, &params[0].1));
    let b1 = tape.watch(&t64::<(F,)>(&params[1].0, &params[1].1));
    let w2 = tape.watch(&t64::<(Kh2, Kw2, Ci2, F2)>(&params[2].0, &params[2].1));
    let b2 = tape.watch(&t64::<(F2,)>(&params[3].0, &params[3].1));
    let w3 = tape.watch(&t64::<(Flat, Out)>(&params[4].0, &params[4].1));
    let b3 = tape.watch(&t64::<(Out,)>(&params[5].0, &params[5].1));
    let xt = t64::<(N, H, W, C)>(&xv, &[n, 9, 8, 2]);
    let conv1 = Conv2d {
        stride: (2, 1),
        padding: Padding::Same,
        ..Conv2d::default()
    };
    let pool_same = Pool2d {
        pool: (2, 2),
        stride: None,
        padding: Padding::Same,
    };
    let h1 = xt.conv2d::<Ho, Wo, F>(&w1, &conv1).add(&b1).relu();
    let h2 = h1.max_pool2d::<H2, W2>(&pool_same);
    let h3 = h2
        .conv2d::<H3, W3, F2>(
            &w2,
            &Conv2d {
                groups: 3,
                ..Conv2d::default()
            },
        )
        .add(&b2);
    let h4 = h3.avg_pool2d::<H4, W4>(&Pool2d {
        pool: (2, 2),
        stride: Some((1, 1)),
        padding: Padding::Same,
    });
    assert_eq!(h4.dims(), &[n, 2, 3, 6]);
    let flat = h4.try_reshape_with::<(N, Flat)>(&[n, 36]).unwrap();
    let out = flat.matmul(&w3).add(&b3);
    let y64 = out.to_vec();
    for (a, b) in y.to_vec().iter().zip(&y64) {
        assert!((f64::from(*a) - b).abs() < 1e-4, "output {a} vs {b}");
    }
    let loss = out.mul(&t64::<(N, Out)>(&rv, &[n, 4])).sum_to_scalar();
    let g = tape.gradient(&loss).unwrap();
    let want: Vec<Vec<f64>> = vec![
        g.wrt(&w1).unwrap().to_vec(),
        g.wrt(&b1).unwrap().to_vec(),
        g.wrt(&w2).unwrap().to_vec(),
        g.wrt(&b2).unwrap().to_vec(),
        g.wrt(&w3).unwrap().to_vec(),
        g.wrt(&b3).unwrap().to_vec(),
    ];
    for (k, (p, w)) in params.iter().zip(&want).enumerate() {
        assert_eq!(p.2.len(), w.len());
        for (i, (a, b)) in p.2.iter().zip(w).enumerate() {
            assert!(
                (f64::from(*a) - b).abs() <= 1e-4 * b.abs().max(1.0),
                "param {k} element {i}: model {a}, tape {b}"
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    // tanh and average pooling only: smooth, so f32 central differences are meaningful.
    let mut model = cnn(11, Activation::Tanh, false);
    let n = 2usize;
    let x: Tensor<(N, H, W, C)> = Tensor::from_vec(values(n * 144, 5), &[n, 9, 8, 2]).unwrap();
    let rv = values(n * 4, 6);
    let r: Tensor<(N, Out)> = Tensor::from_vec(rv.clone(), &[n, 4]).unwrap();
    let loss = |m: &Sequential<(N, H, W, C), (N, Out)>| -> f64 {
        m.forward(&x)
            .to_vec()
            .iter()
            .zip(&rv)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum()
    };
    model.forward_train(&x);
    model.backward(&r);
    let grads: Vec<Vec<f32>> = model.params_mut().into_iter().map(|p| p.grad.to_vec()).collect();
    let eps = 1e-2f32;
    let mut checked = 0;
    for (k, grad) in grads.iter().enumerate() {
        for (i, &analytic) in grad.iter().enumerate() {
            let bump = |m: &mut Sequential<(N, H, W, C), (N, Out)>, d: f32| {
                m.params_mut()[k].value[i] += d;
            };
            bump(&mut model, eps);
            let up = loss(&model);
            bump(&mut model, -2.0 * eps);
            let down = loss(&model);
            bump(&mut model, eps);
            let numeric = (up - down) / (2.0 * f64::from(eps));
            assert!(
                (f64::from(analytic) - numeric).abs() <= 2e-3 * numeric.abs().max(1.0),
                "param {k} element {i}: backward {analytic}, finite differences {numeric}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 36 + 3 + 24 + 6 + 144 + 4);
}

/// 5×4×2 → conv 3@(2,2) (kernel L2, bias L1, activity L2) → tanh → flatten (36) → dense 2.
fn regularized(seed: u64) -> Sequential<(N, H, W, C), (N, Out)> {
    Sequential::builder_image(5, 4, 2, seed)
        .conv2d(
            3,
            (2, 2),
            Conv2dOptions {
                activation: Activation::Tanh,
                kernel_regularizer: Some(Regularizer::l2(0.05)),
                bias_regularizer: Some(Regularizer::l1(0.1)),
                activity_regularizer: Some(Regularizer::l2(0.02)),
                ..Conv2dOptions::default()
            },
        )
        .flatten()
        .dense(2, Activation::Linear)
        .build()
        .unwrap()
}

#[test]
fn conv_regularizers_loss_by_hand_and_gradients_by_finite_differences() {
    let mut model = regularized(3);
    // Biases away from 0, where L1 has its kink.
    for (k, p) in model.params_mut().into_iter().enumerate() {
        if p.name.ends_with(".bias") {
            p.value.copy_from_slice(&values(p.value.len(), 20 + k as u64));
            p.value.iter_mut().for_each(|v| *v += v.signum() * 0.2);
        }
    }
    let n = 2usize;
    let x: Tensor<(N, H, W, C)> = Tensor::from_vec(values(n * 40, 7), &[n, 5, 4, 2]).unwrap();
    // By hand: 0.05·Σk² + 0.1·Σ|b| + 0.02·Σz²/n, z the conv's output (before tanh), computed
    // here from the weights: z[b, i, j, f] = bias[f] + Σ x[b, i + ky, j + kx, c] · k[ky, kx, c, f].
    model.forward_train(&x);
    let p = model.params();
    let (k, b) = (p[0].value, p[1].value);
    let xv = x.to_vec();
    let mut act = 0.0f64;
    for bi in 0..n {
        for i in 0..4 {
            for j in 0..3 {
                for f in 0..3 {
                    let mut z = f64::from(b[f]);
                    for ky in 0..2 {
                        for kx in 0..2 {
                            for c in 0..2 {
                                let xi = bi * 40 + ((i + ky) * 4 + j + kx) * 2 + c;
                                z += f64::from(xv[xi]) * f64::from(k[((ky * 2 + kx) * 2 + c) * 3 + f]);
                            }
                        }
                    }
                    act += z * z;
                }
            }
        }
    }
    let want = 0.05 * k.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>()
        + 0.1 * b.iter().map(|&v| f64::from(v).abs()).sum::<f64>()
        + 0.02 * act / n as f64;
    let got = f64::from(model.regularization_loss());
    assert!((got - want).abs() <= 1e-5 * want, "penalty {got}, by hand {want}");

    // L = Σ r ⊙ y + penalty; backward(r) must give ∂L/∂params.
    let rv = values(n * 2, 8);
    let r: Tensor<(N, Out)> = Tensor::from_vec(rv.clone(), &[n, 2]).unwrap();
    let loss = |m: &mut Sequential<(N, H, W, C), (N, Out)>| -> f64 {
        let y = m.forward_train(&x).to_vec();
        let fit: f64 = y
            .iter()
            .zip(&rv)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        fit + f64::from(m.regularization_loss())
    };
    model.forward_train(&x);
    model.backward(&r);
    let grads: Vec<Vec<f32>> = model.params_mut().into_iter().map(|p| p.grad.to_vec()).collect();
    let eps = 1e-2f32;
    let mut worst = 0.0f64;
    for (k, grad) in grads.iter().enumerate().take(2) {
        for (i, &analytic) in grad.iter().enumerate() {
            model.params_mut()[k].value[i] += eps;
            let up = loss(&mut model);
            model.params_mut()[k].value[i] -= 2.0 * eps;
            let down = loss(&mut model);
            model.params_mut()[k].value[i] += eps;
            let numeric = (up - down) / (2.0 * f64::from(eps));
            let err = (f64::from(analytic) - numeric).abs() / numeric.abs().max(1.0);
            worst = worst.max(err);
            assert!(
                err <= 2e-3,
                "param {k} element {i}: backward {analytic}, finite differences {numeric}"
            );
        }
    }
    eprintln!("conv regularizers: largest relative gradient error {worst:.1e}");
}

#[test]
fn conv_constraints_hold_after_fit() {
    let mut t = Sequential::builder_image(5, 4, 2, 4)
        .conv2d(
            3,
            (2, 2),
            Conv2dOptions {
                activation: Activation::Relu,
                kernel_constraint: Some(WeightConstraint::MaxNorm(0.2)),
                bias_constraint: Some(WeightConstraint::NonNeg),
                ..Conv2dOptions::default()
            },
        )
        .flatten()
        .dense(2, Activation::Linear)
        .build::<(N, H, W, C), (N, Out)>()
        .unwrap()
        .compile(Optimizer::sgd(0.5), MeanSquaredError::default(), Vec::new());
    let n = 8usize;
    let x: Tensor<(N, H, W, C)> = Tensor::from_vec(values(n * 40, 9), &[n, 5, 4, 2]).unwrap();
    // Targets that push the biases negative and the kernel large.
    let y: Tensor<(N, Out)> = Tensor::from_vec(vec![-5.0; n * 2], &[n, 2]).unwrap();
    let config = FitConfig {
        epochs: 3,
        batch_size: 4,
        verbose: 0,
        ..FitConfig::default()
    };
    let norms = |p: &[f32]| -> Vec<f32> {
        (0..3)
            .map(|f| p.iter().skip(f).step_by(3).map(|v| v * v).sum::<f32>().sqrt())
            .collect()
    };
    // Glorot uniform (limit sqrt(6 / 20)) starts every filter well above the bound.
    assert!(norms(t.model.params()[0].value).iter().all(|&n| n > 0.2));
    t.fit(&x, &y, &config, None, &mut []).unwrap();
    let p = t.model.params();
    // Per filter f: ‖k[.., .., .., f]‖ over the 2·2·2 weights ≤ 0.2.
    for (f, norm) in norms(p[0].value).into_iter().enumerate() {
        assert!(norm <= 0.2 + 1e-5, "filter {f}: norm {norm}");
    }
    assert!(p[1].value.iter().all(|&b| b >= 0.0), "bias {:?}", p[1].value);
}
