//! Run: `cargo run --release --example mnist -- [--data data/mnist] [--epochs 5] [--batch-size 128] [--threads 1] [--out runs/mnist]`
//!
//! The default model is declared with `model!` (fused training step); `--sequential` uses the
//! run-time `Sequential` builder instead, and `--hidden 1024,1024` (which implies it) changes
//! the hidden layers. `--sgd` uses SGD (learning rate 0.01) instead of Adam.
//!
//! Trains a 784-128-10 MLP with Adam on MNIST (or any dataset in the same IDX layout under
//! `--data`), showing a Keras-like progress bar, then prints the test accuracy and writes
//! TensorBoard logs, a CSV log, a checkpoint and the final weights under `--out`.
//!
//! `--distributed` trains data-parallel on the processes of an MPI job (build with
//! `--features mpi`; see docs/distributed.md):
//! `cargo build --release --features mpi --example mnist && mpirun -np 2 target/release/examples/mnist --distributed`.
//! `--batch-size` is then the global batch, split evenly between the workers; only rank 0
//! prints and writes files.

use std::path::PathBuf;
use std::process::ExitCode;

use dimflow::prelude::*;
use dimflow::tensor_nn::activations::Activation;
use dimflow::tensor_nn::data::Rows;
use dimflow::tensor_nn::distributed::Strategy;
use dimflow::tensor_nn::io::idx::{load_idx_dataset, IdxSplit};
use dimflow::tensor_nn::io::safetensors::save_weights;
use dimflow::tensor_nn::losses::SparseCategoricalCrossentropy;
use dimflow::tensor_nn::metrics::SparseCategoricalAccuracy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::sequential::Sequential;
use dimflow::tensor_nn::train::callbacks::{CsvLogger, ModelCheckpoint};
use dimflow::tensor_nn::train::tensorboard::TensorBoard;
use dimflow::tensor_nn::train::{Callback, Compile, FitConfig};
use dimflow::tensor_nn::{Model, NnError};

dims! { Batch; Pixels = 784; Classes = 10; }

/// A batch of images.
type Images = Tensor<(Batch, Pixels)>;
/// Class indices, one per image.
type Labels = Tensor<(Batch,)>;

model! {
    /// The default classifier, 784-128-10: `model!` checks its shapes while compiling and
    /// generates its forward pass and a fused training step (no tape).
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden = 128), Relu, Dense(Classes)
    }
}

/// The run-time alternative (`--sequential` or `--hidden`): the same kind of MLP built at run
/// time. `hidden` lists the widths of the ReLU layers.
fn build_model(
    seed: u64,
    hidden: &[usize],
) -> Result<impl Model<Input = Images, Output = Tensor<(Batch, Classes)>>, NnError> {
    hidden
        .iter()
        .fold(Sequential::builder(784, seed), |b, &units| {
            b.dense(units, Activation::Relu)
        })
        .dense(10, Activation::Linear)
        .build::<(Batch, Pixels), (Batch, Classes)>()
}

struct Args {
    data: PathBuf,
    epochs: usize,
    batch_size: usize,
    threads: Option<usize>,
    out: PathBuf,
    seed: u64,
    hidden: Vec<usize>,
    sequential: bool,
    sgd: bool,
    distributed: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        data: "data/mnist".into(),
        epochs: 5,
        batch_size: 128,
        threads: None,
        out: "runs/mnist".into(),
        seed: 42,
        hidden: vec![128],
        sequential: false,
        sgd: false,
        distributed: false,
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
            "--epochs" => a.epochs = num(value()?)?,
            "--batch-size" => a.batch_size = num(value()?)?.max(1),
            "--threads" => a.threads = Some(num(value()?)?.max(1)),
            "--out" => a.out = value()?.into(),
            "--seed" => a.seed = num(value()?)? as u64,
            "--hidden" => {
                a.hidden = value()?.split(',').map(|w| num(w.trim().to_string())).collect::<Result<_, _>>()?;
                a.sequential = true;
            }
            "--sgd" => a.sgd = true,
            "--sequential" => a.sequential = true,
            "--distributed" => a.distributed = true,
            "-h" | "--help" => {
                return Err("usage: mnist [--data DIR] [--epochs N] [--batch-size N] [--threads N] [--out DIR] [--seed N] [--hidden 128[,W...]] [--sequential] [--sgd] [--distributed]".into())
            }
            other => return Err(format!("unknown option `{other}` (try --help)")),
        }
    }
    Ok(a)
}

fn tensors(split: &IdxSplit) -> Result<(Images, Labels), NnError> {
    let n = split.len();
    let x = Tensor::from_vec(split.images.clone(), &[n])?;
    let y = Tensor::from_vec(split.labels.clone(), &[n])?;
    Ok((x, y))
}

/// Median time of one inference forward pass over the first `batch` test samples.
fn predict_latency_us<M: Model<Input = Images>>(model: &M, x: &Images, batch: usize) -> Result<f64, NnError> {
    let xb = x.gather_rows(&(0..batch).collect::<Vec<_>>())?;
    let mut times: Vec<f64> = (0..if batch == 1 { 2000 } else { 300 })
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(model.forward(&xb));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The MPI strategy for `--distributed` (the `mpi` feature), else `None`.
#[cfg(feature = "mpi")]
fn strategy(args: &Args) -> Result<Option<Box<dyn Strategy>>, String> {
    use dimflow::tensor_nn::distributed::MpiStrategy;
    if !args.distributed {
        return Ok(None);
    }
    let s = MpiStrategy::init().map_err(|e| e.to_string())?;
    if !args.batch_size.is_multiple_of(s.world_size()) {
        return Err(format!(
            "--batch-size {} does not split evenly between {} workers",
            args.batch_size,
            s.world_size()
        ));
    }
    Ok(Some(Box::new(s)))
}

/// Without the `mpi` feature, `--distributed` is an error that says how to build.
#[cfg(not(feature = "mpi"))]
fn strategy(args: &Args) -> Result<Option<Box<dyn Strategy>>, String> {
    if args.distributed {
        return Err("--distributed needs MPI support: build with `cargo build --release --features mpi \
                    --example mnist` and launch with `mpirun -np 2 target/release/examples/mnist --distributed` \
                    (see docs/distributed.md)"
            .into());
    }
    Ok(None)
}

fn run(args: Args, strategy: Option<Box<dyn Strategy>>) -> Result<(), NnError> {
    if let Some(t) = args.threads {
        dimflow::tensor_core::kernels::set_num_threads(t);
    }
    let chief = strategy.as_ref().is_none_or(|s| s.is_chief());
    // Only the chief prints.
    let say = |line: String| {
        if chief {
            println!("{line}");
        }
    };
    let (train, test) = load_idx_dataset(&args.data)?;
    if let Some(s) = &strategy {
        say(format!(
            "distributed: {} workers, {} samples per worker per step",
            s.world_size(),
            args.batch_size / s.world_size()
        ));
    }
    say(format!(
        "{}: {} training and {} test samples of {} features",
        args.data.display(),
        train.len(),
        test.len(),
        train.features
    ));
    let data = (tensors(&train)?, tensors(&test)?);
    if args.sequential {
        say(format!(
            "model: run-time Sequential 784-{}-10",
            args.hidden
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join("-")
        ));
        let model = build_model(args.seed, &args.hidden)?;
        train_and_report(model, &args, train.len(), data, strategy)
    } else {
        say("model: model! Mlp 784-128-10 (fused training step)".into());
        train_and_report(Mlp::new(args.seed), &args, train.len(), data, strategy)
    }
}

/// Compiles, fits, evaluates and saves any model with MNIST's input and output.
fn train_and_report<M: Model<Input = Images, Output = Tensor<(Batch, Classes)>>>(
    model: M,
    args: &Args,
    train_len: usize,
    ((x_train, y_train), (x_test, y_test)): ((Images, Labels), (Images, Labels)),
    strategy: Option<Box<dyn Strategy>>,
) -> Result<(), NnError> {
    let (chief, workers) = strategy
        .as_ref()
        .map_or((true, 1), |s| (s.is_chief(), s.world_size()));
    let optimizer = if args.sgd {
        Optimizer::sgd(0.01)
    } else {
        Optimizer::adam(0.001)
    };
    let mut model = model.compile(
        optimizer,
        SparseCategoricalCrossentropy::from_logits(),
        vec![Box::new(SparseCategoricalAccuracy::default())],
    );
    if let Some(s) = strategy {
        model = model.with_strategy(s);
    }
    let mut tensorboard = TensorBoard::new(args.out.join("tensorboard"));
    let mut checkpoint = ModelCheckpoint::new(
        args.out
            .join("checkpoint.safetensors")
            .to_string_lossy()
            .into_owned(),
    );
    let mut csv = CsvLogger::new(args.out.join("training.csv"), false);
    let config = FitConfig {
        epochs: args.epochs,
        // Per worker: each step of `fit` takes `batch_size × workers` samples.
        batch_size: args.batch_size / workers,
        seed: args.seed,
        ..FitConfig::default()
    };
    let started = std::time::Instant::now();
    // Only the chief writes TensorBoard logs, checkpoints and the CSV log.
    let callbacks: &mut [&mut dyn Callback] = if chief {
        &mut [&mut tensorboard, &mut checkpoint, &mut csv]
    } else {
        &mut []
    };
    model.fit(&x_train, &y_train, &config, Some((&x_test, &y_test)), callbacks)?;
    let secs = started.elapsed().as_secs_f64();
    // Under a strategy `evaluate` is collective: every worker calls it.
    let logs = model.evaluate(&x_test, &y_test, 1024)?;
    if !chief {
        return Ok(());
    }
    println!(
        "trained {} samples/s ({secs:.1} s)",
        ((train_len * args.epochs) as f64 / secs).round()
    );
    if let Some(s) = model.strategy() {
        let comm = s.communication_time().as_secs_f64();
        println!(
            "gradient all-reduce: {comm:.2} s of {secs:.1} s ({:.1}% of training time)",
            100.0 * comm / secs
        );
    }

    println!("test loss: {:.4}", logs["loss"]);
    println!("test accuracy: {:.4}", logs["sparse_categorical_accuracy"]);
    let (b1, b128) = (
        predict_latency_us(&model.model, &x_test, 1)?,
        predict_latency_us(&model.model, &x_test, 128)?,
    );
    println!("predict latency: batch 1: {b1:.1} us, batch 128: {b128:.1} us");
    let weights = args.out.join("weights.safetensors");
    save_weights(&weights, &model.model.params())?;
    println!(
        "TensorBoard logs: {}  (tensorboard --logdir {})",
        args.out.join("tensorboard").display(),
        args.out.join("tensorboard").display()
    );
    println!(
        "checkpoint: {}  weights: {}",
        args.out.join("checkpoint.safetensors").display(),
        weights.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let strategy = match strategy(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args, strategy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
