//! Where the time of one training step goes, and what `fit` and `predict` reach, for the MNIST
//! MLPs (784-128-10 at batch 128, 784-1024-1024-10 at batch 256), SGD 0.01, sparse softmax
//! cross-entropy on logits, as `examples/mnist.rs` trains them.
//!
//! Run: `cargo bench -p tensor-nn --bench step_profile -- [MODE...]` with modes
//! - `fit` (default): samples/s over `Trainer::fit` for the `model!` and run-time `Sequential`
//!   models, at `DIMFLOW_THREADS` (default 1) kernel threads, wall and thread-CPU time;
//! - `breakdown`: one step of the `model!` 784-128-10 cut into its parts (batch assembly,
//!   forward, loss, backward, optimizer, metrics), the optimizer's scans for non-finite values
//!   timed alone, each GEMM of the step timed alone beside a
//!   square GEMM, and the heap allocations per step;
//! - `predict`: median latency of `forward` at batch 1 and 128;
//! - `big`: `fit` for the 784-1024-1024-10 models at batch 256;
//! - `gemms-big`: each GEMM call of one 784-1024-1024-10 step at batch 256, timed alone.
//!
//! Every figure line carries the load average (`/proc/loadavg`). The data are the MNIST files of
//! `data/mnist` (or `DIMFLOW_DATA`), or uniform noise when they are missing. Thread-CPU time
//! (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`) counts only the calling thread: it equals the work at one
//! kernel thread, where GEMMs run on the caller.
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tensor_core::kernels::{gemm, set_num_threads, GemmArgs};
use tensor_core::prelude::*;
use tensor_macros::model;
use tensor_nn::activations::Activation;
use tensor_nn::data::Rows;
use tensor_nn::losses::{Loss, SparseCategoricalCrossentropy};
use tensor_nn::metrics::{Metric, SparseCategoricalAccuracy};
use tensor_nn::non_finite::first_non_finite_in;
use tensor_nn::optim::Optimizer;
use tensor_nn::sequential::Sequential;
use tensor_nn::train::{Compile, FitConfig};

/// Counts heap allocations (and reallocations) made by the process.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments, so the
// `GlobalAlloc` contract holds as it does for `System`; the counter is a relaxed atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}

/// `struct timespec` of 64-bit Linux.
#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// Linux's `CLOCK_THREAD_CPUTIME_ID`.
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

/// CPU time of the calling thread in seconds (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`).
fn thread_cpu() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable `struct timespec` (two 64-bit fields on x86-64 Linux)
    // for the duration of the call, which only writes into it.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.sec as f64 + ts.nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

mod private {
    pub use tensor_core::{Float, Tensor};
    pub use tensor_nn::fused;
    pub use tensor_nn::{Model, ParamMut, ParamRef};
}

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch;
    Pixels = 784;
    Hidden = 128;
    Wide1 = 1024;
    Wide2 = 1024;
    Classes = 10;
}

model! {
    crate = crate::private;
    /// 784-128-10, ReLU (as `examples/mnist.rs`).
    struct Small: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dense(Classes)
    }
}

model! {
    crate = crate::private;
    /// 784-1024-1024-10, ReLU.
    struct Big: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Wide1), Relu, Dense(Wide2), Relu, Dense(Classes)
    }
}

type Images = Tensor<(Batch, Pixels)>;
type Labels = Tensor<(Batch,)>;
type Logits = Tensor<(Batch, Classes)>;

fn sequential(hidden: &[usize]) -> Sequential<(Batch, Pixels), (Batch, Classes)> {
    hidden
        .iter()
        .fold(Sequential::builder(784, 42), |b, &u| b.dense(u, Activation::Relu))
        .dense(10, Activation::Linear)
        .build()
        .expect("valid model")
}

/// MNIST's training set, or `n` samples of noise with labels `i·7 mod 10`.
fn data() -> (Images, Labels) {
    let dir = std::env::var("DIMFLOW_DATA").unwrap_or_else(|_| "../data/mnist".into());
    match tensor_nn::io::idx::load_idx_dataset(&dir) {
        Ok((train, _)) => {
            let n = train.len();
            (
                Tensor::from_vec(train.images, &[n]).expect("images"),
                Tensor::from_vec(train.labels, &[n]).expect("labels"),
            )
        }
        Err(e) => {
            eprintln!("({dir}: {e}; using noise)");
            let n = 60_000;
            let mut rng = Rng::seed(1);
            let x = Tensor::random_uniform(&mut rng, 0.0, 1.0, &[n]).expect("noise");
            let y = Tensor::from_fn(&[n], |i| (i[0] * 7 % 10) as f32);
            (x, y)
        }
    }
}

fn threads() -> usize {
    std::env::var("DIMFLOW_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// `fit` for `epochs` epochs: prints samples/s by wall and by thread-CPU time, and allocations
/// per step.
fn fit<M>(label: &str, model: M, x: &Images, y: &Labels, batch: usize, epochs: usize)
where
    M: tensor_nn::Model<Input = Images, Output = Logits>,
{
    let mut t = model.compile(
        Optimizer::sgd(0.01),
        SparseCategoricalCrossentropy::from_logits(),
        vec![Box::new(SparseCategoricalAccuracy::default())],
    );
    let config = FitConfig {
        epochs,
        batch_size: batch,
        seed: 42,
        verbose: 0,
        ..FitConfig::default()
    };
    // One short epoch first: first-touch page faults and buffer sizing are not the steady state.
    let warm = FitConfig {
        epochs: 1,
        steps_per_epoch: Some(5),
        ..config.clone()
    };
    t.fit(x, y, &warm, None, &mut []).expect("fit");
    let (a0, c0, w0) = (allocs(), thread_cpu(), Instant::now());
    let h = t.fit(x, y, &config, None, &mut []).expect("fit");
    let (wall, cpu, a) = (w0.elapsed().as_secs_f64(), thread_cpu() - c0, allocs() - a0);
    let samples = (x.num_rows() * epochs) as f64;
    let steps = (x.num_rows().div_ceil(batch) * epochs) as f64;
    println!(
        "fit {label:<22} t{} b{batch}: {:>9.0} samples/s wall, {:>9.0} by thread CPU, {:>6.1} allocs/step, loss {:.4} | load {}",
        threads(),
        samples / wall,
        samples / cpu,
        a as f64 / steps,
        h.history["loss"].last().copied().unwrap_or(f32::NAN),
        loadavg()
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median latency of `forward` on the first `rows` samples, with allocations per call.
fn predict<M: tensor_nn::Model<Input = Images, Output = Logits>>(
    label: &str,
    m: &M,
    x: &Images,
    rows: usize,
) {
    let xb = x.gather_rows(&(0..rows).collect::<Vec<_>>()).expect("rows");
    let reps = if rows == 1 { 4000 } else { 400 };
    black_box(m.forward(&xb));
    let a0 = allocs();
    let c0 = thread_cpu();
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            black_box(m.forward(black_box(&xb)));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let cpu = (thread_cpu() - c0) / reps as f64 * 1e6;
    println!(
        "predict {label:<18} t{} batch {rows:>3}: median {:>8.2} us wall, mean {:>8.2} us thread CPU, {:.1} allocs/call | load {}",
        threads(),
        median(times),
        cpu,
        (allocs() - a0) as f64 / reps as f64,
        loadavg()
    );
}

/// Accumulated wall and thread-CPU seconds and allocations per named part.
#[derive(Default)]
struct Parts(Vec<(&'static str, f64, f64, usize)>);

impl Parts {
    fn time<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let (t, c, a) = (Instant::now(), thread_cpu(), allocs());
        let r = f();
        let (dc, dt, da) = (thread_cpu() - c, t.elapsed().as_secs_f64(), allocs() - a);
        match self.0.iter_mut().find(|(n, ..)| *n == name) {
            Some(p) => {
                p.1 += dt;
                p.2 += dc;
                p.3 += da;
            }
            None => self.0.push((name, dt, dc, da)),
        }
        r
    }
}

/// GFLOP/s of one GEMM call shape, best of `reps` timed runs of `inner` calls each.
#[allow(clippy::too_many_arguments)]
fn gemm_rate(
    label: &str,
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
    beta: f32,
    inner: usize,
) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let (a_rs, a_cs) = if a_t { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if b_t { (1, k) } else { (n, 1) };
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..7 {
        let (t, c0) = (Instant::now(), thread_cpu());
        for _ in 0..inner {
            gemm(GemmArgs {
                m,
                n,
                k,
                alpha: 1.0,
                a: &a,
                a_rs,
                a_cs,
                b: &b,
                b_rs,
                b_cs,
                beta,
                c: &mut c,
                c_rs: n,
            });
        }
        best = best.min(t.elapsed().as_secs_f64() / inner as f64);
        best_cpu = best_cpu.min((thread_cpu() - c0) / inner as f64);
    }
    black_box(&c);
    let gflops = |t: f64| 2.0 * (m * n * k) as f64 / t * 1e-9;
    println!(
        "  gemm {label:<34} m{m:>4} n{n:>4} k{k:>4}: {:>8.1} us wall ({:>6.1} GFLOP/s), {:>8.1} us CPU ({:>6.1} GFLOP/s)",
        best * 1e6,
        gflops(best),
        best_cpu * 1e6,
        gflops(best_cpu)
    );
    best_cpu
}

/// A dense layer's forward two ways, interleaved, by thread CPU: bias copied into C, GEMM
/// with beta = 1, then a ReLU pass (before `64e2225`); and `gemm_fused` with beta = 0 and the
/// bias and ReLU in the epilogue (after).
fn fwd_variants(m: usize, n: usize, k: usize, reps: usize) {
    use tensor_core::kernels::{gemm_fused, Epilogue, UnaryOp};
    let x: Vec<f32> = (0..m * k).map(|i| ((i * 13) % 17) as f32 / 17.0).collect();
    let w: Vec<f32> = (0..k * n).map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5).collect();
    let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01 - 0.6).collect();
    let mut c = vec![0f32; m * n];
    let args = |c: &mut [f32], beta: f32| {
        gemm_fused(
            GemmArgs {
                m,
                n,
                k,
                alpha: 1.0,
                a: &x,
                a_rs: k,
                a_cs: 1,
                b: &w,
                b_rs: n,
                b_cs: 1,
                beta,
                c,
                c_rs: n,
            },
            if beta == 0.0 {
                Epilogue {
                    bias: Some(&bias),
                    activation: Some(UnaryOp::Relu),
                }
            } else {
                Epilogue::default()
            },
        )
    };
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let c0 = thread_cpu();
        for _ in 0..reps {
            c.chunks_exact_mut(n).for_each(|r| r.copy_from_slice(&bias));
            args(&mut c, 1.0);
            c.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        old.push((thread_cpu() - c0) / reps as f64);
        let c0 = thread_cpu();
        for _ in 0..reps {
            args(&mut c, 0.0);
        }
        new.push((thread_cpu() - c0) / reps as f64);
    }
    black_box(&c);
    println!(
        "  dense forward {m}x{n}x{k}: bias copy + beta 1 + ReLU pass {:.1} us CPU (median of 9), gemm_fused beta 0 + epilogue {:.1} us | load {}",
        median(old) * 1e6,
        median(new) * 1e6,
        loadavg()
    );
}

/// One `model!` 784-128-10 step, batch 128, cut into the parts `Trainer::train_step` runs.
fn breakdown(x: &Images, y: &Labels) {
    let batch = 128;
    let steps = 300;
    let mut m = Small::new(42);
    let mut opt = Optimizer::sgd(0.01);
    let loss = SparseCategoricalCrossentropy::from_logits();
    let mut acc = SparseCategoricalAccuracy::default();
    let order: Vec<usize> = (0..x.num_rows()).map(|i| (i * 7919) % x.num_rows()).collect();
    let mut parts = Parts::default();
    let mut spare: Option<(Images, Labels)> = None;
    let mut a_steady = 0;
    let c0 = thread_cpu();
    let w0 = Instant::now();
    for s in 0..steps + 2 {
        if s == 2 {
            a_steady = allocs();
            parts = Parts::default();
        }
        let idx = &order[(s * batch) % (x.num_rows() - batch)..][..batch];
        // As `fit` does: the previous step's batch is refilled in place.
        let (xb, yb) = parts.time("batch assembly (gather_rows_into)", || match spare.take() {
            Some((mut xb, mut yb)) => {
                x.gather_rows_into(idx, &mut xb).expect("x");
                y.gather_rows_into(idx, &mut yb).expect("y");
                (xb, yb)
            }
            None => (x.gather_rows(idx).expect("x"), y.gather_rows(idx).expect("y")),
        });
        let out = parts.time("forward_train", || m.forward_train(&xb));
        let (pred, target) = parts.time("output/target copies", || {
            (out.values().into_owned(), yb.values())
        });
        let l = parts.time("loss (softmax xent + grad)", || {
            loss.compute(&pred, &target, batch, None).expect("loss")
        });
        let g = parts.time("grad tensor", || out.with_values(l.grad).expect("grad"));
        parts.time("backward", || m.backward(&g));
        parts.time("optimizer (SGD)", || {
            let mut p = tensor_nn::Model::params_mut(&mut m);
            opt.apply(&mut p).expect("sgd");
        });
        parts.time("metrics", || {
            acc.update(&pred, &target, batch, None).expect("acc")
        });
        black_box(l.value);
        drop((out, pred, target, g));
        spare = Some((xb, yb));
    }
    let wall = w0.elapsed().as_secs_f64();
    let cpu = thread_cpu() - c0;
    let per = (allocs() - a_steady) as f64 / steps as f64;
    let total: f64 = parts.0.iter().map(|p| p.1).sum();
    let total_cpu: f64 = parts.0.iter().map(|p| p.2).sum();
    println!(
        "breakdown model! 784-128-10 b{batch} t{}: {:.1} us/step wall ({:.0} samples/s), {:.1} us/step thread CPU ({:.0} samples/s), {per:.1} allocs/step, thread CPU {:.0}% of wall | load {}",
        threads(),
        total / steps as f64 * 1e6,
        (batch * steps) as f64 / total,
        total_cpu / steps as f64 * 1e6,
        (batch * steps) as f64 / total_cpu,
        cpu / wall * 100.0,
        loadavg()
    );
    for (name, t, c, a) in &parts.0 {
        println!(
            "  {name:<30} {:>8.1} us wall {:>8.1} us CPU  {:>5.1}% of CPU  {:>5.1} allocs",
            t / steps as f64 * 1e6,
            c / steps as f64 * 1e6,
            c / total_cpu * 100.0,
            *a as f64 / steps as f64
        );
    }
    // The optimizer's part above includes its scans for NaN and infinities; timed alone
    // here over the same model, to give their share of the step.
    let reps = 2000;
    let p = tensor_nn::Model::params_mut(&mut m);
    let w0 = Instant::now();
    for _ in 0..reps {
        black_box(first_non_finite_in(p.iter().map(|p| (p.name, black_box(p.grad)))));
        black_box(first_non_finite_in(
            p.iter().map(|p| (p.name, black_box(&*p.value))),
        ));
    }
    let scan = w0.elapsed().as_secs_f64() / reps as f64;
    let floats: usize = p.iter().map(|p| 2 * p.value.len()).sum();
    println!(
        "  non-finite scans (inside the optimizer's part): {:.1} us/step over {floats} floats ({:.1} GB/s), {:.2}% of the step's wall time",
        scan * 1e6,
        (floats * 4) as f64 / scan / 1e9,
        scan / (total / steps as f64) * 100.0
    );
    drop(p);
    println!("GEMM calls of the step alone (best of 7):");
    let f1 = gemm_rate("fwd x·W1 (beta 1)", 128, 128, 784, false, false, 1.0, 50);
    let b1 = gemm_rate(
        "dW1 = xᵀ·dz (A strided, beta 1)",
        784,
        128,
        128,
        true,
        false,
        1.0,
        50,
    );
    let f2 = gemm_rate("fwd h·W2", 128, 10, 128, false, false, 1.0, 500);
    let b2 = gemm_rate("dW2 = hᵀ·dz", 128, 10, 128, true, false, 1.0, 500);
    let d2 = gemm_rate("dh = dz·W2ᵀ (B strided)", 128, 128, 10, false, true, 1.0, 500);
    println!(
        "  sum of the step's GEMMs: {:.1} us (arithmetic: {:.1} MFLOP)",
        (f1 + b1 + f2 + b2 + d2) * 1e6,
        2.0 * (2 * 128 * 128 * 784 + 3 * 128 * 10 * 128) as f64 * 1e-6
    );
    fwd_variants(128, 128, 784, 40);
    fwd_variants(256, 1024, 1024, 3);
    gemm_rate("square reference", 512, 512, 512, false, false, 0.0, 5);
    gemm_rate("square reference", 256, 256, 256, false, false, 0.0, 20);
    gemm_rate("square reference", 128, 128, 128, false, false, 0.0, 100);
}

fn main() {
    let modes: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let modes = if modes.is_empty() {
        vec!["fit".to_string()]
    } else {
        modes
    };
    set_num_threads(threads());
    let (x, y) = data();
    let epochs = std::env::var("DIMFLOW_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for mode in &modes {
        match mode.as_str() {
            "fit" => {
                fit("model! 784-128-10", Small::new(42), &x, &y, 128, epochs);
                fit("Sequential 784-128-10", sequential(&[128]), &x, &y, 128, epochs);
            }
            "big" => {
                let n = 15_360;
                let (xs, ys) = (
                    x.gather_rows(&(0..n).collect::<Vec<_>>()).expect("rows"),
                    y.gather_rows(&(0..n).collect::<Vec<_>>()).expect("rows"),
                );
                fit("model! 784-1024-1024-10", Big::new(42), &xs, &ys, 256, epochs);
                fit(
                    "Sequential 784-1024²-10",
                    sequential(&[1024, 1024]),
                    &xs,
                    &ys,
                    256,
                    epochs,
                );
            }
            "predict" => {
                let small = Small::new(42);
                let seq = sequential(&[128]);
                for rows in [1, 128] {
                    predict("model! 784-128-10", &small, &x, rows);
                    predict("Sequential 784-128-10", &seq, &x, rows);
                }
            }
            "breakdown" => breakdown(&x, &y),
            "gemms-big" => {
                println!(
                    "GEMM calls of one 784-1024-1024-10 step at batch 256 (best of 7) | load {}",
                    loadavg()
                );
                let mut t = 0.0;
                t += gemm_rate("fwd x·W1", 256, 1024, 784, false, false, 0.0, 3);
                t += gemm_rate("fwd h1·W2", 256, 1024, 1024, false, false, 0.0, 3);
                t += gemm_rate("fwd h2·W3", 256, 10, 1024, false, false, 0.0, 20);
                t += gemm_rate("dW3 = h2ᵀ·dz", 1024, 10, 256, true, false, 1.0, 20);
                t += gemm_rate("dh2 = dz·W3ᵀ", 256, 1024, 10, false, true, 1.0, 20);
                t += gemm_rate("dW2 = h1ᵀ·dz (A strided)", 1024, 1024, 256, true, false, 1.0, 3);
                t += gemm_rate("dh1 = dz·W2ᵀ (B strided)", 256, 1024, 1024, false, true, 1.0, 3);
                t += gemm_rate("dW1 = xᵀ·dz (A strided)", 784, 1024, 256, true, false, 1.0, 3);
                println!(
                    "  sum: {:.0} us CPU per step = {:.0} samples/s if the step were only its GEMMs",
                    t * 1e6,
                    256.0 / t
                );
            }
            other => eprintln!("unknown mode `{other}` (fit, big, predict, breakdown, gemms-big)"),
        }
    }
}
