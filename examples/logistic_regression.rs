//! Run: `cargo run --release --example logistic_regression -- [--data data/mnist] [--epochs 3]`
//!
//! Logistic regression (one Dense layer and a sigmoid) telling zeros from every other MNIST
//! digit, with binary cross-entropy and the binary metrics: accuracy, precision, recall, AUC.

use std::process::ExitCode;

use dimflow::prelude::*;
use dimflow::tensor_nn::activations::Activation;
use dimflow::tensor_nn::io::idx::{load_idx_dataset, IdxSplit};
use dimflow::tensor_nn::losses::BinaryCrossentropy;
use dimflow::tensor_nn::metrics::{Auc, BinaryAccuracy, Precision, Recall};
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::sequential::Sequential;
use dimflow::tensor_nn::train::{Compile, FitConfig};
use dimflow::tensor_nn::NnError;

dims! { Batch; Pixels = 784; Prob = 1; }

/// Images and their targets.
type Pairs = (Tensor<(Batch, Pixels)>, Tensor<(Batch, Prob)>);

/// Images, and 1.0 where the digit is a zero.
fn zero_vs_rest(split: &IdxSplit) -> Result<Pairs, NnError> {
    let n = split.len();
    let y = split
        .labels
        .iter()
        .map(|&l| if l == 0.0 { 1.0 } else { 0.0 })
        .collect();
    Ok((
        Tensor::from_vec(split.images.clone(), &[n])?,
        Tensor::from_vec(y, &[n])?,
    ))
}

fn run() -> Result<(), NnError> {
    let mut data = String::from("data/mnist");
    let mut epochs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--data", Some(v)) => data = v,
            ("--epochs", Some(v)) => {
                epochs = v.parse().map_err(|_| NnError::InvalidArgument {
                    op: "args",
                    reason: format!("bad --epochs `{v}`"),
                })?
            }
            _ => {
                return Err(NnError::InvalidArgument {
                    op: "args",
                    reason: "usage: logistic_regression [--data DIR] [--epochs N]".into(),
                })
            }
        }
    }
    let (train, test) = load_idx_dataset(&data)?;
    let (x, y) = zero_vs_rest(&train)?;
    let (xt, yt) = zero_vs_rest(&test)?;
    let model = Sequential::builder(784, 1)
        .dense(1, Activation::Sigmoid)
        .build::<(Batch, Pixels), (Batch, Prob)>()?;
    let mut model = model.compile(
        Optimizer::sgd(0.1),
        BinaryCrossentropy::default(),
        vec![
            Box::new(BinaryAccuracy::default()),
            Box::new(Precision::default()),
            Box::new(Recall::default()),
            Box::new(Auc::default()),
        ],
    );
    model.fit(
        &x,
        &y,
        &FitConfig {
            epochs,
            batch_size: 128,
            ..FitConfig::default()
        },
        None,
        &mut [],
    )?;
    let logs = model.evaluate(&xt, &yt, 1024)?;
    for (k, v) in &logs {
        println!("test {k}: {v:.4}");
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
