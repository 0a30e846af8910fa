//! `fit` over in-memory tensors and over a `Dataset`: the epoch and step loop, its
//! callbacks, and the stop on a non-finite value.

use super::class_weight::class_weights;
use super::source::{BatchSource, DatasetSource, FitBatch, MemorySource};
use super::{batches, Callback, FitConfig, History, Logs, ProgressBar, TrainPosition, TrainState, Trainer};

use crate::data::{Dataset, Rows};
use crate::distributed::strategy::any_worker;
use crate::distributed::Strategy;
use crate::error::{NnError, Result};
use crate::metrics::{Mean, Metric};
use crate::model::Model;
use crate::non_finite::NonFinite;

/// What the callbacks of one `fit` can set: stop, and why when it is a non-finite value.
#[derive(Default)]
struct Flags {
    stop: bool,
    non_finite: Option<NonFinite>,
}

impl<M: Model> Trainer<M>
where
    M::Input: Rows,
    M::Output: Rows,
{
    /// Trains for `config.epochs − config.initial_epoch` epochs.
    ///
    /// # Errors
    /// When `x` and `y` have different numbers of samples, there is no training data, or a
    /// step or callback fails. [`NnError::NonFinite`] when training stopped at a NaN or an
    /// infinity in a gradient, a parameter or (with [`TerminateOnNaN`](super::callbacks::TerminateOnNaN))
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
    /// Under [`ErrorPolicy::Skip`](crate::data::ErrorPolicy::Skip) the elements the pipeline
    /// dropped in each epoch are logged as `skipped` (`val_skipped` for the validation
    /// pipeline), recorded in the history and, with `verbose > 0`, printed at the end of the
    /// epoch with the first error.
    ///
    /// # Errors
    /// [`NnError::Data`] for an error of the pipeline under the default
    /// [`ErrorPolicy::Fail`](crate::data::ErrorPolicy::Fail) (it names the file, line and
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
            next_pass: config.initial_epoch as u64,
            pass_batches: 0,
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
        let mut resume: Option<TrainPosition> = None;
        {
            let mut st = self.state(config, source.steps_hint(), &mut state_flags);
            for cb in callbacks.iter_mut() {
                if let Some(at) = cb.on_train_restore(&mut st)? {
                    if resume.is_some() {
                        return Err(NnError::invalid(
                            "fit",
                            "two callbacks restored a training state; keep one BackupAndRestore",
                        ));
                    }
                    resume = Some(at);
                }
            }
        }
        let first_epoch = resume.as_ref().map_or(config.initial_epoch, |at| at.epoch);
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
        'epochs: for epoch in first_epoch..config.epochs {
            self.reset_metrics();
            let mut loss_mean = Mean::new("loss");
            // The epoch an interrupted run stopped in goes on at its next step; its logs cover
            // the steps run from here.
            let resumed = resume.take().filter(|at| at.epoch == epoch);
            match &resumed {
                Some(at) => source.resume_epoch(at)?,
                None => source.begin_epoch(epoch)?,
            }
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
            let mut step = resumed.map_or(0, |at| at.step);
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
                if !callbacks.is_empty() {
                    let at = TrainPosition::new(epoch, step, source.data_position());
                    let mut st = self.state(config, steps, &mut state_flags);
                    for cb in callbacks.iter_mut() {
                        cb.on_train_position(&at, &step_logs, &mut st)?;
                    }
                }
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
                let at = TrainPosition::new(epoch + 1, 0, source.data_position());
                for cb in callbacks.iter_mut() {
                    cb.on_train_position(&at, &logs, &mut st)?;
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
}
