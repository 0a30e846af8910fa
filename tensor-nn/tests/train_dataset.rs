//! `fit`, `evaluate` and `predict` on a `Dataset`: the same batches in the same order give
//! bit-for-bit the weights, history and outputs of the in-memory loop; pipeline errors end `fit`
//! with an error naming the file and line; skipped rows are counted per epoch.

use std::path::PathBuf;
use std::sync::Arc;

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::data::{
    from_tensor_slices, stack_rows, ColumnType, CsvFormat, DataError, Dataset, RecordBatch, Schema,
};
use tensor_nn::optim::Optimizer;
use tensor_nn::train::callbacks::EarlyStopping;
use tensor_nn::train::{FitConfig, Trainer};
use tensor_nn::NnError;

mod common;
use common::{blobs as blobs_spread, classifier, weight_bits as weights, Batch, Feat, Net, X, Y};

/// The blobs of these tests: overlapping (spread 0.9), shifted by `phase`.
fn blobs(n: usize, phase: f32) -> (X, Y) {
    blobs_spread(n, 0.9, phase)
}

fn net(seed: u64) -> Trainer<Net> {
    classifier(seed, 16, Activation::Relu, Optimizer::adam(0.01))
}

/// `from_tensor_slices → batch → stack_rows`: the in-memory data as a pipeline, in order.
fn pipeline(x: &X, y: &Y, batch: usize) -> Dataset<(X, Y)> {
    from_tensor_slices((x.clone(), y.clone()))
        .unwrap()
        .batch(batch, false)
        .try_map(|rows: Vec<(Vec<f32>, Vec<f32>)>| {
            let (xs, ys): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
            Ok((
                stack_rows::<(Batch, Feat), f32>(&xs)?,
                stack_rows::<(Batch,), f32>(&ys)?,
            ))
        })
}

fn config(epochs: usize, batch_size: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        shuffle: false,
        verbose: 0,
        ..FitConfig::default()
    }
}

#[test]
fn dataset_fit_is_bit_identical_to_in_memory_fit() {
    let (x, y) = blobs(90, 0.0);
    let (xv, yv) = blobs(30, 0.35);
    // 90 rows in batches of 16: five full batches and a last one of 10, like `fit`'s slicing.
    let mut a = net(7);
    let ha = a.fit(&x, &y, &config(6, 16), Some((&xv, &yv)), &mut []).unwrap();
    let mut b = net(7);
    let hb = b
        .fit_dataset(
            &pipeline(&x, &y, 16),
            Some(&pipeline(&xv, &yv, 16)),
            &config(6, 16),
            &mut [],
        )
        .unwrap();
    assert_eq!(weights(&a), weights(&b));
    // Same keys (no `skipped` under the default Fail policy) and bit-equal values.
    assert_eq!(ha, hb);
    assert_eq!(hb.epochs, vec![0, 1, 2, 3, 4, 5]);
    // It learned something: the loss fell.
    let loss = &hb.history["loss"];
    assert!(loss[5] < loss[0], "{loss:?}");
}

#[test]
fn weighted_dataset_fit_is_bit_identical_to_in_memory_fit_weighted() {
    let (x, y) = blobs(60, 0.0);
    let w: Vec<f32> = (0..60).map(|i| 0.5 + (i % 4) as f32).collect();
    let mut a = net(7);
    let ha = a.fit_weighted(&x, &y, &w, &config(4, 16), None, &mut []).unwrap();
    // The same rows, 16 at a time, each batch carrying its samples' weights.
    let weights_ds = Dataset::from_vec(w.clone()).batch(16, false);
    let batches: Vec<(X, Y)> = pipeline(&x, &y, 16).collect_vec().unwrap();
    let ws: Vec<Vec<f32>> = weights_ds.collect_vec().unwrap();
    let weighted: Vec<(X, Y, Vec<f32>)> = batches.into_iter().zip(ws).map(|((x, y), w)| (x, y, w)).collect();
    let mut b = net(7);
    let hb = b
        .fit_dataset_weighted(
            &Dataset::from_vec(weighted.clone()),
            None,
            &config(4, 16),
            &mut [],
        )
        .unwrap();
    assert_eq!(ha, hb);
    assert_eq!(weights(&a), weights(&b));
    // Unweighted training differs, so the weights were used.
    let mut c = net(7);
    c.fit_dataset(&pipeline(&x, &y, 16), None, &config(4, 16), &mut [])
        .unwrap();
    assert_ne!(weights(&b), weights(&c));
    // A batch with a weight missing is an error.
    let mut bad = weighted;
    bad[1].2.pop();
    let err = net(7)
        .fit_dataset_weighted(&Dataset::from_vec(bad), None, &config(1, 16), &mut [])
        .unwrap_err()
        .to_string();
    assert!(err.contains("16") && err.contains("15"), "{err}");
}

#[test]
fn callbacks_act_on_dataset_fit_as_on_in_memory_fit() {
    // EarlyStopping on val_loss with min_delta 10 and patience 1: epoch 0 sets the best (there is
    // no baseline), epoch 1 cannot improve by 10, so training stops after exactly 2 epochs.
    let (x, y) = blobs(60, 0.0);
    let (xv, yv) = blobs(30, 0.35);
    let mut stop_a = EarlyStopping::new("val_loss", 1);
    stop_a.min_delta = 10.0;
    let mut a = net(3);
    let ha = a
        .fit(&x, &y, &config(10, 20), Some((&xv, &yv)), &mut [&mut stop_a])
        .unwrap();
    let mut stop_b = EarlyStopping::new("val_loss", 1);
    stop_b.min_delta = 10.0;
    let mut b = net(3);
    let hb = b
        .fit_dataset(
            &pipeline(&x, &y, 20),
            Some(&pipeline(&xv, &yv, 20)),
            &config(10, 20),
            &mut [&mut stop_b],
        )
        .unwrap();
    assert_eq!(hb.epochs, vec![0, 1]);
    assert_eq!(ha, hb);
    assert_eq!(stop_b.stopped_epoch, Some(1));
    assert_eq!(weights(&a), weights(&b));
}

#[test]
fn steps_per_epoch_continues_the_iterator_across_epochs() {
    // Six batches of 10. Three epochs of 2 steps over one kept iterator are the same six Adam
    // steps, in the same order, as one in-memory epoch over all the data.
    let (x, y) = blobs(60, 0.0);
    let mut a = net(11);
    a.fit(&x, &y, &config(1, 10), None, &mut []).unwrap();
    let mut b = net(11);
    let cfg = FitConfig {
        steps_per_epoch: Some(2),
        ..config(3, 10)
    };
    let h = b.fit_dataset(&pipeline(&x, &y, 10), None, &cfg, &mut []).unwrap();
    assert_eq!(h.epochs, vec![0, 1, 2]);
    assert_eq!(weights(&a), weights(&b));
    // A fourth epoch starts a new pass: 4 epochs × 3 steps = two full passes = two in-memory epochs.
    let mut c = net(11);
    c.fit(&x, &y, &config(2, 10), None, &mut []).unwrap();
    let mut d = net(11);
    let cfg = FitConfig {
        steps_per_epoch: Some(3),
        ..config(4, 10)
    };
    d.fit_dataset(&pipeline(&x, &y, 10), None, &cfg, &mut []).unwrap();
    assert_eq!(weights(&c), weights(&d));
}

#[test]
fn evaluate_and_predict_on_a_dataset_match_the_in_memory_calls() {
    let (x, y) = blobs(50, 0.2);
    let mut t = net(5);
    t.fit(&x, &y, &config(3, 16), None, &mut []).unwrap();
    let mem = t.evaluate(&x, &y, 16).unwrap();
    let ds = t.evaluate_dataset(&pipeline(&x, &y, 16)).unwrap();
    assert_eq!(mem, ds);
    let out_mem = t.predict(&x, 16).unwrap();
    let inputs = pipeline(&x, &y, 16).map(|(xb, _)| xb);
    let out_ds = t.predict_dataset(&inputs).unwrap();
    assert_eq!(out_ds.dims(), vec![50, 3]);
    assert_eq!(out_mem.to_vec(), out_ds.to_vec());
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dimflow-train-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 12 rows of blob data as CSV (header on line 1, row i on line i + 2); with `bad`, the value
/// of `x1` on line 6 (row 4) is replaced by `oops`.
fn write_csv(dir: &std::path::Path, name: &str, bad: bool, drop_bad_row: bool) -> PathBuf {
    let (x, y) = blobs(12, 0.0);
    let (xs, ys) = (x.to_vec(), y.to_vec());
    let mut text = String::from("x0,x1,label\n");
    for i in 0..12 {
        if i == 4 && drop_bad_row {
            continue;
        }
        let x1 = if i == 4 && bad {
            "oops".to_string()
        } else {
            xs[2 * i + 1].to_string()
        };
        text.push_str(&format!("{},{x1},{}\n", xs[2 * i], ys[i]));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn csv_pipeline(path: &std::path::Path) -> Dataset<(X, Y)> {
    let schema = Schema::new()
        .column("x0", ColumnType::Float)
        .column("x1", ColumnType::Float)
        .column("label", ColumnType::Float);
    let format = CsvFormat::with_schema(schema, true, b',').unwrap();
    let schema = Arc::clone(format.schema());
    format.read(path).batch(4, false).try_map(move |records| {
        let b = RecordBatch::from_records(Arc::clone(&schema), &records)?;
        let x = b.tensor::<(Batch, Feat)>(&["x0", "x1"])?;
        let y = Tensor::<(Batch,)>::from_vec(b.floats("label")?, &[b.num_rows()])?;
        Ok((x, y))
    })
}

#[test]
fn a_malformed_row_ends_fit_with_an_error_naming_file_and_line() {
    let dir = temp_dir("fail");
    let path = write_csv(&dir, "bad.csv", true, false);
    let mut t = net(1);
    let err = t
        .fit_dataset(&csv_pipeline(&path), None, &config(2, 4), &mut [])
        .unwrap_err();
    match &err {
        NnError::Data(DataError::Parse {
            file,
            line,
            column,
            value,
            ..
        }) => {
            assert_eq!(file, &path);
            assert_eq!(*line, 6);
            assert_eq!(column, "x1");
            assert_eq!(value, "oops");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("bad.csv:6:"), "{msg}");
    assert!(msg.starts_with("input pipeline: "), "{msg}");
    // A missing file is an error naming it.
    let missing = dir.join("nope.csv");
    let err = t
        .fit_dataset(&csv_pipeline(&missing), None, &config(1, 4), &mut [])
        .unwrap_err();
    assert!(err.to_string().contains("nope.csv"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn skipped_rows_are_counted_per_epoch_and_lose_only_that_row() {
    let dir = temp_dir("skip");
    let bad = write_csv(&dir, "bad.csv", true, false);
    let clean = write_csv(&dir, "clean.csv", false, true);
    let mut a = net(2);
    let ha = a
        .fit_dataset(&csv_pipeline(&bad).skip_errors(), None, &config(3, 4), &mut [])
        .unwrap();
    // One bad row in each of the three passes.
    assert_eq!(ha.history["skipped"], vec![1.0, 1.0, 1.0]);
    // The same 11 good rows, batched around the bad one: the weights of the clean file's run.
    let mut b = net(2);
    let hb = b
        .fit_dataset(&csv_pipeline(&clean).skip_errors(), None, &config(3, 4), &mut [])
        .unwrap();
    assert_eq!(hb.history["skipped"], vec![0.0, 0.0, 0.0]);
    assert_eq!(weights(&a), weights(&b));
    assert_eq!(ha.history["loss"], hb.history["loss"]);
    // With steps_per_epoch 2 over 3 batches per pass, the bad row (met while reading batch 2 of
    // a pass) is counted in the epoch that reads it. A pass that runs out ends its epoch early:
    // epoch 0 = batches 1, 2; epoch 1 = batch 3; epoch 2 = batches 1, 2 of a new pass; epoch 3 = 3.
    let mut c = net(2);
    let cfg = FitConfig {
        steps_per_epoch: Some(2),
        ..config(4, 4)
    };
    let hc = c
        .fit_dataset(&csv_pipeline(&bad).skip_errors(), None, &cfg, &mut [])
        .unwrap();
    assert_eq!(hc.history["skipped"], vec![1.0, 0.0, 1.0, 0.0]);
    // evaluate reports the count too.
    let logs = c.evaluate_dataset(&csv_pipeline(&bad).skip_errors()).unwrap();
    assert_eq!(logs["skipped"], 1.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_dataset_is_an_error() {
    let (x, y) = blobs(6, 0.0);
    let empty = pipeline(&x, &y, 4).take(0);
    let mut t = net(1);
    let err = t.fit_dataset(&empty, None, &config(1, 4), &mut []).unwrap_err();
    assert!(err.to_string().contains("no batch"), "{err}");
    assert!(t.evaluate_dataset(&empty).is_err());
}
