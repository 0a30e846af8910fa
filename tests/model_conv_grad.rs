//! Proof that `model!`'s convolution and pooling layers are right: the gradients the generated
//! `backward` produces equal central finite differences of the generated `forward_train`, in f64
//! (`Model::<f64>::init`), to 1e-6 relative, for odd image sizes, stride 2, same and valid
//! padding, dilation 2, max / average / global average pooling and a small CNN; the forward
//! pass equals a direct NHWC convolution written out in the test.
//!
//! The loss is `L = Σ w ⊙ y` for fixed pseudo-random weights `w`, so `∂L/∂y = w`.

use dimflow::prelude::*;

mod common;
use common::check_with_penalty;

dims! { Batch; Img = 7; ImgW = 5; Chan = 2; Classes = 3; F2 = 2; F3 = 3; F4 = 4; }

/// Deterministic inputs in [-1, 1), independent of the crates under test.
use test_support::uniform as noise;

type Images = (Batch, Img, ImgW, Chan);
const PIXELS: usize = 7 * 5 * 2;

fn images(seed: u64, batch: usize) -> Tensor<Images, f64> {
    Tensor::from_vec(noise(seed, batch * PIXELS), &[batch]).unwrap()
}

macro_rules! seq_check {
    ($test:ident, $model:ident) => {
        #[test]
        fn $test() {
            let model = $model::<f64>::init(7);
            let x = images(3, 3);
            // With the regularization penalty (0 without regularizers) in the loss.
            let err = check_with_penalty(
                &model,
                |m| m.forward_train(&x).to_vec(),
                |m, w| {
                    let out = m.forward(&x);
                    let g = Tensor::from_vec_dims(w.to_vec(), out.dims()).unwrap();
                    m.backward(&g);
                },
                |m| m.parameters_mut(),
                |m| m.regularization_loss(),
            );
            eprintln!(
                "{}: largest relative gradient error {err:.1e}",
                stringify!($test)
            );
        }
    };
}

model! {
    /// Valid 3×3 convolution with a fused tanh: 7×5 → 5×3.
    struct ConvValid: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F3, kernel = 3, activation = Tanh), Flatten, Dense(Classes)
    }
}
seq_check!(conv_valid, ConvValid);

model! {
    /// Stride 2, same padding over odd sizes (7×5 → 4×3), ReLU fused from a standalone layer.
    struct ConvSame: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F3, kernel = 3, strides = 2, padding = Same), Relu, Flatten, Dense(Classes)
    }
}
seq_check!(conv_same_stride2, ConvSame);

model! {
    /// Dilation 2 (a 5-cell span): 7×5 → 3×1, without bias, then a second convolution.
    struct ConvDilated: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F4, kernel = 3, dilation = 2, bias = false), Sigmoid,
        Conv2D(F2, kernel = 1), Flatten, Dense(Classes)
    }
}
seq_check!(conv_dilation2, ConvDilated);

model! {
    /// Max pooling (valid, 2×2: 5×3 → 2×1) between two layers with parameters.
    struct MaxPoolNet: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F3, kernel = 3), MaxPool2D(2), Flatten, Dense(Classes)
    }
}
seq_check!(max_pool, MaxPoolNet);

model! {
    /// Two conv + max-pool blocks, each run as one fused block by the training step
    /// (`fused::conv_max_pool_train` / `_backward`): the second block's convolution needs ∂x
    /// (into the first block's pooled output), and its pooling overlaps (stride 1):
    /// 7×5 → 7×5 → 3×2 → 3×2 → 2×1.
    struct ConvPoolBlocks: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F4, kernel = 2, padding = Same, activation = Relu), MaxPool2D(2),
        Conv2D(F3, kernel = 2, padding = Same), MaxPool2D(pool = 2, strides = 1),
        Flatten, Dense(Classes)
    }
}
seq_check!(fused_conv_pool_blocks, ConvPoolBlocks);

#[test]
fn fused_conv_pool_training_pass_equals_inference() {
    // The fused training forward pass gives the unfused inference pass's outputs.
    let mut model = ConvPoolBlocks::<f64>::init(3);
    let x = images(4, 5);
    let (train, infer) = (model.forward_train(&x).to_vec(), model.forward(&x).to_vec());
    assert_eq!(train.len(), infer.len());
    for (a, b) in train.iter().zip(&infer) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
}

model! {
    /// Average pooling, 3×3 window, stride 2, same padding (5×3 → 3×2).
    struct AvgPoolNet: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F3, kernel = 3, activation = Tanh),
        AvgPool2D(pool = 3, strides = 2, padding = Same), Flatten, Dense(Classes)
    }
}
seq_check!(avg_pool_same, AvgPoolNet);

model! {
    /// Global average pooling into a dense layer.
    struct GapNet: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(Filt = 4, kernel = 3, padding = Same, activation = Tanh), GlobalAvgPool2D,
        Dense(Classes)
    }
}
seq_check!(global_avg_pool, GapNet);

model! {
    /// A small CNN: conv → pool → conv → flatten → dense, in the functional form.
    struct SmallCnn(x: [Batch, Img, ImgW, Chan]) -> (y: [Batch, Classes]) {
        let h = x >> Conv2D(F4, kernel = 3, padding = Same, activation = Relu) >> MaxPool2D(2);
        y = h >> Conv2D(F3, kernel = 2, activation = Tanh) >> Flatten >> Dense(Classes);
    }
}
seq_check!(small_cnn_functional, SmallCnn);

#[test]
fn conv_forward_is_a_direct_nhwc_convolution() {
    // h[b, i, j, f] = relu(bias[f] + Σ_{ky, kx, c} x[b, 2i + ky − 1, 2j + kx − 1, c] · k[ky, kx, c, f])
    // for ConvSame (3×3, stride 2, same over 7×5), then the dense layer over flattened h.
    let mut m = ConvSame::<f64>::init(5);
    for (i, p) in m.parameters_mut().into_iter().enumerate() {
        if p.name.ends_with(".bias") {
            p.value = noise(50 + i as u64, p.value.len());
        }
    }
    let x = images(4, 2);
    let xv = x.to_vec();
    let y = m.forward(&x).to_vec();
    let p = m.parameters();
    let (k, bias, w, b2) = (&p[0].value, &p[1].value, &p[2].value, &p[3].value);
    let (oh, ow, f) = (4, 3, 3);
    // Same padding: total = max((out − 1)·s + k − len, 0): rows (3·2 + 3 − 7) = 2 → top 1;
    // cols (2·2 + 3 − 5) = 2 → left 1.
    let (pt, pl) = (1i64, 1i64);
    for b in 0..2 {
        let mut h = vec![0.0; oh * ow * f];
        for i in 0..oh {
            for j in 0..ow {
                for ff in 0..f {
                    let mut z = bias[ff];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (r, c) = (2 * i as i64 + ky - pt, 2 * j as i64 + kx - pl);
                            if !(0..7).contains(&r) || !(0..5).contains(&c) {
                                continue;
                            }
                            for ch in 0..2 {
                                let xi = b * PIXELS + (r as usize * 5 + c as usize) * 2 + ch;
                                let ki = ((ky as usize * 3 + kx as usize) * 2 + ch) * f + ff;
                                z += xv[xi] * k[ki];
                            }
                        }
                    }
                    h[(i * ow + j) * f + ff] = z.max(0.0);
                }
            }
        }
        for c in 0..3 {
            let want = b2[c] + (0..h.len()).map(|q| h[q] * w[q * 3 + c]).sum::<f64>();
            assert!((y[b * 3 + c] - want).abs() < 1e-12, "{} vs {want}", y[b * 3 + c]);
        }
    }
}

model! {
    /// Two same-size branches named with `out = [..]` (dims from `dims!`, const-checked, and
    /// inline ones), added, then global average pooling.
    struct Branches(x: [Batch, Img, ImgW, Chan]) -> (y: [Batch, Classes]) {
        let a = x >> Conv2D(F3, kernel = 3, padding = Same, out = [Img, ImgW]);
        let b = x >> Conv2D(F3, kernel = 1, activation = Tanh, out = [Img, ImgW]);
        let c = add(a, b) >> MaxPool2D(pool = 2, out = [Ph = 3, Pw = 2]);
        y = c >> Flatten >> Dense(Classes);
    }
}
seq_check!(named_branches_added, Branches);

#[test]
fn named_outputs_are_dims() {
    // `Ph` and `Pw` are declared by the model with the sizes the pooling computes.
    assert_eq!((Ph::SIZE, Pw::SIZE), (Some(3), Some(2)));
    assert_eq!((Ph::NAME, Pw::NAME), ("Ph", "Pw"));
}

dims! { Flat = 70; }

model! {
    /// Conv (same, stride 2) + ReLU → max pool → flatten → dense, on flat inputs viewed as images.
    struct SeqTwin: [Batch, Flat] -> [Batch, Classes] {
        Reshape([Img, ImgW, Chan]),
        Conv2D(F4, kernel = 3, strides = 2, padding = Same, activation = Relu),
        MaxPool2D(2), Flatten, Dense(Classes)
    }
}

#[test]
fn forward_equals_the_sequential_model_on_the_same_weights() {
    use dimflow::tensor_nn::activations::Activation;
    use dimflow::tensor_nn::sequential::{Conv2dOptions, Padding, Pool2d, Sequential};
    use dimflow::tensor_nn::Model;
    let opts = Conv2dOptions {
        activation: Activation::Relu,
        strides: (2, 2),
        padding: Padding::Same,
        ..Conv2dOptions::default()
    };
    let mut seq = Sequential::builder_image(7, 5, 2, 1)
        .conv2d(4, (3, 3), opts)
        .max_pool2d(Pool2d::default())
        .flatten()
        .dense(3, Activation::Linear)
        .build::<(Batch, Flat), (Batch, Classes)>()
        .unwrap();
    let mut twin = SeqTwin::new(2);
    let ours: Vec<(Vec<usize>, Vec<f32>)> = twin
        .parameters_mut()
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            // Non-zero biases so that they matter.
            if p.name.ends_with(".bias") {
                p.value = noise(70 + i as u64, p.value.len())
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
            }
            (p.shape.clone(), p.value.clone())
        })
        .collect();
    let theirs = seq.params_mut();
    assert_eq!(theirs.len(), ours.len());
    for (p, (shape, value)) in theirs.into_iter().zip(&ours) {
        assert_eq!(p.shape, &shape[..], "{}", p.name);
        p.value.copy_from_slice(value);
    }
    let v: Vec<f32> = noise(11, 3 * PIXELS).iter().map(|&v| v as f32).collect();
    let x: Tensor<(Batch, Flat)> = Tensor::from_vec(v, &[3]).unwrap();
    let (a, b) = (twin.forward(&x).to_vec(), Model::forward(&seq, &x).to_vec());
    assert_eq!(a.len(), 9);
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

model! {
    /// Weight and activity regularizers on a convolution (the options `Dense` takes).
    struct ConvRegular: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(
            F3,
            kernel = 3,
            activation = Tanh,
            kernel_regularizer = L2(0.05),
            bias_regularizer = L1(0.02),
            activity_regularizer = L1L2(l1 = 0.01, l2 = 0.03)
        ),
        Conv2D(F2, kernel = 2, kernel_regularizer = L1L2(0.02, 0.01)),
        Flatten, Dense(Classes)
    }
}

seq_check!(conv_regularizer_gradients_match_finite_differences, ConvRegular);

#[test]
fn conv_regularization_loss_by_hand() {
    let model = ConvRegular::<f64>::init(7);
    let x = images(3, 3);
    // The penalty by hand: 0.05·ΣK1² + 0.02·Σ|b1| + (0.01·Σ|a1| + 0.03·Σa1²) / 3
    // + 0.02·Σ|K2| + 0.01·ΣK2², with a1 = the first convolution's output (recomputed by the
    // second model below from the same weights).
    let mut m = model.clone();
    let _ = m.forward_train(&x);
    let p = m.parameters();
    let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    let ab = |v: &[f64]| v.iter().map(|x| x.abs()).sum::<f64>();
    let f = |v: f64| f64::from(v as f32);
    let mut first = FirstConv::<f64>::init(0);
    for (q, p) in first.parameters_mut().into_iter().zip(&p) {
        q.value = p.value.clone();
    }
    let a1 = first.forward(&x).to_vec();
    let want = f(0.05) * sq(&p[0].value)
        + f(0.02) * ab(&p[1].value)
        + (f(0.01) * ab(&a1) + f(0.03) * sq(&a1)) / 3.0
        + f(0.02) * ab(&p[2].value)
        + f(0.01) * sq(&p[2].value);
    assert!(
        (m.regularization_loss() - want).abs() < 1e-12,
        "{} vs {want}",
        m.regularization_loss()
    );
}

dims! { Oh = 5; Ow = 3; }

model! {
    /// The first layer of `ConvRegular` alone.
    struct FirstConv: [Batch, Img, ImgW, Chan] -> [Batch, Oh, Ow, F3] {
        Conv2D(F3, kernel = 3, activation = Tanh, out = [Oh, Ow])
    }
}

model! {
    /// Initializers and constraints on convolutions.
    struct ConvInitsConstraints: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F4, kernel = 3, kernel_initializer = Constant(0.25), bias_initializer = Ones),
        Conv2D(F3, kernel = 2, kernel_initializer = Zeros, bias_initializer = Constant(-0.5)),
        Conv2D(F2, kernel = 1, kernel_constraint = MaxNorm(0.3), bias_constraint = NonNeg),
        Flatten, Dense(Classes)
    }
}

#[test]
fn conv_initializers_set_the_initial_weights() {
    let m = ConvInitsConstraints::new(3);
    let p = m.parameters();
    assert_eq!(p[0].shape, [3, 3, 2, 4]);
    assert!(p[0].value.iter().all(|&v| v == 0.25));
    assert!(p[1].value.iter().all(|&v| v == 1.0));
    assert!(p[2].value.iter().all(|&v| v == 0.0) && p[2].value.len() == 2 * 2 * 4 * 3);
    assert!(p[3].value.iter().all(|&v| v == -0.5));
    // No initializer: Glorot uniform, limit sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (3 + 2)).
    let limit = (6.0f32 / 5.0).sqrt();
    assert!(p[4].value.iter().all(|v| v.abs() <= limit) && p[4].value.iter().any(|&v| v != 0.0));
    assert!(p[5].value.iter().all(|&v| v == 0.0));
}

#[test]
fn conv_constraints_apply_after_each_update() {
    use dimflow::tensor_nn::losses::MeanSquaredError;
    use dimflow::tensor_nn::optim::Optimizer;
    use dimflow::tensor_nn::train::Compile;
    let v: Vec<f32> = noise(5, 8 * PIXELS).iter().map(|&v| v as f32).collect();
    let x: Tensor<Images> = Tensor::from_vec(v, &[8]).unwrap();
    let y = Tensor::<(Batch, Classes)>::from_fn(&[8], |i| if i[1] == i[0] % 3 { 3.0 } else { -3.0 });
    let mut t =
        ConvInitsConstraints::new(4).compile(Optimizer::sgd(0.5), MeanSquaredError::default(), vec![]);
    let mut kernel = t.model.parameters()[4].value.clone();
    let norm = |k: &[f32], f: usize| (0..3).map(|c| k[c * 2 + f].powi(2)).sum::<f32>().sqrt();
    assert!(
        norm(&kernel, 0).max(norm(&kernel, 1)) > 0.3,
        "the constraint has work to do"
    );
    for _ in 0..5 {
        assert!(t.train_step(&x, &y).unwrap().is_finite());
        let p = t.model.parameters();
        // MaxNorm(0.3) per filter: the [1, 1, 3, 2] kernel's two filters (3 weights each).
        for f in 0..2 {
            let n = norm(&p[4].value, f);
            assert!(n <= 0.3 + 1e-5, "filter {f} has norm {n}");
        }
        assert!(p[5].value.iter().all(|&b| b >= 0.0), "NonNeg bias");
        assert_ne!(p[4].value, kernel, "the kernel was updated");
        kernel = p[4].value.clone();
    }
}

model! {
    /// A 2×3 kernel with strides (2, 1), valid, over 7×5 (→ 3×3: the last row is dropped),
    /// then a 2×1 max pool with stride 1 (→ 2×3).
    struct RectValid: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F3, kernel = (2, 3), strides = (2, 1), activation = Tanh, out = [Rh = 3, Rw = 3]),
        MaxPool2D(pool = (2, 1), strides = (1, 1), exact = true, out = [Mh = 2, Mw = 3]),
        Flatten, Dense(Classes)
    }
}
seq_check!(rectangular_kernel_valid, RectValid);

model! {
    /// A 3×2 kernel with strides (2, 1), same (7×5 → 4×5), then a 1×3 average pool with strides
    /// (2, 2), same (→ 2×3).
    struct RectSame: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F2, kernel = (3, 2), strides = (2, 1), padding = Same, out = [Sh = 4, Sw = 5]),
        AvgPool2D(pool = (1, 3), strides = (2, 2), padding = Same, out = [Ah = 2, Aw = 3]),
        Flatten, Dense(Classes)
    }
}
seq_check!(rectangular_kernel_same, RectSame);

#[test]
fn rectangular_kernel_shapes() {
    let m = RectValid::new(1);
    assert_eq!(m.parameters()[0].shape, [2, 3, 2, 3]);
    assert_eq!(m.parameters()[2].shape, [2 * 3 * 3, 3]);
    let m = RectSame::new(1);
    assert_eq!(m.parameters()[0].shape, [3, 2, 2, 2]);
    assert_eq!(m.parameters()[2].shape, [2 * 3 * 2, 3]);
}

model! {
    /// Depthwise convolutions: multiplier 1 (the output keeps `Chan`), then multiplier 2 into
    /// `F4` (const-checked: 2 · 2), a 2×3 window with strides (2, 1), same (5×3 → 3×3), with
    /// Keras' depthwise option names.
    struct Depthwise: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        DepthwiseConv2D(kernel = 3, activation = Tanh, depthwise_regularizer = L2(0.03)),
        DepthwiseConv2D(
            F4,
            kernel = (2, 3),
            depth_multiplier = 2,
            strides = (2, 1),
            padding = Same,
            depthwise_initializer = HeUniform,
            bias_regularizer = L1(0.02)
        ),
        Flatten, Dense(Classes)
    }
}

seq_check!(depthwise_gradients_match_finite_differences, Depthwise);

#[test]
fn depthwise_names_shapes_and_initial_weights() {
    let model = Depthwise::<f64>::init(7);
    let p = model.parameters();
    let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "depthwise_conv2d1.kernel",
            "depthwise_conv2d1.bias",
            "depthwise_conv2d2.kernel",
            "depthwise_conv2d2.bias",
            "dense1.kernel",
            "dense1.bias"
        ]
    );
    assert_eq!(p[0].shape, [3, 3, 1, 2]);
    assert_eq!(p[2].shape, [2, 3, 1, 4]);
    assert_eq!(p[4].shape, [3 * 3 * 4, 3]);
    // Keras' fans for a depthwise kernel [kh, kw, c, m]: Glorot limit sqrt(6 / (9·2 + 9·1)).
    let limit = (6.0f64 / 27.0).sqrt();
    assert!(p[0].value.iter().all(|v| v.abs() <= limit + 1e-7));
    // He uniform, fan_in = 2·3·2: limit sqrt(6 / 12).
    assert!(p[2].value.iter().all(|v| v.abs() <= 0.5f64.sqrt() + 1e-7));
}

model! {
    /// Grouped convolutions (`groups = 2`) over odd sizes: `Chan` (2) → `F4` in two groups of
    /// one channel → two filters (7×5 → 5×3), then a 1×1 convolution `F4` → `F2` in two groups.
    struct Grouped: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F4, kernel = 3, groups = 2, activation = Tanh, kernel_regularizer = L2(0.02)),
        Conv2D(F2, kernel = 1, groups = 2), Flatten, Dense(Classes)
    }
}
seq_check!(grouped_gradients_match_finite_differences, Grouped);

#[test]
fn grouped_kernel_shapes_and_forward() {
    let m = Grouped::<f64>::init(3);
    let p = m.parameters();
    // [kh, kw, C / groups, F]
    assert_eq!(p[0].shape, [3, 3, 1, 4]);
    assert_eq!(p[2].shape, [1, 1, 2, 2]);
    assert_eq!(p[4].shape, [5 * 3 * 2, 3]);
    // Filters 0, 1 read channel 0 only and filters 2, 3 channel 1 only: changing channel 1 of
    // the input leaves the first conv's filters 0, 1 (hence the second conv's filter 0,
    // reading filters 0, 1) unchanged. Checked on the first layer by hand: h[b, i, j, f] =
    // tanh(bias[f] + Σ_{ky, kx} x[b, i + ky, j + kx, f / 2] · k[ky, kx, 0, f]).
    let x = images(8, 1);
    let xv = x.to_vec();
    let (k, bias) = (&p[0].value, &p[1].value);
    let h1 = |i: usize, j: usize, f: usize| {
        let mut z = bias[f];
        for ky in 0..3 {
            for kx in 0..3 {
                z += xv[((i + ky) * 5 + j + kx) * 2 + f / 2] * k[(ky * 3 + kx) * 4 + f];
            }
        }
        z.tanh()
    };
    // The 1×1 grouped layer: out[f2] = b2[f2] + Σ_{g < 2} h1[2·f2 + g] · k2[0, 0, g, f2].
    let (k2, b2, w, b3) = (&p[2].value, &p[3].value, &p[4].value, &p[5].value);
    let y = m.forward(&x).to_vec();
    let mut want = b3.clone();
    for i in 0..5 {
        for j in 0..3 {
            for f2 in 0..2 {
                let h2 = b2[f2] + (0..2).map(|g| h1(i, j, 2 * f2 + g) * k2[g * 2 + f2]).sum::<f64>();
                for (c, o) in want.iter_mut().enumerate() {
                    *o += h2 * w[((i * 3 + j) * 2 + f2) * 3 + c];
                }
            }
        }
    }
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

model! {
    /// Explicit asymmetric padding: 1 row above, none below, 2 columns left, 1 right, so a 3×3
    /// window over 7×5 gives (7 + 1 − 3) + 1 = 6 by (5 + 3 − 3) + 1 = 6 (`out` checks it at
    /// expansion); then max pooling with explicit padding (6+1 → 3, 6+1 → 3) and average
    /// pooling (3+1 → 2, 3 → 2 with a 2×2 window and stride 1).
    struct Padded: [Batch, Img, ImgW, Chan] -> [Batch, Classes] {
        Conv2D(F3, kernel = 3, padding = ((1, 0), (2, 1)), activation = Tanh, out = [Xh = 6, Xw = 6]),
        MaxPool2D(2, padding = ((0, 1), (1, 0)), out = [Yh = 3, Yw = 3]),
        Conv2D(F2, kernel = (2, 1), padding = ((0, 1), (1, 1)), out = [Zh = 3, Zw = 5]),
        AvgPool2D(pool = 2, strides = 1, padding = ((1, 0), (0, 0)), out = [Vh = 3, Vw = 4]),
        Flatten, Dense(Classes)
    }
}
seq_check!(explicit_padding_gradients_match_finite_differences, Padded);

#[test]
fn explicit_padding_forward_is_a_zero_padded_convolution() {
    // h[b, i, j, f] = tanh(bias[f] + Σ_{ky, kx, c} x[b, i + ky − 1, j + kx − 2, c] · k[ky, kx, c, f])
    // (1 row above, 2 columns left; cells outside the image are 0), read back as the first
    // layer of a one-layer model.
    let m = PaddedConv::<f64>::init(2);
    let x = images(9, 2);
    let xv = x.to_vec();
    let y = m.forward(&x).to_vec();
    let p = m.parameters();
    let (k, bias) = (&p[0].value, &p[1].value);
    for b in 0..2 {
        for i in 0..6 {
            for j in 0..6 {
                for f in 0..3 {
                    let mut z = bias[f];
                    for ky in 0..3i64 {
                        for kx in 0..3i64 {
                            let (r, c) = (i as i64 + ky - 1, j as i64 + kx - 2);
                            if !(0..7).contains(&r) || !(0..5).contains(&c) {
                                continue;
                            }
                            for ch in 0..2 {
                                let xi = b * PIXELS + (r as usize * 5 + c as usize) * 2 + ch;
                                z += xv[xi] * k[((ky as usize * 3 + kx as usize) * 2 + ch) * 3 + f];
                            }
                        }
                    }
                    let got = y[b * 108 + (i * 6 + j) * 3 + f];
                    assert!((got - z.tanh()).abs() < 1e-12, "{got} vs {}", z.tanh());
                }
            }
        }
    }
}

model! {
    /// The first layer of `Padded` alone.
    struct PaddedConv: [Batch, Img, ImgW, Chan] -> [Batch, Ph2, Pw2, F3] {
        Conv2D(F3, kernel = 3, padding = ((1, 0), (2, 1)), activation = Tanh, out = [Ph2 = 6, Pw2 = 6])
    }
}
