//! The portable scalar kernels: always compiled, the reference for every SIMD path.

use super::{BinaryOp, ReduceOp, UnaryOp};
use num_traits::Float;

#[inline(always)]
fn apply_binary<F: Float>(op: BinaryOp, a: F, b: F) -> F {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => {
            if a >= b || b.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Min => {
            if a <= b || b.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Pow => a.powf(b),
    }
}

/// Exact (libm-accurate) scalar value of a unary op.
#[inline(always)]
pub fn apply_unary<F: Float>(op: UnaryOp, a: F) -> F {
    let one = F::one();
    match op {
        UnaryOp::Neg => -a,
        UnaryOp::Abs => a.abs(),
        UnaryOp::Exp => a.exp(),
        UnaryOp::Ln => a.ln(),
        UnaryOp::Sqrt => a.sqrt(),
        UnaryOp::Tanh => a.tanh(),
        UnaryOp::Sigmoid => {
            if a >= F::zero() {
                one / (one + (-a).exp())
            } else {
                let e = a.exp();
                e / (one + e)
            }
        }
        UnaryOp::Relu => {
            if a > F::zero() || a.is_nan() {
                a
            } else {
                F::zero()
            }
        }
        UnaryOp::Erf => erf(a),
        UnaryOp::Sign => {
            if a > F::zero() {
                one
            } else if a < F::zero() {
                -one
            } else {
                a
            }
        }
        UnaryOp::Recip => one / a,
        UnaryOp::Square => a * a,
    }
}

/// The error function in f64 precision (W. J. Cody's rational approximations as in
/// Numerical Recipes' `erfc` with Chebyshev coefficients: |error| < 1.2e-7 relative).
pub fn erf<F: Float>(x: F) -> F {
    let xf = x.to_f64().unwrap_or(f64::NAN);
    F::from(erf_f64(xf)).unwrap_or_else(F::nan)
}

/// The error function for f64, accurate to about 1e-15 (series for small |x|, continued
/// fraction for the complement above).
pub fn erf_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Maclaurin series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let x2 = ax * ax;
        let mut term = ax;
        let mut sum = ax;
        let mut n = 0.0f64;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * core::f64::consts::FRAC_2_SQRT_PI
    } else if ax < 27.0 {
        // erfc(x) by Lentz's continued fraction: erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
        let mut f = ax;
        let mut c = ax;
        let mut d = 0.0f64;
        let tiny = 1e-300;
        for i in 1..300 {
            let a = i as f64 / 2.0;
            d = ax + a * d;
            if d.abs() < tiny {
                d = tiny;
            }
            d = 1.0 / d;
            c = ax + a / c;
            if c.abs() < tiny {
                c = tiny;
            }
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-ax * ax).exp() / (f * core::f64::consts::PI.sqrt())
    } else {
        1.0
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// `out[i] = a[i] op b[i]`.
///
/// # Panics
/// If the slices differ in length.
pub fn binary<F: Float>(op: BinaryOp, a: &[F], b: &[F], out: &mut [F]) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "binary kernel: length mismatch"
    );
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = apply_binary(op, x, y);
    }
}

/// `out[i] = a[i] op s`.
///
/// # Panics
/// If the slices differ in length.
pub fn binary_scalar<F: Float>(op: BinaryOp, a: &[F], s: F, out: &mut [F]) {
    assert_eq!(a.len(), out.len(), "binary_scalar kernel: length mismatch");
    for (o, &x) in out.iter_mut().zip(a) {
        *o = apply_binary(op, x, s);
    }
}

/// `out[i] = s op a[i]`.
///
/// # Panics
/// If the slices differ in length.
pub fn scalar_binary<F: Float>(op: BinaryOp, s: F, a: &[F], out: &mut [F]) {
    assert_eq!(a.len(), out.len(), "scalar_binary kernel: length mismatch");
    for (o, &x) in out.iter_mut().zip(a) {
        *o = apply_binary(op, s, x);
    }
}

/// `out[i] = op(a[i])`.
///
/// # Panics
/// If the slices differ in length.
pub fn unary<F: Float>(op: UnaryOp, a: &[F], out: &mut [F]) {
    assert_eq!(a.len(), out.len(), "unary kernel: length mismatch");
    for (o, &x) in out.iter_mut().zip(a) {
        *o = apply_unary(op, x);
    }
}

/// Reduction of a slice (pairwise-free, sequential with 8 partial sums for accuracy and speed).
pub fn reduce<F: Float>(op: ReduceOp, a: &[F]) -> F {
    match op {
        ReduceOp::Sum => {
            let mut acc = [F::zero(); 8];
            let chunks = a.chunks_exact(8);
            let rem = chunks.remainder();
            for c in chunks {
                for (s, &x) in acc.iter_mut().zip(c) {
                    *s = *s + x;
                }
            }
            let mut total = F::zero();
            for s in acc {
                total = total + s;
            }
            for &x in rem {
                total = total + x;
            }
            total
        }
        ReduceOp::Max => a
            .iter()
            .fold(F::neg_infinity(), |m, &x| if x > m || x.is_nan() { x } else { m }),
        ReduceOp::Min => a
            .iter()
            .fold(F::infinity(), |m, &x| if x < m || x.is_nan() { x } else { m }),
    }
}

/// Reference GEMM: `c = alpha * a·b + beta * c` with arbitrary strides.
#[allow(clippy::too_many_arguments)]
pub fn gemm<F: Float>(
    m: usize,
    n: usize,
    k: usize,
    alpha: F,
    a: &[F],
    a_rs: usize,
    a_cs: usize,
    b: &[F],
    b_rs: usize,
    b_cs: usize,
    beta: F,
    c: &mut [F],
    c_rs: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = F::zero();
            for p in 0..k {
                acc = acc + a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs];
            }
            let dst = &mut c[i * c_rs + j];
            *dst = if beta == F::zero() {
                alpha * acc
            } else {
                alpha * acc + beta * *dst
            };
        }
    }
}
