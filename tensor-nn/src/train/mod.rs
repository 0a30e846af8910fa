//! The Keras-style training loop over any [`Model`]: `compile`, `fit`, `evaluate`, `predict`,
//! with callbacks and a [`History`].
//!
//! ```
//! use tensor_core::prelude::*;
//! use tensor_nn::activations::Activation;
//! use tensor_nn::losses::MeanSquaredError;
//! use tensor_nn::optim::Optimizer;
//! use tensor_nn::sequential::Sequential;
//! use tensor_nn::train::{Compile, FitConfig};
//! tensor_macros::dims! { crate = ::tensor_core; Batch; In = 1; Out = 1; }
//!
//! // Learn y = 2x − 1.
//! let x = Tensor::<(Batch, In)>::from_fn(&[64], |i| i[0] as f32 / 32.0 - 1.0);
//! let y = x.map(|v| 2.0 * v - 1.0);
//! let model = Sequential::builder(1, 0).dense(1, Activation::Linear).build::<(Batch, In), (Batch, Out)>().unwrap();
//! let mut model = model.compile(Optimizer::sgd(0.1), MeanSquaredError::default(), vec![]);
//! let history = model.fit(&x, &y, &FitConfig { epochs: 30, batch_size: 16, verbose: 0, ..FitConfig::default() }, None, &mut []).unwrap();
//! assert!(history.history["loss"].last().unwrap() < &1e-3);
//! ```

mod backup_and_restore;
pub mod callbacks;
mod class_weight;
mod config;
mod evaluate;
mod fit;
mod history;
mod predict;
mod progress;
mod source;
pub mod tensorboard;

pub use backup_and_restore::{BackupAndRestore, SaveFreq, TrainPosition};
pub use callbacks::{Callback, TrainState};
pub use config::FitConfig;
pub use history::History;
pub use predict::{predict, predict_dataset, predict_parallel};
pub use progress::ProgressBar;
pub use source::FitBatch;

use std::collections::BTreeMap;

use crate::constraints::Constraint;
use crate::data::Rows;
use crate::distributed::strategy::{average_logs, with_gradients};
use crate::distributed::Strategy;
use crate::error::{NnError, Result};
use crate::losses::Loss;
use crate::metrics::Metric;
use crate::model::{Model, ParamMut, ParamRef};
use crate::optim::Optimizer;

/// Values by name (`loss`, `accuracy`, `val_loss`, `learning_rate`, …), sorted by name.
pub type Logs = BTreeMap<String, f32>;

/// A model with its optimizer, loss and metrics: what Keras' `compile` returns.
pub struct Trainer<M: Model> {
    /// The model.
    pub model: M,
    /// The optimizer.
    pub optimizer: Optimizer,
    loss: Box<dyn Loss>,
    metrics: Vec<Box<dyn Metric>>,
    constraints: Vec<(String, Box<dyn Constraint>)>,
    /// Data-parallel training across processes (`None`: this process alone).
    strategy: Option<Box<dyn Strategy>>,
}

impl<M: Model> std::fmt::Debug for Trainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("optimizer", &self.optimizer)
            .field("loss", &self.loss.name())
            .field(
                "metrics",
                &self
                    .metrics
                    .iter()
                    .map(|m| m.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Keras' `model.compile(...)` for every [`Model`].
pub trait Compile: Model + Sized {
    /// Attaches an optimizer, a loss and metrics.
    fn compile(
        self,
        optimizer: Optimizer,
        loss: impl Loss + 'static,
        metrics: Vec<Box<dyn Metric>>,
    ) -> Trainer<Self> {
        Trainer {
            model: self,
            optimizer,
            loss: Box::new(loss),
            metrics,
            constraints: Vec::new(),
            strategy: None,
        }
    }
}

impl<M: Model> Compile for M {}

/// The model's parameters as the callbacks see them.
///
/// Its methods are named apart from [`Model`]'s so both traits can be in scope.
pub trait ModelParams {
    /// Every parameter ([`Model::params`]).
    fn param_refs(&self) -> Vec<ParamRef<'_>>;
    /// Every parameter with its gradient ([`Model::params_mut`]).
    fn param_muts(&mut self) -> Vec<ParamMut<'_>>;
    /// See [`Model::relu_zero_fractions`].
    fn zero_fractions(&self) -> Vec<(String, f32)>;
    /// See [`Model::rng_state`]; `None` by default.
    fn model_rng_state(&self) -> Option<String> {
        None
    }
    /// See [`Model::set_rng_state`].
    ///
    /// # Errors
    /// When `state` is malformed or (the default) the model keeps no random stream.
    fn set_model_rng_state(&mut self, state: &str) -> Result<()> {
        Err(crate::model::no_rng_stream(state))
    }
}

impl<M: Model> ModelParams for M {
    fn param_refs(&self) -> Vec<ParamRef<'_>> {
        Model::params(self)
    }
    fn param_muts(&mut self) -> Vec<ParamMut<'_>> {
        Model::params_mut(self)
    }
    fn zero_fractions(&self) -> Vec<(String, f32)> {
        Model::relu_zero_fractions(self)
    }
    fn model_rng_state(&self) -> Option<String> {
        Model::rng_state(self)
    }
    fn set_model_rng_state(&mut self, state: &str) -> Result<()> {
        Model::set_rng_state(self, state)
    }
}

fn batches(n: usize, batch: usize) -> usize {
    n.div_ceil(batch.max(1))
}

impl<M: Model> Trainer<M>
where
    M::Input: Rows,
    M::Output: Rows,
{
    /// Projects the parameter called `param` with `constraint` after every update.
    pub fn with_constraint(
        mut self,
        param: impl Into<String>,
        constraint: impl Constraint + 'static,
    ) -> Self {
        self.constraints.push((param.into(), Box::new(constraint)));
        self
    }

    /// Trains data-parallel with `strategy` (see [`Strategy`]): `fit` then broadcasts the
    /// chief's weights, trains each worker on its shard, averages the gradients of every step
    /// and the logs over the workers; `evaluate` averages its logs.
    pub fn with_strategy(mut self, strategy: impl Strategy + 'static) -> Self {
        self.strategy = Some(Box::new(strategy));
        self
    }

    /// The distribution strategy, if any.
    pub fn strategy(&self) -> Option<&dyn Strategy> {
        self.strategy.as_deref()
    }

    /// The distribution strategy, mutably, if any.
    pub fn strategy_mut(&mut self) -> Option<&mut (dyn Strategy + 'static)> {
        self.strategy.as_deref_mut()
    }

    /// Removes and returns the distribution strategy (to hand it to another trainer: MPI can
    /// be initialised only once per process).
    pub fn take_strategy(&mut self) -> Option<Box<dyn Strategy>> {
        self.strategy.take()
    }

    /// (rank, world size): (0, 1) without a strategy.
    fn worker(&self) -> (usize, usize) {
        self.strategy
            .as_ref()
            .map_or((0, 1), |s| (s.rank(), s.world_size()))
    }

    /// Averages `logs` over the workers (weighted by `weight` samples) under a strategy.
    fn reduce_logs(&mut self, logs: &mut Logs, weight: f64) -> Result<()> {
        match self.strategy.as_deref_mut() {
            Some(s) => average_logs(s, logs, weight),
            None => Ok(()),
        }
    }

    /// The loss's name.
    pub fn loss_name(&self) -> &'static str {
        self.loss.name()
    }

    /// One training step on a batch; returns the loss (regularization included).
    ///
    /// # Errors
    /// From the loss (bad targets), the optimizer or a constraint;
    /// [`NnError::NonFinite`] when a gradient or an updated parameter holds a NaN or an
    /// infinity (see [`Optimizer::apply`](crate::optim::Optimizer::apply)).
    pub fn train_step<Y: Rows>(&mut self, x: &M::Input, y: &Y) -> Result<f32> {
        self.train_step_weighted(x, y, None)
    }

    /// As [`Trainer::train_step`], with one weight per sample for the loss and the metrics
    /// (Keras' `sample_weight`; the loss's reduction decides how they combine).
    ///
    /// # Errors
    /// As [`Trainer::train_step`], and when `sample_weight` has not one value per sample.
    pub fn train_step_weighted<Y: Rows>(
        &mut self,
        x: &M::Input,
        y: &Y,
        sample_weight: Option<&[f32]>,
    ) -> Result<f32> {
        let rows = x.num_rows();
        if let Some(w) = sample_weight {
            crate::error::check_len("train_step", "sample_weight", rows, w.len())?;
        }
        let out = self.model.try_forward_train(x)?;
        let pred = out.values();
        let target = y.values();
        let l = self.loss.compute(&pred, &target, rows, sample_weight)?;
        let grad = out.with_values(l.grad)?;
        self.model.backward(&grad);
        let params = self.model.params_mut();
        let mut params = match self.strategy.as_deref_mut() {
            Some(s) => {
                let averaged = s.average_gradients(&params)?;
                with_gradients(params, averaged)?
            }
            None => params,
        };
        self.optimizer.apply(&mut params)?;
        for (name, c) in &self.constraints {
            let p = params
                .iter_mut()
                .find(|p| p.name == name.as_str())
                .ok_or_else(|| {
                    NnError::invalid("constraint", format!("the model has no parameter `{name}`"))
                })?;
            c.apply(p.value, p.shape)?;
        }
        drop(params);
        self.model.apply_constraints()?;
        for m in &mut self.metrics {
            m.update(&pred, &target, rows, sample_weight)?;
        }
        Ok(l.value + self.model.regularization_loss())
    }

    fn reset_metrics(&mut self) {
        self.metrics.iter_mut().for_each(|m| m.reset());
    }

    /// Sets `logs` to the metrics' results and `loss` as [`Trainer::metric_logs`] would build
    /// them, reusing the keys already there.
    fn update_step_logs(&self, logs: &mut Logs, loss: f32) {
        let fresh =
            logs.len() != self.metrics.len() + 1 || !self.metrics.iter().all(|m| logs.contains_key(m.name()));
        if fresh {
            *logs = self.metric_logs("");
        } else {
            for m in &self.metrics {
                if let Some(v) = logs.get_mut(m.name()) {
                    *v = m.result();
                }
            }
        }
        match logs.get_mut("loss") {
            Some(v) => *v = loss,
            None => {
                logs.insert("loss".into(), loss);
            }
        }
    }

    fn metric_logs(&self, prefix: &str) -> Logs {
        self.metrics
            .iter()
            .map(|m| (format!("{prefix}{}", m.name()), m.result()))
            .collect()
    }
}
