//! Run: `cargo run --release --example mnist_cnn -- [--data data/mnist] [--epochs 15] [--batch-size 128] [--steps N] [--threads N] [--seed 42] [--sequential]`
//!
//! Keras' classic small CNN for MNIST, declared with `model!` (shapes checked at compile time,
//! fused forward/backward step; `--sequential` builds the same network with the run-time
//! `Sequential` builder instead) over NHWC images: Conv2D(32, 3×3, relu) → MaxPooling2D(2) → Conv2D(64, 3×3, relu) → MaxPooling2D(2)
//! → Flatten → Dropout(0.5) → Dense(10) (softmax folded into the cross-entropy), trained with
//! Adam at batch 128. Prints the training time of each epoch, the test accuracy and the
//! prediction latency. `bench/cnn_side_by_side.py` trains the same model with Keras.
//! `--layer-times` instead times the forward and backward passes of the two convolutions and
//! the two poolings at batch 128 (median of several runs, wall and calling-thread CPU time) and
//! exits; `--steps N` trains on only the first `N` batches of each epoch (for quick timings);
//! `--predict-only` skips training and times the untrained model's predictions (`--runs N`
//! single-image calls, for profiling, then batches of `--batch-size` unless it is 1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use dimflow::prelude::*;
use dimflow::tensor_nn::activations::Activation;
use dimflow::tensor_nn::data::Rows;
use dimflow::tensor_nn::io::idx::{load_idx_dataset, IdxSplit};
use dimflow::tensor_nn::losses::SparseCategoricalCrossentropy;
use dimflow::tensor_nn::metrics::SparseCategoricalAccuracy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::sequential::{Conv2dOptions, Pool2d, Sequential};
use dimflow::tensor_nn::train::callbacks::Callback;
use dimflow::tensor_nn::train::{Compile, FitConfig, TrainState};
use dimflow::tensor_nn::{Model, NnError};

dims! { Batch; Pixels = 784; Classes = 10; ImgH = 28; ImgW = 28; Gray = 1; }

model! {
    /// The CNN as a `model!`: the flat pixels viewed as 28×28×1 images; every height and width
    /// after the first is computed by the macro (26, 13, 11, 5), so `Flatten` makes 1600.
    struct Cnn: [Batch, Pixels] -> [Batch, Classes] {
        Reshape([ImgH, ImgW, Gray]),
        Conv2D(C1 = 32, kernel = 3, activation = Relu), MaxPool2D(2),
        Conv2D(C2 = 64, kernel = 3, activation = Relu), MaxPool2D(2),
        Flatten, Dropout(0.5), Dense(Classes)
    }
}

/// A batch of 28×28 grey images, row-major (NHWC with one channel).
type Images = Tensor<(Batch, Pixels)>;
/// Class indices, one per image.
type Labels = Tensor<(Batch,)>;

/// The same CNN with the run-time builder: 28×28×1 → 26×26×32 → 13×13×32 → 11×11×64 → 5×5×64 → 1600 → 10.
fn build_model(seed: u64) -> Result<impl Model<Input = Images, Output = Tensor<(Batch, Classes)>>, NnError> {
    let relu = Conv2dOptions {
        activation: Activation::Relu,
        ..Conv2dOptions::default()
    };
    Sequential::builder_image(28, 28, 1, seed)
        .conv2d(32, (3, 3), relu)
        .max_pool2d(Pool2d::default())
        .conv2d(64, (3, 3), relu)
        .max_pool2d(Pool2d::default())
        .flatten()
        .dropout(0.5)
        .dense(10, Activation::Linear)
        .build::<(Batch, Pixels), (Batch, Classes)>()
}

/// Prints the training time of each epoch (from its start to its last step, without the
/// validation pass) and keeps the times.
#[derive(Default)]
struct EpochTimer {
    start: Option<(Instant, f64)>,
    last_step: Option<(Instant, f64)>,
    seconds: Vec<f64>,
    cpu_seconds: Vec<f64>,
}

/// Now, and the calling thread's CPU seconds.
fn stamp() -> (Instant, f64) {
    (Instant::now(), thread_cpu().unwrap_or(0.0))
}

impl Callback for EpochTimer {
    fn on_epoch_begin(&mut self, _epoch: usize, _state: &mut TrainState<'_>) -> Result<(), NnError> {
        self.start = Some(stamp());
        Ok(())
    }
    fn on_train_batch_end(
        &mut self,
        _step: usize,
        _logs: &dimflow::tensor_nn::train::Logs,
        _state: &mut TrainState<'_>,
    ) -> Result<(), NnError> {
        self.last_step = Some(stamp());
        Ok(())
    }
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        _logs: &dimflow::tensor_nn::train::Logs,
        _state: &mut TrainState<'_>,
    ) -> Result<(), NnError> {
        if let (Some(s), Some(e)) = (self.start, self.last_step) {
            let (secs, cpu) = ((e.0 - s.0).as_secs_f64(), e.1 - s.1);
            println!(
                "epoch {}: {secs:.2} s of training (main thread CPU {cpu:.2} s)",
                epoch + 1
            );
            self.seconds.push(secs);
            self.cpu_seconds.push(cpu);
        }
        Ok(())
    }
}

struct Args {
    data: PathBuf,
    epochs: usize,
    batch_size: usize,
    threads: Option<usize>,
    seed: u64,
    layer_times: bool,
    sequential: bool,
    steps: Option<usize>,
    predict_only: bool,
    runs: usize,
}

/// CPU time of the calling thread in seconds, from `/proc/thread-self/schedstat` (Linux; its
/// first field is nanoseconds on the CPU); `None` elsewhere.
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// Median wall seconds of `f` over `runs` calls (after one warm-up call), and the calling
/// thread's mean CPU seconds per call (`/proc` counts CPU time in scheduler ticks, so only the
/// total over all runs is precise).
fn median_secs(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let c0 = thread_cpu().unwrap_or(0.0);
    let mut wall: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    let cpu = (thread_cpu().unwrap_or(0.0) - c0) / runs as f64;
    wall.sort_by(f64::total_cmp);
    (wall[wall.len() / 2], cpu)
}

/// Forward and backward time of the model's two convolutions and two poolings at `batch`
/// images, as the training step runs them (the first convolution needs no `dx`).
fn layer_times(batch: usize, seed: u64) {
    use dimflow::tensor_core::kernels::conv::{Conv2d, Pool2d};
    use dimflow::tensor_nn::fused::{Activation as Act, Conv2D, DenseOptions, Pool2D, PoolKind, Rng};
    let mut rng = Rng::new(seed);
    let ms = |(w, c): (f64, f64)| format!("{:.3} ms (cpu {:.3} ms)", w * 1e3, c * 1e3);
    for (name, input, filters, needs_dx) in [
        ("conv2d1", [28, 28, 1], 32, false),
        ("conv2d2", [13, 13, 32], 64, true),
    ] {
        let opts = DenseOptions::default();
        let mut layer = Conv2D::<f32>::new(
            name,
            input,
            filters,
            [3, 3],
            Conv2d::default(),
            true,
            opts,
            &mut rng,
        );
        let n_in = batch * input.iter().product::<usize>();
        let x: Vec<f32> = (0..n_in).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
        let mut out = Vec::new();
        let fwd = median_secs(25, || layer.forward_train(&x, batch, Act::Relu, &mut out, None));
        let g0: Vec<f32> = out.iter().map(|v| if *v > 0.0 { 0.01 } else { 0.0 }).collect();
        let mut gx = vec![0.0f32; n_in];
        let out_c = out.clone();
        let mut g = g0.clone();
        let bwd = median_secs(25, || {
            g.copy_from_slice(&g0);
            layer.zero_grad();
            let dx = needs_dx.then_some(&mut gx[..]);
            layer.backward(&x, &out_c, &[], &mut g, batch, Act::Relu, dx);
        });
        let flops = 2.0 * layer.geometry(batch).macs() as f64;
        let bflops = if needs_dx { 2.0 * flops } else { flops };
        println!(
            "{name} {input:?} -> {:?}, batch {batch}: forward {} {:.1} GFLOP/s (cpu {:.1}); backward ({}) {} {:.1} GFLOP/s (cpu {:.1})",
            layer.output_shape(),
            ms(fwd),
            flops / fwd.0 / 1e9,
            flops / fwd.1.max(1e-12) / 1e9,
            if needs_dx { "dx + dW + db" } else { "dW + db" },
            ms(bwd),
            bflops / bwd.0 / 1e9,
            bflops / bwd.1.max(1e-12) / 1e9,
        );
        let pool_in = layer.output_shape();
        let mut pool = Pool2D::new(PoolKind::Max, pool_in, Pool2d::default());
        let mut pooled = Vec::new();
        let pf = median_secs(25, || pool.forward_train(&out_c, batch, &mut pooled));
        let pg: Vec<f32> = pooled.iter().map(|v| v * 0.5).collect();
        let mut gin = vec![0.0f32; out_c.len()];
        let pb = median_secs(25, || {
            gin.iter_mut().for_each(|v| *v = 0.0);
            pool.backward(&pg, batch, &mut gin);
        });
        println!(
            "  max_pool {pool_in:?}: forward {}, backward (with zeroing dx) {}",
            ms(pf),
            ms(pb)
        );
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        data: "data/mnist".into(),
        epochs: 15,
        batch_size: 128,
        threads: None,
        seed: 42,
        layer_times: false,
        sequential: false,
        steps: None,
        predict_only: false,
        runs: 500,
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
            "--seed" => a.seed = num(value()?)? as u64,
            "--layer-times" => a.layer_times = true,
            "--sequential" => a.sequential = true,
            "--steps" => a.steps = Some(num(value()?)?.max(1)),
            "--predict-only" => a.predict_only = true,
            "--runs" => a.runs = num(value()?)?.max(1),
            "-h" | "--help" => {
                return Err(
                    "usage: mnist_cnn [--data DIR] [--epochs N] [--batch-size N] [--steps N] [--threads N] [--seed N] [--layer-times] [--sequential] [--predict-only [--runs N]]".into(),
                )
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

/// Median time of one inference forward pass over the first `batch` test images (after a few
/// untimed calls, as the PyTorch side of `bench/cnn_compare.py` does).
fn predict_latency_us<M: Model<Input = Images>>(
    model: &M,
    x: &Images,
    batch: usize,
    runs: usize,
) -> Result<f64, NnError> {
    let xb = x.gather_rows(&(0..batch).collect::<Vec<_>>())?;
    for _ in 0..if batch == 1 { 50 } else { 2 } {
        std::hint::black_box(model.forward(&xb));
    }
    let mut times: Vec<f64> = (0..if batch == 1 { runs } else { 50 })
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(model.forward(&xb));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn run(args: Args) -> Result<(), NnError> {
    if let Some(t) = args.threads {
        dimflow::tensor_core::kernels::set_num_threads(t);
    }
    if args.layer_times {
        layer_times(args.batch_size, args.seed);
        return Ok(());
    }
    let (mut train, test) = load_idx_dataset(&args.data)?;
    if let Some(steps) = args.steps {
        let n = (steps * args.batch_size).min(train.len());
        train.images.truncate(n * train.features);
        train.labels.truncate(n);
    }
    println!(
        "{}: {} training and {} test images; {} kernel thread(s)",
        args.data.display(),
        train.len(),
        test.len(),
        dimflow::tensor_core::kernels::num_threads()
    );
    if args.predict_only {
        let (model, (x_test, _)) = (Cnn::new(args.seed), tensors(&test)?);
        let b1 = predict_latency_us(&model, &x_test, 1, args.runs)?;
        print!("predict latency (untrained model!): batch 1: {b1:.1} us");
        if args.batch_size > 1 {
            let bn = predict_latency_us(&model, &x_test, args.batch_size, args.runs)?;
            print!(", batch {}: {bn:.0} us", args.batch_size);
        }
        println!();
        return Ok(());
    }
    let data = (tensors(&train)?, tensors(&test)?);
    println!(
        "model ({}): Conv2D(32,3x3,relu) > MaxPool(2) > Conv2D(64,3x3,relu) > MaxPool(2) > Flatten > Dropout(0.5) > Dense(10)",
        if args.sequential { "Sequential" } else { "model!" }
    );
    if args.sequential {
        train_and_report(build_model(args.seed)?, &args, train.len(), data)
    } else {
        train_and_report(Cnn::new(args.seed), &args, train.len(), data)
    }
}

/// Compiles, fits (timing each epoch), evaluates and times predictions of either model.
fn train_and_report<M: Model<Input = Images, Output = Tensor<(Batch, Classes)>>>(
    model: M,
    args: &Args,
    train_len: usize,
    ((x_train, y_train), (x_test, y_test)): ((Images, Labels), (Images, Labels)),
) -> Result<(), NnError> {
    let mut model = model.compile(
        Optimizer::adam(0.001),
        SparseCategoricalCrossentropy::from_logits(),
        vec![Box::new(SparseCategoricalAccuracy::default())],
    );
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        verbose: 2,
        ..FitConfig::default()
    };
    let mut timer = EpochTimer::default();
    model.fit(
        &x_train,
        &y_train,
        &config,
        Some((&x_test, &y_test)),
        &mut [&mut timer],
    )?;
    let total: f64 = timer.seconds.iter().sum();
    let per_epoch = total / timer.seconds.len().max(1) as f64;
    let cpu_per_epoch = timer.cpu_seconds.iter().sum::<f64>() / timer.cpu_seconds.len().max(1) as f64;
    println!(
        "training: {per_epoch:.2} s per epoch, {} samples/s (by main-thread CPU time: {} samples/s)",
        (train_len as f64 / per_epoch).round(),
        (train_len as f64 / cpu_per_epoch.max(1e-9)).round()
    );
    let logs = model.evaluate(&x_test, &y_test, 1000)?;
    println!("test loss: {:.4}", logs["loss"]);
    println!("test accuracy: {:.4}", logs["sparse_categorical_accuracy"]);
    let (b1, b128) = (
        predict_latency_us(&model.model, &x_test, 1, args.runs)?,
        predict_latency_us(&model.model, &x_test, 128, args.runs)?,
    );
    println!("predict latency: batch 1: {b1:.1} us, batch 128: {b128:.0} us");
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
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
