//! Losses with Keras 3 semantics: each returns the reduced value and its gradient with respect
//! to the predictions, over row-major `(batch, features)` buffers.
//!
//! Per-sample losses are the mean over the last axis (MSE, MAE, Huber, binary cross-entropy)
//! or the sum over classes (categorical cross-entropies), exactly as Keras computes them;
//! sample weights multiply the per-sample losses before the [`Reduction`].
//!
//! ```
//! use tensor_nn::losses::{Loss, MeanSquaredError};
//! // two samples, two features: per-sample losses are (0.5² + 0²)/2 and (1² + 1²)/2.
//! let out = MeanSquaredError::default()
//!     .compute(&[0.5, 0.0, 1.0, 1.0], &[0.0, 0.0, 0.0, 0.0], 2, None)
//!     .unwrap();
//! assert!((out.value - (0.125 + 1.0) / 2.0).abs() < 1e-7);
//! ```

use crate::error::{check_len, NnError, Result};

/// Keras' `backend.epsilon()`, used to clip probabilities.
pub const EPSILON: f32 = 1e-7;

/// How per-sample losses are combined into one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// No reduction: [`LossOutput::value`] is the sum and the gradient is that of the sum.
    None,
    /// The sum of the weighted per-sample losses.
    Sum,
    /// The sum of the weighted per-sample losses divided by the batch size (Keras' default).
    #[default]
    SumOverBatchSize,
    /// The sum of the weighted per-sample losses divided by the sum of the sample weights.
    MeanWithSampleWeight,
}

/// A loss value with everything the training loop needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LossOutput {
    /// The reduced loss.
    pub value: f32,
    /// The weighted per-sample losses (before reduction).
    pub per_sample: Vec<f32>,
    /// The gradient of `value` with respect to each prediction (same layout as `y_pred`).
    pub grad: Vec<f32>,
}

/// A loss function over a batch of predictions.
pub trait Loss: Send + Sync {
    /// The Keras name, e.g. `mean_squared_error`.
    fn name(&self) -> &'static str;

    /// The reduction this loss applies.
    fn reduction(&self) -> Reduction {
        Reduction::SumOverBatchSize
    }

    /// Number of target values per sample for `features` predictions per sample (1 for sparse
    /// integer labels, `features` otherwise).
    fn targets_per_sample(&self, features: usize) -> usize {
        features
    }

    /// Writes the unweighted per-sample losses into `losses` (length `batch`) and
    /// d(loss_i)/d(y_pred) into `grad` (same layout as `y_pred`), in f64.
    ///
    /// # Errors
    /// When a target is invalid (e.g. a class index out of range).
    fn per_sample(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        losses: &mut [f64],
        grad: &mut [f64],
    ) -> Result<()>;

    /// The reduced loss and its gradient for a batch of `batch` samples.
    ///
    /// # Errors
    /// [`NnError::Length`] when the buffers do not fit `batch`, [`NnError::InvalidArgument`] for
    /// invalid targets or a zero batch.
    fn compute(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        sample_weight: Option<&[f32]>,
    ) -> Result<LossOutput> {
        if batch == 0 || !y_pred.len().is_multiple_of(batch) || y_pred.is_empty() {
            return Err(NnError::invalid(
                self.name(),
                format!("{} predictions do not split into {batch} samples", y_pred.len()),
            ));
        }
        let features = y_pred.len() / batch;
        check_len(
            self.name(),
            "y_true",
            batch * self.targets_per_sample(features),
            y_true.len(),
        )?;
        if let Some(w) = sample_weight {
            check_len(self.name(), "sample_weight", batch, w.len())?;
        }
        let mut losses = vec![0f64; batch];
        let mut grad = vec![0f64; y_pred.len()];
        self.per_sample(y_pred, y_true, batch, &mut losses, &mut grad)?;
        let weight = |i: usize| sample_weight.map_or(1.0, |w| f64::from(w[i]));
        let mut total = 0f64;
        let mut per_sample = Vec::with_capacity(batch);
        for (i, l) in losses.iter().enumerate() {
            let w = l * weight(i);
            total += w;
            per_sample.push(w as f32);
        }
        let divisor = match self.reduction() {
            Reduction::None | Reduction::Sum => 1.0,
            Reduction::SumOverBatchSize => batch as f64,
            Reduction::MeanWithSampleWeight => match sample_weight {
                Some(w) => w.iter().map(|&x| f64::from(x)).sum(),
                None => batch as f64,
            },
        };
        // Keras uses divide_no_nan: a zero divisor gives a zero loss.
        let scale = if divisor == 0.0 { 0.0 } else { 1.0 / divisor };
        let mut out = Vec::with_capacity(grad.len());
        for (i, row) in grad.chunks(features).enumerate() {
            let s = weight(i) * scale;
            out.extend(row.iter().map(|g| (g * s) as f32));
        }
        Ok(LossOutput {
            value: (total * scale) as f32,
            per_sample,
            grad: out,
        })
    }
}

fn rows<'a>(
    y_pred: &'a [f32],
    y_true: &'a [f32],
    batch: usize,
    grad: &'a mut [f64],
) -> impl Iterator<Item = (usize, &'a [f32], &'a [f32], &'a mut [f64])> {
    let f = y_pred.len() / batch;
    y_pred
        .chunks(f)
        .zip(y_true.chunks(f))
        .zip(grad.chunks_mut(f))
        .enumerate()
        .map(|(i, ((p, t), g))| (i, p, t, g))
}

macro_rules! regression_loss {
    ($(#[$doc:meta])* $name:ident, $keras:literal, |$d:ident, $s:ident| $value:expr, $deriv:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            /// How per-sample losses are combined.
            pub reduction: Reduction,
        }

        impl Default for $name {
            fn default() -> Self {
                Self { reduction: Reduction::SumOverBatchSize }
            }
        }

        impl Loss for $name {
            fn name(&self) -> &'static str {
                $keras
            }
            fn reduction(&self) -> Reduction {
                self.reduction
            }
            fn per_sample(&self, y_pred: &[f32], y_true: &[f32], batch: usize, losses: &mut [f64], grad: &mut [f64]) -> Result<()> {
                #[allow(unused_variables)]
                let $s = self;
                for (i, p, t, g) in rows(y_pred, y_true, batch, grad) {
                    let n = p.len() as f64;
                    let mut acc = 0.0;
                    for j in 0..p.len() {
                        let $d = f64::from(p[j]) - f64::from(t[j]);
                        acc += $value;
                        g[j] = $deriv / n;
                    }
                    losses[i] = acc / n;
                }
                Ok(())
            }
        }
    };
}

regression_loss!(
    /// Mean squared error: `mean((y_pred - y_true)², axis=-1)`.
    MeanSquaredError, "mean_squared_error", |d, s| d * d, 2.0 * d
);
regression_loss!(
    /// Mean absolute error: `mean(|y_pred - y_true|, axis=-1)`; the gradient at 0 is 0.
    MeanAbsoluteError, "mean_absolute_error", |d, s| d.abs(), sign(d)
);

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Huber loss: `0.5·d²` where `|d| ≤ delta`, else `delta·|d| − 0.5·delta²`, averaged over the
/// last axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Huber {
    /// Where the loss turns from quadratic to linear (Keras default 1.0).
    pub delta: f32,
    /// How per-sample losses are combined.
    pub reduction: Reduction,
}

impl Default for Huber {
    fn default() -> Self {
        Self {
            delta: 1.0,
            reduction: Reduction::SumOverBatchSize,
        }
    }
}

impl Loss for Huber {
    fn name(&self) -> &'static str {
        "huber_loss"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn per_sample(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        losses: &mut [f64],
        grad: &mut [f64],
    ) -> Result<()> {
        let delta = f64::from(self.delta);
        for (i, p, t, g) in rows(y_pred, y_true, batch, grad) {
            let n = p.len() as f64;
            let mut acc = 0.0;
            for j in 0..p.len() {
                let d = f64::from(p[j]) - f64::from(t[j]);
                if d.abs() <= delta {
                    acc += 0.5 * d * d;
                    g[j] = d / n;
                } else {
                    acc += delta * d.abs() - 0.5 * delta * delta;
                    g[j] = delta * sign(d) / n;
                }
            }
            losses[i] = acc / n;
        }
        Ok(())
    }
}

/// Binary cross-entropy, averaged over the last axis. On probabilities they are clipped to
/// `[ε, 1 − ε]` (zero gradient outside); on logits it uses the stable
/// `max(x, 0) − x·y + log(1 + e^−|x|)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryCrossentropy {
    /// Whether predictions are logits rather than probabilities.
    pub from_logits: bool,
    /// Targets become `y·(1 − s) + 0.5·s`.
    pub label_smoothing: f32,
    /// How per-sample losses are combined.
    pub reduction: Reduction,
}

impl Default for BinaryCrossentropy {
    fn default() -> Self {
        Self {
            from_logits: false,
            label_smoothing: 0.0,
            reduction: Reduction::SumOverBatchSize,
        }
    }
}

impl BinaryCrossentropy {
    /// Binary cross-entropy on logits.
    pub fn from_logits() -> Self {
        Self {
            from_logits: true,
            ..Self::default()
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Loss for BinaryCrossentropy {
    fn name(&self) -> &'static str {
        "binary_crossentropy"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn per_sample(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        losses: &mut [f64],
        grad: &mut [f64],
    ) -> Result<()> {
        let s = f64::from(self.label_smoothing);
        let eps = f64::from(EPSILON);
        for (i, p, t, g) in rows(y_pred, y_true, batch, grad) {
            let n = p.len() as f64;
            let mut acc = 0.0;
            for j in 0..p.len() {
                let y = f64::from(t[j]) * (1.0 - s) + 0.5 * s;
                let x = f64::from(p[j]);
                if self.from_logits {
                    acc += x.max(0.0) - x * y + (-x.abs()).exp().ln_1p();
                    g[j] = (sigmoid(x) - y) / n;
                } else {
                    let q = x.clamp(eps, 1.0 - eps);
                    acc -= y * q.ln() + (1.0 - y) * (1.0 - q).ln();
                    g[j] = if (eps..=1.0 - eps).contains(&x) {
                        (-(y / q) + (1.0 - y) / (1.0 - q)) / n
                    } else {
                        0.0
                    };
                }
            }
            losses[i] = acc / n;
        }
        Ok(())
    }
}

/// Categorical cross-entropy over one-hot (or soft) targets: `−Σ y·log(p)`. On probabilities
/// Keras first rescales each row to sum 1 and clips to `[ε, 1 − ε]`; on logits it is the stable
/// `logsumexp(x)·Σy − Σ y·x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CategoricalCrossentropy {
    /// Whether predictions are logits rather than probabilities.
    pub from_logits: bool,
    /// Targets become `y·(1 − s) + s / classes`.
    pub label_smoothing: f32,
    /// How per-sample losses are combined.
    pub reduction: Reduction,
}

impl Default for CategoricalCrossentropy {
    fn default() -> Self {
        Self {
            from_logits: false,
            label_smoothing: 0.0,
            reduction: Reduction::SumOverBatchSize,
        }
    }
}

impl CategoricalCrossentropy {
    /// Categorical cross-entropy on logits.
    pub fn from_logits() -> Self {
        Self {
            from_logits: true,
            ..Self::default()
        }
    }
}

/// Numerically stable log-softmax of one row, returned with the softmax.
fn log_softmax(x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let sum: f64 = x.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    let lse = max + sum.ln();
    let logp: Vec<f64> = x.iter().map(|&v| f64::from(v) - lse).collect();
    let p = logp.iter().map(|l| l.exp()).collect();
    (logp, p)
}

/// Gradient of `L(clip(p / Σp))` with respect to `p`, given `dL/dq` at the clipped values:
/// zero where clipping was active, then through the normalisation.
fn through_normalisation(p: &[f32], dq: &mut [f64], g: &mut [f64]) {
    let eps = f64::from(EPSILON);
    let s: f64 = p.iter().map(|&v| f64::from(v)).sum();
    for (j, &pj) in p.iter().enumerate() {
        let q = f64::from(pj) / s;
        if !(eps..=1.0 - eps).contains(&q) {
            dq[j] = 0.0;
        }
    }
    let dot: f64 = dq.iter().zip(p).map(|(d, &pj)| d * f64::from(pj) / s).sum();
    for j in 0..p.len() {
        g[j] = (dq[j] - dot) / s;
    }
}

impl Loss for CategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "categorical_crossentropy"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn per_sample(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        losses: &mut [f64],
        grad: &mut [f64],
    ) -> Result<()> {
        let s = f64::from(self.label_smoothing);
        let eps = f64::from(EPSILON);
        for (i, p, t, g) in rows(y_pred, y_true, batch, grad) {
            let k = p.len() as f64;
            let y: Vec<f64> = t.iter().map(|&v| f64::from(v) * (1.0 - s) + s / k).collect();
            if self.from_logits {
                let (logp, sm) = log_softmax(p);
                let ysum: f64 = y.iter().sum();
                losses[i] = -y.iter().zip(&logp).map(|(a, b)| a * b).sum::<f64>();
                for j in 0..p.len() {
                    g[j] = sm[j] * ysum - y[j];
                }
            } else {
                let sum: f64 = p.iter().map(|&v| f64::from(v)).sum();
                let mut dq = vec![0.0; p.len()];
                let mut acc = 0.0;
                for j in 0..p.len() {
                    let q = (f64::from(p[j]) / sum).clamp(eps, 1.0 - eps);
                    acc -= y[j] * q.ln();
                    dq[j] = -y[j] / q;
                }
                losses[i] = acc;
                through_normalisation(p, &mut dq, g);
            }
        }
        Ok(())
    }
}

/// Sparse categorical cross-entropy: integer class labels (one per sample, stored as `f32`).
/// On probabilities Keras clips to `[ε, 1 − ε]`, takes the log and applies softmax
/// cross-entropy to it, i.e. `log Σ clip(p) − log clip(p)[label]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparseCategoricalCrossentropy {
    /// Whether predictions are logits rather than probabilities.
    pub from_logits: bool,
    /// How per-sample losses are combined.
    pub reduction: Reduction,
}

impl Default for SparseCategoricalCrossentropy {
    fn default() -> Self {
        Self {
            from_logits: false,
            reduction: Reduction::SumOverBatchSize,
        }
    }
}

impl SparseCategoricalCrossentropy {
    /// Sparse categorical cross-entropy on logits.
    pub fn from_logits() -> Self {
        Self {
            from_logits: true,
            ..Self::default()
        }
    }
}

/// Reads a class label stored as `f32`.
///
/// # Errors
/// When it is not a whole number in `0..classes`.
pub fn class_label(op: &'static str, v: f32, classes: usize) -> Result<usize> {
    if v >= 0.0 && v.fract() == 0.0 && (v as usize) < classes {
        Ok(v as usize)
    } else {
        Err(NnError::invalid(
            op,
            format!("label {v} is not a class index in 0..{classes}"),
        ))
    }
}

impl Loss for SparseCategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "sparse_categorical_crossentropy"
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
    fn targets_per_sample(&self, _features: usize) -> usize {
        1
    }
    fn per_sample(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        batch: usize,
        losses: &mut [f64],
        grad: &mut [f64],
    ) -> Result<()> {
        let k = y_pred.len() / batch;
        let eps = f64::from(EPSILON);
        for (i, (p, g)) in y_pred.chunks(k).zip(grad.chunks_mut(k)).enumerate() {
            let label = class_label(self.name(), y_true[i], k)?;
            if self.from_logits {
                // log_softmax without temporaries, one exp per value: g holds e^(x − max), then
                // softmax − onehot = e^(x − max) / Σ − onehot; the loss is lse − x[label] with
                // lse = max + ln Σ.
                let max = p.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let mut sum = 0.0;
                for (gj, &v) in g.iter_mut().zip(p) {
                    *gj = (f64::from(v) - max).exp();
                    sum += *gj;
                }
                let lse = max + sum.ln();
                losses[i] = -(f64::from(p[label]) - lse);
                let inv = 1.0 / sum;
                for (j, gj) in g.iter_mut().enumerate() {
                    *gj = *gj * inv - if j == label { 1.0 } else { 0.0 };
                }
            } else {
                let q: Vec<f64> = p.iter().map(|&v| f64::from(v).clamp(eps, 1.0 - eps)).collect();
                let sum: f64 = q.iter().sum();
                losses[i] = sum.ln() - q[label].ln();
                for j in 0..k {
                    let x = f64::from(p[j]);
                    g[j] = if (eps..=1.0 - eps).contains(&x) {
                        1.0 / sum - if j == label { 1.0 / q[j] } else { 0.0 }
                    } else {
                        0.0
                    };
                }
            }
        }
        Ok(())
    }
}
