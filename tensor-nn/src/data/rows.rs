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

    /// As [`Rows::gather_rows`], but writes into `out`, reusing its memory when it is a batch
    /// of the same shape that nothing else shares (what `fit` does with the batch of the
    /// previous step); otherwise `out` is replaced by a new batch.
    ///
    /// # Errors
    /// As [`Rows::gather_rows`]; `out` is left unchanged then.
    fn gather_rows_into(&self, indices: &[usize], out: &mut Self) -> Result<()> {
        *out = self.gather_rows(indices)?;
        Ok(())
    }

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
        check_indices(indices, rows)?;
        let row = self.numel() / rows.max(1);
        let all = self.values();
        let mut dims = self.dims().to_vec();
        dims[0] = indices.len();
        let pieces = indices.iter().map(|&i| &all[i * row..(i + 1) * row]);
        Ok(Tensor::from_pieces_dims(pieces, &dims)?)
    }

    fn gather_rows_into(&self, indices: &[usize], out: &mut Self) -> Result<()> {
        if S::RANK == 0 {
            return Err(NnError::invalid("gather_rows", "a scalar has no rows"));
        }
        let same_shape = out.dims().len() == S::RANK
            && out.dims().first() == Some(&indices.len())
            && out.dims()[1..] == self.dims()[1..];
        let Some(dst) = out.as_mut_slice().filter(|_| same_shape) else {
            *out = self.gather_rows(indices)?;
            return Ok(());
        };
        let rows = self.num_rows();
        check_indices(indices, rows)?;
        let row = self.numel() / rows.max(1);
        let all = self.values();
        if row > 0 {
            for (d, &i) in dst.chunks_exact_mut(row).zip(indices) {
                d.copy_from_slice(&all[i * row..(i + 1) * row]);
            }
        }
        Ok(())
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

/// An error naming the first index that is not below `rows`.
fn check_indices(indices: &[usize], rows: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= rows) {
        Some(i) => Err(NnError::invalid(
            "gather_rows",
            format!("row {i} out of range for {rows} rows"),
        )),
        None => Ok(()),
    }
}

/// The widths (values per row) of the parts of a tuple of batches, checking that every part
/// has the same number of rows.
fn part_widths(op: &'static str, parts: &[(usize, usize)]) -> Result<(usize, Vec<usize>)> {
    let rows = parts.first().map_or(0, |p| p.0);
    let mut widths = Vec::with_capacity(parts.len());
    for (i, &(r, len)) in parts.iter().enumerate() {
        if r != rows {
            return Err(NnError::invalid(
                op,
                format!("part {i} of the tuple has {r} rows, part 0 has {rows}"),
            ));
        }
        widths.push(len.checked_div(rows).unwrap_or(0));
    }
    Ok((rows, widths))
}

/// Tuples of batches (the inputs of a model with several inputs): every part has the same rows;
/// one row of the tuple is the row of each part, one after the other.
macro_rules! impl_rows_for_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Rows + Clone),+> Rows for ($($t,)+) {
            fn num_rows(&self) -> usize {
                self.0.num_rows()
            }

            fn gather_rows(&self, indices: &[usize]) -> Result<Self> {
                part_widths(
                    "gather_rows",
                    &[$((self.$i.num_rows(), self.$i.values().len())),+],
                )?;
                Ok(($(self.$i.gather_rows(indices)?,)+))
            }

            fn gather_rows_into(&self, indices: &[usize], out: &mut Self) -> Result<()> {
                part_widths(
                    "gather_rows",
                    &[$((self.$i.num_rows(), self.$i.values().len())),+],
                )?;
                $(self.$i.gather_rows_into(indices, &mut out.$i)?;)+
                Ok(())
            }

            fn values(&self) -> Cow<'_, [f32]> {
                let parts = [$(self.$i.values()),+];
                let rows = self.num_rows();
                let total: usize = parts.iter().map(|p| p.len()).sum();
                let mut out = Vec::with_capacity(total);
                for r in 0..rows {
                    for p in &parts {
                        let w = p.len() / rows;
                        out.extend_from_slice(&p[r * w..(r + 1) * w]);
                    }
                }
                Cow::Owned(out)
            }

            fn with_values(&self, values: Vec<f32>) -> Result<Self> {
                let (rows, widths) = part_widths(
                    "with_values",
                    &[$((self.$i.num_rows(), self.$i.values().len())),+],
                )?;
                let row: usize = widths.iter().sum();
                if values.len() != rows * row {
                    return Err(NnError::Length {
                        op: "with_values",
                        what: "values",
                        expected: rows * row,
                        got: values.len(),
                    });
                }
                let mut split: Vec<Vec<f32>> = widths.iter().map(|w| Vec::with_capacity(rows * w)).collect();
                for chunk in values.chunks(row.max(1)).take(rows) {
                    let mut at = 0;
                    for (part, &w) in split.iter_mut().zip(&widths) {
                        part.extend_from_slice(&chunk[at..at + w]);
                        at += w;
                    }
                }
                let mut split = split.into_iter();
                Ok(($(self.$i.with_values(split.next().unwrap_or_default())?,)+))
            }

            fn concat_rows(parts: &[Self]) -> Result<Self> {
                Ok(($($t::concat_rows(&parts.iter().map(|p| p.$i.clone()).collect::<Vec<_>>())?,)+))
            }
        }
    };
}

impl_rows_for_tuple!(A 0, B 1);
impl_rows_for_tuple!(A 0, B 1, C 2);
impl_rows_for_tuple!(A 0, B 1, C 2, D 3);

#[cfg(test)]
mod tests {
    use super::*;

    tensor_macros::dims! { crate = ::tensor_core; Batch; Two = 2; Three = 3; }

    type Pair = (Tensor<(Batch, Two)>, Tensor<(Batch, Three)>);

    /// `gather_rows_into` writes the rows `gather_rows` returns, into the same memory when the
    /// batch is unshared and of the same shape, and into new memory otherwise (a clone that
    /// still reads the old batch keeps its values).
    #[test]
    fn gather_rows_into_reuses_an_unshared_batch() {
        let x = Tensor::<(Batch, Three)>::from_vec((0..15).map(|v| v as f32).collect(), &[5]).unwrap();
        let mut out = x.gather_rows(&[0, 1]).unwrap();
        let before = out.as_slice().unwrap().as_ptr();
        x.gather_rows_into(&[4, 2], &mut out).unwrap();
        assert_eq!(out.to_vec(), vec![12., 13., 14., 6., 7., 8.]);
        assert_eq!(out.as_slice().unwrap().as_ptr(), before);
        let kept = out.clone();
        x.gather_rows_into(&[1, 3], &mut out).unwrap();
        assert_eq!(out.to_vec(), vec![3., 4., 5., 9., 10., 11.]);
        assert_eq!(kept.to_vec(), vec![12., 13., 14., 6., 7., 8.]);
        x.gather_rows_into(&[0, 1, 2], &mut out).unwrap();
        assert_eq!(out.dims(), &[3, 3]);
        assert!(x.gather_rows_into(&[5], &mut out).is_err());
        assert_eq!(out.dims(), &[3, 3]);
        let mut both = pair().gather_rows(&[0]).unwrap();
        pair().gather_rows_into(&[1, 0], &mut both).unwrap();
        assert_eq!(both.0.to_vec(), vec![3., 4., 1., 2.]);
        assert_eq!(both.1.to_vec(), vec![13., 14., 15., 10., 11., 12.]);
    }

    fn pair() -> Pair {
        let a = Tensor::from_vec(vec![1., 2., 3., 4.], &[2]).unwrap();
        let b = Tensor::from_vec(vec![10., 11., 12., 13., 14., 15.], &[2]).unwrap();
        (a, b)
    }

    #[test]
    fn tuple_rows_interleave_parts_per_row() {
        let x = pair();
        assert_eq!(x.num_rows(), 2);
        // Row 0 is a's row 0 then b's row 0.
        assert_eq!(&*x.values(), &[1., 2., 10., 11., 12., 3., 4., 13., 14., 15.]);
        let back = x.with_values((0..10).map(|v| v as f32).collect()).unwrap();
        assert_eq!(back.0.to_vec(), vec![0., 1., 5., 6.]);
        assert_eq!(back.1.to_vec(), vec![2., 3., 4., 7., 8., 9.]);
        assert!(x.with_values(vec![0.; 9]).is_err());
    }

    #[test]
    fn tuple_rows_gather_and_concat_every_part() {
        let x = pair();
        let g = x.gather_rows(&[1, 1, 0]).unwrap();
        assert_eq!(g.0.to_vec(), vec![3., 4., 3., 4., 1., 2.]);
        assert_eq!(g.1.to_vec(), vec![13., 14., 15., 13., 14., 15., 10., 11., 12.]);
        let c = Pair::concat_rows(&[x.clone(), g]).unwrap();
        assert_eq!(c.num_rows(), 5);
        assert_eq!(c.1.dims(), &[5, 3]);
        assert!(x.gather_rows(&[2]).is_err());
    }

    #[test]
    fn tuple_parts_with_different_rows_are_an_error() {
        let a = Tensor::<(Batch, Two)>::from_vec(vec![1., 2.], &[1]).unwrap();
        let (_, b) = pair();
        let err = (a, b).gather_rows(&[0]).unwrap_err().to_string();
        assert!(
            err.contains("part 1 of the tuple has 2 rows, part 0 has 1"),
            "{err}"
        );
    }
}
