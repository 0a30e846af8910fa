//! `Normalization`: numeric features shifted and scaled by the mean and variance of the data
//! (the classic `numeric_column` with a `normalizer_fn`).

use serde::{Deserialize, Serialize};

use crate::data::error::{DataError, Result};

/// Keras' `backend.epsilon()`: the smallest standard deviation divided by.
pub const EPSILON: f32 = 1e-7;

/// Per-feature normalisation `(x - mean) / max(sqrt(var), 1e-7)`, as Keras' `Normalization`
/// with `axis=-1`. `adapt` computes the population mean and variance (divided by `n`) of each
/// feature in f64, in one pass (Welford's update, merged across batches with Chan's formula).
///
/// ```
/// use tensor_nn::data::preprocessing::Normalization;
/// let mut norm = Normalization::new(1);
/// norm.adapt([[1.0f32], [2.0], [3.0]].iter().map(|r| &r[..])).unwrap();
/// assert_eq!(norm.mean(), &[2.0]);
/// let out = norm.apply(&[3.0]).unwrap();
/// assert!((out[0] - 1.0 / (2.0f32 / 3.0).sqrt()).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    features: usize,
    mean: Vec<f32>,
    variance: Vec<f32>,
    count: u64,
    adapted: bool,
}

impl Normalization {
    /// A layer for rows of `features` values, not adapted yet.
    pub fn new(features: usize) -> Self {
        Self {
            features,
            mean: vec![0.0; features],
            variance: vec![1.0; features],
            count: 0,
            adapted: false,
        }
    }

    /// A layer with given statistics (Keras' `mean=`, `variance=` arguments).
    ///
    /// # Errors
    /// [`DataError::Length`] when the two vectors differ in length.
    pub fn with_stats(mean: Vec<f32>, variance: Vec<f32>) -> Result<Self> {
        if mean.len() != variance.len() {
            return Err(DataError::Length {
                op: "Normalization::with_stats",
                expected: mean.len(),
                got: variance.len(),
            });
        }
        Ok(Self {
            features: mean.len(),
            mean,
            variance,
            count: 0,
            adapted: true,
        })
    }

    /// Computes the mean and variance of every feature over `rows` (replacing earlier state).
    ///
    /// # Errors
    /// [`DataError::Length`] for a row of the wrong width; [`DataError::NotAdapted`] when there
    /// are no rows.
    pub fn adapt<'a>(&mut self, rows: impl IntoIterator<Item = &'a [f32]>) -> Result<()> {
        let k = self.features;
        let mut n = 0u64;
        let mut mean = vec![0f64; k];
        let mut m2 = vec![0f64; k];
        for row in rows {
            if row.len() != k {
                return Err(DataError::Length {
                    op: "Normalization::adapt",
                    expected: k,
                    got: row.len(),
                });
            }
            n += 1;
            for j in 0..k {
                let x = f64::from(row[j]);
                let d = x - mean[j];
                mean[j] += d / n as f64;
                m2[j] += d * (x - mean[j]);
            }
        }
        if n == 0 {
            return Err(DataError::NotAdapted {
                layer: "Normalization (no data)",
            });
        }
        self.mean = mean.iter().map(|&m| m as f32).collect();
        self.variance = m2.iter().map(|&s| (s / n as f64) as f32).collect();
        self.count = n;
        self.adapted = true;
        Ok(())
    }

    /// The per-feature means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The per-feature (population) variances.
    pub fn variance(&self) -> &[f32] {
        &self.variance
    }

    /// The number of rows `adapt` saw.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The row width.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Normalises a batch of rows laid out row-major (`data.len()` a multiple of the width).
    ///
    /// # Errors
    /// [`DataError::NotAdapted`]; [`DataError::Length`] for data that is not whole rows.
    pub fn apply(&self, data: &[f32]) -> Result<Vec<f32>> {
        if !self.adapted {
            return Err(DataError::NotAdapted {
                layer: "Normalization",
            });
        }
        let k = self.features;
        if k == 0 || !data.len().is_multiple_of(k) {
            return Err(DataError::Length {
                op: "Normalization::apply",
                expected: data.len().div_ceil(k.max(1)) * k,
                got: data.len(),
            });
        }
        let scale: Vec<f32> = self
            .variance
            .iter()
            .map(|v| 1.0 / v.sqrt().max(EPSILON))
            .collect();
        Ok(data
            .iter()
            .enumerate()
            .map(|(i, &x)| (x - self.mean[i % k]) * scale[i % k])
            .collect())
    }
}
