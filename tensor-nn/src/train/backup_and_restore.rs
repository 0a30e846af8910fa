//! [`BackupAndRestore`]: Keras' callback that keeps the complete training state on disk so
//! that a `fit` interrupted at any moment (an error, a crash, a `kill -9`) continues, in a new
//! `fit` with the same callback, exactly where it stopped, mid-epoch included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::callbacks::{Callback, TrainState};
use super::Logs;
use crate::error::{NnError, Result};
use crate::io::safetensors::{load_checkpoint, save_checkpoint, CheckpointInfo};

/// Where a `fit` stands: the epoch the next step belongs to, the steps of it already done and
/// the position in the data. [`Callback::on_train_position`] reports it; a callback's
/// [`Callback::on_train_restore`] returns one to make `fit` go on from there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TrainPosition {
    /// The epoch (0-based) the next step belongs to.
    pub epoch: usize,
    /// Steps of that epoch already done.
    pub step: usize,
    /// For `fit_dataset`: the epoch number ([`Dataset::iter_epoch`](crate::data::Dataset::iter_epoch))
    /// of the next pass over the dataset to start. 0 for in-memory `fit`.
    pub next_pass: u64,
    /// For `fit_dataset`: the batches already taken from the open pass (number
    /// `next_pass − 1`), or `None` when no pass is open. `None` for in-memory `fit`.
    pub pass_batches: Option<usize>,
}

impl TrainPosition {
    /// The position `step` steps into `epoch`, with the data's part as
    /// (`next_pass`, `pass_batches`).
    pub fn new(epoch: usize, step: usize, (next_pass, pass_batches): (u64, Option<usize>)) -> Self {
        Self {
            epoch,
            step,
            next_pass,
            pass_batches,
        }
    }
}

/// When [`BackupAndRestore`] writes its backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFreq {
    /// At the end of every epoch (Keras' `save_freq="epoch"`).
    #[default]
    Epoch,
    /// After every `n` training steps (Keras' `save_freq=n`), counted across epochs.
    Batches(usize),
}

/// The backup's metadata keys (beside the checkpoint's own `epoch` and optimizer keys).
const STEP: &str = "backup.step";
const NEXT_PASS: &str = "backup.next_pass";
const PASS_BATCHES: &str = "backup.pass_batches";
const RNG: &str = "backup.rng";
const LEARNING_RATE: &str = "backup.learning_rate_bits";

/// Keras' `BackupAndRestore(backup_dir, save_freq, delete_checkpoint)`: `fit` saves the
/// complete training state to `backup_dir/latest.safetensors` and a later `fit` with this
/// callback restores it before its first epoch and continues exactly where the interrupted run
/// stopped. Resumed, the weights end bit for bit as those of a run never interrupted.
///
/// What the backup holds (a checkpoint of
/// [`save_checkpoint`](crate::io::safetensors::save_checkpoint), written atomically, so a
/// kill at any moment leaves the previous backup or the new one whole):
/// - every parameter, non-trainable ones included (batch-norm moving statistics, a
///   `Sequential` dropout's `*.seed_generator_state`);
/// - the optimizer's slots and iteration count, and its learning rate (`backup.learning_rate_bits`);
/// - the epoch and the step within it (`epoch`, `backup.step`);
/// - the model's own random stream, for a `model!` model's dropout masks (`backup.rng`, see
///   [`Model::rng_state`](crate::Model::rng_state));
/// - for `fit_dataset`, the data position: the epoch number of the next pass and the batches
///   taken from the open one (`backup.next_pass`, `backup.pass_batches`); the resumed `fit`
///   reopens that pass with [`Dataset::iter_epoch`](crate::data::Dataset::iter_epoch) (so a
///   `shuffle` stage draws the same order) and takes those batches again without training on
///   them. In-memory `fit` needs no data state: its order depends only on the seed and the
///   epoch, and the batches of the steps done are skipped without drawing anything.
///
/// The resumed epoch's logs (its loss and metrics, the progress bar, the history entry) cover
/// only the steps run after the restore, as in Keras; the step numbers that callbacks see go on
/// from the restored step. Callbacks keep their own state: an `EarlyStopping` starts counting
/// afresh, a `LearningRateScheduler` is called again at the start of the resumed epoch.
///
/// The backup is deleted when `fit` ends normally (an `EarlyStopping` stop included) and
/// `delete_checkpoint` is set; it is kept when `fit` returns an error, so that the next
/// `fit` resumes.
#[derive(Debug, Clone)]
pub struct BackupAndRestore {
    /// The directory of the backup.
    pub backup_dir: PathBuf,
    /// When to write the backup.
    pub save_freq: SaveFreq,
    /// Delete the backup when `fit` completes (default `true`).
    pub delete_checkpoint: bool,
    /// Steps since the last save, for [`SaveFreq::Batches`].
    since_save: usize,
    /// The position restored by the last `fit`, if it found a backup.
    pub restored: Option<TrainPosition>,
}

impl BackupAndRestore {
    /// Backs up to `backup_dir` at the end of every epoch and deletes the backup when `fit`
    /// completes.
    pub fn new(backup_dir: impl Into<PathBuf>) -> Self {
        Self {
            backup_dir: backup_dir.into(),
            save_freq: SaveFreq::Epoch,
            delete_checkpoint: true,
            since_save: 0,
            restored: None,
        }
    }

    /// The same callback writing at `save_freq`.
    pub fn with_save_freq(mut self, save_freq: SaveFreq) -> Self {
        self.save_freq = save_freq;
        self
    }

    /// The file the backup is written to: `backup_dir/latest.safetensors`.
    pub fn path(&self) -> PathBuf {
        self.backup_dir.join("latest.safetensors")
    }

    fn save(&self, at: &TrainPosition, state: &mut TrainState<'_>) -> Result<()> {
        let path = self.path();
        std::fs::create_dir_all(&self.backup_dir).map_err(|e| NnError::io(&self.backup_dir, e))?;
        let mut metadata = BTreeMap::new();
        metadata.insert(STEP.to_string(), at.step.to_string());
        metadata.insert(NEXT_PASS.to_string(), at.next_pass.to_string());
        if let Some(taken) = at.pass_batches {
            metadata.insert(PASS_BATCHES.to_string(), taken.to_string());
        }
        if let Some(rng) = state.model.model_rng_state() {
            metadata.insert(RNG.to_string(), rng);
        }
        metadata.insert(
            LEARNING_RATE.to_string(),
            state.optimizer.learning_rate().to_bits().to_string(),
        );
        let info = CheckpointInfo {
            epoch: at.epoch,
            metadata,
        };
        save_checkpoint(&path, &state.model.param_refs(), state.optimizer, &info)
    }
}

/// The value of metadata `key` of the backup at `path`, parsed.
fn field<T: FromStr>(path: &Path, meta: &BTreeMap<String, String>, key: &str) -> Result<Option<T>> {
    meta.get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| NnError::bad_file(path, format!("bad `{key}` in the backup's metadata: `{v}`")))
        })
        .transpose()
}

/// [`field`] for a key every backup has.
fn required<T: FromStr>(path: &Path, meta: &BTreeMap<String, String>, key: &str) -> Result<T> {
    field(path, meta, key)?
        .ok_or_else(|| NnError::bad_file(path, format!("the backup's metadata lacks `{key}`")))
}

impl Callback for BackupAndRestore {
    /// Loads `backup_dir/latest.safetensors` if it exists.
    ///
    /// # Errors
    /// As [`load_checkpoint`] for a backup that is corrupt or does not fit the model or the
    /// optimizer; [`NnError::BadFile`] naming the file and the key for missing or malformed
    /// metadata; the model's error for a random stream it cannot take.
    fn on_train_restore(&mut self, state: &mut TrainState<'_>) -> Result<Option<TrainPosition>> {
        self.since_save = 0;
        self.restored = None;
        let path = self.path();
        if !path.is_file() {
            return Ok(None);
        }
        // Check the metadata before anything is changed: load_checkpoint then changes the
        // weights and the optimizer only once the whole file is known to fit.
        let file = crate::io::safetensors::read_tensors(&path)?;
        let meta = &file.metadata;
        let step: usize = required(&path, meta, STEP)?;
        let next_pass: u64 = required(&path, meta, NEXT_PASS)?;
        let pass_batches: Option<usize> = field(&path, meta, PASS_BATCHES)?;
        let lr_bits: u32 = required(&path, meta, LEARNING_RATE)?;
        let rng = meta.get(RNG).cloned();
        let info = load_checkpoint(&path, &mut state.model.param_muts(), state.optimizer)?;
        if let Some(rng) = rng {
            state
                .model
                .set_model_rng_state(&rng)
                .map_err(|e| NnError::bad_file(&path, format!("`{RNG}`: {e}")))?;
        }
        state.optimizer.set_learning_rate(f32::from_bits(lr_bits));
        let at = TrainPosition {
            epoch: info.epoch,
            step,
            next_pass,
            pass_batches,
        };
        self.restored = Some(at.clone());
        Ok(Some(at))
    }

    fn on_train_position(
        &mut self,
        at: &TrainPosition,
        _logs: &Logs,
        state: &mut TrainState<'_>,
    ) -> Result<()> {
        match self.save_freq {
            SaveFreq::Epoch if at.step == 0 => self.save(at, state),
            SaveFreq::Batches(n) if at.step > 0 => {
                self.since_save += 1;
                if self.since_save >= n.max(1) {
                    self.since_save = 0;
                    self.save(at, state)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_train_end(&mut self, _logs: &Logs, state: &mut TrainState<'_>) -> Result<()> {
        if !self.delete_checkpoint || state.non_finite.is_some() {
            return Ok(());
        }
        let path = self.path();
        match std::fs::remove_file(&path) {
            Ok(()) => {
                // The directory goes too when the backup was all it held.
                let _ = std::fs::remove_dir(&self.backup_dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NnError::io(&path, e)),
        }
    }
}
