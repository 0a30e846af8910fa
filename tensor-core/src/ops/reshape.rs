//! Reshape, permute, transpose, unsqueeze and explicit broadcasting (views where possible).

use super::{check_trailing, or_panic};
use crate::autodiff::rules;
use crate::autodiff::tape::record_unary;
use crate::element::Element;
use crate::error::{Result, TensorError};
use crate::layout::{Dims, Layout};
use crate::shape::{Broadcast, PermuteTo, Prepend, Shape};
use crate::tensor::{checked_numel, describe_shape, describe_static, resolve_dims, Tensor};

/// Records a view with the same elements in the same row-major order (reshape, unsqueeze):
/// the gradient is the output's gradient read with the input's lengths.
fn record_view_back<S: Shape, S2: Shape, E: Element>(x: &Tensor<S, E>, out: Tensor<S2, E>) -> Tensor<S2, E> {
    if !x.on_tape() {
        return out;
    }
    let dims = Dims::from_slice(x.dims());
    record_unary(x, out, move |g| g.contiguous().view_as(Layout::contiguous(&dims)))
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// Reshapes to `S2` (same elements, row-major order). A single run-time dim of `S2` is
    /// inferred; with several, use [`Tensor::try_reshape_with`]. When both shapes are fully
    /// static, a different element count is a compile-time (build) error.
    ///
    /// # Errors
    /// [`TensorError::Reshape`] when the element counts cannot match.
    pub fn try_reshape<S2: Shape>(&self) -> Result<Tensor<S2, E>> {
        const { crate::shape::message::check_reshape::<S, S2>() };
        self.reshape_inferred()
    }

    /// Reshape with the single run-time dim of `S2` inferred (no compile-time check).
    fn reshape_inferred<S2: Shape>(&self) -> Result<Tensor<S2, E>> {
        let numel = self.numel();
        let err = || TensorError::Reshape {
            op: "reshape",
            from: describe_shape(S::NAMES, self.dims()),
            from_numel: numel,
            to: describe_static::<S2>(),
        };
        let static_prod = S2::STATIC
            .iter()
            .flatten()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(err)?;
        let runtime = S2::STATIC.iter().filter(|s| s.is_none()).count();
        let dims: Dims = match runtime {
            0 => S2::STATIC.iter().flatten().copied().collect(),
            1 => {
                if !numel.is_multiple_of(static_prod) {
                    return Err(err());
                }
                S2::STATIC
                    .iter()
                    .map(|s| s.unwrap_or(numel / static_prod))
                    .collect()
            }
            _ => return Err(err()),
        };
        self.reshape_dims(&dims).map_err(|_| err())
    }

    /// Reshapes to `S2`; see [`Tensor::try_reshape`].
    ///
    /// # Panics
    /// When the element counts cannot match; the message names both shapes.
    #[track_caller]
    pub fn reshape<S2: Shape>(&self) -> Tensor<S2, E> {
        const { crate::shape::message::check_reshape::<S, S2>() };
        or_panic(self.reshape_inferred())
    }

    /// Reshapes to `S2` with explicit lengths for its run-time dims.
    ///
    /// # Errors
    /// [`TensorError::Reshape`] when the element counts differ; [`TensorError::TooLarge`] when
    /// the lengths' product overflows.
    pub fn try_reshape_with<S2: Shape>(&self, runtime: &[usize]) -> Result<Tensor<S2, E>> {
        const { crate::shape::message::check_reshape::<S, S2>() };
        let dims = resolve_dims::<S2, E>("reshape", runtime)?;
        self.reshape_dims(&dims)
    }

    fn reshape_dims<S2: Shape>(&self, dims: &[usize]) -> Result<Tensor<S2, E>> {
        if checked_numel::<E>("reshape", S2::NAMES, dims)? != self.numel() {
            return Err(TensorError::Reshape {
                op: "reshape",
                from: describe_shape(S::NAMES, self.dims()),
                from_numel: self.numel(),
                to: describe_shape(S2::NAMES, dims),
            });
        }
        let c = self.contiguous();
        let out = c.view_as(Layout::strided(
            Dims::from_slice(dims),
            crate::layout::contiguous_strides(dims),
            c.layout.offset(),
        ));
        Ok(record_view_back(self, out))
    }

    /// Reorders the dims by name, as a view without copying: `t.permute::<(Hidden, Batch), _>()`.
    pub fn permute<S2: Shape, Idx>(&self) -> Tensor<S2, E>
    where
        S: PermuteTo<S2, Idx>,
    {
        let perm = <S as PermuteTo<S2, Idx>>::PERM;
        let out = self.view_as(self.layout.permuted(perm));
        if !self.on_tape() {
            return out;
        }
        // the gradient is permuted back by the inverse permutation
        let mut inverse: Dims = smallvec::smallvec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        record_unary(self, out, move |g| g.view_as(g.layout.permuted(&inverse)))
    }

    /// Adds a new leading dim `New` of length 1 (which must be a run-time dim or have static size 1).
    ///
    /// # Errors
    /// [`TensorError::BadLength`] when `New` has a static size other than 1.
    pub fn try_unsqueeze<New: crate::Dim>(&self) -> Result<Tensor<<S as Prepend<New>>::Output, E>>
    where
        S: Prepend<New>,
    {
        if let Some(n) = New::SIZE {
            if n != 1 {
                return Err(TensorError::BadLength {
                    op: "unsqueeze",
                    dim: New::NAME,
                    len: 1,
                    reason: format!(", its static size is {n}"),
                });
            }
        }
        let mut dims = Dims::from_slice(&[1]);
        dims.extend_from_slice(self.dims());
        let mut strides = Dims::from_slice(&[self.numel()]);
        strides.extend_from_slice(self.layout.strides());
        let out = self.view_as(Layout::strided(dims, strides, self.layout.offset()));
        Ok(record_view_back(self, out))
    }

    /// Explicit name-aware broadcast to `S2` as a view (stride 0 over the new leading dims);
    /// `runtime` gives the lengths of `S2`'s run-time dims.
    ///
    /// # Errors
    /// [`TensorError::DimMismatch`] when a shared dim has another length;
    /// [`TensorError::TooLarge`] when the target's element count overflows (or exceeds what one
    /// buffer could hold, so that the view could never be copied out).
    pub fn try_broadcast_to<S2: Shape>(&self, runtime: &[usize]) -> Result<Tensor<S2, E>>
    where
        S: Broadcast<S2, Output = S2>,
    {
        let dims = resolve_dims::<S2, E>("broadcast_to", runtime)?;
        check_trailing("broadcast_to", S2::NAMES, &dims, self.dims())?;
        let lead = S2::RANK - S::RANK;
        let mut strides: Dims = smallvec::smallvec![0; lead];
        strides.extend_from_slice(self.layout.strides());
        let out = self.view_as(Layout::strided(dims, strides, self.layout.offset()));
        if !self.on_tape() {
            return Ok(out);
        }
        // a value repeated over new leading dims: its gradient is the sum over them
        let own = Dims::from_slice(self.dims());
        Ok(record_unary(self, out, move |g| {
            rules::reduce_to_any(&rules::data(g), &own)
        }))
    }

    /// Explicit broadcast; see [`Tensor::try_broadcast_to`].
    ///
    /// # Panics
    /// When a shared dim has another length or the run-time sizes are wrong.
    #[track_caller]
    pub fn broadcast_to<S2: Shape>(&self, runtime: &[usize]) -> Tensor<S2, E>
    where
        S: Broadcast<S2, Output = S2>,
    {
        or_panic(self.try_broadcast_to(runtime))
    }
}

impl<A: crate::Dim, B: crate::Dim, E: Element> Tensor<(A, B), E> {
    /// The transpose of a matrix, as a view: `(A, B) -> (B, A)`.
    pub fn t(&self) -> Tensor<(B, A), E> {
        let out = self.view_as(self.layout.permuted(&[1, 0]));
        if !self.on_tape() {
            return out;
        }
        record_unary(self, out, |g| g.view_as(g.layout.permuted(&[1, 0])))
    }
}
