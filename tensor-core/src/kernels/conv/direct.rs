//! SIMD direct convolution for small windows (a first layer on 1–3 channels: at most
//! [`DIRECT_MAX_PATCH`] inputs under a window, one group), vectorised over the output channels.
//!
//! Forward: per output pixel (two neighbours at a time inside the image), the bias-initialised
//! accumulators of up to four vectors of filters take one broadcast-FMA per window input, and
//! ReLU is applied in the registers before the store (other activations run on the stored row).
//! Filter gradient: `∂W[tap][f] = Σ x(pixel, tap) · ∂Y[pixel][f]`, with a block of up to five taps
//! × two vectors of filters held in registers over every pixel of an image. Windows that reach
//! into the padding are gathered into a small stack buffer (zeros outside the image); the others
//! are read in place. Filters past the last full vector run a scalar loop.
//!
//! Only the AVX2+FMA path exists (it also runs where AVX-512 is active); without it, or for other
//! element types, [`forward`] and [`filter_grad`] return `false` and the portable loops of
//! [`super::conv`] run instead. They are the oracle of the tests at the bottom of this file.

use std::any::TypeId;
use std::ops::Range;

use num_traits::{Float, Zero};

use super::{Conv2dGeometry, DIRECT_MAX_PATCH};
use crate::kernels::dispatch::{Isa, SimdElem};
use crate::kernels::elementwise::bias_act_inplace;
use crate::kernels::gemm::Epilogue;
use crate::kernels::simd::Simd;
use crate::kernels::tasks::{per_image, sum_per_task};
use crate::kernels::UnaryOp;

/// `0, 1, …`: the tap offsets of a gathered window.
const GATHERED: [usize; DIRECT_MAX_PATCH] = {
    let mut a = [0; DIRECT_MAX_PATCH];
    let mut i = 0;
    while i < DIRECT_MAX_PATCH {
        a[i] = i;
        i += 1;
    }
    a
};

/// Taps per register block of the filter-gradient kernel with 16 vector registers (AVX2:
/// 5 taps × 2 vectors of filters = 10 accumulators).
const GRAD_TAPS: usize = 5;

/// Taps per register block with 32 vector registers (AVX-512: a 3×3 window's 9 taps × 2
/// vectors = 18 accumulators, so one pass over the image covers every tap of 32 filters).
const GRAD_TAPS_WIDE: usize = 9;

/// The window of one geometry: each tap's offset from the window's first input, and the output
/// rows and columns whose windows lie wholly inside the image.
#[derive(Debug, Clone)]
struct Taps {
    n: usize,
    off: [usize; DIRECT_MAX_PATCH],
    rows: Range<usize>,
    cols: Range<usize>,
}

/// Outputs `o` of one axis with `o·stride − pad ≥ 0` and `o·stride − pad + (k − 1)·dil < len`.
fn inside(out: usize, len: usize, k: usize, stride: usize, dil: usize, pad: usize) -> Range<usize> {
    let lo = pad.div_ceil(stride).min(out);
    let span = (k - 1) * dil;
    let hi = if len + pad > span {
        ((len - 1 + pad - span) / stride + 1).min(out)
    } else {
        0
    };
    lo..hi.max(lo)
}

impl Taps {
    fn new(g: &Conv2dGeometry) -> Self {
        let mut off = [0; DIRECT_MAX_PATCH];
        let c = g.in_c;
        for ky in 0..g.k_h {
            for kx in 0..g.k_w {
                for ci in 0..c {
                    off[(ky * g.k_w + kx) * c + ci] =
                        (ky * g.dilation.0 * g.in_w + kx * g.dilation.1) * c + ci;
                }
            }
        }
        Taps {
            n: g.patch_len(),
            off,
            rows: inside(g.out_h, g.in_h, g.k_h, g.stride.0, g.dilation.0, g.pad.0),
            cols: inside(g.out_w, g.in_w, g.k_w, g.stride.1, g.dilation.1, g.pad.1),
        }
    }

    /// Index of the first input of the window at an inside output `(oy, ox)`.
    #[inline(always)]
    fn base(&self, g: &Conv2dGeometry, oy: usize, ox: usize) -> usize {
        ((oy * g.stride.0 - g.pad.0) * g.in_w + ox * g.stride.1 - g.pad.1) * g.in_c
    }

    /// The window at `(oy, ox)` as a slice and its tap offsets: in place inside the image, else
    /// gathered into `buf` (zeros for padding).
    #[inline(always)]
    fn window<'a, E: Float>(
        &'a self,
        g: &Conv2dGeometry,
        img: &'a [E],
        oy: usize,
        ox: usize,
        buf: &'a mut [E; DIRECT_MAX_PATCH],
    ) -> (&'a [E], &'a [usize]) {
        if self.rows.contains(&oy) && self.cols.contains(&ox) {
            return (&img[self.base(g, oy, ox)..], &self.off[..self.n]);
        }
        let c = g.in_c;
        for ky in 0..g.k_h {
            for kx in 0..g.k_w {
                let t = (ky * g.k_w + kx) * c;
                match g.tap(oy, ox, ky, kx) {
                    // Element by element, not `copy_from_slice`: a `memcpy` call in the pixel
                    // loop would make the callers keep their accumulators on the stack.
                    Some((iy, ix)) => {
                        let src = &img[(iy * g.in_w + ix) * c..][..c];
                        for (d, &v) in buf[t..t + c].iter_mut().zip(src) {
                            *d = v;
                        }
                    }
                    None => {
                        for d in &mut buf[t..t + c] {
                            *d = E::zero();
                        }
                    }
                }
            }
        }
        (&buf[..], &GATHERED[..self.n])
    }
}

/// `x > 0 or NaN ? x : 0` (the element-wise kernels' ReLU).
#[inline(always)]
pub(super) fn relu<S: Simd>(s: S, x: S::V) -> S::V {
    let zero = s.splat(S::E::zero());
    s.select(s.or_mask(s.gt(x, zero), s.unord(x, x)), x, zero)
}

/// Filters `f0 .. f0 + NV·LANES` of `P` neighbouring pixels: `o[p·oc + f] = bias[f] +
/// Σ_t src_p[offs[t]] · w[t·oc + f]`, ReLU applied when `relu`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<S: Simd, const P: usize, const NV: usize>(
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
fn pixels<S: Simd, const P: usize>(
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
fn forward_image<S: Simd>(
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

/// `acc[t][v] += src[offs[t]] · d[v·LANES ..]`: one pixel's share of [`grad_block`].
#[inline(always)]
fn grad_pixel<S: Simd, const TC: usize, const NV: usize>(
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
fn grad_block<S: Simd, const TC: usize, const NV: usize>(
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
fn grad_taps<S: Simd, const NV: usize>(
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
fn grad_image<S: Simd>(s: S, g: &Conv2dGeometry, taps: &Taps, img: &[S::E], dy: &[S::E], dw: &mut [S::E]) {
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

/// A `#[target_feature]` entry point of [`forward_image`] per instruction set, each only called
/// with a token of that set.
macro_rules! forward_entry {
    ($modname:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use super::*;

            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
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
                super::forward_image(s, g, taps, img, w, bias, act, o)
            }
        }
    };
}

forward_entry!(avx2, "avx2,fma");
forward_entry!(avx512, "avx512f,avx2,fma");

/// A `#[target_feature]` entry point of [`grad_image`] per instruction set, each only called
/// with a token of that set.
macro_rules! grad_entry {
    ($modname:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use super::*;

            #[target_feature(enable = $features)]
            pub(super) fn grad_image<S: Simd>(
                s: S,
                g: &Conv2dGeometry,
                taps: &Taps,
                img: &[S::E],
                dy: &[S::E],
                dw: &mut [S::E],
            ) {
                super::grad_image(s, g, taps, img, dy, dw)
            }
        }
    };
}

grad_entry!(grad_avx2, "avx2,fma");
grad_entry!(grad_avx512, "avx512f,avx2,fma");

/// Whether the kernels here handle `g` on `isa`.
fn handles(isa: Isa, g: &Conv2dGeometry) -> bool {
    g.groups == 1 && g.is_direct() && isa != Isa::Scalar
}

/// Runs `f` with `x` viewed as `&[E]` when `F` is `E`.
pub(super) fn same_type<F: 'static, E: 'static>() -> bool {
    TypeId::of::<F>() == TypeId::of::<E>()
}

/// Reinterprets a slice of `F` as a slice of `E`.
///
/// # Safety
/// `F` and `E` must be the same type.
pub(super) unsafe fn cast<F, E>(x: &[F]) -> &[E] {
    // SAFETY: the caller guarantees `F` is `E`: same size, alignment and validity.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<E>(), x.len()) }
}

/// Reinterprets a mutable slice of `F` as one of `E`.
///
/// # Safety
/// `F` and `E` must be the same type.
pub(super) unsafe fn cast_mut<F, E>(x: &mut [F]) -> &mut [E] {
    // SAFETY: the caller guarantees `F` is `E`; the borrow of `x` is moved into the result.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<E>(), x.len()) }
}

/// `out = activation(conv(x, filters) + bias)` by the SIMD direct kernel on `isa`, over the batch
/// on the thread pool; `false` (nothing written) when this file has no kernel for `g`, `isa`
/// or `F` (the caller then runs the portable loops). Sizes are checked by the caller.
pub(crate) fn forward<F: Float + Send + Sync + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    epilogue: Epilogue<'_, F>,
    out: &mut [F],
) -> bool {
    if !handles(isa, g) {
        return false;
    }
    let bias = epilogue.bias;
    let act = epilogue.activation;
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

fn forward_typed<E: SimdElem>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[E],
    w: &[E],
    bias: Option<&[E]>,
    act: Option<UnaryOp>,
    out: &mut [E],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = E::Avx2::try_new() {
        let taps = Taps::new(g);
        let img_in = g.in_h * g.in_w * g.in_c;
        let img_out = g.out_h * g.out_w * g.out_c;
        let w = &w[..g.filter_len()];
        let wide = if isa == Isa::Avx512 {
            E::Avx512::try_new()
        } else {
            None
        };
        per_image(g.batch, x, img_in, out, img_out, |img, o, _| match wide {
            // SAFETY: the token `v` exists, so AVX-512F, AVX2 and FMA were detected.
            Some(v) => unsafe { avx512::forward_image(v, g, &taps, img, w, bias, act, o) },
            // SAFETY: the token `t` exists, so AVX2 and FMA were detected on this CPU.
            None => unsafe { avx2::forward_image(t, g, &taps, img, w, bias, act, o) },
        });
        return true;
    }
    let _ = (isa, g, x, w, bias, act, out);
    false
}

/// **Adds** `∂L/∂filters` (`Σ x ⊗ ∂Y` over the windows) into `dw` by the SIMD direct kernel on
/// `isa` (each task sums its share of the batch into its own buffer, added in task order);
/// `false` (nothing written) when this file has no kernel for `g`, `isa` or `F`.
pub(crate) fn filter_grad<F: Float + Send + Sync + 'static>(
    isa: Isa,
    g: &Conv2dGeometry,
    x: &[F],
    dy: &[F],
    dw: &mut [F],
) -> bool {
    if !handles(isa, g) {
        return false;
    }
    if same_type::<F, f32>() {
        // SAFETY: `F` is `f32` (same `TypeId`).
        let (x, dy, dw) = unsafe { (cast(x), cast(dy), cast_mut(dw)) };
        return filter_grad_typed::<f32>(isa, g, x, dy, dw);
    }
    if same_type::<F, f64>() {
        // SAFETY: `F` is `f64` (same `TypeId`).
        let (x, dy, dw) = unsafe { (cast(x), cast(dy), cast_mut(dw)) };
        return filter_grad_typed::<f64>(isa, g, x, dy, dw);
    }
    false
}

fn filter_grad_typed<E: SimdElem>(isa: Isa, g: &Conv2dGeometry, x: &[E], dy: &[E], dw: &mut [E]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = E::Avx2::try_new() {
        let taps = Taps::new(g);
        let img_in = g.in_h * g.in_w * g.in_c;
        let img_out = g.out_h * g.out_w * g.out_c;
        let dw = &mut dw[..g.filter_len()];
        // With AVX-512 one pass over each image covers all taps of 32 filters (measured on a
        // Zen 4: conv1 of the MNIST CNN, see docs/convolutions.md); otherwise the AVX2 blocks.
        let wide = if isa == Isa::Avx512 {
            E::Avx512::try_new()
        } else {
            None
        };
        let images = |range: Range<usize>, acc: &mut [E]| {
            for b in range {
                let (img, d) = (&x[b * img_in..][..img_in], &dy[b * img_out..][..img_out]);
                match wide {
                    // SAFETY: the token `w` exists, so AVX-512F, AVX2 and FMA were detected.
                    Some(w) => unsafe { grad_avx512::grad_image(w, g, &taps, img, d, acc) },
                    // SAFETY: the token `t` exists, so AVX2 and FMA were detected on this CPU.
                    None => unsafe { grad_avx2::grad_image(t, g, &taps, img, d, acc) },
                }
            }
        };
        sum_per_task(g.batch, dw, images);
        return true;
    }
    let _ = (g, x, dy, dw);
    false
}

#[cfg(test)]
#[path = "direct_tests.rs"]
pub(super) mod tests;
