//! Binary arithmetic with name-aware broadcasting: `+ - * /`, max, min, pow, scalar forms.

use core::ops::{Add, Div, Mul, Sub};

use super::{check_trailing, or_panic};
use crate::element::Float;
use crate::error::Result;
use crate::kernels::BinaryOp;
use crate::shape::{Broadcast, Shape};
use crate::storage::buffer_filled;
use crate::tensor::Tensor;

/// Broadcasting binary op: the shorter shape repeats over the leading dims of the longer one.
pub(crate) fn broadcast_binary<L, R, E>(
    op_name: &'static str,
    op: BinaryOp,
    a: &Tensor<L, E>,
    b: &Tensor<R, E>,
) -> Result<Tensor<<L as Broadcast<R>>::Output, E>>
where
    L: Broadcast<R>,
    R: Shape,
    E: Float,
{
    let names = <<L as Broadcast<R>>::Output as Shape>::NAMES;
    check_trailing(op_name, names, a.dims(), b.dims())?;
    let (a, b) = (a.contiguous(), b.contiguous());
    let (sa, sb) = (a.as_slice().unwrap_or(&[]), b.as_slice().unwrap_or(&[]));
    let out_dims = if a.dims().len() >= b.dims().len() {
        a.dims()
    } else {
        b.dims()
    };
    let n: usize = out_dims.iter().product();
    let mut buf = buffer_filled(n, E::zero());
    if sa.len() == sb.len() {
        E::binary(op, sa, sb, &mut buf);
    } else if sa.len() > sb.len() {
        for (o, x) in buf.chunks_mut(sb.len()).zip(sa.chunks(sb.len())) {
            E::binary(op, x, sb, o);
        }
    } else {
        for (o, y) in buf.chunks_mut(sa.len()).zip(sb.chunks(sa.len())) {
            E::binary(op, sa, y, o);
        }
    }
    Ok(Tensor::from_buffer(buf, out_dims))
}

pub(crate) fn scalar_op<S: Shape, E: Float>(
    op: BinaryOp,
    a: &Tensor<S, E>,
    s: E,
    scalar_left: bool,
) -> Tensor<S, E> {
    let a = a.contiguous();
    let sa = a.as_slice().unwrap_or(&[]);
    let mut buf = buffer_filled(sa.len(), E::zero());
    if scalar_left {
        E::scalar_binary(op, s, sa, &mut buf);
    } else {
        E::binary_scalar(op, sa, s, &mut buf);
    }
    Tensor::from_buffer(buf, a.dims())
}

macro_rules! binary_methods {
    ($($name:ident, $try_name:ident, $op:expr, $doc:literal;)*) => {
        impl<L: Shape, E: Float> Tensor<L, E> {
            $(
                #[doc = concat!("Element-wise ", $doc, " with name-aware broadcasting.")]
                ///
                /// # Errors
                /// [`crate::TensorError::DimMismatch`] when a shared dim has different run-time lengths.
                pub fn $try_name<R: Shape>(&self, rhs: &Tensor<R, E>) -> Result<Tensor<<L as Broadcast<R>>::Output, E>>
                where
                    L: Broadcast<R>,
                {
                    broadcast_binary(stringify!($name), $op, self, rhs)
                }

                #[doc = concat!("Element-wise ", $doc, " with name-aware broadcasting.")]
                ///
                /// # Panics
                /// When a shared dim has different run-time lengths; the message names it.
                #[track_caller]
                pub fn $name<R: Shape>(&self, rhs: &Tensor<R, E>) -> Tensor<<L as Broadcast<R>>::Output, E>
                where
                    L: Broadcast<R>,
                {
                    or_panic(self.$try_name(rhs))
                }
            )*
        }
    };
}

binary_methods! {
    add, try_add, BinaryOp::Add, "sum";
    sub, try_sub, BinaryOp::Sub, "difference";
    mul, try_mul, BinaryOp::Mul, "product";
    div, try_div, BinaryOp::Div, "quotient";
    maximum, try_maximum, BinaryOp::Max, "maximum";
    minimum, try_minimum, BinaryOp::Min, "minimum";
    pow, try_pow, BinaryOp::Pow, "power `self^rhs`";
}

impl<S: Shape, E: Float> Tensor<S, E> {
    /// Adds a scalar to every element.
    pub fn add_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Add, self, s, false)
    }
    /// Subtracts a scalar from every element.
    pub fn sub_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Sub, self, s, false)
    }
    /// Multiplies every element by a scalar.
    pub fn mul_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Mul, self, s, false)
    }
    /// Divides every element by a scalar.
    pub fn div_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Div, self, s, false)
    }
    /// `s - self`, element-wise.
    pub fn rsub_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Sub, self, s, true)
    }
    /// `s / self`, element-wise.
    pub fn rdiv_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Div, self, s, true)
    }
    /// Raises every element to the float power `p`.
    pub fn powf(&self, p: E) -> Self {
        scalar_op(BinaryOp::Pow, self, p, false)
    }
    /// Raises every element to the integer power `n` (by repeated multiplication).
    pub fn powi(&self, n: i32) -> Self {
        self.map(|x| x.powi(n))
    }
    /// Element-wise maximum with a scalar.
    pub fn max_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Max, self, s, false)
    }
    /// Element-wise minimum with a scalar.
    pub fn min_scalar(&self, s: E) -> Self {
        scalar_op(BinaryOp::Min, self, s, false)
    }
    /// Clamps every element into `[lo, hi]`.
    pub fn clamp(&self, lo: E, hi: E) -> Self {
        self.max_scalar(lo).min_scalar(hi)
    }
}

macro_rules! operator_impls {
    ($($trait:ident, $method:ident, $op:expr;)*) => {$(
        impl<'a, 'b, L, R, E> $trait<&'b Tensor<R, E>> for &'a Tensor<L, E>
        where L: Broadcast<R>, R: Shape, E: Float
        {
            type Output = Tensor<<L as Broadcast<R>>::Output, E>;
            #[track_caller]
            fn $method(self, rhs: &'b Tensor<R, E>) -> Self::Output {
                or_panic(broadcast_binary(stringify!($method), $op, self, rhs))
            }
        }
        impl<L, R, E> $trait<Tensor<R, E>> for Tensor<L, E>
        where L: Broadcast<R>, R: Shape, E: Float
        {
            type Output = Tensor<<L as Broadcast<R>>::Output, E>;
            #[track_caller]
            fn $method(self, rhs: Tensor<R, E>) -> Self::Output {
                or_panic(broadcast_binary(stringify!($method), $op, &self, &rhs))
            }
        }
        impl<'b, L, R, E> $trait<&'b Tensor<R, E>> for Tensor<L, E>
        where L: Broadcast<R>, R: Shape, E: Float
        {
            type Output = Tensor<<L as Broadcast<R>>::Output, E>;
            #[track_caller]
            fn $method(self, rhs: &'b Tensor<R, E>) -> Self::Output {
                or_panic(broadcast_binary(stringify!($method), $op, &self, rhs))
            }
        }
        impl<'a, L, R, E> $trait<Tensor<R, E>> for &'a Tensor<L, E>
        where L: Broadcast<R>, R: Shape, E: Float
        {
            type Output = Tensor<<L as Broadcast<R>>::Output, E>;
            #[track_caller]
            fn $method(self, rhs: Tensor<R, E>) -> Self::Output {
                or_panic(broadcast_binary(stringify!($method), $op, self, &rhs))
            }
        }
        impl<S: Shape, E: Float> $trait<E> for Tensor<S, E> {
            type Output = Tensor<S, E>;
            fn $method(self, rhs: E) -> Self::Output {
                scalar_op($op, &self, rhs, false)
            }
        }
        impl<'a, S: Shape, E: Float> $trait<E> for &'a Tensor<S, E> {
            type Output = Tensor<S, E>;
            fn $method(self, rhs: E) -> Self::Output {
                scalar_op($op, self, rhs, false)
            }
        }
    )*};
}

operator_impls! {
    Add, add, BinaryOp::Add;
    Sub, sub, BinaryOp::Sub;
    Mul, mul, BinaryOp::Mul;
    Div, div, BinaryOp::Div;
}

impl<S: Shape, E: Float> core::ops::Neg for &Tensor<S, E> {
    type Output = Tensor<S, E>;
    fn neg(self) -> Tensor<S, E> {
        Tensor::neg(self)
    }
}

impl<S: Shape, E: Float> core::ops::Neg for Tensor<S, E> {
    type Output = Tensor<S, E>;
    fn neg(self) -> Tensor<S, E> {
        Tensor::neg(&self)
    }
}
