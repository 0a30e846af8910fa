//! A convolution (with ReLU or no activation) directly followed by a max pooling, run one image
//! at a time so that the convolution's output never leaves the cache: only the pooled values and
//! the argmax are kept. The backward pass scatters the pooled gradient into one image's
//! `∂(conv output)` (zero where ReLU was off: the pooled value, the ReLU of the cell the argmax
//! names, is not positive), sums the bias gradient on the way, and runs the convolution's
//! backward pass on that image. The results equal [`conv2d_forward`] + ReLU +
//! [`max_pool2d_forward`] and the matching backward passes over the whole batch (tested below),
//! with much less memory traffic: for the MNIST CNN's first block the 11 MB convolution output
//! is written, read back and swept four more times in the backward pass otherwise.

use std::ops::Range;

use num_traits::Float;
use rayon::prelude::*;

use super::pool::max_pool_image_portable;
use super::pool_simd;
use super::{
    conv2d_backward, conv2d_forward, conv2d_needs_col, im2col, Conv2dGeometry, Conv2dGrads, Pool2dGeometry,
};
use crate::kernels::gemm::Epilogue;
use crate::kernels::tasks::tasks;
use crate::kernels::{dispatch, threads, UnaryOp};

/// The two geometries of one fused block, checked to chain.
fn check(cg: &Conv2dGeometry, pg: &Pool2dGeometry) {
    assert!(
        cg.batch == pg.batch && [cg.out_h, cg.out_w, cg.out_c] == [pg.in_h, pg.in_w, pg.channels],
        "conv2d + max pool: the pooling's input {:?} is not the convolution's output {:?}",
        [pg.batch, pg.in_h, pg.in_w, pg.channels],
        [cg.batch, cg.out_h, cg.out_w, cg.out_c]
    );
}

/// Most bytes of convolution output one block of images forms: it stays in a core's L2 cache
/// (1 MiB on the machines measured) between the convolution and the pooling, while per-call
/// work of the convolution kernels (packing the filters) is shared by several images.
const BLOCK_BYTES: usize = 256 * 1024;

/// Images per block when each forms `conv_len` convolution outputs (at least one).
fn images_per_block<F>(conv_len: usize) -> usize {
    (BLOCK_BYTES / (conv_len * std::mem::size_of::<F>()).max(1)).max(1)
}

/// Forward pass: `out` (`pg.output_len()` values) receives `max_pool(act(conv(x) + bias))` and
/// `argmax` (as long) the positions [`max_pool2d_forward`](super::max_pool2d_forward)
/// would record; `relu` chooses ReLU or no activation. `scratch` holds per-task buffers
/// (a block's convolution output, im2col), kept by the caller from call to call so that no
/// large buffer is allocated (and page-faulted in) per step.
///
/// # Panics
/// If the geometries do not chain or a slice is shorter than they say.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_max_pool_forward<F: Float + Send + Sync + 'static>(
    cg: &Conv2dGeometry,
    pg: &Pool2dGeometry,
    x: &[F],
    filters: &[F],
    bias: Option<&[F]>,
    relu: bool,
    out: &mut [F],
    argmax: &mut [u32],
    scratch: &mut Vec<Vec<F>>,
) {
    check(cg, pg);
    let (img_in, img_out) = (cg.in_h * cg.in_w * cg.in_c, pg.out_h * pg.out_w * pg.channels);
    assert!(
        x.len() >= cg.input_len() && out.len() >= pg.output_len() && argmax.len() >= pg.output_len(),
        "conv2d + max pool: buffers too short"
    );
    let (cg1, pg1) = (
        Conv2dGeometry { batch: 1, ..*cg },
        Pool2dGeometry { batch: 1, ..*pg },
    );
    let epilogue = Epilogue {
        bias,
        activation: relu.then_some(UnaryOp::Relu),
    };
    let isa = dispatch::active_isa();
    let (conv_len, chunk) = (cg1.output_len(), images_per_block::<F>(cg1.output_len()));
    let run = |r: Range<usize>, out: &mut [F], argmax: &mut [u32], bufs: &mut [Vec<F>]| {
        let [y, col, ..] = bufs else {
            unreachable!("three buffers per task")
        };
        let mut b0 = r.start;
        while b0 < r.end {
            let n = chunk.min(r.end - b0);
            let cgn = Conv2dGeometry { batch: n, ..*cg };
            y.resize(n * conv_len, F::zero());
            conv2d_forward(&cgn, &x[b0 * img_in..][..n * img_in], filters, epilogue, y, col);
            for (j, yj) in y.chunks_exact(conv_len).enumerate() {
                let k = b0 - r.start + j;
                let (o, a) = (
                    &mut out[k * img_out..][..img_out],
                    &mut argmax[k * img_out..][..img_out],
                );
                a.fill(u32::MAX);
                if !pool_simd::max_pool_image(isa, &pg1, yj, o, Some(&mut *a)) {
                    max_pool_image_portable(&pg1, yj, o, Some(a));
                }
            }
            b0 += n;
        }
    };
    let ranges = tasks(cg.batch);
    scratch.resize_with(3 * ranges.len().max(1), Vec::new);
    if ranges.len() <= 1 {
        return run(0..cg.batch, out, argmax, scratch);
    }
    let per = ranges[0].len() * img_out;
    let parts: Vec<_> = ranges
        .into_iter()
        .zip(out[..pg.output_len()].chunks_mut(per).zip(argmax.chunks_mut(per)))
        .zip(scratch.chunks_mut(3))
        .collect();
    threads::install(|| parts.into_par_iter().for_each(|((r, (o, a)), b)| run(r, o, a, b)));
}

/// Backward pass of [`conv2d_max_pool_forward`] (same inputs; `pooled` and `argmax` its
/// outputs) given `dpooled = ∂L/∂out`: **adds** `∂L/∂x`, `∂L/∂filters` and `∂L/∂bias` as
/// [`conv2d_backward`] does; `scratch` as in the forward pass. Each task sums its images' filter and bias gradients in its own
/// buffers, added in task order.
///
/// # Panics
/// If the geometries do not chain or a slice is shorter than they say.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_max_pool_backward<F: Float + Send + Sync + 'static>(
    cg: &Conv2dGeometry,
    pg: &Pool2dGeometry,
    x: &[F],
    filters: &[F],
    pooled: &[F],
    argmax: &[u32],
    dpooled: &[F],
    relu: bool,
    grads: Conv2dGrads<'_, F>,
    scratch: &mut Vec<Vec<F>>,
) {
    check(cg, pg);
    let (img_in, img_out) = (cg.in_h * cg.in_w * cg.in_c, pg.out_h * pg.out_w * pg.channels);
    let n_out = pg.output_len();
    assert!(
        x.len() >= cg.input_len() && pooled.len() >= n_out && argmax.len() >= n_out && dpooled.len() >= n_out,
        "conv2d + max pool backward: buffers too short"
    );
    let cg1 = Conv2dGeometry { batch: 1, ..*cg };
    let (conv_len, c) = (cg1.output_len(), cg.out_c);
    let (want_w, want_b) = (grads.filters.is_some(), grads.bias.is_some());
    // Adds image range `r`'s gradients: filters and bias into `dw` / `db`, inputs into `dx`
    // (the range's images).
    let chunk = images_per_block::<F>(conv_len);
    let run = |r: Range<usize>, dw: &mut [F], db: &mut [F], mut dx: Option<&mut [F]>, bufs: &mut [Vec<F>]| {
        let [dz, col, dcol] = bufs else {
            unreachable!("three buffers per task")
        };
        let mut b0 = r.start;
        while b0 < r.end {
            let n = chunk.min(r.end - b0);
            let cgn = Conv2dGeometry { batch: n, ..*cg };
            dz.clear();
            dz.resize(n * conv_len, F::zero());
            for (j, dzj) in dz.chunks_exact_mut(conv_len).enumerate() {
                let at = (b0 + j) * img_out;
                let (a, d, p) = (
                    &argmax[at..at + img_out],
                    &dpooled[at..at + img_out],
                    &pooled[at..at + img_out],
                );
                // Pixel by pixel: the pooled channel is the convolution's (no division).
                for ((a, d), p) in a.chunks_exact(c).zip(d.chunks_exact(c)).zip(p.chunks_exact(c)) {
                    for (ch, ((&i, &d), &p)) in a.iter().zip(d).zip(p).enumerate() {
                        // ReLU let the gradient through where the pooled value is positive.
                        let open = p > F::zero();
                        if i == u32::MAX || (relu && !open) {
                            continue;
                        }
                        let i = i as usize;
                        dzj[i] = dzj[i] + d;
                        if want_b {
                            db[ch] = db[ch] + d;
                        }
                    }
                }
            }
            let imgs = &x[b0 * img_in..][..n * img_in];
            if want_w && conv2d_needs_col::<F>(&cgn) {
                im2col(&cgn, imgs, col);
            }
            let k = b0 - r.start;
            conv2d_backward(
                &cgn,
                imgs,
                filters,
                col,
                dz,
                Conv2dGrads {
                    input: dx.as_deref_mut().map(|d| &mut d[k * img_in..][..n * img_in]),
                    filters: want_w.then_some(&mut *dw),
                    bias: None,
                },
                dcol,
            );
            b0 += n;
        }
    };
    let (wl, bl) = (
        if want_w { cg.filter_len() } else { 0 },
        if want_b { c } else { 0 },
    );
    let ranges = tasks(cg.batch);
    let Conv2dGrads {
        input,
        filters: mut gw,
        bias: mut gb,
    } = grads;
    let mut parts: Vec<(Vec<F>, Vec<F>)> = Vec::new();
    scratch.resize_with(3 * ranges.len().max(1), Vec::new);
    if ranges.len() <= 1 {
        let (mut dw, mut db) = (vec![F::zero(); wl], vec![F::zero(); bl]);
        let dx = input.map(|d| &mut d[..cg.input_len()]);
        run(0..cg.batch, &mut dw, &mut db, dx, scratch);
        parts.push((dw, db));
    } else {
        let per = ranges[0].len() * img_in;
        let dxs: Vec<Option<&mut [F]>> = match input {
            Some(d) => d[..cg.input_len()].chunks_mut(per).map(Some).collect(),
            None => ranges.iter().map(|_| None).collect(),
        };
        let jobs: Vec<_> = ranges.into_iter().zip(dxs).zip(scratch.chunks_mut(3)).collect();
        parts = threads::install(|| {
            jobs.into_par_iter()
                .map(|((r, dx), bufs)| {
                    let (mut dw, mut db) = (vec![F::zero(); wl], vec![F::zero(); bl]);
                    run(r, &mut dw, &mut db, dx, bufs);
                    (dw, db)
                })
                .collect()
        });
    }
    for (dw, db) in parts {
        if let Some(g) = gw.as_deref_mut() {
            g.iter_mut().zip(&dw).for_each(|(s, &v)| *s = *s + v);
        }
        if let Some(g) = gb.as_deref_mut() {
            g.iter_mut().zip(&db).for_each(|(s, &v)| *s = *s + v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::direct::tests::fill;
    use super::super::{max_pool2d_backward, max_pool2d_forward, Conv2d, Padding, Pool2d};
    use super::*;

    /// The fused block against the separate passes, for one geometry and threads count.
    fn check_block(
        input: [usize; 3],
        filters: usize,
        k: usize,
        conv: Conv2d,
        pool: Pool2d,
        relu: bool,
        seed: u64,
    ) {
        let cg = Conv2dGeometry::try_new("t", 3, input, [k, k], filters, &conv).unwrap();
        let pg = Pool2dGeometry::try_new("t", 3, [cg.out_h, cg.out_w, filters], &pool).unwrap();
        let (x, w, b) = (
            fill(cg.input_len(), seed),
            fill(cg.filter_len(), seed ^ 1),
            fill(filters, seed ^ 2),
        );
        let dp = fill(pg.output_len(), seed ^ 3);
        let act = relu.then_some(UnaryOp::Relu);
        // Separate passes.
        let (mut y, mut col) = (vec![0.0; cg.output_len()], Vec::new());
        conv2d_forward(
            &cg,
            &x,
            &w,
            Epilogue {
                bias: Some(&b),
                activation: act,
            },
            &mut y,
            &mut col,
        );
        let (mut want, mut want_arg) = (vec![0.0; pg.output_len()], Vec::new());
        max_pool2d_forward(&pg, &y, &mut want, Some(&mut want_arg));
        let mut dy = vec![0.0; cg.output_len()];
        max_pool2d_backward(&pg, &want_arg, &dp, &mut dy);
        if relu {
            dy.iter_mut()
                .zip(&y)
                .for_each(|(d, &v)| *d = if v > 0.0 { *d } else { 0.0 });
        }
        let (mut dx, mut dw, mut db) = (
            vec![0.5; cg.input_len()],
            vec![0.25; cg.filter_len()],
            vec![-1.0; filters],
        );
        if conv2d_needs_col::<f64>(&cg) {
            im2col(&cg, &x, &mut col);
        }
        let grads = Conv2dGrads {
            input: Some(&mut dx),
            filters: Some(&mut dw),
            bias: Some(&mut db),
        };
        conv2d_backward(&cg, &x, &w, &col, &dy, grads, &mut Vec::new());
        // Fused, on 1 and 2 threads, the buffers reused from call to call (dirty).
        let mut scratch = vec![vec![f64::NAN; 7]; 2];
        for n in [1, 2, 1] {
            threads::set_num_threads(n);
            let (mut got, mut arg) = (vec![f64::NAN; pg.output_len()], vec![0u32; pg.output_len()]);
            conv2d_max_pool_forward(&cg, &pg, &x, &w, Some(&b), relu, &mut got, &mut arg, &mut scratch);
            assert_eq!(got, want, "{cg:?}: pooled values");
            assert_eq!(arg, want_arg, "{cg:?}: argmax");
            let (mut gx, mut gw, mut gb) = (
                vec![0.5; cg.input_len()],
                vec![0.25; cg.filter_len()],
                vec![-1.0; filters],
            );
            let grads = Conv2dGrads {
                input: Some(&mut gx),
                filters: Some(&mut gw),
                bias: Some(&mut gb),
            };
            conv2d_max_pool_backward(&cg, &pg, &x, &w, &got, &arg, &dp, relu, grads, &mut scratch);
            for (what, g, w) in [("dx", &gx, &dx), ("dW", &gw, &dw), ("db", &gb, &db)] {
                for (i, (a, b)) in g.iter().zip(w.iter()).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                        "{cg:?} {n} threads: {what}[{i}] {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn fused_block_equals_the_separate_passes() {
        let pool2 = Pool2d::default();
        let conv = Conv2d::default();
        // The MNIST CNN's first block (direct path), a 16-channel block (implicit path where
        // the CPU has AVX2), a 3-channel one (im2col + GEMM), and same padding with an
        // overlapping pool of stride 1 (the gradient of a cell from two windows).
        check_block([12, 10, 1], 32, 3, conv, pool2, true, 1);
        check_block([9, 11, 16], 16, 3, conv, pool2, true, 2);
        check_block([8, 7, 3], 5, 3, conv, pool2, false, 3);
        let same = Conv2d {
            padding: Padding::Same,
            stride: (2, 1),
            ..conv
        };
        let overlap = Pool2d {
            pool: (3, 2),
            stride: Some((1, 1)),
            padding: Padding::Same,
        };
        check_block([7, 9, 2], 8, 3, same, overlap, true, 4);
        // 38×38×16 f64 outputs (185 KB) make one image per block: the three images run as
        // three blocks (two in one task on 2 threads).
        assert_eq!(images_per_block::<f64>(38 * 38 * 16), 1);
        check_block([40, 40, 4], 16, 3, conv, pool2, true, 5);
    }
}
