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
//! [`super::conv`] run instead. They are the oracle of the tests (`tests.rs`).

use std::ops::Range;

use num_traits::Float;

use super::punning::{cast, cast_mut, same_type};
use super::Conv2dGeometry;
use crate::kernels::dispatch::{Isa, SimdElem};
use crate::kernels::gemm::Epilogue;
use crate::kernels::simd::Simd;
use crate::kernels::tasks::{per_image, sum_per_task};
use crate::kernels::UnaryOp;

mod filter_grad;
mod forward;
mod taps;

use filter_grad::grad_image;
use forward::forward_image;
pub(super) use forward::relu;
use taps::Taps;

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
pub(super) mod tests;
