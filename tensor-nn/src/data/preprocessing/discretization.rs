//! `Discretization`: bucket indices from boundaries (the classic `bucketized_column`).

use serde::{Deserialize, Serialize};

use crate::data::error::{DataError, Result};

/// Maps a number to the index of its bucket: with boundaries `b_0 < b_1 < ... < b_{m-1}`,
/// `x < b_0` is bucket 0, `b_{i-1} <= x < b_i` is bucket `i`, `x >= b_{m-1}` is bucket `m`
/// (Keras' `Discretization`, TF's `Bucketize`). NaN goes to bucket 0.
///
/// ```
/// use tensor_nn::data::preprocessing::Discretization;
/// let d = Discretization::with_boundaries(vec![0.0, 1.0, 2.5]).unwrap();
/// assert_eq!(d.apply(&[-1.0, 0.0, 0.5, 2.5, 10.0]), vec![0, 1, 1, 3, 3]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discretization {
    boundaries: Vec<f32>,
}

impl Discretization {
    /// A layer with the given, strictly increasing boundaries.
    ///
    /// # Errors
    /// [`DataError::Argument`] when the boundaries are not strictly increasing or are NaN.
    pub fn with_boundaries(boundaries: Vec<f32>) -> Result<Self> {
        if boundaries.iter().any(|b| b.is_nan()) || boundaries.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DataError::Argument {
                op: "Discretization",
                message: format!("boundaries must be strictly increasing, got {boundaries:?}"),
            });
        }
        Ok(Self { boundaries })
    }

    /// Boundaries at the quantiles `1/num_bins, ..., (num_bins-1)/num_bins` of `values`
    /// (exact quantiles of the sorted data, the lower value at each rank
    /// `floor(q * n)`; Keras approximates them), with repeated boundaries merged. NaNs are ignored.
    ///
    /// # Errors
    /// [`DataError::Argument`] for `num_bins == 0`, [`DataError::NotAdapted`] for no values.
    pub fn adapt(num_bins: usize, values: impl IntoIterator<Item = f32>) -> Result<Self> {
        if num_bins == 0 {
            return Err(DataError::Argument {
                op: "Discretization::adapt",
                message: "num_bins must be positive".into(),
            });
        }
        let mut v: Vec<f32> = values.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Err(DataError::NotAdapted {
                layer: "Discretization (no data)",
            });
        }
        v.sort_by(f32::total_cmp);
        let n = v.len();
        let mut boundaries: Vec<f32> = Vec::with_capacity(num_bins.saturating_sub(1));
        for k in 1..num_bins {
            let rank = (k * n / num_bins).min(n - 1);
            let b = v[rank];
            if boundaries.last().is_none_or(|&last| b > last) {
                boundaries.push(b);
            }
        }
        Ok(Self { boundaries })
    }

    /// The boundaries.
    pub fn boundaries(&self) -> &[f32] {
        &self.boundaries
    }

    /// The number of buckets, `boundaries + 1`.
    pub fn num_buckets(&self) -> usize {
        self.boundaries.len() + 1
    }

    /// The bucket index of every value.
    pub fn apply(&self, values: &[f32]) -> Vec<usize> {
        values
            .iter()
            .map(|&x| {
                if x.is_nan() {
                    0
                } else {
                    self.boundaries.partition_point(|&b| b <= x)
                }
            })
            .collect()
    }
}
