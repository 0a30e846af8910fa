//! Bit-exact resume: `BackupAndRestore` and `Dataset::iter_epoch` make an interrupted `fit`
//! (in memory or over a shuffled `Dataset`, at an epoch boundary or mid-epoch with
//! `steps_per_epoch`) end with the very weights of a run never interrupted.

use tensor_nn::activations::Activation;
use tensor_nn::data::{from_tensor_slices, stack_rows, Dataset};
use tensor_nn::io::safetensors::{load_checkpoint, read_tensors, save_checkpoint, CheckpointInfo};
use tensor_nn::optim::Optimizer;
use tensor_nn::train::callbacks::ModelCheckpoint;
use tensor_nn::train::{BackupAndRestore, Callback, FitConfig, Logs, SaveFreq, TrainState, Trainer};
use tensor_nn::{Model, NnError};

mod common;
use common::{blobs, classifier, dropout_classifier, quiet, weight_bits as bits, Batch, Feat, Net, X, Y};

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tensor-nn-backup-{name}-{}", std::process::id()))
}

fn plain_net(seed: u64) -> Trainer<Net> {
    classifier(seed, 16, Activation::Relu, Optimizer::adam(0.01))
}

/// The blobs as a pipeline shuffled every epoch, in batches of 16.
fn shuffled(x: &X, y: &Y, seed: u64) -> Dataset<(X, Y)> {
    from_tensor_slices((x.clone(), y.clone()))
        .unwrap()
        .shuffle(1000, seed, true)
        .batch(16, false)
        .try_map(|rows: Vec<(Vec<f32>, Vec<f32>)>| {
            let (xs, ys): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
            Ok((
                stack_rows::<(Batch, Feat), f32>(&xs)?,
                stack_rows::<(Batch,), f32>(&ys)?,
            ))
        })
}

/// A crash: an error at the `at`-th training step of the fit (1-based, counted across
/// epochs), or at the start of epoch `epoch`.
#[derive(Default)]
struct Crash {
    at_step: Option<usize>,
    at_epoch: Option<usize>,
    steps: usize,
}

fn crashed() -> NnError {
    NnError::InvalidArgument {
        op: "test",
        reason: "simulated crash".into(),
    }
}

impl Callback for Crash {
    fn on_epoch_begin(&mut self, epoch: usize, _state: &mut TrainState<'_>) -> tensor_nn::Result<()> {
        if self.at_epoch == Some(epoch) {
            return Err(crashed());
        }
        Ok(())
    }
    fn on_train_batch_end(
        &mut self,
        _step: usize,
        _logs: &Logs,
        _state: &mut TrainState<'_>,
    ) -> tensor_nn::Result<()> {
        self.steps += 1;
        if self.at_step == Some(self.steps) {
            return Err(crashed());
        }
        Ok(())
    }
}

fn is_crash(e: &NnError) -> bool {
    e.to_string().contains("simulated crash")
}

#[test]
fn iter_epoch_replays_the_epochs_of_a_fresh_recipe() {
    let epoch = |it: tensor_nn::data::DatasetIter<i64>| it.collect::<Result<Vec<_>, _>>().unwrap();
    let make = || Dataset::range(0, 50).shuffle(50, 11, true);
    let fresh = make();
    let orders: Vec<Vec<i64>> = (0..4).map(|_| epoch(fresh.iter().unwrap())).collect();
    assert_ne!(orders[0], orders[1]);
    // A new recipe (a new process) asked for epoch 2 draws the order of the third epoch, and
    // `iter` counts on from there.
    let other = make();
    assert_eq!(epoch(other.iter_epoch(2).unwrap()), orders[2]);
    assert_eq!(epoch(other.iter().unwrap()), orders[3]);
    assert_eq!(epoch(other.iter_epoch(0).unwrap()), orders[0]);
    // Two shuffles in one pipeline both take the number.
    let twice = || make().map(|v| v * 2).shuffle(10, 5, true);
    let t = twice();
    let t_orders: Vec<Vec<i64>> = (0..3).map(|_| epoch(t.iter().unwrap())).collect();
    assert_eq!(epoch(twice().iter_epoch(2).unwrap()), t_orders[2]);
}

#[test]
fn fit_dataset_resumed_from_a_checkpoint_after_epoch_1_reshuffles_as_the_uninterrupted_run() {
    // The API of 163edf4: ModelCheckpoint, load_checkpoint, initial_epoch; the resumed run
    // builds its pipeline afresh, as a new process would.
    let (x, y) = blobs(90, 0.9, 0.0);
    let dir = tmp("dataset-epoch");
    let mut straight = plain_net(3);
    straight
        .fit_dataset(&shuffled(&x, &y, 21), None, &quiet(3), &mut [])
        .unwrap();
    let mut first = plain_net(3);
    let mut ckpt = ModelCheckpoint::new(dir.join("c.safetensors").to_string_lossy().into_owned());
    first
        .fit_dataset(&shuffled(&x, &y, 21), None, &quiet(1), &mut [&mut ckpt])
        .unwrap();
    let resume = |seed: u64| {
        let mut t = plain_net(40);
        let Trainer { model, optimizer, .. } = &mut t;
        let info = load_checkpoint(&ckpt.saved[0], &mut model.params_mut(), optimizer).unwrap();
        assert_eq!(info.epoch, 1);
        let config = FitConfig {
            initial_epoch: info.epoch,
            ..quiet(3)
        };
        t.fit_dataset(&shuffled(&x, &y, seed), None, &config, &mut [])
            .unwrap();
        bits(&t)
    };
    assert_eq!(resume(21), bits(&straight));
    // Negative control: another shuffle seed gives other batches, other weights.
    assert_ne!(resume(22), bits(&straight));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn backup_and_restore_resumes_fit_dataset_after_epoch_1() {
    let (x, y) = blobs(90, 0.9, 0.0);
    let dir = tmp("dataset-backup");
    let _ = std::fs::remove_dir_all(&dir);
    let mut straight = dropout_classifier(3);
    let hs = straight
        .fit_dataset(&shuffled(&x, &y, 21), None, &quiet(4), &mut [])
        .unwrap();
    let mut first = dropout_classifier(3);
    let mut backup = BackupAndRestore::new(&dir);
    let mut crash = Crash {
        at_epoch: Some(2),
        ..Crash::default()
    };
    let e = first
        .fit_dataset(
            &shuffled(&x, &y, 21),
            None,
            &quiet(4),
            &mut [&mut backup, &mut crash],
        )
        .unwrap_err();
    assert!(is_crash(&e), "{e}");
    assert!(backup.path().is_file(), "the backup outlives the crash");
    // The same recipe (its dropout seed included); the weights come from the backup.
    let mut resumed = dropout_classifier(3);
    let mut backup = BackupAndRestore::new(&dir);
    let h = resumed
        .fit_dataset(&shuffled(&x, &y, 21), None, &quiet(4), &mut [&mut backup])
        .unwrap();
    assert_eq!(backup.restored.as_ref().map(|p| (p.epoch, p.step)), Some((2, 0)));
    assert_eq!(h.epochs, vec![2, 3]);
    assert_eq!(h.history["loss"], hs.history["loss"][2..]);
    assert_eq!(bits(&resumed), bits(&straight));
    assert!(!dir.exists(), "the backup is deleted when fit completes");
}

/// Runs `fit` (or `fit_dataset` when `dataset`) for 3 epochs of `steps_per_epoch = 4` with a
/// backup every `freq` steps, crashing at global step `crash_at`, then resumes in a fresh
/// trainer; returns the resumed weights and the position restored.
fn crash_and_resume(
    dataset: bool,
    freq: usize,
    crash_at: usize,
    dir: &std::path::Path,
) -> (Vec<u32>, (usize, usize)) {
    let (x, y) = blobs(90, 0.9, 0.0);
    let config = FitConfig {
        steps_per_epoch: Some(4),
        ..quiet(3)
    };
    let run = |t: &mut Trainer<Net>, cbs: &mut [&mut dyn Callback]| {
        if dataset {
            t.fit_dataset(&shuffled(&x, &y, 5), None, &config, cbs)
        } else {
            t.fit(&x, &y, &config, None, cbs)
        }
    };
    let _ = std::fs::remove_dir_all(dir);
    let mut first = dropout_classifier(8);
    let mut backup = BackupAndRestore::new(dir).with_save_freq(SaveFreq::Batches(freq));
    let mut crash = Crash {
        at_step: Some(crash_at),
        ..Crash::default()
    };
    let e = run(&mut first, &mut [&mut backup, &mut crash]).unwrap_err();
    assert!(is_crash(&e), "{e}");
    let mut resumed = dropout_classifier(8);
    let mut backup = BackupAndRestore::new(dir).with_save_freq(SaveFreq::Batches(freq));
    run(&mut resumed, &mut [&mut backup]).unwrap();
    let at = backup.restored.map_or((0, 0), |p| (p.epoch, p.step));
    (bits(&resumed), at)
}

fn uninterrupted(dataset: bool) -> Vec<u32> {
    let (x, y) = blobs(90, 0.9, 0.0);
    let config = FitConfig {
        steps_per_epoch: Some(4),
        ..quiet(3)
    };
    let mut t = dropout_classifier(8);
    if dataset {
        t.fit_dataset(&shuffled(&x, &y, 5), None, &config, &mut [])
            .unwrap();
    } else {
        t.fit(&x, &y, &config, None, &mut []).unwrap();
    }
    bits(&t)
}

#[test]
fn in_memory_fit_resumes_mid_epoch_at_every_step() {
    let dir = tmp("memory-mid");
    let straight = uninterrupted(false);
    for crash_at in 2..=12 {
        let (resumed, at) = crash_and_resume(false, 1, crash_at, &dir);
        // The backup of the step before the crash: `crash_at − 1` steps done (a backup after
        // an epoch's last step says so, rather than "epoch + 1, step 0").
        let done = crash_at - 1;
        assert_eq!(at, ((done - 1) / 4, (done - 1) % 4 + 1), "crash at {crash_at}");
        assert_eq!(resumed, straight, "crash at step {crash_at}");
    }
    // Every 3 steps: the crash at step 8 resumes from step 6 (epoch 1, step 2).
    let (resumed, at) = crash_and_resume(false, 3, 8, &dir);
    assert_eq!(at, (1, 2));
    assert_eq!(resumed, straight);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fit_dataset_with_steps_per_epoch_resumes_mid_epoch_and_mid_pass() {
    // 90 rows in batches of 16 are 6 batches a pass, 4 steps an epoch: passes end mid-epoch
    // and one iterator spans epochs, so the position in the data is not the step. Epoch 1
    // ends early with the first pass (2 steps), so the fit makes 4 + 2 + 4 steps.
    let dir = tmp("dataset-mid");
    let straight = uninterrupted(true);
    for crash_at in 2..=10 {
        let (resumed, _) = crash_and_resume(true, 1, crash_at, &dir);
        assert_eq!(resumed, straight, "crash at step {crash_at}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_resume_that_ignores_the_step_is_caught() {
    // Negative control of the mid-epoch tests: the same backup with the step within the epoch
    // cleared replays the epoch from its start and ends elsewhere.
    let dir = tmp("control");
    let straight = uninterrupted(false);
    let (x, y) = blobs(90, 0.9, 0.0);
    let config = FitConfig {
        steps_per_epoch: Some(4),
        ..quiet(3)
    };
    let mut first = dropout_classifier(8);
    let mut backup = BackupAndRestore::new(&dir).with_save_freq(SaveFreq::Batches(1));
    let mut crash = Crash {
        at_step: Some(7),
        ..Crash::default()
    };
    first
        .fit(&x, &y, &config, None, &mut [&mut backup, &mut crash])
        .unwrap_err();
    let path = backup.path();
    let file = read_tensors(&path).unwrap();
    assert_eq!(file.metadata.get("backup.step").map(String::as_str), Some("2"));
    // Rewrite it as a backup at the epoch's start, through the checkpoint API.
    let mut t = dropout_classifier(8);
    let Trainer { model, optimizer, .. } = &mut t;
    let info = load_checkpoint(&path, &mut model.params_mut(), optimizer).unwrap();
    let mut metadata = info.metadata.clone();
    metadata.insert("backup.step".into(), "0".into());
    save_checkpoint(
        &path,
        &t.model.params(),
        &t.optimizer,
        &CheckpointInfo {
            epoch: info.epoch,
            metadata,
        },
    )
    .unwrap();
    let mut resumed = dropout_classifier(8);
    let mut backup = BackupAndRestore::new(&dir);
    resumed.fit(&x, &y, &config, None, &mut [&mut backup]).unwrap();
    assert_ne!(bits(&resumed), straight);
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes the backup `good` into `dir` with metadata `key` set to `value` (through the
/// checkpoint API) and returns the error of a `fit` of `t` that restores it.
fn resume_with(dir: &std::path::Path, good: &[u8], key: &str, value: &str, t: &mut Trainer<Net>) -> String {
    let restore = BackupAndRestore::new(dir);
    std::fs::write(restore.path(), good).unwrap();
    let mut donor = plain_net(2);
    let Trainer { model, optimizer, .. } = &mut donor;
    let info = load_checkpoint(restore.path(), &mut model.params_mut(), optimizer).unwrap();
    let mut metadata = info.metadata;
    metadata.insert(key.into(), value.into());
    let info = CheckpointInfo {
        epoch: info.epoch,
        metadata,
    };
    save_checkpoint(restore.path(), &donor.model.params(), &donor.optimizer, &info).unwrap();
    let (x, y) = blobs(48, 0.9, 0.0);
    let e = t.fit(&x, &y, &quiet(2), None, &mut [&mut BackupAndRestore::new(dir)]);
    e.unwrap_err().to_string()
}

#[test]
fn a_bad_backup_is_an_error_naming_the_file_and_nothing_changes() {
    let dir = tmp("bad");
    let _ = std::fs::remove_dir_all(&dir);
    let (x, y) = blobs(48, 0.9, 0.0);
    let mut first = plain_net(1);
    let mut backup = BackupAndRestore::new(&dir);
    let mut crash = Crash {
        at_epoch: Some(1),
        ..Crash::default()
    };
    first
        .fit(&x, &y, &quiet(2), None, &mut [&mut backup, &mut crash])
        .unwrap_err();
    let path = backup.path();
    let good = std::fs::read(&path).unwrap();

    // Truncated (a torn write never happens: the file is replaced atomically; a disk can
    // still be corrupted).
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let mut t = plain_net(2);
    let before = bits(&t);
    let e = t
        .fit(&x, &y, &quiet(2), None, &mut [&mut BackupAndRestore::new(&dir)])
        .unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert_eq!(bits(&t), before);

    // Malformed metadata: the key is named, and nothing is changed.
    let mut t = plain_net(2);
    let msg = resume_with(&dir, &good, "backup.step", "many", &mut t);
    assert!(
        msg.contains("backup.step") && msg.contains(&path.display().to_string()),
        "{msg}"
    );
    assert_eq!(bits(&t), before);
    // A step beyond the epoch (another batch size) is refused.
    let msg = resume_with(&dir, &good, "backup.step", "50", &mut plain_net(2));
    assert!(msg.contains("step 50 of epoch 1"), "{msg}");
    // A Sequential has no random stream outside its parameters: a `backup.rng` is refused.
    let msg = resume_with(&dir, &good, "backup.rng", "chacha8:00:0:0", &mut plain_net(2));
    assert!(msg.contains("backup.rng"), "{msg}");

    // Two restoring callbacks are ambiguous.
    std::fs::write(&path, &good).unwrap();
    let (mut a, mut b) = (BackupAndRestore::new(&dir), BackupAndRestore::new(&dir));
    let e = plain_net(2)
        .fit(&x, &y, &quiet(2), None, &mut [&mut a, &mut b])
        .unwrap_err();
    assert!(e.to_string().contains("two callbacks"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
