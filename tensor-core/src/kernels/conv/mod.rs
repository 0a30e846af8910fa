//! 2-D convolution and pooling over NHWC slices: forward and backward passes over run-time
//! sizes, shared by the tape ops (`crate::ops::conv`) and the layers of tensor-nn.
//!
//! Layout: images are `[batch, height, width, channels]` row-major; filters are HWIO,
//! `[kh, kw, in_channels / groups, out_channels]` (Keras). A convolution is an im2col into a
//! reused buffer (`col`: one row per output pixel holding, group by group, the `kh·kw·cg`
//! inputs under the window, zeros in the padding) followed by one GEMM per group (a
//! stride-1, unpadded 1×1 convolution skips the im2col: the image already is that matrix).
//! The bias and the activation run in the GEMM's epilogue. The backward pass forms
//! `∂W = colᵀ·∂Y` and `∂col = ∂Y·Wᵀ` (strided GEMMs, no transposed copies) and scatters `∂col`
//! back onto the image (col2im). The im2col, col2im and pooling loops run over the batch on
//! the kernels' thread pool.
//!
//! Padding follows Keras/TensorFlow: `Same` gives `ceil(len / stride)` outputs and splits the
//! total padding with the smaller half before (`before = total / 2`); average pooling with
//! `Same` divides by the number of cells inside the image.
//!
//! ```
//! use tensor_core::kernels::conv::{conv2d_forward, Conv2d, Conv2dGeometry};
//! use tensor_core::kernels::Epilogue;
//!
//! // a 3×3 image, one channel, a 2×2 all-ones filter, valid padding: sums of 2×2 windows.
//! let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
//! let w = [1.0f32; 4];
//! let g = Conv2dGeometry::try_new("conv2d", 1, [3, 3, 1], [2, 2], 1, &Conv2d::default()).unwrap();
//! assert_eq!((g.out_h, g.out_w), (2, 2));
//! let (mut out, mut col) = (vec![0.0f32; 4], Vec::new());
//! conv2d_forward(&g, &x, &w, Epilogue::default(), &mut out, &mut col);
//! assert_eq!(out, [12.0, 16.0, 24.0, 28.0]);
//! ```

use num_traits::Float;

use super::dispatch;
use super::gemm::{gemm, gemm_fused, Epilogue, GemmArgs};
use im2col::im2col_into;
use portable::{direct_filter_grad, direct_forward, direct_input_grad};

mod conv_pool;
mod direct;
mod geometry;
mod im2col;
mod implicit;
mod pool;
mod pool_simd;
mod portable;
mod punning;
#[cfg(test)]
mod tests;

pub use conv_pool::{conv2d_max_pool_backward, conv2d_max_pool_forward};
pub use geometry::{Conv2d, Conv2dGeometry, Padding, Pool2d, Pool2dGeometry, Window, DIRECT_MAX_PATCH};
pub use im2col::{col2im_add, im2col, images_per_chunk, COL_CHUNK};
pub use pool::{
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward,
};

/// `out = activation(conv(x, filters) + bias)`: `x` is `[batch, h, w, in_c]`, `filters`
/// `[kh, kw, in_c / groups, out_c]`, `out` `[batch, out_h, out_w, out_c]` (overwritten);
/// the bias (length `out_c`) and activation of `epilogue` run inside the GEMM. `col` is the
/// reused im2col buffer; afterwards it holds `im2col(x)`, which [`conv2d_backward`] reads,
/// or is empty where [`conv2d_needs_col`] is false (the windows are then read from `x`).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes or the bias is not `out_c` long.
pub fn conv2d_forward<F: Float + Send + Sync + 'static>(
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    epilogue: Epilogue<'_, F>,
    out: &mut [F],
    col: &mut Vec<F>,
) {
    assert!(
        x.len() >= g.input_len() && filters.len() >= g.filter_len() && out.len() >= g.output_len(),
        "conv2d: buffers too short for {g:?}"
    );
    if let Some(b) = epilogue.bias {
        assert_eq!(
            b.len(),
            g.out_c,
            "conv2d: the bias must have one value per filter"
        );
    }
    let m = g.batch * g.out_h * g.out_w;
    if m == 0 {
        return;
    }
    if g.is_direct() {
        col.clear();
        if !direct::forward(dispatch::active_isa(), g, x, filters, epilogue, out) {
            direct_forward(g, x, filters, epilogue, out);
        }
        return;
    }
    if implicit::forward(dispatch::active_isa(), g, x, filters, epilogue, out) {
        col.clear();
        return;
    }
    let (kk, ocg) = (g.patch_len(), g.group_out());
    let gemms = |a: &[F], out: &mut [F], m: usize| {
        for gi in 0..g.groups {
            gemm_fused(
                GemmArgs {
                    m,
                    n: ocg,
                    k: kk,
                    alpha: F::one(),
                    a: &a[gi * kk..],
                    a_rs: g.groups * kk,
                    a_cs: 1,
                    b: &filters[gi * ocg..],
                    b_rs: g.out_c,
                    b_cs: 1,
                    beta: F::zero(),
                    c: &mut out[gi * ocg..],
                    c_rs: g.out_c,
                },
                Epilogue {
                    bias: epilogue.bias.map(|b| &b[gi * ocg..][..ocg]),
                    activation: epilogue.activation,
                },
            );
        }
    };
    if g.is_pointwise() {
        col.clear();
        return gemms(x, out, m);
    }
    // A few images at a time: each chunk's rows of `col` are still in cache for its GEMM.
    col.resize(g.col_len(), F::zero());
    let per_image = g.col_len() / g.batch;
    let chunk = images_per_chunk(per_image, g.batch);
    let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
    let mut b0 = 0;
    while b0 < g.batch {
        let n = chunk.min(g.batch - b0);
        let gc = Conv2dGeometry { batch: n, ..*g };
        let rows = &mut col[b0 * per_image..][..n * per_image];
        im2col_into(&gc, &x[b0 * img_in..], rows);
        gemms(rows, &mut out[b0 * img_out..], n * g.out_h * g.out_w);
        b0 += n;
    }
}

/// Where [`conv2d_backward`] adds its gradients (`None`: not needed).
#[derive(Debug, Default)]
pub struct Conv2dGrads<'a, F> {
    /// `∂L/∂x`, `[batch, h, w, in_c]`.
    pub input: Option<&'a mut [F]>,
    /// `∂L/∂filters`, `[kh, kw, in_c / groups, out_c]`.
    pub filters: Option<&'a mut [F]>,
    /// `∂L/∂bias`, `[out_c]`.
    pub bias: Option<&'a mut [F]>,
}

/// Backward pass of [`conv2d_forward`] given `dy = ∂L/∂(conv + bias)` (the activation's
/// derivative already applied): **adds** `∂L/∂x`, `∂L/∂filters` and `∂L/∂bias` into the
/// buffers of `grads`. `col` must hold `im2col(x)` as left by [`conv2d_forward`] (or
/// [`im2col`]); `dcol` is a reused scratch buffer.
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn conv2d_backward<F: Float + Send + Sync + 'static>(
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    col: &[F],
    dy: &[F],
    grads: Conv2dGrads<'_, F>,
    dcol: &mut Vec<F>,
) {
    let m = g.batch * g.out_h * g.out_w;
    assert!(dy.len() >= g.output_len(), "conv2d backward: dy too short");
    if m == 0 {
        return;
    }
    let (kk, ocg, row) = (g.patch_len(), g.group_out(), g.groups * g.patch_len());
    if let Some(db) = grads.bias {
        for r in dy[..m * g.out_c].chunks_exact(g.out_c) {
            db.iter_mut().zip(r).for_each(|(s, &v)| *s = *s + v);
        }
    }
    if g.is_direct() {
        if let Some(dw) = grads.filters {
            if !direct::filter_grad(dispatch::active_isa(), g, x, dy, dw) {
                direct_filter_grad(g, x, dy, dw);
            }
        }
        if let Some(dx) = grads.input {
            direct_input_grad(g, filters, dy, dx);
        }
        return;
    }
    if implicit::handles::<F>(dispatch::active_isa(), g) {
        implicit::backward(
            dispatch::active_isa(),
            g,
            x,
            filters,
            dy,
            grads.filters,
            grads.input,
        );
        return;
    }
    if let Some(dw) = grads.filters {
        // Only ∂W reads `col` (∂x goes through ∂col and col2im), so only it needs `im2col(x)`.
        let a: &[F] = if g.is_pointwise() { x } else { col };
        assert!(a.len() >= m * row, "conv2d backward: col does not hold im2col(x)");
        for gi in 0..g.groups {
            // ∂W_g = col_gᵀ · ∂Y_g: col read with swapped strides.
            gemm(GemmArgs {
                m: kk,
                n: ocg,
                k: m,
                alpha: F::one(),
                a: &a[gi * kk..],
                a_rs: 1,
                a_cs: row,
                b: &dy[gi * ocg..],
                b_rs: g.out_c,
                b_cs: 1,
                beta: F::one(),
                c: &mut dw[gi * ocg..],
                c_rs: g.out_c,
            });
        }
    }
    if let Some(dx) = grads.input {
        if g.is_pointwise() {
            // ∂x = ∂Y · Wᵀ straight into the image.
            gemm(GemmArgs {
                m,
                n: g.in_c,
                k: g.out_c,
                alpha: F::one(),
                a: dy,
                a_rs: g.out_c,
                a_cs: 1,
                b: filters,
                b_rs: 1,
                b_cs: g.out_c,
                beta: F::one(),
                c: dx,
                c_rs: g.in_c,
            });
            return;
        }
        // A few images at a time, so each chunk's ∂col is still in cache when col2im reads it.
        let per_image = g.out_h * g.out_w * row;
        let chunk = images_per_chunk(per_image, g.batch);
        let (img_in, img_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
        dcol.resize(chunk * per_image, F::zero());
        let mut b0 = 0;
        while b0 < g.batch {
            let n = chunk.min(g.batch - b0);
            let gc = Conv2dGeometry { batch: n, ..*g };
            for gi in 0..g.groups {
                // ∂col_g = ∂Y_g · W_gᵀ: W read with swapped strides.
                gemm(GemmArgs {
                    m: n * g.out_h * g.out_w,
                    n: kk,
                    k: ocg,
                    alpha: F::one(),
                    a: &dy[b0 * img_out + gi * ocg..],
                    a_rs: g.out_c,
                    a_cs: 1,
                    b: &filters[gi * ocg..],
                    b_rs: 1,
                    b_cs: g.out_c,
                    beta: F::zero(),
                    c: &mut dcol[gi * kk..],
                    c_rs: row,
                });
            }
            col2im_add(&gc, &dcol[..n * per_image], &mut dx[b0 * img_in..]);
            b0 += n;
        }
    }
}

/// Whether [`conv2d_backward`] reads the im2col matrix for `g` with elements `F`: false for
/// the direct, pointwise and implicit paths, which read the image itself (and for which
/// [`conv2d_forward`] leaves `col` empty).
pub fn conv2d_needs_col<F: 'static>(g: &Conv2dGeometry) -> bool {
    !(g.is_direct() || g.is_pointwise() || implicit::handles::<F>(dispatch::active_isa(), g))
}

/// Turns the implicit-GEMM path (windows read from the image, no im2col matrix) off or back on,
/// for side-by-side measurements of the two paths; on by default. Process-wide.
#[doc(hidden)]
pub fn set_implicit_conv(on: bool) {
    implicit::set_enabled(on);
}
