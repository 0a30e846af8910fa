//! `CategoryEncoding`: dense one-hot, multi-hot or count vectors from indices (the classic
//! `indicator_column`, and `categorical_column_with_identity` for integer inputs).

use serde::{Deserialize, Serialize};

use crate::data::error::{DataError, Result};

/// What [`CategoryEncoding`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputMode {
    /// One index per row, a single 1.
    OneHot,
    /// Several indices per row, 1 at each (duplicates still 1).
    MultiHot,
    /// Several indices per row, the number of times each appears.
    Count,
}

/// Turns indices in `0..num_tokens` into dense `[rows, num_tokens]` row-major vectors.
///
/// ```
/// use tensor_nn::data::preprocessing::{CategoryEncoding, OutputMode};
/// let enc = CategoryEncoding::new(3, OutputMode::OneHot).unwrap();
/// assert_eq!(enc.one_hot(&[2, 0]).unwrap(), vec![0., 0., 1., 1., 0., 0.]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryEncoding {
    num_tokens: usize,
    mode: OutputMode,
}

impl CategoryEncoding {
    /// A layer for `num_tokens` categories.
    ///
    /// # Errors
    /// [`DataError::Argument`] for zero tokens.
    pub fn new(num_tokens: usize, mode: OutputMode) -> Result<Self> {
        if num_tokens == 0 {
            return Err(DataError::Argument {
                op: "CategoryEncoding",
                message: "num_tokens must be positive".into(),
            });
        }
        Ok(Self { num_tokens, mode })
    }

    /// The output width.
    pub fn num_tokens(&self) -> usize {
        self.num_tokens
    }

    /// The output mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    fn check(&self, i: i64) -> Result<usize> {
        if i < 0 || i as u64 >= self.num_tokens as u64 {
            return Err(DataError::IndexOutOfRange {
                layer: "CategoryEncoding",
                index: i,
                len: self.num_tokens,
            });
        }
        Ok(i as usize)
    }

    /// One row per index, a 1 at the index (whatever the mode: a row of one index is the same
    /// in all three).
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`].
    pub fn one_hot(&self, indices: &[usize]) -> Result<Vec<f32>> {
        let mut out = vec![0.0; indices.len() * self.num_tokens];
        for (r, &i) in indices.iter().enumerate() {
            let i = self.check(i64::try_from(i).unwrap_or(i64::MAX))?;
            out[r * self.num_tokens + i] = 1.0;
        }
        Ok(out)
    }

    /// Integer inputs used as indices directly (`categorical_column_with_identity`): negative
    /// or too large values are an error.
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`].
    pub fn identity(&self, values: &[i64]) -> Result<Vec<f32>> {
        let idx: Vec<usize> = values.iter().map(|&v| self.check(v)).collect::<Result<_>>()?;
        self.one_hot(&idx)
    }

    /// One row per list of indices, following the mode.
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`]; [`DataError::Argument`] for a row with several indices
    /// in [`OutputMode::OneHot`].
    pub fn encode(&self, rows: &[Vec<usize>]) -> Result<Vec<f32>> {
        let mut out = vec![0.0; rows.len() * self.num_tokens];
        for (r, idx) in rows.iter().enumerate() {
            if self.mode == OutputMode::OneHot && idx.len() != 1 {
                return Err(DataError::Argument {
                    op: "CategoryEncoding",
                    message: format!("one_hot needs one index per row, row {r} has {}", idx.len()),
                });
            }
            for &i in idx {
                let i = self.check(i64::try_from(i).unwrap_or(i64::MAX))?;
                let cell = &mut out[r * self.num_tokens + i];
                *cell = match self.mode {
                    OutputMode::Count => *cell + 1.0,
                    OutputMode::OneHot | OutputMode::MultiHot => 1.0,
                };
            }
        }
        Ok(out)
    }
}
