//! The input gradient: tiles of output pixels × vectors of one run, added into the image.

use num_traits::Zero;

use super::plan::Plan;
use super::tile::rank1;
use super::TILE;
use crate::kernels::simd::Simd;

/// Adds `Σ_f ∂Y[pixel p][f] · W[n][f]` to the inputs `n` of one run block (`NV` vectors, `bt`:
/// `[filter][NV·LANES]`) under the windows of `P` neighbouring output pixels (`dys[p]`: their
/// `∂Y` rows; `dxp[at + p·step_x ..]`: where their run block lies in the image gradient).
#[inline(always)]
pub(super) fn dx_tile<S: Simd, const P: usize, const NV: usize>(
    s: S,
    dys: &[&[S::E]; P],
    bt: &[S::E],
    dxp: &mut [S::E],
    at: usize,
    step_x: usize,
) {
    let l = S::LANES;
    let nr = NV * l;
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; P];
    for (f, brow) in bt.chunks_exact(nr).enumerate() {
        rank1(s, &mut acc, std::array::from_fn(|p| dys[p][f]), brow);
    }
    // In pixel order: neighbouring windows overlap, so each pixel's sum reads the previous one's.
    for (p, row) in acc.iter().enumerate() {
        let dst = &mut dxp[at + p * step_x..];
        for (v, &a) in row.iter().enumerate() {
            let d = &mut dst[v * l..];
            s.store(d, s.add(s.load(d), a));
        }
    }
}

/// Every run of the windows of `P` neighbouring output pixels.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn dx_pixels<S: Simd, const P: usize>(
    s: S,
    plan: &Plan<'_, S::E>,
    bt: &[S::E],
    d: &[S::E],
    pixel: usize,
    base: usize,
    dxp: &mut [S::E],
) {
    let (runs, oc, l) = (&plan.runs, plan.g.out_c, S::LANES);
    let dys: [&[S::E]; P] = std::array::from_fn(|p| &d[(pixel + p) * oc..(pixel + p + 1) * oc]);
    let mut at_b = 0;
    for (j, &off) in runs.offs.iter().enumerate() {
        for &(n0, nv) in &plan.run_blocks {
            let b = &bt[at_b..at_b + oc * nv * l];
            let at = base + off + n0;
            match nv {
                4 => dx_tile::<S, P, 4>(s, &dys, b, dxp, at, runs.step_x),
                2 => dx_tile::<S, P, 2>(s, &dys, b, dxp, at, runs.step_x),
                _ => dx_tile::<S, P, 1>(s, &dys, b, dxp, at, runs.step_x),
            }
            at_b += oc * nv * l;
        }
        for n in plan.run_tail()..runs.len {
            let wrow = &plan.w[(j * runs.len + n) * oc..][..oc];
            for (p, dyr) in dys.iter().enumerate() {
                let sum = dyr.iter().zip(wrow).fold(S::E::zero(), |a, (&y, &w)| a + y * w);
                let k = base + p * runs.step_x + off + n;
                dxp[k] = dxp[k] + sum;
            }
        }
    }
}

/// Adds the input gradient of the images whose `∂Y` is `dy` into `dx`.
#[inline(always)]
pub(super) fn dx_images<S: Simd>(s: S, plan: &Plan<'_, S::E>, bt: &[S::E], dy: &[S::E], dx: &mut [S::E]) {
    let g = plan.g;
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    let mut padded = Vec::new();
    for (dxi, d) in dx.chunks_exact_mut(img_in).zip(dy.chunks_exact(img_out)) {
        if !plan.frame.in_place {
            padded.clear();
            padded.resize(plan.frame.len(g), S::E::zero());
        }
        let dxp: &mut [S::E] = if plan.frame.in_place {
            &mut *dxi
        } else {
            &mut padded
        };
        for oy in 0..g.out_h {
            let mut ox = 0;
            while ox < g.out_w {
                let p = (g.out_w - ox).min(TILE);
                let (pixel, base) = (oy * g.out_w + ox, plan.runs.origin(oy, ox));
                with_tile!(p, |P| dx_pixels::<S, P>(s, plan, bt, d, pixel, base, dxp));
                ox += p;
            }
        }
        if !plan.frame.in_place {
            plan.frame.unpad_add(g, &padded, dxi);
        }
    }
}
