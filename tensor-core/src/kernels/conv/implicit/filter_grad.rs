//! The filter gradient: tiles of consecutive window inputs × vectors of filters, summed over
//! every pixel of an image.

use num_traits::Zero;

use super::super::Conv2dGeometry;
use super::plan::{Plan, Runs};
use super::tile::rank1;
use super::TILE;
use crate::kernels::simd::Simd;

/// Adds `Σ_pixels x(pixel, off + r) · ∂Y[pixel][f0 + f]` to `dw[r·out_c + f]` for `R`
/// consecutive window inputs and `NV` vectors of filters (`dyp`: this block's `∂Y`, pixel by
/// pixel, `NV·LANES` each).
#[inline(always)]
pub(super) fn grad_tile<S: Simd, const R: usize, const NV: usize>(
    s: S,
    g: &Conv2dGeometry,
    runs: &Runs,
    img: &[S::E],
    off: usize,
    dyp: &[S::E],
    dw: &mut [S::E],
) {
    let l = S::LANES;
    let nr = NV * l;
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; R];
    let mut pixels = dyp.chunks_exact(nr);
    for oy in 0..g.out_h {
        let mut at = runs.origin(oy, 0) + off;
        for (_, d) in (0..g.out_w).zip(pixels.by_ref()) {
            let xs = &img[at..at + R];
            rank1(s, &mut acc, std::array::from_fn(|r| xs[r]), d);
            at += runs.step_x;
        }
    }
    let oc = g.out_c;
    for (r, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            let dst = &mut dw[r * oc + v * l..];
            s.store(dst, s.add(s.load(dst), a));
        }
    }
}

/// [`grad_tile`] for `r` (1 ..= [`TILE`]) window inputs.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn grad_rows<S: Simd, const NV: usize>(
    s: S,
    g: &Conv2dGeometry,
    runs: &Runs,
    img: &[S::E],
    off: usize,
    r: usize,
    dyp: &[S::E],
    dw: &mut [S::E],
) {
    with_tile!(r, |R| grad_tile::<S, R, NV>(s, g, runs, img, off, dyp, dw));
}

/// Adds the filter gradient of the images `x` (with their `dy`) into `dw`.
#[inline(always)]
pub(super) fn grad_images<S: Simd>(s: S, plan: &Plan<'_, S::E>, x: &[S::E], dy: &[S::E], dw: &mut [S::E]) {
    let (g, runs, l) = (plan.g, &plan.runs, S::LANES);
    let (img_in, img_out, oc) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c, g.out_c);
    let pixels = g.out_h * g.out_w;
    let (mut padded, mut dyp) = (Vec::new(), Vec::new());
    for (img, d) in x.chunks_exact(img_in).zip(dy.chunks_exact(img_out)) {
        let img = plan.frame.view(g, img, &mut padded);
        // This image's ∂Y, block of filters by block, so each tile reads it contiguously.
        dyp.clear();
        for &(f0, nv) in &plan.filter_blocks {
            for row in d.chunks_exact(oc) {
                dyp.extend_from_slice(&row[f0..f0 + nv * l]);
            }
        }
        let mut at = 0;
        for &(f0, nv) in &plan.filter_blocks {
            let block = &dyp[at..at + pixels * nv * l];
            for (j, &off) in runs.offs.iter().enumerate() {
                let mut i0 = 0;
                while i0 < runs.len {
                    let r = TILE.min(runs.len - i0);
                    let dwt = &mut dw[(j * runs.len + i0) * oc + f0..];
                    match nv {
                        4 => grad_rows::<S, 4>(s, g, runs, img, off + i0, r, block, dwt),
                        2 => grad_rows::<S, 2>(s, g, runs, img, off + i0, r, block, dwt),
                        _ => grad_rows::<S, 1>(s, g, runs, img, off + i0, r, block, dwt),
                    }
                    i0 += r;
                }
            }
            at += pixels * nv * l;
        }
        for f in plan.filter_tail()..oc {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let dv = d[(oy * g.out_w + ox) * oc + f];
                    let o = runs.origin(oy, ox);
                    for (j, &off) in runs.offs.iter().enumerate() {
                        for (i, &xv) in img[o + off..o + off + runs.len].iter().enumerate() {
                            let k = (j * runs.len + i) * oc + f;
                            dw[k] = dw[k] + xv * dv;
                        }
                    }
                }
            }
        }
    }
}
