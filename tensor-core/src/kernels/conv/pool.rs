//! Max, average and global-average pooling over NHWC slices, forward and backward.

use num_traits::Float;
use rayon::prelude::*;

use super::{pool_simd, Pool2dGeometry};
use crate::kernels::tasks::{par_batch, per_image};
use crate::kernels::{dispatch, threads};

/// Max pooling: `out[b, oy, ox, c]` is the largest input under the window (padding cells are
/// ignored). When `argmax` is given it is resized to the output's length and receives, per
/// output, the index within its image (`(iy · w + ix) · c + ch`) of the first largest input in
/// scan order: the cell [`max_pool2d_backward`] routes the gradient to (as TensorFlow).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn max_pool2d_forward<F: Float + Send + Sync + 'static>(
    g: &Pool2dGeometry,
    x: &[F],
    out: &mut [F],
    argmax: Option<&mut Vec<u32>>,
) {
    assert!(
        x.len() >= g.input_len() && out.len() >= g.output_len(),
        "max_pool2d: buffers too short"
    );
    let (img_in, img_out) = (g.in_h * g.in_w * g.channels, g.out_h * g.out_w * g.channels);
    let pool_one = |img: &[F], o: &mut [F], mut arg: Option<&mut [u32]>| {
        if !pool_simd::max_pool_image(dispatch::active_isa(), g, img, o, arg.as_deref_mut()) {
            max_pool_image_portable(g, img, o, arg);
        }
    };
    match argmax {
        Some(arg) => {
            arg.clear();
            arg.resize(g.output_len(), u32::MAX);
            // pair each image's output with its argmax rows
            let mut joint: Vec<(usize, &mut [F], &mut [u32])> = out[..g.output_len()]
                .chunks_mut(img_out)
                .zip(arg.chunks_mut(img_out))
                .enumerate()
                .map(|(i, (o, a))| (i, o, a))
                .collect();
            let run = |(i, o, a): &mut (usize, &mut [F], &mut [u32])| {
                pool_one(&x[*i * img_in..][..img_in], o, Some(a))
            };
            if par_batch(g.batch) {
                threads::install(|| joint.par_iter_mut().for_each(run));
            } else {
                joint.iter_mut().for_each(run);
            }
        }
        None => per_image(g.batch, x, img_in, out, img_out, |img, o, _| {
            pool_one(img, o, None)
        }),
    }
}

/// Max pooling of one image by portable loops (`o`, and `arg` when given, overwritten): the
/// path without SIMD and the oracle of `pool_simd`'s tests. Without `arg` a NaN loses to any
/// number (`Float::max`); with it the first cell is taken as it is and later ones when larger.
pub(super) fn max_pool_image_portable<F: Float>(
    g: &Pool2dGeometry,
    img: &[F],
    o: &mut [F],
    mut arg: Option<&mut [u32]>,
) {
    let c = g.channels;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let at = (oy * g.out_w + ox) * c;
            let orow = &mut o[at..at + c];
            orow.iter_mut().for_each(|v| *v = F::neg_infinity());
            let mut arow = arg.as_deref_mut().map(|a| &mut a[at..at + c]);
            let (ys, xs) = g.span(oy, ox);
            let mut first = true;
            for iy in ys {
                for ix in xs.clone() {
                    let base = (iy * g.in_w + ix) * c;
                    let src = &img[base..base + c];
                    match arow.as_deref_mut() {
                        // The first cell is taken as it is (even NaN), later ones when
                        // larger; selects rather than branches, so the loops vectorise.
                        Some(ar) if first => {
                            orow.copy_from_slice(src);
                            for (ch, a) in ar.iter_mut().enumerate() {
                                *a = (base + ch) as u32;
                            }
                        }
                        Some(ar) => {
                            for (ch, ((m, a), &v)) in orow.iter_mut().zip(ar.iter_mut()).zip(src).enumerate()
                            {
                                let take = v > *m;
                                *m = if take { v } else { *m };
                                *a = if take { (base + ch) as u32 } else { *a };
                            }
                        }
                        None => orow.iter_mut().zip(src).for_each(|(m, &v)| *m = m.max(v)),
                    }
                    first = false;
                }
            }
        }
    }
}

/// Backward pass of max pooling: **adds** each `dy` value to `dx` at the input its `argmax`
/// entry names (from [`max_pool2d_forward`]).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn max_pool2d_backward<F: Float + Send + Sync>(
    g: &Pool2dGeometry,
    argmax: &[u32],
    dy: &[F],
    dx: &mut [F],
) {
    let (img_in, img_out) = (g.in_h * g.in_w * g.channels, g.out_h * g.out_w * g.channels);
    assert!(
        argmax.len() >= g.output_len() && dy.len() >= g.output_len() && dx.len() >= g.input_len(),
        "max_pool2d backward: buffers too short"
    );
    let one = |(d, (a, gy)): (&mut [F], (&[u32], &[F]))| {
        for (&i, &v) in a.iter().zip(gy) {
            if let Some(cell) = d.get_mut(i as usize) {
                *cell = *cell + v;
            }
        }
    };
    let pairs = dx[..g.input_len()]
        .chunks_mut(img_in)
        .zip(argmax.chunks(img_out).zip(dy.chunks(img_out)));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}

/// Average pooling: `out[b, oy, ox, c]` is the mean of the inputs under the window that lie
/// inside the image (Keras/TensorFlow: padding cells are not counted).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn avg_pool2d_forward<F: Float + Send + Sync>(g: &Pool2dGeometry, x: &[F], out: &mut [F]) {
    assert!(
        x.len() >= g.input_len() && out.len() >= g.output_len(),
        "avg_pool2d: buffers too short"
    );
    let (img_in, img_out, c) = (
        g.in_h * g.in_w * g.channels,
        g.out_h * g.out_w * g.channels,
        g.channels,
    );
    per_image(g.batch, x, img_in, out, img_out, |img, o, _| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let orow = &mut o[(oy * g.out_w + ox) * c..][..c];
                orow.iter_mut().for_each(|v| *v = F::zero());
                let (ys, xs) = g.span(oy, ox);
                let count = ys.len() * xs.len();
                for iy in ys {
                    for ix in xs.clone() {
                        let src = &img[(iy * g.in_w + ix) * c..][..c];
                        orow.iter_mut().zip(src).for_each(|(s, &v)| *s = *s + v);
                    }
                }
                let inv = F::one() / F::from(count.max(1)).unwrap_or_else(F::one);
                orow.iter_mut().for_each(|v| *v = *v * inv);
            }
        }
    });
}

/// Backward pass of average pooling: **adds** `dy / count` to every input cell of each window.
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn avg_pool2d_backward<F: Float + Send + Sync>(g: &Pool2dGeometry, dy: &[F], dx: &mut [F]) {
    assert!(
        dy.len() >= g.output_len() && dx.len() >= g.input_len(),
        "avg_pool2d backward: buffers too short"
    );
    let (img_in, img_out, c) = (
        g.in_h * g.in_w * g.channels,
        g.out_h * g.out_w * g.channels,
        g.channels,
    );
    let one = |(d, gy): (&mut [F], &[F])| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let grow = &gy[(oy * g.out_w + ox) * c..][..c];
                let (ys, xs) = g.span(oy, ox);
                let inv = F::one() / F::from((ys.len() * xs.len()).max(1)).unwrap_or_else(F::one);
                for iy in ys {
                    for ix in xs.clone() {
                        let dst = &mut d[(iy * g.in_w + ix) * c..][..c];
                        dst.iter_mut().zip(grow).for_each(|(s, &v)| *s = *s + v * inv);
                    }
                }
            }
        }
    };
    if img_in == 0 || img_out == 0 {
        return;
    }
    let pairs = dx[..g.input_len()].chunks_mut(img_in).zip(dy.chunks(img_out));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}

/// Global average pooling: `out[b, c]` is the mean of `x[b, :, :, c]` over the `cells`
/// (`h · w`) positions of each of the `batch` images.
///
/// # Panics
/// If `x` holds fewer than `batch · cells · channels` values or `out` fewer than
/// `batch · channels`.
pub fn global_avg_pool2d_forward<F: Float>(
    batch: usize,
    cells: usize,
    channels: usize,
    x: &[F],
    out: &mut [F],
) {
    assert!(x.len() >= batch * cells * channels && out.len() >= batch * channels);
    let inv = F::one() / F::from(cells.max(1)).unwrap_or_else(F::one);
    for b in 0..batch {
        let o = &mut out[b * channels..][..channels];
        o.iter_mut().for_each(|v| *v = F::zero());
        for cell in x[b * cells * channels..][..cells * channels].chunks_exact(channels.max(1)) {
            o.iter_mut().zip(cell).for_each(|(s, &v)| *s = *s + v);
        }
        o.iter_mut().for_each(|v| *v = *v * inv);
    }
}

/// Backward pass of global average pooling: **adds** `dy[b, c] / cells` to every position.
///
/// # Panics
/// If the slices are shorter than the sizes given.
pub fn global_avg_pool2d_backward<F: Float>(
    batch: usize,
    cells: usize,
    channels: usize,
    dy: &[F],
    dx: &mut [F],
) {
    assert!(dx.len() >= batch * cells * channels && dy.len() >= batch * channels);
    let inv = F::one() / F::from(cells.max(1)).unwrap_or_else(F::one);
    for b in 0..batch {
        let gy = &dy[b * channels..][..channels];
        for cell in dx[b * cells * channels..][..cells * channels].chunks_exact_mut(channels.max(1)) {
            cell.iter_mut().zip(gy).for_each(|(s, &v)| *s = *s + v * inv);
        }
    }
}
