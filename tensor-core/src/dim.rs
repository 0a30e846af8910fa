//! Named dimensions: the `Dim` trait and the by-name equality used by every shape relation.

use core::fmt::Debug;
use core::marker::PhantomData;

/// A named dimension: a zero-sized marker type with a name and either a static size or a size
/// known only at run time.
///
/// Declare dimensions with the `dims!` macro (`dims! { Batch; Pixels = 784; }`), or by hand:
///
/// ```
/// use tensor_core::Dim;
///
/// #[derive(Clone, Copy, Debug, Default)]
/// struct Hidden;
/// impl Dim for Hidden {
///     const NAME: &'static str = "Hidden";
///     const SIZE: Option<usize> = Some(128);
/// }
/// assert_eq!(Hidden::SIZE, Some(128));
/// ```
pub trait Dim: 'static + Copy + Default + Debug + Send + Sync {
    /// The dimension's name, used in error messages and `Display`.
    const NAME: &'static str;
    /// `Some(n)` for a dimension of static size `n`, `None` for a size given at run time.
    const SIZE: Option<usize>;
}

/// By-name equality of two dimensions: implemented only when `Self` and `Other` are the same
/// dimension type. Every per-dimension check (matmul's inner dimension, broadcasting, merges)
/// goes through this trait, so that a mismatch is reported in terms of dimensions.
#[diagnostic::on_unimplemented(
    message = "dimension `{Self}` does not match dimension `{Other}`",
    label = "expected `{Other}`, found `{Self}`",
    note = "dimensions are matched by name; two different dims never match, even with equal sizes"
)]
pub trait SameDim<Other> {}

impl<D: Dim> SameDim<D> for D {}

/// A second, never-matching implementation of [`SameDim`] that keeps rustc from inferring
/// `Other := Self` from a single impl (which would turn the dimension error into a plain type
/// mismatch). Not meant to be named by users.
#[doc(hidden)]
pub struct NotADim<D>(PhantomData<D>);

impl<D: Dim> SameDim<NotADim<D>> for D {}

/// Compile-time assertion used by generated code: compiles only when `A` and `B` are the same dim.
#[doc(hidden)]
pub const fn assert_same_dim<A: SameDim<B>, B>() {}

/// Static size of `D` as a `usize` usable in const contexts, or `0` for a run-time dim.
pub const fn static_size_or_zero<D: Dim>() -> usize {
    match D::SIZE {
        Some(n) => n,
        None => 0,
    }
}
