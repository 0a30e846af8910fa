//! "The generated gradients equal the tape's" (issue 4): for a sequential `model!` MLP and a
//! functional one (two inputs, a shared layer, an add and a concat merge), the same computation
//! is rebuilt with the gradient tape — `Variable`s initialised from the model's parameters,
//! forward with tensor-core ops (`matmul`, `+` broadcasting the bias, `relu`/`tanh`/`sigmoid`,
//! `concat`), a loss on the tape — and the fused `backward` fed with the tape's `∂L/∂y` must give
//! the tape's parameter gradients.
//!
//! The models are instantiated in f64 (`Model::<f64>::init`), so both sides are exact up to
//! summation order; the assertion is 1e-9 relative (the issue asks for 1e-5). The f32
//! instantiation is checked through the `tensor_nn::Model` trait (`params_mut` grads) at 1e-4.
//! The tape's `∂L/∂y` itself is checked against the hand-derived loss gradient, so the fused
//! backward is fed an independently known upstream gradient.

use dimflow::prelude::*;
use dimflow::tensor_core::autodiff::{GradientTape, Variable};
use dimflow::tensor_nn::fused::Param;

dims! { Batch; Pixels = 7; Classes = 3; Both = 10; }

/// Deterministic inputs in [-1, 1), independent of the crates under test.
use test_support::uniform as noise;

fn input<S: Shape>(seed: u64, batch: usize, feats: usize) -> Tensor<S, f64> {
    Tensor::from_vec(noise(seed, batch * feats), &[batch]).unwrap()
}

/// Moves biases away from zero (the initial biases are 0), so the bias broadcast and its
/// gradient carry information.
fn randomise_biases(params: Vec<&mut Param<f64>>) {
    for (i, p) in params.into_iter().enumerate() {
        if p.name.ends_with(".bias") {
            p.value = noise(500 + i as u64, p.value.len())
                .iter()
                .map(|v| 0.3 * v)
                .collect();
        }
    }
}

/// A variable holding parameter `name`'s values, shaped `S` (kernels are `[in, out]`
/// row-major on both sides).
fn var<S: Shape>(params: &[&Param<f64>], name: &str) -> Variable<S, f64> {
    let p = params
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no parameter `{name}`"));
    let t = Tensor::<S, f64>::from_vec_dims(p.value.clone(), &p.shape).unwrap();
    Variable::new(name, t)
}

/// Asserts `fused` equals `tape` elementwise to `rel` relative (floored at 1), and that the
/// gradient is not trivially zero. Returns the largest absolute difference.
fn assert_close(name: &str, fused: &[f64], tape: &[f64], rel: f64) -> f64 {
    assert_eq!(fused.len(), tape.len(), "{name}: lengths");
    assert!(
        tape.iter().any(|&g| g != 0.0),
        "{name}: tape gradient is all zero"
    );
    let mut worst = 0.0f64;
    for (j, (&f, &t)) in fused.iter().zip(tape).enumerate() {
        let d = (f - t).abs();
        assert!(d <= rel * t.abs().max(1.0), "{name}[{j}]: fused {f} vs tape {t}");
        worst = worst.max(d);
    }
    worst
}

model! {
    /// Dense + ReLU, Dense + Tanh, Dense + Sigmoid, Dense (all with bias).
    struct Seq: [Batch, Pixels] -> [Batch, Classes] {
        Dense(H1 = 6), Relu, Dense(H2 = 5), Tanh, Dense(H3 = 4), Sigmoid, Dense(Classes)
    }
}

/// Softmax cross-entropy, mean over the batch, of logits `y` (row-major `[rows, classes]`)
/// and its gradient `(softmax(y) - onehot) / rows`, by hand.
fn xent_grad(y: &[f64], labels: &[i64], classes: usize) -> Vec<f64> {
    let rows = labels.len();
    let mut g = vec![0.0; y.len()];
    for r in 0..rows {
        let row = &y[r * classes..(r + 1) * classes];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
        for c in 0..classes {
            let p = (row[c] - m).exp() / z;
            let t = if labels[r] as usize == c { 1.0 } else { 0.0 };
            g[r * classes + c] = (p - t) / rows as f64;
        }
    }
    g
}

/// The tape's gradients of the softmax cross-entropy of `Seq` at `x`, in the model's parameter
/// order, and the tape's `∂L/∂logits`.
fn seq_tape(
    params: &[&Param<f64>],
    x: &Tensor<(Batch, Pixels), f64>,
    labels: &[i64],
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let w1 = var::<(Pixels, H1)>(params, "dense1.kernel");
    let b1 = var::<(H1,)>(params, "dense1.bias");
    let w2 = var::<(H1, H2)>(params, "dense2.kernel");
    let b2 = var::<(H2,)>(params, "dense2.bias");
    let w3 = var::<(H2, H3)>(params, "dense3.kernel");
    let b3 = var::<(H3,)>(params, "dense3.bias");
    let w4 = var::<(H3, Classes)>(params, "dense4.kernel");
    let b4 = var::<(Classes,)>(params, "dense4.bias");
    let ids = Tensor::<(Batch,), i64>::from_vec(labels.to_vec(), &[labels.len()]).unwrap();

    let tape = GradientTape::new();
    let h1 = (x.matmul(&w1.read()) + b1.read()).relu();
    let h2 = (h1.matmul(&w2.read()) + b2.read()).tanh();
    let h3 = (h2.matmul(&w3.read()) + b3.read()).sigmoid();
    let logits = tape.watch(&(h3.matmul(&w4.read()) + b4.read()));
    let loss = logits
        .log_softmax::<Classes, _>()
        .gather::<Classes, _, i64>(&ids)
        .mean_to_scalar()
        .neg();
    let g = tape.gradient(&loss).unwrap();
    let grads = vec![
        g.wrt(&w1).unwrap().to_vec(),
        g.wrt(&b1).unwrap().to_vec(),
        g.wrt(&w2).unwrap().to_vec(),
        g.wrt(&b2).unwrap().to_vec(),
        g.wrt(&w3).unwrap().to_vec(),
        g.wrt(&b3).unwrap().to_vec(),
        g.wrt(&w4).unwrap().to_vec(),
        g.wrt(&b4).unwrap().to_vec(),
    ];
    (grads, g.wrt(&logits).unwrap().to_vec())
}

fn labels(batch: usize) -> Vec<i64> {
    (0..batch).map(|i| (i * 5 % 3) as i64).collect()
}

#[test]
fn sequential_mlp_fused_gradients_equal_the_tape() {
    for (seed, batch) in [(1u64, 1usize), (2, 5), (3, 16)] {
        let mut model = Seq::<f64>::init(seed);
        randomise_biases(model.parameters_mut());
        let x = input::<(Batch, Pixels)>(10 + seed, batch, 7);
        let labels = labels(batch);

        let (tape_grads, dlogits) = {
            let params: Vec<&Param<f64>> = model.parameters().into_iter().collect();
            seq_tape(&params, &x, &labels)
        };

        // Fused: forward_train, then backward with ∂L/∂y. The tape's ∂L/∂y must be the
        // hand-derived softmax cross-entropy gradient at the fused forward's output.
        let y = model.forward_train(&x);
        assert_close("dL/dlogits", &dlogits, &xent_grad(&y.to_vec(), &labels, 3), 1e-12);
        model.backward(&Tensor::from_vec_dims(dlogits.clone(), y.dims()).unwrap());

        let names: Vec<String> = model.parameters().iter().map(|p| p.name.clone()).collect();
        assert_eq!(
            names,
            [
                "dense1.kernel",
                "dense1.bias",
                "dense2.kernel",
                "dense2.bias",
                "dense3.kernel",
                "dense3.bias",
                "dense4.kernel",
                "dense4.bias"
            ]
        );
        for (p, t) in model.parameters().iter().zip(&tape_grads) {
            assert_close(&format!("batch {batch}: {}", p.name), &p.grad, t, 1e-9);
        }
    }
}

/// The f32 model that `fit` trains, through the `tensor_nn::Model` trait (`params_mut`
/// grads), against the f64 tape on the same (f32-representable) weights and input.
#[test]
fn sequential_mlp_f32_model_trait_gradients_equal_the_tape() {
    use dimflow::tensor_nn::Model;
    let batch = 8;
    let mut m32 = Seq::new(4);
    let mut m64 = Seq::<f64>::init(4);
    randomise_biases(m64.parameters_mut());
    // Make the f64 values exactly the f32 ones.
    for (p64, p32) in m64.parameters_mut().into_iter().zip(Model::params_mut(&mut m32)) {
        for (a, b) in p64.value.iter_mut().zip(p32.value.iter_mut()) {
            *b = *a as f32;
            *a = f64::from(*b);
        }
    }
    let x64 = input::<(Batch, Pixels)>(21, batch, 7).map(|v| f64::from(v as f32));
    let x32: Tensor<(Batch, Pixels)> = x64.map(|v| v as f32);
    let labels = labels(batch);
    let (tape_grads, dlogits) = {
        let params: Vec<&Param<f64>> = m64.parameters().into_iter().collect();
        seq_tape(&params, &x64, &labels)
    };
    let y = Model::forward_train(&mut m32, &x32);
    let up: Vec<f32> = dlogits.iter().map(|&v| v as f32).collect();
    Model::backward(&mut m32, &Tensor::from_vec_dims(up, y.dims()).unwrap());
    let params = Model::params_mut(&mut m32);
    assert_eq!(params.len(), tape_grads.len());
    for (p, t) in params.iter().zip(&tape_grads) {
        let g: Vec<f64> = p.grad.iter().map(|&v| f64::from(v)).collect();
        assert_close(p.name, &g, t, 1e-4);
    }
}

model! {
    /// Two inputs, one dense layer shared by both (its gradient accumulates both uses), an
    /// add merge, a concat merge (which also fans `hb` out), a sigmoid head.
    struct Func(a: [Batch, Pixels], b: [Batch, Pixels]) -> (out: [Batch, Classes]) {
        let tower = Dense(T = 5);
        let ha = a >> tower >> Relu;
        let hb = b >> tower >> Tanh;
        let s = add(ha, hb);
        let both = concat(s, hb);
        out = both >> Dense(Classes) >> Sigmoid;
    }
}

#[test]
fn functional_shared_add_concat_fused_gradients_equal_the_tape() {
    for (seed, batch) in [(1u64, 1usize), (2, 6), (3, 13)] {
        let mut model = Func::<f64>::init(seed);
        randomise_biases(model.parameters_mut());
        let a = input::<(Batch, Pixels)>(30 + seed, batch, 7);
        let b = input::<(Batch, Pixels)>(40 + seed, batch, 7);
        let target = input::<(Batch, Classes)>(50 + seed, batch, 3);

        let names: Vec<String> = model.parameters().iter().map(|p| p.name.clone()).collect();
        assert_eq!(
            names,
            ["tower.kernel", "tower.bias", "dense1.kernel", "dense1.bias"]
        );

        // Tape: L = ½ Σ (y − target)², so ∂L/∂y = y − target.
        let (tape_grads, dy) = {
            let params: Vec<&Param<f64>> = model.parameters().into_iter().collect();
            let wt = var::<(Pixels, T)>(&params, "tower.kernel");
            let bt = var::<(T,)>(&params, "tower.bias");
            let wo = var::<(Both, Classes)>(&params, "dense1.kernel");
            let bo = var::<(Classes,)>(&params, "dense1.bias");
            let tape = GradientTape::new();
            let ha = (a.matmul(&wt.read()) + bt.read()).relu();
            let hb = (b.matmul(&wt.read()) + bt.read()).tanh();
            let s = ha + hb.clone();
            let both = s.concat(T, &hb, T, Both);
            let y = tape.watch(&(both.matmul(&wo.read()) + bo.read()).sigmoid());
            let loss = (y.clone() - target.clone())
                .square()
                .sum_to_scalar()
                .mul_scalar(0.5);
            let g = tape.gradient(&loss).unwrap();
            let grads = vec![
                g.wrt(&wt).unwrap().to_vec(),
                g.wrt(&bt).unwrap().to_vec(),
                g.wrt(&wo).unwrap().to_vec(),
                g.wrt(&bo).unwrap().to_vec(),
            ];
            (grads, g.wrt(&y).unwrap().to_vec())
        };

        let y = model.forward_train(&a, &b);
        let want: Vec<f64> = y
            .to_vec()
            .iter()
            .zip(target.to_vec())
            .map(|(y, t)| y - t)
            .collect();
        assert_close("dL/dy", &dy, &want, 1e-12);
        model.backward(&Tensor::from_vec(dy, &[batch]).unwrap());
        for (p, t) in model.parameters().iter().zip(&tape_grads) {
            assert_close(&format!("batch {batch}: {}", p.name), &p.grad, t, 1e-9);
        }
    }
}
