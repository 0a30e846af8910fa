//! One training step (forward, softmax cross-entropy gradient, backward, plain SGD) of the same
//! MLP two ways: the `model!`-generated fused step, and tensor-core ops through the gradient
//! tape. 784-128-10 at batch 128 and 784-1024-1024-10 at batch 256 (ReLU hidden layers), at 1
//! and 2 kernel threads. Both start from the same weights (the tape's variables are copied from
//! the generated model's parameters).
//!
//! Run: `cargo bench -p tensor-nn --bench fused_vs_tape`. With `DIMFLOW_STEPS=N` the binary
//! instead runs N steps of one configuration and exits (for counting allocations with
//! `heaptrack`): `DIMFLOW_MODEL=small|big`, `DIMFLOW_PATH=fused|tape`, `DIMFLOW_THREADS=1|2`.
use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use tensor_core::autodiff::{GradientTape, Variable};
use tensor_core::kernels::set_num_threads;
use tensor_core::prelude::*;
use tensor_macros::model;

/// What `model!`-generated code names (the facade's `dimflow::__private`, which this crate
/// cannot depend on).
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
    /// 784-128-10, ReLU.
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

const LR: f32 = 0.01;

/// `(softmax(y) - onehot(labels)) / rows`: the gradient of the mean softmax cross-entropy.
fn xent_grad(y: &[f32], labels: &[i64], classes: usize, out: &mut [f32]) {
    let rows = labels.len();
    let scale = 1.0 / rows as f32;
    for r in 0..rows {
        let row = &y[r * classes..(r + 1) * classes];
        let o = &mut out[r * classes..(r + 1) * classes];
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut z = 0.0;
        for (o, &v) in o.iter_mut().zip(row) {
            *o = (v - m).exp();
            z += *o;
        }
        for (c, o) in o.iter_mut().enumerate() {
            let t = if labels[r] as usize == c { 1.0 } else { 0.0 };
            *o = (*o / z - t) * scale;
        }
    }
}

macro_rules! fused_step {
    ($name:ident, $model:ty) => {
        /// One fused step: forward_train, loss gradient, backward, SGD.
        fn $name(m: &mut $model, x: &Tensor<(Batch, Pixels)>, labels: &[i64], grad: &mut Vec<f32>) {
            let y = m.forward_train(x);
            grad.resize(y.dims().iter().product(), 0.0);
            xent_grad(
                y.as_slice().expect("fresh output is contiguous"),
                labels,
                10,
                grad,
            );
            // The upstream gradient must be a tensor: one allocation, as for the output.
            let g = Tensor::from_vec_dims(grad.clone(), y.dims()).unwrap();
            m.backward(&g);
            for p in m.parameters_mut() {
                for (v, g) in p.value.iter_mut().zip(&p.grad) {
                    *v -= LR * g;
                }
            }
        }
    };
}
fused_step!(small_fused_step, Small);
fused_step!(big_fused_step, Big);

fn var<S: Shape>(params: &[&tensor_nn::fused::Param<f32>], i: usize) -> Variable<S> {
    let p = params[i];
    Variable::new(
        p.name.clone(),
        Tensor::from_vec_dims(p.value.clone(), &p.shape).unwrap(),
    )
}

/// 784-128-10 through the tape.
struct SmallTape {
    w1: Variable<(Pixels, Hidden)>,
    b1: Variable<(Hidden,)>,
    w2: Variable<(Hidden, Classes)>,
    b2: Variable<(Classes,)>,
}

impl SmallTape {
    fn from(m: &Small) -> Self {
        let p: Vec<_> = m.parameters().into_iter().collect();
        SmallTape {
            w1: var(&p, 0),
            b1: var(&p, 1),
            w2: var(&p, 2),
            b2: var(&p, 3),
        }
    }

    fn step(&mut self, x: &Tensor<(Batch, Pixels)>, labels: &Tensor<(Batch,), i64>) {
        let tape = GradientTape::new();
        let h = (x.matmul(&self.w1.read()) + self.b1.read()).relu();
        let logits = h.matmul(&self.w2.read()) + self.b2.read();
        let loss = logits
            .log_softmax::<Classes, _>()
            .gather::<Classes, _, i64>(labels)
            .mean_to_scalar()
            .neg();
        let g = tape.gradient(&loss).unwrap();
        self.w1
            .assign_sub(&g.wrt(&self.w1).unwrap().mul_scalar(LR))
            .unwrap();
        self.b1
            .assign_sub(&g.wrt(&self.b1).unwrap().mul_scalar(LR))
            .unwrap();
        self.w2
            .assign_sub(&g.wrt(&self.w2).unwrap().mul_scalar(LR))
            .unwrap();
        self.b2
            .assign_sub(&g.wrt(&self.b2).unwrap().mul_scalar(LR))
            .unwrap();
    }
}

/// 784-1024-1024-10 through the tape.
struct BigTape {
    w1: Variable<(Pixels, Wide1)>,
    b1: Variable<(Wide1,)>,
    w2: Variable<(Wide1, Wide2)>,
    b2: Variable<(Wide2,)>,
    w3: Variable<(Wide2, Classes)>,
    b3: Variable<(Classes,)>,
}

impl BigTape {
    fn from(m: &Big) -> Self {
        let p: Vec<_> = m.parameters().into_iter().collect();
        BigTape {
            w1: var(&p, 0),
            b1: var(&p, 1),
            w2: var(&p, 2),
            b2: var(&p, 3),
            w3: var(&p, 4),
            b3: var(&p, 5),
        }
    }

    fn step(&mut self, x: &Tensor<(Batch, Pixels)>, labels: &Tensor<(Batch,), i64>) {
        let tape = GradientTape::new();
        let h1 = (x.matmul(&self.w1.read()) + self.b1.read()).relu();
        let h2 = (h1.matmul(&self.w2.read()) + self.b2.read()).relu();
        let logits = h2.matmul(&self.w3.read()) + self.b3.read();
        let loss = logits
            .log_softmax::<Classes, _>()
            .gather::<Classes, _, i64>(labels)
            .mean_to_scalar()
            .neg();
        let g = tape.gradient(&loss).unwrap();
        self.w1
            .assign_sub(&g.wrt(&self.w1).unwrap().mul_scalar(LR))
            .unwrap();
        self.b1
            .assign_sub(&g.wrt(&self.b1).unwrap().mul_scalar(LR))
            .unwrap();
        self.w2
            .assign_sub(&g.wrt(&self.w2).unwrap().mul_scalar(LR))
            .unwrap();
        self.b2
            .assign_sub(&g.wrt(&self.b2).unwrap().mul_scalar(LR))
            .unwrap();
        self.w3
            .assign_sub(&g.wrt(&self.w3).unwrap().mul_scalar(LR))
            .unwrap();
        self.b3
            .assign_sub(&g.wrt(&self.b3).unwrap().mul_scalar(LR))
            .unwrap();
    }
}

type Images = Tensor<(Batch, Pixels)>;
type Labels = Tensor<(Batch,), i64>;

fn data(batch: usize) -> (Images, Labels, Vec<i64>) {
    let mut rng = Rng::seed(1);
    let x = Tensor::random_uniform(&mut rng, 0.0, 1.0, &[batch]).unwrap();
    let ids: Vec<i64> = (0..batch).map(|i| (i * 7 % 10) as i64).collect();
    let labels = Tensor::from_vec(ids.clone(), &[batch]).unwrap();
    (x, labels, ids)
}

fn bench(c: &mut Criterion) {
    for threads in [1usize, 2] {
        set_num_threads(threads);
        {
            let (x, labels, ids) = data(128);
            let mut fused = Small::new(1);
            let mut tape = SmallTape::from(&fused);
            let mut grad = Vec::new();
            let mut g = c.benchmark_group(format!("mlp_784_128_10_b128_t{threads}"));
            g.bench_function("fused", |b| {
                b.iter(|| small_fused_step(&mut fused, black_box(&x), &ids, &mut grad))
            });
            g.bench_function("tape", |b| b.iter(|| tape.step(black_box(&x), &labels)));
            g.finish();
        }
        {
            let (x, labels, ids) = data(256);
            let mut fused = Big::new(1);
            let mut tape = BigTape::from(&fused);
            let mut grad = Vec::new();
            let mut g = c.benchmark_group(format!("mlp_784_1024_1024_10_b256_t{threads}"));
            g.bench_function("fused", |b| {
                b.iter(|| big_fused_step(&mut fused, black_box(&x), &ids, &mut grad))
            });
            g.bench_function("tape", |b| b.iter(|| tape.step(black_box(&x), &labels)));
            g.finish();
        }
    }
}

/// Loop mode: N steps of one configuration, for `heaptrack`.
fn run_steps(steps: usize) {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    set_num_threads(env("DIMFLOW_THREADS", "1").parse().unwrap_or(1));
    let big = env("DIMFLOW_MODEL", "small") == "big";
    let fused = env("DIMFLOW_PATH", "fused") == "fused";
    let (x, labels, ids) = data(if big { 256 } else { 128 });
    let mut grad = Vec::new();
    let (w0, c0) = (std::time::Instant::now(), thread_cpu());
    match (big, fused) {
        (false, true) => {
            let mut m = Small::new(1);
            (0..steps).for_each(|_| small_fused_step(&mut m, &x, &ids, &mut grad));
        }
        (false, false) => {
            let mut m = SmallTape::from(&Small::new(1));
            (0..steps).for_each(|_| m.step(&x, &labels));
        }
        (true, true) => {
            let mut m = Big::new(1);
            (0..steps).for_each(|_| big_fused_step(&mut m, &x, &ids, &mut grad));
        }
        (true, false) => {
            let mut m = BigTape::from(&Big::new(1));
            (0..steps).for_each(|_| m.step(&x, &labels));
        }
    }
    let (wall, cpu) = (w0.elapsed().as_secs_f64(), thread_cpu() - c0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{steps} steps done: {:.1} us/step wall, {:.1} us/step thread CPU (set-up included) | load {}",
        wall / steps as f64 * 1e6,
        cpu / steps as f64 * 1e6,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
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

/// CPU time of the calling thread in seconds (`CLOCK_THREAD_CPUTIME_ID` = 3 on Linux); at one
/// kernel thread every GEMM runs on the caller, so this is the whole step's work.
fn thread_cpu() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable `struct timespec` for the duration of the call, which
    // only writes into it.
    let rc = unsafe { clock_gettime(3, &mut ts) };
    if rc == 0 {
        ts.sec as f64 + ts.nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

fn main() {
    if let Some(steps) = std::env::var("DIMFLOW_STEPS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        run_steps(steps);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
