//! Vectorised transcendental functions written once over [`Simd`], with their error bounds.
//!
//! Measured against the libm-accurate scalar path (`tests/kernels_unary.rs` pins these):
//!
//! | function | f32 max relative error | f64 max relative error |
//! |---|---|---|
//! | `exp` | 2e-7 (about 2 ulp) | 5e-16 |
//! | `tanh` | 5e-7 | 1e-15 |
//! | `sigmoid` | 5e-7 | 1e-15 |
//! | `erf` | 1e-6 (Taylor below 0.5, Numerical Recipes' `erfc` Chebyshev fit above) | scalar path, ≈1e-15 |
//!
//! Denormal results of `exp` are produced (scaling by two powers of two), overflow gives `+inf`,
//! NaN inputs give NaN.

use super::simd::{Elem, Simd};

/// Horner evaluation of `coeffs` (highest degree first) at `x`.
#[inline(always)]
fn horner<S: Simd>(s: S, coeffs: &[f64], x: S::V) -> S::V {
    let mut acc = s.cst(coeffs[0]);
    for &c in &coeffs[1..] {
        acc = s.fmadd(acc, x, s.cst(c));
    }
    acc
}

/// `e^x`: Cody-Waite reduction `x = n·ln2 + r`, `|r| <= ln2/2`, polynomial for `e^r`, and
/// `2^n` applied as two halves so that overflow gives inf and underflow gives denormals or 0.
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    let e = <S::E as Elem>::c;
    let xc = s.min_raw(s.max_raw(x, s.cst(S::E::EXP_LO)), s.cst(S::E::EXP_HI));
    let n = s.round(s.mul(xc, s.splat(e(std::f64::consts::LOG2_E))));
    let r = s.fmadd(n, s.splat(-e(S::E::LN2_HI)), xc);
    let r = s.fmadd(n, s.splat(-e(S::E::LN2_LO)), r);
    let p = horner(s, S::E::EXP_P, r);
    let one = s.cst(1.0);
    let y = s.fmadd(s.mul(r, r), p, s.add(r, one));
    let n1 = s.round(s.mul(n, s.cst(0.5)));
    let n2 = s.sub(n, n1);
    let y = s.mul(s.mul(y, s.pow2i(n1)), s.pow2i(n2));
    // max/min above replaced NaN by a bound: put NaN back.
    s.select(s.unord(x, x), x, y)
}

/// `tanh(x)`: Cephes' odd rational/polynomial form below 0.625, `1 - 2/(e^{2|x|} + 1)` above.
#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.cst(1.0);
    let ax = s.abs(x);
    let e2 = exp(s, s.add(ax, ax));
    let big = s.sub(one, s.div(s.cst(2.0), s.add(e2, one)));
    let big = s.select(s.lt(x, s.cst(0.0)), s.neg(big), big);
    let z = s.mul(x, x);
    let mut ratio = horner(s, S::E::TANH_P, z);
    if !S::E::TANH_Q.is_empty() {
        let mut q = s.add(z, s.cst(S::E::TANH_Q[0]));
        for &c in &S::E::TANH_Q[1..] {
            q = s.fmadd(q, z, s.cst(c));
        }
        ratio = s.div(ratio, q);
    }
    let small = s.fmadd(s.mul(x, z), ratio, x);
    s.select(s.lt(ax, s.cst(0.625)), small, big)
}

/// `1 / (1 + e^-x)`, computed from `e^{-|x|}` so that neither tail loses precision.
#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.cst(1.0);
    let e = exp(s, s.neg(s.abs(x)));
    let pos = s.div(one, s.add(one, e));
    let neg = s.mul(e, pos);
    s.select(s.lt(x, s.cst(0.0)), neg, pos)
}

/// Taylor coefficients of `erf(x)/x` in `z = x²`, highest first: `2/√π · (-1)^n / (n!(2n+1))`,
/// n = 7..0. Truncation below |x| = 0.5: `0.5^16 / (8!·17) ≈ 2e-11`.
const ERF_TAYLOR: [f64; 8] = [
    -2.0 / 1.772_453_850_905_516 / 75_600.0,
    2.0 / 1.772_453_850_905_516 / 9_360.0,
    -2.0 / 1.772_453_850_905_516 / 1_320.0,
    2.0 / 1.772_453_850_905_516 / 216.0,
    -2.0 / 1.772_453_850_905_516 / 42.0,
    2.0 / 1.772_453_850_905_516 / 10.0,
    -2.0 / 1.772_453_850_905_516 / 3.0,
    2.0 / 1.772_453_850_905_516,
];

/// Numerical Recipes `erfcc` exponent polynomial in `t = 1/(1 + |x|/2)`, highest first:
/// `erfc(x) = t·exp(-x² + P(t))` with fractional error below 1.2e-7 everywhere.
const ERFC_NR: [f64; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_87,
    -1.135_203_98,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_68,
    -1.265_512_23,
];

/// `erf(x)` for precisions where [`Elem::VECTOR_ERF`] holds (f32).
#[inline(always)]
pub(crate) fn erf<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.cst(1.0);
    let ax = s.abs(x);
    let z = s.mul(x, x);
    let small = s.mul(x, horner(s, &ERF_TAYLOR, z));
    let t = s.div(one, s.fmadd(ax, s.cst(0.5), one));
    let poly = horner(s, &ERFC_NR, t);
    let erfc = s.mul(t, exp(s, s.sub(poly, z)));
    let big = s.sub(one, erfc);
    let big = s.select(s.lt(x, s.cst(0.0)), s.neg(big), big);
    s.select(s.lt(ax, s.cst(0.5)), small, big)
}
