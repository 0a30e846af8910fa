//! `Flatten`: ends the image part of a [`Sequential`](super::Sequential) model; the values of
//! each sample are already row-major `h · w · c`, so it copies them unchanged.

use super::layers::RuntimeLayer;

/// Flattens each sample's `[h, w, c]` image into `h · w · c` features (Keras' `Flatten`).
#[derive(Debug, Clone)]
pub struct Flatten {
    name: String,
}

impl Flatten {
    /// A flatten layer named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Flatten { name: name.into() }
    }
}

impl RuntimeLayer for Flatten {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, input: usize) -> usize {
        input
    }

    fn forward(&self, x: &[f32], _rows: usize) -> Vec<f32> {
        x.to_vec()
    }

    fn forward_train(&mut self, x: Vec<f32>, _rows: usize) -> Vec<f32> {
        x
    }

    fn backward(&mut self, dy: &[f32], _rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        need_input_grad.then(|| dy.to_vec())
    }
}
