//! The forward pass: bias-initialised accumulators of up to four vectors of filters, one
//! broadcast-FMA per window input, ReLU in the registers.

use num_traits::Zero;

use super::super::{Conv2dGeometry, DIRECT_MAX_PATCH};
use super::taps::Taps;
use crate::kernels::elementwise::bias_act_inplace;
use crate::kernels::simd::Simd;
use crate::kernels::UnaryOp;

/// `x > 0 or NaN ? x : 0` (the element-wise kernels' ReLU).
#[inline(always)]
pub(in crate::kernels::conv) fn relu<S: Simd>(s: S, x: S::V) -> S::V {
    let zero = s.splat(S::E::zero());
    s.select(s.or_mask(s.gt(x, zero), s.unord(x, x)), x, zero)
}

/// Filters `f0 .. f0 + NV·LANES` of `P` neighbouring pixels: `o[p·oc + f] = bias[f] +
/// Σ_t src_p[offs[t]] · w[t·oc + f]`, ReLU applied when `relu`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn block<S: Simd, const P: usize, const NV: usize>(
    s: S,
    srcs: [&[S::E]; P],
    offs: &[usize],
    w: &[S::E],
    oc: usize,
    f0: usize,
    bias: Option<&[S::E]>,
    relu_now: bool,
    o: &mut [S::E],
) {
    let l = S::LANES;
    let init: [S::V; NV] = match bias {
        Some(b) => std::array::from_fn(|v| s.load(&b[f0 + v * l..])),
        None => [s.splat(S::E::zero()); NV],
    };
    let mut acc = [init; P];
    for (t, &off) in offs.iter().enumerate() {
        let wt = &w[t * oc + f0..];
        let wv: [S::V; NV] = std::array::from_fn(|v| s.load(&wt[v * l..]));
        for (p, row) in acc.iter_mut().enumerate() {
            let xb = s.splat(srcs[p][off]);
            for (a, &wvv) in row.iter_mut().zip(&wv) {
                *a = s.fmadd(xb, wvv, *a);
            }
        }
    }
    for (p, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            let a = if relu_now { relu(s, a) } else { a };
            s.store(&mut o[p * oc + f0 + v * l..], a);
        }
    }
}

/// Every filter of `P` neighbouring pixels, then their activation.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn pixels<S: Simd, const P: usize>(
    s: S,
    srcs: [&[S::E]; P],
    offs: &[usize],
    w: &[S::E],
    oc: usize,
    bias: Option<&[S::E]>,
    act: Option<UnaryOp>,
    o: &mut [S::E],
) {
    let l = S::LANES;
    let nvec = oc / l;
    let relu_now = act == Some(UnaryOp::Relu);
    let mut v0 = 0;
    while v0 + 4 <= nvec {
        block::<S, P, 4>(s, srcs, offs, w, oc, v0 * l, bias, relu_now, o);
        v0 += 4;
    }
    if v0 + 2 <= nvec {
        block::<S, P, 2>(s, srcs, offs, w, oc, v0 * l, bias, relu_now, o);
        v0 += 2;
    }
    while v0 < nvec {
        block::<S, P, 1>(s, srcs, offs, w, oc, v0 * l, bias, relu_now, o);
        v0 += 1;
    }
    for f in nvec * l..oc {
        for (p, src) in srcs.iter().enumerate() {
            let mut a = bias.map_or(S::E::zero(), |b| b[f]);
            for (t, &off) in offs.iter().enumerate() {
                a = a + src[off] * w[t * oc + f];
            }
            o[p * oc + f] = if relu_now {
                crate::kernels::scalar::apply_unary(UnaryOp::Relu, a)
            } else {
                a
            };
        }
    }
    if let Some(op) = act.filter(|_| !relu_now) {
        for p in 0..P {
            bias_act_inplace(s, &mut o[p * oc..(p + 1) * oc], None, Some(op));
        }
    }
}

/// The forward pass of one image.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn forward_image<S: Simd>(
    s: S,
    g: &Conv2dGeometry,
    taps: &Taps,
    img: &[S::E],
    w: &[S::E],
    bias: Option<&[S::E]>,
    act: Option<UnaryOp>,
    o: &mut [S::E],
) {
    let oc = g.out_c;
    let mut buf = [S::E::zero(); DIRECT_MAX_PATCH];
    for oy in 0..g.out_h {
        let row_inside = taps.rows.contains(&oy);
        let mut ox = 0;
        while ox < g.out_w {
            let out = &mut o[(oy * g.out_w + ox) * oc..];
            // With 32 registers (AVX-512), four neighbours at a time.
            let wide = S::LANES * std::mem::size_of::<S::E>() == 64;
            if wide && row_inside && taps.cols.contains(&ox) && taps.cols.contains(&(ox + 3)) {
                let srcs = std::array::from_fn(|i| &img[taps.base(g, oy, ox + i)..]);
                pixels::<S, 4>(s, srcs, &taps.off[..taps.n], w, oc, bias, act, out);
                ox += 4;
            } else if row_inside && taps.cols.contains(&ox) && taps.cols.contains(&(ox + 1)) {
                let srcs = [&img[taps.base(g, oy, ox)..], &img[taps.base(g, oy, ox + 1)..]];
                pixels::<S, 2>(s, srcs, &taps.off[..taps.n], w, oc, bias, act, out);
                ox += 2;
            } else {
                let (src, offs) = taps.window(g, img, oy, ox, &mut buf);
                pixels::<S, 1>(s, [src], offs, w, oc, bias, act, out);
                ox += 1;
            }
        }
    }
}
