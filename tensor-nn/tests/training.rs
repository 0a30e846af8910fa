//! The training loop and callbacks: convergence, determinism, resuming, Keras' callback rules.

use std::collections::BTreeMap;

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::constraints::MaxNorm;
use tensor_nn::data::Rows;
use tensor_nn::error::NnError;
use tensor_nn::io::safetensors::load_checkpoint;
use tensor_nn::losses::{Loss, MeanSquaredError, SparseCategoricalCrossentropy};
use tensor_nn::optim::Optimizer;
use tensor_nn::sequential::Sequential;
use tensor_nn::train::callbacks::{
    Callback, CsvLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
    TerminateOnNaN, TrainState,
};
use tensor_nn::train::{Compile, FitConfig, Logs, ModelParams, Trainer};
use tensor_nn::{Model, ParamMut, ParamRef};

mod common;
use common::{blobs as blobs_at, classifier, quiet, weight_bits as weights, Batch, Classes, Feat, Net};

/// The blobs of these tests: tight (spread 0.4).
fn blobs(n: usize) -> (Tensor<(Batch, Feat)>, Tensor<(Batch,)>) {
    blobs_at(n, 0.4, 0.0)
}

fn net(seed: u64) -> Trainer<Net> {
    classifier(seed, 16, Activation::Relu, Optimizer::adam(0.01))
}

#[test]
fn fit_learns_separable_blobs_and_records_history() {
    let (x, y) = blobs(300);
    let mut t = net(1);
    let h = t
        .fit(
            &x,
            &y,
            &FitConfig {
                validation_split: 0.2,
                ..quiet(15)
            },
            None,
            &mut [],
        )
        .unwrap();
    assert_eq!(h.epochs, (0..15).collect::<Vec<_>>());
    let keys: Vec<&str> = h.history.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "learning_rate",
            "loss",
            "sparse_categorical_accuracy",
            "val_loss",
            "val_sparse_categorical_accuracy"
        ]
    );
    assert!(
        h.history["loss"][14] < h.history["loss"][0] / 4.0,
        "{:?}",
        h.history["loss"]
    );
    assert!(h.history["val_sparse_categorical_accuracy"][14] > 0.99);
    // evaluate = the loss of predict's outputs, computed independently.
    let logs = t.evaluate(&x, &y, 7).unwrap();
    let pred = t.predict(&x, 64).unwrap();
    assert_eq!(pred.dims(), &[300, 3]);
    assert_eq!(
        pred.to_vec(),
        t.model.forward(&x).to_vec(),
        "batched predict = one forward"
    );
    let direct = SparseCategoricalCrossentropy::from_logits()
        .compute(&pred.to_vec(), &y.to_vec(), 300, None)
        .unwrap();
    assert!((logs["loss"] - direct.value).abs() < 1e-5);
}

#[test]
fn same_seed_same_weights_and_resume_is_bit_for_bit() {
    let (x, y) = blobs(90);
    let dir = std::env::temp_dir().join(format!("tensor-nn-resume-{}", std::process::id()));
    let mut a = net(5);
    a.fit(&x, &y, &quiet(3), None, &mut []).unwrap();
    let mut b = net(5);
    b.fit(&x, &y, &quiet(3), None, &mut []).unwrap();
    assert_eq!(weights(&a), weights(&b));

    // Interrupted run: one epoch, checkpoint; a fresh process resumes at epoch 1.
    let mut first = net(5);
    let mut ckpt = ModelCheckpoint::new(
        dir.join("ckpt-{epoch}.safetensors")
            .to_string_lossy()
            .into_owned(),
    );
    first.fit(&x, &y, &quiet(1), None, &mut [&mut ckpt]).unwrap();
    assert_eq!(ckpt.saved, vec![dir.join("ckpt-1.safetensors")]);
    let mut resumed = net(77); // different initial weights, overwritten by the checkpoint
    let Trainer { model, optimizer, .. } = &mut resumed;
    let info = load_checkpoint(&ckpt.saved[0], &mut model.params_mut(), optimizer).unwrap();
    assert_eq!(info.epoch, 1);
    resumed
        .fit(
            &x,
            &y,
            &FitConfig {
                initial_epoch: info.epoch,
                ..quiet(3)
            },
            None,
            &mut [],
        )
        .unwrap();
    assert_eq!(weights(&resumed), weights(&a));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn resume_with_dropout_is_bit_for_bit() {
    // Dropout's mask stream position is a non-trainable parameter, so it is checkpointed.
    let (x, y) = blobs(90);
    let dir = std::env::temp_dir().join(format!("tensor-nn-resume-dropout-{}", std::process::id()));
    let build = || common::dropout_classifier(9);
    let mut straight = build();
    straight.fit(&x, &y, &quiet(3), None, &mut []).unwrap();
    let mut first = build();
    let mut ckpt = ModelCheckpoint::new(dir.join("c.safetensors").to_string_lossy().into_owned());
    first.fit(&x, &y, &quiet(1), None, &mut [&mut ckpt]).unwrap();
    let mut resumed = build();
    let Trainer { model, optimizer, .. } = &mut resumed;
    let info = load_checkpoint(&ckpt.saved[0], &mut model.params_mut(), optimizer).unwrap();
    resumed
        .fit(
            &x,
            &y,
            &FitConfig {
                initial_epoch: info.epoch,
                ..quiet(3)
            },
            None,
            &mut [],
        )
        .unwrap();
    let bits = |t: &Trainer<Net>| -> Vec<u32> {
        t.model
            .params()
            .iter()
            .flat_map(|p| p.value.iter().map(|v| v.to_bits()))
            .collect()
    };
    assert_eq!(bits(&resumed), bits(&straight));
    // Negative control: the same resume with the stream position reset draws other masks.
    let mut reset = build();
    let Trainer { model, optimizer, .. } = &mut reset;
    load_checkpoint(&ckpt.saved[0], &mut model.params_mut(), optimizer).unwrap();
    for p in reset.model.params_mut() {
        if p.name == "dropout1.seed_generator_state" {
            assert_ne!(p.value, &[0.0; 4], "the checkpoint advanced the stream");
            p.value.fill(0.0);
        }
    }
    reset
        .fit(
            &x,
            &y,
            &FitConfig {
                initial_epoch: 1,
                ..quiet(3)
            },
            None,
            &mut [],
        )
        .unwrap();
    assert_ne!(bits(&reset), bits(&straight));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn constraints_hold_after_every_update() {
    let (x, y) = blobs(60);
    let mut t = net(2).with_constraint(
        "dense1.kernel",
        MaxNorm {
            max_value: 0.5,
            axis: 0,
        },
    );
    t.fit(&x, &y, &quiet(3), None, &mut []).unwrap();
    let p = t.model.params();
    let k = p.iter().find(|p| p.name == "dense1.kernel").unwrap();
    for unit in 0..16 {
        let norm: f32 = (0..2).map(|i| k.value[i * 16 + unit].powi(2)).sum::<f32>().sqrt();
        assert!(norm <= 0.5 + 1e-5, "unit {unit}: {norm}");
    }
    let mut bad = net(2).with_constraint("nope", MaxNorm::default());
    assert!(bad
        .fit(&x, &y, &quiet(1), None, &mut [])
        .unwrap_err()
        .to_string()
        .contains("no parameter `nope`"));
}

/// A one-parameter stand-in for a model, for driving callbacks directly.
struct One(Vec<f32>, Vec<f32>);

impl ModelParams for One {
    fn param_refs(&self) -> Vec<ParamRef<'_>> {
        vec![ParamRef {
            name: "w",
            shape: &[1],
            value: &self.0,
        }]
    }
    fn param_muts(&mut self) -> Vec<ParamMut<'_>> {
        vec![ParamMut {
            name: "w",
            shape: &[1],
            value: &mut self.0,
            grad: &self.1,
            trainable: true,
        }]
    }
    fn zero_fractions(&self) -> Vec<(String, f32)> {
        Vec::new()
    }
}

/// Runs `cb` over epochs whose `key` takes `values` (and `w` = epoch), returning the epoch
/// where training was stopped and the final weight.
fn drive(cb: &mut dyn Callback, key: &str, values: &[f32], opt: &mut Optimizer) -> (Option<usize>, f32) {
    let mut model = One(vec![0.0], vec![0.0]);
    let mut stop = false;
    let mut st = TrainState {
        model: &mut model,
        optimizer: opt,
        stop_training: &mut stop,
        non_finite: &mut None,
        epochs: values.len(),
        steps_per_epoch: 1,
    };
    cb.on_train_begin(&mut st).unwrap();
    let mut stopped = None;
    for (e, &v) in values.iter().enumerate() {
        st.model.param_muts()[0].value[0] = e as f32;
        let logs: Logs = BTreeMap::from([(key.to_string(), v)]);
        cb.on_epoch_end(e, &logs, &mut st).unwrap();
        if *st.stop_training {
            stopped = Some(e);
            break;
        }
    }
    let w = st.model.param_refs()[0].value[0];
    (stopped, w)
}

#[test]
fn early_stopping_follows_keras_patience_and_restores_best() {
    let mut opt = Optimizer::sgd(0.1);
    // val_loss: best at epoch 1; patience 2 ⇒ epochs 2 and 3 without improvement ⇒ stop at 3.
    let mut es = EarlyStopping::new("val_loss", 2);
    assert_eq!(
        drive(&mut es, "val_loss", &[1.0, 0.9, 0.95, 0.96, 0.5], &mut opt),
        (Some(3), 3.0)
    );
    let mut es = EarlyStopping::new("val_loss", 2);
    es.restore_best_weights = true;
    assert_eq!(
        drive(&mut es, "val_loss", &[1.0, 0.9, 0.95, 0.96, 0.5], &mut opt),
        (Some(3), 1.0)
    );
    assert_eq!(es.best_epoch, Some(1));
    // min_delta: 0.9 → 0.89 is not an improvement of at least 0.05.
    let mut es = EarlyStopping::new("val_loss", 1);
    es.min_delta = 0.05;
    assert_eq!(
        drive(&mut es, "val_loss", &[1.0, 0.9, 0.89, 0.7], &mut opt).0,
        Some(2)
    );
    // accuracy-like names are maximised in auto mode.
    let mut es = EarlyStopping::new("val_accuracy", 1);
    assert_eq!(
        drive(&mut es, "val_accuracy", &[0.5, 0.6, 0.7, 0.65], &mut opt).0,
        Some(3)
    );
    // patience 0 stops at the first non-improvement, but never at epoch 0.
    let mut es = EarlyStopping::new("loss", 0);
    assert_eq!(drive(&mut es, "loss", &[1.0, 2.0], &mut opt).0, Some(1));
}

#[test]
fn reduce_lr_on_plateau_and_scheduler_change_the_rate() {
    let mut opt = Optimizer::sgd(1.0);
    let mut r = ReduceLROnPlateau::default();
    (r.patience, r.factor, r.min_lr) = (2, 0.5, 0.2);
    // best 1.0 at epoch 0; epochs 1, 2 no better ⇒ lr 0.5; epochs 3, 4 ⇒ 0.25; 5, 6 ⇒ max(0.125, 0.2).
    drive(&mut r, "val_loss", &[1.0, 1.0, 1.2, 1.1, 1.0, 1.0, 1.0], &mut opt);
    assert!(
        (opt.learning_rate() - 0.2).abs() < 1e-7,
        "{}",
        opt.learning_rate()
    );
    let mut opt = Optimizer::sgd(1.0);
    let mut r = ReduceLROnPlateau::default();
    (r.patience, r.factor, r.cooldown) = (1, 0.5, 2);
    // epoch 1 ⇒ 0.5 (cooldown 2); epoch 2 is in cooldown; at epoch 3 the cooldown has run out ⇒
    // 0.25; epoch 4 is in cooldown again (Keras decrements the counter before checking).
    drive(&mut r, "val_loss", &[1.0, 1.0, 1.0, 1.0, 1.0], &mut opt);
    assert!(
        (opt.learning_rate() - 0.25).abs() < 1e-7,
        "{}",
        opt.learning_rate()
    );

    let (x, y) = blobs(30);
    let mut t = net(3);
    let mut sched = LearningRateScheduler::new(|epoch, lr| if epoch == 0 { 0.1 } else { lr * 0.5 });
    let h = t.fit(&x, &y, &quiet(3), None, &mut [&mut sched]).unwrap();
    assert_eq!(h.history["learning_rate"], vec![0.1, 0.05, 0.025]);
}

#[test]
fn terminate_on_nan_names_the_step_and_tensor_and_fit_fails() {
    let (x, _) = blobs(32);
    let y = Tensor::<(Batch, Classes)>::full(1.0, &[32]);
    let model = Sequential::builder(2, 0)
        .dense(3, Activation::Linear)
        .build::<(Batch, Feat), (Batch, Classes)>()
        .unwrap();
    let mut t = model.compile(Optimizer::sgd(1e30), MeanSquaredError::default(), vec![]);
    let mut nan = TerminateOnNaN::default();
    let err = t
        .fit(
            &x,
            &y,
            &FitConfig {
                epochs: 5,
                batch_size: 8,
                verbose: 0,
                ..FitConfig::default()
            },
            None,
            &mut [&mut nan],
        )
        .expect_err("a diverged fit is an error");
    let NnError::NonFinite(report) = &err else {
        panic!("expected NonFinite, got {err}");
    };
    assert_eq!(report.epoch, Some(0), "{err}");
    assert!(
        report.tensor.as_deref().is_some_and(|t| t.starts_with("dense1.")),
        "{err}"
    );
    let reason = nan.reason.expect("training diverged");
    assert!(
        reason.starts_with("non-finite value at epoch 0, step "),
        "{reason}"
    );
    assert!(reason.contains("`dense1."), "{reason}");
    assert_eq!(reason, err.to_string());
}

#[test]
fn csv_logger_writes_a_header_and_one_row_per_epoch() {
    let (x, y) = blobs(30);
    let path = std::env::temp_dir().join(format!("tensor-nn-csv-{}/log.csv", std::process::id()));
    let mut t = net(4);
    let mut csv = CsvLogger::new(&path, false);
    let h = t.fit(&x, &y, &quiet(2), None, &mut [&mut csv]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,learning_rate,loss,sparse_categorical_accuracy");
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[2],
        format!(
            "1,{},{},{}",
            h.history["learning_rate"][1], h.history["loss"][1], h.history["sparse_categorical_accuracy"][1]
        )
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn model_checkpoint_save_best_only_saves_on_improvement() {
    let dir = std::env::temp_dir().join(format!("tensor-nn-best-{}", std::process::id()));
    let mut cb = ModelCheckpoint::new(dir.join("e{epoch}.safetensors").to_string_lossy().into_owned());
    (cb.save_best_only, cb.save_weights_only) = (true, true);
    drive(
        &mut cb,
        "val_loss",
        &[1.0, 1.1, 0.9, 0.95],
        &mut Optimizer::sgd(0.1),
    );
    assert_eq!(
        cb.saved,
        vec![dir.join("e1.safetensors"), dir.join("e3.safetensors")]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rows_reject_out_of_range_and_mismatched_parts() {
    let (x, y) = blobs(6);
    assert!(x.gather_rows(&[6]).is_err());
    let parts = [x.gather_rows(&[0, 1]).unwrap(), x.gather_rows(&[5]).unwrap()];
    assert_eq!(
        Tensor::concat_rows(&parts).unwrap().to_vec(),
        x.gather_rows(&[0, 1, 5]).unwrap().to_vec()
    );
    let mut t = net(0);
    assert!(t
        .fit(&x, &y.gather_rows(&[0]).unwrap(), &quiet(1), None, &mut [])
        .is_err());
}
