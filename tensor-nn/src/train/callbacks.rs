//! Callbacks run by [`Trainer::fit`](super::Trainer::fit), with Keras 3's semantics:
//! [`EarlyStopping`], [`ReduceLROnPlateau`], [`LearningRateScheduler`], [`TerminateOnNaN`],
//! [`CsvLogger`], [`ModelCheckpoint`]; the TensorBoard writer lives in
//! [`tensorboard`](super::tensorboard).

use std::io::Write;
use std::path::PathBuf;

use super::{Logs, ModelParams, TrainPosition};
use crate::error::{NnError, Result};
use crate::io::safetensors::{save_checkpoint, save_weights, CheckpointInfo};
use crate::non_finite::{first_non_finite_in, NonFinite};
use crate::optim::Optimizer;

/// What a callback can see and change during `fit`.
pub struct TrainState<'a> {
    /// The model's parameters.
    pub model: &'a mut dyn ModelParams,
    /// The optimizer (e.g. to change the learning rate).
    pub optimizer: &'a mut Optimizer,
    /// Set to `true` to stop after the current step or epoch.
    pub stop_training: &'a mut bool,
    /// Set by `fit` when a step met a NaN or an infinity (the step's callbacks see it, then
    /// `fit` stops and returns [`NnError::NonFinite`]); a callback may set it too, to make
    /// `fit` return that error once it stops.
    pub non_finite: &'a mut Option<NonFinite>,
    /// The `epochs` of the fit.
    pub epochs: usize,
    /// Steps in each epoch.
    pub steps_per_epoch: usize,
}

/// A hook into `fit`; every method defaults to doing nothing.
#[allow(unused_variables)]
pub trait Callback {
    /// Before the first epoch.
    ///
    /// # Errors
    /// An error stops `fit` and is returned from it.
    fn on_train_begin(&mut self, state: &mut TrainState<'_>) -> Result<()> {
        Ok(())
    }
    /// Before each epoch (0-based).
    ///
    /// # Errors
    /// An error stops `fit` and is returned from it.
    fn on_epoch_begin(&mut self, epoch: usize, state: &mut TrainState<'_>) -> Result<()> {
        Ok(())
    }
    /// After each training step, with the running loss and metrics of the epoch.
    ///
    /// # Errors
    /// An error stops `fit` and is returned from it.
    fn on_train_batch_end(&mut self, step: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        Ok(())
    }
    /// After each epoch, with its loss, metrics, validation values and learning rate.
    ///
    /// # Errors
    /// An error stops `fit` and is returned from it.
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        Ok(())
    }
    /// After the last epoch, with its logs.
    ///
    /// # Errors
    /// An error is returned from `fit`.
    fn on_train_end(&mut self, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        Ok(())
    }
    /// Before `on_train_begin`: a callback that keeps a backup of the training state
    /// ([`BackupAndRestore`](super::BackupAndRestore)) loads it into the model and the
    /// optimizer and returns where the interrupted run stood; `fit` then goes on from there
    /// (at most one callback of a `fit` may return a position).
    ///
    /// # Errors
    /// An error stops `fit` and is returned from it.
    fn on_train_restore(&mut self, state: &mut TrainState<'_>) -> Result<Option<TrainPosition>> {
        Ok(None)
    }
    /// Where training stands whenever its state is complete: after the `on_train_batch_end`
    /// callbacks of every step, and after the `on_epoch_end` callbacks of every epoch (then
    /// `position.step` is 0 and `position.epoch` the next epoch), with those logs.
    ///
    /// # Errors
    /// An error stops `fit` and is returned from it.
    fn on_train_position(
        &mut self,
        position: &TrainPosition,
        logs: &Logs,
        state: &mut TrainState<'_>,
    ) -> Result<()> {
        Ok(())
    }
}

/// Whether a monitored value should go down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `Max` for accuracy-like names (`acc`, `accuracy`, `auc`, `precision`, `recall`), else `Min`.
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl Mode {
    fn maximize(self, monitor: &str) -> bool {
        match self {
            Mode::Min => false,
            Mode::Max => true,
            Mode::Auto => ["acc", "accuracy", "auc", "precision", "recall"]
                .iter()
                .any(|s| monitor.ends_with(s)),
        }
    }
}

fn snapshot(model: &dyn ModelParams) -> Vec<Vec<f32>> {
    model.param_refs().iter().map(|p| p.value.to_vec()).collect()
}

fn restore(model: &mut dyn ModelParams, weights: &[Vec<f32>]) {
    for (p, w) in model.param_muts().into_iter().zip(weights) {
        p.value.copy_from_slice(w);
    }
}

/// Stops training when a monitored value has stopped improving (Keras' `EarlyStopping`).
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    /// The log key watched (default `val_loss`).
    pub monitor: String,
    /// Smallest change that counts as an improvement.
    pub min_delta: f32,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Direction of improvement.
    pub mode: Mode,
    /// A value the monitored one must beat.
    pub baseline: Option<f32>,
    /// Put back the best epoch's weights when stopping.
    pub restore_best_weights: bool,
    /// Epochs to wait before watching.
    pub start_from_epoch: usize,
    wait: usize,
    best: Option<f32>,
    best_weights: Option<Vec<Vec<f32>>>,
    /// The epoch at which training was stopped, if it was.
    pub stopped_epoch: Option<usize>,
    /// The epoch with the best value.
    pub best_epoch: Option<usize>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self::new("val_loss", 0)
    }
}

impl EarlyStopping {
    /// Watches `monitor` with the given patience, Keras' other defaults.
    pub fn new(monitor: impl Into<String>, patience: usize) -> Self {
        Self {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_weights: None,
            stopped_epoch: None,
            best_epoch: None,
        }
    }

    fn improved(&self, current: f32, reference: Option<f32>) -> bool {
        let Some(r) = reference else { return true };
        let d = self.min_delta.abs();
        if self.mode.maximize(&self.monitor) {
            current - d > r
        } else {
            current + d < r
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _state: &mut TrainState<'_>) -> Result<()> {
        self.wait = 0;
        self.best = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        self.best_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        let Some(&current) = logs.get(&self.monitor) else {
            return Err(NnError::invalid(
                "EarlyStopping",
                format!(
                    "monitored `{}` is not in the logs ({:?})",
                    self.monitor,
                    logs.keys().collect::<Vec<_>>()
                ),
            ));
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(snapshot(state.model));
        }
        self.wait += 1;
        if self.improved(current, self.best) {
            self.best = Some(current);
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(snapshot(state.model));
            }
            if self.baseline.is_none() || self.improved(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            *state.stop_training = true;
            if let Some(w) = self.best_weights.as_ref().filter(|_| self.restore_best_weights) {
                restore(state.model, w);
            }
        }
        Ok(())
    }
}

/// Multiplies the learning rate by `factor` when a monitored value stops improving
/// (Keras' `ReduceLROnPlateau`).
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    /// The log key watched (default `val_loss`).
    pub monitor: String,
    /// Factor applied to the learning rate (default 0.1).
    pub factor: f32,
    /// Epochs without improvement before reducing (default 10).
    pub patience: usize,
    /// Direction of improvement.
    pub mode: Mode,
    /// Smallest change that counts as an improvement (default 1e-4).
    pub min_delta: f32,
    /// Epochs to wait after a reduction (default 0).
    pub cooldown: usize,
    /// Lower bound of the learning rate (default 0).
    pub min_lr: f32,
    wait: usize,
    cooldown_counter: usize,
    best: Option<f32>,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        Self {
            monitor: "val_loss".into(),
            factor: 0.1,
            patience: 10,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
            best: None,
        }
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _state: &mut TrainState<'_>) -> Result<()> {
        self.wait = 0;
        self.cooldown_counter = 0;
        self.best = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        let Some(&current) = logs.get(&self.monitor) else {
            return Err(NnError::invalid(
                "ReduceLROnPlateau",
                format!("monitored `{}` is not in the logs", self.monitor),
            ));
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        let better = match self.best {
            None => true,
            Some(b) if self.mode.maximize(&self.monitor) => current > b + self.min_delta,
            Some(b) => current < b - self.min_delta,
        };
        if better {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old = state.optimizer.learning_rate();
                if old > self.min_lr {
                    state
                        .optimizer
                        .set_learning_rate((old * self.factor).max(self.min_lr));
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}

/// Sets the learning rate at the start of each epoch from `schedule(epoch, current_lr)`.
pub struct LearningRateScheduler<F: FnMut(usize, f32) -> f32> {
    schedule: F,
}

impl<F: FnMut(usize, f32) -> f32> LearningRateScheduler<F> {
    /// A scheduler calling `schedule(epoch, lr)`.
    pub fn new(schedule: F) -> Self {
        Self { schedule }
    }
}

impl<F: FnMut(usize, f32) -> f32> Callback for LearningRateScheduler<F> {
    fn on_epoch_begin(&mut self, epoch: usize, state: &mut TrainState<'_>) -> Result<()> {
        let lr = (self.schedule)(epoch, state.optimizer.learning_rate());
        if !lr.is_finite() {
            return Err(NnError::invalid(
                "LearningRateScheduler",
                format!("schedule returned {lr} at epoch {epoch}"),
            ));
        }
        state.optimizer.set_learning_rate(lr);
        Ok(())
    }
}

/// Stops training at the first non-finite loss, gradient or parameter, naming the epoch, the
/// step and the first tensor that holds a NaN or an infinity (Keras' `TerminateOnNaN`, which
/// watches only the loss).
///
/// `fit` itself stops at a non-finite gradient or parameter and returns
/// [`NnError::NonFinite`]; this callback adds the loss to what is watched (a NaN loss whose
/// gradient is finite), prints the reason and keeps it in [`TerminateOnNaN::reason`]. A fit it
/// stops returns [`NnError::NonFinite`] too, never a plain `Ok`.
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN {
    epoch: usize,
    /// Why training was stopped, if it was.
    pub reason: Option<String>,
}

impl Callback for TerminateOnNaN {
    fn on_epoch_begin(&mut self, epoch: usize, _state: &mut TrainState<'_>) -> Result<()> {
        self.epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, step: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        let msg = match state.non_finite.as_ref() {
            Some(report) => report.to_string(),
            None => {
                let loss = logs.get("loss").copied().unwrap_or(0.0);
                if loss.is_finite() {
                    return Ok(());
                }
                let tensor = first_non_finite_in(state.model.param_refs().iter().map(|p| (p.name, p.value)))
                    .map(|(name, i, v)| (name.to_string(), i, v));
                let detail = match &tensor {
                    Some((name, i, v)) => format!("the loss is {loss}; `{name}` is {v} at element {i}"),
                    None => format!("the loss is {loss}; every parameter is finite"),
                };
                let report = NonFinite {
                    epoch: Some(self.epoch),
                    step: Some(step),
                    iteration: state.optimizer.iterations().saturating_sub(1),
                    tensor: tensor.map(|(name, _, _)| name),
                    detail,
                    update_applied: true,
                };
                let msg = report.to_string();
                *state.non_finite = Some(report);
                msg
            }
        };
        eprintln!("TerminateOnNaN: {msg}; terminating training");
        self.reason = Some(msg);
        *state.stop_training = true;
        Ok(())
    }
}

/// Appends each epoch's logs to a CSV file (`epoch` then the log keys, sorted).
#[derive(Debug)]
pub struct CsvLogger {
    path: PathBuf,
    append: bool,
    keys: Option<Vec<String>>,
}

impl CsvLogger {
    /// Writes to `path`, replacing it unless `append`.
    pub fn new(path: impl Into<PathBuf>, append: bool) -> Self {
        Self {
            path: path.into(),
            append,
            keys: None,
        }
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _state: &mut TrainState<'_>) -> Result<()> {
        if !self.append {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| NnError::io(dir, e))?;
            }
            std::fs::write(&self.path, "").map_err(|e| NnError::io(&self.path, e))?;
        }
        self.keys = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, _state: &mut TrainState<'_>) -> Result<()> {
        let mut out = String::new();
        let keys = self.keys.get_or_insert_with(|| {
            let keys: Vec<String> = logs.keys().cloned().collect();
            out.push_str("epoch");
            keys.iter().for_each(|k| out.push_str(&format!(",{k}")));
            out.push('\n');
            keys
        });
        out.push_str(&epoch.to_string());
        for k in keys.iter() {
            match logs.get(k) {
                Some(v) => out.push_str(&format!(",{v}")),
                None => out.push_str(",NA"),
            }
        }
        out.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| NnError::io(&self.path, e))?;
        f.write_all(out.as_bytes())
            .map_err(|e| NnError::io(&self.path, e))
    }
}

/// Saves the weights (or a full checkpoint with the optimizer) after each epoch, or only when
/// the monitored value improved.
///
/// It never writes non-finite weights or optimizer state: it returns [`NnError::NonFinite`]
/// instead (stopping `fit`) and the file already on disk stays as it was. With
/// `save_best_only`, a NaN or infinite monitored value is never an improvement.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    /// File path; `{epoch}` is replaced by the 1-based epoch number.
    pub filepath: String,
    /// The log key watched when `save_best_only`.
    pub monitor: String,
    /// Save only when `monitor` improved.
    pub save_best_only: bool,
    /// Weights only, or a checkpoint with the optimizer's state.
    pub save_weights_only: bool,
    /// Direction of improvement.
    pub mode: Mode,
    best: Option<f32>,
    /// Paths written so far.
    pub saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves to `filepath` after every epoch (weights and optimizer state).
    pub fn new(filepath: impl Into<String>) -> Self {
        Self {
            filepath: filepath.into(),
            monitor: "val_loss".into(),
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            best: None,
            saved: Vec::new(),
        }
    }
}

impl Callback for ModelCheckpoint {
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        if self.save_best_only {
            let Some(&current) = logs.get(&self.monitor) else {
                return Err(NnError::invalid(
                    "ModelCheckpoint",
                    format!("monitored `{}` is not in the logs", self.monitor),
                ));
            };
            if !current.is_finite() {
                eprintln!(
                    "ModelCheckpoint: epoch {}: `{}` is {current}, not saving",
                    epoch + 1,
                    self.monitor
                );
                return Ok(());
            }
            let better = match self.best {
                None => true,
                Some(b) if self.mode.maximize(&self.monitor) => current > b,
                Some(b) => current < b,
            };
            if !better {
                return Ok(());
            }
            self.best = Some(current);
        }
        let path = PathBuf::from(self.filepath.replace("{epoch}", &(epoch + 1).to_string()));
        let params = state.model.param_refs();
        let bad = match first_non_finite_in(params.iter().map(|p| (p.name, p.value))) {
            Some((name, i, v)) => Some((name.to_string(), format!("`{name}` is {v} at element {i}"))),
            None if !self.save_weights_only => {
                first_non_finite_in(state.optimizer.state()).map(|(name, i, v)| {
                    let what = format!("optimizer state `{name}` is {v} at element {i}");
                    (name, what)
                })
            }
            None => None,
        };
        if let Some((tensor, what)) = bad {
            return Err(NnError::NonFinite(Box::new(NonFinite {
                epoch: Some(epoch),
                step: None,
                iteration: state.optimizer.iterations().saturating_sub(1),
                tensor: Some(tensor),
                detail: format!(
                    "ModelCheckpoint refused to write {}: {what} (the file on disk is kept)",
                    path.display()
                ),
                update_applied: true,
            })));
        }
        if self.save_weights_only {
            save_weights(&path, &params)?;
        } else {
            let metadata = logs
                .iter()
                .map(|(k, v)| (format!("logs.{k}"), v.to_string()))
                .collect();
            save_checkpoint(
                &path,
                &params,
                state.optimizer,
                &CheckpointInfo {
                    epoch: epoch + 1,
                    metadata,
                },
            )?;
        }
        self.saved.push(path);
        Ok(())
    }
}
