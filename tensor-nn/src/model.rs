//! The model trait shared by `model!`-generated models (fused forward/backward, no tape) and
//! models built at run time over the gradient tape. The training loop, optimizers, callbacks
//! and saving only ever see this trait.

/// One parameter with its gradient, handed to an optimizer.
#[derive(Debug)]
pub struct ParamMut<'a> {
    /// Stable name, e.g. `dense1.kernel`.
    pub name: &'a str,
    /// Lengths of the parameter's dimensions, outermost first.
    pub shape: &'a [usize],
    /// The values, row-major, updated in place by optimizers and constraints.
    pub value: &'a mut [f32],
    /// The gradient of the loss from the last `backward` (same layout as `value`).
    pub grad: &'a [f32],
    /// Whether optimizers should update it.
    pub trainable: bool,
}

/// One parameter, read-only (saving, metrics, TensorBoard histograms).
#[derive(Debug, Clone, Copy)]
pub struct ParamRef<'a> {
    /// Stable name, e.g. `dense1.kernel`.
    pub name: &'a str,
    /// Lengths of the parameter's dimensions, outermost first.
    pub shape: &'a [usize],
    /// The values, row-major.
    pub value: &'a [f32],
}

/// The error of [`Model::set_rng_state`] for a model without a random stream of its own.
pub(crate) fn no_rng_stream(state: &str) -> crate::error::NnError {
    crate::error::NnError::invalid(
        "set_rng_state",
        format!("the model keeps no random stream, so it cannot take the state `{state}`"),
    )
}

/// A model the training loop can drive.
///
/// A training step is `forward_train` → the loss's gradient with respect to the output →
/// `backward` → an optimizer over `params_mut`.
pub trait Model {
    /// One batch of inputs: a typed tensor, or a tuple of tensors for several inputs.
    type Input;
    /// One batch of outputs: a typed tensor, or a tuple for several outputs.
    type Output;

    /// Inference: no gradient bookkeeping, dropout off, batch norm on moving statistics.
    fn forward(&self, input: &Self::Input) -> Self::Output;

    /// Training forward pass: keeps what `backward` needs; dropout on, batch statistics.
    fn forward_train(&mut self, input: &Self::Input) -> Self::Output;

    /// [`Model::forward`] for an input that may not fit the model (a run-time dim of the wrong
    /// length): an error instead of a panic. The default calls `forward`.
    ///
    /// # Errors
    /// When the input does not fit the model; never for the default.
    fn try_forward(&self, input: &Self::Input) -> crate::error::Result<Self::Output> {
        Ok(self.forward(input))
    }

    /// [`Model::forward_train`] for an input that may not fit the model: an error instead of
    /// a panic. The default calls `forward_train`.
    ///
    /// # Errors
    /// When the input does not fit the model; never for the default.
    fn try_forward_train(&mut self, input: &Self::Input) -> crate::error::Result<Self::Output> {
        Ok(self.forward_train(input))
    }

    /// Backward pass for the last `forward_train`, given the gradient of the loss with respect
    /// to its output. Overwrites (does not accumulate across steps) every parameter's gradient,
    /// regularization terms included.
    fn backward(&mut self, grad_output: &Self::Output);

    /// Every parameter with its gradient, in a stable order.
    fn params_mut(&mut self) -> Vec<ParamMut<'_>>;

    /// Every parameter, in the same order as `params_mut`.
    fn params(&self) -> Vec<ParamRef<'_>>;

    /// The regularization penalty added to the loss (0 when the model has none).
    fn regularization_loss(&self) -> f32 {
        0.0
    }

    /// Projects the parameters that carry constraints (e.g. a `model!` dense layer with
    /// `kernel_constraint = MaxNorm(3.0)`); the training loop calls it after every optimizer
    /// update. Does nothing by default.
    ///
    /// # Errors
    /// When a constraint cannot be applied (a parameter of the wrong length).
    fn apply_constraints(&mut self) -> crate::error::Result<()> {
        Ok(())
    }

    /// The position of the model's own random stream (the dropout masks of a `model!`
    /// model), as text that [`Model::set_rng_state`] takes back; `None` (the default) when the
    /// model keeps none outside its parameters (a `Sequential` keeps its dropout streams in
    /// `*.seed_generator_state` parameters). Saved by
    /// [`BackupAndRestore`](crate::train::BackupAndRestore) so that a resumed run draws the
    /// masks the uninterrupted one would have.
    fn rng_state(&self) -> Option<String> {
        None
    }

    /// Puts the model's random stream where [`Model::rng_state`] found it.
    ///
    /// # Errors
    /// When `state` is malformed, or (the default) the model has no random stream of its own.
    fn set_rng_state(&mut self, state: &str) -> crate::error::Result<()> {
        Err(no_rng_stream(state))
    }

    /// Fraction of exactly-zero outputs of each ReLU layer in the last `forward_train`, by
    /// layer name, for dead-ReLU monitoring (empty when the model does not track it).
    fn relu_zero_fractions(&self) -> Vec<(String, f32)> {
        Vec::new()
    }
}
