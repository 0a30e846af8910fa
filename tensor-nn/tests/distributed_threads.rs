//! The training loop's [`Strategy`] hook without MPI: two threads play two workers through an
//! in-process strategy (a shared buffer and a condition variable), so the default build tests
//! what `fit` does under a strategy: broadcast of the chief's weights, per-worker slices of
//! each global batch, averaged gradients and logs, a stop asked by one worker, sharded
//! `evaluate`. (`tests/distributed.rs` at the root runs the same over MPI.)

use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::distributed::strategy::{pack_gradients, pack_values, unpack_values};
use tensor_nn::distributed::Strategy;
use tensor_nn::losses::SparseCategoricalCrossentropy;
use tensor_nn::metrics::SparseCategoricalAccuracy;
use tensor_nn::optim::Optimizer;
use tensor_nn::sequential::Sequential;
use tensor_nn::train::callbacks::{Callback, TrainState};
use tensor_nn::train::{Compile, FitConfig, History, Logs, Trainer};
use tensor_nn::{Model, NnError, ParamMut, Result};

tensor_macros::dims! { crate = ::tensor_core; Batch; Feat = 3; Classes = 3; }

type Net = Sequential<(Batch, Feat), (Batch, Classes)>;

/// What the workers exchange: each round, every worker deposits its vector; the last one to
/// arrive sums them (in rank order, so every worker gets the same bits) and wakes the others.
#[derive(Default)]
struct Round {
    deposits: Vec<Option<Vec<f64>>>,
    result: Option<Arc<Vec<f64>>>,
    generation: u64,
    taken: usize,
}

struct Shared {
    world: usize,
    round: Mutex<Round>,
    changed: Condvar,
}

/// One worker of the in-process strategy.
struct ThreadStrategy {
    rank: usize,
    shared: Arc<Shared>,
    grads: Vec<f32>,
}

fn error(reason: &str) -> NnError {
    NnError::InvalidArgument {
        op: "thread strategy",
        reason: reason.into(),
    }
}

impl ThreadStrategy {
    fn workers(world: usize) -> Vec<Self> {
        let shared = Arc::new(Shared {
            world,
            round: Mutex::new(Round {
                deposits: vec![None; world],
                ..Round::default()
            }),
            changed: Condvar::new(),
        });
        (0..world)
            .map(|rank| ThreadStrategy {
                rank,
                shared: Arc::clone(&shared),
                grads: Vec::new(),
            })
            .collect()
    }

    /// Element-wise sum over the workers; an error instead of a hang when a worker does not
    /// come within 10 s (a worker that skipped a collective).
    fn sum(&self, mine: Vec<f64>) -> Result<Vec<f64>> {
        let s = &*self.shared;
        let timeout = Duration::from_secs(10);
        let mut r = s.round.lock().map_err(|_| error("poisoned"))?;
        // Wait until the previous round's result was taken by everyone.
        while r.result.is_some() {
            let (g, t) = s
                .changed
                .wait_timeout(r, timeout)
                .map_err(|_| error("poisoned"))?;
            r = g;
            if t.timed_out() {
                return Err(error("a worker left the previous collective"));
            }
        }
        r.deposits[self.rank] = Some(mine);
        let generation = r.generation;
        if r.deposits.iter().all(Option::is_some) {
            let parts: Vec<Vec<f64>> = r
                .deposits
                .iter_mut()
                .map(|d| d.take().unwrap_or_default())
                .collect();
            if parts.iter().any(|p| p.len() != parts[0].len()) {
                return Err(error("workers reduced vectors of different lengths"));
            }
            let total = (0..parts[0].len())
                .map(|i| parts.iter().map(|p| p[i]).sum())
                .collect();
            r.result = Some(Arc::new(total));
            r.generation += 1;
            s.changed.notify_all();
        }
        while r.generation == generation {
            let (g, t) = s
                .changed
                .wait_timeout(r, timeout)
                .map_err(|_| error("poisoned"))?;
            r = g;
            if t.timed_out() && r.generation == generation {
                return Err(error("a worker did not join a collective"));
            }
        }
        let out = r.result.as_ref().map(|v| v.to_vec()).unwrap_or_default();
        r.taken += 1;
        if r.taken == s.world {
            r.taken = 0;
            r.result = None;
            s.changed.notify_all();
        }
        Ok(out)
    }
}

impl Strategy for ThreadStrategy {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.shared.world
    }
    fn broadcast_params(&mut self, params: &mut [ParamMut<'_>]) -> Result<()> {
        let mut mine = Vec::new();
        pack_values(params, &mut mine);
        // Everyone but the chief contributes zeros: the sum is the chief's values.
        let keep = self.rank == 0;
        let sum = self.sum(
            mine.iter()
                .map(|&v| if keep { f64::from(v) } else { 0.0 })
                .collect(),
        )?;
        let values: Vec<f32> = sum.iter().map(|&v| v as f32).collect();
        unpack_values(&values, params)
    }
    fn average_gradients(&mut self, params: &[ParamMut<'_>]) -> Result<&[f32]> {
        pack_gradients(params, &mut self.grads);
        let sum = self.sum(self.grads.iter().map(|&g| f64::from(g)).collect())?;
        let world = self.shared.world as f64;
        for (g, s) in self.grads.iter_mut().zip(sum) {
            *g = (s / world) as f32;
        }
        Ok(&self.grads)
    }
    fn all_reduce_sum(&mut self, values: &mut [f64]) -> Result<()> {
        let sum = self.sum(values.to_vec())?;
        values.copy_from_slice(&sum);
        Ok(())
    }
}

/// 3 classes by the sign pattern of a deterministic scramble; 1000 samples.
fn data() -> (Tensor<(Batch, Feat)>, Tensor<(Batch,)>) {
    let n = 1000;
    let x =
        Tensor::<(Batch, Feat)>::from_fn(&[n], |i| ((i[0] * 37 + i[1] * 11 + 3) % 97) as f32 / 48.0 - 1.0);
    let v = x.to_vec();
    let y = (0..n)
        .map(|i| {
            let s = v[i * 3] + 0.5 * v[i * 3 + 1];
            if s < -0.3 {
                0.0
            } else if s < 0.3 {
                1.0
            } else {
                2.0
            }
        })
        .collect();
    (x, Tensor::from_vec(y, &[n]).unwrap())
}

fn trainer(seed: u64) -> Trainer<Net> {
    Sequential::builder(3, seed)
        .dense(8, Activation::Relu)
        .dense(3, Activation::Linear)
        .build::<(Batch, Feat), (Batch, Classes)>()
        .unwrap()
        .compile(
            Optimizer::adam(0.02),
            SparseCategoricalCrossentropy::from_logits(),
            vec![Box::new(SparseCategoricalAccuracy::default())],
        )
}

fn config(batch_size: usize) -> FitConfig {
    FitConfig {
        epochs: 3,
        batch_size,
        steps_per_epoch: Some(7),
        seed: 11,
        verbose: 0,
        ..FitConfig::default()
    }
}

fn weights(t: &Trainer<Net>) -> Vec<f32> {
    t.model.params().iter().flat_map(|p| p.value.to_vec()).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Stops training after `step` of the first epoch, on one worker only.
struct StopAt(usize);

impl Callback for StopAt {
    fn on_train_batch_end(&mut self, step: usize, _: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        if step == self.0 {
            *state.stop_training = true;
        }
        Ok(())
    }
}

/// Runs `fit` on two worker threads (rank 1 starting from other weights); returns each
/// worker's weights, history and evaluation of the whole data.
fn two_workers(stop_rank1_at: Option<usize>) -> Vec<(Vec<f32>, History, Logs)> {
    let handles: Vec<_> = ThreadStrategy::workers(2)
        .into_iter()
        .map(|s| {
            thread::spawn(move || {
                let (x, y) = data();
                let rank = s.rank();
                let mut t = trainer(1 + rank as u64).with_strategy(s);
                let mut stop = StopAt(stop_rank1_at.unwrap_or(usize::MAX));
                let callbacks: &mut [&mut dyn Callback] = if rank == 1 { &mut [&mut stop] } else { &mut [] };
                let history = t.fit(&x, &y, &config(32), None, callbacks).unwrap();
                let eval = t.evaluate(&x, &y, 100).unwrap();
                (weights(&t), history, eval)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn two_workers_of_batch_32_match_one_process_of_batch_64() {
    let (x, y) = data();
    let mut single = trainer(1);
    let history = single.fit(&x, &y, &config(64), None, &mut []).unwrap();
    let eval = single.evaluate(&x, &y, 100).unwrap();
    let moved = max_diff(&weights(&single), &weights(&trainer(1)));
    assert!(moved > 0.05, "training moved the weights by only {moved}");
    for (rank, (w, h, e)) in two_workers(None).into_iter().enumerate() {
        // Same examples per step, gradients averaged: the same trajectory up to rounding.
        let d = max_diff(&w, &weights(&single));
        assert!(d < 1e-5, "rank {rank}: weights differ by {d}");
        assert_eq!(h.epochs, vec![0, 1, 2]);
        for key in ["loss", "sparse_categorical_accuracy"] {
            for (a, b) in h.history[key].iter().zip(&history.history[key]) {
                assert!((a - b).abs() < 1e-5, "rank {rank}: {key} {a} vs {b}");
            }
        }
        // Sharded evaluation, averaged by samples: the whole data's loss and accuracy.
        for key in ["loss", "sparse_categorical_accuracy"] {
            assert!(
                (e[key] - eval[key]).abs() < 1e-5,
                "rank {rank}: evaluate {key} {} vs {}",
                e[key],
                eval[key]
            );
        }
    }
}

#[test]
fn a_stop_asked_by_one_worker_stops_both_at_the_same_step() {
    let results = two_workers(Some(2));
    // Rank 1 stops after step 2 of epoch 0; rank 0 must stop too (else it would wait in the
    // next collective and the strategy would time out), with identical weights.
    assert_eq!(results[0].1.epochs, vec![0]);
    assert_eq!(results[1].1.epochs, vec![0]);
    assert_eq!(results[0].0, results[1].0);
    // Three steps of 2 × 32 samples equal three steps of one process with batch 64.
    let (x, y) = data();
    let mut single = trainer(1);
    let cfg = FitConfig {
        epochs: 1,
        steps_per_epoch: Some(3),
        ..config(64)
    };
    single.fit(&x, &y, &cfg, None, &mut []).unwrap();
    assert!(max_diff(&results[0].0, &weights(&single)) < 1e-5);
}
