//! Pooling layers of generated models (and of [`crate::sequential`]) over NHWC images of a
//! fixed `[h, w, c]`: max pooling (keeping, in training, the index of each window's maximum
//! for the backward pass), average pooling (Keras: the mean of the cells inside the image) and
//! global average pooling.

use tensor_core::kernels::conv::{
    avg_pool2d_backward, avg_pool2d_forward, conv2d_max_pool_backward, conv2d_max_pool_forward,
    global_avg_pool2d_backward, global_avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward,
    Conv2dGrads, Pool2d, Pool2dGeometry,
};
use tensor_core::{Float, TensorError};

/// Max or average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value of each window.
    Max,
    /// The mean of each window's cells inside the image.
    Average,
}

/// A 2-D pooling layer over images of a fixed `[h, w, c]`.
#[derive(Debug, Clone)]
pub struct Pool2D {
    kind: PoolKind,
    geom: Pool2dGeometry,
    argmax: Vec<u32>,
}

impl Pool2D {
    /// A `kind` pooling of images of `input = [h, w, c]`.
    ///
    /// # Errors
    /// [`TensorError::BadLength`] when the window exceeds the padded input or a size is 0.
    pub fn try_new(kind: PoolKind, input: [usize; 3], pool: Pool2d) -> Result<Self, TensorError> {
        let op = match kind {
            PoolKind::Max => "MaxPooling2D",
            PoolKind::Average => "AveragePooling2D",
        };
        Ok(Pool2D {
            kind,
            geom: Pool2dGeometry::try_new(op, 1, input, &pool)?,
            argmax: Vec::new(),
        })
    }

    /// As [`Pool2D::try_new`].
    ///
    /// # Panics
    /// On the errors of [`Pool2D::try_new`] (sizes `model!` has already checked).
    pub fn new(kind: PoolKind, input: [usize; 3], pool: Pool2d) -> Self {
        match Self::try_new(kind, input, pool) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    /// Values per input image (`h · w · c`).
    pub fn input_len(&self) -> usize {
        self.geom.in_h * self.geom.in_w * self.geom.channels
    }

    /// Nothing to do: a pooling has no parameters (the uniform layer interface of `model!`).
    pub fn zero_grad(&mut self) {}

    /// No parameters.
    pub fn params<F: Float>(&self) -> core::iter::Empty<&super::Param<F>> {
        core::iter::empty()
    }

    /// No parameters.
    pub fn params_mut<F: Float>(&mut self) -> core::iter::Empty<&mut super::Param<F>> {
        core::iter::empty()
    }

    /// Max or average.
    pub fn kind(&self) -> PoolKind {
        self.kind
    }

    /// The sizes of a batch of `batch` images.
    pub fn geometry(&self, batch: usize) -> Pool2dGeometry {
        Pool2dGeometry { batch, ..self.geom }
    }

    /// Output `[out_h, out_w, c]` of one image.
    pub fn output_shape(&self) -> [usize; 3] {
        [self.geom.out_h, self.geom.out_w, self.geom.channels]
    }

    /// Values per output image.
    pub fn output_len(&self) -> usize {
        self.geom.output_len()
    }

    /// Inference over `batch` images (`out` resized).
    ///
    /// # Panics
    /// If `x` holds fewer than `batch` images.
    pub fn forward<F: Float>(&self, x: &[F], batch: usize, out: &mut Vec<F>) {
        let g = self.geometry(batch);
        out.resize(g.output_len(), F::zero());
        match self.kind {
            PoolKind::Max => max_pool2d_forward(&g, x, out, None),
            PoolKind::Average => avg_pool2d_forward(&g, x, out),
        }
    }

    /// Training forward pass: as [`Pool2D::forward`], keeping the maxima's positions (reused
    /// buffer) for [`Pool2D::backward`].
    ///
    /// # Panics
    /// If `x` holds fewer than `batch` images.
    pub fn forward_train<F: Float>(&mut self, x: &[F], batch: usize, out: &mut Vec<F>) {
        let g = self.geometry(batch);
        out.resize(g.output_len(), F::zero());
        match self.kind {
            PoolKind::Max => max_pool2d_forward(&g, x, out, Some(&mut self.argmax)),
            PoolKind::Average => avg_pool2d_forward(&g, x, out),
        }
    }

    /// Backward pass of the last [`Pool2D::forward_train`] (same batch): **adds** `∂L/∂x` into
    /// `grad_in` given `grad = ∂L/∂out`.
    ///
    /// # Panics
    /// If the slices are shorter than `batch` images or (max) `forward_train` did not run first.
    pub fn backward<F: Float>(&self, grad: &[F], batch: usize, grad_in: &mut [F]) {
        let g = self.geometry(batch);
        match self.kind {
            PoolKind::Max => max_pool2d_backward(&g, &self.argmax, grad, grad_in),
            PoolKind::Average => avg_pool2d_backward(&g, grad, grad_in),
        }
    }
}

/// Training forward pass of a convolution (ReLU or linear activation) whose output only feeds
/// the max pooling `pool`: one image at a time, so the convolution's output stays in cache and
/// is not kept; `out` (resized) receives the pooled values and `pool` the argmax, as
/// [`Conv2D::forward_train`](super::Conv2D::forward_train) then [`Pool2D::forward_train`] would
/// give. `model!` emits this for such pairs in its training step.
///
/// # Panics
/// If `act` is neither ReLU nor linear, `pool` is an average pooling or does not take the
/// convolution's output, or `x` holds fewer than `batch` images.
pub fn conv_max_pool_train<F: Float>(
    conv: &mut super::Conv2D<F>,
    pool: &mut Pool2D,
    x: &[F],
    batch: usize,
    act: super::Activation,
    out: &mut Vec<F>,
) {
    let relu = relu_or_linear(act, pool);
    let (cg, pg) = (conv.geometry(batch), pool.geometry(batch));
    out.resize(pg.output_len(), F::zero());
    pool.argmax.resize(pg.output_len(), u32::MAX);
    let bias = conv.bias.as_ref().map(|b| &b.value[..]);
    conv2d_max_pool_forward(
        &cg,
        &pg,
        x,
        &conv.kernel.value,
        bias,
        relu,
        out,
        &mut pool.argmax,
        &mut conv.blocks,
    );
}

/// Backward pass of [`conv_max_pool_train`] (same `x` and batch; `out` its output, `grad`
/// `∂L/∂out`): **adds** the convolution's kernel and bias gradients, and `∂L/∂x` into
/// `grad_in` when given.
///
/// # Panics
/// As [`conv_max_pool_train`], or when it did not run first.
#[allow(clippy::too_many_arguments)]
pub fn conv_max_pool_backward<F: Float>(
    conv: &mut super::Conv2D<F>,
    pool: &Pool2D,
    x: &[F],
    out: &[F],
    grad: &[F],
    batch: usize,
    act: super::Activation,
    grad_in: Option<&mut [F]>,
) {
    let relu = relu_or_linear(act, pool);
    let (cg, pg) = (conv.geometry(batch), pool.geometry(batch));
    let super::Conv2D {
        kernel, bias, blocks, ..
    } = conv;
    let grads = Conv2dGrads {
        input: grad_in,
        filters: Some(&mut kernel.grad),
        bias: bias.as_mut().map(|b| &mut b.grad[..]),
    };
    conv2d_max_pool_backward(
        &cg,
        &pg,
        x,
        &kernel.value,
        out,
        &pool.argmax,
        grad,
        relu,
        grads,
        blocks,
    );
}

/// Whether the fused block applies ReLU (else no activation); panics on anything else.
fn relu_or_linear(act: super::Activation, pool: &Pool2D) -> bool {
    assert!(
        pool.kind == PoolKind::Max,
        "conv + max pool: the pooling is an average"
    );
    match act {
        super::Activation::Relu => true,
        super::Activation::Linear => false,
        other => panic!("conv + max pool: fused only with ReLU or no activation, not {other:?}"),
    }
}

/// Global average pooling over `batch` images of `cells = h · w` positions and `channels`
/// channels: `out` (resized to `batch · channels`) holds each channel's mean.
///
/// # Panics
/// If `x` holds fewer than `batch · cells · channels` values.
pub fn global_avg_pool_forward<F: Float>(
    x: &[F],
    batch: usize,
    cells: usize,
    channels: usize,
    out: &mut Vec<F>,
) {
    out.resize(batch * channels, F::zero());
    global_avg_pool2d_forward(batch, cells, channels, x, out);
}

/// Backward pass of [`global_avg_pool_forward`]: **adds** `grad[b, c] / cells` to every
/// position of `grad_in`.
///
/// # Panics
/// If the slices are shorter than the sizes given.
pub fn global_avg_pool_backward<F: Float>(
    grad: &[F],
    batch: usize,
    cells: usize,
    channels: usize,
    grad_in: &mut [F],
) {
    global_avg_pool2d_backward(batch, cells, channels, grad, grad_in);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor_core::kernels::conv::Padding;

    #[test]
    fn max_and_average_by_hand() {
        // 4×4 image 0..16, 2×2 windows: max [5, 7, 13, 15], mean [2.5, 4.5, 10.5, 12.5].
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut p = Pool2D::new(PoolKind::Max, [4, 4, 1], Pool2d::default());
        let mut out = Vec::new();
        p.forward_train(&x, 1, &mut out);
        assert_eq!(out, vec![5.0, 7.0, 13.0, 15.0]);
        let mut gx = vec![0.0f32; 16];
        p.backward(&[1.0, 2.0, 3.0, 4.0], 1, &mut gx);
        assert_eq!(
            (gx[5], gx[7], gx[13], gx[15], gx.iter().sum::<f32>()),
            (1.0, 2.0, 3.0, 4.0, 10.0)
        );
        let a = Pool2D::new(PoolKind::Average, [4, 4, 1], Pool2d::default());
        a.forward(&x, 1, &mut out);
        assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
        // 3×3 window, stride 2, same over 4×4: out 2×2, padding 1 total → 0 before; the
        // bottom-right window covers rows 2..4, cols 2..4 (4 cells): (10+11+14+15)/4 = 12.5.
        let s = Pool2D::new(
            PoolKind::Average,
            [4, 4, 1],
            Pool2d {
                pool: (3, 3),
                stride: Some((2, 2)),
                padding: Padding::Same,
            },
        );
        s.forward(&x, 1, &mut out);
        assert_eq!(out[3], 12.5);
        let mut g = Vec::new();
        global_avg_pool_forward(&x, 1, 16, 1, &mut g);
        assert_eq!(g, vec![7.5]);
    }
}
