//! Every SIMD element-wise kernel against the scalar path, over random lengths (0, 1, primes,
//! non-multiples of the vector width), misaligned sub-slices and special values (±0, ±inf, NaN,
//! denormals), for f32 and f64 on every instruction set this CPU has.

use proptest::prelude::*;
use tensor_core::kernels::dispatch::forced::{self, ForcedFloat};
use tensor_core::kernels::{BinaryOp, Isa, KernelFloat, ReduceOp, UnaryOp};

const SIMD_ISAS: [Isa; 2] = [Isa::Avx2, Isa::Avx512];
const BINARY: [BinaryOp; 7] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Pow,
];
/// Unary ops whose vector form is exact (bit-identical to the scalar path).
const EXACT_UNARY: [UnaryOp; 8] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sqrt,
    UnaryOp::Relu,
    UnaryOp::Sign,
    UnaryOp::Recip,
    UnaryOp::Square,
    UnaryOp::Ln,
];

/// Values mixing ordinary numbers with the special cases.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -100.0f64..100.0,
        1 => prop_oneof![
            Just(0.0), Just(-0.0), Just(1.0), Just(-1.0), Just(f64::INFINITY), Just(f64::NEG_INFINITY),
            Just(f64::NAN), Just(1e-40), Just(-1e-310), Just(3.0)
        ],
    ]
}

fn data() -> impl Strategy<Value = (Vec<f64>, Vec<f64>, usize)> {
    let len = prop_oneof![
        Just(0usize),
        Just(1),
        Just(2),
        Just(3),
        Just(7),
        Just(13),
        Just(17),
        Just(31),
        Just(61),
        0usize..300
    ];
    (len, 0usize..4).prop_flat_map(|(n, off)| {
        (
            prop::collection::vec(value(), n + off),
            prop::collection::vec(value(), n + off),
            Just(off),
        )
    })
}

fn same<F: ForcedFloat + Into<f64>>(got: &[F], want: &[F], what: &str) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        assert!(
            (g.is_nan() && w.is_nan()) || g.to_bits() == w.to_bits(),
            "{what} at {i}: got {g:e}, want {w:e}"
        );
    }
}

fn check_all<F: ForcedFloat + Into<f64>>(a: &[f64], b: &[f64], off: usize) {
    let cv = |v: &[f64]| -> Vec<F> { v.iter().map(|&x| F::from(x).unwrap()).collect() };
    let (a, b) = (cv(a), cv(b));
    // misaligned views: start `off` elements in
    let (a, b) = (&a[off..], &b[off..]);
    let n = a.len();
    let s = if n > 0 { b[0] } else { F::from(2.5).unwrap() };
    for isa in SIMD_ISAS {
        let (mut got, mut want) = (vec![F::zero(); n], vec![F::zero(); n]);
        for op in BINARY {
            if !forced::binary(isa, op, a, b, &mut got) {
                return;
            }
            forced::binary(Isa::Scalar, op, a, b, &mut want);
            same(&got, &want, &format!("{isa:?} binary {op:?}"));
            forced::binary_scalar(isa, op, a, s, &mut got);
            forced::binary_scalar(Isa::Scalar, op, a, s, &mut want);
            same(&got, &want, &format!("{isa:?} binary_scalar {op:?}"));
            forced::scalar_binary(isa, op, s, a, &mut got);
            forced::scalar_binary(Isa::Scalar, op, s, a, &mut want);
            same(&got, &want, &format!("{isa:?} scalar_binary {op:?}"));
        }
        for op in EXACT_UNARY {
            forced::unary(isa, op, a, &mut got);
            forced::unary(Isa::Scalar, op, a, &mut want);
            same(&got, &want, &format!("{isa:?} unary {op:?}"));
        }
        for op in [ReduceOp::Max, ReduceOp::Min] {
            let g: f64 = forced::reduce(isa, op, a).unwrap().into();
            let w: f64 = forced::reduce(Isa::Scalar, op, a).unwrap().into();
            assert!(
                (g.is_nan() && w.is_nan()) || g == w,
                "{isa:?} {op:?}: got {g}, want {w}"
            );
        }
        let g: f64 = forced::reduce(isa, ReduceOp::Sum, a).unwrap().into();
        let w: f64 = forced::reduce(Isa::Scalar, ReduceOp::Sum, a).unwrap().into();
        // Different summation order: bound n·eps·Σ|x| (both paths) .
        let mag: f64 = a.iter().map(|&x| Into::<f64>::into(x).abs()).sum();
        let eps: f64 = F::epsilon().into();
        assert!(
            (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 2.0 * eps * n as f64 * mag,
            "{isa:?} Sum: got {g}, want {w}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn f32_kernels_match_scalar((a, b, off) in data()) {
        check_all::<f32>(&a, &b, off);
    }

    #[test]
    fn f64_kernels_match_scalar((a, b, off) in data()) {
        check_all::<f64>(&a, &b, off);
    }
}

/// The dispatched trait methods (whatever path is active) on hand-checked values.
#[test]
fn trait_methods_on_known_values() {
    let a = [1.0f32, -2.0, 3.0, f32::NAN, 5.0, -0.0, 7.0, 8.0, 9.0];
    let b = [2.0f32, 2.0, -1.0, 1.0, f32::NAN, 0.0, 0.5, 8.0, -9.0];
    let mut out = [0.0f32; 9];
    f32::binary(BinaryOp::Add, &a, &b, &mut out);
    assert_eq!(out[..3], [3.0, 0.0, 2.0]);
    assert!(out[3].is_nan() && out[4].is_nan());
    // max ignores a single NaN: max(NaN, 1) = 1, max(5, NaN) = 5
    f32::binary(BinaryOp::Max, &a, &b, &mut out);
    assert_eq!(out, [2.0, 2.0, 3.0, 1.0, 5.0, -0.0, 7.0, 8.0, 9.0]);
    f32::binary_scalar(BinaryOp::Sub, &a[..3], 1.0, &mut out[..3]);
    assert_eq!(out[..3], [0.0, -3.0, 2.0]);
    f32::scalar_binary(BinaryOp::Div, 6.0, &a[..3], &mut out[..3]);
    assert_eq!(out[..3], [6.0, -3.0, 2.0]);
    f32::unary(UnaryOp::Relu, &a, &mut out);
    assert_eq!(out[..3], [1.0, 0.0, 3.0]);
    assert!(out[3].is_nan());
    // 1+2+...+9 without the NaN: use the finite prefix
    let v: Vec<f64> = (1..=1000).map(f64::from).collect();
    assert_eq!(f64::reduce(ReduceOp::Sum, &v), 500_500.0);
    assert_eq!(f64::reduce(ReduceOp::Max, &v), 1000.0);
    assert_eq!(f64::reduce(ReduceOp::Min, &v), 1.0);
    assert!(f32::reduce(ReduceOp::Max, &a).is_nan());
    assert_eq!(f32::reduce(ReduceOp::Sum, &[]), 0.0);
    assert_eq!(f32::reduce(ReduceOp::Max, &[]), f32::NEG_INFINITY);
    assert_eq!(f32::reduce(ReduceOp::Min, &[]), f32::INFINITY);
}

/// Long slices run chunked on the thread pool: results must equal the sequential scalar path
/// element for element (exact ops) and must not depend on the thread count (all ops, sums too).
#[test]
fn long_slices_are_thread_count_independent() {
    use tensor_core::kernels;
    let n = (1 << 20) + 3; // past both parallel thresholds, a ragged last chunk
    let a: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
    let b: Vec<f32> = (0..n)
        .map(|i| ((i * 104_729) % 997) as f32 / 50.0 + 0.5)
        .collect();
    let run = |threads: usize| {
        kernels::set_num_threads(threads);
        let mut add = vec![0.0f32; n];
        let mut relu = vec![0.0f32; n];
        let mut tanh = vec![0.0f32; n];
        let mut scaled = vec![0.0f32; n];
        f32::binary(BinaryOp::Add, &a, &b, &mut add);
        f32::unary(UnaryOp::Relu, &a, &mut relu);
        f32::unary(UnaryOp::Tanh, &a, &mut tanh);
        f32::scalar_binary(BinaryOp::Sub, 1.0, &a, &mut scaled);
        let sums = (
            f32::reduce(ReduceOp::Sum, &a),
            f32::reduce(ReduceOp::Max, &b),
            f32::reduce(ReduceOp::Min, &b),
        );
        (add, relu, tanh, scaled, sums)
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one, two);
    let mut want = vec![0.0f32; n];
    forced::binary(Isa::Scalar, BinaryOp::Add, &a, &b, &mut want);
    assert_eq!(one.0, want);
    forced::unary(Isa::Scalar, UnaryOp::Relu, &a, &mut want);
    assert_eq!(one.1, want);
    forced::scalar_binary(Isa::Scalar, BinaryOp::Sub, 1.0, &a, &mut want);
    assert_eq!(one.3, want);
    // The exact sum in f64 (all terms are multiples of 0.01 below 5 in size): f32 error bound n·eps·Σ|x|.
    let exact: f64 = a.iter().map(|&x| x as f64).sum();
    let mag: f64 = a.iter().map(|&x| (x as f64).abs()).sum();
    assert!(
        ((one.4 .0 as f64) - exact).abs() <= 1e-3 * mag,
        "sum {} vs {exact}",
        one.4 .0
    );
    assert_eq!(one.4 .1, b.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
    assert_eq!(one.4 .2, b.iter().cloned().fold(f32::INFINITY, f32::min));
}

#[test]
#[should_panic(expected = "length mismatch")]
fn long_slices_still_check_lengths() {
    let a = vec![1.0f32; 100_000];
    let b = vec![1.0f32; 99_999];
    let mut out = vec![0.0f32; 100_000];
    f32::binary(BinaryOp::Add, &a, &b, &mut out);
}
