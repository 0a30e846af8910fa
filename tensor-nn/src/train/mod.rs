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

pub mod callbacks;
mod progress;
pub mod tensorboard;

pub use callbacks::{Callback, TrainState};
pub use progress::ProgressBar;

use std::collections::BTreeMap;

use rand::seq::SliceRandom;

use crate::constraints::Constraint;
use crate::data::{Dataset, DatasetIter, ErrorPolicy, Rows};
use crate::distributed::strategy::{any_worker, average_logs, with_gradients};
use crate::distributed::Strategy;
use crate::error::{NnError, Result};
use crate::init::seeded_rng;
use crate::losses::Loss;
use crate::metrics::{Mean, Metric};
use crate::model::{Model, ParamMut, ParamRef};
use crate::non_finite::NonFinite;
use crate::optim::Optimizer;

/// Values by name (`loss`, `accuracy`, `val_loss`, `learning_rate`, …), sorted by name.
pub type Logs = BTreeMap<String, f32>;

/// What `fit` recorded: one value per epoch for every log key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The epochs run (0-based).
    pub epochs: Vec<usize>,
    /// Each log key's value at the end of each epoch.
    pub history: BTreeMap<String, Vec<f32>>,
}

/// The options of [`Trainer::fit`], with Keras' defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Epoch to stop before (the count includes `initial_epoch`).
    pub epochs: usize,
    /// Samples per step (Keras default 32).
    pub batch_size: usize,
    /// Steps per epoch (default: all the data once).
    pub steps_per_epoch: Option<usize>,
    /// Fraction of the data, taken from the end before shuffling, kept for validation.
    pub validation_split: f32,
    /// Shuffle the training samples every epoch.
    pub shuffle: bool,
    /// Seed of the shuffles (each epoch's order depends only on the seed and the epoch).
    pub seed: u64,
    /// Epoch to start from (to resume).
    pub initial_epoch: usize,
    /// 0: silent, 1: progress bar, 2: one line per epoch.
    pub verbose: u8,
    /// Keras' `class_weight`: entry `c` weighs the loss and the metrics of every training sample
    /// of class `c` (the target's value for one value per sample, its arg-max for one-hot
    /// targets). Validation is not weighted, as in Keras.
    pub class_weight: Option<Vec<f32>>,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 32,
            steps_per_epoch: None,
            validation_split: 0.0,
            shuffle: true,
            seed: 0,
            initial_epoch: 0,
            verbose: 1,
            class_weight: None,
        }
    }
}

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
}

/// What the callbacks of one `fit` can set: stop, and why when it is a non-finite value.
#[derive(Default)]
struct Flags {
    stop: bool,
    non_finite: Option<NonFinite>,
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
        let out = self.model.forward_train(x);
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

    /// Trains for `config.epochs − config.initial_epoch` epochs.
    ///
    /// # Errors
    /// When `x` and `y` have different numbers of samples, there is no training data, or a
    /// step or callback fails. [`NnError::NonFinite`] when training stopped at a NaN or an
    /// infinity in a gradient, a parameter or (with [`TerminateOnNaN`](callbacks::TerminateOnNaN))
    /// the loss: the report names the epoch, the step and the parameter; the epoch it stopped
    /// in gets no epoch-end callbacks (no checkpoint) and no history entry.
    pub fn fit<Y: Rows>(
        &mut self,
        x: &M::Input,
        y: &Y,
        config: &FitConfig,
        validation_data: Option<(&M::Input, &Y)>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        self.fit_impl(x, y, None, config, validation_data, callbacks)
    }

    /// As [`Trainer::fit`], with Keras' `sample_weight`: one weight per sample of `x`, applied
    /// to the training loss and metrics (multiplied by `config.class_weight` when both are
    /// given). Validation is not weighted.
    ///
    /// # Errors
    /// As [`Trainer::fit`], and when `sample_weight` has not one value per sample.
    pub fn fit_weighted<Y: Rows>(
        &mut self,
        x: &M::Input,
        y: &Y,
        sample_weight: &[f32],
        config: &FitConfig,
        validation_data: Option<(&M::Input, &Y)>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        crate::error::check_len("fit", "sample_weight", x.num_rows(), sample_weight.len())?;
        self.fit_impl(x, y, Some(sample_weight), config, validation_data, callbacks)
    }

    fn fit_impl<Y: Rows>(
        &mut self,
        x: &M::Input,
        y: &Y,
        sample_weight: Option<&[f32]>,
        config: &FitConfig,
        validation_data: Option<(&M::Input, &Y)>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let n = x.num_rows();
        if y.num_rows() != n {
            return Err(NnError::invalid(
                "fit",
                format!("x has {n} samples but y has {}", y.num_rows()),
            ));
        }
        if !(0.0..1.0).contains(&config.validation_split) {
            return Err(NnError::invalid("fit", "validation_split must be in [0, 1)"));
        }
        let n_val = if validation_data.is_none() {
            (n as f64 * f64::from(config.validation_split)).floor() as usize
        } else {
            0
        };
        let n_train = n - n_val;
        if n_train == 0 {
            return Err(NnError::invalid("fit", "no training samples"));
        }
        let split_val = if n_val > 0 {
            let idx: Vec<usize> = (n_train..n).collect();
            Some((x.gather_rows(&idx)?, y.gather_rows(&idx)?))
        } else {
            None
        };
        let val: Option<(&M::Input, &Y)> = validation_data.or(split_val.as_ref().map(|(a, b)| (a, b)));
        // Under a strategy each step takes a global batch of `batch_size × world` samples, and
        // the workers train on its consecutive slices; a last partial global batch is dropped
        // so that every worker makes the same number of steps.
        let (rank, world) = self.worker();
        let full = if world > 1 {
            n_train / (config.batch_size.max(1) * world)
        } else {
            batches(n_train, config.batch_size)
        };
        if full == 0 {
            return Err(NnError::invalid(
                "fit",
                format!("{n_train} training samples do not fill one batch on each of {world} workers"),
            ));
        }
        let steps = config.steps_per_epoch.unwrap_or(usize::MAX).min(full);
        let mut source = MemorySource {
            x,
            y,
            sample_weight,
            last: Vec::new(),
            n_train,
            batch_size: config.batch_size.max(1),
            steps,
            shuffle: config.shuffle,
            seed: config.seed,
            order: Vec::new(),
            step: 0,
            rank,
            world,
            spare: None,
        };
        let bs = config.batch_size;
        let mut validate = |t: &mut Self| -> Result<Option<Logs>> {
            match val {
                Some((xv, yv)) => t.evaluate(xv, yv, bs).map(Some),
                None => Ok(None),
            }
        };
        self.fit_loop(&mut source, config, &mut validate, callbacks)
    }

    /// Trains on an input pipeline: `fit` for a [`Dataset`] of `(input, target)` batches,
    /// as Keras' `model.fit(dataset, validation_data=val_dataset)`.
    ///
    /// Without `config.steps_per_epoch`, one epoch is one pass of the dataset (a fresh
    /// [`Dataset::iter`], so a `shuffle` stage reshuffles). With `steps_per_epoch = k`, every
    /// epoch takes the next `k` batches of one iterator kept across epochs (as Keras does); when
    /// it runs out, the epoch ends early and the next one starts a new pass. `batch_size`,
    /// `shuffle`, `seed` and `validation_split` do not apply: batching and shuffling are the
    /// pipeline's stages. Callbacks and the [`History`] behave as for [`Trainer::fit`]; fed
    /// the same batches in the same order, the weights are bit-for-bit those of `fit`.
    ///
    /// Under [`ErrorPolicy::Skip`] the elements the pipeline
    /// dropped in each epoch are logged as `skipped` (`val_skipped` for the validation
    /// pipeline), recorded in the history and, with `verbose > 0`, printed at the end of the
    /// epoch with the first error.
    ///
    /// # Errors
    /// [`NnError::Data`] for an error of the pipeline under the default
    /// [`ErrorPolicy::Fail`] (it names the file, line and
    /// column of a bad CSV row); an epoch with no batch at all; a failing step or callback.
    pub fn fit_dataset<Y>(
        &mut self,
        train: &Dataset<(M::Input, Y)>,
        validation: Option<&Dataset<(M::Input, Y)>>,
        config: &FitConfig,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History>
    where
        M::Input: Send + 'static,
        Y: Rows + Send + 'static,
    {
        self.fit_dataset_impl(train, validation, config, callbacks)
    }

    /// As [`Trainer::fit_dataset`] over batches of `(inputs, targets, sample_weights)`: Keras'
    /// `fit` on a dataset yielding `(x, y, sample_weight)`. The weights multiply the training
    /// loss and metrics of their samples (and `config.class_weight` when both are given);
    /// validation is not weighted.
    ///
    /// # Errors
    /// As [`Trainer::fit_dataset`], and when a batch has not one weight per sample.
    pub fn fit_dataset_weighted<Y>(
        &mut self,
        train: &Dataset<(M::Input, Y, Vec<f32>)>,
        validation: Option<&Dataset<(M::Input, Y)>>,
        config: &FitConfig,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History>
    where
        M::Input: Send + 'static,
        Y: Rows + Send + 'static,
    {
        self.fit_dataset_impl(train, validation, config, callbacks)
    }

    fn fit_dataset_impl<Y, T>(
        &mut self,
        train: &Dataset<T>,
        validation: Option<&Dataset<(M::Input, Y)>>,
        config: &FitConfig,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History>
    where
        M::Input: Send + 'static,
        Y: Rows + Send + 'static,
        T: FitBatch<M::Input, Y> + Send + 'static,
    {
        let mut source = DatasetSource {
            ds: train,
            limit: config.steps_per_epoch,
            iter: None,
            fresh: false,
            step: 0,
            last_steps: 0,
            skipped_at_begin: 0,
            ended: None,
            weights: None,
        };
        let mut validate = |t: &mut Self| -> Result<Option<Logs>> {
            match validation {
                Some(v) => t.evaluate_dataset(v).map(Some),
                None => Ok(None),
            }
        };
        self.fit_loop(&mut source, config, &mut validate, callbacks)
    }

    fn fit_loop<Y: Rows>(
        &mut self,
        source: &mut dyn BatchSource<M::Input, Y>,
        config: &FitConfig,
        validate: &mut dyn FnMut(&mut Self) -> Result<Option<Logs>>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let result = self.fit_steps(source, config, validate, callbacks);
        if let (Err(e), Some(s)) = (&result, self.strategy.as_deref_mut()) {
            s.on_error(e);
        }
        result
    }

    fn fit_steps<Y: Rows>(
        &mut self,
        source: &mut dyn BatchSource<M::Input, Y>,
        config: &FitConfig,
        validate: &mut dyn FnMut(&mut Self) -> Result<Option<Logs>>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let quiet;
        let config = if self.strategy.as_ref().is_some_and(|s| !s.is_chief()) {
            quiet = FitConfig {
                verbose: 0,
                ..config.clone()
            };
            &quiet
        } else {
            config
        };
        if let Some(s) = self.strategy.as_deref_mut() {
            s.broadcast_params(&mut self.model.params_mut())?;
        }
        let mut progress = ProgressBar::new(config.verbose);
        let mut history = History::default();
        let mut state_flags = Flags::default();
        {
            let mut st = self.state(config, source.steps_hint(), &mut state_flags);
            if config.verbose > 0 {
                progress.on_train_begin(&mut st)?;
            }
            for cb in callbacks.iter_mut() {
                cb.on_train_begin(&mut st)?;
            }
        }
        let mut last_logs = Logs::new();
        // The per-step logs, updated in place (no allocation after the first step); built only
        // when a progress bar or a callback reads them.
        let mut step_logs = Logs::new();
        let wants_step_logs = config.verbose > 0 || !callbacks.is_empty();
        'epochs: for epoch in config.initial_epoch..config.epochs {
            self.reset_metrics();
            let mut loss_mean = Mean::new("loss");
            source.begin_epoch(epoch)?;
            let steps = source.steps_hint();
            {
                let mut st = self.state(config, steps, &mut state_flags);
                if config.verbose > 0 {
                    progress.on_epoch_begin(epoch, &mut st)?;
                }
                for cb in callbacks.iter_mut() {
                    cb.on_epoch_begin(epoch, &mut st)?;
                }
            }
            let mut step = 0;
            let mut seen = 0usize;
            loop {
                let next = source.next_batch()?;
                // Under a strategy the epoch ends when any worker's data ends, so that every
                // worker makes the same steps.
                if let Some(s) = self.strategy.as_deref_mut() {
                    if any_worker(s, next.is_none())? {
                        break;
                    }
                }
                let Some((xb, yb)) = next else { break };
                let rows = xb.num_rows();
                let weights = match (&config.class_weight, source.batch_weights()) {
                    (Some(cw), Some(sw)) => Some(
                        class_weights(cw, &yb)?
                            .iter()
                            .zip(&sw)
                            .map(|(c, s)| c * s)
                            .collect(),
                    ),
                    (Some(cw), None) => Some(class_weights(cw, &yb)?),
                    (None, sw) => sw,
                };
                let result = self.train_step_weighted(&xb, &yb, weights.as_deref());
                source.recycle((xb, yb));
                // Under a strategy the workers agree on a failed step (a non-trainable value
                // such as a moving mean can turn non-finite on one worker only).
                let failed = matches!(result, Err(NnError::NonFinite(_)));
                let failed_anywhere = match self.strategy.as_deref_mut() {
                    Some(s) => any_worker(s, failed)?,
                    None => failed,
                };
                if failed_anywhere {
                    let mut report = match result {
                        Err(NnError::NonFinite(r)) => *r,
                        _ => NonFinite {
                            epoch: None,
                            step: None,
                            iteration: self.optimizer.iterations(),
                            tensor: None,
                            detail: "another worker met a non-finite value in this step".into(),
                            update_applied: false,
                        },
                    };
                    (report.epoch, report.step) = (Some(epoch), Some(step));
                    state_flags.non_finite = Some(report);
                    state_flags.stop = true;
                    let mut st = self.state(config, steps, &mut state_flags);
                    for cb in callbacks.iter_mut() {
                        cb.on_train_batch_end(step, &step_logs, &mut st)?;
                    }
                    // The epoch is not finished: no epoch-end callbacks (a checkpoint of this
                    // state would replace a good one), no history entry.
                    break 'epochs;
                }
                let loss = result?;
                loss_mean.update_value(loss, rows as f32);
                seen += rows;
                // Under a strategy every worker averages the step's logs (a collective call), so
                // all of them must take this branch, whether or not they show anything.
                if wants_step_logs || self.strategy.is_some() {
                    self.update_step_logs(&mut step_logs, loss_mean.result());
                    self.reduce_logs(&mut step_logs, seen as f64)?;
                    let mut st = self.state(config, steps, &mut state_flags);
                    if config.verbose > 0 {
                        progress.on_train_batch_end(step, &step_logs, &mut st)?;
                    }
                    for cb in callbacks.iter_mut() {
                        cb.on_train_batch_end(step, &step_logs, &mut st)?;
                    }
                }
                step += 1;
                if let Some(s) = self.strategy.as_deref_mut() {
                    state_flags.stop = any_worker(s, state_flags.stop)?;
                }
                // A callback (TerminateOnNaN on a NaN loss) reported a non-finite value: stop
                // as for one met by the optimizer, without the epoch-end callbacks.
                if state_flags.non_finite.is_some() {
                    break 'epochs;
                }
                if state_flags.stop {
                    break;
                }
            }
            let skipped = source.end_epoch();
            let mut logs = self.metric_logs("");
            logs.insert("loss".into(), loss_mean.result());
            self.reduce_logs(&mut logs, seen as f64)?;
            if let Some((count, _)) = &skipped {
                logs.insert("skipped".into(), *count as f32);
            }
            if let Some(val_logs) = validate(self)? {
                for (k, v) in val_logs {
                    logs.insert(format!("val_{k}"), v);
                }
            }
            logs.insert("learning_rate".into(), self.optimizer.learning_rate());
            {
                let mut st = self.state(config, step, &mut state_flags);
                for cb in callbacks.iter_mut() {
                    cb.on_epoch_end(epoch, &logs, &mut st)?;
                }
                if config.verbose > 0 {
                    progress.on_epoch_end(epoch, &logs, &mut st)?;
                }
            }
            if let Some(s) = self.strategy.as_deref_mut() {
                state_flags.stop = any_worker(s, state_flags.stop)?;
            }
            if config.verbose > 0 {
                if let Some((count, first)) = skipped.filter(|(c, _)| *c > 0) {
                    println!(
                        "Epoch {}: the input pipeline skipped {count} element(s); first: {}",
                        epoch + 1,
                        first.unwrap_or_default()
                    );
                }
            }
            history.epochs.push(epoch);
            for (k, v) in &logs {
                history.history.entry(k.clone()).or_default().push(*v);
            }
            last_logs = logs;
            if state_flags.stop {
                break;
            }
        }
        let mut st = self.state(config, source.steps_hint(), &mut state_flags);
        for cb in callbacks.iter_mut() {
            cb.on_train_end(&last_logs, &mut st)?;
        }
        match state_flags.non_finite {
            Some(report) => Err(NnError::NonFinite(Box::new(report))),
            None => Ok(history),
        }
    }

    fn state<'a>(&'a mut self, config: &FitConfig, steps: usize, flags: &'a mut Flags) -> TrainState<'a> {
        TrainState {
            model: &mut self.model,
            optimizer: &mut self.optimizer,
            stop_training: &mut flags.stop,
            non_finite: &mut flags.non_finite,
            epochs: config.epochs,
            steps_per_epoch: steps,
        }
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

    /// Loss and metrics over `(x, y)` in inference mode, in batches of `batch_size`. Under a
    /// strategy every worker must call it: each evaluates its share and the logs are averaged.
    ///
    /// # Errors
    /// When `x` and `y` have different numbers of samples or the loss rejects the targets.
    pub fn evaluate<Y: Rows>(&mut self, x: &M::Input, y: &Y, batch_size: usize) -> Result<Logs> {
        let n = x.num_rows();
        if y.num_rows() != n {
            return Err(NnError::invalid(
                "evaluate",
                format!("x has {n} samples but y has {}", y.num_rows()),
            ));
        }
        self.reset_metrics();
        let mut loss_mean = Mean::new("loss");
        let bs = batch_size.max(1);
        // Under a strategy each worker evaluates its contiguous share of the samples.
        let (rank, world) = self.worker();
        let (lo, hi) = (n * rank / world, n * (rank + 1) / world);
        for b in 0..batches(hi - lo, bs) {
            let idx: Vec<usize> = (lo + b * bs..(lo + (b + 1) * bs).min(hi)).collect();
            let (xb, yb) = (x.gather_rows(&idx)?, y.gather_rows(&idx)?);
            self.eval_batch(&xb, &yb, &mut loss_mean)?;
        }
        let mut logs = self.metric_logs("");
        logs.insert("loss".into(), loss_mean.result());
        self.reduce_logs(&mut logs, (hi - lo) as f64)?;
        self.reset_metrics();
        Ok(logs)
    }

    /// Loss and metrics over one pass of a [`Dataset`] of `(input, target)` batches, in
    /// inference mode: Keras' `model.evaluate(dataset)`. Under
    /// [`ErrorPolicy::Skip`] the logs also hold `skipped`,
    /// the number of elements the pipeline dropped.
    ///
    /// # Errors
    /// [`NnError::Data`] for an error of the pipeline; a dataset with no batch; targets the
    /// loss rejects.
    pub fn evaluate_dataset<Y>(&mut self, data: &Dataset<(M::Input, Y)>) -> Result<Logs>
    where
        M::Input: Send + 'static,
        Y: Rows + Send + 'static,
    {
        self.reset_metrics();
        let mut loss_mean = Mean::new("loss");
        let mut it = data.iter()?;
        let (mut seen, mut rows) = (0usize, 0usize);
        for batch in it.by_ref() {
            let (xb, yb) = batch?;
            rows += xb.num_rows();
            self.eval_batch(&xb, &yb, &mut loss_mean)?;
            seen += 1;
        }
        if seen == 0 {
            return Err(NnError::invalid("evaluate", "the dataset yielded no batch"));
        }
        let mut logs = self.metric_logs("");
        logs.insert("loss".into(), loss_mean.result());
        self.reduce_logs(&mut logs, rows as f64)?;
        if data.error_policy() == ErrorPolicy::Skip {
            logs.insert("skipped".into(), it.skipped() as f32);
        }
        self.reset_metrics();
        Ok(logs)
    }

    fn eval_batch<Y: Rows>(&mut self, xb: &M::Input, yb: &Y, loss_mean: &mut Mean) -> Result<()> {
        let rows = xb.num_rows();
        if yb.num_rows() != rows {
            return Err(NnError::invalid(
                "evaluate",
                format!("a batch has {rows} inputs but {} targets", yb.num_rows()),
            ));
        }
        let out = self.model.forward(xb);
        let pred = out.values();
        let target = yb.values();
        let l = self.loss.compute(&pred, &target, rows, None)?;
        loss_mean.update_value(l.value + self.model.regularization_loss(), rows as f32);
        for m in &mut self.metrics {
            m.update(&pred, &target, rows, None)?;
        }
        Ok(())
    }

    /// The model's outputs for every batch of a [`Dataset`] of inputs, concatenated in order:
    /// Keras' `model.predict(dataset)`. (For a dataset of `(input, target)` pairs, `map` it to
    /// its inputs first.)
    ///
    /// # Errors
    /// [`NnError::Data`] for an error of the pipeline; a dataset with no batch.
    pub fn predict_dataset(&self, data: &Dataset<M::Input>) -> Result<M::Output>
    where
        M::Input: Send + 'static,
    {
        predict_dataset(&self.model, data)
    }

    /// The model's outputs for every sample of `x`, computed in batches of `batch_size`.
    ///
    /// # Errors
    /// When `x` has no samples.
    pub fn predict(&self, x: &M::Input, batch_size: usize) -> Result<M::Output> {
        predict(&self.model, x, batch_size)
    }
}

/// The outputs of `model` for every sample of `x`, in batches of `batch_size`.
///
/// # Errors
/// When `x` has no samples.
pub fn predict<M: Model>(model: &M, x: &M::Input, batch_size: usize) -> Result<M::Output>
where
    M::Input: Rows,
    M::Output: Rows,
{
    let n = x.num_rows();
    let bs = batch_size.max(1);
    if n <= bs {
        return Ok(model.forward(x));
    }
    let parts = (0..batches(n, bs))
        .map(|b| {
            let idx: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
            Ok(model.forward(&x.gather_rows(&idx)?))
        })
        .collect::<Result<Vec<_>>>()?;
    M::Output::concat_rows(&parts)
}

/// As [`predict`], with the batches spread over the kernels' thread pool (its size is
/// `tensor_core::kernels::num_threads()`); the result is identical to [`predict`]'s.
///
/// # Errors
/// When `x` has no samples.
pub fn predict_parallel<M>(model: &M, x: &M::Input, batch_size: usize) -> Result<M::Output>
where
    M: Model + Sync,
    M::Input: Rows + Sync + Send,
    M::Output: Rows + Send,
{
    use rayon::prelude::*;
    let n = x.num_rows();
    let bs = batch_size.max(1);
    if n <= bs {
        return Ok(model.forward(x));
    }
    let parts = tensor_core::kernels::threads::install(|| {
        (0..batches(n, bs))
            .into_par_iter()
            .map(|b| {
                let idx: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
                Ok(model.forward(&x.gather_rows(&idx)?))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    M::Output::concat_rows(&parts)
}

/// The outputs of `model` for every batch of `data`, concatenated in order.
///
/// # Errors
/// [`NnError::Data`] for an error of the pipeline; a dataset with no batch.
pub fn predict_dataset<M: Model>(model: &M, data: &Dataset<M::Input>) -> Result<M::Output>
where
    M::Input: Rows + Send + 'static,
    M::Output: Rows,
{
    let parts = data
        .iter()?
        .map(|xb| Ok(model.forward(&xb?)))
        .collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Err(NnError::invalid("predict", "the dataset yielded no batch"));
    }
    M::Output::concat_rows(&parts)
}

/// One weight per sample of `y` from the per-class weights `cw`.
fn class_weights<Y: Rows>(cw: &[f32], y: &Y) -> Result<Vec<f32>> {
    let rows = y.num_rows().max(1);
    let values = y.values();
    let width = values.len() / rows;
    values
        .chunks(width.max(1))
        .map(|row| {
            let class = if row.len() == 1 {
                row[0]
            } else {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0.0, |(i, _)| i as f32)
            };
            let ok = class >= 0.0 && class.fract() == 0.0 && (class as usize) < cw.len();
            if ok {
                Ok(cw[class as usize])
            } else {
                Err(NnError::invalid(
                    "fit",
                    format!(
                        "class_weight has {} entries but a target is class {class}",
                        cw.len()
                    ),
                ))
            }
        })
        .collect()
}

/// Where the batches of each training epoch come from: in-memory tensors or a [`Dataset`].
trait BatchSource<X, Y> {
    /// Steps of the coming epoch when known, else 0.
    fn steps_hint(&self) -> usize;
    /// Starts an epoch.
    fn begin_epoch(&mut self, epoch: usize) -> Result<()>;
    /// The next batch of the epoch, or `None` at its end.
    fn next_batch(&mut self) -> Result<Option<(X, Y)>>;
    /// The sample weights of the batch `next_batch` last returned, if the source has any.
    fn batch_weights(&self) -> Option<Vec<f32>> {
        None
    }
    /// Ends the epoch: for a source that counts them, the elements skipped in the epoch and
    /// the first error skipped.
    fn end_epoch(&mut self) -> Option<(usize, Option<String>)>;
    /// Hands back a batch the trainer is done with, so that the source can refill its memory
    /// for the next one instead of allocating (the default drops it).
    fn recycle(&mut self, batch: (X, Y)) {
        drop(batch);
    }
}

/// `fit`'s in-memory source: the first `n_train` rows of `x` and `y`, shuffled per epoch.
struct MemorySource<'a, X, Y> {
    x: &'a X,
    y: &'a Y,
    n_train: usize,
    batch_size: usize,
    steps: usize,
    shuffle: bool,
    seed: u64,
    order: Vec<usize>,
    step: usize,
    sample_weight: Option<&'a [f32]>,
    /// The rows of the last batch.
    last: Vec<usize>,
    /// This worker's slice of each global batch of `batch_size × world` samples.
    rank: usize,
    world: usize,
    /// The batch last handed back by the trainer, refilled in place by `next_batch`.
    spare: Option<(X, Y)>,
}

impl<X: Rows, Y: Rows> BatchSource<X, Y> for MemorySource<'_, X, Y> {
    fn steps_hint(&self) -> usize {
        self.steps
    }

    fn begin_epoch(&mut self, epoch: usize) -> Result<()> {
        self.order = (0..self.n_train).collect();
        if self.shuffle {
            let mut rng = seeded_rng(self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            self.order.shuffle(&mut rng);
        }
        self.step = 0;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<(X, Y)>> {
        if self.step >= self.steps {
            return Ok(None);
        }
        let lo = (self.step * self.world + self.rank) * self.batch_size;
        let hi = (lo + self.batch_size).min(self.n_train);
        let idx = &self.order[lo..hi];
        self.step += 1;
        self.last.clear();
        self.last.extend_from_slice(idx);
        match self.spare.take() {
            Some((mut xb, mut yb)) => {
                self.x.gather_rows_into(idx, &mut xb)?;
                self.y.gather_rows_into(idx, &mut yb)?;
                Ok(Some((xb, yb)))
            }
            None => Ok(Some((self.x.gather_rows(idx)?, self.y.gather_rows(idx)?))),
        }
    }

    fn recycle(&mut self, batch: (X, Y)) {
        self.spare = Some(batch);
    }

    fn batch_weights(&self) -> Option<Vec<f32>> {
        self.sample_weight
            .map(|w| self.last.iter().map(|&i| w[i]).collect())
    }

    fn end_epoch(&mut self) -> Option<(usize, Option<String>)> {
        None
    }
}

/// `fit_dataset`'s source: passes of a [`Dataset`], cut to `limit` steps per epoch if set.
struct DatasetSource<'a, T> {
    ds: &'a Dataset<T>,
    limit: Option<usize>,
    iter: Option<DatasetIter<T>>,
    /// Whether `iter` has yielded nothing yet.
    fresh: bool,
    step: usize,
    /// Batches of the last finished epoch (the progress bar's length once known).
    last_steps: usize,
    /// `iter.skipped()` when the epoch began.
    skipped_at_begin: usize,
    /// Skip count and first skipped error of a pass that ended during this epoch.
    ended: Option<(usize, Option<String>)>,
    /// The sample weights of the last batch, for datasets of `(x, y, weights)`.
    weights: Option<Vec<f32>>,
}

/// An element of a dataset given to `fit_dataset`: a batch of inputs and targets, and for
/// `(x, y, weights)` one weight per sample.
pub trait FitBatch<X, Y> {
    /// The inputs, the targets and the sample weights if any.
    fn into_parts(self) -> (X, Y, Option<Vec<f32>>);
}

impl<X, Y> FitBatch<X, Y> for (X, Y) {
    fn into_parts(self) -> (X, Y, Option<Vec<f32>>) {
        (self.0, self.1, None)
    }
}

impl<X, Y> FitBatch<X, Y> for (X, Y, Vec<f32>) {
    fn into_parts(self) -> (X, Y, Option<Vec<f32>>) {
        (self.0, self.1, Some(self.2))
    }
}

impl<T: Send + 'static> DatasetSource<'_, T> {
    fn start_pass(&mut self) -> Result<()> {
        self.iter = Some(self.ds.iter()?);
        self.fresh = true;
        self.skipped_at_begin = 0;
        Ok(())
    }

    /// Closes the current pass, keeping what it skipped during this epoch.
    fn close_pass(&mut self) {
        if let Some(it) = self.iter.take() {
            let prev = self.ended.take().map_or(0, |(c, _)| c);
            let first = it.first_skipped().map(ToString::to_string);
            self.ended = Some((prev + it.skipped() - self.skipped_at_begin, first));
        }
    }
}

impl<X: Rows, Y: Rows, T: FitBatch<X, Y> + Send + 'static> BatchSource<X, Y> for DatasetSource<'_, T> {
    fn steps_hint(&self) -> usize {
        self.limit.unwrap_or(self.last_steps)
    }

    fn batch_weights(&self) -> Option<Vec<f32>> {
        self.weights.clone()
    }

    fn begin_epoch(&mut self, _epoch: usize) -> Result<()> {
        self.step = 0;
        self.ended = None;
        match &self.iter {
            Some(it) if self.limit.is_some() => {
                self.skipped_at_begin = it.skipped();
                Ok(())
            }
            _ => self.start_pass(),
        }
    }

    fn next_batch(&mut self) -> Result<Option<(X, Y)>> {
        if self.limit.is_some_and(|k| self.step >= k) {
            return Ok(None);
        }
        loop {
            let Some(it) = self.iter.as_mut() else {
                return Ok(None);
            };
            match it.next() {
                Some(Ok(batch)) => {
                    let (x, y, w) = batch.into_parts();
                    if x.num_rows() != y.num_rows() {
                        return Err(NnError::invalid(
                            "fit",
                            format!("a batch has {} inputs but {} targets", x.num_rows(), y.num_rows()),
                        ));
                    }
                    if let Some(w) = &w {
                        crate::error::check_len("fit", "sample weights of a batch", x.num_rows(), w.len())?;
                    }
                    self.weights = w;
                    self.fresh = false;
                    self.step += 1;
                    return Ok(Some((x, y)));
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    let was_fresh = self.fresh;
                    self.close_pass();
                    if was_fresh {
                        return Err(NnError::invalid("fit", "the dataset yielded no batch"));
                    }
                    // An iterator kept from the previous epoch that ran out exactly at its end:
                    // this epoch starts a new pass.
                    if self.step == 0 {
                        self.start_pass()?;
                        continue;
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn end_epoch(&mut self) -> Option<(usize, Option<String>)> {
        self.last_steps = self.step;
        if self.limit.is_none() {
            self.close_pass();
        }
        let mut out = self.ended.take().unwrap_or((0, None));
        if let Some(it) = &self.iter {
            out.0 += it.skipped() - self.skipped_at_begin;
            if out.1.is_none() {
                out.1 = it.first_skipped().map(ToString::to_string);
            }
        }
        (self.ds.error_policy() == ErrorPolicy::Skip).then_some(out)
    }
}
