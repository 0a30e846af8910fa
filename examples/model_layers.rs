//! Run: `cargo run --release --example model_layers -- [data/mnist] [train images, default 2000]`
//!
//! The `model!` layers beyond Dense: an `Encoder` declared by one `model!` and used as a layer
//! by another (parameters `encoder1.dense1.kernel`, ...), `Flatten` of 28×28 images into a
//! named dim checked at compile time (`Pixels` = 784 = 28·28), `PReLU` with learned slopes, and
//! Dense options (He-normal init, an L2 kernel penalty, a MaxNorm constraint applied after every
//! update by the trainer). Trains with `compile` / `fit` on the first MNIST images shipped in
//! `data/mnist` and reports the test accuracy.

use std::process::ExitCode;

use dimflow::prelude::*;
use dimflow::tensor_nn::io::idx::{load_idx_dataset, IdxSplit};
use dimflow::tensor_nn::losses::SparseCategoricalCrossentropy;
use dimflow::tensor_nn::metrics::SparseCategoricalAccuracy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::train::{Compile, FitConfig};
use dimflow::tensor_nn::NnError;

dims! { Batch; Rows = 28; Cols = 28; Pixels = 784; Code = 32; Classes = 10; }

model! {
    /// Images to a 32-value code; declared once, usable as a layer.
    pub struct Encoder: [Batch, Pixels] -> [Batch, Code] {
        Dense(Hidden = 128, kernel_initializer = HeNormal, kernel_regularizer = L2(1e-4)), PReLU,
        Dense(Code), Tanh
    }
}

model! {
    /// The classifier: flatten, encode, classify (logits).
    pub struct Classifier: [Batch, Rows, Cols] -> [Batch, Classes] {
        Flatten(Pixels), Encoder(Code), Dense(Classes, kernel_constraint = MaxNorm(3.0))
    }
}

/// A batch of images.
type Images = Tensor<(Batch, Rows, Cols)>;
/// Class indices, one per image.
type Labels = Tensor<(Batch,)>;

/// The first `n` images of a split as `[n, 28, 28]`, with their labels.
fn head(split: &IdxSplit, n: usize) -> Result<(Images, Labels), NnError> {
    let n = n.min(split.len());
    let x = Tensor::from_vec(split.images[..n * split.features].to_vec(), &[n])?;
    let y = Tensor::from_vec(split.labels[..n].to_vec(), &[n])?;
    Ok((x, y))
}

fn run() -> Result<(), NnError> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "data/mnist".to_string());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let (train, test) = load_idx_dataset(&dir)?;
    let (x, y) = head(&train, n)?;
    let (xt, yt) = head(&test, 1000)?;
    let model = Classifier::new(7);
    let names: Vec<&str> = model.parameters().iter().map(|p| p.name.as_str()).collect();
    println!("parameters: {}", names.join(", "));
    let mut trainer = model.compile(
        Optimizer::adam(1e-3),
        SparseCategoricalCrossentropy::from_logits(),
        vec![Box::new(SparseCategoricalAccuracy::default())],
    );
    let config = FitConfig {
        epochs: 5,
        batch_size: 32,
        seed: 7,
        verbose: 1,
        ..FitConfig::default()
    };
    trainer.fit(&x, &y, &config, None, &mut [])?;
    let logs = trainer.evaluate(&xt, &yt, 256)?;
    for (k, v) in &logs {
        println!("test {k}: {v:.4}");
    }
    // The constraint held after every update: each unit's incoming weights have norm <= 3.
    let p = trainer.model.parameters();
    let kernel = p.iter().find(|p| p.name == "dense1.kernel").map(|p| &p.value);
    if let Some(k) = kernel {
        let worst = (0..10)
            .map(|c| (0..32).map(|r| k[r * 10 + c].powi(2)).sum::<f32>().sqrt())
            .fold(0.0f32, f32::max);
        println!("largest column norm of dense1.kernel: {worst:.3} (MaxNorm 3.0)");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
