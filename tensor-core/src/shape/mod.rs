//! Shapes: tuples of named dimensions, and the type-level relations between them.

use core::fmt::Debug;
use core::marker::PhantomData;

use crate::dim::Dim;

mod generated;
pub mod relations;

pub use relations::{Broadcast, HasDim, MatMul, PermuteTo, Prepend, RemoveDim, ReplaceDim};

/// A tensor shape: a tuple of 0 to 6 [`Dim`]s, e.g. `(Batch, Pixels)`.
///
/// The names and static sizes are known at compile time; run-time sizes live in the tensor.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tensor shape",
    label = "expected a tuple of named dimensions such as `(Batch, Hidden)`",
    note = "a shape is a tuple of 0 to 6 types implementing `Dim` (declare them with `dims!`)"
)]
pub trait Shape: 'static + Copy + Default + Debug + Send + Sync {
    /// Number of dimensions.
    const RANK: usize;
    /// Names of the dimensions, outermost first.
    const NAMES: &'static [&'static str];
    /// Static sizes (`None` for a run-time dimension), outermost first.
    const STATIC: &'static [Option<usize>];
}

/// Type-level index: the dimension is the first one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Here;

/// Type-level index: the dimension is further along than the first one.
#[derive(Debug, Clone, Copy, Default)]
pub struct There<I>(PhantomData<I>);

macro_rules! impl_shape {
    ($($d:ident),*) => {
        impl<$($d: Dim),*> Shape for ($($d,)*) {
            const RANK: usize = <[&str]>::len(&[$(stringify!($d)),*]);
            const NAMES: &'static [&'static str] = &[$($d::NAME),*];
            const STATIC: &'static [Option<usize>] = &[$($d::SIZE),*];
        }
    };
}

impl_shape!();
impl_shape!(A);
impl_shape!(A, B);
impl_shape!(A, B, C);
impl_shape!(A, B, C, D);
impl_shape!(A, B, C, D, E);
impl_shape!(A, B, C, D, E, F);

/// Number of run-time dimensions in a shape.
pub const fn runtime_rank(sizes: &[Option<usize>]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < sizes.len() {
        if sizes[i].is_none() {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Product of the static sizes of a shape (run-time dims count as 1).
pub const fn static_numel(sizes: &[Option<usize>]) -> usize {
    let mut i = 0;
    let mut n = 1;
    while i < sizes.len() {
        if let Some(s) = sizes[i] {
            n *= s;
        }
        i += 1;
    }
    n
}

/// Whether a reshape from `from` to `to` can preserve the element count: when both are fully
/// static the products must agree; otherwise the static part of the side with run-time
/// dims must divide... we only require equality when no run-time dims are involved on either side,
/// and equal run-time dim counts with equal static products otherwise.
pub const fn reshape_compatible(from: &[Option<usize>], to: &[Option<usize>]) -> bool {
    let rf = runtime_rank(from);
    let rt = runtime_rank(to);
    if rf == 0 && rt == 0 {
        return static_numel(from) == static_numel(to);
    }
    if rf == rt {
        return static_numel(from) == static_numel(to);
    }
    // A run-time dim on only one side absorbs the rest: checked at run time.
    true
}

/// Zero-sized value carrying a shape type, handy for passing a target shape as an argument.
pub struct ShapeOf<S>(PhantomData<S>);
