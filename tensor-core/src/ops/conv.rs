//! Convolution and pooling over NHWC tensors `(Batch, H, W, C)`, with their backward rules
//! on the tape. The caller names the output's spatial dims; their lengths are computed from
//! the input, the window, the stride, the padding and the dilation, and a static size that
//! disagrees is an error naming the dim and both sizes.
//!
//! ```
//! use tensor_core::prelude::*;
//! use tensor_core::ops::conv::{Conv2d, Padding, Pool2d};
//! tensor_macros::dims! { crate = ::tensor_core; Batch; H = 5; W = 5; C = 1; Kh = 3; Kw = 3; Ci = 1;
//!     F = 2; Ho = 5; Wo = 5; Hp = 2; Wp = 2; }
//!
//! let x = Tensor::<(Batch, H, W, C)>::full(1.0, &[1]);
//! let w = Tensor::<(Kh, Kw, Ci, F)>::full(1.0, &[]);
//! let same = Conv2d { padding: Padding::Same, ..Conv2d::default() };
//! let y = x.conv2d::<Ho, Wo, F>(&w, &same); // (Batch, Ho, Wo, F)
//! assert_eq!(y.get(&[0, 0, 0, 0]), 4.0); // a corner sees 2×2 ones
//! assert_eq!(y.get(&[0, 2, 2, 1]), 9.0);
//! let p = y.max_pool2d::<Hp, Wp>(&Pool2d::default()); // (Batch, Hp, Wp, F)
//! assert_eq!(p.get(&[0, 0, 0, 0]), 9.0);
//! ```

use super::or_panic;
use crate::autodiff::rules;
use crate::autodiff::tape::{record_binary, record_unary};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{Result, TensorError};
use crate::kernels::conv::{
    avg_pool2d_backward, avg_pool2d_forward, conv2d_backward, conv2d_forward, conv2d_needs_col,
    global_avg_pool2d_backward, global_avg_pool2d_forward, im2col, max_pool2d_backward, max_pool2d_forward,
    Conv2dGeometry, Conv2dGrads, Pool2dGeometry,
};
pub use crate::kernels::conv::{Conv2d, Padding, Pool2d};
use crate::kernels::Epilogue;
use crate::storage::buffer_filled;
use crate::tensor::{checked_numel, Tensor};

/// Renames the generic `height` / `width` / `channels` of a kernel error to the tensor's dims.
fn rename(e: TensorError, names: [&'static str; 3]) -> TensorError {
    match e {
        TensorError::BadLength { op, dim, len, reason } => TensorError::BadLength {
            op,
            dim: match dim {
                "height" => names[0],
                "width" => names[1],
                "channels" => names[2],
                other => other,
            },
            len,
            reason,
        },
        other => other,
    }
}

/// Checks a computed output length against the static size of the dim the caller named.
fn check_out<D: Dim>(op: &'static str, computed: usize, from: &str) -> Result<()> {
    match D::SIZE {
        Some(s) if s != computed => Err(TensorError::BadLength {
            op,
            dim: D::NAME,
            len: computed,
            reason: format!(": it is declared with static size {s}, but {from} gives {computed}"),
        }),
        _ => Ok(()),
    }
}

/// Checks that the window arithmetic of both axes (height, then width: `dims` names them,
/// `lens` gives their lengths) stays within `usize`, which the geometry computes unchecked:
/// the dilated span of the kernel, the padded length and the end of the last window. Zero
/// sizes are left to the geometry to report.
fn check_windows(
    op: &'static str,
    dims: [&'static str; 2],
    lens: [usize; 2],
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    padding: &Padding,
) -> Result<()> {
    let per_axis = [(kernel.0, stride.0, dilation.0), (kernel.1, stride.1, dilation.1)];
    for (axis, (&len, (k, s, d))) in lens.iter().zip(per_axis).enumerate() {
        if len == 0 || k == 0 || s == 0 || d == 0 {
            continue;
        }
        let fits = (k - 1)
            .checked_mul(d)
            .and_then(|span| span.checked_add(1))
            .and_then(|span| match *padding {
                Padding::Valid => Some(span),
                Padding::Same => (len.div_ceil(s) - 1).checked_mul(s)?.checked_add(span),
                Padding::Explicit { top, bottom, .. } if axis == 0 => {
                    len.checked_add(top)?.checked_add(bottom)
                }
                Padding::Explicit { left, right, .. } => len.checked_add(left)?.checked_add(right),
            });
        if fits.is_none() {
            return Err(TensorError::BadLength {
                op,
                dim: dims[axis],
                len,
                reason: format!(
                    ": a window of size {k}, stride {s} and dilation {d} with {padding:?} padding spans more cells than a usize counts"
                ),
            });
        }
    }
    Ok(())
}

impl<B: Dim, H: Dim, W: Dim, C: Dim, E: Float> Tensor<(B, H, W, C), E> {
    fn lens4(&self) -> [usize; 4] {
        let d = self.dims();
        [d[0], d[1], d[2], d[3]]
    }

    /// 2-D convolution (cross-correlation, as Keras and PyTorch) of NHWC images by HWIO
    /// filters `(Kh, Kw, Ci, F)` with `Ci = C / groups`: `x.conv2d::<Ho, Wo, F>(&w, &conv)`.
    /// The output `(B, Ho, Wo, F)` has `Ho`, `Wo` computed from the padding, stride and
    /// dilation of `conv`. The bias is a separate broadcast add (`y.add(&bias)`).
    ///
    /// # Errors
    /// [`TensorError::BadLength`] when the dilated kernel exceeds the padded input, the
    /// channels do not divide into the groups, `Ci · groups` differs from `C`, a stride or
    /// dilation is 0, or a static size of `Ho` / `Wo` differs from the computed one (the
    /// message names the dim and both sizes), or the window's arithmetic overflows (a huge
    /// dilation or padding); [`TensorError::TooLarge`] when the output's element count overflows.
    pub fn try_conv2d<Ho: Dim, Wo: Dim, F: Dim>(
        &self,
        filters: &Tensor<(impl Dim, impl Dim, impl Dim, F), E>,
        conv: &Conv2d,
    ) -> Result<Tensor<(B, Ho, Wo, F), E>> {
        let op = "conv2d";
        let [b, h, w, c] = self.lens4();
        let fd = filters.dims();
        let (kh, kw, ci, f) = (fd[0], fd[1], fd[2], fd[3]);
        let takes = ci.checked_mul(conv.groups);
        if takes != Some(c) {
            return Err(TensorError::BadLength {
                op,
                dim: C::NAME,
                len: c,
                reason: format!(
                    ": the filters take {ci} channel(s) per group in {} group(s), i.e. {}",
                    conv.groups,
                    takes.map_or_else(|| "more than a usize counts".to_string(), |t| t.to_string())
                ),
            });
        }
        let names = [H::NAME, W::NAME];
        check_windows(
            op,
            names,
            [h, w],
            (kh, kw),
            conv.stride,
            conv.dilation,
            &conv.padding,
        )?;
        let g = Conv2dGeometry::try_new(op, b, [h, w, c], [kh, kw], f, conv)
            .map_err(|e| rename(e, [H::NAME, W::NAME, C::NAME]))?;
        let from = |len: usize, k: usize, s: usize, d: usize| {
            format!(
                "length {len}, kernel {k}, stride {s}, dilation {d} and {:?} padding",
                conv.padding
            )
        };
        check_out::<Ho>(op, g.out_h, &from(h, kh, conv.stride.0, conv.dilation.0))?;
        check_out::<Wo>(op, g.out_w, &from(w, kw, conv.stride.1, conv.dilation.1))?;
        checked_numel::<E>(
            op,
            &[B::NAME, Ho::NAME, Wo::NAME, F::NAME],
            &[b, g.out_h, g.out_w, f],
        )?;
        let (x, wt) = (self.contiguous(), filters.contiguous());
        let (xs, ws) = (rules::data(&x), rules::data(&wt));
        let mut out = buffer_filled(g.output_len(), E::zero());
        let mut col = Vec::new();
        conv2d_forward(&g, &xs, &ws, Epilogue::default(), &mut out, &mut col);
        let out = Tensor::from_buffer(out, &[b, g.out_h, g.out_w, f]);
        if !(self.on_tape() || filters.on_tape()) {
            return Ok(out);
        }
        let (xv, wv) = (x.stop_gradient(), wt.stop_gradient());
        Ok(record_binary(self, filters, out, move |gy, needs| {
            let (xs, ws, gys) = (rules::data(&xv), rules::data(&wv), rules::data(gy));
            let mut col = Vec::new();
            if needs[1] && conv2d_needs_col::<E>(&g) {
                im2col(&g, &xs, &mut col);
            }
            let mut dx = needs[0].then(|| buffer_filled(g.input_len(), E::zero()));
            let mut dw = needs[1].then(|| buffer_filled(g.filter_len(), E::zero()));
            conv2d_backward(
                &g,
                &xs,
                &ws,
                &col,
                &gys,
                Conv2dGrads {
                    input: dx.as_deref_mut(),
                    filters: dw.as_deref_mut(),
                    bias: None,
                },
                &mut Vec::new(),
            );
            (
                dx.map(|d| Tensor::from_buffer(d, xv.dims())),
                dw.map(|d| Tensor::from_buffer(d, wv.dims())),
            )
        }))
    }

    /// 2-D convolution; see [`Tensor::try_conv2d`].
    ///
    /// # Panics
    /// On the errors of [`Tensor::try_conv2d`]; the message names the dim and the sizes.
    #[track_caller]
    pub fn conv2d<Ho: Dim, Wo: Dim, F: Dim>(
        &self,
        filters: &Tensor<(impl Dim, impl Dim, impl Dim, F), E>,
        conv: &Conv2d,
    ) -> Tensor<(B, Ho, Wo, F), E> {
        or_panic(self.try_conv2d::<Ho, Wo, F>(filters, conv))
    }

    fn pool_geometry<Ho: Dim, Wo: Dim>(&self, op: &'static str, pool: &Pool2d) -> Result<Pool2dGeometry> {
        let [b, h, w, c] = self.lens4();
        let stride = pool.stride.unwrap_or(pool.pool);
        check_windows(
            op,
            [H::NAME, W::NAME],
            [h, w],
            pool.pool,
            stride,
            (1, 1),
            &pool.padding,
        )?;
        let g = Pool2dGeometry::try_new(op, b, [h, w, c], pool)
            .map_err(|e| rename(e, [H::NAME, W::NAME, C::NAME]))?;
        let from = |len: usize, k: usize, s: usize| {
            format!(
                "length {len}, window {k}, stride {s} and {:?} padding",
                pool.padding
            )
        };
        check_out::<Ho>(op, g.out_h, &from(h, g.pool.0, g.stride.0))?;
        check_out::<Wo>(op, g.out_w, &from(w, g.pool.1, g.stride.1))?;
        checked_numel::<E>(
            op,
            &[B::NAME, Ho::NAME, Wo::NAME, C::NAME],
            &[b, g.out_h, g.out_w, c],
        )?;
        Ok(g)
    }

    /// Max pooling over windows of `pool.pool`: `x.max_pool2d::<Ho, Wo>(&pool)`. The gradient
    /// goes to the first largest input of each window (as TensorFlow).
    ///
    /// # Errors
    /// [`TensorError::BadLength`] when the window exceeds the padded input, a size is 0, a
    /// static size of `Ho` / `Wo` differs from the computed one, or the window's arithmetic
    /// overflows; [`TensorError::TooLarge`] when the output's element count overflows.
    pub fn try_max_pool2d<Ho: Dim, Wo: Dim>(&self, pool: &Pool2d) -> Result<Tensor<(B, Ho, Wo, C), E>> {
        let g = self.pool_geometry::<Ho, Wo>("max_pool2d", pool)?;
        let x = self.contiguous();
        let mut out = buffer_filled(g.output_len(), E::zero());
        let mut arg = Vec::new();
        max_pool2d_forward(&g, &rules::data(&x), &mut out, self.on_tape().then_some(&mut arg));
        let out = Tensor::from_buffer(out, &[g.batch, g.out_h, g.out_w, g.channels]);
        if !self.on_tape() {
            return Ok(out);
        }
        let dims = x.dims().to_vec();
        Ok(record_unary(self, out, move |gy| {
            let mut dx = buffer_filled(g.input_len(), E::zero());
            max_pool2d_backward(&g, &arg, &rules::data(gy), &mut dx);
            Tensor::from_buffer(dx, &dims)
        }))
    }

    /// Max pooling; see [`Tensor::try_max_pool2d`].
    ///
    /// # Panics
    /// On the errors of [`Tensor::try_max_pool2d`].
    #[track_caller]
    pub fn max_pool2d<Ho: Dim, Wo: Dim>(&self, pool: &Pool2d) -> Tensor<(B, Ho, Wo, C), E> {
        or_panic(self.try_max_pool2d::<Ho, Wo>(pool))
    }

    /// Average pooling over windows of `pool.pool`, dividing by the number of cells inside the
    /// image (Keras with `Same` padding): `x.avg_pool2d::<Ho, Wo>(&pool)`.
    ///
    /// # Errors
    /// As [`Tensor::try_max_pool2d`].
    pub fn try_avg_pool2d<Ho: Dim, Wo: Dim>(&self, pool: &Pool2d) -> Result<Tensor<(B, Ho, Wo, C), E>> {
        let g = self.pool_geometry::<Ho, Wo>("avg_pool2d", pool)?;
        let x = self.contiguous();
        let mut out = buffer_filled(g.output_len(), E::zero());
        avg_pool2d_forward(&g, &rules::data(&x), &mut out);
        let out = Tensor::from_buffer(out, &[g.batch, g.out_h, g.out_w, g.channels]);
        if !self.on_tape() {
            return Ok(out);
        }
        let dims = x.dims().to_vec();
        Ok(record_unary(self, out, move |gy| {
            let mut dx = buffer_filled(g.input_len(), E::zero());
            avg_pool2d_backward(&g, &rules::data(gy), &mut dx);
            Tensor::from_buffer(dx, &dims)
        }))
    }

    /// Average pooling; see [`Tensor::try_avg_pool2d`].
    ///
    /// # Panics
    /// On the errors of [`Tensor::try_avg_pool2d`].
    #[track_caller]
    pub fn avg_pool2d<Ho: Dim, Wo: Dim>(&self, pool: &Pool2d) -> Tensor<(B, Ho, Wo, C), E> {
        or_panic(self.try_avg_pool2d::<Ho, Wo>(pool))
    }

    /// Global average pooling: the mean over `H` and `W`, `(B, H, W, C) -> (B, C)`.
    pub fn global_avg_pool2d(&self) -> Tensor<(B, C), E> {
        let [b, h, w, c] = self.lens4();
        let x = self.contiguous();
        let mut out = buffer_filled(b * c, E::zero());
        global_avg_pool2d_forward(b, h * w, c, &rules::data(&x), &mut out);
        let out = Tensor::from_buffer(out, &[b, c]);
        if !self.on_tape() {
            return out;
        }
        record_unary(self, out, move |gy| {
            let mut dx = buffer_filled(b * h * w * c, E::zero());
            global_avg_pool2d_backward(b, h * w, c, &rules::data(gy), &mut dx);
            Tensor::from_buffer(dx, &[b, h, w, c])
        })
    }
}
