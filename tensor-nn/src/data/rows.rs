//! Row-wise access to batches: what the training loop needs from inputs, outputs and targets
//! to slice, shuffle and concatenate them along the first (batch) dimension.
//!
//! ```
//! use tensor_core::prelude::*;
//! use tensor_nn::data::Rows;
//! tensor_macros::dims! { crate = ::tensor_core; Batch; Features = 2; }
//! let x = Tensor::<(Batch, Features)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3]).unwrap();
//! let picked = x.gather_rows(&[2, 0]).unwrap();
//! assert_eq!(picked.to_vec(), vec![5., 6., 1., 2.]);
//! assert_eq!(picked.num_rows(), 2);
//! ```

use std::borrow::Cow;

use tensor_core::{Shape, Tensor};

use crate::error::{NnError, Result};

/// A batch of samples laid out row-major, one sample per index of the first dimension.
pub trait Rows: Sized {
    /// Number of samples.
    fn num_rows(&self) -> usize;

    /// The samples at `indices`, in that order.
    ///
    /// # Errors
    /// When an index is out of range or the type cannot hold that many rows (a static
    /// first dimension).
    fn gather_rows(&self, indices: &[usize]) -> Result<Self>;

    /// All values, row-major.
    fn values(&self) -> Cow<'_, [f32]>;

    /// A batch with the same dimensions holding `values`.
    ///
    /// # Errors
    /// When `values` has another length.
    fn with_values(&self, values: Vec<f32>) -> Result<Self>;

    /// The rows of all `parts` one after the other.
    ///
    /// # Errors
    /// When `parts` is empty or the parts differ beyond the first dimension.
    fn concat_rows(parts: &[Self]) -> Result<Self>;
}

impl<S: Shape> Rows for Tensor<S, f32> {
    fn num_rows(&self) -> usize {
        self.dims().first().copied().unwrap_or(1)
    }

    fn gather_rows(&self, indices: &[usize]) -> Result<Self> {
        if S::RANK == 0 {
            return Err(NnError::invalid("gather_rows", "a scalar has no rows"));
        }
        let rows = self.num_rows();
        let row = self.numel() / rows.max(1);
        let all = self.values();
        let mut data = Vec::with_capacity(indices.len() * row);
        for &i in indices {
            if i >= rows {
                return Err(NnError::invalid(
                    "gather_rows",
                    format!("row {i} out of range for {rows} rows"),
                ));
            }
            data.extend_from_slice(&all[i * row..(i + 1) * row]);
        }
        let mut dims = self.dims().to_vec();
        dims[0] = indices.len();
        Ok(Tensor::from_vec_dims(data, &dims)?)
    }

    fn values(&self) -> Cow<'_, [f32]> {
        match self.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(self.to_vec()),
        }
    }

    fn with_values(&self, values: Vec<f32>) -> Result<Self> {
        Ok(Tensor::from_vec_dims(values, self.dims())?)
    }

    fn concat_rows(parts: &[Self]) -> Result<Self> {
        let first = parts
            .first()
            .ok_or_else(|| NnError::invalid("concat_rows", "nothing to concatenate"))?;
        let mut dims = first.dims().to_vec();
        let mut data = Vec::new();
        let mut rows = 0;
        for p in parts {
            if p.dims().get(1..) != first.dims().get(1..) {
                return Err(NnError::invalid(
                    "concat_rows",
                    format!(
                        "dims {:?} and {:?} differ beyond the first",
                        first.dims(),
                        p.dims()
                    ),
                ));
            }
            rows += p.num_rows();
            data.extend_from_slice(&p.values());
        }
        if let Some(d) = dims.first_mut() {
            *d = rows;
        }
        Ok(Tensor::from_vec_dims(data, &dims)?)
    }
}
