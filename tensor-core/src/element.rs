//! Element types: every tensor element is an [`Element`]; float ops need a [`Float`].

use core::fmt::{Debug, Display};

/// A tensor element: f32, f64, i32, i64, u32 or bool.
pub trait Element: 'static + Copy + Default + Debug + Display + PartialEq + PartialOrd + Send + Sync {
    /// Short type name for `Debug` output (`f32`, `i64`, ...).
    const DTYPE: &'static str;
}

macro_rules! impl_element {
    ($($t:ty),*) => { $(impl Element for $t { const DTYPE: &'static str = stringify!($t); })* };
}
impl_element!(f32, f64, i32, i64, u32, bool);

/// Numeric elements (everything but bool): arithmetic and ordering.
pub trait Num:
    Element + num_traits::Num + num_traits::NumCast + core::ops::Neg<Output = Self> + Copy
{
}
impl Num for f32 {}
impl Num for f64 {}
impl Num for i32 {}
impl Num for i64 {}

/// Integer elements usable as indices and labels.
pub trait Index: Element + num_traits::PrimInt + num_traits::NumCast {}
impl Index for i32 {}
impl Index for i64 {}
impl Index for u32 {}

/// Floating-point elements (f32, f64), with the hooks to their SIMD kernels.
pub trait Float:
    Num + num_traits::Float + num_traits::FloatConst + crate::kernels::KernelFloat + Into<f64>
{
    /// Conversion from f64 (rounding for f32).
    fn from_f64(v: f64) -> Self;
}

impl Float for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Float for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
}
