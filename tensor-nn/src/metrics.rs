//! Stateful metrics with Keras 3 semantics: `update` accumulates a batch, `result` reads the
//! value over everything seen since the last `reset` (the training loop resets per epoch).
//!
//! ```
//! use tensor_nn::metrics::{BinaryAccuracy, Metric};
//! let mut acc = BinaryAccuracy::default();
//! acc.update(&[0.9, 0.2, 0.7], &[1.0, 1.0, 0.0], 3, None).unwrap();
//! assert!((acc.result() - 1.0 / 3.0).abs() < 1e-7);
//! acc.reset();
//! assert_eq!(acc.result(), 0.0);
//! ```

use crate::error::{check_len, NnError, Result};
use crate::losses::class_label;

/// Keras' `backend.epsilon()`, used for the AUC's outer thresholds.
const EPSILON: f32 = 1e-7;

/// A metric accumulated over batches.
pub trait Metric: Send {
    /// The Keras name, used as the key in logs and History (e.g. `accuracy`).
    fn name(&self) -> &str;

    /// Accumulates one batch of `batch` samples. `y_true` is laid out like `y_pred`, except
    /// for sparse metrics (one class index per sample). `sample_weight` has one weight per
    /// sample, or per value for element-wise binary metrics.
    ///
    /// # Errors
    /// When the lengths do not fit `batch`, or a label is invalid.
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        sample_weight: Option<&[f32]>,
    ) -> Result<()>;

    /// The value over everything accumulated (0 before any update).
    fn result(&self) -> f32;

    /// Forgets everything accumulated.
    fn reset(&mut self);
}

fn ratio(num: f64, den: f64) -> f32 {
    if den == 0.0 {
        0.0
    } else {
        (num / den) as f32
    }
}

fn features(op: &'static str, len: usize, batch: usize) -> Result<usize> {
    if batch == 0 || !len.is_multiple_of(batch) {
        return Err(NnError::invalid(
            op,
            format!("{len} predictions do not split into {batch} samples"),
        ));
    }
    Ok(len / batch)
}

/// Per-value weight for element-wise metrics: per-value weights are used as they are,
/// per-sample weights are broadcast across the sample's values.
fn value_weight(sw: Option<&[f32]>, i: usize, per_sample: usize, values: usize) -> f64 {
    match sw {
        None => 1.0,
        Some(w) if w.len() == values => f64::from(w[i]),
        Some(w) => f64::from(w[i / per_sample]),
    }
}

fn check_weights(op: &'static str, sw: Option<&[f32]>, batch: usize, values: usize) -> Result<()> {
    match sw {
        Some(w) if w.len() != batch && w.len() != values => Err(NnError::Length {
            op,
            what: "sample_weight",
            expected: batch,
            got: w.len(),
        }),
        _ => Ok(()),
    }
}

/// The weighted mean of the values passed to [`Mean::update_values`] (Keras' `Mean`); as a
/// [`Metric`] it averages `y_pred`.
#[derive(Debug, Clone, Default)]
pub struct Mean {
    name: String,
    total: f64,
    count: f64,
}

impl Mean {
    /// A mean called `name` in logs.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            total: 0.0,
            count: 0.0,
        }
    }

    /// Adds `value` with weight `weight`.
    pub fn update_value(&mut self, value: f32, weight: f32) {
        self.total += f64::from(value) * f64::from(weight);
        self.count += f64::from(weight);
    }

    /// Adds every value with weight 1.
    pub fn update_values(&mut self, values: &[f32]) {
        for &v in values {
            self.update_value(v, 1.0);
        }
    }
}

impl Metric for Mean {
    fn name(&self) -> &str {
        &self.name
    }
    fn update(&mut self, y_pred: &[f32], _y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        check_weights("Mean", sw, batch, y_pred.len())?;
        let per = features("Mean", y_pred.len(), batch)?;
        for (i, &v) in y_pred.iter().enumerate() {
            let w = value_weight(sw, i, per, y_pred.len());
            self.total += f64::from(v) * w;
            self.count += w;
        }
        Ok(())
    }
    fn result(&self) -> f32 {
        ratio(self.total, self.count)
    }
    fn reset(&mut self) {
        self.total = 0.0;
        self.count = 0.0;
    }
}

/// Fraction of values where `(y_pred > threshold) == y_true` (Keras' `BinaryAccuracy`,
/// threshold 0.5).
#[derive(Debug, Clone)]
pub struct BinaryAccuracy {
    /// Decision threshold.
    pub threshold: f32,
    mean: Mean,
}

impl Default for BinaryAccuracy {
    fn default() -> Self {
        Self::with_threshold(0.5)
    }
}

impl BinaryAccuracy {
    /// Binary accuracy at another threshold.
    pub fn with_threshold(threshold: f32) -> Self {
        Self {
            threshold,
            mean: Mean::new("binary_accuracy"),
        }
    }
}

impl Metric for BinaryAccuracy {
    fn name(&self) -> &str {
        "binary_accuracy"
    }
    fn update(&mut self, y_pred: &[f32], y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        check_len("BinaryAccuracy", "y_true", y_pred.len(), y_true.len())?;
        check_weights("BinaryAccuracy", sw, batch, y_pred.len())?;
        let per = features("BinaryAccuracy", y_pred.len(), batch)?;
        // Keras takes the mean over the last axis per sample, then a weighted mean of samples;
        // with per-value weights it weighs each value.
        let per_value = sw.is_some_and(|w| w.len() == y_pred.len() && per > 1);
        for s in 0..batch {
            let row = s * per..(s + 1) * per;
            if per_value {
                for i in row {
                    let hit = f32::from(u8::from((y_pred[i] > self.threshold) == (y_true[i] == 1.0)));
                    self.mean.update_value(hit, sw.map_or(1.0, |w| w[i]));
                }
            } else {
                let hits = row
                    .filter(|&i| (y_pred[i] > self.threshold) == (y_true[i] == 1.0))
                    .count();
                self.mean
                    .update_value(hits as f32 / per as f32, sw.map_or(1.0, |w| w[s]));
            }
        }
        Ok(())
    }
    fn result(&self) -> f32 {
        self.mean.result()
    }
    fn reset(&mut self) {
        self.mean.reset();
    }
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Fraction of samples whose arg-max prediction is the arg-max of the one-hot target.
#[derive(Debug, Clone)]
pub struct CategoricalAccuracy {
    mean: Mean,
}

impl Default for CategoricalAccuracy {
    fn default() -> Self {
        Self {
            mean: Mean::new("categorical_accuracy"),
        }
    }
}

impl Metric for CategoricalAccuracy {
    fn name(&self) -> &str {
        "categorical_accuracy"
    }
    fn update(&mut self, y_pred: &[f32], y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        check_len("CategoricalAccuracy", "y_true", y_pred.len(), y_true.len())?;
        check_weights("CategoricalAccuracy", sw, batch, batch)?;
        let k = features("CategoricalAccuracy", y_pred.len(), batch)?;
        for (s, (p, t)) in y_pred.chunks(k).zip(y_true.chunks(k)).enumerate() {
            let hit = f32::from(u8::from(argmax(p) == argmax(t)));
            self.mean.update_value(hit, sw.map_or(1.0, |w| w[s]));
        }
        Ok(())
    }
    fn result(&self) -> f32 {
        self.mean.result()
    }
    fn reset(&mut self) {
        self.mean.reset();
    }
}

/// Fraction of samples whose arg-max prediction equals the integer label.
#[derive(Debug, Clone)]
pub struct SparseCategoricalAccuracy {
    mean: Mean,
}

impl Default for SparseCategoricalAccuracy {
    fn default() -> Self {
        Self {
            mean: Mean::new("sparse_categorical_accuracy"),
        }
    }
}

impl Metric for SparseCategoricalAccuracy {
    fn name(&self) -> &str {
        "sparse_categorical_accuracy"
    }
    fn update(&mut self, y_pred: &[f32], y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        check_len("SparseCategoricalAccuracy", "y_true", batch, y_true.len())?;
        check_weights("SparseCategoricalAccuracy", sw, batch, batch)?;
        let k = features("SparseCategoricalAccuracy", y_pred.len(), batch)?;
        for (s, p) in y_pred.chunks(k).enumerate() {
            let label = class_label("SparseCategoricalAccuracy", y_true[s], k)?;
            let hit = f32::from(u8::from(argmax(p) == label));
            self.mean.update_value(hit, sw.map_or(1.0, |w| w[s]));
        }
        Ok(())
    }
    fn result(&self) -> f32 {
        self.mean.result()
    }
    fn reset(&mut self) {
        self.mean.reset();
    }
}

/// Weighted confusion counts at a list of thresholds (`positive` means `y_pred > t`).
#[derive(Debug, Clone)]
struct Confusion {
    thresholds: Vec<f32>,
    tp: Vec<f64>,
    fp: Vec<f64>,
    tn: Vec<f64>,
    fn_: Vec<f64>,
}

impl Confusion {
    fn new(thresholds: Vec<f32>) -> Self {
        let n = thresholds.len();
        Self {
            thresholds,
            tp: vec![0.0; n],
            fp: vec![0.0; n],
            tn: vec![0.0; n],
            fn_: vec![0.0; n],
        }
    }

    fn update(
        &mut self,
        op: &'static str,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        sw: Option<&[f32]>,
    ) -> Result<()> {
        check_len(op, "y_true", y_pred.len(), y_true.len())?;
        check_weights(op, sw, batch, y_pred.len())?;
        let per = features(op, y_pred.len(), batch)?;
        for (i, (&p, &t)) in y_pred.iter().zip(y_true).enumerate() {
            let w = value_weight(sw, i, per, y_pred.len());
            let positive_label = t == 1.0;
            for (k, &th) in self.thresholds.iter().enumerate() {
                match (p > th, positive_label) {
                    (true, true) => self.tp[k] += w,
                    (true, false) => self.fp[k] += w,
                    (false, false) => self.tn[k] += w,
                    (false, true) => self.fn_[k] += w,
                }
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        for v in [&mut self.tp, &mut self.fp, &mut self.tn, &mut self.fn_] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// `tp / (tp + fp)` at a threshold (Keras' `Precision`, threshold 0.5).
#[derive(Debug, Clone)]
pub struct Precision {
    counts: Confusion,
}

impl Default for Precision {
    fn default() -> Self {
        Self::with_threshold(0.5)
    }
}

impl Precision {
    /// Precision at another threshold.
    pub fn with_threshold(threshold: f32) -> Self {
        Self {
            counts: Confusion::new(vec![threshold]),
        }
    }
}

impl Metric for Precision {
    fn name(&self) -> &str {
        "precision"
    }
    fn update(&mut self, y_pred: &[f32], y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        self.counts.update("Precision", y_pred, y_true, batch, sw)
    }
    fn result(&self) -> f32 {
        ratio(self.counts.tp[0], self.counts.tp[0] + self.counts.fp[0])
    }
    fn reset(&mut self) {
        self.counts.reset();
    }
}

/// `tp / (tp + fn)` at a threshold (Keras' `Recall`, threshold 0.5).
#[derive(Debug, Clone)]
pub struct Recall {
    counts: Confusion,
}

impl Default for Recall {
    fn default() -> Self {
        Self::with_threshold(0.5)
    }
}

impl Recall {
    /// Recall at another threshold.
    pub fn with_threshold(threshold: f32) -> Self {
        Self {
            counts: Confusion::new(vec![threshold]),
        }
    }
}

impl Metric for Recall {
    fn name(&self) -> &str {
        "recall"
    }
    fn update(&mut self, y_pred: &[f32], y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        self.counts.update("Recall", y_pred, y_true, batch, sw)
    }
    fn result(&self) -> f32 {
        ratio(self.counts.tp[0], self.counts.tp[0] + self.counts.fn_[0])
    }
    fn reset(&mut self) {
        self.counts.reset();
    }
}

/// Area under the ROC curve, approximated as Keras does: confusion counts at `num_thresholds`
/// evenly spaced thresholds (default 200, plus −ε and 1 + ε at the ends) and trapezoids.
#[derive(Debug, Clone)]
pub struct Auc {
    counts: Confusion,
}

impl Default for Auc {
    fn default() -> Self {
        Self::with_thresholds(200)
    }
}

impl Auc {
    /// AUC with `num_thresholds` thresholds (at least 3; smaller values are raised to 3).
    pub fn with_thresholds(num_thresholds: usize) -> Self {
        let n = num_thresholds.max(3);
        let mut t = vec![-EPSILON];
        t.extend((0..n - 2).map(|i| (i + 1) as f32 / (n - 1) as f32));
        t.push(1.0 + EPSILON);
        Self {
            counts: Confusion::new(t),
        }
    }
}

impl Metric for Auc {
    fn name(&self) -> &str {
        "auc"
    }
    fn update(&mut self, y_pred: &[f32], y_true: &[f32], batch: usize, sw: Option<&[f32]>) -> Result<()> {
        self.counts.update("Auc", y_pred, y_true, batch, sw)
    }
    fn result(&self) -> f32 {
        let c = &self.counts;
        let n = c.thresholds.len();
        let tpr: Vec<f64> = (0..n)
            .map(|i| f64::from(ratio(c.tp[i], c.tp[i] + c.fn_[i])))
            .collect();
        let fpr: Vec<f64> = (0..n)
            .map(|i| f64::from(ratio(c.fp[i], c.fp[i] + c.tn[i])))
            .collect();
        (0..n - 1)
            .map(|i| (fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2.0)
            .sum::<f64>() as f32
    }
    fn reset(&mut self) {
        self.counts.reset();
    }
}
