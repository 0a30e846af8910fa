//! Autodiff benchmarks: the recording overhead per op on tiny tensors, and one training step
//! of a 784-128-10 MLP at batch 128 through the tape.
//!
//! Run: `cargo bench -p tensor-core --bench autodiff`. With `DIMFLOW_RSS_STEPS=N` the binary
//! instead runs N MLP training steps and exits (for peak-RSS measurement with
//! `/usr/bin/time -v`).
use std::hint::black_box;

use criterion::Criterion;
use tensor_core::autodiff::{GradientTape, Variable};
use tensor_core::prelude::*;

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch;
    Pixels = 784;
    Hidden = 128;
    Classes = 10;
    Four = 4;
}

/// Ops per iteration of the tiny-tensor benches (the per-op cost is the time / OPS).
const OPS: usize = 100;

fn tiny_chain(x: &Tensor<(Four,)>, y: &Tensor<(Four,)>) -> Tensor<(Four,)> {
    let mut acc = x.clone();
    for _ in 0..OPS / 2 {
        acc = acc.mul(y).add(x);
    }
    acc
}

fn bench_tiny(c: &mut Criterion) {
    let x = Tensor::<(Four,)>::from_vec(vec![0.5, -0.25, 0.125, 1.0], &[]).unwrap();
    let y = Tensor::<(Four,)>::from_vec(vec![0.9, 0.8, 0.7, 0.6], &[]).unwrap();
    let mut g = c.benchmark_group("tiny_4_elements_100_ops");
    g.bench_function("no_tape", |b| b.iter(|| black_box(tiny_chain(black_box(&x), &y))));
    g.bench_function("tape_alive_untracked_inputs", |b| {
        b.iter(|| {
            let _tape = GradientTape::new();
            black_box(tiny_chain(black_box(&x), &y))
        })
    });
    g.bench_function("recorded", |b| {
        b.iter(|| {
            let tape = GradientTape::new();
            let xw = tape.watch(&x);
            black_box(tiny_chain(&xw, &y))
        })
    });
    g.bench_function("recorded_plus_backward", |b| {
        b.iter(|| {
            let tape = GradientTape::new();
            let xw = tape.watch(&x);
            let loss = tiny_chain(&xw, &y).sum_to_scalar();
            black_box(tape.gradient(&loss).unwrap().wrt(&xw).unwrap())
        })
    });
    g.finish();
}

struct Mlp {
    w1: Variable<(Pixels, Hidden)>,
    b1: Variable<(Hidden,)>,
    w2: Variable<(Hidden, Classes)>,
    b2: Variable<(Classes,)>,
}

impl Mlp {
    fn new(rng: &mut Rng) -> Self {
        Mlp {
            w1: Variable::new("w1", Tensor::random_normal(rng, 0.0, 0.05, &[]).unwrap()),
            b1: Variable::new("b1", Tensor::zeros(&[])),
            w2: Variable::new("w2", Tensor::random_normal(rng, 0.0, 0.1, &[]).unwrap()),
            b2: Variable::new("b2", Tensor::zeros(&[])),
        }
    }

    fn loss(&self, x: &Tensor<(Batch, Pixels)>, labels: &Tensor<(Batch,), i64>) -> Tensor<()> {
        let h = (x.matmul(&self.w1.read()) + self.b1.read()).relu();
        let logp = (h.matmul(&self.w2.read()) + self.b2.read()).log_softmax::<Classes, _>();
        logp.gather::<Classes, _, i64>(labels).mean_to_scalar().neg()
    }

    /// One step of plain SGD through the tape; returns the loss.
    fn step(&mut self, x: &Tensor<(Batch, Pixels)>, labels: &Tensor<(Batch,), i64>, lr: f32) -> f32 {
        let tape = GradientTape::new();
        let loss = self.loss(x, labels);
        let g = tape.gradient(&loss).unwrap();
        self.w1
            .assign_sub(&g.wrt(&self.w1).unwrap().mul_scalar(lr))
            .unwrap();
        self.b1
            .assign_sub(&g.wrt(&self.b1).unwrap().mul_scalar(lr))
            .unwrap();
        self.w2
            .assign_sub(&g.wrt(&self.w2).unwrap().mul_scalar(lr))
            .unwrap();
        self.b2
            .assign_sub(&g.wrt(&self.b2).unwrap().mul_scalar(lr))
            .unwrap();
        loss.item()
    }
}

type Images = Tensor<(Batch, Pixels)>;
type Labels = Tensor<(Batch,), i64>;

fn data(rng: &mut Rng, batch: usize) -> (Images, Labels) {
    let x = Tensor::random_uniform(rng, 0.0, 1.0, &[batch]).unwrap();
    let labels = Tensor::from_vec((0..batch).map(|i| (i * 7 % 10) as i64).collect(), &[batch]).unwrap();
    (x, labels)
}

fn bench_mlp(c: &mut Criterion) {
    let mut rng = Rng::seed(1);
    let mut mlp = Mlp::new(&mut rng);
    let (x, labels) = data(&mut rng, 128);
    let mut g = c.benchmark_group("mlp_784_128_10_batch_128");
    g.throughput(criterion::Throughput::Elements(128));
    g.bench_function("forward_no_tape", |b| b.iter(|| black_box(mlp.loss(&x, &labels))));
    g.bench_function("train_step_tape", |b| {
        b.iter(|| black_box(mlp.step(&x, &labels, 0.01)))
    });
    g.finish();
}

fn main() {
    if let Some(steps) = std::env::var("DIMFLOW_RSS_STEPS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        let mut rng = Rng::seed(1);
        let mut mlp = Mlp::new(&mut rng);
        let (x, labels) = data(&mut rng, 128);
        let mut first = 0.0;
        let mut last = 0.0;
        for i in 0..steps {
            last = mlp.step(&x, &labels, 0.05);
            if i == 0 {
                first = last;
            }
        }
        println!("{steps} steps: loss {first:.4} -> {last:.4}");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_tiny(&mut c);
    bench_mlp(&mut c);
    c.final_summary();
}
