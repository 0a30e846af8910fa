//! Run with `cargo run --release --example model_mlp`.
//!
//! Declares a small classifier with `model!` and trains it with the fused training step the
//! macro generates (`forward_train` → softmax cross-entropy gradient → `backward` → SGD over
//! `params_mut`), on a synthetic two-spirals data set built in code.

use dimflow::prelude::*;
use dimflow::tensor_nn::Model;

dims! { Batch; Point = 2; Hidden = 32; Classes = 2; }

model! {
    /// Two spirals classifier.
    pub struct Spirals: [Batch, Point] -> [Batch, Classes] {
        Dense(Hidden), Tanh, Dense(H2 = 32), Relu, Dense(Classes), Softmax
    }
}

/// Two interleaved spirals: `n` points per class, labels 0 and 1.
fn spirals(n: usize) -> (Vec<f32>, Vec<usize>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for class in 0..2 {
        for i in 0..n {
            let r = i as f32 / n as f32 * 2.0;
            let t = r * 3.0 + class as f32 * std::f32::consts::PI;
            xs.extend([r * t.cos(), r * t.sin()]);
            ys.push(class);
        }
    }
    (xs, ys)
}

fn main() {
    let (xs, ys) = spirals(128);
    let batch = ys.len();
    let x = Tensor::<(Batch, Point)>::from_vec(xs, &[batch]).expect("shape");
    let mut model = Spirals::new(0);
    let lr = 0.5;
    for epoch in 0..=400 {
        let probs = model.forward_train(&x);
        let p = probs.to_vec();
        // Cross-entropy of softmax outputs: L = -mean(log p[y]); dL/dp = -1/(n p[y]) at y.
        let mut loss = 0.0;
        let mut grad = vec![0.0f32; p.len()];
        for (i, &y) in ys.iter().enumerate() {
            let py = p[i * 2 + y].max(1e-7);
            loss -= py.ln() / batch as f32;
            grad[i * 2 + y] = -1.0 / (batch as f32 * py);
        }
        let g = Tensor::<(Batch, Classes)>::from_vec(grad, &[batch]).expect("shape");
        model.backward(&g);
        for prm in model.params_mut() {
            prm.value.iter_mut().zip(prm.grad).for_each(|(v, g)| *v -= lr * g);
        }
        if epoch % 100 == 0 {
            let pred = model.forward(&x).to_vec();
            let correct = ys
                .iter()
                .enumerate()
                .filter(|(i, &y)| (pred[i * 2 + 1] > pred[i * 2]) == (y == 1))
                .count();
            println!(
                "epoch {epoch:3}: loss {loss:.4}, accuracy {:.1}%",
                100.0 * correct as f32 / batch as f32
            );
        }
    }
}
