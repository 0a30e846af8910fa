//! The forward pass: tiles of neighbouring output pixels × vectors of filters.

use std::ops::Range;

use num_traits::{Float, Zero};

use super::super::direct::relu;
use super::plan::{Plan, Runs};
use super::tile::rank1;
use super::TILE;
use crate::kernels::elementwise::bias_act_inplace;
use crate::kernels::simd::Simd;
use crate::kernels::UnaryOp;

/// Filters `f0 .. f0 + NV·LANES` (already offset into `wpack`, `bias` and `o`) of `P` neighbouring
/// output pixels whose windows start at `srcs[p]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn fwd_tile<S: Simd, const P: usize, const NV: usize>(
    s: S,
    srcs: &[&[S::E]; P],
    runs: &Runs,
    wpack: &[S::E],
    bias: Option<&[S::E]>,
    relu_now: bool,
    o: &mut [S::E],
    oc: usize,
) {
    let l = S::LANES;
    let nr = NV * l;
    let init: [S::V; NV] = match bias {
        Some(b) => std::array::from_fn(|v| s.load(&b[v * l..])),
        None => [s.splat(S::E::zero()); NV],
    };
    let mut acc = [init; P];
    let len = runs.len;
    for (j, &off) in runs.offs.iter().enumerate() {
        let a: [&[S::E]; P] = std::array::from_fn(|p| &srcs[p][off..off + len]);
        let wj = &wpack[j * len * nr..(j + 1) * len * nr];
        for (k, wrow) in wj.chunks_exact(nr).enumerate() {
            rank1(s, &mut acc, std::array::from_fn(|p| a[p][k]), wrow);
        }
    }
    for (p, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            let a = if relu_now { relu(s, a) } else { a };
            s.store(&mut o[p * oc + v * l..], a);
        }
    }
}

/// Every filter of `P` neighbouring output pixels (`o`: their `P·out_c` outputs).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn fwd_pixels<S: Simd, const P: usize>(
    s: S,
    plan: &Plan<'_, S::E>,
    wpack: &[S::E],
    img: &[S::E],
    base: usize,
    bias: Option<&[S::E]>,
    relu_now: bool,
    o: &mut [S::E],
) {
    let (runs, oc, l) = (&plan.runs, plan.g.out_c, S::LANES);
    let srcs: [&[S::E]; P] = std::array::from_fn(|p| &img[base + p * runs.step_x..]);
    let patch = plan.g.patch_len();
    let mut at = 0;
    for &(f0, nv) in &plan.filter_blocks {
        let wb = &wpack[at..at + patch * nv * l];
        let b = bias.map(|b| &b[f0..]);
        let o = &mut o[f0..];
        match nv {
            4 => fwd_tile::<S, P, 4>(s, &srcs, runs, wb, b, relu_now, o, oc),
            2 => fwd_tile::<S, P, 2>(s, &srcs, runs, wb, b, relu_now, o, oc),
            _ => fwd_tile::<S, P, 1>(s, &srcs, runs, wb, b, relu_now, o, oc),
        }
        at += patch * nv * l;
    }
    for f in plan.filter_tail()..oc {
        for (p, src) in srcs.iter().enumerate() {
            let mut a = bias.map_or(S::E::zero(), |b| b[f]);
            for (j, &off) in runs.offs.iter().enumerate() {
                for (i, &x) in src[off..off + runs.len].iter().enumerate() {
                    a = a + x * plan.w[(j * runs.len + i) * oc + f];
                }
            }
            o[p * oc + f] = if relu_now && !(a > S::E::zero() || a.is_nan()) {
                S::E::zero()
            } else {
                a
            };
        }
    }
}

/// The forward pass of the images `x` (stored images, `out` their outputs).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn forward_images<S: Simd>(
    s: S,
    plan: &Plan<'_, S::E>,
    wpack: &[S::E],
    x: &[S::E],
    bias: Option<&[S::E]>,
    act: Option<UnaryOp>,
    out: &mut [S::E],
) {
    let g = plan.g;
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    let mut padded = Vec::new();
    for (img, o) in x.chunks_exact(img_in).zip(out.chunks_exact_mut(img_out)) {
        let img = plan.frame.view(g, img, &mut padded);
        for (oy, row) in o.chunks_exact_mut(g.out_w * g.out_c).enumerate() {
            forward_span(s, plan, wpack, img, oy, 0..g.out_w, bias, act, row);
        }
    }
}

/// Output pixels `cols` of row `oy` of one image into `o` (`img` as the kernel reads it: padded
/// unless in place).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn forward_span<S: Simd>(
    s: S,
    plan: &Plan<'_, S::E>,
    wpack: &[S::E],
    img: &[S::E],
    oy: usize,
    cols: Range<usize>,
    bias: Option<&[S::E]>,
    act: Option<UnaryOp>,
    o: &mut [S::E],
) {
    let g = plan.g;
    let relu_now = act == Some(UnaryOp::Relu);
    let mut ox = cols.start;
    while ox < cols.end {
        let p = (cols.end - ox).min(TILE);
        let base = plan.runs.origin(oy, ox);
        let o = &mut o[(ox - cols.start) * g.out_c..];
        with_tile!(p, |P| fwd_pixels::<S, P>(
            s, plan, wpack, img, base, bias, relu_now, o
        ));
        ox += p;
    }
    if let Some(op) = act.filter(|_| !relu_now) {
        bias_act_inplace(s, &mut o[..cols.len() * g.out_c], None, Some(op));
    }
}
