//! The sizes of one 2-D convolution or pooling: padding per axis (Keras/TensorFlow rules),
//! the window of each axis, and the resolved, checked geometry both kernels run on.

use crate::error::{Result, TensorError};

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
    pub(super) fn window_runs(
        &self,
        oy: usize,
        ox: usize,
    ) -> Option<(usize, impl Iterator<Item = usize> + '_)> {
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
