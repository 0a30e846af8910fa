//! im2col and its adjoint col2im: the windows of an image as the rows of a matrix, so a
//! convolution is one GEMM per group, and the chunking that bounds that matrix's size.

use num_traits::Float;
use rayon::prelude::*;

use super::Conv2dGeometry;
use crate::kernels::tasks::par_batch;
use crate::kernels::threads;

/// Fills `col` (resized to [`Conv2dGeometry::col_len`]) with the windows of `x`: one row per
/// output pixel, holding for each group the `kh·kw·cg` inputs under the window in
/// `(ky, kx, channel)` order (zeros for padding).
///
/// # Panics
/// If `x` holds fewer than [`Conv2dGeometry::input_len`] values.
pub fn im2col<F: Float + Send + Sync>(g: &Conv2dGeometry, x: &[F], col: &mut Vec<F>) {
    col.resize(g.col_len(), F::zero());
    im2col_into(g, x, col);
}

/// [`im2col`] into the first [`Conv2dGeometry::col_len`] values of `col`.
pub(super) fn im2col_into<F: Float + Send + Sync>(g: &Conv2dGeometry, x: &[F], col: &mut [F]) {
    let len = g.col_len();
    if len == 0 {
        return;
    }
    assert!(x.len() >= g.input_len(), "im2col: input too short");
    let img_in = g.in_h * g.in_w * g.in_c;
    let (kk, cg, row) = (g.patch_len(), g.group_in(), g.groups * g.patch_len());
    let img_col = g.out_h * g.out_w * row;
    let one = |(cols, img): (&mut [F], &[F])| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let r = &mut cols[(oy * g.out_w + ox) * row..][..row];
                if let Some((run, starts)) = g.window_runs(oy, ox) {
                    for (ky, at) in starts.enumerate() {
                        r[ky * run..][..run].copy_from_slice(&img[at..][..run]);
                    }
                    continue;
                }
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let t = (ky * g.k_w + kx) * cg;
                        match g.tap(oy, ox, ky, kx) {
                            Some((iy, ix)) => {
                                let src = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                                for gi in 0..g.groups {
                                    r[gi * kk + t..][..cg].copy_from_slice(&src[gi * cg..][..cg]);
                                }
                            }
                            None => {
                                for gi in 0..g.groups {
                                    r[gi * kk + t..][..cg].iter_mut().for_each(|v| *v = F::zero());
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let pairs = col[..len].chunks_mut(img_col).zip(x.chunks(img_in));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}

/// Adds the rows of `dcol` (laid out as [`im2col`] writes them) back onto the image `dx`:
/// the adjoint of [`im2col`].
///
/// # Panics
/// If the slices are shorter than the geometry's sizes.
pub fn col2im_add<F: Float + Send + Sync>(g: &Conv2dGeometry, dcol: &[F], dx: &mut [F]) {
    let img_in = g.in_h * g.in_w * g.in_c;
    let (kk, cg, row) = (g.patch_len(), g.group_in(), g.groups * g.patch_len());
    let img_col = g.out_h * g.out_w * row;
    assert!(
        dcol.len() >= g.batch * img_col && dx.len() >= g.input_len(),
        "col2im: buffers too short"
    );
    let one = |(img, cols): (&mut [F], &[F])| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let r = &cols[(oy * g.out_w + ox) * row..][..row];
                if let Some((run, starts)) = g.window_runs(oy, ox) {
                    for (ky, at) in starts.enumerate() {
                        let dst = &mut img[at..][..run];
                        for (d, &v) in dst.iter_mut().zip(&r[ky * run..][..run]) {
                            *d = *d + v;
                        }
                    }
                    continue;
                }
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let t = (ky * g.k_w + kx) * cg;
                        let dst = &mut img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        for gi in 0..g.groups {
                            let src = &r[gi * kk + t..][..cg];
                            for (d, &s) in dst[gi * cg..][..cg].iter_mut().zip(src) {
                                *d = *d + s;
                            }
                        }
                    }
                }
            }
        }
    };
    let pairs = dx[..g.batch * img_in]
        .chunks_mut(img_in)
        .zip(dcol.chunks(img_col));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}

/// Most values of `col` (forward) or `∂col` (backward) one chunk of images forms (1 MiB of
/// f32) before its GEMM or col2im reads them back (one image at least).
pub const COL_CHUNK: usize = 1 << 18;

/// Images per chunk when each image forms `per_image` im2col values: as many as
/// [`COL_CHUNK`] holds, at least one and at most `batch`.
pub fn images_per_chunk(per_image: usize, batch: usize) -> usize {
    (COL_CHUNK / per_image.max(1)).clamp(1, batch.max(1))
}
