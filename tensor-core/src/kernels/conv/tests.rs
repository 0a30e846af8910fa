//! Conv and pool tests against naive loops and TensorFlow's padding rules.

use super::*;

#[test]
fn same_padding_splits_like_tensorflow() {
    // len 5, kernel 2, stride 2: out = 3, total = (3-1)·2 + 2 − 5 = 1 → 0 before, 1 after.
    assert_eq!(
        Padding::Same.window(0, 5, 2, 2, 1),
        Some(Window { before: 0, out: 3 })
    );
    // len 5, kernel 4, stride 1: out 5, total 3 → 1 before (2 after).
    assert_eq!(
        Padding::Same.window(0, 5, 4, 1, 1),
        Some(Window { before: 1, out: 5 })
    );
    // dilation 2 of a 3-tap kernel spans 5.
    assert_eq!(
        Padding::Valid.window(1, 7, 3, 1, 2),
        Some(Window { before: 0, out: 3 })
    );
    assert_eq!(Padding::Valid.window(1, 4, 3, 1, 2), None);
}

#[test]
fn chunked_forward_and_backward_match_naive_loops() {
    // 40×40×16 images, 3×3 window, strides (1, 2): 115,200 values of im2col per image, so
    // chunks of two images (COL_CHUNK = 262,144): a batch of three runs as 2 + 1.
    let op = Conv2d {
        padding: Padding::Same,
        stride: (1, 2),
        ..Conv2d::default()
    };
    let g = Conv2dGeometry::try_new("t", 3, [40, 40, 16], [3, 3], 8, &op).unwrap();
    let per_image = g.col_len() / g.batch;
    assert!(per_image * 3 > COL_CHUNK && per_image * 2 <= COL_CHUNK);
    assert_eq!(images_per_chunk(per_image, g.batch), 2);
    let val = |i: usize, s: usize| (((i * 7919 + s * 104_729) % 2003) as f64 / 1001.0) - 1.0;
    let x: Vec<f64> = (0..g.input_len()).map(|i| val(i, 1)).collect();
    let w: Vec<f64> = (0..g.filter_len()).map(|i| val(i, 2)).collect();
    let b: Vec<f64> = (0..g.out_c).map(|i| val(i, 3)).collect();
    let dy: Vec<f64> = (0..g.output_len()).map(|i| val(i, 4)).collect();
    let (mut want, mut want_dx, mut want_dw) = (
        vec![0.0; g.output_len()],
        vec![0.0; g.input_len()],
        vec![0.0; g.filter_len()],
    );
    let (c, oc) = (g.in_c, g.out_c);
    for n in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let o = ((n * g.out_h + oy) * g.out_w + ox) * oc;
                want[o..o + oc].copy_from_slice(&b);
                for ky in 0..3 {
                    for kx in 0..3 {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let xi = ((n * g.in_h + iy) * g.in_w + ix) * c;
                        for ci in 0..c {
                            for f in 0..oc {
                                let wi = ((ky * 3 + kx) * c + ci) * oc + f;
                                want[o + f] += x[xi + ci] * w[wi];
                                want_dx[xi + ci] += dy[o + f] * w[wi];
                                want_dw[wi] += x[xi + ci] * dy[o + f];
                            }
                        }
                    }
                }
            }
        }
    }
    let (mut out, mut col, mut dcol) = (vec![0.0; g.output_len()], Vec::new(), Vec::new());
    let ep = Epilogue {
        bias: Some(&b[..]),
        activation: None,
    };
    conv2d_forward(&g, &x, &w, ep, &mut out, &mut col);
    let (mut dx, mut dw) = (vec![0.0; g.input_len()], vec![0.0; g.filter_len()]);
    let grads = Conv2dGrads {
        input: Some(&mut dx),
        filters: Some(&mut dw),
        bias: None,
    };
    conv2d_backward(&g, &x, &w, &col, &dy, grads, &mut dcol);
    for (what, got, want) in [("out", &out, &want), ("dx", &dx, &want_dx), ("dw", &dw, &want_dw)] {
        for (i, (a, e)) in got.iter().zip(want.iter()).enumerate() {
            assert!(
                (a - e).abs() <= 1e-9 * e.abs().max(1.0),
                "{what}[{i}]: {a} vs {e}"
            );
        }
    }
}

#[test]
fn max_pool_same_padding_and_argmax() {
    // 3×3 image, window 2, stride 2, same: out 2×2 with 0 before, 1 after.
    let x = [1.0f32, 5.0, 2.0, 7.0, 3.0, 9.0, 4.0, 8.0, 6.0];
    let g = Pool2dGeometry::try_new(
        "p",
        1,
        [3, 3, 1],
        &Pool2d {
            padding: Padding::Same,
            ..Pool2d::default()
        },
    )
    .unwrap();
    let (mut out, mut arg) = (vec![0.0; 4], Vec::new());
    max_pool2d_forward(&g, &x, &mut out, Some(&mut arg));
    assert_eq!(out, [7.0, 9.0, 8.0, 6.0]);
    assert_eq!(arg, [3, 5, 7, 8]);
    let mut avg = vec![0.0; 4];
    avg_pool2d_forward(&g, &x, &mut avg);
    // windows: {1,5,7,3} / 4, {2,9} / 2, {4,8} / 2, {6} / 1
    assert_eq!(avg, [4.0, 5.5, 6.0, 6.0]);
}
