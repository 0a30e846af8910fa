//! Run: `cargo run --release --example regularization -- [--data data/mnist] [--train 1000] [--val 2000] [--epochs 30] [--seed 42]`
//!
//! An over-fitting set-up and five ways of training it: a wide 784-256-256-10 ReLU MLP on only
//! the first `--train` MNIST training images (default 1,000), validated on `--val` test images,
//! Adam(1e-3), batch 32, `--epochs` epochs, trained
//!
//! 1. without regularization,
//! 2. with an L1 kernel penalty (1e-4 · Σ|w|) on every Dense layer,
//! 3. with an L2 kernel penalty (1e-3 · Σw²) on every Dense layer,
//! 4. with dropout 0.5 after each hidden layer,
//! 5. with early stopping (val_loss, patience 3, best weights restored),
//!
//! all from the same initial weights (same seed). It prints each run's train and validation
//! curves per epoch (Keras' `loss`/`val_loss` include the penalty of L1/L2, as in Keras), then a
//! summary with the final plain cross-entropy (no penalty) and accuracy on both sets.

use std::path::PathBuf;
use std::process::ExitCode;

use dimflow::prelude::*;
use dimflow::tensor_nn::activations::Activation;
use dimflow::tensor_nn::data::Rows;
use dimflow::tensor_nn::io::idx::{load_idx_dataset, IdxSplit};
use dimflow::tensor_nn::losses::{Loss, SparseCategoricalCrossentropy};
use dimflow::tensor_nn::metrics::SparseCategoricalAccuracy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::regularizers::Regularizer;
use dimflow::tensor_nn::sequential::Sequential;
use dimflow::tensor_nn::train::callbacks::{Callback, EarlyStopping};
use dimflow::tensor_nn::train::{Compile, FitConfig, History};
use dimflow::tensor_nn::NnError;

dims! { Batch; Pixels = 784; Classes = 10; }

/// A batch of images.
type Images = Tensor<(Batch, Pixels)>;
/// Class indices, one per image.
type Labels = Tensor<(Batch,)>;
/// The network.
type Net = Sequential<(Batch, Pixels), (Batch, Classes)>;

/// The five set-ups.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    None,
    L1,
    L2,
    Dropout,
    EarlyStopping,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::L1 => "L1 1e-4",
            Variant::L2 => "L2 1e-3",
            Variant::Dropout => "dropout 0.5",
            Variant::EarlyStopping => "early stopping",
        }
    }

    fn build(self, seed: u64) -> Result<Net, NnError> {
        let reg = match self {
            Variant::L1 => Some(Regularizer::l1(1e-4)),
            Variant::L2 => Some(Regularizer::l2(1e-3)),
            _ => None,
        };
        let mut b = Sequential::builder(784, seed);
        for _ in 0..2 {
            b = b.dense_regularized(256, Activation::Relu, reg);
            if self == Variant::Dropout {
                b = b.dropout(0.5);
            }
        }
        b.dense_regularized(10, Activation::Linear, reg)
            .build::<(Batch, Pixels), (Batch, Classes)>()
    }
}

struct Args {
    data: PathBuf,
    train: usize,
    val: usize,
    epochs: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        data: "data/mnist".into(),
        train: 1000,
        val: 2000,
        epochs: 30,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
        };
        match flag.as_str() {
            "--data" => a.data = value()?.into(),
            "--train" => a.train = num(value()?)?.max(1),
            "--val" => a.val = num(value()?)?.max(1),
            "--epochs" => a.epochs = num(value()?)?.max(1),
            "--seed" => a.seed = num(value()?)? as u64,
            "-h" | "--help" => {
                return Err(
                    "usage: regularization [--data DIR] [--train N] [--val N] [--epochs N] [--seed N]".into(),
                )
            }
            other => return Err(format!("unknown option `{other}` (try --help)")),
        }
    }
    Ok(a)
}

/// The first `n` samples of a split as tensors.
fn head(split: &IdxSplit, n: usize) -> Result<(Images, Labels), NnError> {
    let n = n.min(split.len());
    let x = Tensor::from_vec(split.images[..n * split.features].to_vec(), &[n])?;
    let y = Tensor::from_vec(split.labels[..n].to_vec(), &[n])?;
    Ok((x, y))
}

/// Plain cross-entropy (no penalty) and accuracy of `model` on `(x, y)`.
fn score(model: &Net, x: &Images, y: &Labels) -> Result<(f32, f32), NnError> {
    let logits = dimflow::tensor_nn::train::predict(model, x, 1024)?;
    let n = x.num_rows();
    let (p, t) = (logits.values(), y.values());
    let ce = SparseCategoricalCrossentropy::from_logits()
        .compute(&p, &t, n, None)?
        .value;
    let correct = p
        .chunks(10)
        .zip(t.iter())
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            best as f32 == label
        })
        .count();
    Ok((ce, correct as f32 / n as f32))
}

struct Outcome {
    variant: Variant,
    history: History,
    train: (f32, f32),
    val: (f32, f32),
    secs: f64,
}

fn run_variant(v: Variant, args: &Args, data: &(Images, Labels, Images, Labels)) -> Result<Outcome, NnError> {
    let (x, y, xv, yv) = data;
    let mut trainer = v.build(args.seed)?.compile(
        Optimizer::adam(1e-3),
        SparseCategoricalCrossentropy::from_logits(),
        vec![Box::new(SparseCategoricalAccuracy::default())],
    );
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: 32,
        seed: args.seed,
        verbose: 0,
        ..FitConfig::default()
    };
    let mut stop = EarlyStopping::new("val_loss", 3);
    stop.restore_best_weights = true;
    let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
    if v == Variant::EarlyStopping {
        callbacks.push(&mut stop);
    }
    let started = std::time::Instant::now();
    let history = trainer.fit(x, y, &config, Some((xv, yv)), &mut callbacks)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "\n== {} ({} epochs, {secs:.1} s) ==",
        v.name(),
        history.epochs.len()
    );
    println!("epoch   loss    acc  val_loss val_acc");
    let h = &history.history;
    for (i, e) in history.epochs.iter().enumerate() {
        println!(
            "{:>5} {:>7.4} {:>6.4} {:>8.4} {:>7.4}",
            e + 1,
            h["loss"][i],
            h["sparse_categorical_accuracy"][i],
            h["val_loss"][i],
            h["val_sparse_categorical_accuracy"][i]
        );
    }
    if let (Some(best), true) = (stop.best_epoch, v == Variant::EarlyStopping) {
        println!(
            "stopped after epoch {}; weights of epoch {} restored",
            history.epochs.len(),
            best + 1
        );
    }
    Ok(Outcome {
        variant: v,
        train: score(&trainer.model, x, y)?,
        val: score(&trainer.model, xv, yv)?,
        history,
        secs,
    })
}

fn run(args: Args) -> Result<(), NnError> {
    let (train, test) = load_idx_dataset(&args.data)?;
    let (x, y) = head(&train, args.train)?;
    let (xv, yv) = head(&test, args.val)?;
    println!(
        "784-256-256-10 ReLU MLP, Adam(1e-3), batch 32, {} epochs, on {} training images; validation: {} test images",
        args.epochs,
        x.num_rows(),
        xv.num_rows()
    );
    let data = (x, y, xv, yv);
    let started = std::time::Instant::now();
    let outcomes = [
        Variant::None,
        Variant::L1,
        Variant::L2,
        Variant::Dropout,
        Variant::EarlyStopping,
    ]
    .into_iter()
    .map(|v| run_variant(v, &args, &data))
    .collect::<Result<Vec<_>, _>>()?;

    println!("\nSummary (final weights; cross-entropy without the penalty):");
    println!(
        "{:<15} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>14} {:>6}",
        "regularization",
        "epochs",
        "train CE",
        "train acc",
        "val CE",
        "val acc",
        "CE gap",
        "best val_loss",
        "time"
    );
    for o in &outcomes {
        let vl = &o.history.history["val_loss"];
        let (best_i, best) = vl
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map_or((0, f32::NAN), |(i, v)| (i, *v));
        println!(
            "{:<15} {:>6} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>8.4} {:>8.4} (ep {:>2}) {:>5.1}s",
            o.variant.name(),
            o.history.epochs.len(),
            o.train.0,
            o.train.1,
            o.val.0,
            o.val.1,
            o.val.0 - o.train.0,
            best,
            best_i + 1,
            o.secs
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
