//! Implicit-GEMM convolution: the products of the im2col path, with the windows read straight
//! from the image instead of an im2col matrix (one group, windows of more than
//! [`DIRECT_MAX_PATCH`](super::DIRECT_MAX_PATCH) inputs, f32 and f64 on AVX2 / AVX-512).
//!
//! In NHWC a window row (`kw` neighbouring pixels × all channels) is one run of `kw·c`
//! consecutive inputs (`c` with a horizontal dilation), so every product walks runs:
//!
//! - forward: a register tile of [`TILE`] neighbouring output pixels × up to four vectors of
//!   filters; one broadcast per pixel and window input, the weights packed per block of filters
//!   once per call; bias as the accumulators' start, ReLU in the registers;
//! - filter gradient `∂W[i][f] = Σ_pixels x(pixel, i) · ∂Y[pixel][f]`: a tile of [`TILE`]
//!   consecutive window inputs × up to four vectors of filters summed over every pixel of an
//!   image (the image's `∂Y` repacked per block of filters);
//! - input gradient: a tile of [`TILE`] output pixels × up to four vectors of one run, over the
//!   filters, **added** into the image (the col2im of the im2col path, done in the registers).
//!
//! Windows reaching into the padding read a zero-padded copy of the image (one per task).
//! Filters, or inputs of a run, past the last full vector run scalar loops. The tests
//! (`tests.rs`) check all three against naive loops over odd sizes, strides, dilations and paddings.

use std::ops::Range;

use num_traits::Float;

use super::punning::{cast, cast_mut, same_type};
use super::Conv2dGeometry;
use crate::kernels::dispatch::{Isa, SimdElem};
use crate::kernels::gemm::Epilogue;
use crate::kernels::simd::Simd;
use crate::kernels::tasks::{per_task, sum_per_task};
use crate::kernels::{hot, UnaryOp};

#[macro_use]
mod tile;
mod filter_grad;
mod forward;
mod input_grad;
mod plan;

use filter_grad::grad_images;
use forward::{forward_images, forward_span};
use input_grad::dx_images;
use plan::Plan;

/// Output pixels (forward, input gradient) or window inputs (filter gradient) per register
/// tile: 6 × 4 vectors = 24 accumulators with 32 vector registers, 6 × 2 with 16.
const TILE: usize = 6;

/// A single image of at least this many multiply-adds (about 10 µs on one core) shares its
/// output rows with the spinning helpers of [`hot`] when the kernels have more than one thread.
const HOT_MIN_MACS: usize = 1 << 19;

/// `#[target_feature]` entry points of the three passes per instruction set, each only called
/// with a token of that set.
macro_rules! entry_points {
    ($modname:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use super::*;

            #[target_feature(enable = $features)]
            pub(super) fn forward_images<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                wpack: &[S::E],
                x: &[S::E],
                bias: Option<&[S::E]>,
                act: Option<UnaryOp>,
                out: &mut [S::E],
            ) {
                super::forward_images(s, plan, wpack, x, bias, act, out)
            }

            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
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
                super::forward_span(s, plan, wpack, img, oy, cols, bias, act, o)
            }

            #[target_feature(enable = $features)]
            pub(super) fn grad_images<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                x: &[S::E],
                dy: &[S::E],
                dw: &mut [S::E],
            ) {
                super::grad_images(s, plan, x, dy, dw)
            }

            #[target_feature(enable = $features)]
            pub(super) fn dx_images<S: Simd>(
                s: S,
                plan: &Plan<'_, S::E>,
                bt: &[S::E],
                dy: &[S::E],
                dx: &mut [S::E],
            ) {
                super::dx_images(s, plan, bt, dy, dx)
            }
        }
    };
}

entry_points!(avx2, "avx2,fma");
entry_points!(avx512, "avx512f,avx2,fma");

/// Which token runs a geometry: the instruction set, its lanes for `E`, and whether it has 32
/// vector registers; `None` when this file has no kernel for it.
fn choose<E: SimdElem>(isa: Isa, g: &Conv2dGeometry) -> Option<(Isa, usize, bool)> {
    if g.groups != 1 || g.is_direct() || g.is_pointwise() || !enabled() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let run = if g.dilation.1 == 1 { g.k_w * g.in_c } else { g.in_c };
        let fits = |lanes: usize| g.out_c >= lanes && run >= lanes;
        match isa {
            Isa::Avx512 if E::Avx512::try_new().is_some() && fits(E::Avx512::LANES) => {
                return Some((Isa::Avx512, E::Avx512::LANES, true));
            }
            Isa::Avx512 | Isa::Avx2 if E::Avx2::try_new().is_some() && fits(E::Avx2::LANES) => {
                return Some((Isa::Avx2, E::Avx2::LANES, false));
            }
            _ => {}
        }
    }
    let _ = isa;
    None
}

static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the implicit path may run (see [`set_enabled`]).
fn enabled() -> bool {
    !DISABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns the implicit path off (`false`: every such convolution runs im2col + GEMM) or back
/// on, for side-by-side measurements.
pub(crate) fn set_enabled(on: bool) {
    DISABLED.store(!on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`forward`] and [`backward`] run `g` with elements `F` on `isa`.
pub(crate) fn handles<F: 'static>(isa: Isa, g: &Conv2dGeometry) -> bool {
    if same_type::<F, f32>() {
        choose::<f32>(isa, g).is_some()
    } else if same_type::<F, f64>() {
        choose::<f64>(isa, g).is_some()
    } else {
        false
    }
}

/// `out = activation(conv(x, filters) + bias)` by the implicit kernels; `false` (nothing
/// written) when [`handles`] says no. Sizes are checked by the caller.
pub(crate) fn forward<F: Float + Send + Sync + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    epilogue: Epilogue<'_, F>,
    out: &mut [F],
) -> bool {
    let (bias, act) = (epilogue.bias, epilogue.activation);
    if same_type::<F, f32>() {
        // SAFETY: `F` is `f32` (same `TypeId`).
        let (x, w, b, o) = unsafe { (cast(x), cast(filters), bias.map(|b| cast(b)), cast_mut(out)) };
        return forward_typed::<f32>(isa, g, x, w, b, act, o);
    }
    if same_type::<F, f64>() {
        // SAFETY: `F` is `f64` (same `TypeId`).
        let (x, w, b, o) = unsafe { (cast(x), cast(filters), bias.map(|b| cast(b)), cast_mut(out)) };
        return forward_typed::<f64>(isa, g, x, w, b, act, o);
    }
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn forward_typed<E: SimdElem>(
    _: Isa,
    _: &Conv2dGeometry,
    _: &[E],
    _: &[E],
    _: Option<&[E]>,
    _: Option<UnaryOp>,
    _: &mut [E],
) -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn forward_typed<E: SimdElem>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[E],
    w: &[E],
    bias: Option<&[E]>,
    act: Option<UnaryOp>,
    out: &mut [E],
) -> bool {
    let Some((isa, lanes, wide)) = choose::<E>(isa, g) else {
        return false;
    };
    let plan = Plan::new(g, w, lanes, wide);
    let wpack = plan.pack_filters();
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    if g.batch == 1 && g.out_h > 1 && g.macs() >= HOT_MIN_MACS && hot::helpers_wanted() > 0 {
        forward_tiles_shared(isa, &plan, &wpack, &x[..img_in], bias, act, &mut out[..img_out]);
        return true;
    }
    per_task(g.batch, img_out, out, |r, o| {
        let xs = &x[r.start * img_in..r.end * img_in];
        match (isa, E::Avx512::try_new(), E::Avx2::try_new()) {
            // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected on this CPU.
            (Isa::Avx512, Some(t), _) => unsafe {
                avx512::forward_images(t, &plan, &wpack, xs, bias, act, o)
            },
            // SAFETY: the token exists, so AVX2 and FMA were detected on this CPU.
            (_, _, Some(t)) => unsafe { avx2::forward_images(t, &plan, &wpack, xs, bias, act, o) },
            _ => unreachable!("choose() found a token"),
        }
    });
    true
}

/// One image (`x`, `out`), its register tiles shared with the spinning helpers of [`hot`].
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn forward_tiles_shared<E: SimdElem>(
    isa: Isa,
    plan: &Plan<'_, E>,
    wpack: &[E],
    x: &[E],
    bias: Option<&[E]>,
    act: Option<UnaryOp>,
    out: &mut [E],
) {
    let g = plan.g;
    let mut padded = Vec::new();
    let img = plan.frame.view(g, x, &mut padded);
    // Items: the register tiles of each row (rows of `TILE` pixels and a shorter last one).
    let mut tiles: Vec<(usize, Range<usize>, &mut [E])> =
        Vec::with_capacity(g.out_h * g.out_w.div_ceil(TILE));
    for (oy, mut row) in out.chunks_mut(g.out_w * g.out_c).enumerate() {
        for ox in (0..g.out_w).step_by(TILE) {
            let p = (g.out_w - ox).min(TILE);
            let (o, rest) = row.split_at_mut(p * g.out_c);
            tiles.push((oy, ox..ox + p, o));
            row = rest;
        }
    }
    hot::for_each_claimed(&mut tiles, |_, (oy, cols, o)| {
        let (oy, cols) = (*oy, cols.clone());
        match (isa, E::Avx512::try_new(), E::Avx2::try_new()) {
            // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected on this CPU.
            (Isa::Avx512, Some(t), _) => unsafe {
                avx512::forward_span(t, plan, wpack, img, oy, cols, bias, act, o)
            },
            // SAFETY: the token exists, so AVX2 and FMA were detected on this CPU.
            (_, _, Some(t)) => unsafe { avx2::forward_span(t, plan, wpack, img, oy, cols, bias, act, o) },
            _ => unreachable!("choose() found a token"),
        }
    });
}

/// **Adds** the filter gradient (into `dw`) and the input gradient (into `dx`) by the implicit
/// kernels; `false` (nothing written) when [`handles`] says no. The bias gradient is the
/// caller's. Sizes are checked by the caller.
pub(crate) fn backward<F: Float + Send + Sync + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    dy: &[F],
    dw: Option<&mut [F]>,
    dx: Option<&mut [F]>,
) -> bool {
    if same_type::<F, f32>() {
        // SAFETY: `F` is `f32` (same `TypeId`).
        let (x, w, dy) = unsafe { (cast(x), cast(filters), cast(dy)) };
        // SAFETY: as above.
        let (dw, dx) = unsafe { (dw.map(|d| cast_mut(d)), dx.map(|d| cast_mut(d))) };
        return backward_typed::<f32>(isa, g, x, w, dy, dw, dx);
    }
    if same_type::<F, f64>() {
        // SAFETY: `F` is `f64` (same `TypeId`).
        let (x, w, dy) = unsafe { (cast(x), cast(filters), cast(dy)) };
        // SAFETY: as above.
        let (dw, dx) = unsafe { (dw.map(|d| cast_mut(d)), dx.map(|d| cast_mut(d))) };
        return backward_typed::<f64>(isa, g, x, w, dy, dw, dx);
    }
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn backward_typed<E: SimdElem>(
    _: Isa,
    _: &Conv2dGeometry,
    _: &[E],
    _: &[E],
    _: &[E],
    _: Option<&mut [E]>,
    _: Option<&mut [E]>,
) -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn backward_typed<E: SimdElem>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[E],
    w: &[E],
    dy: &[E],
    dw: Option<&mut [E]>,
    dx: Option<&mut [E]>,
) -> bool {
    let Some((isa, lanes, wide)) = choose::<E>(isa, g) else {
        return false;
    };
    let plan = Plan::new(g, w, lanes, wide);
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    {
        let (t512, t2) = (E::Avx512::try_new(), E::Avx2::try_new());
        if let Some(dw) = dw {
            let dw = &mut dw[..g.filter_len()];
            let grads = |r: Range<usize>, acc: &mut [E]| {
                let (xs, ds) = (
                    &x[r.start * img_in..r.end * img_in],
                    &dy[r.start * img_out..r.end * img_out],
                );
                match (isa, t512, t2) {
                    // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected.
                    (Isa::Avx512, Some(t), _) => unsafe { avx512::grad_images(t, &plan, xs, ds, acc) },
                    // SAFETY: the token exists, so AVX2 and FMA were detected.
                    (_, _, Some(t)) => unsafe { avx2::grad_images(t, &plan, xs, ds, acc) },
                    _ => unreachable!("choose() found a token"),
                }
            };
            sum_per_task(g.batch, dw, grads);
        }
        if let Some(dx) = dx {
            let bt = plan.pack_transposed();
            per_task(g.batch, img_in, dx, |r, d| {
                let ds = &dy[r.start * img_out..r.end * img_out];
                match (isa, t512, t2) {
                    // SAFETY: the token exists, so AVX-512F, AVX2 and FMA were detected.
                    (Isa::Avx512, Some(t), _) => unsafe { avx512::dx_images(t, &plan, &bt, ds, d) },
                    // SAFETY: the token exists, so AVX2 and FMA were detected.
                    (_, _, Some(t)) => unsafe { avx2::dx_images(t, &plan, &bt, ds, d) },
                    _ => unreachable!("choose() found a token"),
                }
            });
        }
    }
    true
}

#[cfg(test)]
mod tests;
