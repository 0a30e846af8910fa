//! Slicing (`narrow`, `slice_as`), `index_select` and `gather` by index tensors.

use super::or_panic;
use super::reduce::{dims_without, split_axis};
use crate::autodiff::rules;
use crate::autodiff::tape::record_unary;
use crate::dim::Dim;
use crate::element::{Element, Index};
use crate::error::{Result, TensorError};
use crate::layout::Dims;
use crate::shape::{HasDim, RemoveDim, ReplaceDim, Shape};
use crate::storage::{buffer_from_iter, buffer_from_slice};
use crate::tensor::{checked_numel, Tensor};

fn check_range(op: &'static str, dim: &'static str, start: usize, len: usize, full: usize) -> Result<()> {
    if len == 0 || start.checked_add(len).is_none_or(|e| e > full) {
        return Err(TensorError::Range {
            op,
            dim,
            start,
            end: start.saturating_add(len),
            len: full,
        });
    }
    Ok(())
}

fn to_index<I: Index>(op: &'static str, dim: &'static str, i: I, len: usize) -> Result<usize> {
    match i.to_usize() {
        Some(u) if u < len => Ok(u),
        _ => Err(TensorError::IndexOutOfRange {
            op,
            dim,
            index: i.to_i64().unwrap_or(i64::MAX),
            len,
        }),
    }
}

/// Records a narrowed view: the gradient is zero outside the window and the output's
/// gradient inside it.
fn record_narrow<S: Shape, S2: Shape, E: Element>(
    x: &Tensor<S, E>,
    out: Tensor<S2, E>,
    axis: usize,
    start: usize,
) -> Tensor<S2, E> {
    if !x.on_tape() {
        return out;
    }
    let own = Dims::from_slice(x.dims());
    record_unary(x, out, move |g| {
        let sg = rules::data(g);
        let (outer, len, inner) = split_axis(&own, axis);
        let glen = g.dims()[axis];
        let mut gx = rules::zeros_buf::<E>(&own);
        for o in 0..outer {
            let src = &sg[o * glen * inner..(o + 1) * glen * inner];
            let at = (o * len + start) * inner;
            gx[at..at + glen * inner].copy_from_slice(src);
        }
        Tensor::from_buffer(gx, &own)
    })
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// The view `start..start + len` along dim `D`, keeping the shape type. `D` must be a
    /// run-time dim (a static dim's length is part of its type: use [`Tensor::slice_as`]).
    ///
    /// # Errors
    /// [`TensorError::Range`] when the range does not fit; [`TensorError::BadLength`] when `D`
    /// is static and `len` differs from its size.
    pub fn try_narrow<D: Dim, Idx>(&self, start: usize, len: usize) -> Result<Self>
    where
        S: HasDim<D, Idx>,
    {
        let axis = <S as HasDim<D, Idx>>::INDEX;
        check_range("narrow", D::NAME, start, len, self.dims()[axis])?;
        if let Some(n) = D::SIZE {
            if n != len {
                return Err(TensorError::BadLength {
                    op: "narrow",
                    dim: D::NAME,
                    len,
                    reason: format!(", its static size is {n}; use slice_as to a new dim"),
                });
            }
        }
        Ok(record_narrow(
            self,
            self.view_as(self.layout.narrowed(axis, start, len)),
            axis,
            start,
        ))
    }

    /// Narrowing; see [`Tensor::try_narrow`].
    ///
    /// # Panics
    /// When the range does not fit or `D` is static with another length.
    #[track_caller]
    pub fn narrow<D: Dim, Idx>(&self, start: usize, len: usize) -> Self
    where
        S: HasDim<D, Idx>,
    {
        or_panic(self.try_narrow::<D, Idx>(start, len))
    }

    /// The view of `New::SIZE` entries of dim `D` from `start`, typed with `New` in place of `D`
    /// (e.g. the first 5 of 10 `Classes` as `Top5`). `New` must be static.
    ///
    /// # Errors
    /// [`TensorError::Range`] when the slice does not fit; [`TensorError::BadLength`] when `New` is run-time.
    pub fn try_slice_as<D, New: Dim, Idx>(
        &self,
        start: usize,
    ) -> Result<Tensor<<S as ReplaceDim<D, New, Idx>>::Output, E>>
    where
        S: ReplaceDim<D, New, Idx>,
    {
        let axis = <S as ReplaceDim<D, New, Idx>>::INDEX;
        let len = New::SIZE.ok_or(TensorError::BadLength {
            op: "slice_as",
            dim: New::NAME,
            len: 0,
            reason: ": slice_as needs a static target dim".into(),
        })?;
        check_range("slice_as", S::NAMES[axis], start, len, self.dims()[axis])?;
        Ok(record_narrow(
            self,
            self.view_as(self.layout.narrowed(axis, start, len)),
            axis,
            start,
        ))
    }

    /// Typed slicing; see [`Tensor::try_slice_as`].
    ///
    /// # Panics
    /// When the slice does not fit or `New` is run-time.
    #[track_caller]
    pub fn slice_as<D, New: Dim, Idx>(
        &self,
        start: usize,
    ) -> Tensor<<S as ReplaceDim<D, New, Idx>>::Output, E>
    where
        S: ReplaceDim<D, New, Idx>,
    {
        or_panic(self.try_slice_as::<D, New, Idx>(start))
    }

    /// Picks entries of dim `D` by a list of indices, which becomes the new dim `N`:
    /// `(Vocab, Embed).index_select::<Vocab, Tokens, _, _>(&ids: (Tokens,))` gives `(Tokens, Embed)`.
    ///
    /// # Errors
    /// [`TensorError::IndexOutOfRange`] for an index outside `D`; [`TensorError::TooLarge`]
    /// when the result's element count overflows.
    pub fn try_index_select<D: Dim, N: Dim, Idx, I: Index>(
        &self,
        indices: &Tensor<(N,), I>,
    ) -> Result<Tensor<<S as ReplaceDim<D, N, Idx>>::Output, E>>
    where
        S: ReplaceDim<D, N, Idx>,
    {
        let axis = <S as ReplaceDim<D, N, Idx>>::INDEX;
        let mut dims = Dims::from_slice(self.dims());
        dims[axis] = indices.numel();
        // more indices than the dim's length (a broadcast view's) can overflow the count:
        // checked before anything is copied
        let total = checked_numel::<E>(
            "index_select",
            <<S as ReplaceDim<D, N, Idx>>::Output as Shape>::NAMES,
            &dims,
        )?;
        let a = self.contiguous();
        let data = a.as_slice().unwrap_or(&[]);
        let (outer, len, inner) = split_axis(a.dims(), axis);
        let idx = indices
            .to_vec()
            .into_iter()
            .map(|i| to_index("index_select", D::NAME, i, len))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(total);
        for o in 0..outer {
            for &i in &idx {
                out.extend_from_slice(&data[(o * len + i) * inner..(o * len + i + 1) * inner]);
            }
        }
        let out = Tensor::from_buffer(buffer_from_slice(&out), &dims);
        if !self.on_tape() {
            return Ok(out);
        }
        // scatter-add: every picked row adds its gradient back to the row it came from
        let own = Dims::from_slice(a.dims());
        Ok(record_unary(self, out, move |g| {
            let sg = rules::data(g);
            let mut gx = rules::zeros_buf::<E>(&own);
            let k = idx.len();
            for o in 0..outer {
                for (j, &i) in idx.iter().enumerate() {
                    for r in 0..inner {
                        rules::add_at(&mut gx, (o * len + i) * inner + r, sg[(o * k + j) * inner + r]);
                    }
                }
            }
            Tensor::from_buffer(gx, &own)
        }))
    }

    /// Index selection; see [`Tensor::try_index_select`].
    ///
    /// # Panics
    /// For an index outside `D`; the message names the dim and its length.
    #[track_caller]
    pub fn index_select<D: Dim, N: Dim, Idx, I: Index>(
        &self,
        indices: &Tensor<(N,), I>,
    ) -> Tensor<<S as ReplaceDim<D, N, Idx>>::Output, E>
    where
        S: ReplaceDim<D, N, Idx>,
    {
        or_panic(self.try_index_select::<D, N, Idx, I>(indices))
    }

    /// Picks one entry of dim `D` at every other position (NumPy's `take_along_axis` with the
    /// axis dropped): `logits.gather::<Classes, _, _>(&labels)` on `(Batch, Classes)` with
    /// `labels: (Batch,)` gives the `(Batch,)` logits of the true classes.
    ///
    /// # Errors
    /// [`TensorError::IndexOutOfRange`] for an index outside `D`; [`TensorError::DimMismatch`]
    /// when `indices` has other lengths.
    pub fn try_gather<D: Dim, Idx, I: Index>(
        &self,
        indices: &Tensor<<S as RemoveDim<D, Idx>>::Output, I>,
    ) -> Result<Tensor<<S as RemoveDim<D, Idx>>::Output, E>>
    where
        S: RemoveDim<D, Idx>,
    {
        let axis = <S as RemoveDim<D, Idx>>::INDEX;
        let a = self.contiguous();
        let data = a.as_slice().unwrap_or(&[]);
        let out_dims = dims_without(a.dims(), axis);
        super::check_trailing(
            "gather",
            <S as RemoveDim<D, Idx>>::Output::NAMES,
            &out_dims,
            indices.dims(),
        )?;
        let (_, len, inner) = split_axis(a.dims(), axis);
        let idx = indices
            .to_vec()
            .into_iter()
            .map(|i| to_index("gather", D::NAME, i, len))
            .collect::<Result<Vec<_>>>()?;
        let at = move |p: usize, i: usize| (p / inner * len + i) * inner + p % inner;
        let out = idx.iter().enumerate().map(|(p, &i)| data[at(p, i)]);
        let out = Tensor::from_buffer(buffer_from_iter(out), &out_dims);
        if !self.on_tape() {
            return Ok(out);
        }
        // scatter-add of the gradient into the picked positions
        let own = Dims::from_slice(a.dims());
        Ok(record_unary(self, out, move |g| {
            let sg = rules::data(g);
            let mut gx = rules::zeros_buf::<E>(&own);
            for (p, &i) in idx.iter().enumerate() {
                rules::add_at(&mut gx, at(p, i), sg[p]);
            }
            Tensor::from_buffer(gx, &own)
        }))
    }

    /// Gathering; see [`Tensor::try_gather`].
    ///
    /// # Panics
    /// For an index outside `D` or mismatched lengths.
    #[track_caller]
    pub fn gather<D: Dim, Idx, I: Index>(
        &self,
        indices: &Tensor<<S as RemoveDim<D, Idx>>::Output, I>,
    ) -> Tensor<<S as RemoveDim<D, Idx>>::Output, E>
    where
        S: RemoveDim<D, Idx>,
    {
        or_panic(self.try_gather::<D, Idx, I>(indices))
    }
}
