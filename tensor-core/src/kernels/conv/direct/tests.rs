//! The SIMD direct kernels against the portable loops, over odd sizes, paddings and strides.

use super::super::portable::{direct_filter_grad, direct_forward};
use super::super::{Conv2d, Padding, DIRECT_MAX_PATCH};
use super::*;
use crate::kernels::threads;
use proptest::prelude::*;

pub(in crate::kernels) fn fill(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn close<E: Float + std::fmt::Debug>(got: &[E], want: &[E], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64().unwrap_or(0.0), w.to_f64().unwrap_or(0.0));
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// The SIMD kernels against the portable loops, for one geometry and element type.
fn check<E: Float + Send + Sync + std::fmt::Debug + 'static>(
    g: &Conv2dGeometry,
    bias: bool,
    act: Option<UnaryOp>,
    seed: u64,
    tol: f64,
) {
    let conv = |v: Vec<f64>| v.into_iter().map(|x| E::from(x).unwrap()).collect::<Vec<E>>();
    let x = conv(fill(g.input_len(), seed));
    let w = conv(fill(g.filter_len(), seed ^ 1));
    let b = conv(fill(g.out_c, seed ^ 2));
    let dy = conv(fill(g.output_len(), seed ^ 3));
    let ep = Epilogue {
        bias: bias.then_some(&b[..]),
        activation: act,
    };
    let (mut want, mut got) = (vec![E::zero(); g.output_len()], vec![E::nan(); g.output_len()]);
    direct_forward(g, &x, &w, ep, &mut want);
    if !forward(Isa::Avx2, g, &x, &w, ep, &mut got) {
        return; // no AVX2 on this CPU
    }
    close(&got, &want, tol, "forward");
    // AVX-512 (four pixels, blocks of 4, 2 and 1 vectors) where the CPU has it.
    let mut got = vec![E::nan(); g.output_len()];
    assert!(forward(Isa::Avx512, g, &x, &w, ep, &mut got));
    close(&got, &want, tol, "forward (AVX-512)");
    let start = conv(fill(g.filter_len(), seed ^ 4));
    let (mut want, got) = (start.clone(), start);
    direct_filter_grad(g, &x, &dy, &mut want);
    // Sums over every pixel of the batch, in another order: rounding grows with their count.
    let terms = (g.batch * g.out_h * g.out_w).max(1) as f64;
    // AVX-512 (9-tap blocks) where the CPU has it, else the AVX2 path again.
    for isa in [Isa::Avx2, Isa::Avx512] {
        let mut got = got.clone();
        assert!(filter_grad(isa, g, &x, &dy, &mut got));
        close(&got, &want, tol * terms.sqrt(), "filter gradient");
    }
}

pub(in crate::kernels) fn padding() -> impl Strategy<Value = Padding> {
    prop_oneof![
        Just(Padding::Valid),
        Just(Padding::Same),
        (0usize..3, 0usize..3, 0usize..3, 0usize..3).prop_map(|(top, bottom, left, right)| {
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            }
        }),
    ]
}

pub(in crate::kernels) fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(1usize),
        Just(2),
        Just(3),
        Just(5),
        Just(7),
        Just(13),
        1usize..20
    ]
}

fn filters() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(1usize),
        Just(3),
        Just(4),
        Just(7),
        Just(8),
        Just(9),
        Just(16),
        Just(17),
        Just(31),
        Just(32),
        Just(33),
        Just(40),
        Just(64),
        Just(67),
    ]
}

pub(in crate::kernels) fn activation() -> impl Strategy<Value = Option<UnaryOp>> {
    prop_oneof![Just(None), Just(Some(UnaryOp::Relu)), Just(Some(UnaryOp::Tanh))]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn simd_direct_matches_the_portable_loops(
        batch in 0usize..4, h in size(), w in size(), c in 1usize..4, kh in 1usize..5, kw in 1usize..5,
        oc in filters(), sh in 1usize..4, sw in 1usize..4, dil in 1usize..3, pad in padding(),
        bias in any::<bool>(), act in activation(), seed in any::<u64>(),
    ) {
        prop_assume!(kh * kw * c <= DIRECT_MAX_PATCH);
        // Keras forbids strides > 1 with dilation > 1; the kernels do not care: test both.
        let op = Conv2d { stride: (sh, sw), padding: pad, dilation: (dil, dil), groups: 1 };
        let Ok(g) = Conv2dGeometry::try_new("t", batch, [h, w, c], [kh, kw], oc, &op) else {
            return Ok(());
        };
        prop_assume!(g.is_direct());
        check::<f64>(&g, bias, act, seed, 1e-12);
        check::<f32>(&g, bias, act, seed, 2e-5);
    }
}

#[test]
fn mnist_first_layer_and_several_threads() {
    // 28×28×1 → 26×26×32 (the CNN's first layer) and a same-padded odd case, batch 5, on
    // 1 and 2 threads (per-task partial gradients).
    for (input, oc, padding) in [([28, 28, 1], 32, Padding::Valid), ([9, 7, 2], 11, Padding::Same)] {
        let op = Conv2d {
            padding,
            ..Conv2d::default()
        };
        let g = Conv2dGeometry::try_new("t", 5, input, [3, 3], oc, &op).unwrap();
        for threads in [1, 2] {
            threads::set_num_threads(threads);
            check::<f32>(&g, true, Some(UnaryOp::Relu), 7, 2e-5);
            check::<f64>(&g, false, None, 8, 1e-12);
        }
    }
}
