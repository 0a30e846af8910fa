//! Convolution and pooling: values and gradients against hand-derived cases, against
//! TensorFlow/Keras (float64 values computed by `reference/conv_reference.py`, committed in
//! `reference/conv_reference.json`; this test needs no Python), and against central finite
//! differences for odd sizes, strides 1–3, every padding, dilation 2 and groups.

use tensor_core::autodiff::{check_gradients, GradientTape};
use tensor_core::ops::conv::{Conv2d, Padding, Pool2d};
use tensor_core::prelude::*;

tensor_macros::dims! {
    crate = ::tensor_core;
    N; H; W; C; Kh; Kw; Ci; F; Ho; Wo;
    H4 = 4; W4 = 4; C1 = 1; K2 = 2; F1 = 1; Ho3 = 3; Ho2 = 2; Wo2 = 2;
}

type Img = Tensor<(N, H, W, C), f64>;
type Filt = Tensor<(Kh, Kw, Ci, F), f64>;
type Out = Tensor<(N, Ho, Wo, F), f64>;

fn img(shape: &[usize], data: Vec<f64>) -> Img {
    Tensor::from_vec(data, shape).unwrap()
}

fn filt(shape: &[usize], data: Vec<f64>) -> Filt {
    Tensor::from_vec(data, shape).unwrap()
}

/// Deterministic values in (-1, 1), distinct enough that max pooling has no ties.
fn values(n: usize, seed: u64) -> Vec<f64> {
    test_support::uniform(seed, n)
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn conv_by_hand_stride2_same() {
    // x: 4×4 image 0..16 (row-major), one channel; w: 2×2 [[1, 0], [0, -1]] (x[i][j] − x[i+1][j+1]).
    // Same, stride 2: out 2×2, total padding (2−1)·2 + 2 − 4 = 0 → the windows at (0,0), (0,2),
    // (2,0), (2,2): x[i][j] − x[i+1][j+1] = −5 everywhere.
    let x = Tensor::<(N, H4, W4, C1), f64>::from_vec((0..16).map(f64::from).collect(), &[1]).unwrap();
    let w = Tensor::<(K2, K2, C1, F1), f64>::from_vec(vec![1.0, 0.0, 0.0, -1.0], &[]).unwrap();
    let conv = Conv2d {
        stride: (2, 2),
        padding: Padding::Same,
        ..Conv2d::default()
    };
    let y = x.conv2d::<Ho2, Wo2, F1>(&w, &conv);
    assert_eq!(y.to_vec(), vec![-5.0; 4]);
    // Valid, stride 1, dilation 1: 3×3 outputs, all −5 as well.
    let y = x.conv2d::<Ho3, Ho3, F1>(&w, &Conv2d::default());
    assert_eq!(y.to_vec(), vec![-5.0; 9]);
    // Gradient of sum(y) w.r.t. w: each tap sums the 9 inputs it sees.
    // tap (0,0) sees x[0..3][0..3] = 0+1+2+4+5+6+8+9+10 = 45; tap (0,1) sees x[0..3][1..4] = 54;
    // tap (1,0) sees x[1..4][0..3] = 4+5+6+8+9+10+12+13+14 = 81; tap (1,1) sees x[1..4][1..4] = 90.
    let tape = GradientTape::new();
    let wt = tape.watch(&w);
    let s = x.conv2d::<Ho3, Ho3, F1>(&wt, &Conv2d::default()).sum_to_scalar();
    let gw = tape.gradient(&s).unwrap().wrt(&wt).unwrap();
    assert_eq!(gw.to_vec(), vec![45.0, 54.0, 81.0, 90.0]);
}

#[test]
fn pooling_by_hand() {
    // 4×4 image 0..16: 2×2 max pool = the bottom-right of each block: [5, 7, 13, 15];
    // average = [(0+1+4+5)/4, (2+3+6+7)/4, ...] = [2.5, 4.5, 10.5, 12.5]; global mean = 7.5.
    let x = Tensor::<(N, H4, W4, C1), f64>::from_vec((0..16).map(f64::from).collect(), &[1]).unwrap();
    let p = Pool2d::default();
    assert_eq!(x.max_pool2d::<Ho2, Wo2>(&p).to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
    assert_eq!(x.avg_pool2d::<Ho2, Wo2>(&p).to_vec(), vec![2.5, 4.5, 10.5, 12.5]);
    assert_eq!(x.global_avg_pool2d().to_vec(), vec![7.5]);
    // The max pool gradient lands on the four maxima only.
    let tape = GradientTape::new();
    let xt = tape.watch(&x);
    let s = xt.max_pool2d::<Ho2, Wo2>(&p).sum_to_scalar();
    let g = tape.gradient(&s).unwrap().wrt(&xt).unwrap().to_vec();
    let ones: Vec<usize> = g
        .iter()
        .enumerate()
        .filter(|(_, &v)| v == 1.0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ones, vec![5, 7, 13, 15]);
    assert_eq!(g.iter().sum::<f64>(), 4.0);
}

#[test]
fn static_output_size_mismatch_is_reported() {
    let x = Tensor::<(N, H4, W4, C1), f64>::full(1.0, &[1]);
    let w = Tensor::<(K2, K2, C1, F1), f64>::full(1.0, &[]);
    // valid 2×2 over 4×4 gives 3, not 2
    let err = x.try_conv2d::<Ho2, Wo2, F1>(&w, &Conv2d::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`Ho2`") && msg.contains("static size 2") && msg.contains("gives 3"),
        "{msg}"
    );
    let caught = std::panic::catch_unwind(|| x.conv2d::<Ho2, Ho3, F1>(&w, &Conv2d::default()));
    assert!(caught.is_err());
    // a kernel wider than the input
    let big = filt(&[5, 1, 1, 1], vec![1.0; 5]);
    let xr = img(&[1, 4, 4, 1], vec![1.0; 16]);
    let msg = xr
        .try_conv2d::<Ho, Wo, F>(&big, &Conv2d::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`H`") && msg.contains("spans 5"), "{msg}");
    // channels not matching the filters
    let wrong = filt(&[1, 1, 2, 1], vec![1.0; 2]);
    let msg = xr
        .try_conv2d::<Ho, Wo, F>(&wrong, &Conv2d::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`C`"), "{msg}");
    let msg = xr
        .try_max_pool2d::<Ho2, Ho3>(&Pool2d::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`Ho3`") && msg.contains("gives 2"), "{msg}");
}

fn json() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../reference/conv_reference.json"
    ))
    .expect("reference/conv_reference.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn nums(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn sizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn pair(v: &serde_json::Value) -> (usize, usize) {
    let s = sizes(v);
    (s[0], s[1])
}

fn padding(case: &serde_json::Value) -> Padding {
    match case["padding"].as_str().unwrap() {
        "valid" => Padding::Valid,
        "same" => Padding::Same,
        _ => {
            let e = sizes(&case["explicit"]);
            Padding::Explicit {
                top: e[0],
                bottom: e[1],
                left: e[2],
                right: e[3],
            }
        }
    }
}

#[test]
fn against_tensorflow() {
    let j = json();
    let cases = j["cases"].as_array().unwrap();
    assert!(cases.len() >= 18);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = img(&sizes(&case["x_shape"]), nums(&case["x"]));
        let y_shape = sizes(&case["y_shape"]);
        let tape = GradientTape::new();
        let xt = tape.watch(&x);
        let kind = case["kind"].as_str().unwrap();
        let (y, w): (Vec<f64>, Option<Filt>) = match kind {
            "conv2d" => {
                let w = tape.watch(&filt(&sizes(&case["w_shape"]), nums(&case["w"])));
                let conv = Conv2d {
                    stride: pair(&case["stride"]),
                    padding: padding(case),
                    dilation: pair(&case["dilation"]),
                    groups: case["groups"].as_u64().unwrap() as usize,
                };
                let y: Out = xt.conv2d::<Ho, Wo, F>(&w, &conv);
                assert_eq!(y.dims(), &y_shape[..], "{name}");
                let r: Out = Tensor::from_vec(nums(&case["r"]), &y_shape).unwrap();
                let loss = y.mul(&r).sum_to_scalar();
                let grads = tape.gradient(&loss).unwrap();
                close(
                    &grads.wrt(&w).unwrap().to_vec(),
                    &nums(&case["dw"]),
                    1e-9,
                    &format!("{name} dw"),
                );
                close(
                    &grads.wrt(&xt).unwrap().to_vec(),
                    &nums(&case["dx"]),
                    1e-9,
                    &format!("{name} dx"),
                );
                (y.to_vec(), Some(w))
            }
            "max_pool2d" | "avg_pool2d" => {
                let p = Pool2d {
                    pool: pair(&case["pool"]),
                    stride: Some(pair(&case["stride"])),
                    padding: padding(case),
                };
                let y: Tensor<(N, Ho, Wo, C), f64> = if kind == "max_pool2d" {
                    xt.max_pool2d::<Ho, Wo>(&p)
                } else {
                    xt.avg_pool2d::<Ho, Wo>(&p)
                };
                assert_eq!(y.dims(), &y_shape[..], "{name}");
                let r: Tensor<(N, Ho, Wo, C), f64> = Tensor::from_vec(nums(&case["r"]), &y_shape).unwrap();
                let loss = y.mul(&r).sum_to_scalar();
                let grads = tape.gradient(&loss).unwrap();
                close(
                    &grads.wrt(&xt).unwrap().to_vec(),
                    &nums(&case["dx"]),
                    1e-9,
                    &format!("{name} dx"),
                );
                (y.to_vec(), None)
            }
            "global_avg_pool2d" => {
                let y = xt.global_avg_pool2d();
                assert_eq!(y.dims(), &y_shape[..], "{name}");
                let r = Tensor::<(N, C), f64>::from_vec(nums(&case["r"]), &y_shape).unwrap();
                let loss = y.mul(&r).sum_to_scalar();
                let grads = tape.gradient(&loss).unwrap();
                close(
                    &grads.wrt(&xt).unwrap().to_vec(),
                    &nums(&case["dx"]),
                    1e-9,
                    &format!("{name} dx"),
                );
                (y.to_vec(), None)
            }
            other => panic!("unknown case kind {other}"),
        };
        close(&y, &nums(&case["y"]), 1e-10, &format!("{name} y"));
        drop(w);
    }
}

/// Finite-difference check of `sum(conv(x, w) * r)` with respect to `x` and `w`.
fn fd_conv(x_shape: [usize; 4], k: [usize; 2], f: usize, conv: Conv2d, seed: u64) {
    let ci = x_shape[3] / conv.groups;
    let x = img(&x_shape, values(x_shape.iter().product(), seed));
    let w = filt(&[k[0], k[1], ci, f], values(k[0] * k[1] * ci * f, seed + 1));
    let y: Out = x.conv2d::<Ho, Wo, F>(&w, &conv);
    let r: Out = Tensor::from_vec(values(y.numel(), seed + 2), y.dims()).unwrap();
    let report = check_gradients(
        |(x, w): &(Img, Filt)| x.conv2d::<Ho, Wo, F>(w, &conv).mul(&r).sum_to_scalar(),
        &(x, w),
        1e-6,
        1e-7,
    );
    assert!(report.is_ok(), "{x_shape:?} {k:?} {conv:?}: {report:?}");
}

#[test]
fn conv_gradients_match_finite_differences() {
    let explicit = Padding::Explicit {
        top: 2,
        bottom: 0,
        left: 1,
        right: 3,
    };
    let mut seed = 10;
    for padding in [Padding::Valid, Padding::Same, explicit] {
        for stride in [(1, 1), (2, 2), (3, 3), (1, 2), (3, 1)] {
            fd_conv(
                [2, 7, 5, 3],
                [3, 2],
                2,
                Conv2d {
                    stride,
                    padding,
                    ..Conv2d::default()
                },
                seed,
            );
            seed += 3;
        }
        // one input channel: the direct-loop path (window of 9 ≤ DIRECT_MAX_PATCH inputs)
        fd_conv(
            [2, 7, 6, 1],
            [3, 3],
            4,
            Conv2d {
                stride: (2, 1),
                padding,
                ..Conv2d::default()
            },
            seed + 5,
        );
        // depthwise with multiplier 1 (the channel-wise direct loop)
        fd_conv(
            [2, 6, 5, 3],
            [2, 3],
            3,
            Conv2d {
                padding,
                groups: 3,
                stride: (1, 2),
                dilation: (2, 1),
            },
            seed + 6,
        );
        // dilation 2
        fd_conv(
            [1, 9, 7, 2],
            [3, 3],
            3,
            Conv2d {
                padding,
                dilation: (2, 2),
                stride: (1, 2),
                ..Conv2d::default()
            },
            seed,
        );
        // groups 2 and depthwise (groups = channels, multiplier 2)
        fd_conv(
            [2, 5, 6, 4],
            [3, 3],
            6,
            Conv2d {
                padding,
                groups: 2,
                stride: (2, 1),
                ..Conv2d::default()
            },
            seed + 1,
        );
        fd_conv(
            [1, 5, 5, 3],
            [3, 3],
            6,
            Conv2d {
                padding,
                groups: 3,
                ..Conv2d::default()
            },
            seed + 2,
        );
        seed += 7;
    }
    // pointwise (1×1, the GEMM-only path)
    fd_conv([2, 3, 5, 4], [1, 1], 3, Conv2d::default(), 99);
}

#[test]
fn pooling_gradients_match_finite_differences() {
    let mut seed = 200;
    for padding in [Padding::Valid, Padding::Same] {
        for (pool, stride) in [
            ((2, 2), None),
            ((3, 3), Some((2, 2))),
            ((2, 3), Some((1, 3))),
            ((3, 2), Some((3, 1))),
        ] {
            let p = Pool2d {
                pool,
                stride,
                padding,
            };
            let x = img(&[2, 7, 5, 3], values(2 * 7 * 5 * 3, seed));
            let shape = x.max_pool2d::<Ho, Wo>(&p).dims().to_vec();
            let r: Tensor<(N, Ho, Wo, C), f64> =
                Tensor::from_vec(values(shape.iter().product(), seed + 1), &shape).unwrap();
            let max = check_gradients(
                |x: &Img| x.max_pool2d::<Ho, Wo>(&p).mul(&r).sum_to_scalar(),
                &x,
                1e-6,
                1e-7,
            );
            assert!(max.is_ok(), "max {p:?}: {max:?}");
            let avg = check_gradients(
                |x: &Img| x.avg_pool2d::<Ho, Wo>(&p).mul(&r).sum_to_scalar(),
                &x,
                1e-6,
                1e-7,
            );
            assert!(avg.is_ok(), "avg {p:?}: {avg:?}");
            seed += 2;
        }
    }
    let x = img(&[2, 3, 5, 2], values(60, 7));
    let r: Tensor<(N, C), f64> = Tensor::from_vec(values(4, 8), &[2, 2]).unwrap();
    let g = check_gradients(
        |x: &Img| x.global_avg_pool2d().mul(&r).sum_to_scalar(),
        &x,
        1e-6,
        1e-7,
    );
    assert!(g.is_ok(), "{g:?}");
}

#[test]
fn direct_and_gemm_paths_agree() {
    use tensor_core::kernels::conv::{conv2d_forward, Conv2dGeometry, DIRECT_MAX_PATCH};
    use tensor_core::kernels::Epilogue;
    // A 3×3 conv on 1 channel runs direct; the same numbers written as 2 input channels whose
    // second channel (and its filter taps) is zero run as im2col + GEMM: same outputs.
    let conv = Conv2d {
        padding: Padding::Same,
        stride: (2, 2),
        ..Conv2d::default()
    };
    let (xv, wv) = (values(2 * 7 * 6, 1), values(9 * 5, 2));
    let g1 = Conv2dGeometry::try_new("t", 2, [7, 6, 1], [3, 3], 5, &conv).unwrap();
    let g2 = Conv2dGeometry::try_new("t", 2, [7, 6, 2], [3, 3], 5, &conv).unwrap();
    assert!(g1.is_direct() && !g2.is_direct() && g1.patch_len() <= DIRECT_MAX_PATCH);
    let x2: Vec<f64> = xv.iter().flat_map(|&v| [v, 0.0]).collect();
    let w2: Vec<f64> = wv
        .chunks(5)
        .flat_map(|r| r.iter().copied().chain([0.0; 5]))
        .collect();
    let bias = [0.1, -0.2, 0.3, 0.0, 0.5];
    let ep = Epilogue {
        bias: Some(&bias[..]),
        activation: Some(tensor_core::kernels::UnaryOp::Tanh),
    };
    let (mut o1, mut o2, mut col) = (vec![0.0; g1.output_len()], vec![0.0; g2.output_len()], Vec::new());
    conv2d_forward(&g1, &xv, &wv, ep, &mut o1, &mut col);
    conv2d_forward(&g2, &x2, &w2, ep, &mut o2, &mut col);
    close(&o1, &o2, 1e-12, "direct vs gemm");
}

#[test]
fn f32_matches_f64() {
    // the f32 GEMM path (SIMD micro-kernels) against the f64 one on a 3×3, 8→16 conv
    let conv = Conv2d {
        padding: Padding::Same,
        stride: (2, 1),
        ..Conv2d::default()
    };
    let xv = values(3 * 9 * 10 * 8, 5);
    let wv = values(3 * 3 * 8 * 16, 6);
    let x64 = img(&[3, 9, 10, 8], xv.clone());
    let w64 = filt(&[3, 3, 8, 16], wv.clone());
    let x32 =
        Tensor::<(N, H, W, C)>::from_vec(xv.iter().map(|&v| v as f32).collect(), &[3, 9, 10, 8]).unwrap();
    let w32 =
        Tensor::<(Kh, Kw, Ci, F)>::from_vec(wv.iter().map(|&v| v as f32).collect(), &[3, 3, 8, 16]).unwrap();
    let y64 = x64.conv2d::<Ho, Wo, F>(&w64, &conv).to_vec();
    let y32: Vec<f64> = x32
        .conv2d::<Ho, Wo, F>(&w32, &conv)
        .to_vec()
        .into_iter()
        .map(f64::from)
        .collect();
    close(&y32, &y64, 1e-5, "f32 conv");
}

#[test]
fn input_gradient_alone_with_constant_filters() {
    // Only the image is watched, so the backward rule asks for ∂x and not ∂W (no im2col):
    // 3 channels × 3×3 = 27 inputs per window and 2 filters take the im2col + GEMM path.
    // ∂ sum(conv(x, w)) / ∂x[cell] = Σ of the filter taps that see the cell, checked against the
    // gradient of the same sum taken with both operands watched.
    let x = img(&[1, 5, 4, 3], values(60, 11));
    let w = filt(&[3, 3, 3, 2], values(54, 12));
    let tape = GradientTape::new();
    let xt = tape.watch(&x);
    let s = xt.conv2d::<Ho, Wo, F>(&w, &Conv2d::default()).sum_to_scalar();
    let gx = tape.gradient(&s).unwrap().wrt(&xt).unwrap();
    let tape = GradientTape::new();
    let (xt, wt) = (tape.watch(&x), tape.watch(&w));
    let s = xt.conv2d::<Ho, Wo, F>(&wt, &Conv2d::default()).sum_to_scalar();
    let want = tape.gradient(&s).unwrap().wrt(&xt).unwrap();
    close(&gx.to_vec(), &want.to_vec(), 1e-12, "dx");
}
