//! Parameters of generated models: values and gradients side by side, with stable names.

use crate::model::{ParamMut, ParamRef};

/// One parameter of a generated model, row-major, with its gradient.
#[derive(Debug, Clone)]
pub struct Param<F> {
    /// Stable name, e.g. `dense1.kernel`.
    pub name: String,
    /// Lengths, outermost first (`[inputs, units]` for a dense kernel).
    pub shape: Vec<usize>,
    /// The values.
    pub value: Vec<F>,
    /// The gradient from the last backward pass (same layout as `value`).
    pub grad: Vec<F>,
    /// Whether optimizers update it.
    pub trainable: bool,
}

impl<F: Copy + Default> Param<F> {
    /// A trainable parameter holding `value`, with a zero gradient.
    pub fn new(name: String, shape: Vec<usize>, value: Vec<F>) -> Self {
        let grad = vec![F::default(); value.len()];
        Param {
            name,
            shape,
            value,
            grad,
            trainable: true,
        }
    }
}

impl Param<f32> {
    /// The view handed to optimizers.
    pub fn as_param_mut(&mut self) -> ParamMut<'_> {
        ParamMut {
            name: &self.name,
            shape: &self.shape,
            value: &mut self.value,
            grad: &self.grad,
            trainable: self.trainable,
        }
    }

    /// The read-only view used for saving and metrics.
    pub fn as_param_ref(&self) -> ParamRef<'_> {
        ParamRef {
            name: &self.name,
            shape: &self.shape,
            value: &self.value,
        }
    }
}
