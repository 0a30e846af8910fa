//! Shapes: tuples of named dimensions, and the type-level relations between them.

use core::fmt::Debug;
use core::marker::PhantomData;

use crate::dim::Dim;

mod generated;
pub mod message;
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

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether the run-time dims of two shapes are the same names in the same order.
const fn same_runtime_dims(
    from: &[Option<usize>],
    from_names: &[&str],
    to: &[Option<usize>],
    to_names: &[&str],
) -> bool {
    let (mut i, mut j) = (0, 0);
    loop {
        while i < from.len() && from[i].is_some() {
            i += 1;
        }
        while j < to.len() && to[j].is_some() {
            j += 1;
        }
        if i == from.len() || j == to.len() {
            return i == from.len() && j == to.len();
        }
        if !str_eq(from_names[i], to_names[j]) {
            return false;
        }
        i += 1;
        j += 1;
    }
}

/// Whether a reshape can preserve the element count, decided at compile time: when both
/// shapes carry the same run-time dims (by name, in order; none at all included) the products
/// of their static sizes must agree. Otherwise a run-time dim absorbs the rest and the count
/// is checked at run time.
pub const fn reshape_compatible(
    from: &[Option<usize>],
    from_names: &[&str],
    to: &[Option<usize>],
    to_names: &[&str],
) -> bool {
    if same_runtime_dims(from, from_names, to, to_names) {
        return static_numel(from) == static_numel(to);
    }
    true
}

/// Zero-sized value carrying a shape type, handy for passing a target shape as an argument.
pub struct ShapeOf<S>(PhantomData<S>);
