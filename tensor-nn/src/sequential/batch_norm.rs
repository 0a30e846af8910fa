//! Batch normalisation as a layer of a run-time model, over the last dim (Keras'
//! `BatchNormalization`; the arithmetic is [`fused::BatchNorm`]'s, shared with `model!`).

use super::layers::RuntimeLayer;
use crate::fused;
use crate::model::{ParamMut, ParamRef};

/// Keras' `BatchNormalization(momentum, epsilon)` over the last dim of `features` values: batch
/// statistics in training (updating the moving ones), moving statistics in inference. Each
/// sample may hold several groups of `features` values (the pixels of an image with `features`
/// channels): the statistics then run over the batch and the groups.
#[derive(Debug, Clone)]
pub struct BatchNormLayer {
    name: String,
    inner: fused::BatchNorm<f32>,
    features: usize,
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
}

impl BatchNormLayer {
    /// A layer over `features` values per sample; parameters `{name}.gamma`, `.beta`
    /// (trainable), `.moving_mean`, `.moving_variance` (not trainable).
    pub fn new(name: impl Into<String>, features: usize, momentum: f64, epsilon: f64) -> Self {
        let name = name.into();
        Self {
            inner: fused::BatchNorm::new(&name, features, momentum, epsilon),
            features,
            name,
            xhat: Vec::new(),
            inv_std: Vec::new(),
        }
    }
}

impl RuntimeLayer for BatchNormLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, input: usize) -> usize {
        input
    }

    fn forward(&self, x: &[f32], _rows: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len());
        self.inner.forward_inference(x, &mut out);
        out
    }

    fn forward_train(&mut self, x: Vec<f32>, _rows: usize) -> Vec<f32> {
        let rows = x.len() / self.features.max(1);
        let mut out = Vec::with_capacity(x.len());
        self.inner
            .forward_train(&x, rows, &mut out, &mut self.xhat, &mut self.inv_std);
        out
    }

    fn backward(&mut self, dy: &[f32], _rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        let rows = dy.len() / self.features.max(1);
        self.inner.zero_grad();
        let mut dx = need_input_grad.then(|| vec![0.0; dy.len()]);
        self.inner
            .backward(&self.xhat, &self.inv_std, dy, rows, dx.as_deref_mut());
        dx
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.inner.params_mut().map(fused::Param::as_param_mut).collect()
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        self.inner.params().map(fused::Param::as_param_ref).collect()
    }
}
