//! Convolution layers of [`Sequential`](super::Sequential): `Conv2D` and `DepthwiseConv2D`
//! (a grouped convolution with one group per input channel) over NHWC images, on the fused
//! runtime's [`crate::fused::Conv2D`] (bias and ReLU in the GEMM epilogue), with Keras'
//! weight and activity regularizers and weight constraints through the fused layer's
//! [`DenseOptions`] (the code `model!` convolutions use).

use tensor_core::kernels::conv::{Conv2d, Padding};

use super::layers::RuntimeLayer;
use crate::activations::Activation;
use crate::fused::{
    Activation as FusedActivation, Conv2D as FusedConv2D, DenseOptions, Rng, WeightConstraint,
};
use crate::init::{Initializer, NnRng};
use crate::model::{ParamMut, ParamRef};
use crate::regularizers::Regularizer;

/// Options of [`SequentialBuilder::conv2d`](super::SequentialBuilder::conv2d) and
/// [`SequentialBuilder::depthwise_conv2d`](super::SequentialBuilder::depthwise_conv2d), with
/// Keras' defaults (`Default`): stride 1, valid padding, no dilation, one group, no activation,
/// a bias, no regularizers or constraints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dOptions {
    /// Step of the window along (height, width).
    pub strides: (usize, usize),
    /// Border handling.
    pub padding: Padding,
    /// Spacing of the kernel taps (height, width).
    pub dilation: (usize, usize),
    /// Channel groups (ignored by `depthwise_conv2d`, which uses one per input channel).
    pub groups: usize,
    /// Activation after the bias (ReLU runs inside the GEMM; others as a following layer).
    pub activation: Activation,
    /// Whether the layer has a bias.
    pub use_bias: bool,
    /// Penalty on the kernel, added to the loss (Keras' `kernel_regularizer`).
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias (Keras' `bias_regularizer`).
    pub bias_regularizer: Option<Regularizer>,
    /// Penalty on the layer's output divided by the batch size (Keras 3's
    /// `activity_regularizer`). The output is taken after a fused ReLU, but before any other
    /// activation (which runs as the following layer).
    pub activity_regularizer: Option<Regularizer>,
    /// Projection of the kernel after each optimizer update; norms per filter, over
    /// `kh · kw · c/groups` weights (Keras' `axis = [0, 1, 2]`).
    pub kernel_constraint: Option<WeightConstraint>,
    /// Projection of the bias after each optimizer update.
    pub bias_constraint: Option<WeightConstraint>,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            strides: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
            groups: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_regularizer: None,
            bias_regularizer: None,
            activity_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
        }
    }
}

impl Conv2dOptions {
    /// The kernel-level hyper-parameters.
    pub fn conv(&self) -> Conv2d {
        Conv2d {
            stride: self.strides,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// The regularizers and constraints as the fused layer's options (initializers: none, the
    /// builder draws the kernel itself).
    pub fn weight_options(&self) -> DenseOptions {
        DenseOptions {
            kernel_regularizer: self.kernel_regularizer,
            bias_regularizer: self.bias_regularizer,
            activity_regularizer: self.activity_regularizer,
            kernel_constraint: self.kernel_constraint,
            bias_constraint: self.bias_constraint,
            ..DenseOptions::default()
        }
    }
}

/// A 2-D convolution over NHWC images of a fixed size; parameters `{name}.kernel`
/// (`[kh, kw, in_c / groups, filters]`) and `{name}.bias`.
#[derive(Debug, Clone)]
pub struct Conv2D {
    name: String,
    inner: FusedConv2D<f32>,
    relu: bool,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Conv2D {
    /// A convolution of images `input = [h, w, c]` into `filters` channels with a
    /// `kernel = (kh, kw)` window; the kernel is drawn from `kernel_init` (Keras: Glorot
    /// uniform), the bias is zero. `relu` fuses a ReLU into the layer. The regularizers and
    /// constraints of `options` are applied in training.
    ///
    /// # Errors
    /// [`tensor_core::TensorError`] when the window does not fit or the groups do not divide
    /// the channels.
    #[allow(clippy::too_many_arguments)]
    pub fn try_new(
        name: impl Into<String>,
        input: [usize; 3],
        filters: usize,
        kernel: (usize, usize),
        options: &Conv2dOptions,
        relu: bool,
        kernel_init: Initializer,
        rng: &mut NnRng,
    ) -> Result<Self, tensor_core::TensorError> {
        let name = name.into();
        let mut inner = FusedConv2D::try_new(
            &name,
            input,
            filters,
            [kernel.0, kernel.1],
            options.conv(),
            options.use_bias,
            options.weight_options(),
            &mut Rng::new(0),
        )?;
        inner.kernel.value = kernel_init.sample(&inner.kernel.shape, rng);
        Ok(Conv2D {
            name,
            inner,
            relu,
            input: Vec::new(),
            output: Vec::new(),
        })
    }

    /// Output `[out_h, out_w, filters]` of one image.
    pub fn output_shape(&self) -> [usize; 3] {
        self.inner.output_shape()
    }

    fn act(&self) -> FusedActivation {
        if self.relu {
            FusedActivation::Relu
        } else {
            FusedActivation::Linear
        }
    }
}

impl RuntimeLayer for Conv2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, _input: usize) -> usize {
        self.inner.output_len()
    }

    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.inner.forward(x, rows, self.act(), &mut out);
        out
    }

    fn forward_train(&mut self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        let mut out = core::mem::take(&mut self.output);
        self.inner.forward_train(&x, rows, self.act(), &mut out, None);
        self.input = x;
        self.output.clone_from(&out);
        out
    }

    fn backward(&mut self, dy: &[f32], rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        let mut grad = dy.to_vec();
        let opts = self.inner.options;
        opts.add_activity_penalty_gradient(&self.output, &mut grad, rows);
        let mut dx = need_input_grad.then(|| vec![0.0f32; self.input.len()]);
        self.inner.zero_grad();
        let act = self.act();
        self.inner.backward(
            &self.input,
            &self.output,
            &[],
            &mut grad,
            rows,
            act,
            dx.as_deref_mut(),
        );
        let inner = &mut self.inner;
        opts.add_weight_penalty_gradients(&mut inner.kernel, inner.bias.as_mut());
        dx
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.inner.params_mut().map(|p| p.as_param_mut()).collect()
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        self.inner.params().map(|p| p.as_param_ref()).collect()
    }

    fn regularization_loss(&self) -> f32 {
        let o = &self.inner.options;
        let rows = self.output.len() / self.inner.output_len().max(1);
        let weights = o.weight_penalty(&self.inner.kernel, self.inner.bias.as_ref());
        (weights + o.activity_penalty(&self.output, rows)) as f32
    }

    fn apply_constraints(&mut self) -> crate::error::Result<()> {
        self.inner.apply_constraints()
    }

    fn zero_fraction(&self) -> Option<f32> {
        (self.relu && !self.output.is_empty())
            .then(|| self.output.iter().filter(|&&v| v == 0.0).count() as f32 / self.output.len() as f32)
    }
}
