//! What the training tests share: three 2-D blobs, a small classifier over them, and a
//! bit-exact view of its weights.
// Each test crate uses only some of these.
#![allow(dead_code)]

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::losses::SparseCategoricalCrossentropy;
use tensor_nn::metrics::SparseCategoricalAccuracy;
use tensor_nn::optim::Optimizer;
use tensor_nn::sequential::Sequential;
use tensor_nn::train::{Compile, FitConfig, ModelParams, Trainer};

tensor_macros::dims! { crate = ::tensor_core; pub Batch; pub Feat = 2; pub Classes = 3; }

/// The classifier of these tests: 2 features in, 3 logits out.
pub type Net = Sequential<(Batch, Feat), (Batch, Classes)>;
/// A batch of points.
pub type X = Tensor<(Batch, Feat)>;
/// One class index per point.
pub type Y = Tensor<(Batch,)>;

/// `n` points of three blobs around (0, 2), (2, −1), (−2, −1), laid out deterministically:
/// point `i` is in blob `i % 3`, off its centre by `spread·(sin t, cos 1.3t)` with
/// `t = 0.7i + phase`.
pub fn blobs(n: usize, spread: f32, phase: f32) -> (X, Y) {
    let centres = [(0.0f32, 2.0f32), (2.0, -1.0), (-2.0, -1.0)];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = i % 3;
        let t = i as f32 * 0.7 + phase;
        x.push(centres[c].0 + spread * t.sin());
        x.push(centres[c].1 + spread * (1.3 * t).cos());
        y.push(c as f32);
    }
    (
        Tensor::from_vec(x, &[n]).unwrap(),
        Tensor::from_vec(y, &[n]).unwrap(),
    )
}

/// 2 → `hidden` (`activation`) → 3 logits, sparse categorical cross-entropy and accuracy.
pub fn classifier(seed: u64, hidden: usize, activation: Activation, optimizer: Optimizer) -> Trainer<Net> {
    Sequential::builder(2, seed)
        .dense(hidden, activation)
        .dense(3, Activation::Linear)
        .build::<(Batch, Feat), (Batch, Classes)>()
        .unwrap()
        .compile(
            optimizer,
            SparseCategoricalCrossentropy::from_logits(),
            vec![Box::new(SparseCategoricalAccuracy::default())],
        )
}

/// 2 → 16 ReLU → dropout 0.3 → 3 logits, Adam(0.01): weights, optimizer slots and a dropout
/// stream (its position the non-trainable `dropout1.seed_generator_state`).
pub fn dropout_classifier(seed: u64) -> Trainer<Net> {
    Sequential::builder(2, seed)
        .dense(16, Activation::Relu)
        .dropout(0.3)
        .dense(3, Activation::Linear)
        .build::<(Batch, Feat), (Batch, Classes)>()
        .unwrap()
        .compile(
            Optimizer::adam(0.01),
            SparseCategoricalCrossentropy::from_logits(),
            vec![],
        )
}

/// `epochs` epochs in batches of 16, silent, Keras' other defaults.
pub fn quiet(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 16,
        verbose: 0,
        ..FitConfig::default()
    }
}

/// Every weight's bits, parameter after parameter: equal only for bit-identical models.
pub fn weight_bits(t: &Trainer<Net>) -> Vec<u32> {
    t.model
        .param_refs()
        .iter()
        .flat_map(|p| p.value.iter().map(|v| v.to_bits()))
        .collect()
}
