//! An activation as a layer.

use super::layers::RuntimeLayer;
use crate::activations::Activation;

/// Applies an [`Activation`] to its input.
#[derive(Debug, Clone)]
pub struct ActivationLayer {
    name: String,
    activation: Activation,
    features: usize,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl ActivationLayer {
    /// An activation layer over `features` values per sample.
    pub fn new(name: impl Into<String>, activation: Activation, features: usize) -> Self {
        Self {
            name: name.into(),
            activation,
            features,
            input: Vec::new(),
            output: Vec::new(),
        }
    }
}

impl RuntimeLayer for ActivationLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, input: usize) -> usize {
        input
    }

    fn forward(&self, x: &[f32], _rows: usize) -> Vec<f32> {
        let mut y = x.to_vec();
        self.activation.apply_rows(&mut y, self.features);
        y
    }

    fn forward_train(&mut self, x: Vec<f32>, _rows: usize) -> Vec<f32> {
        let mut y = x.clone();
        self.activation.apply_rows(&mut y, self.features);
        self.input = x;
        self.output.clone_from(&y);
        y
    }

    fn backward(&mut self, dy: &[f32], _rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        need_input_grad.then(|| {
            self.activation
                .backward_rows(&self.input, &self.output, dy, self.features)
        })
    }

    fn zero_fraction(&self) -> Option<f32> {
        (self.activation == Activation::Relu && !self.output.is_empty())
            .then(|| self.output.iter().filter(|&&v| v == 0.0).count() as f32 / self.output.len() as f32)
    }
}
