//! An embedding lookup as the first layer of a run-time model (Keras' `Embedding`; the table
//! and its gradient are [`fused::Embedding`]'s, shared with `model!`).

use super::layers::RuntimeLayer;
use crate::fused;
use crate::model::{ParamMut, ParamRef};

/// Looks up a row of `dim` learned values for each id of the input; a sample of `len` ids
/// becomes `len · dim` values. Ids arrive as `f32` (the run-time model's element type) and are
/// truncated to integers, as Keras casts them; an id outside `0..vocab` gives zeros and no
/// gradient.
#[derive(Debug, Clone)]
pub struct EmbeddingLayer {
    name: String,
    inner: fused::Embedding<f32>,
    dim: usize,
    ids: Vec<i64>,
}

impl EmbeddingLayer {
    /// A table `{name}.embeddings` of `vocab` rows of `dim` values, uniform in [-0.05, 0.05)
    /// from `seed`.
    pub fn new(name: impl Into<String>, vocab: usize, dim: usize, seed: u64) -> Self {
        let name = name.into();
        Self {
            inner: fused::Embedding::new(&name, vocab, dim, &mut fused::Rng::new(seed)),
            name,
            dim,
            ids: Vec::new(),
        }
    }

    fn lookup(&self, x: &[f32], ids: &mut Vec<i64>) -> Vec<f32> {
        ids.clear();
        ids.extend(x.iter().map(|&v| if v.is_finite() { v as i64 } else { -1 }));
        let mut out = Vec::with_capacity(x.len() * self.dim);
        self.inner.forward(ids, &mut out);
        out
    }
}

impl RuntimeLayer for EmbeddingLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, input: usize) -> usize {
        input * self.dim
    }

    fn forward(&self, x: &[f32], _rows: usize) -> Vec<f32> {
        self.lookup(x, &mut Vec::new())
    }

    fn forward_train(&mut self, x: Vec<f32>, _rows: usize) -> Vec<f32> {
        let mut ids = std::mem::take(&mut self.ids);
        let out = self.lookup(&x, &mut ids);
        self.ids = ids;
        out
    }

    /// Ids have no gradient: the input gradient is never returned.
    fn backward(&mut self, dy: &[f32], _rows: usize, _need_input_grad: bool) -> Option<Vec<f32>> {
        self.inner.zero_grad();
        self.inner.backward(&self.ids, dy);
        None
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.inner.params_mut().map(fused::Param::as_param_mut).collect()
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        self.inner.params().map(fused::Param::as_param_ref).collect()
    }
}
