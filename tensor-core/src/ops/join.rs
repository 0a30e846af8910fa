//! Concatenation along a named dimension and stacking along a new one.

use super::or_panic;
use super::reduce::split_axis;
use crate::autodiff::rules;
use crate::autodiff::tape::{record_binary, record_many};
use crate::dim::Dim;
use crate::element::Element;
use crate::error::{Result, TensorError};
use crate::layout::Dims;
use crate::shape::{Prepend, ReplaceDim, Shape};
use crate::storage::buffer_from_slice;
use crate::tensor::{checked_numel, describe_shape, max_elements, Tensor};

type Replaced<S, D, New, I> = <S as ReplaceDim<D, New, I>>::Output;

impl<S: Shape, E: Element> Tensor<S, E> {
    /// Concatenates `self` along its dim `D1` with `other` along its dim `D2` (at the same
    /// position; every other dim must match by name) into the new dim `New`, whose length is
    /// the sum: `a.concat(Wide, &b, Deep, Both)` turns `(Batch, Wide)` and `(Batch, Deep)` into
    /// `(Batch, Both)`. The same run-time dim can be all three: `a.concat(Batch, &b, Batch, Batch)`.
    ///
    /// # Errors
    /// [`TensorError::DimMismatch`] when another dim differs in length; [`TensorError::BadLength`]
    /// when `New` has a static size other than the sum; [`TensorError::TooLarge`] when the sum
    /// or the result's element count overflows.
    pub fn try_concat<S2, D1, D2, New, I1, I2>(
        &self,
        _along: D1,
        other: &Tensor<S2, E>,
        _other_along: D2,
        _into: New,
    ) -> Result<Tensor<Replaced<S, D1, New, I1>, E>>
    where
        S: ReplaceDim<D1, New, I1>,
        S2: ReplaceDim<D2, New, I2, Output = Replaced<S, D1, New, I1>>,
        New: Dim,
    {
        let axis = <S as ReplaceDim<D1, New, I1>>::INDEX;
        let (ad, bd) = (self.dims(), other.dims());
        for i in 0..S::RANK {
            if i != axis && ad[i] != bd[i] {
                return Err(TensorError::DimMismatch {
                    op: "concat",
                    dim: S::NAMES[i],
                    left: ad[i],
                    right: bd[i],
                });
            }
        }
        let total = ad[axis]
            .checked_add(bd[axis])
            .ok_or_else(|| TensorError::TooLarge {
                op: "concat",
                shape: format!(
                    "{} with `{}` of length {} + {}",
                    describe_shape(S::NAMES, ad),
                    New::NAME,
                    ad[axis],
                    bd[axis]
                ),
                max: max_elements::<E>(),
                bytes: core::mem::size_of::<E>(),
            })?;
        let mut dims = Dims::from_slice(ad);
        dims[axis] = total;
        checked_numel::<E>("concat", <Replaced<S, D1, New, I1> as Shape>::NAMES, &dims)?;
        if let Some(n) = New::SIZE {
            if n != total {
                return Err(TensorError::BadLength {
                    op: "concat",
                    dim: New::NAME,
                    len: total,
                    reason: format!(
                        ", its static size is {n} (the inputs have {} + {})",
                        ad[axis], bd[axis]
                    ),
                });
            }
        }
        let (a, b) = (self.contiguous(), other.contiguous());
        let (sa, sb) = (a.as_slice().unwrap_or(&[]), b.as_slice().unwrap_or(&[]));
        let (outer, la, inner) = split_axis(ad, axis);
        let lb = bd[axis];
        let mut out = Vec::with_capacity(sa.len() + sb.len());
        for o in 0..outer {
            out.extend_from_slice(&sa[o * la * inner..(o + 1) * la * inner]);
            out.extend_from_slice(&sb[o * lb * inner..(o + 1) * lb * inner]);
        }
        let out = Tensor::from_buffer(buffer_from_slice(&out), &dims);
        if !(self.on_tape() || other.on_tape()) {
            return Ok(out);
        }
        // the gradient is split back along the axis: the first `la` entries to self
        let (a_dims, b_dims) = (Dims::from_slice(ad), Dims::from_slice(bd));
        Ok(record_binary(self, other, out, move |g, needs| {
            let sg = rules::data(g);
            let mut ga = Vec::with_capacity(if needs[0] { outer * la * inner } else { 0 });
            let mut gb = Vec::with_capacity(if needs[1] { outer * lb * inner } else { 0 });
            let row = (la + lb) * inner;
            for o in 0..outer {
                let block = &sg[o * row..(o + 1) * row];
                if needs[0] {
                    ga.extend_from_slice(&block[..la * inner]);
                }
                if needs[1] {
                    gb.extend_from_slice(&block[la * inner..]);
                }
            }
            (
                needs[0].then(|| Tensor::from_buffer(buffer_from_slice(&ga), &a_dims)),
                needs[1].then(|| Tensor::from_buffer(buffer_from_slice(&gb), &b_dims)),
            )
        }))
    }

    /// Concatenation; see [`Tensor::try_concat`].
    ///
    /// # Panics
    /// When another dim differs in length, or `New`'s static size is not the sum.
    #[track_caller]
    pub fn concat<S2, D1, D2, New, I1, I2>(
        &self,
        along: D1,
        other: &Tensor<S2, E>,
        other_along: D2,
        into: New,
    ) -> Tensor<Replaced<S, D1, New, I1>, E>
    where
        S: ReplaceDim<D1, New, I1>,
        S2: ReplaceDim<D2, New, I2, Output = Replaced<S, D1, New, I1>>,
        New: Dim,
    {
        or_panic(self.try_concat(along, other, other_along, into))
    }

    /// Stacks tensors of one shape along a new leading dim `New` (of length `tensors.len()`).
    ///
    /// # Errors
    /// [`TensorError::Empty`] for no tensors, [`TensorError::DimMismatch`] when lengths differ,
    /// [`TensorError::BadLength`] when `New` has a static size other than the count,
    /// [`TensorError::TooLarge`] when the result's element count overflows.
    pub fn try_stack<New: Dim>(tensors: &[Tensor<S, E>]) -> Result<Tensor<<S as Prepend<New>>::Output, E>>
    where
        S: Prepend<New>,
    {
        let first = tensors.first().ok_or(TensorError::Empty { op: "stack" })?;
        if let Some(n) = New::SIZE {
            if n != tensors.len() {
                return Err(TensorError::BadLength {
                    op: "stack",
                    dim: New::NAME,
                    len: tensors.len(),
                    reason: format!(", its static size is {n}"),
                });
            }
        }
        for t in tensors {
            super::check_trailing("stack", S::NAMES, first.dims(), t.dims())?;
        }
        let mut dims = Dims::from_slice(&[tensors.len()]);
        dims.extend_from_slice(first.dims());
        let total = checked_numel::<E>("stack", <S as Prepend<New>>::Output::NAMES, &dims)?;
        let mut out = Vec::with_capacity(total);
        for t in tensors {
            out.extend(t.to_vec());
        }
        let out = Tensor::from_buffer(buffer_from_slice(&out), &dims);
        if !tensors.iter().any(Tensor::on_tape) {
            return Ok(out);
        }
        // the gradient of input `i` is slice `i` along the new leading dim
        let each = Dims::from_slice(first.dims());
        Ok(record_many(tensors, out, move |g| {
            let n: usize = each.iter().product();
            rules::data(g)
                .chunks(n)
                .map(|c| Tensor::from_buffer(crate::storage::buffer_from_slice(c), &each))
                .collect()
        }))
    }

    /// Stacking; see [`Tensor::try_stack`].
    ///
    /// # Panics
    /// When the list is empty, lengths differ, or `New`'s static size is not the count.
    #[track_caller]
    pub fn stack<New: Dim>(tensors: &[Tensor<S, E>]) -> Tensor<<S as Prepend<New>>::Output, E>
    where
        S: Prepend<New>,
    {
        or_panic(Self::try_stack(tensors))
    }
}
