//! The type-level relations between shapes (broadcasting, matmul, dimension lookup, permutation).
//!
//! The per-rank impls are generated (see `tools/gen_shape_relations.py`); each trait carries a
//! `#[diagnostic::on_unimplemented]` message that speaks of dimensions.

use super::Shape;
use crate::dim::{Dim, SameDim};

/// `Self` contains dimension `D` at the position encoded by the inferred index `Idx`.
#[diagnostic::on_unimplemented(
    message = "shape `{Self}` has no dimension `{D}`",
    label = "`{D}` is not a dimension of this tensor"
)]
pub trait HasDim<D, Idx>: Shape {
    /// Position of `D` in `Self`.
    const INDEX: usize;
}

/// Removing dimension `D` from `Self` (a reduction over `D`) gives `Output`.
#[diagnostic::on_unimplemented(
    message = "cannot reduce over `{D}`: shape `{Self}` has no dimension `{D}`",
    label = "`{D}` is not a dimension of this tensor"
)]
pub trait RemoveDim<D, Idx>: Shape {
    /// The shape without `D`.
    type Output: Shape;
    /// Position of `D` in `Self`.
    const INDEX: usize;
}

/// Replacing dimension `D` of `Self` by `New` gives `Output` (used by concat).
#[diagnostic::on_unimplemented(
    message = "cannot replace `{D}` by `{New}`: shape `{Self}` has no dimension `{D}`",
    label = "`{D}` is not a dimension of this tensor"
)]
pub trait ReplaceDim<D, New, Idx>: Shape {
    /// The shape with `New` in place of `D`.
    type Output: Shape;
    /// Position of `D` in `Self`.
    const INDEX: usize;
}

/// Putting a new leading dimension `New` in front of `Self` gives `Output` (stack, unsqueeze).
#[diagnostic::on_unimplemented(
    message = "cannot add dimension `{New}` in front of `{Self}`",
    label = "tensors have at most 6 dimensions"
)]
pub trait Prepend<New>: Shape {
    /// `(New, ...Self)`.
    type Output: Shape;
}

/// Name-aware broadcasting: the shorter shape must equal the trailing dims of the longer one,
/// dim by dim, by name. `Output` is the longer shape.
#[diagnostic::on_unimplemented(
    message = "shapes `{Self}` and `{Rhs}` do not broadcast",
    label = "the trailing dimensions must match by name"
)]
pub trait Broadcast<Rhs>: Shape {
    /// The broadcast result shape.
    type Output: Shape;
}

/// `Target` is a permutation of `Self`; `PERM[i]` is the source axis of target axis `i`.
#[diagnostic::on_unimplemented(
    message = "`{Target}` is not a permutation of `{Self}`",
    label = "not a permutation of this tensor's dims"
)]
pub trait PermuteTo<Target, Idx>: Shape {
    /// For every target axis, the source axis it comes from.
    const PERM: &'static [usize];
}

/// Matrix product of `Self` by `Rhs`, matched by name on the inner dimension (and the batch
/// dimension for batched products).
#[diagnostic::on_unimplemented(
    message = "cannot multiply a tensor of shape `{Self}` by one of shape `{Rhs}`",
    label = "matmul needs `(M, K) x (K, N)`, `(B, M, K) x (K, N)` or `(B, M, K) x (B, K, N)`"
)]
pub trait MatMul<Rhs>: Shape {
    /// The product's shape.
    type Output: Shape;
    /// Whether the right-hand side carries a batch dimension.
    const BATCHED_RHS: bool;
}

impl<M: Dim, K: Dim, K2: Dim, N: Dim> MatMul<(K2, N)> for (M, K)
where
    K: SameDim<K2>,
{
    type Output = (M, N);
    const BATCHED_RHS: bool = false;
}

impl<B: Dim, M: Dim, K: Dim, K2: Dim, N: Dim> MatMul<(K2, N)> for (B, M, K)
where
    K: SameDim<K2>,
{
    type Output = (B, M, N);
    const BATCHED_RHS: bool = false;
}

impl<B: Dim, B2: Dim, M: Dim, K: Dim, K2: Dim, N: Dim> MatMul<(B2, K2, N)> for (B, M, K)
where
    B: SameDim<B2>,
    K: SameDim<K2>,
{
    type Output = (B, M, N);
    const BATCHED_RHS: bool = true;
}
