//! The filter gradient: a block of taps × vectors of filters held in registers over every
//! pixel of an image.

use num_traits::Zero;

use super::super::{Conv2dGeometry, DIRECT_MAX_PATCH};
use super::taps::{Taps, GRAD_TAPS, GRAD_TAPS_WIDE};
use crate::kernels::simd::Simd;

/// `acc[t][v] += src[offs[t]] · d[v·LANES ..]`: one pixel's share of [`grad_block`].
#[inline(always)]
pub(super) fn grad_pixel<S: Simd, const TC: usize, const NV: usize>(
    s: S,
    acc: &mut [[S::V; NV]; TC],
    src: &[S::E],
    offs: &[usize; TC],
    d: &[S::E],
) {
    let l = S::LANES;
    let dv: [S::V; NV] = std::array::from_fn(|v| s.load(&d[v * l..]));
    let xs: [S::E; TC] = std::array::from_fn(|t| src[offs[t]]);
    for t in 0..TC {
        let xb = s.splat(xs[t]);
        for v in 0..NV {
            acc[t][v] = s.fmadd(xb, dv[v], acc[t][v]);
        }
    }
}

/// Adds `Σ_pixels x(pixel, t0 + t) · ∂Y[pixel][f0 + f]` for `TC` taps × `NV` vectors of filters.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn grad_block<S: Simd, const TC: usize, const NV: usize>(
    s: S,
    g: &Conv2dGeometry,
    taps: &Taps,
    img: &[S::E],
    dy: &[S::E],
    t0: usize,
    f0: usize,
    dw: &mut [S::E],
) {
    let (l, oc) = (S::LANES, g.out_c);
    let zero = s.splat(S::E::zero());
    let mut acc = [[zero; NV]; TC];
    let mut buf = [S::E::zero(); DIRECT_MAX_PATCH];
    // A fixed-length copy keeps the loop bounds constant, so `acc` stays in registers.
    let inner: [usize; TC] = std::array::from_fn(|t| taps.off[t0 + t]);
    let gathered: [usize; TC] = std::array::from_fn(|t| t0 + t);
    for oy in 0..g.out_h {
        let row_inside = taps.rows.contains(&oy);
        for ox in 0..g.out_w {
            let pixel = oy * g.out_w + ox;
            if row_inside && taps.cols.contains(&ox) {
                grad_pixel(
                    s,
                    &mut acc,
                    &img[taps.base(g, oy, ox)..],
                    &inner,
                    &dy[pixel * oc + f0..],
                );
            } else {
                let (src, _) = taps.window(g, img, oy, ox, &mut buf);
                grad_pixel(s, &mut acc, src, &gathered, &dy[pixel * oc + f0..]);
            }
        }
    }
    for (t, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            let dst = &mut dw[(t0 + t) * oc + f0 + v * l..];
            s.store(dst, s.add(s.load(dst), a));
        }
    }
}

/// [`grad_block`] for a run-time number of taps `tc` (1 ..= [`GRAD_TAPS_WIDE`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn grad_taps<S: Simd, const NV: usize>(
    s: S,
    g: &Conv2dGeometry,
    taps: &Taps,
    img: &[S::E],
    dy: &[S::E],
    t0: usize,
    tc: usize,
    f0: usize,
    dw: &mut [S::E],
) {
    match tc {
        1 => grad_block::<S, 1, NV>(s, g, taps, img, dy, t0, f0, dw),
        2 => grad_block::<S, 2, NV>(s, g, taps, img, dy, t0, f0, dw),
        3 => grad_block::<S, 3, NV>(s, g, taps, img, dy, t0, f0, dw),
        4 => grad_block::<S, 4, NV>(s, g, taps, img, dy, t0, f0, dw),
        5 => grad_block::<S, GRAD_TAPS, NV>(s, g, taps, img, dy, t0, f0, dw),
        6 => grad_block::<S, 6, NV>(s, g, taps, img, dy, t0, f0, dw),
        7 => grad_block::<S, 7, NV>(s, g, taps, img, dy, t0, f0, dw),
        8 => grad_block::<S, 8, NV>(s, g, taps, img, dy, t0, f0, dw),
        _ => grad_block::<S, GRAD_TAPS_WIDE, NV>(s, g, taps, img, dy, t0, f0, dw),
    }
}

/// Adds the filter gradient of one image to `dw`.
#[inline(always)]
pub(super) fn grad_image<S: Simd>(
    s: S,
    g: &Conv2dGeometry,
    taps: &Taps,
    img: &[S::E],
    dy: &[S::E],
    dw: &mut [S::E],
) {
    let (l, oc) = (S::LANES, g.out_c);
    let nvec = oc / l;
    // 64-byte vectors come with 32 registers (AVX-512), room for the wider tap block.
    let max_taps = if l * std::mem::size_of::<S::E>() == 64 {
        GRAD_TAPS_WIDE
    } else {
        GRAD_TAPS
    };
    let mut v0 = 0;
    while v0 < nvec {
        let nv = if v0 + 2 <= nvec { 2 } else { 1 };
        let mut t0 = 0;
        while t0 < taps.n {
            let tc = max_taps.min(taps.n - t0);
            if nv == 2 {
                grad_taps::<S, 2>(s, g, taps, img, dy, t0, tc, v0 * l, dw);
            } else {
                grad_taps::<S, 1>(s, g, taps, img, dy, t0, tc, v0 * l, dw);
            }
            t0 += tc;
        }
        v0 += nv;
    }
    if nvec * l < oc {
        let mut buf = [S::E::zero(); DIRECT_MAX_PATCH];
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let (src, offs) = taps.window(g, img, oy, ox, &mut buf);
                let d = &dy[(oy * g.out_w + ox) * oc..][..oc];
                for (t, &off) in offs.iter().enumerate() {
                    let xv = src[off];
                    for f in nvec * l..oc {
                        dw[t * oc + f] = dw[t * oc + f] + xv * d[f];
                    }
                }
            }
        }
    }
}
