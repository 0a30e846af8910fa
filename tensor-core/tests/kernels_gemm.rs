//! The blocked SIMD GEMM against the scalar reference GEMM (itself checked against a hand-computed
//! product below), over random shapes, strides (including transposed views), alpha and beta, on
//! every instruction set this CPU has.

use proptest::prelude::*;
use tensor_core::kernels::{self, gemm_on, scalar, GemmArgs, Isa};

const SIMD_ISAS: [Isa; 2] = [Isa::Avx2, Isa::Avx512];

/// How an operand of `rows × cols` is laid out in memory: (row stride, col stride, length).
fn layout(kind: u8, rows: usize, cols: usize) -> (usize, usize, usize) {
    let len = |rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    match kind % 3 {
        0 => (cols, 1, len(cols, 1)),
        1 => (1, rows.max(1), len(1, rows.max(1))),
        _ => (2 * cols + 3, 2, len(2 * cols + 3, 2)),
    }
}

fn fill(len: usize, seed: u64) -> Vec<f64> {
    // xorshift: deterministic values in [-1, 1)
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn check<F>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    ka: u8,
    kb: u8,
    pad: usize,
    alpha: f64,
    beta: f64,
    seed: u64,
    eps: f64,
) where
    F: num_traits::Float + Send + Sync + 'static + std::fmt::Debug,
{
    let cv = |x: f64| F::from(x).unwrap();
    let (a_rs, a_cs, a_len) = layout(ka, m, k);
    let (b_rs, b_cs, b_len) = layout(kb, k, n);
    let a: Vec<F> = fill(a_len, seed).into_iter().map(cv).collect();
    let b: Vec<F> = fill(b_len, seed ^ 0x9E37).into_iter().map(cv).collect();
    let c_rs = n + pad;
    let c_len = m * c_rs;
    // beta == 0 must ignore NaN in C; elsewhere C starts from finite values.
    let c0: Vec<F> = if beta == 0.0 {
        vec![F::nan(); c_len]
    } else {
        fill(c_len, seed ^ 0x51).into_iter().map(cv).collect()
    };
    let mut want = c0.clone();
    scalar::gemm(
        m,
        n,
        k,
        cv(alpha),
        &a,
        a_rs,
        a_cs,
        &b,
        b_rs,
        b_cs,
        cv(beta),
        &mut want,
        c_rs,
    );
    let mut got = c0.clone();
    let ran = gemm_on(
        isa,
        GemmArgs {
            m,
            n,
            k,
            alpha: cv(alpha),
            a: &a,
            a_rs,
            a_cs,
            b: &b,
            b_rs,
            b_cs,
            beta: cv(beta),
            c: &mut got,
            c_rs,
        },
    );
    if !ran {
        return; // this CPU lacks `isa`
    }
    for i in 0..m {
        for j in 0..c_rs {
            let idx = i * c_rs + j;
            if j >= n {
                // padding between rows is never written
                assert!(got[idx].to_f64().unwrap().to_bits() == c0[idx].to_f64().unwrap().to_bits());
                continue;
            }
            // error bound: k·eps relative to Σ|alpha·a·b| plus eps·|beta·c|
            let mut mag = 0.0;
            for p in 0..k {
                mag += (a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs])
                    .abs()
                    .to_f64()
                    .unwrap();
            }
            let cmag = if beta == 0.0 {
                0.0
            } else {
                (beta * c0[idx].to_f64().unwrap()).abs()
            };
            let tol = 2.0 * eps * ((k as f64 + 2.0) * alpha.abs() * mag + cmag) + 1e-30;
            let (g, w) = (got[idx].to_f64().unwrap(), want[idx].to_f64().unwrap());
            assert!(
                (g - w).abs() <= tol,
                "{isa:?} m={m} n={n} k={k} layouts=({ka},{kb}) at ({i},{j}): got {g}, want {w}, tol {tol}"
            );
        }
    }
}

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(2),
        Just(7),
        Just(13),
        1usize..40,
        40usize..140
    ]
}

fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), Just(-1.0), -2.0f64..2.0]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sgemm_matches_scalar(m in dim(), n in dim(), k in dim(), ka in 0u8..3, kb in 0u8..3, pad in 0usize..3,
                            alpha in scale(), beta in scale(), seed in any::<u64>()) {
        for isa in SIMD_ISAS {
            check::<f32>(isa, m, n, k, ka, kb, pad, alpha, beta, seed, f32::EPSILON as f64);
        }
    }

    #[test]
    fn dgemm_matches_scalar(m in dim(), n in dim(), k in dim(), ka in 0u8..3, kb in 0u8..3, pad in 0usize..3,
                            alpha in scale(), beta in scale(), seed in any::<u64>()) {
        for isa in SIMD_ISAS {
            check::<f64>(isa, m, n, k, ka, kb, pad, alpha, beta, seed, f64::EPSILON);
        }
    }
}

/// Shapes that cross every cache block boundary (KC = 256, MC = 96..144, several NR panels)
/// and run on two threads.
#[test]
fn blocked_and_parallel_shapes_match_scalar() {
    kernels::set_num_threads(2);
    for &(m, n, k) in &[(301, 97, 517), (13, 300, 260), (150, 150, 1), (257, 33, 300)] {
        for isa in SIMD_ISAS {
            for (ka, kb) in [(0, 0), (1, 1), (2, 0)] {
                check::<f32>(isa, m, n, k, ka, kb, 1, 1.5, 0.5, 7, f32::EPSILON as f64);
                check::<f64>(isa, m, n, k, ka, kb, 0, -0.5, 0.0, 11, f64::EPSILON);
            }
        }
    }
}

/// A hand-computed product pins the reference itself:
/// [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154], so with alpha = 2, beta = -1 and
/// C = [1 1; 1 1]: [115 127; 277 307].
#[test]
fn hand_computed_product() {
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [7.0f32, 8.0, 9.0, 10.0, 11.0, 12.0];
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
        let mut c = [1.0f32; 4];
        let args = GemmArgs {
            m: 2,
            n: 2,
            k: 3,
            alpha: 2.0,
            a: &a,
            a_rs: 3,
            a_cs: 1,
            b: &b,
            b_rs: 2,
            b_cs: 1,
            beta: -1.0,
            c: &mut c,
            c_rs: 2,
        };
        if gemm_on(isa, args) {
            assert_eq!(c, [115.0, 127.0, 277.0, 307.0], "{isa:?}");
        }
    }
    let mut c = [1.0f32; 4];
    kernels::gemm(GemmArgs {
        m: 2,
        n: 2,
        k: 3,
        alpha: 2.0,
        a: &a,
        a_rs: 3,
        a_cs: 1,
        b: &b,
        b_rs: 2,
        b_cs: 1,
        beta: -1.0,
        c: &mut c,
        c_rs: 2,
    });
    assert_eq!(c, [115.0, 127.0, 277.0, 307.0]);
}

#[test]
#[should_panic(expected = "A view out of bounds")]
fn out_of_bounds_view_panics() {
    let a = [0.0f32; 5];
    let b = [0.0f32; 6];
    let mut c = [0.0f32; 4];
    kernels::gemm(GemmArgs {
        m: 2,
        n: 2,
        k: 3,
        alpha: 1.0,
        a: &a,
        a_rs: 3,
        a_cs: 1,
        b: &b,
        b_rs: 2,
        b_cs: 1,
        beta: 0.0,
        c: &mut c,
        c_rs: 2,
    });
}
