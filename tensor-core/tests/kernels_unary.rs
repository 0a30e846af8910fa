//! Accuracy of the vector transcendental functions (`exp`, `tanh`, `sigmoid`, `erf`) against the
//! libm-accurate scalar path, over dense sweeps of their whole useful range, with the bounds
//! documented in `kernels/math.rs`; plus known values from tables.

use tensor_core::kernels::dispatch::forced;
use tensor_core::kernels::{Isa, UnaryOp};

/// Relative error, measured against max(|want|, smallest normal) so denormal results are judged
/// by absolute error.
fn max_rel_err<F>(isa: Isa, op: UnaryOp, xs: &[F]) -> Option<f64>
where
    F: forced::ForcedFloat + Into<f64>,
{
    let mut got = vec![F::zero(); xs.len()];
    let mut want = vec![F::zero(); xs.len()];
    if !forced::unary(isa, op, xs, &mut got) {
        return None;
    }
    forced::unary(Isa::Scalar, op, xs, &mut want);
    let floor: f64 = F::min_positive_value().into();
    let mut worst = 0.0f64;
    for ((&g, &w), &x) in got.iter().zip(&want).zip(xs) {
        let (g, w): (f64, f64) = (g.into(), w.into());
        if w.is_nan() {
            assert!(g.is_nan(), "{op:?}({}) = {g}, want NaN", x.into());
            continue;
        }
        if w.is_infinite() {
            assert_eq!(g, w, "{op:?}({})", x.into());
            continue;
        }
        let e = (g - w).abs() / w.abs().max(floor);
        worst = worst.max(e);
    }
    Some(worst)
}

fn sweep<F: num_traits::Float>(lo: f64, hi: f64, n: usize) -> Vec<F> {
    let mut v: Vec<F> = (0..=n)
        .map(|i| F::from(lo + (hi - lo) * i as f64 / n as f64).unwrap())
        .collect();
    for s in [
        0.0,
        -0.0,
        1e-30,
        -1e-30,
        1e-8,
        -1e-8,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ] {
        v.push(F::from(s).unwrap());
    }
    v
}

const CASES: [(UnaryOp, f64, f64, f64, f64); 4] = [
    // op, sweep lo, sweep hi, f32 bound, f64 bound
    (UnaryOp::Exp, -110.0, 90.0, 2.5e-7, 5e-16),
    (UnaryOp::Tanh, -12.0, 12.0, 5e-7, 1e-15),
    (UnaryOp::Sigmoid, -110.0, 40.0, 5e-7, 1e-15),
    (UnaryOp::Erf, -6.0, 6.0, 1e-6, 1e-15),
];

#[test]
fn f32_error_bounds_hold() {
    for isa in [Isa::Avx2, Isa::Avx512] {
        for (op, lo, hi, bound, _) in CASES {
            let xs = sweep::<f32>(lo, hi, 400_000);
            if let Some(e) = max_rel_err(isa, op, &xs) {
                eprintln!("{isa:?} f32 {op:?}: max rel err {e:e}");
                assert!(e <= bound, "{isa:?} f32 {op:?}: {e:e} > {bound:e}");
            }
        }
    }
}

#[test]
fn f64_error_bounds_hold() {
    for isa in [Isa::Avx2, Isa::Avx512] {
        for (op, lo, hi, _, bound) in CASES {
            let lo = if op == UnaryOp::Exp { -750.0 } else { lo };
            let hi = if op == UnaryOp::Exp { 712.0 } else { hi };
            let xs = sweep::<f64>(lo, hi, 400_000);
            if let Some(e) = max_rel_err(isa, op, &xs) {
                eprintln!("{isa:?} f64 {op:?}: max rel err {e:e}");
                assert!(e <= bound, "{isa:?} f64 {op:?}: {e:e} > {bound:e}");
            }
        }
    }
}

/// Table values (Abramowitz & Stegun / any CAS): e^1, tanh(0.5), σ(2) = 1/(1+e^-2), erf(0.5), erf(2).
#[test]
fn known_values() {
    let xs = [1.0f64, 0.5, 2.0, 0.5, 2.0];
    let ops = [
        UnaryOp::Exp,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Erf,
        UnaryOp::Erf,
    ];
    let want = [
        std::f64::consts::E,
        0.462_117_157_260_009_7,
        0.880_797_077_977_882_3,
        0.520_499_877_813_046_5,
        0.995_322_265_018_952_7,
    ];
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
        for ((&x, &op), &w) in xs.iter().zip(&ops).zip(&want) {
            // 9 elements so the vector main loop (not only the tail) runs on AVX2 f32.
            let a32 = [x as f32; 9];
            let mut o32 = [0.0f32; 9];
            let a64 = [x; 9];
            let mut o64 = [0.0f64; 9];
            if forced::unary(isa, op, &a32, &mut o32) {
                for g in o32 {
                    assert!(
                        ((g as f64) - w).abs() <= 1e-6 * w,
                        "{isa:?} f32 {op:?}({x}) = {g}, want {w}"
                    );
                }
            }
            if forced::unary(isa, op, &a64, &mut o64) {
                for g in o64 {
                    assert!(
                        (g - w).abs() <= 1e-14 * w,
                        "{isa:?} f64 {op:?}({x}) = {g}, want {w}"
                    );
                }
            }
        }
    }
}

/// erf(±0) = ±0 exactly on every path (the scalar series once looped forever at 0).
#[test]
fn erf_of_zero_is_zero() {
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
        let mut out = [1.0f64; 3];
        if forced::unary(isa, UnaryOp::Erf, &[0.0, -0.0, 0.0], &mut out) {
            assert_eq!(out, [0.0, 0.0, 0.0]);
            assert!(out[1].is_sign_negative());
        }
        let mut out = [1.0f32; 3];
        if forced::unary(isa, UnaryOp::Erf, &[0.0, -0.0, 0.0], &mut out) {
            assert_eq!(out, [0.0, 0.0, 0.0]);
        }
    }
}
