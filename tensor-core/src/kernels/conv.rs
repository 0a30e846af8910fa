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
use rayon::prelude::*;

use super::gemm::{gemm, gemm_fused, Epilogue, GemmArgs};
use super::{conv_direct, conv_implicit, dispatch, pool_simd, threads};
use crate::error::{Result, TensorError};

pub use super::conv_pool::{conv2d_max_pool_backward, conv2d_max_pool_forward};

/// How a window is placed over the borders of the input (Keras' `padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding: only windows fully inside the input (`(len − span) / stride + 1` outputs).
    #[default]
    Valid,
    /// `ceil(len / stride)` outputs, padding split as TensorFlow does (smaller half first).
    Same,
    /// Explicit zero padding on each side.
    Explicit {
        /// Rows added above.
        top: usize,
        /// Rows added below.
        bottom: usize,
        /// Columns added on the left.
        left: usize,
        /// Columns added on the right.
        right: usize,
    },
}

/// One spatial axis of a window: padding before the input and the number of outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Padding before the first input cell.
    pub before: usize,
    /// Number of output positions.
    pub out: usize,
}

impl Padding {
    /// The window along `axis` (0: height, 1: width) for an input of `len` cells, a kernel of
    /// `kernel` taps spaced `dilation` apart, moved by `stride`; `None` when the kernel's span
    /// does not fit the (padded) input or a size is zero.
    pub fn window(
        &self,
        axis: usize,
        len: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> Option<Window> {
        if len == 0 || kernel == 0 || stride == 0 || dilation == 0 {
            return None;
        }
        let span = (kernel - 1) * dilation + 1;
        match *self {
            Padding::Valid => (len >= span).then(|| Window {
                before: 0,
                out: (len - span) / stride + 1,
            }),
            Padding::Same => {
                let out = len.div_ceil(stride);
                let total = ((out - 1) * stride + span).saturating_sub(len);
                Some(Window {
                    before: total / 2,
                    out,
                })
            }
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => {
                let (b, a) = if axis == 0 { (top, bottom) } else { (left, right) };
                let padded = len + b + a;
                (padded >= span).then(|| Window {
                    before: b,
                    out: (padded - span) / stride + 1,
                })
            }
        }
    }
}

/// The hyper-parameters of a 2-D convolution (Keras' `Conv2D` arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    /// Step of the window along (height, width).
    pub stride: (usize, usize),
    /// Border handling.
    pub padding: Padding,
    /// Spacing of the kernel taps along (height, width) (1: contiguous).
    pub dilation: (usize, usize),
    /// Channel groups: input and output channels are split into this many independent groups
    /// (1: a full convolution; the number of input channels: depthwise).
    pub groups: usize,
}

impl Default for Conv2d {
    /// Stride 1, valid padding, no dilation, one group.
    fn default() -> Self {
        Conv2d {
            stride: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// All sizes of one 2-D convolution over a batch, resolved and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Output channels (filters).
    pub out_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Dilation (height, width).
    pub dilation: (usize, usize),
    /// Padding above and on the left.
    pub pad: (usize, usize),
    /// Channel groups.
    pub groups: usize,
}

fn bad(op: &'static str, dim: &'static str, len: usize, reason: String) -> TensorError {
    TensorError::BadLength { op, dim, len, reason }
}

/// Resolves one axis, or says why it cannot be.
#[allow(clippy::too_many_arguments)]
fn axis_window(
    op: &'static str,
    dim: &'static str,
    axis: usize,
    len: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: &Padding,
) -> Result<Window> {
    if stride == 0 || dilation == 0 {
        return Err(bad(
            op,
            dim,
            len,
            ": stride and dilation must be at least 1".into(),
        ));
    }
    if kernel == 0 {
        return Err(bad(op, dim, len, ": the window has size 0".into()));
    }
    padding.window(axis, len, kernel, stride, dilation).ok_or_else(|| {
        let span = (kernel - 1) * dilation + 1;
        bad(
            op,
            dim,
            len,
            format!(": the window spans {span} cells (size {kernel}, dilation {dilation}), more than the padded input ({padding:?})"),
        )
    })
}

impl Conv2dGeometry {
    /// Resolves the output size of a convolution of `batch` images of `[h, w, c]` by filters
    /// of `[kh, kw]` producing `out_c` channels. `op` names the operation in errors, whose
    /// `dim` is `"height"`, `"width"` or `"channels"`.
    ///
    /// # Errors
    /// [`TensorError::BadLength`] when the kernel's span exceeds the padded input, a stride,
    /// dilation or group count is 0, or the channels are not divisible by the groups.
    pub fn try_new(
        op: &'static str,
        batch: usize,
        input: [usize; 3],
        kernel: [usize; 2],
        out_c: usize,
        conv: &Conv2d,
    ) -> Result<Self> {
        let [in_h, in_w, in_c] = input;
        let g = conv.groups;
        if g == 0 || !in_c.is_multiple_of(g) || !out_c.is_multiple_of(g) || out_c == 0 {
            return Err(bad(
                op,
                "channels",
                in_c,
                format!(
                    " with {out_c} filters in {g} group(s): both must be non-zero multiples of the groups"
                ),
            ));
        }
        let wh = axis_window(
            op,
            "height",
            0,
            in_h,
            kernel[0],
            conv.stride.0,
            conv.dilation.0,
            &conv.padding,
        )?;
        let ww = axis_window(
            op,
            "width",
            1,
            in_w,
            kernel[1],
            conv.stride.1,
            conv.dilation.1,
            &conv.padding,
        )?;
        Ok(Conv2dGeometry {
            batch,
            in_h,
            in_w,
            in_c,
            k_h: kernel[0],
            k_w: kernel[1],
            out_c,
            out_h: wh.out,
            out_w: ww.out,
            stride: conv.stride,
            dilation: conv.dilation,
            pad: (wh.before, ww.before),
            groups: g,
        })
    }

    /// Input channels per group.
    pub fn group_in(&self) -> usize {
        self.in_c / self.groups
    }

    /// Output channels per group.
    pub fn group_out(&self) -> usize {
        self.out_c / self.groups
    }

    /// Inputs under one window for one group: `kh · kw · in_c / groups`.
    pub fn patch_len(&self) -> usize {
        self.k_h * self.k_w * self.group_in()
    }

    /// Values of the input (`batch · h · w · c`).
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }

    /// Values of the output (`batch · out_h · out_w · out_c`).
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }

    /// Values of the filters (`kh · kw · in_c / groups · out_c`).
    pub fn filter_len(&self) -> usize {
        self.patch_len() * self.out_c
    }

    /// Values of the im2col buffer (0 for a pointwise or a direct convolution, which need none).
    pub fn col_len(&self) -> usize {
        if self.is_pointwise() || self.is_direct() {
            0
        } else {
            self.batch * self.out_h * self.out_w * self.groups * self.patch_len()
        }
    }

    /// Multiply-adds of the forward pass.
    pub fn macs(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c * self.patch_len()
    }

    /// A 1×1, stride-1, unpadded, single-group convolution: a plain GEMM over the image.
    pub fn is_pointwise(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.stride == (1, 1) && self.pad == (0, 0) && self.groups == 1
    }

    /// Whether the convolution runs as direct loops rather than im2col + GEMM: windows of at
    /// most [`DIRECT_MAX_PATCH`] inputs per group (a first layer on 1–2 channels, depthwise),
    /// where a GEMM with such a short inner dimension cannot amortise its packing.
    pub fn is_direct(&self) -> bool {
        !self.is_pointwise() && self.patch_len() <= DIRECT_MAX_PATCH
    }

    /// For a window at output `(oy, ox)` wholly inside the image, with one group and adjacent
    /// taps along the width: the length `kw · c` of each window row, which is one run of
    /// consecutive inputs, and the index within the image of each row's first input (row `ky`
    /// fills `col[ky · run ..]` of the window's im2col row). `None` otherwise.
    fn window_runs(&self, oy: usize, ox: usize) -> Option<(usize, impl Iterator<Item = usize> + '_)> {
        let inside = self.groups == 1
            && self.dilation.1 == 1
            && self.tap(oy, ox, 0, 0).is_some()
            && self.tap(oy, ox, self.k_h - 1, self.k_w - 1).is_some();
        let run = self.k_w * self.in_c;
        inside.then(|| {
            let starts = (0..self.k_h).filter_map(move |ky| {
                let (iy, ix) = self.tap(oy, ox, ky, 0)?;
                Some((iy * self.in_w + ix) * self.in_c)
            });
            (run, starts)
        })
    }

    /// The input row and column under tap `(ky, kx)` of the window at output `(oy, ox)`, when
    /// inside the image.
    #[inline]
    pub(crate) fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.stride.0 + ky * self.dilation.0).checked_sub(self.pad.0)?;
        let ix = (ox * self.stride.1 + kx * self.dilation.1).checked_sub(self.pad.1)?;
        (iy < self.in_h && ix < self.in_w).then_some((iy, ix))
    }
}

/// Windows of at most this many inputs per group run as direct loops (see
/// [`Conv2dGeometry::is_direct`]).
pub const DIRECT_MAX_PATCH: usize = 16;

/// Whether splitting `batch` images over the pool is worth it.
fn par_batch(batch: usize) -> bool {
    batch > 1 && threads::num_threads() > 1
}

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
fn im2col_into<F: Float + Send + Sync>(g: &Conv2dGeometry, x: &[F], col: &mut [F]) {
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
        if !conv_direct::forward(dispatch::active_isa(), g, x, filters, epilogue, out) {
            direct_forward(g, x, filters, epilogue, out);
        }
        return;
    }
    if conv_implicit::forward(dispatch::active_isa(), g, x, filters, epilogue, out) {
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

/// `acc[j] += v · w[j]`.
#[inline(always)]
fn axpy<F: Float>(acc: &mut [F], v: F, w: &[F]) {
    acc.iter_mut().zip(w).for_each(|(a, &b)| *a = *a + v * b);
}

/// `acc[j] += x[j] · w[j]`.
#[inline(always)]
fn fma_rows<F: Float>(acc: &mut [F], x: &[F], w: &[F]) {
    acc.iter_mut()
        .zip(x.iter().zip(w))
        .for_each(|(a, (&p, &q))| *a = *a + p * q);
}

/// Direct forward loops: per output pixel, per tap inside the image, `out += x · W[tap]`
/// (one axpy over the group's filters per input channel; depthwise with multiplier 1 is a
/// channel-wise product), then the bias and activation.
pub(super) fn direct_forward<F: Float + Send + Sync>(
    g: &Conv2dGeometry,
    x: &[F],
    filters: &[F],
    epilogue: Epilogue<'_, F>,
    out: &mut [F],
) {
    let (cg, ocg, oc) = (g.group_in(), g.group_out(), g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h * g.out_w * oc;
    let channelwise = cg == 1 && ocg == 1;
    per_image(g.batch, x, img_in, out, img_out, |img, o, _| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let orow = &mut o[(oy * g.out_w + ox) * oc..][..oc];
                match epilogue.bias {
                    Some(b) => orow.copy_from_slice(&b[..oc]),
                    None => orow.iter_mut().for_each(|v| *v = F::zero()),
                }
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let xin = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let tap = (ky * g.k_w + kx) * cg;
                        if channelwise {
                            fma_rows(orow, xin, &filters[tap * oc..][..oc]);
                            continue;
                        }
                        for gi in 0..g.groups {
                            let acc = &mut orow[gi * ocg..][..ocg];
                            for ci in 0..cg {
                                axpy(
                                    acc,
                                    xin[gi * cg + ci],
                                    &filters[(tap + ci) * oc + gi * ocg..][..ocg],
                                );
                            }
                        }
                    }
                }
                if let Some(op) = epilogue.activation {
                    orow.iter_mut()
                        .for_each(|v| *v = super::scalar::apply_unary(op, *v));
                }
            }
        }
    });
}

/// Direct `∂W += Σ x ⊗ ∂Y` over the windows; each task sums its share of the batch into its own
/// buffer, and the buffers are added in task order.
pub(super) fn direct_filter_grad<F: Float + Send + Sync>(
    g: &Conv2dGeometry,
    x: &[F],
    dy: &[F],
    dw: &mut [F],
) {
    let (cg, ocg, oc) = (g.group_in(), g.group_out(), g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h * g.out_w * oc;
    let channelwise = cg == 1 && ocg == 1;
    let one = |images: core::ops::Range<usize>| -> Vec<F> {
        let mut acc = vec![F::zero(); g.filter_len()];
        for b in images {
            let img = &x[b * img_in..][..img_in];
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let grow = &dy[b * img_out + (oy * g.out_w + ox) * oc..][..oc];
                    for ky in 0..g.k_h {
                        for kx in 0..g.k_w {
                            let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                                continue;
                            };
                            let xin = &img[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                            let tap = (ky * g.k_w + kx) * cg;
                            if channelwise {
                                fma_rows(&mut acc[tap * oc..][..oc], xin, grow);
                                continue;
                            }
                            for gi in 0..g.groups {
                                for ci in 0..cg {
                                    axpy(
                                        &mut acc[(tap + ci) * oc + gi * ocg..][..ocg],
                                        xin[gi * cg + ci],
                                        &grow[gi * ocg..][..ocg],
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        acc
    };
    let tasks = if par_batch(g.batch) {
        threads::num_threads().min(g.batch)
    } else {
        1
    };
    let per = g.batch.div_ceil(tasks);
    let ranges: Vec<_> = (0..tasks)
        .map(|t| t * per..((t + 1) * per).min(g.batch))
        .collect();
    let parts: Vec<Vec<F>> = if tasks > 1 {
        threads::install(|| ranges.into_par_iter().map(one).collect())
    } else {
        ranges.into_iter().map(one).collect()
    };
    for p in parts {
        dw.iter_mut().zip(&p).for_each(|(d, &v)| *d = *d + v);
    }
}

/// Direct `∂x += Σ W[tap] · ∂Y` (per image, over the pool).
fn direct_input_grad<F: Float + Send + Sync>(g: &Conv2dGeometry, filters: &[F], dy: &[F], dx: &mut [F]) {
    let (cg, ocg, oc) = (g.group_in(), g.group_out(), g.out_c);
    let img_in = g.in_h * g.in_w * g.in_c;
    let img_out = g.out_h * g.out_w * oc;
    let channelwise = cg == 1 && ocg == 1;
    let one = |(d, gy): (&mut [F], &[F])| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let grow = &gy[(oy * g.out_w + ox) * oc..][..oc];
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let dxin = &mut d[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let tap = (ky * g.k_w + kx) * cg;
                        if channelwise {
                            fma_rows(dxin, &filters[tap * oc..][..oc], grow);
                            continue;
                        }
                        for gi in 0..g.groups {
                            let gg = &grow[gi * ocg..][..ocg];
                            for ci in 0..cg {
                                let w = &filters[(tap + ci) * oc + gi * ocg..][..ocg];
                                let dot = w.iter().zip(gg).fold(F::zero(), |s, (&a, &b)| s + a * b);
                                dxin[gi * cg + ci] = dxin[gi * cg + ci] + dot;
                            }
                        }
                    }
                }
            }
        }
    };
    let pairs = dx[..g.input_len()].chunks_mut(img_in).zip(dy.chunks(img_out));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
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
            if !conv_direct::filter_grad(dispatch::active_isa(), g, x, dy, dw) {
                direct_filter_grad(g, x, dy, dw);
            }
        }
        if let Some(dx) = grads.input {
            direct_input_grad(g, filters, dy, dx);
        }
        return;
    }
    if conv_implicit::handles::<F>(dispatch::active_isa(), g) {
        conv_implicit::backward(
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
    !(g.is_direct() || g.is_pointwise() || conv_implicit::handles::<F>(dispatch::active_isa(), g))
}

/// Turns the implicit-GEMM path (windows read from the image, no im2col matrix) off or back on,
/// for side-by-side measurements of the two paths; on by default. Process-wide.
#[doc(hidden)]
pub fn set_implicit_conv(on: bool) {
    conv_implicit::set_enabled(on);
}

/// Most values of `col` (forward) or `∂col` (backward) one chunk of images forms (1 MiB of
/// f32) before its GEMM or col2im reads them back (one image at least).
pub const COL_CHUNK: usize = 1 << 18;

/// Images per chunk when each image forms `per_image` im2col values: as many as
/// [`COL_CHUNK`] holds, at least one and at most `batch`.
pub fn images_per_chunk(per_image: usize, batch: usize) -> usize {
    (COL_CHUNK / per_image.max(1)).clamp(1, batch.max(1))
}

/// All sizes of one 2-D pooling over a batch, resolved and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (unchanged by pooling).
    pub channels: usize,
    /// Window (height, width).
    pub pool: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Padding above and on the left.
    pub pad: (usize, usize),
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

/// The hyper-parameters of a 2-D pooling (Keras' `MaxPooling2D` / `AveragePooling2D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    /// Window (height, width).
    pub pool: (usize, usize),
    /// Step (height, width); `None`: the window size (Keras' default).
    pub stride: Option<(usize, usize)>,
    /// Border handling (`Valid` or `Same`; explicit padding is treated as outside cells).
    pub padding: Padding,
}

impl Default for Pool2d {
    /// A 2×2 window, stride 2, valid padding.
    fn default() -> Self {
        Pool2d {
            pool: (2, 2),
            stride: None,
            padding: Padding::Valid,
        }
    }
}

impl Pool2dGeometry {
    /// Resolves the output size of pooling `batch` images of `[h, w, c]`.
    ///
    /// # Errors
    /// [`TensorError::BadLength`] (dim `"height"` or `"width"`) when the window exceeds the
    /// padded input or a window or stride size is 0.
    pub fn try_new(op: &'static str, batch: usize, input: [usize; 3], pool: &Pool2d) -> Result<Self> {
        let [in_h, in_w, channels] = input;
        let stride = pool.stride.unwrap_or(pool.pool);
        let wh = axis_window(op, "height", 0, in_h, pool.pool.0, stride.0, 1, &pool.padding)?;
        let ww = axis_window(op, "width", 1, in_w, pool.pool.1, stride.1, 1, &pool.padding)?;
        Ok(Pool2dGeometry {
            batch,
            in_h,
            in_w,
            channels,
            pool: pool.pool,
            stride,
            pad: (wh.before, ww.before),
            out_h: wh.out,
            out_w: ww.out,
        })
    }

    /// Values of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.channels
    }

    /// Values of the output.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.channels
    }

    /// The input rows and columns covered by the window at `(oy, ox)`, clipped to the image.
    #[inline]
    pub(crate) fn span(&self, oy: usize, ox: usize) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
        let y0 = oy * self.stride.0;
        let x0 = ox * self.stride.1;
        let ys = y0.saturating_sub(self.pad.0)..(y0 + self.pool.0).saturating_sub(self.pad.0).min(self.in_h);
        let xs = x0.saturating_sub(self.pad.1)..(x0 + self.pool.1).saturating_sub(self.pad.1).min(self.in_w);
        (ys, xs)
    }
}

/// Runs `f(image_in, image_out, image_index)` for each image, over the pool when it pays.
pub(super) fn per_image<F: Send + Sync, G: Send>(
    batch: usize,
    x: &[F],
    img_in: usize,
    out: &mut [G],
    img_out: usize,
    f: impl Fn(&[F], &mut [G], usize) + Sync,
) {
    if img_in == 0 || img_out == 0 {
        return;
    }
    let pairs = out[..batch * img_out]
        .chunks_mut(img_out)
        .zip(x.chunks(img_in))
        .enumerate();
    if par_batch(batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(|(i, (o, x))| f(x, o, i)));
    } else {
        pairs.for_each(|(i, (o, x))| f(x, o, i));
    }
}

/// Max pooling: `out[b, oy, ox, c]` is the largest input under the window (padding cells are
/// ignored). When `argmax` is given it is resized to the output's length and receives, per
/// output, the index within its image (`(iy · w + ix) · c + ch`) of the first largest input in
/// scan order: the cell [`max_pool2d_backward`] routes the gradient to (as TensorFlow).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn max_pool2d_forward<F: Float + Send + Sync + 'static>(
    g: &Pool2dGeometry,
    x: &[F],
    out: &mut [F],
    argmax: Option<&mut Vec<u32>>,
) {
    assert!(
        x.len() >= g.input_len() && out.len() >= g.output_len(),
        "max_pool2d: buffers too short"
    );
    let (img_in, img_out) = (g.in_h * g.in_w * g.channels, g.out_h * g.out_w * g.channels);
    let pool_one = |img: &[F], o: &mut [F], mut arg: Option<&mut [u32]>| {
        if !pool_simd::max_pool_image(dispatch::active_isa(), g, img, o, arg.as_deref_mut()) {
            max_pool_image_portable(g, img, o, arg);
        }
    };
    match argmax {
        Some(arg) => {
            arg.clear();
            arg.resize(g.output_len(), u32::MAX);
            // pair each image's output with its argmax rows
            let mut joint: Vec<(usize, &mut [F], &mut [u32])> = out[..g.output_len()]
                .chunks_mut(img_out)
                .zip(arg.chunks_mut(img_out))
                .enumerate()
                .map(|(i, (o, a))| (i, o, a))
                .collect();
            let run = |(i, o, a): &mut (usize, &mut [F], &mut [u32])| {
                pool_one(&x[*i * img_in..][..img_in], o, Some(a))
            };
            if par_batch(g.batch) {
                threads::install(|| joint.par_iter_mut().for_each(run));
            } else {
                joint.iter_mut().for_each(run);
            }
        }
        None => per_image(g.batch, x, img_in, out, img_out, |img, o, _| {
            pool_one(img, o, None)
        }),
    }
}

/// Max pooling of one image by portable loops (`o`, and `arg` when given, overwritten): the
/// path without SIMD and the oracle of `pool_simd`'s tests. Without `arg` a NaN loses to any
/// number (`Float::max`); with it the first cell is taken as it is and later ones when larger.
pub(super) fn max_pool_image_portable<F: Float>(
    g: &Pool2dGeometry,
    img: &[F],
    o: &mut [F],
    mut arg: Option<&mut [u32]>,
) {
    let c = g.channels;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let at = (oy * g.out_w + ox) * c;
            let orow = &mut o[at..at + c];
            orow.iter_mut().for_each(|v| *v = F::neg_infinity());
            let mut arow = arg.as_deref_mut().map(|a| &mut a[at..at + c]);
            let (ys, xs) = g.span(oy, ox);
            let mut first = true;
            for iy in ys {
                for ix in xs.clone() {
                    let base = (iy * g.in_w + ix) * c;
                    let src = &img[base..base + c];
                    match arow.as_deref_mut() {
                        // The first cell is taken as it is (even NaN), later ones when
                        // larger; selects rather than branches, so the loops vectorise.
                        Some(ar) if first => {
                            orow.copy_from_slice(src);
                            for (ch, a) in ar.iter_mut().enumerate() {
                                *a = (base + ch) as u32;
                            }
                        }
                        Some(ar) => {
                            for (ch, ((m, a), &v)) in orow.iter_mut().zip(ar.iter_mut()).zip(src).enumerate()
                            {
                                let take = v > *m;
                                *m = if take { v } else { *m };
                                *a = if take { (base + ch) as u32 } else { *a };
                            }
                        }
                        None => orow.iter_mut().zip(src).for_each(|(m, &v)| *m = m.max(v)),
                    }
                    first = false;
                }
            }
        }
    }
}

/// Backward pass of max pooling: **adds** each `dy` value to `dx` at the input its `argmax`
/// entry names (from [`max_pool2d_forward`]).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn max_pool2d_backward<F: Float + Send + Sync>(
    g: &Pool2dGeometry,
    argmax: &[u32],
    dy: &[F],
    dx: &mut [F],
) {
    let (img_in, img_out) = (g.in_h * g.in_w * g.channels, g.out_h * g.out_w * g.channels);
    assert!(
        argmax.len() >= g.output_len() && dy.len() >= g.output_len() && dx.len() >= g.input_len(),
        "max_pool2d backward: buffers too short"
    );
    let one = |(d, (a, gy)): (&mut [F], (&[u32], &[F]))| {
        for (&i, &v) in a.iter().zip(gy) {
            if let Some(cell) = d.get_mut(i as usize) {
                *cell = *cell + v;
            }
        }
    };
    let pairs = dx[..g.input_len()]
        .chunks_mut(img_in)
        .zip(argmax.chunks(img_out).zip(dy.chunks(img_out)));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}

/// Average pooling: `out[b, oy, ox, c]` is the mean of the inputs under the window that lie
/// inside the image (Keras/TensorFlow: padding cells are not counted).
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn avg_pool2d_forward<F: Float + Send + Sync>(g: &Pool2dGeometry, x: &[F], out: &mut [F]) {
    assert!(
        x.len() >= g.input_len() && out.len() >= g.output_len(),
        "avg_pool2d: buffers too short"
    );
    let (img_in, img_out, c) = (
        g.in_h * g.in_w * g.channels,
        g.out_h * g.out_w * g.channels,
        g.channels,
    );
    per_image(g.batch, x, img_in, out, img_out, |img, o, _| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let orow = &mut o[(oy * g.out_w + ox) * c..][..c];
                orow.iter_mut().for_each(|v| *v = F::zero());
                let (ys, xs) = g.span(oy, ox);
                let count = ys.len() * xs.len();
                for iy in ys {
                    for ix in xs.clone() {
                        let src = &img[(iy * g.in_w + ix) * c..][..c];
                        orow.iter_mut().zip(src).for_each(|(s, &v)| *s = *s + v);
                    }
                }
                let inv = F::one() / F::from(count.max(1)).unwrap_or_else(F::one);
                orow.iter_mut().for_each(|v| *v = *v * inv);
            }
        }
    });
}

/// Backward pass of average pooling: **adds** `dy / count` to every input cell of each window.
///
/// # Panics
/// If a slice is shorter than the geometry's sizes.
pub fn avg_pool2d_backward<F: Float + Send + Sync>(g: &Pool2dGeometry, dy: &[F], dx: &mut [F]) {
    assert!(
        dy.len() >= g.output_len() && dx.len() >= g.input_len(),
        "avg_pool2d backward: buffers too short"
    );
    let (img_in, img_out, c) = (
        g.in_h * g.in_w * g.channels,
        g.out_h * g.out_w * g.channels,
        g.channels,
    );
    let one = |(d, gy): (&mut [F], &[F])| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let grow = &gy[(oy * g.out_w + ox) * c..][..c];
                let (ys, xs) = g.span(oy, ox);
                let inv = F::one() / F::from((ys.len() * xs.len()).max(1)).unwrap_or_else(F::one);
                for iy in ys {
                    for ix in xs.clone() {
                        let dst = &mut d[(iy * g.in_w + ix) * c..][..c];
                        dst.iter_mut().zip(grow).for_each(|(s, &v)| *s = *s + v * inv);
                    }
                }
            }
        }
    };
    if img_in == 0 || img_out == 0 {
        return;
    }
    let pairs = dx[..g.input_len()].chunks_mut(img_in).zip(dy.chunks(img_out));
    if par_batch(g.batch) {
        let pairs: Vec<_> = pairs.collect();
        threads::install(|| pairs.into_par_iter().for_each(one));
    } else {
        pairs.for_each(one);
    }
}

/// Global average pooling: `out[b, c]` is the mean of `x[b, :, :, c]` over the `cells`
/// (`h · w`) positions of each of the `batch` images.
///
/// # Panics
/// If `x` holds fewer than `batch · cells · channels` values or `out` fewer than
/// `batch · channels`.
pub fn global_avg_pool2d_forward<F: Float>(
    batch: usize,
    cells: usize,
    channels: usize,
    x: &[F],
    out: &mut [F],
) {
    assert!(x.len() >= batch * cells * channels && out.len() >= batch * channels);
    let inv = F::one() / F::from(cells.max(1)).unwrap_or_else(F::one);
    for b in 0..batch {
        let o = &mut out[b * channels..][..channels];
        o.iter_mut().for_each(|v| *v = F::zero());
        for cell in x[b * cells * channels..][..cells * channels].chunks_exact(channels.max(1)) {
            o.iter_mut().zip(cell).for_each(|(s, &v)| *s = *s + v);
        }
        o.iter_mut().for_each(|v| *v = *v * inv);
    }
}

/// Backward pass of global average pooling: **adds** `dy[b, c] / cells` to every position.
///
/// # Panics
/// If the slices are shorter than the sizes given.
pub fn global_avg_pool2d_backward<F: Float>(
    batch: usize,
    cells: usize,
    channels: usize,
    dy: &[F],
    dx: &mut [F],
) {
    assert!(dx.len() >= batch * cells * channels && dy.len() >= batch * channels);
    let inv = F::one() / F::from(cells.max(1)).unwrap_or_else(F::one);
    for b in 0..batch {
        let gy = &dy[b * channels..][..channels];
        for cell in dx[b * cells * channels..][..cells * channels].chunks_exact_mut(channels.max(1)) {
            cell.iter_mut().zip(gy).for_each(|(s, &v)| *s = *s + v * inv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_splits_like_tensorflow() {
        // len 5, kernel 2, stride 2: out = 3, total = (3-1)·2 + 2 − 5 = 1 → 0 before, 1 after.
        assert_eq!(
            Padding::Same.window(0, 5, 2, 2, 1),
            Some(Window { before: 0, out: 3 })
        );
        // len 5, kernel 4, stride 1: out 5, total 3 → 1 before (2 after).
        assert_eq!(
            Padding::Same.window(0, 5, 4, 1, 1),
            Some(Window { before: 1, out: 5 })
        );
        // dilation 2 of a 3-tap kernel spans 5.
        assert_eq!(
            Padding::Valid.window(1, 7, 3, 1, 2),
            Some(Window { before: 0, out: 3 })
        );
        assert_eq!(Padding::Valid.window(1, 4, 3, 1, 2), None);
    }

    #[test]
    fn chunked_forward_and_backward_match_naive_loops() {
        // 40×40×16 images, 3×3 window, strides (1, 2): 115,200 values of im2col per image, so
        // chunks of two images (COL_CHUNK = 262,144): a batch of three runs as 2 + 1.
        let op = Conv2d {
            padding: Padding::Same,
            stride: (1, 2),
            ..Conv2d::default()
        };
        let g = Conv2dGeometry::try_new("t", 3, [40, 40, 16], [3, 3], 8, &op).unwrap();
        let per_image = g.col_len() / g.batch;
        assert!(per_image * 3 > COL_CHUNK && per_image * 2 <= COL_CHUNK);
        assert_eq!(images_per_chunk(per_image, g.batch), 2);
        let val = |i: usize, s: usize| (((i * 7919 + s * 104_729) % 2003) as f64 / 1001.0) - 1.0;
        let x: Vec<f64> = (0..g.input_len()).map(|i| val(i, 1)).collect();
        let w: Vec<f64> = (0..g.filter_len()).map(|i| val(i, 2)).collect();
        let b: Vec<f64> = (0..g.out_c).map(|i| val(i, 3)).collect();
        let dy: Vec<f64> = (0..g.output_len()).map(|i| val(i, 4)).collect();
        let (mut want, mut want_dx, mut want_dw) = (
            vec![0.0; g.output_len()],
            vec![0.0; g.input_len()],
            vec![0.0; g.filter_len()],
        );
        let (c, oc) = (g.in_c, g.out_c);
        for n in 0..g.batch {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let o = ((n * g.out_h + oy) * g.out_w + ox) * oc;
                    want[o..o + oc].copy_from_slice(&b);
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else {
                                continue;
                            };
                            let xi = ((n * g.in_h + iy) * g.in_w + ix) * c;
                            for ci in 0..c {
                                for f in 0..oc {
                                    let wi = ((ky * 3 + kx) * c + ci) * oc + f;
                                    want[o + f] += x[xi + ci] * w[wi];
                                    want_dx[xi + ci] += dy[o + f] * w[wi];
                                    want_dw[wi] += x[xi + ci] * dy[o + f];
                                }
                            }
                        }
                    }
                }
            }
        }
        let (mut out, mut col, mut dcol) = (vec![0.0; g.output_len()], Vec::new(), Vec::new());
        let ep = Epilogue {
            bias: Some(&b[..]),
            activation: None,
        };
        conv2d_forward(&g, &x, &w, ep, &mut out, &mut col);
        let (mut dx, mut dw) = (vec![0.0; g.input_len()], vec![0.0; g.filter_len()]);
        let grads = Conv2dGrads {
            input: Some(&mut dx),
            filters: Some(&mut dw),
            bias: None,
        };
        conv2d_backward(&g, &x, &w, &col, &dy, grads, &mut dcol);
        for (what, got, want) in [("out", &out, &want), ("dx", &dx, &want_dx), ("dw", &dw, &want_dw)] {
            for (i, (a, e)) in got.iter().zip(want.iter()).enumerate() {
                assert!(
                    (a - e).abs() <= 1e-9 * e.abs().max(1.0),
                    "{what}[{i}]: {a} vs {e}"
                );
            }
        }
    }

    #[test]
    fn max_pool_same_padding_and_argmax() {
        // 3×3 image, window 2, stride 2, same: out 2×2 with 0 before, 1 after.
        let x = [1.0f32, 5.0, 2.0, 7.0, 3.0, 9.0, 4.0, 8.0, 6.0];
        let g = Pool2dGeometry::try_new(
            "p",
            1,
            [3, 3, 1],
            &Pool2d {
                padding: Padding::Same,
                ..Pool2d::default()
            },
        )
        .unwrap();
        let (mut out, mut arg) = (vec![0.0; 4], Vec::new());
        max_pool2d_forward(&g, &x, &mut out, Some(&mut arg));
        assert_eq!(out, [7.0, 9.0, 8.0, 6.0]);
        assert_eq!(arg, [3, 5, 7, 8]);
        let mut avg = vec![0.0; 4];
        avg_pool2d_forward(&g, &x, &mut avg);
        // windows: {1,5,7,3} / 4, {2,9} / 2, {4,8} / 2, {6} / 1
        assert_eq!(avg, [4.0, 5.5, 6.0, 6.0]);
    }
}
