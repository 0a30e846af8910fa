//! The implicit kernels against naive loops written from the definition of a convolution.

use super::super::direct::tests::{activation, fill, padding, size};
use super::super::{Conv2d, Padding};
use super::*;
use crate::kernels::threads;
use proptest::prelude::*;

/// The image cell under tap `(ky, kx)` of output `(oy, ox)`, if inside the image.
fn cell(g: &Conv2dGeometry, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.stride.0 + ky * g.dilation.0).checked_sub(g.pad.0)?;
    let ix = (ox * g.stride.1 + kx * g.dilation.1).checked_sub(g.pad.1)?;
    (iy < g.in_h && ix < g.in_w).then_some((iy, ix))
}

/// Calls `f(x index, y index, w index)` (each of channel / filter 0) for every tap inside the image.
fn each_tap(g: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        if let Some((iy, ix)) = cell(g, oy, ox, ky, kx) {
                            let xi = ((b * g.in_h + iy) * g.in_w + ix) * g.in_c;
                            let yi = ((b * g.out_h + oy) * g.out_w + ox) * g.out_c;
                            let wi = (ky * g.k_w + kx) * g.in_c * g.out_c;
                            f(xi, yi, wi);
                        }
                    }
                }
            }
        }
    }
}

/// `y = act(conv(x, w) + b)`, `dW += Σ x·∂Y`, `dX += Σ ∂Y·W`, in f64.
fn naive(g: &Conv2dGeometry, x: &[f64], w: &[f64], b: Option<&[f64]>, dy: &[f64]) -> [Vec<f64>; 3] {
    let (c, oc) = (g.in_c, g.out_c);
    let mut y = vec![0.0; g.output_len()];
    for (i, v) in y.iter_mut().enumerate() {
        *v = b.map_or(0.0, |b| b[i % oc]);
    }
    let (mut dw, mut dx) = (vec![0.0; g.filter_len()], vec![0.0; g.input_len()]);
    each_tap(g, |xi, yi, wi| {
        for ci in 0..c {
            for f in 0..oc {
                let wv = w[wi + ci * oc + f];
                y[yi + f] += x[xi + ci] * wv;
                dw[wi + ci * oc + f] += x[xi + ci] * dy[yi + f];
                dx[xi + ci] += dy[yi + f] * wv;
            }
        }
    });
    [y, dw, dx]
}

fn close<E: Float + std::fmt::Debug>(got: &[E], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, &w)) in got.iter().zip(want).enumerate() {
        let g = g.to_f64().unwrap_or(f64::NAN);
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Forward (none / ReLU / tanh), filter and input gradients on `isa` against [`naive`], the
/// gradients added onto non-zero starting values. `false` when `isa` does not handle `g`.
fn check<E: Float + Send + Sync + std::fmt::Debug + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    bias: bool,
    act: Option<UnaryOp>,
    seed: u64,
    tol: f64,
) -> bool {
    if !handles::<E>(isa, g) {
        return false;
    }
    let (x, w, b, dy) = (
        fill(g.input_len(), seed),
        fill(g.filter_len(), seed ^ 1),
        fill(g.out_c, seed ^ 2),
        fill(g.output_len(), seed ^ 3),
    );
    let [y, dw, dx] = naive(g, &x, &w, bias.then_some(&b[..]), &dy);
    let e = |v: &[f64]| v.iter().map(|&x| E::from(x).unwrap()).collect::<Vec<E>>();
    let (xe, we, be, dye) = (e(&x), e(&w), e(&b), e(&dy));
    let mut got = vec![E::nan(); g.output_len()];
    let ep = Epilogue {
        bias: bias.then_some(&be[..]),
        activation: act,
    };
    assert!(forward(isa, g, &xe, &we, ep, &mut got));
    let want: Vec<f64> = match act {
        Some(UnaryOp::Relu) => y.iter().map(|&v| v.max(0.0)).collect(),
        Some(UnaryOp::Tanh) => y.iter().map(|v| v.tanh()).collect(),
        _ => y,
    };
    // Each output sums `patch` products.
    let patch = g.patch_len() as f64;
    close(&got, &want, tol * patch.sqrt(), "forward");
    let (start_w, start_x) = (fill(g.filter_len(), seed ^ 4), fill(g.input_len(), seed ^ 5));
    let (mut gw, mut gx) = (e(&start_w), e(&start_x));
    assert!(backward(isa, g, &xe, &we, &dye, Some(&mut gw), Some(&mut gx)));
    let plus = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<_>>();
    let terms = (g.batch * g.out_h * g.out_w).max(1) as f64;
    close(&gw, &plus(&start_w, &dw), tol * terms.sqrt(), "filter gradient");
    close(
        &gx,
        &plus(&start_x, &dx),
        tol * (g.out_c as f64 * patch).sqrt(),
        "input gradient",
    );
    true
}

fn channels() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(3usize),
        Just(5),
        Just(8),
        Just(16),
        Just(17),
        Just(32),
        Just(33),
        1usize..40
    ]
}

fn filters() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(8usize),
        Just(9),
        Just(16),
        Just(17),
        Just(31),
        Just(32),
        Just(40),
        Just(64),
        Just(67),
        4usize..80
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn implicit_matches_naive_loops(
        batch in 1usize..4, h in size(), w in size(), c in channels(), kh in 1usize..5, kw in 1usize..5,
        oc in filters(), sh in 1usize..4, sw in 1usize..4, dil in 1usize..3, pad in padding(),
        bias in any::<bool>(), act in activation(), seed in any::<u64>(),
    ) {
        // Keras forbids strides > 1 with dilation > 1; the kernels do not care: test both.
        let op = Conv2d { stride: (sh, sw), padding: pad, dilation: (dil, dil), groups: 1 };
        let Ok(g) = Conv2dGeometry::try_new("t", batch, [h, w, c], [kh, kw], oc, &op) else {
            return Ok(());
        };
        let mut ran = false;
        for isa in [Isa::Avx2, Isa::Avx512] {
            ran |= check::<f64>(isa, &g, bias, act, seed, 1e-13);
            ran |= check::<f32>(isa, &g, bias, act, seed, 3e-6);
        }
        prop_assume!(ran);
    }
}

#[test]
fn mnist_second_layer_on_one_and_two_threads() {
    // 13×13×32 → 11×11×64 (the CNN's second layer, in place) and a same-padded, strided
    // variant (read through the padded copy), batch 5, on 1 and 2 threads (per-task partial
    // filter gradients, images split between tasks).
    for (padding, stride) in [(Padding::Valid, (1, 1)), (Padding::Same, (2, 1))] {
        let op = Conv2d {
            padding,
            stride,
            ..Conv2d::default()
        };
        // Batch 1 on 2 threads shares the image's rows with the `hot` helpers.
        for batch in [1, 5] {
            let g = Conv2dGeometry::try_new("t", batch, [13, 13, 32], [3, 3], 64, &op).unwrap();
            for n in [1, 2] {
                threads::set_num_threads(n);
                for isa in [Isa::Avx2, Isa::Avx512] {
                    check::<f32>(isa, &g, true, Some(UnaryOp::Relu), 7, 3e-6);
                    check::<f64>(isa, &g, false, None, 8, 1e-13);
                }
            }
        }
    }
}

#[test]
fn one_image_split_between_threads_is_bit_identical() {
    // The rows of one image computed by whichever thread claims them: the same bits as one
    // thread, with the tanh epilogue applied row by row and through a padded copy.
    for padding in [Padding::Valid, Padding::Same] {
        let op = Conv2d {
            padding,
            ..Conv2d::default()
        };
        let g = Conv2dGeometry::try_new("t", 1, [13, 13, 32], [3, 3], 64, &op).unwrap();
        let (x, w, b) = (fill(g.input_len(), 3), fill(g.filter_len(), 4), fill(64, 5));
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let (x, w, b) = (f(&x), f(&w), f(&b));
        for isa in [Isa::Avx2, Isa::Avx512] {
            let mut runs = Vec::new();
            for n in [1, 2, 2, 2] {
                threads::set_num_threads(n);
                let mut y = vec![f32::NAN; g.output_len()];
                let ep = Epilogue {
                    bias: Some(&b),
                    activation: Some(UnaryOp::Tanh),
                };
                if !forward(isa, &g, &x, &w, ep, &mut y) {
                    break;
                }
                runs.push(y);
            }
            for r in &runs[1..] {
                assert!(
                    r.iter().zip(&runs[0]).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa:?}"
                );
            }
        }
    }
}

#[test]
fn other_paths_keep_their_convolutions() {
    // Grouped, pointwise, direct and integer convolutions are not this path's. (The switch
    // `set_enabled` is not toggled here: it is process-wide and the other tests run at once.)
    let g = Conv2dGeometry::try_new("t", 1, [5, 5, 16], [3, 3], 16, &Conv2d::default()).unwrap();
    for (input, k, groups) in [([5, 5, 16], 3, 2), ([5, 5, 16], 1, 1), ([5, 5, 1], 3, 1)] {
        let op = Conv2d {
            groups,
            ..Conv2d::default()
        };
        let g = Conv2dGeometry::try_new("t", 1, input, [k, k], 16, &op).unwrap();
        assert!(!handles::<f32>(Isa::Avx512, &g));
    }
    assert!(!handles::<i32>(Isa::Avx512, &g));
}
