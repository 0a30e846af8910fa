//! Proof that `model!`'s fused backward pass is right: for every layer kind and for the
//! sequential, functional, shared-layer, fan-out and multi-output forms, the gradients the
//! generated `backward` produces equal central finite differences of the generated
//! `forward_train`, computed in f64 (`Model::<f64>::init`), to 1e-6 relative.
//!
//! The loss is `L = Σ w ⊙ y` for fixed pseudo-random weights `w`, so `∂L/∂y = w`. Dropout masks
//! are held fixed by cloning the model (with its random stream) before every evaluation.

use dimflow::prelude::*;
use dimflow::tensor_nn::fused::Param;

mod common;
use common::{check, check_with_penalty};

dims! { Batch; Pixels = 6; Hidden = 5; Classes = 3; Crossed = 4; Numeric = 3; One = 1; }

/// Deterministic inputs in [-1, 1), independent of the crates under test.
use test_support::uniform as noise;

fn input<S: Shape>(seed: u64, batch: usize, feats: usize) -> Tensor<S, f64> {
    Tensor::from_vec(noise(seed, batch * feats), &[batch]).unwrap()
}

macro_rules! seq_model_check {
    ($test:ident, $model:ident, $in:ty, $feats:expr) => {
        #[test]
        fn $test() {
            let model = $model::<f64>::init(7);
            let x = input::<$in>(3, 4, $feats);
            check(
                &model,
                |m| m.forward_train(&x).to_vec(),
                |m, w| {
                    let out = m.forward(&x);
                    let g = Tensor::from_vec_dims(w.to_vec(), out.dims()).unwrap();
                    m.backward(&g);
                },
                |m| m.parameters_mut(),
            );
        }
    };
}

model! {
    /// Dense + ReLU, dropout, dense (the MLP).
    struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dropout(0.3), Dense(Classes)
    }
}
seq_model_check!(mlp_with_dropout, Mlp, (Batch, Pixels), 6);

model! {
    /// Every activation fused into a dense layer, and a dense layer without bias.
    struct Fused: [Batch, Pixels] -> [Batch, Classes] {
        Dense(H1 = 4), LeakyRelu(0.2), Dense(H2 = 4), Elu(0.7), Dense(H3 = 4), Gelu,
        Dense(H4 = 4), Softplus, Dense(H5 = 4), Sigmoid, Dense(H6 = 4, bias = false), Tanh,
        Dense(H7 = 4), Linear, Dense(Classes), Softmax
    }
}
seq_model_check!(fused_activations, Fused, (Batch, Pixels), 6);

model! {
    /// Every activation standing alone (after dropout, so nothing fuses), and at the input.
    struct Standalone: [Batch, Pixels] -> [Batch, Classes] {
        Tanh, Dense(Hidden), Dropout(0.25), Relu, Dense(Hidden, activation = Gelu),
        Dropout(0.1), LeakyRelu, Dropout(0.1), Elu, Dropout(0.1), Gelu, Dropout(0.1), Softplus,
        Dropout(0.1), Sigmoid, Dense(Classes), Dropout(0.2), Softmax
    }
}
seq_model_check!(standalone_activations, Standalone, (Batch, Pixels), 6);

model! {
    /// Batch normalisation between dense layers, and directly on the input.
    struct Normed: [Batch, Pixels] -> [Batch, Classes] {
        BatchNorm, Dense(Hidden), BatchNorm(momentum = 0.9), Relu, Dense(Classes), Tanh
    }
}
seq_model_check!(batch_norm, Normed, (Batch, Pixels), 6);

#[test]
fn batch_norm_names_statistics_and_uses_them_in_inference() {
    let mut m = Normed::<f64>::init(1);
    let names: Vec<&str> = m.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "batch_norm1.gamma",
            "batch_norm1.beta",
            "batch_norm1.moving_mean",
            "batch_norm1.moving_variance",
            "dense1.kernel",
            "dense1.bias",
            "batch_norm2.gamma",
            "batch_norm2.beta",
            "batch_norm2.moving_mean",
            "batch_norm2.moving_variance",
            "dense2.kernel",
            "dense2.bias"
        ]
    );
    let x = input::<(Batch, Pixels)>(3, 8, 6);
    let before = m.forward(&x).to_vec();
    let _ = m.forward_train(&x);
    // Training moved the moving statistics (momentum 0.99: mean = 0.01 · batch mean), so
    // inference output changes; and the batch mean of the input is what moved them.
    let xv = x.to_vec();
    let mean0: f64 = (0..8).map(|r| xv[r * 6]).sum::<f64>() / 8.0;
    assert!((m.parameters()[2].value[0] - 0.01 * mean0).abs() < 1e-12);
    assert_ne!(before, m.forward(&x).to_vec());
}

model! {
    /// Two inputs, a concat, the wide & deep shape.
    struct WideDeep(wide: [Batch, Crossed], deep: [Batch, Numeric]) -> (out: [Batch, One]) {
        let h = deep >> Dense(D1 = 5) >> Relu >> Dense(D2 = 4) >> Tanh;
        let both = concat(wide, h);
        out = both >> Dense(One) >> Sigmoid;
    }
}

#[test]
fn functional_concat_two_inputs() {
    let model = WideDeep::<f64>::init(11);
    let wide = input::<(Batch, Crossed)>(1, 3, 4);
    let deep = input::<(Batch, Numeric)>(2, 3, 3);
    check(
        &model,
        |m| m.forward_train(&wide, &deep).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[3]).unwrap()),
        |m| m.parameters_mut(),
    );
}

model! {
    /// A shared layer applied twice, fan-out of one tensor, add and multiply, two outputs.
    struct Shared(a: [Batch, Pixels], b: [Batch, Pixels]) -> (sum: [Batch, Classes], prod: [Batch, S1]) {
        let tower = Dense(S1 = 4);
        let ha = a >> tower >> Tanh;
        let hb = b >> tower >> Sigmoid;
        let both = add(ha, hb);
        prod = multiply(both, ha) >> Dropout(0.2);
        sum = both >> Dense(Classes) >> Softplus;
    }
}

#[test]
fn functional_shared_layer_fan_out_two_outputs() {
    let model = Shared::<f64>::init(5);
    let a = input::<(Batch, Pixels)>(1, 3, 6);
    let b = input::<(Batch, Pixels)>(2, 3, 6);
    check(
        &model,
        |m| {
            let (s, p) = m.forward_train(&a, &b);
            let mut v = s.to_vec();
            v.extend(p.to_vec());
            v
        },
        |m, w| {
            let s = Tensor::from_vec(w[..9].to_vec(), &[3]).unwrap();
            let p = Tensor::from_vec(w[9..].to_vec(), &[3]).unwrap();
            m.backward(&s, &p);
        },
        |m| m.parameters_mut(),
    );
    // The shared layer has one kernel, named after its binding.
    let names: Vec<&str> = model.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["tower.kernel", "tower.bias", "dense1.kernel", "dense1.bias"]
    );
}

/// Forward of `Mlp` computed independently with naive loops in f64 (dropout off), from the
/// generated model's parameters: `relu(x·W1 + b1)·W2 + b2`.
#[test]
fn forward_matches_naive_reference() {
    let model = Mlp::<f64>::init(7);
    let x = input::<(Batch, Pixels)>(3, 4, 6);
    let p = model.parameters();
    let (w1, b1, w2, b2) = (&p[0].value, &p[1].value, &p[2].value, &p[3].value);
    let xv = x.to_vec();
    let y = model.forward(&x).to_vec();
    for r in 0..4 {
        let h: Vec<f64> = (0..5)
            .map(|j| (b1[j] + (0..6).map(|i| xv[r * 6 + i] * w1[i * 5 + j]).sum::<f64>()).max(0.0))
            .collect();
        for c in 0..3 {
            let want = b2[c] + (0..5).map(|j| h[j] * w2[j * 3 + c]).sum::<f64>();
            assert!(
                (y[r * 3 + c] - want).abs() < 1e-12,
                "row {r} col {c}: {} vs {want}",
                y[r * 3 + c]
            );
        }
    }
}

#[test]
fn seeded_init_is_reproducible_and_shared_between_precisions() {
    let a = Mlp::new(42);
    let b = Mlp::new(42);
    let c = Mlp::new(43);
    let d = Mlp::<f64>::init(42);
    let names: Vec<&str> = a.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["dense1.kernel", "dense1.bias", "dense2.kernel", "dense2.bias"]
    );
    for ((pa, pb), (pc, pd)) in a
        .parameters()
        .iter()
        .zip(b.parameters())
        .zip(c.parameters().iter().zip(d.parameters()))
    {
        assert_eq!(pa.value, pb.value);
        let as64: Vec<f64> = pa.value.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(as64, pd.value);
        if pa.name.ends_with("kernel") {
            assert_ne!(pa.value, pc.value);
            // Glorot uniform: |w| <= sqrt(6 / (fan_in + fan_out)).
            let limit = (6.0 / (pa.shape[0] + pa.shape[1]) as f32).sqrt();
            assert!(pa.value.iter().all(|v| v.abs() <= limit));
        } else {
            assert!(pa.value.iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn dropout_only_in_training_and_inverted() {
    let mut m = Mlp::<f64>::init(1);
    let x = input::<(Batch, Pixels)>(3, 64, 6);
    let a = m.forward(&x).to_vec();
    let b = m.forward(&x).to_vec();
    assert_eq!(a, b);
    let t1 = m.forward_train(&x).to_vec();
    let t2 = m.forward_train(&x).to_vec();
    assert_ne!(t1, a);
    assert_ne!(t1, t2, "each training step draws a new mask");
}

#[test]
fn gradients_are_overwritten_not_accumulated_across_steps() {
    let mut m = Mlp::<f64>::init(2);
    let x = input::<(Batch, Pixels)>(3, 4, 6);
    let once = {
        let mut c = m.clone();
        let y = c.forward_train(&x);
        c.backward(&y.map(|_| 1.0));
        c.parameters()[0].grad.clone()
    };
    for _ in 0..2 {
        let y = m.forward_train(&x);
        let mut c = m.clone();
        c.backward(&y.map(|_| 1.0));
        m = c;
    }
    // Two steps from different masks differ from one, but a repeated identical step does not add up:
    let mut a = Mlp::<f64>::init(2);
    let y = a.forward_train(&x);
    a.backward(&y.map(|_| 1.0));
    a.backward(&y.map(|_| 1.0));
    assert_eq!(a.parameters()[0].grad, once);
}

dims! { Time; Feat = 3; }

model! {
    /// Rank 3: dense layers act on the last dim, `Batch` and `Time` are both run-time.
    struct PerStep: [Batch, Time, Feat] -> [Batch, Time, Classes] {
        Dense(Hidden), Elu, Dense(Classes), Softmax
    }
}

#[test]
fn rank_three_input_with_two_run_time_dims() {
    let model = PerStep::<f64>::init(3);
    let x: Tensor<(Batch, Time, Feat), f64> = Tensor::from_vec(noise(4, 2 * 3 * 3), &[2, 3]).unwrap();
    assert_eq!(model.forward(&x).dims(), &[2, 3, 3]);
    check(
        &model,
        |m| m.forward_train(&x).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[2, 3]).unwrap()),
        |m| m.parameters_mut(),
    );
}

#[test]
fn model_trait_takes_tuples_for_several_inputs_and_outputs() {
    use dimflow::tensor_nn::Model;
    let mut m = Shared::new(5);
    let a = Tensor::<(Batch, Pixels)>::full(0.25, &[2]);
    let b = Tensor::<(Batch, Pixels)>::full(-0.5, &[2]);
    let (s, p) = Model::forward_train(&mut m, &(a.clone(), b.clone()));
    let (s2, p2) = m.forward(&a, &b);
    // Dropout only touches `prod`; `sum` is deterministic.
    assert_eq!(s.to_vec(), s2.to_vec());
    assert_eq!(p.dims(), p2.dims());
    Model::backward(&mut m, &(s.map(|_| 1.0), p.map(|_| 0.0)));
    let names: Vec<&str> = m.params().iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["tower.kernel", "tower.bias", "dense1.kernel", "dense1.bias"]
    );
    assert!(m.params_mut().iter().all(|p| p.grad.iter().any(|&g| g != 0.0)));
}

#[test]
#[should_panic(expected = "dimension `Batch` has length 3 in input `a` but 2 in input `b`")]
fn merged_inputs_must_agree_on_run_time_lengths() {
    let m = Shared::new(5);
    let a = Tensor::<(Batch, Pixels)>::full(0.25, &[3]);
    let b = Tensor::<(Batch, Pixels)>::full(-0.5, &[2]);
    let _ = m.forward(&a, &b);
}

/// The f32 instantiation (the one `Model` trains) agrees with the f64 one that the finite
/// differences check, from the same seed and input (no dropout, so the step is deterministic).
#[test]
fn f32_step_agrees_with_the_checked_f64_step() {
    let mut m32 = Normed::new(9);
    let mut m64 = Normed::<f64>::init(9);
    let x64 = input::<(Batch, Pixels)>(3, 8, 6);
    let x32: Tensor<(Batch, Pixels)> = x64.map(|v| v as f32);
    let y32 = m32.forward_train(&x32);
    let y64 = m64.forward_train(&x64);
    for (a, b) in y32.to_vec().iter().zip(y64.to_vec()) {
        assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
    }
    m32.backward(&y32.map(|_| 1.0));
    m64.backward(&y64.map(|_| 1.0));
    for (p32, p64) in m32.parameters().iter().zip(m64.parameters()) {
        for (a, b) in p32.grad.iter().zip(&p64.grad) {
            assert!(
                (f64::from(*a) - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{}: {a} vs {b}",
                p64.name
            );
        }
    }
}

model! {
    /// One batch-norm layer shared by two inputs (one set of statistics and parameters).
    struct SharedNorm(a: [Batch, Pixels], b: [Batch, Pixels]) -> (y: [Batch, Classes]) {
        let norm = BatchNorm;
        let h = add(a >> Dense(Pixels) >> norm, b >> Dense(Pixels) >> norm);
        y = h >> Dense(Classes);
    }
}

#[test]
fn shared_batch_norm_accumulates_both_uses() {
    let model = SharedNorm::<f64>::init(4);
    let a = input::<(Batch, Pixels)>(5, 4, 6);
    let b = input::<(Batch, Pixels)>(6, 4, 6);
    check(
        &model,
        |m| m.forward_train(&a, &b).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[4]).unwrap()),
        |m| m.parameters_mut(),
    );
    let names: Vec<&str> = model.parameters().iter().map(|p| p.name.as_str()).collect();
    // One set of batch-norm parameters, created at its first use (after `dense1`).
    assert_eq!(names.iter().filter(|n| n.starts_with("norm.")).count(), 4);
    assert_eq!(names[2..4], ["norm.gamma", "norm.beta"]);
}

dims! { Seq; Vocab = 7; }

model! {
    /// Token ids → embeddings → a dense layer per position; a second, dense input merged in.
    struct Tagger(tokens: [Batch, Seq], extra: [Batch, Seq, Feat]) -> (tags: [Batch, Seq, Classes]) {
        let e = tokens >> Embedding(Vocab, E = 3) >> Tanh;
        tags = concat(e, extra) >> Dense(Classes) >> Softmax;
    }
}

#[test]
fn embedding_lookup_and_gradient() {
    let model = Tagger::<f64>::init(8);
    // Ids include a repeat (rows accumulate) and an out-of-range id (a zero row, no gradient).
    let tokens: Tensor<(Batch, Seq), i64> = Tensor::from_vec(vec![1, 4, 1, 6, 0, 9], &[2, 3]).unwrap();
    let extra: Tensor<(Batch, Seq, Feat), f64> = Tensor::from_vec(noise(2, 18), &[2, 3]).unwrap();
    assert_eq!(model.forward(&tokens, &extra).dims(), &[2, 3, 3]);
    check(
        &model,
        |m| m.forward_train(&tokens, &extra).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[2, 3]).unwrap()),
        |m| m.parameters_mut(),
    );
    let p = model.parameters();
    assert_eq!(p[0].name, "embedding1.embeddings");
    assert_eq!(p[0].shape, [7, 3]);
    // Keras' default initialiser: uniform in [-0.05, 0.05).
    assert!(p[0].value.iter().all(|v| v.abs() <= 0.05));
}

dims! { Rows = 2; Cols = 3; }

model! {
    /// A rank-3 input flattened into an unnamed `Rows*Cols` dim, PReLU standalone.
    struct FlatNet: [Batch, Rows, Cols] -> [Batch, Classes] {
        Flatten, Dense(Hidden), PReLU, Dense(Classes)
    }
}
seq_model_check!(flatten_and_prelu, FlatNet, (Batch, Rows, Cols), 6);

model! {
    /// The same layers on the already flat input: same seed, same parameters.
    struct FlatRef: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), PReLU, Dense(Classes)
    }
}

#[test]
fn flatten_is_the_row_major_identity() {
    // Flatten keeps the values in row-major order, so the model equals the one fed with the
    // flat input; PReLU starts at α = 0 (a ReLU), then with α set both still agree.
    let mut a = FlatNet::<f64>::init(7);
    let mut b = FlatRef::<f64>::init(7);
    let v = noise(3, 4 * 6);
    let x3: Tensor<(Batch, Rows, Cols), f64> = Tensor::from_vec(v.clone(), &[4]).unwrap();
    let x2: Tensor<(Batch, Pixels), f64> = Tensor::from_vec(v, &[4]).unwrap();
    for (pa, pb) in a.parameters_mut().into_iter().zip(b.parameters_mut()) {
        assert_eq!(pa.name, pb.name);
        assert_eq!(pa.value, pb.value);
        if pa.name == "prelu1.alpha" {
            assert!(pa.value.iter().all(|&v| v == 0.0), "Keras' alpha init is zeros");
            pa.value = noise(8, pa.value.len());
            pb.value = pa.value.clone();
        }
    }
    assert_eq!(a.forward(&x3).to_vec(), b.forward(&x2).to_vec());
    // And PReLU itself by hand: y = h for h > 0, α_j·h otherwise.
    let p = b.parameters();
    let (w1, b1, alpha) = (&p[0].value, &p[1].value, &p[2].value);
    let (w2, b2) = (&p[3].value, &p[4].value);
    let xv = x2.to_vec();
    let y = b.forward(&x2).to_vec();
    for r in 0..4 {
        let h: Vec<f64> = (0..5)
            .map(|j| {
                let z = b1[j] + (0..6).map(|i| xv[r * 6 + i] * w1[i * 5 + j]).sum::<f64>();
                if z > 0.0 {
                    z
                } else {
                    alpha[j] * z
                }
            })
            .collect();
        for c in 0..3 {
            let want = b2[c] + (0..5).map(|j| h[j] * w2[j * 3 + c]).sum::<f64>();
            assert!((y[r * 3 + c] - want).abs() < 1e-12);
        }
    }
}

model! {
    /// Reshape a flat vector into rows, a dense layer per row, then flatten into a named dim
    /// (checked against the product at compile time) and reshape the output back into rows.
    struct RowNet: [Batch, Pixels] -> [Batch, Rows, Cols] {
        Reshape([Rows, Cols]), Dense(Hidden), Tanh, Flatten(F = 10), Dense(Pixels), Reshape([Rows, Cols])
    }
}

#[test]
fn reshape_flatten_named_and_reshaped_output() {
    let model = RowNet::<f64>::init(2);
    let x = input::<(Batch, Pixels)>(5, 3, 6);
    let y = model.forward(&x);
    assert_eq!(y.dims(), &[3, 2, 3]);
    let names: Vec<&str> = model.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["dense1.kernel", "dense1.bias", "dense2.kernel", "dense2.bias"]
    );
    // dense1 acts on each row of 3: its kernel is [Cols, Hidden]; dense2 reads 2·5 = 10.
    assert_eq!(model.parameters()[0].shape, [3, 5]);
    assert_eq!(model.parameters()[2].shape, [10, 6]);
    check(
        &model,
        |m| m.forward_train(&x).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[3]).unwrap()),
        |m| m.parameters_mut(),
    );
}

model! {
    /// A flattened image merged with a flat input, one PReLU shared by both branches.
    struct Merged(img: [Batch, Rows, Cols], flat: [Batch, Pixels]) -> (y: [Batch, Classes]) {
        let act = PReLU;
        let a = img >> Flatten(Pixels) >> Dense(Pixels) >> act;
        let h = add(a, flat >> Dense(Pixels) >> act);
        y = h >> Dense(Classes);
    }
}

#[test]
fn flatten_into_a_declared_dim_merge_and_shared_prelu() {
    let model = Merged::<f64>::init(6);
    let img = input::<(Batch, Rows, Cols)>(1, 3, 6);
    let flat = input::<(Batch, Pixels)>(2, 3, 6);
    check(
        &model,
        |m| m.forward_train(&img, &flat).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[3]).unwrap()),
        |m| m.parameters_mut(),
    );
    let names: Vec<&str> = model.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dense1.kernel",
            "dense1.bias",
            "act.alpha",
            "dense2.kernel",
            "dense2.bias",
            "dense3.kernel",
            "dense3.bias"
        ]
    );
}

#[test]
#[should_panic(expected = "dimension `Batch` has length 3 in input `img` but 2 in input `flat`")]
fn flattened_and_flat_inputs_must_agree_on_the_batch() {
    let m = Merged::new(1);
    let img = Tensor::<(Batch, Rows, Cols)>::full(0.5, &[3]);
    let flat = Tensor::<(Batch, Pixels)>::full(0.5, &[2]);
    let _ = m.forward(&img, &flat);
}

model! {
    /// Every Dense option: initializers, weight and activity regularizers, constraints.
    struct Regular: [Batch, Pixels] -> [Batch, Classes] {
        Dense(
            Hidden,
            kernel_initializer = HeNormal,
            bias_initializer = RandomUniform(-0.1, 0.1),
            kernel_regularizer = L2(0.01),
            bias_regularizer = L1(0.02),
            activity_regularizer = L1L2(l1 = 0.01, l2 = 0.03),
            activation = Tanh
        ),
        Dense(
            Classes,
            initializer = LecunUniform,
            kernel_regularizer = L1L2(0.05, 0.02),
            kernel_constraint = MaxNorm(0.5),
            bias_constraint = NonNeg
        )
    }
}

#[test]
fn regularizer_gradients_match_finite_differences() {
    let model = Regular::<f64>::init(4);
    let x = input::<(Batch, Pixels)>(3, 4, 6);
    check_with_penalty(
        &model,
        |m| m.forward_train(&x).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[4]).unwrap()),
        |m| m.parameters_mut(),
        |m| m.regularization_loss(),
    );
}

/// The penalty recomputed by hand from the parameters:
/// `0.01·ΣW1² + 0.02·Σ|b1| + (0.01·Σ|a1| + 0.03·Σa1²) / batch + 0.05·Σ|W2| + 0.02·ΣW2²`,
/// with `a1 = tanh(x·W1 + b1)` the first layer's output (Keras 3 divides activity penalties by
/// the batch size).
#[test]
fn regularization_loss_by_hand() {
    let mut m = Regular::<f64>::init(4);
    let x = input::<(Batch, Pixels)>(3, 4, 6);
    let _ = m.forward_train(&x);
    let p = m.parameters();
    let (w1, b1, w2) = (&p[0].value, &p[1].value, &p[2].value);
    let xv = x.to_vec();
    let mut act = (0.0, 0.0);
    for r in 0..4 {
        for j in 0..5 {
            let a = (b1[j] + (0..6).map(|i| xv[r * 6 + i] * w1[i * 5 + j]).sum::<f64>()).tanh();
            act.0 += a.abs();
            act.1 += a * a;
        }
    }
    let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    let ab = |v: &[f64]| v.iter().map(|x| x.abs()).sum::<f64>();
    // The factors are stored as f32 (as tensor-nn's Regularizer holds them).
    let f = |v: f64| f64::from(v as f32);
    let want = f(0.01) * sq(w1)
        + f(0.02) * ab(b1)
        + (f(0.01) * act.0 + f(0.03) * act.1) / 4.0
        + f(0.05) * ab(w2)
        + f(0.02) * sq(w2);
    assert!(
        (m.regularization_loss() - want).abs() < 1e-12,
        "{} vs {want}",
        m.regularization_loss()
    );
    assert!(want > 0.0);
}

dims! { Wide = 400; Wide2 = 300; }

model! {
    /// Initializers on layers large enough for their statistics.
    struct Inits: [Batch, Wide] -> [Batch, Wide2] {
        Dense(Wide2, initializer = HeNormal, bias_initializer = Ones),
        Dense(W3 = 200, kernel_initializer = HeUniform, bias_initializer = Constant(0.5)),
        Dense(Wide2, kernel_initializer = Zeros, use_bias = false)
    }
}

#[test]
fn initializers_follow_keras_formulas() {
    let m = Inits::new(11);
    let p = m.parameters();
    let stats = |v: &[f32]| {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    };
    // He normal: a normal truncated at 2σ' with σ' = sqrt(2 / fan_in) / 0.8796 has standard
    // deviation sqrt(2 / fan_in) = sqrt(2 / 400).
    let (mean, sd) = stats(&p[0].value);
    let want = (2.0f64 / 400.0).sqrt();
    assert!(mean.abs() < 0.01 * want * 10.0, "mean {mean}");
    assert!((sd / want - 1.0).abs() < 0.03, "sd {sd} vs {want}");
    let bound = 2.0 * want / 0.879_625_7 + 1e-6;
    assert!(p[0].value.iter().all(|v| f64::from(v.abs()) <= bound));
    assert!(p[1].value.iter().all(|&v| v == 1.0));
    // He uniform: U(±sqrt(6 / fan_in)), fan_in = 300; standard deviation limit / sqrt(3).
    let limit = (6.0f64 / 300.0).sqrt();
    assert!(p[2].value.iter().all(|v| f64::from(v.abs()) <= limit + 1e-6));
    let (_, sd) = stats(&p[2].value);
    assert!((sd / (limit / 3f64.sqrt()) - 1.0).abs() < 0.03, "sd {sd}");
    assert!(p[3].value.iter().all(|&v| v == 0.5));
    assert!(p[4].value.iter().all(|&v| v == 0.0));
    assert_eq!(p.len(), 5, "the last layer has no bias");
    // The f64 instantiation holds the same values.
    let m64 = Inits::<f64>::init(11);
    assert!(m64.parameters()[0]
        .value
        .iter()
        .zip(&p[0].value)
        .all(|(a, &b)| *a == f64::from(b)));
}

#[test]
fn constraints_apply_after_each_update_in_the_training_loop() {
    use dimflow::tensor_nn::losses::MeanSquaredError;
    use dimflow::tensor_nn::optim::Optimizer;
    use dimflow::tensor_nn::train::Compile;
    use dimflow::tensor_nn::Model;
    let x = Tensor::<(Batch, Pixels)>::from_fn(&[8], |i| ((i[0] * 6 + i[1]) as f32 * 0.37).sin());
    let y = Tensor::<(Batch, Classes)>::from_fn(&[8], |i| if i[1] == i[0] % 3 { 3.0 } else { -3.0 });
    let mut t = Regular::new(3).compile(Optimizer::sgd(0.5), MeanSquaredError::default(), vec![]);
    for _ in 0..5 {
        let loss = t.train_step(&x, &y).unwrap();
        assert!(loss.is_finite());
        let p = t.model.parameters();
        // MaxNorm(0.5) over axis 0: each unit's column of the [5, 3] kernel has norm <= 0.5.
        for c in 0..3 {
            let n = (0..5).map(|r| p[2].value[r * 3 + c].powi(2)).sum::<f32>().sqrt();
            assert!(n <= 0.5 + 1e-5, "column {c} has norm {n}");
        }
        assert!(p[3].value.iter().all(|&b| b >= 0.0), "NonNeg bias");
    }
    // The loss the trainer reports includes the penalty (the trainer reads it after the update,
    // as for every model: weights after the step, activities of this step's forward pass).
    let out = Model::forward(&t.model, &x);
    let mse = out
        .to_vec()
        .iter()
        .zip(y.to_vec())
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f32>()
        / 24.0;
    let loss = t.train_step(&x, &y).unwrap();
    let reg = Model::regularization_loss(&t.model);
    assert!(reg > 0.0);
    assert!(
        (loss - (mse + reg)).abs() < 1e-4 * (1.0 + loss.abs()),
        "{loss} vs {mse} + {reg}"
    );
}

dims! { Code = 2; }

model! {
    /// A model used as a layer by other models.
    pub struct Encoder: [Batch, Pixels] -> [Batch, Code] {
        Dense(Hidden, kernel_regularizer = L2(0.02)), Elu, Dense(Code), Tanh
    }
}

model! {
    /// `Encoder` nested in a sequential model, between two dense layers.
    struct WithEncoder: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Pixels), Relu, Encoder(Code), Dense(Classes)
    }
}

#[test]
fn nested_model_gradients_and_names() {
    let model = WithEncoder::<f64>::init(3);
    let x = input::<(Batch, Pixels)>(4, 3, 6);
    check_with_penalty(
        &model,
        |m| m.forward_train(&x).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[3]).unwrap()),
        |m| m.parameters_mut(),
        |m| m.regularization_loss(),
    );
    let names: Vec<&str> = model.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dense1.kernel",
            "dense1.bias",
            "encoder1.dense1.kernel",
            "encoder1.dense1.bias",
            "encoder1.dense2.kernel",
            "encoder1.dense2.bias",
            "dense2.kernel",
            "dense2.bias"
        ]
    );
}

model! {
    /// The outer layers of `WithEncoder` on their own, to compose by hand.
    struct Front: [Batch, Pixels] -> [Batch, Pixels] {
        Dense(Pixels), Relu
    }
}

model! {
    /// See `Front`.
    struct Back: [Batch, Code] -> [Batch, Classes] {
        Dense(Classes)
    }
}

#[test]
fn nested_model_forward_is_the_composition() {
    let mut m = WithEncoder::<f64>::init(3);
    let (mut f, mut e, mut b) = (
        Front::<f64>::init(1),
        Encoder::<f64>::init(2),
        Back::<f64>::init(4),
    );
    // Give the outer model the parts' values, matched by name.
    for p in m.parameters_mut() {
        let (src, name) = match p.name.strip_prefix("encoder1.") {
            Some(rest) => (e.parameters_mut(), rest.to_string()),
            None if p.name.starts_with("dense1") => (f.parameters_mut(), p.name.clone()),
            None => (b.parameters_mut(), p.name.replace("dense2", "dense1")),
        };
        let q = src.into_iter().find(|q| q.name == name).unwrap();
        p.value = q.value.clone();
    }
    let x = input::<(Batch, Pixels)>(4, 3, 6);
    let want = b.forward(&e.forward(&f.forward(&x))).to_vec();
    assert_eq!(m.forward(&x).to_vec(), want);
    // The nested model's penalty counts in the outer one.
    let _ = m.forward_train(&x);
    let _ = e.forward_train(&f.forward(&x));
    assert_eq!(m.regularization_loss(), e.regularization_loss());
    assert!(m.regularization_loss() > 0.0);
}

model! {
    /// Functional form: a named nested model, parameters `encoder.*`.
    struct TwoViews(a: [Batch, Pixels], b: [Batch, Pixels]) -> (y: [Batch, Classes]) {
        let encoder = Encoder(Code);
        let other = Encoder(Code);
        y = concat(a >> encoder, b >> other) >> Dense(Classes);
    }
}

#[test]
fn named_nested_models_in_the_functional_form() {
    let model = TwoViews::<f64>::init(8);
    let a = input::<(Batch, Pixels)>(1, 3, 6);
    let b = input::<(Batch, Pixels)>(2, 3, 6);
    check_with_penalty(
        &model,
        |m| m.forward_train(&a, &b).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[3]).unwrap()),
        |m| m.parameters_mut(),
        |m| m.regularization_loss(),
    );
    let p = model.parameters();
    assert_eq!(p[0].name, "encoder.dense1.kernel");
    assert_eq!(p[4].name, "other.dense1.kernel");
    // Two separately seeded encoders.
    assert_ne!(p[0].value, p[4].value);
}

/// A hand-written layer: `y = x ⊙ s`, a learned scale per feature (the example of
/// `FusedLayer`'s docs).
#[derive(Debug, Clone)]
pub struct Scale<F> {
    s: Param<F>,
    x: Vec<F>,
}

impl<F: dimflow::tensor_core::Float> dimflow::tensor_nn::fused::FusedLayer<F> for Scale<F> {
    type InFeatures = Hidden;
    type OutFeatures = Hidden;
    fn build(seed: u64) -> Self {
        let v = noise(seed, 5)
            .iter()
            .map(|&v| F::from_f64(1.0 + 0.5 * v))
            .collect();
        Scale {
            s: Param::new("scale".into(), vec![5], v),
            x: Vec::new(),
        }
    }
    fn forward_rows(&self, x: &[F], _rows: usize, out: &mut Vec<F>) {
        out.clear();
        out.extend(
            x.chunks_exact(5)
                .flat_map(|r| r.iter().zip(&self.s.value).map(|(&a, &b)| a * b)),
        );
    }
    fn forward_train_rows(&mut self, x: &[F], rows: usize, out: &mut Vec<F>) {
        self.x.clear();
        self.x.extend_from_slice(x);
        self.forward_rows(x, rows, out);
    }
    fn backward_rows(&mut self, grad: &[F], _rows: usize, grad_in: Option<&mut [F]>) {
        for (g, x) in grad.chunks_exact(5).zip(self.x.chunks_exact(5)) {
            for j in 0..5 {
                self.s.grad[j] = self.s.grad[j] + g[j] * x[j];
            }
        }
        if let Some(gi) = grad_in {
            for (k, d) in gi.iter_mut().enumerate() {
                *d = *d + grad[k] * self.s.value[k % 5];
            }
        }
    }
    fn layer_params(&self) -> Vec<&Param<F>> {
        vec![&self.s]
    }
    fn layer_params_mut(&mut self) -> Vec<&mut Param<F>> {
        vec![&mut self.s]
    }
}

model! {
    /// A user layer between dense layers.
    struct Scaled: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Tanh, Scale(Hidden), Dense(Classes)
    }
}
seq_model_check!(user_layer_gradients, Scaled, (Batch, Pixels), 6);

#[test]
fn user_layer_names_and_forward() {
    let m = Scaled::<f64>::init(1);
    let names: Vec<&str> = m.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[2], "scale1.scale");
    assert_eq!(names.len(), 5);
}

model! {
    /// Softmax over a run-time dim in the middle (each feature normalised over the steps).
    struct OverTime: [Batch, Time, Feat] -> [Batch, Time, Classes] {
        Dense(Hidden), Softmax(Time), Dense(Classes)
    }
}

#[test]
fn softmax_over_a_run_time_middle_dim() {
    let model = OverTime::<f64>::init(3);
    let x: Tensor<(Batch, Time, Feat), f64> = Tensor::from_vec(noise(4, 2 * 3 * 3), &[2, 3]).unwrap();
    check(
        &model,
        |m| m.forward_train(&x).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[2, 3]).unwrap()),
        |m| m.parameters_mut(),
    );
}

model! {
    /// Softmax over a static middle dim after a reshape.
    struct OverRows: [Batch, Pixels] -> [Batch, Rows, Cols] {
        Dense(Pixels), Reshape([Rows, Cols]), Softmax(Rows)
    }
}

#[test]
fn softmax_over_a_static_middle_dim() {
    let model = OverRows::<f64>::init(5);
    let x = input::<(Batch, Pixels)>(6, 3, 6);
    let y = model.forward(&x).to_vec();
    // Every (sample, column) fibre over `Rows` sums to 1; and it is the softmax of the dense
    // output's values at stride `Cols` (z recomputed from the parameters).
    let p = model.parameters();
    let xv = x.to_vec();
    for r in 0..3 {
        let z: Vec<f64> = (0..6)
            .map(|j| p[1].value[j] + (0..6).map(|i| xv[r * 6 + i] * p[0].value[i * 6 + j]).sum::<f64>())
            .collect();
        for c in 0..3 {
            let s: f64 = (0..2).map(|k| z[k * 3 + c].exp()).sum();
            for k in 0..2 {
                let want = z[k * 3 + c].exp() / s;
                assert!((y[r * 6 + k * 3 + c] - want).abs() < 1e-12);
            }
        }
    }
    check(
        &model,
        |m| m.forward_train(&x).to_vec(),
        |m, w| m.backward(&Tensor::from_vec(w.to_vec(), &[3]).unwrap()),
        |m| m.parameters_mut(),
    );
}
