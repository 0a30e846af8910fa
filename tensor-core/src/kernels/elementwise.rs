//! Element-wise and reduction kernels written once over [`Simd`], plus their
//! `#[target_feature]` entry points per instruction set.
//!
//! Full vectors are processed in the main loop; the tail (fewer than `LANES` elements) is copied
//! into a stack buffer and run through the same vector code, so every element sees exactly the
//! same arithmetic whatever its position.

use num_traits::{Float, Zero};

use super::math;
use super::simd::{Elem, Simd};
use super::{scalar, BinaryOp, ReduceOp, UnaryOp};

/// `out[i] = f(a[i], b[i])`, all three of equal length.
#[inline(always)]
fn map2<S: Simd>(s: S, a: &[S::E], b: &[S::E], out: &mut [S::E], f: impl Fn(S::V, S::V) -> S::V) {
    let l = S::LANES;
    let main = out.len() - out.len() % l;
    let (head, tail) = out.split_at_mut(main);
    for ((o, x), y) in head
        .chunks_exact_mut(l)
        .zip(a.chunks_exact(l))
        .zip(b.chunks_exact(l))
    {
        s.store(o, f(s.load(x), s.load(y)));
    }
    if !tail.is_empty() {
        let mut xa = [S::E::zero(); 16];
        let mut ya = [S::E::zero(); 16];
        xa[..tail.len()].copy_from_slice(&a[main..]);
        ya[..tail.len()].copy_from_slice(&b[main..]);
        let r = s.to_array(f(s.load(&xa), s.load(&ya)));
        tail.copy_from_slice(&r[..tail.len()]);
    }
}

/// `out[i] = f(a[i])`, both of equal length.
#[inline(always)]
fn map1<S: Simd>(s: S, a: &[S::E], out: &mut [S::E], f: impl Fn(S::V) -> S::V) {
    let l = S::LANES;
    let main = out.len() - out.len() % l;
    let (head, tail) = out.split_at_mut(main);
    for (o, x) in head.chunks_exact_mut(l).zip(a.chunks_exact(l)) {
        s.store(o, f(s.load(x)));
    }
    if !tail.is_empty() {
        let mut xa = [S::E::zero(); 16];
        xa[..tail.len()].copy_from_slice(&a[main..]);
        let r = s.to_array(f(s.load(&xa)));
        tail.copy_from_slice(&r[..tail.len()]);
    }
}

/// The vector form of one binary op, with the scalar path's semantics: `Max`/`Min` return `a`
/// on ties (so the sign of zero follows `a`) and ignore a NaN in either operand unless both are.
#[inline(always)]
fn apply_binary<S: Simd>(s: S, op: BinaryOp, a: S::V, b: S::V) -> S::V {
    match op {
        BinaryOp::Add => s.add(a, b),
        BinaryOp::Sub => s.sub(a, b),
        BinaryOp::Mul => s.mul(a, b),
        BinaryOp::Div => s.div(a, b),
        // max_raw(b, a) = b > a ? b : a: ties and a NaN `b` give `a`; a NaN `a` must give `b`.
        BinaryOp::Max => s.select(s.unord(a, a), b, s.max_raw(b, a)),
        BinaryOp::Min => s.select(s.unord(a, a), b, s.min_raw(b, a)),
        BinaryOp::Pow => {
            let (xa, ya) = (s.to_array(a), s.to_array(b));
            let mut r = [S::E::zero(); 16];
            for i in 0..S::LANES {
                r[i] = xa[i].powf(ya[i]);
            }
            s.load(&r)
        }
    }
}

/// Monomorphises the element loop once per op, so the `match` stays out of the loop.
macro_rules! per_binary_op {
    ($s:expr, $op:expr, |$o:ident| $body:expr) => {
        match $op {
            BinaryOp::Add => {
                let $o = BinaryOp::Add;
                $body
            }
            BinaryOp::Sub => {
                let $o = BinaryOp::Sub;
                $body
            }
            BinaryOp::Mul => {
                let $o = BinaryOp::Mul;
                $body
            }
            BinaryOp::Div => {
                let $o = BinaryOp::Div;
                $body
            }
            BinaryOp::Max => {
                let $o = BinaryOp::Max;
                $body
            }
            BinaryOp::Min => {
                let $o = BinaryOp::Min;
                $body
            }
            BinaryOp::Pow => {
                let $o = BinaryOp::Pow;
                $body
            }
        }
    };
}

/// `out[i] = a[i] op b[i]`.
#[inline(always)]
pub(crate) fn binary<S: Simd>(s: S, op: BinaryOp, a: &[S::E], b: &[S::E], out: &mut [S::E]) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "binary kernel: length mismatch"
    );
    if op == BinaryOp::Pow {
        return scalar::binary(op, a, b, out);
    }
    per_binary_op!(s, op, |o| map2(s, a, b, out, |x, y| apply_binary(s, o, x, y)))
}

/// `out[i] = a[i] op c`.
#[inline(always)]
pub(crate) fn binary_scalar<S: Simd>(s: S, op: BinaryOp, a: &[S::E], c: S::E, out: &mut [S::E]) {
    assert_eq!(a.len(), out.len(), "binary_scalar kernel: length mismatch");
    if op == BinaryOp::Pow {
        return scalar::binary_scalar(op, a, c, out);
    }
    let cv = s.splat(c);
    per_binary_op!(s, op, |o| map1(s, a, out, |x| apply_binary(s, o, x, cv)))
}

/// `out[i] = c op a[i]`.
#[inline(always)]
pub(crate) fn scalar_binary<S: Simd>(s: S, op: BinaryOp, c: S::E, a: &[S::E], out: &mut [S::E]) {
    assert_eq!(a.len(), out.len(), "scalar_binary kernel: length mismatch");
    if op == BinaryOp::Pow {
        return scalar::scalar_binary(op, c, a, out);
    }
    let cv = s.splat(c);
    per_binary_op!(s, op, |o| map1(s, a, out, |x| apply_binary(s, o, cv, x)))
}

/// `out[i] = op(a[i])`.
#[inline(always)]
pub(crate) fn unary<S: Simd>(s: S, op: UnaryOp, a: &[S::E], out: &mut [S::E]) {
    assert_eq!(a.len(), out.len(), "unary kernel: length mismatch");
    let zero = s.cst(0.0);
    let one = s.cst(1.0);
    match op {
        UnaryOp::Neg => map1(s, a, out, |x| s.neg(x)),
        UnaryOp::Abs => map1(s, a, out, |x| s.abs(x)),
        UnaryOp::Exp => map1(s, a, out, |x| math::exp(s, x)),
        UnaryOp::Tanh => map1(s, a, out, |x| math::tanh(s, x)),
        UnaryOp::Sigmoid => map1(s, a, out, |x| math::sigmoid(s, x)),
        UnaryOp::Erf if S::E::VECTOR_ERF => map1(s, a, out, |x| math::erf(s, x)),
        UnaryOp::Erf | UnaryOp::Ln => scalar::unary(op, a, out),
        UnaryOp::Sqrt => map1(s, a, out, |x| s.sqrt(x)),
        // a > 0 or NaN keeps a; everything else (including -0) becomes +0.
        UnaryOp::Relu => map1(s, a, out, |x| {
            s.select(s.or_mask(s.gt(x, zero), s.unord(x, x)), x, zero)
        }),
        // ±0 and NaN pass through.
        UnaryOp::Sign => map1(s, a, out, |x| {
            s.select(s.gt(x, zero), one, s.select(s.lt(x, zero), s.neg(one), x))
        }),
        UnaryOp::Recip => map1(s, a, out, |x| s.div(one, x)),
        UnaryOp::Square => map1(s, a, out, |x| s.mul(x, x)),
    }
}

/// Reduction with four vector accumulators (hides the add/max latency).
#[inline(always)]
pub(crate) fn reduce<S: Simd>(s: S, op: ReduceOp, a: &[S::E]) -> S::E {
    let l = S::LANES;
    let init = match op {
        ReduceOp::Sum => S::E::zero(),
        ReduceOp::Max => S::E::neg_infinity(),
        ReduceOp::Min => S::E::infinity(),
    };
    let step = |acc: S::V, x: S::V| match op {
        ReduceOp::Sum => s.add(acc, x),
        ReduceOp::Max => s.max_raw(acc, x),
        ReduceOp::Min => s.min_raw(acc, x),
    };
    let mut acc = [s.splat(init); 4];
    let mut nan = s.no_lanes();
    let blocks = a.chunks_exact(4 * l);
    let rest = blocks.remainder();
    let track_nan = op != ReduceOp::Sum;
    for blk in blocks {
        for (j, accj) in acc.iter_mut().enumerate() {
            let x = s.load(&blk[j * l..]);
            if track_nan {
                nan = s.or_mask(nan, s.unord(x, x));
            }
            *accj = step(*accj, x);
        }
    }
    let vecs = rest.chunks_exact(l);
    let tail = vecs.remainder();
    for x in vecs {
        let x = s.load(x);
        if track_nan {
            nan = s.or_mask(nan, s.unord(x, x));
        }
        acc[0] = step(acc[0], x);
    }
    if s.any(nan) {
        return S::E::nan();
    }
    let v = step(step(acc[0], acc[1]), step(acc[2], acc[3]));
    let lanes = s.to_array(v);
    let mut total = scalar::reduce(op, &lanes[..l]);
    let t = scalar::reduce(op, tail);
    total = match op {
        ReduceOp::Sum => total + t,
        // scalar::reduce already propagates NaN; the lanes hold none.
        ReduceOp::Max => {
            if t > total || t.is_nan() {
                t
            } else {
                total
            }
        }
        ReduceOp::Min => {
            if t < total || t.is_nan() {
                t
            } else {
                total
            }
        }
    };
    total
}

/// `#[target_feature]` entry points: the generic bodies above compiled with the instruction
/// set enabled. Each is only called with a token of that instruction set.
macro_rules! entry_points {
    ($modname:ident, $features:literal) => {
        /// Entry points compiled with the instruction set enabled.
        pub(crate) mod $modname {
            use super::*;

            #[target_feature(enable = $features)]
            pub(crate) fn binary<S: Simd>(s: S, op: BinaryOp, a: &[S::E], b: &[S::E], out: &mut [S::E]) {
                super::binary(s, op, a, b, out)
            }
            #[target_feature(enable = $features)]
            pub(crate) fn binary_scalar<S: Simd>(s: S, op: BinaryOp, a: &[S::E], c: S::E, out: &mut [S::E]) {
                super::binary_scalar(s, op, a, c, out)
            }
            #[target_feature(enable = $features)]
            pub(crate) fn scalar_binary<S: Simd>(s: S, op: BinaryOp, c: S::E, a: &[S::E], out: &mut [S::E]) {
                super::scalar_binary(s, op, c, a, out)
            }
            #[target_feature(enable = $features)]
            pub(crate) fn unary<S: Simd>(s: S, op: UnaryOp, a: &[S::E], out: &mut [S::E]) {
                super::unary(s, op, a, out)
            }
            #[target_feature(enable = $features)]
            pub(crate) fn reduce<S: Simd>(s: S, op: ReduceOp, a: &[S::E]) -> S::E {
                super::reduce(s, op, a)
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
entry_points!(avx2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
entry_points!(avx512, "avx512f,avx2,fma");
