//! `Embedding`: a trainable lookup table (the classic `embedding_column`).

use serde::{Deserialize, Serialize};

use crate::data::error::{DataError, Result};
use crate::data::rng::SplitMix64;
use crate::model::{ParamMut, ParamRef};

/// A `[input_dim, output_dim]` table of trainable vectors; row `i` is the vector of index `i`.
/// Initialised uniform in `[-0.05, 0.05)` like Keras' default, from a seed.
///
/// `forward` gathers rows; `backward` scatters the output gradient back into the table's
/// gradient (`grad[idx[r]] += grad_out[r]`, overwriting the previous step's gradient), which
/// an optimizer then applies through [`Embedding::params_mut`].
///
/// ```
/// use tensor_nn::data::preprocessing::Embedding;
/// let mut e = Embedding::from_table(3, 2, vec![0., 1., 2., 3., 4., 5.]).unwrap();
/// assert_eq!(e.forward(&[2, 0]).unwrap(), vec![4., 5., 0., 1.]);
/// e.backward(&[2, 2], &[1., 1., 0.5, 0.5]).unwrap();
/// assert_eq!(e.grad(), &[0., 0., 0., 0., 1.5, 1.5]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    name: String,
    shape: [usize; 2],
    table: Vec<f32>,
    #[serde(skip)]
    grad: Vec<f32>,
}

impl Embedding {
    /// A randomly initialised table.
    ///
    /// # Errors
    /// [`DataError::Argument`] for a zero size.
    pub fn new(input_dim: usize, output_dim: usize, seed: u64) -> Result<Self> {
        let mut rng = SplitMix64::new(seed);
        let table = (0..input_dim * output_dim)
            .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 0.1 - 0.05)
            .collect();
        Self::from_table(input_dim, output_dim, table)
    }

    /// A table with given values, row-major.
    ///
    /// # Errors
    /// [`DataError::Argument`] for a zero size, [`DataError::Length`] for the wrong data length.
    pub fn from_table(input_dim: usize, output_dim: usize, table: Vec<f32>) -> Result<Self> {
        if input_dim == 0 || output_dim == 0 {
            return Err(DataError::Argument {
                op: "Embedding",
                message: "input and output sizes must be positive".into(),
            });
        }
        if table.len() != input_dim * output_dim {
            return Err(DataError::Length {
                op: "Embedding::from_table",
                expected: input_dim * output_dim,
                got: table.len(),
            });
        }
        Ok(Self {
            name: "embedding.table".into(),
            shape: [input_dim, output_dim],
            grad: vec![0.0; table.len()],
            table,
        })
    }

    /// The same table under another parameter name (e.g. `embed_cut.table`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The number of rows (indices accepted).
    pub fn input_dim(&self) -> usize {
        self.shape[0]
    }

    /// The vector length.
    pub fn output_dim(&self) -> usize {
        self.shape[1]
    }

    /// The table, row-major.
    pub fn table(&self) -> &[f32] {
        &self.table
    }

    /// The gradient from the last `backward`.
    pub fn grad(&self) -> &[f32] {
        &self.grad
    }

    fn check(&self, i: usize) -> Result<()> {
        if i >= self.shape[0] {
            return Err(DataError::IndexOutOfRange {
                layer: "Embedding",
                index: i64::try_from(i).unwrap_or(i64::MAX),
                len: self.shape[0],
            });
        }
        Ok(())
    }

    /// The rows of `indices`, as `[indices.len(), output_dim]` row-major.
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`].
    pub fn forward(&self, indices: &[usize]) -> Result<Vec<f32>> {
        let d = self.shape[1];
        let mut out = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            self.check(i)?;
            out.extend_from_slice(&self.table[i * d..(i + 1) * d]);
        }
        Ok(out)
    }

    /// Sets the table's gradient to the scatter-add of `grad_out` (`[indices.len(), output_dim]`).
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`], [`DataError::Length`].
    pub fn backward(&mut self, indices: &[usize], grad_out: &[f32]) -> Result<()> {
        let d = self.shape[1];
        if grad_out.len() != indices.len() * d {
            return Err(DataError::Length {
                op: "Embedding::backward",
                expected: indices.len() * d,
                got: grad_out.len(),
            });
        }
        self.grad.clear();
        self.grad.resize(self.table.len(), 0.0);
        for (r, &i) in indices.iter().enumerate() {
            self.check(i)?;
            for (g, &go) in self.grad[i * d..(i + 1) * d]
                .iter_mut()
                .zip(&grad_out[r * d..(r + 1) * d])
            {
                *g += go;
            }
        }
        Ok(())
    }

    /// The table with its gradient, for an optimizer.
    pub fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        if self.grad.len() != self.table.len() {
            self.grad = vec![0.0; self.table.len()];
        }
        vec![ParamMut {
            name: &self.name,
            shape: &self.shape,
            value: &mut self.table,
            grad: &self.grad,
            trainable: true,
        }]
    }

    /// The table, read-only.
    pub fn params(&self) -> Vec<ParamRef<'_>> {
        vec![ParamRef {
            name: &self.name,
            shape: &self.shape,
            value: &self.table,
        }]
    }
}
