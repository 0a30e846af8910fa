//! Binary arithmetic with name-aware broadcasting: `+ - * /`, max, min, pow, scalar forms.

use core::ops::{Add, Div, Mul, Sub};

use super::unary::unary_op;
use super::{check_trailing, or_panic};
use crate::autodiff::rules;
use crate::autodiff::tape::{record_binary, record_unary};
use crate::element::Float;
use crate::error::Result;
use crate::kernels::{BinaryOp, UnaryOp};
use crate::layout::Dims;
use crate::shape::{Broadcast, Shape};
use crate::storage::{buffer_filled, buffer_from_slice};
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
    let (a_in, b_in) = (a, b);
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
    let out = Tensor::from_buffer(buf, out_dims);
    if !(a_in.on_tape() || b_in.on_tape()) {
        return Ok(out);
    }
    // keep only what the rule reads: add/sub need no values at all
    let saved = Saved {
        a_dims: Dims::from_slice(a.dims()),
        b_dims: Dims::from_slice(b.dims()),
        a: matches!(op, BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min | BinaryOp::Pow)
            .then(|| a.stop_gradient()),
        b: (!matches!(op, BinaryOp::Add | BinaryOp::Sub)).then(|| b.stop_gradient()),
        y: matches!(op, BinaryOp::Div | BinaryOp::Pow).then(|| out.clone()),
    };
    Ok(record_binary(a_in, b_in, out, move |g, needs| {
        binary_backward(op, &saved, g, needs)
    }))
}

/// What the backward rule of a binary op keeps from its forward.
struct Saved<L: Shape, R: Shape, O: Shape, E: Float> {
    a_dims: Dims,
    b_dims: Dims,
    a: Option<Tensor<L, E>>,
    b: Option<Tensor<R, E>>,
    y: Option<Tensor<O, E>>,
}

/// Backward of a broadcasting binary op: the partial derivatives at every output element,
/// times the upstream gradient, summed back over the dims an operand was repeated on.
/// `maximum`/`minimum` send the gradient to the left operand on ties; `pow`'s exponent
/// gradient `y ln(a)` is taken as 0 where `a <= 0`.
fn binary_backward<L: Shape, R: Shape, O: Shape, E: Float>(
    op: BinaryOp,
    saved: &Saved<L, R, O, E>,
    g: &Tensor<O, E>,
    needs: [bool; 2],
) -> rules::GradPair<L, R, E> {
    let sg = rules::data(g);
    let (a_dims, b_dims) = (&saved.a_dims, &saved.b_dims);
    let (na, nb, n) = (
        a_dims.iter().product::<usize>(),
        b_dims.iter().product::<usize>(),
        sg.len(),
    );
    // add / sub pass the gradient through (negated for the subtrahend)
    if matches!(op, BinaryOp::Add | BinaryOp::Sub) {
        let ga = needs[0].then(|| rules::reduce_to(&sg, a_dims));
        let gb = needs[1].then(|| {
            let gb: Tensor<R, E> = rules::reduce_to(&sg, b_dims);
            if op == BinaryOp::Sub {
                unary_op(UnaryOp::Neg, &gb)
            } else {
                gb
            }
        });
        return (ga, gb);
    }
    let empty: [E; 0] = [];
    let sa = saved
        .a
        .as_ref()
        .map_or(std::borrow::Cow::Borrowed(&empty[..]), rules::data);
    let sb = saved
        .b
        .as_ref()
        .map_or(std::borrow::Cow::Borrowed(&empty[..]), rules::data);
    let sy = saved
        .y
        .as_ref()
        .map_or(std::borrow::Cow::Borrowed(&empty[..]), rules::data);
    let zero = E::zero();
    let at = |s: &[E], i: usize| s.get(i).copied().unwrap_or(zero);
    let partials = |x: E, w: E, out: E| -> (E, E) {
        match op {
            BinaryOp::Mul => (w, x),
            BinaryOp::Div => (w.recip(), -out / w),
            BinaryOp::Max => {
                if x >= w {
                    (E::one(), zero)
                } else {
                    (zero, E::one())
                }
            }
            BinaryOp::Min => {
                if x <= w {
                    (E::one(), zero)
                } else {
                    (zero, E::one())
                }
            }
            BinaryOp::Pow => (
                w * x.powf(w - E::one()),
                if x > zero { out * x.ln() } else { zero },
            ),
            BinaryOp::Add | BinaryOp::Sub => (E::one(), E::one()),
        }
    };
    let m = na.min(nb).max(1);
    let mut ga = vec![zero; if needs[0] { na } else { 0 }];
    let mut gb = vec![zero; if needs[1] { nb } else { 0 }];
    for c in 0..n / m {
        for j in 0..m {
            let i = c * m + j;
            let (ia, ib) = (if na == n { i } else { j }, if nb == n { i } else { j });
            let (da, db) = partials(at(&sa, ia), at(&sb, ib), at(&sy, i));
            if needs[0] {
                ga[ia] = ga[ia] + sg[i] * da;
            }
            if needs[1] {
                gb[ib] = gb[ib] + sg[i] * db;
            }
        }
    }
    (
        needs[0].then(|| Tensor::from_buffer(buffer_from_slice(&ga), a_dims)),
        needs[1].then(|| Tensor::from_buffer(buffer_from_slice(&gb), b_dims)),
    )
}

pub(crate) fn scalar_op<S: Shape, E: Float>(
    op: BinaryOp,
    a: &Tensor<S, E>,
    s: E,
    scalar_left: bool,
) -> Tensor<S, E> {
    let a_in = a;
    let a = a.contiguous();
    let sa = a.as_slice().unwrap_or(&[]);
    let mut buf = buffer_filled(sa.len(), E::zero());
    if scalar_left {
        E::scalar_binary(op, s, sa, &mut buf);
    } else {
        E::binary_scalar(op, sa, s, &mut buf);
    }
    let out = Tensor::from_buffer(buf, a.dims());
    if !a_in.on_tape() {
        return out;
    }
    // keep the input / output only for the rules that read them
    let keep_x = matches!(
        (op, scalar_left),
        (BinaryOp::Div, true) | (BinaryOp::Max, _) | (BinaryOp::Min, _) | (BinaryOp::Pow, false)
    );
    let keep_y = matches!((op, scalar_left), (BinaryOp::Div, true) | (BinaryOp::Pow, true));
    let x = keep_x.then(|| a.stop_gradient());
    let y = keep_y.then(|| out.clone());
    let dims = Dims::from_slice(a.dims());
    record_unary(a_in, out, move |g| {
        let sg = rules::data(g);
        let empty: [E; 0] = [];
        let sx = x
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed(&empty[..]), rules::data);
        let sy = y
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed(&empty[..]), rules::data);
        let zero = E::zero();
        let at = |v: &[E], i: usize| v.get(i).copied().unwrap_or(zero);
        // d(op)/dx at every element; ties of max/min send the gradient to x
        let d = |x: E, y: E| -> E {
            match (op, scalar_left) {
                (BinaryOp::Add, _) | (BinaryOp::Sub, false) => E::one(),
                (BinaryOp::Sub, true) => -E::one(),
                (BinaryOp::Mul, _) => s,
                (BinaryOp::Div, false) => s.recip(),
                (BinaryOp::Div, true) => -y / x,
                (BinaryOp::Max, _) => {
                    if x >= s {
                        E::one()
                    } else {
                        zero
                    }
                }
                (BinaryOp::Min, _) => {
                    if x <= s {
                        E::one()
                    } else {
                        zero
                    }
                }
                (BinaryOp::Pow, false) => s * x.powf(s - E::one()),
                (BinaryOp::Pow, true) => {
                    if s > zero {
                        y * s.ln()
                    } else {
                        zero
                    }
                }
            }
        };
        rules::from_index_fn(&dims, |i| sg[i] * d(at(&sx, i), at(&sy, i)))
    })
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
        let out = self.map(|x| x.powi(n));
        if !self.on_tape() {
            return out;
        }
        // d/dx x^n = n x^(n-1)
        let x = self.stop_gradient();
        record_unary(self, out, move |g| {
            let (sx, sg) = (rules::data(&x), rules::data(g));
            let nf = E::from_f64(f64::from(n));
            rules::from_index_fn(x.dims(), |i| sg[i] * nf * sx[i].powi(n - 1))
        })
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
