//! Pooling layers of generated models (and of [`crate::sequential`]) over NHWC images of a
//! fixed `[h, w, c]`: max pooling (keeping, in training, the index of each window's maximum
//! for the backward pass), average pooling (Keras: the mean of the cells inside the image) and
//! global average pooling.

use tensor_core::kernels::conv::{
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward, Pool2d, Pool2dGeometry,
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
