//! The layer interface of [`Sequential`](super::Sequential): forward and backward over
//! row-major `(rows, features)` buffers.

use crate::model::{ParamMut, ParamRef};

/// One layer of a run-time sequential model.
pub trait RuntimeLayer: Send + Sync + std::fmt::Debug {
    /// The layer's name; its parameters are called `{name}.{param}`.
    fn name(&self) -> &str;

    /// Features per sample of the output for `input` features per sample.
    fn output_features(&self, input: usize) -> usize;

    /// Inference forward pass over `rows` samples.
    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32>;

    /// Training forward pass: keeps what `backward` needs.
    fn forward_train(&mut self, x: Vec<f32>, rows: usize) -> Vec<f32>;

    /// Given d(loss)/d(output) of the last `forward_train`, stores the parameters' gradients
    /// and returns d(loss)/d(input) when `need_input_grad`.
    fn backward(&mut self, dy: &[f32], rows: usize, need_input_grad: bool) -> Option<Vec<f32>>;

    /// Parameters with gradients.
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        Vec::new()
    }

    /// Parameters.
    fn params(&self) -> Vec<ParamRef<'_>> {
        Vec::new()
    }

    /// Regularization penalty of this layer's weights.
    fn regularization_loss(&self) -> f32 {
        0.0
    }

    /// Projects this layer's parameters with their constraints (after an optimizer update);
    /// nothing by default.
    ///
    /// # Errors
    /// When a constraint cannot be applied (a parameter of the wrong length).
    fn apply_constraints(&mut self) -> crate::error::Result<()> {
        Ok(())
    }

    /// Fraction of exactly-zero outputs in the last `forward_train`, for ReLU layers
    /// (dead-ReLU monitoring); `None` for other layers.
    fn zero_fraction(&self) -> Option<f32> {
        None
    }
}
