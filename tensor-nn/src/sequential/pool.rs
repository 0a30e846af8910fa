//! Pooling layers of [`Sequential`](super::Sequential): `MaxPooling2D`, `AveragePooling2D`
//! and `GlobalAveragePooling2D` over NHWC images of a fixed size.

use super::layers::RuntimeLayer;
use crate::fused::{global_avg_pool_backward, global_avg_pool_forward, Pool2D};

/// Max or average pooling (no parameters).
#[derive(Debug, Clone)]
pub struct Pooling2D {
    name: String,
    inner: Pool2D,
    input_len: usize,
}

impl Pooling2D {
    /// A pooling layer named `name` around the fused runtime's [`Pool2D`] over images of
    /// `input_len` values each.
    pub fn new(name: impl Into<String>, inner: Pool2D, input_len: usize) -> Self {
        Pooling2D {
            name: name.into(),
            inner,
            input_len,
        }
    }

    /// Output `[out_h, out_w, c]` of one image.
    pub fn output_shape(&self) -> [usize; 3] {
        self.inner.output_shape()
    }
}

impl RuntimeLayer for Pooling2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, _input: usize) -> usize {
        self.inner.output_len()
    }

    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.inner.forward(x, rows, &mut out);
        out
    }

    fn forward_train(&mut self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.inner.forward_train(&x, rows, &mut out);
        out
    }

    fn backward(&mut self, dy: &[f32], rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        need_input_grad.then(|| {
            let mut dx = vec![0.0f32; rows * self.input_len];
            self.inner.backward(dy, rows, &mut dx);
            dx
        })
    }
}

/// Global average pooling: `[h, w, c]` images to `c` channel means.
#[derive(Debug, Clone)]
pub struct GlobalAveragePooling2D {
    name: String,
    cells: usize,
    channels: usize,
}

impl GlobalAveragePooling2D {
    /// Pooling of images of `[h, w, c]`.
    pub fn new(name: impl Into<String>, input: [usize; 3]) -> Self {
        GlobalAveragePooling2D {
            name: name.into(),
            cells: input[0] * input[1],
            channels: input[2],
        }
    }
}

impl RuntimeLayer for GlobalAveragePooling2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, _input: usize) -> usize {
        self.channels
    }

    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        global_avg_pool_forward(x, rows, self.cells, self.channels, &mut out);
        out
    }

    fn forward_train(&mut self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        self.forward(&x, rows)
    }

    fn backward(&mut self, dy: &[f32], rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        need_input_grad.then(|| {
            let mut dx = vec![0.0f32; rows * self.cells * self.channels];
            global_avg_pool_backward(dy, rows, self.cells, self.channels, &mut dx);
            dx
        })
    }
}
