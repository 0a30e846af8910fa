//! A model built at run time from a list of layers (Keras' `Sequential`), implementing
//! [`Model`] over typed tensors with hand-written backward passes.
//!
//! ```
//! use tensor_core::prelude::*;
//! use tensor_nn::activations::Activation;
//! use tensor_nn::sequential::Sequential;
//! use tensor_nn::Model;
//! tensor_macros::dims! { crate = ::tensor_core; Batch; Pixels = 4; Classes = 3; }
//!
//! let model = Sequential::builder(4, 7)
//!     .dense(8, Activation::Relu)
//!     .dense(3, Activation::Softmax)
//!     .build::<(Batch, Pixels), (Batch, Classes)>()
//!     .unwrap();
//! let x = Tensor::<(Batch, Pixels)>::full(0.5, &[2]);
//! let y = model.forward(&x);
//! assert_eq!(y.dims(), &[2, 3]);
//! ```

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod flatten;
mod layers;
mod pool;

pub use crate::fused::WeightConstraint;
pub use activation::ActivationLayer;
pub use batch_norm::BatchNormLayer;
pub use conv::{Conv2D, Conv2dOptions};
pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::EmbeddingLayer;
pub use flatten::Flatten;
pub use layers::RuntimeLayer;
pub use pool::{GlobalAveragePooling2D, Pooling2D};
pub use tensor_core::kernels::conv::{Padding, Pool2d};

use crate::fused::{Pool2D, PoolKind};
use crate::init::Initializer;

use std::marker::PhantomData;

use tensor_core::{Shape, Tensor};

use crate::activations::Activation;
use crate::data::Rows;
use crate::error::{NnError, Result};
use crate::init::{seeded_rng, NnRng};
use crate::model::{Model, ParamMut, ParamRef};
use crate::regularizers::Regularizer;

/// Builds a [`Sequential`] layer by layer; names layers `dense1`, `relu1`, `dropout1`,
/// `conv2d1`, `max_pooling2d1`, ….
#[derive(Debug)]
pub struct SequentialBuilder {
    input_features: usize,
    /// `[h, w, c]` of each input sample for a model started with `builder_image`.
    input_image: Option<[usize; 3]>,
    features: usize,
    /// `[h, w, c]` of each sample while the model still works on images.
    image: Option<[usize; 3]>,
    /// The first error of an image layer, reported by `build`.
    error: Option<NnError>,
    rng: NnRng,
    seed: u64,
    layers: Vec<Box<dyn RuntimeLayer>>,
    counts: std::collections::BTreeMap<&'static str, usize>,
}

impl SequentialBuilder {
    fn next_name(&mut self, kind: &'static str) -> String {
        let c = self.counts.entry(kind).or_insert(0);
        *c += 1;
        format!("{kind}{c}")
    }

    /// Appends a Dense layer of `units` followed by `activation` (none for `Linear`).
    pub fn dense(self, units: usize, activation: Activation) -> Self {
        self.dense_regularized(units, activation, None)
    }

    /// As [`SequentialBuilder::dense`], with a kernel regularizer.
    pub fn dense_regularized(
        mut self,
        units: usize,
        activation: Activation,
        kernel_regularizer: Option<Regularizer>,
    ) -> Self {
        let name = self.next_name("dense");
        let mut layer = Dense::new(name, self.features, units, &mut self.rng);
        if let Some(r) = kernel_regularizer {
            layer = layer.with_kernel_regularizer(r);
        }
        self.layers.push(Box::new(layer));
        self.features = units;
        self.image = None;
        if activation != Activation::Linear {
            self = self.activation(activation);
        }
        self
    }

    /// Appends an activation layer.
    pub fn activation(mut self, activation: Activation) -> Self {
        let name = self.next_name(activation.name());
        self.layers
            .push(Box::new(ActivationLayer::new(name, activation, self.features)));
        self
    }

    /// Appends inverted dropout of `rate` (its mask RNG derives from the builder's seed).
    pub fn dropout(mut self, rate: f32) -> Self {
        let name = self.next_name("dropout");
        let seed = self.seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(self.layers.len() as u64 + 1));
        self.layers.push(Box::new(Dropout::new(name, rate, seed)));
        self
    }

    /// Appends Keras' `BatchNormalization(momentum = 0.99, epsilon = 1e-3)` over the features,
    /// or over the channels of an image (statistics over the batch and every pixel).
    pub fn batch_norm(self) -> Self {
        self.batch_norm_with(0.99, 1e-3)
    }

    /// Appends batch normalisation with the given momentum and epsilon.
    pub fn batch_norm_with(mut self, momentum: f64, epsilon: f64) -> Self {
        let name = self.next_name("batch_normalization");
        let features = self.image.map_or(self.features, |[_, _, c]| c);
        self.layers
            .push(Box::new(BatchNormLayer::new(name, features, momentum, epsilon)));
        self
    }

    /// Appends an embedding of `vocab` ids into `dim` values each (Keras' `Embedding`): each
    /// input value is an id, so `n` features per sample become `n · dim`. Ids get no gradient,
    /// so it belongs first.
    pub fn embedding(mut self, vocab: usize, dim: usize) -> Self {
        let name = self.next_name("embedding");
        let seed = self.seed ^ (0xD1B5_4A32_D192_ED03u64.wrapping_mul(self.layers.len() as u64 + 1));
        self.layers
            .push(Box::new(EmbeddingLayer::new(name, vocab, dim, seed)));
        self.features *= dim;
        self.image = None;
        self
    }

    /// Appends any layer (the image geometry is forgotten: image layers cannot follow it).
    pub fn layer(mut self, layer: Box<dyn RuntimeLayer>) -> Self {
        self.features = layer.output_features(self.features);
        self.layers.push(layer);
        self.image = None;
        self
    }

    /// The current image `[h, w, c]`, or records why an image layer cannot be added here.
    fn image_for(&mut self, what: &'static str) -> Option<[usize; 3]> {
        if self.error.is_some() {
            return None;
        }
        if self.image.is_none() {
            self.error = Some(NnError::invalid(
                "Sequential",
                format!("`{what}` needs images: start with `Sequential::builder_image(h, w, c, seed)` and put it before `flatten`/`dense`"),
            ));
        }
        self.image
    }

    fn push_image_layer(&mut self, layer: Box<dyn RuntimeLayer>, out: [usize; 3]) {
        self.features = out.iter().product();
        self.image = Some(out);
        self.layers.push(layer);
    }

    /// Appends a 2-D convolution of `filters` channels with a `kernel = (kh, kw)` window
    /// (Keras' `Conv2D`); a ReLU runs inside the layer, other activations as a following
    /// layer. Parameters `conv2dN.kernel` (`[kh, kw, c / groups, filters]`, Glorot uniform) and
    /// `conv2dN.bias`; the regularizers of `options` add to [`Model::regularization_loss`] and
    /// the gradients, its constraints run in [`Model::apply_constraints`] after each update.
    pub fn conv2d(self, filters: usize, kernel: (usize, usize), options: Conv2dOptions) -> Self {
        self.conv_layer("conv2d", filters, kernel, options)
    }

    /// Appends a depthwise convolution (Keras' `DepthwiseConv2D`): each input channel is
    /// convolved with its own `depth_multiplier` filters (a grouped convolution with one group
    /// per channel; kernel `[kh, kw, 1, c · depth_multiplier]`, output channel `c·m + j`).
    pub fn depthwise_conv2d(
        self,
        kernel: (usize, usize),
        depth_multiplier: usize,
        options: Conv2dOptions,
    ) -> Self {
        let c = self.image.map_or(1, |i| i[2]);
        let options = Conv2dOptions { groups: c, ..options };
        self.conv_layer("depthwise_conv2d", c * depth_multiplier, kernel, options)
    }

    fn conv_layer(
        mut self,
        kind: &'static str,
        filters: usize,
        kernel: (usize, usize),
        options: Conv2dOptions,
    ) -> Self {
        let Some(input) = self.image_for(kind) else {
            return self;
        };
        let name = self.next_name(kind);
        let relu = options.activation == Activation::Relu;
        match Conv2D::try_new(
            &name,
            input,
            filters,
            kernel,
            &options,
            relu,
            Initializer::GlorotUniform,
            &mut self.rng,
        ) {
            Ok(layer) => {
                let out = layer.output_shape();
                self.push_image_layer(Box::new(layer), out);
                if !relu && options.activation != Activation::Linear {
                    let name = self.next_name(options.activation.name());
                    self.layers
                        .push(Box::new(ActivationLayer::new(name, options.activation, out[2])));
                }
            }
            Err(e) => self.error = Some(e.into()),
        }
        self
    }

    fn pool_layer(mut self, kind: PoolKind, pool: Pool2d) -> Self {
        let what = if kind == PoolKind::Max {
            "max_pooling2d"
        } else {
            "average_pooling2d"
        };
        let Some(input) = self.image_for(what) else {
            return self;
        };
        match Pool2D::try_new(kind, input, pool) {
            Ok(inner) => {
                let name = self.next_name(what);
                let out = inner.output_shape();
                let len = input.iter().product();
                self.push_image_layer(Box::new(Pooling2D::new(name, inner, len)), out);
            }
            Err(e) => self.error = Some(e.into()),
        }
        self
    }

    /// Appends max pooling (Keras' `MaxPooling2D`; `Pool2d::default()` is a 2×2 window,
    /// stride 2, valid padding).
    pub fn max_pool2d(self, pool: Pool2d) -> Self {
        self.pool_layer(PoolKind::Max, pool)
    }

    /// Appends average pooling (Keras' `AveragePooling2D`: with `Same` padding, windows are
    /// averaged over their cells inside the image).
    pub fn avg_pool2d(self, pool: Pool2d) -> Self {
        self.pool_layer(PoolKind::Average, pool)
    }

    /// Appends global average pooling (Keras' `GlobalAveragePooling2D`): `[h, w, c]` → `c`.
    pub fn global_avg_pool2d(mut self) -> Self {
        let Some(input) = self.image_for("global_average_pooling2d") else {
            return self;
        };
        let name = self.next_name("global_average_pooling2d");
        self.layers
            .push(Box::new(GlobalAveragePooling2D::new(name, input)));
        self.features = input[2];
        self.image = None;
        self
    }

    /// Appends `Flatten`: the image's `h · w · c` values become the features of the following
    /// dense layers.
    pub fn flatten(mut self) -> Self {
        let name = self.next_name("flatten");
        self.layers.push(Box::new(Flatten::new(name)));
        self.image = None;
        self
    }

    /// Finishes the model for input tensors of shape `I` and outputs of shape `O`.
    ///
    /// # Errors
    /// The first error of an image layer (a window that does not fit, an image layer without
    /// image input, channels not divisible by the groups); [`NnError::InvalidArgument`] when `O` is not rank 2, or when a static size of `I`
    /// (beyond the first dim) or `O`'s second dim disagrees with the layers' sizes.
    pub fn build<I: Shape, O: Shape>(self) -> Result<Sequential<I, O>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if I::RANK < 2 || O::RANK != 2 {
            return Err(NnError::invalid(
                "Sequential::build",
                format!(
                    "needs input rank >= 2 and output rank 2, got {} and {}",
                    I::RANK,
                    O::RANK
                ),
            ));
        }
        if let Some(per) = I::STATIC[1..].iter().copied().collect::<Option<Vec<usize>>>() {
            let n: usize = per.iter().product();
            if n != self.input_features {
                return Err(NnError::invalid(
                    "Sequential::build",
                    format!(
                        "input shape {:?} has {n} features per sample, the model takes {}",
                        I::NAMES,
                        self.input_features
                    ),
                ));
            }
        }
        if let Some(n) = O::STATIC[1] {
            if n != self.features {
                return Err(NnError::invalid(
                    "Sequential::build",
                    format!(
                        "output dimension `{}` has size {n}, the last layer gives {}",
                        O::NAMES[1],
                        self.features
                    ),
                ));
            }
        }
        Ok(Sequential {
            layers: self.layers,
            input_features: self.input_features,
            input_image: self.input_image,
            output_features: self.features,
            _shapes: PhantomData,
        })
    }
}

/// A stack of layers applied in order.
#[derive(Debug)]
pub struct Sequential<I: Shape, O: Shape> {
    layers: Vec<Box<dyn RuntimeLayer>>,
    input_features: usize,
    input_image: Option<[usize; 3]>,
    output_features: usize,
    _shapes: PhantomData<fn(I) -> O>,
}

impl Sequential<(), ()> {
    /// Starts a model taking `input_features` values per sample; `seed` drives weight
    /// initialisation and dropout masks.
    pub fn builder(input_features: usize, seed: u64) -> SequentialBuilder {
        SequentialBuilder {
            input_features,
            input_image: None,
            features: input_features,
            image: None,
            error: None,
            rng: seeded_rng(seed),
            seed,
            layers: Vec::new(),
            counts: Default::default(),
        }
    }
}

impl Sequential<(), ()> {
    /// Starts a model taking images of `h × w` pixels and `c` channels (NHWC: each sample's
    /// values are row-major `[h, w, c]`), so that convolution and pooling layers can follow.
    pub fn builder_image(h: usize, w: usize, c: usize, seed: u64) -> SequentialBuilder {
        let mut b = Sequential::builder(h * w * c, seed);
        b.image = Some([h, w, c]);
        b.input_image = b.image;
        b
    }
}

impl<I: Shape, O: Shape> Sequential<I, O> {
    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn RuntimeLayer>] {
        &self.layers
    }

    fn output(&self, y: Vec<f32>, rows: usize) -> Result<Tensor<O>> {
        Ok(Tensor::from_vec_dims(y, &[rows, self.output_features])?)
    }

    /// Who takes the input: the first layer, or the model when it has none.
    fn first_layer(&self) -> String {
        self.layers.first().map_or_else(
            || "the model (no layers)".to_string(),
            |l| format!("layer `{}`", l.name()),
        )
    }

    /// Checks that each sample of `x` has the values the first layer takes (and, for a model
    /// started with [`Sequential::builder_image`] and an input of rank 4, the image's height,
    /// width and channels); the error names the layer, the input's dim and both sizes.
    fn check_input(&self, x: &Tensor<I>) -> Result<()> {
        let inner = &x.dims()[1..];
        let names = &I::NAMES[1..];
        let mismatch = |dim: &str, got: usize, takes: usize, what: &str| {
            Err(NnError::invalid(
                "Sequential",
                format!(
                    "{} takes {takes} {what}, but dimension `{dim}` of the input {} has length {got}",
                    self.first_layer(),
                    names_and_lengths(I::NAMES, x.dims()),
                ),
            ))
        };
        if let (Some(image), 3) = (self.input_image, inner.len()) {
            let what = ["rows of pixels per image", "pixels per row", "channels per pixel"];
            for (k, (&got, &takes)) in inner.iter().zip(&image).enumerate() {
                if got != takes {
                    return mismatch(names[k], got, takes, what[k]);
                }
            }
            return Ok(());
        }
        // the input's element count fits in a usize, so the product of its inner lengths does
        let per: usize = inner.iter().product();
        if per == self.input_features {
            return Ok(());
        }
        match inner {
            [only] => mismatch(names[0], *only, self.input_features, "features per sample"),
            _ => Err(NnError::invalid(
                "Sequential",
                format!(
                    "{} takes {} values per sample, but the input {} has {per} (dimensions `{}` together)",
                    self.first_layer(),
                    self.input_features,
                    names_and_lengths(I::NAMES, x.dims()),
                    names.join("`, `"),
                ),
            )),
        }
    }

    /// Checks that `layer` gave `features` values for each of `rows` samples.
    fn check_output(layer: &dyn RuntimeLayer, y: &[f32], rows: usize, features: usize) -> Result<()> {
        if rows.checked_mul(features) == Some(y.len()) {
            return Ok(());
        }
        Err(NnError::invalid(
            "Sequential",
            format!(
                "layer `{}` gave {} values for {rows} samples, expected {features} per sample",
                layer.name(),
                y.len()
            ),
        ))
    }
}

/// `[A=2, B=3]`: each dim's name with its length.
fn names_and_lengths(names: &[&str], dims: &[usize]) -> String {
    let parts: Vec<String> = names.iter().zip(dims).map(|(n, d)| format!("{n}={d}")).collect();
    format!("[{}]", parts.join(", "))
}

impl<I: Shape, O: Shape> Model for Sequential<I, O> {
    type Input = Tensor<I>;
    type Output = Tensor<O>;

    /// # Panics
    /// With the message of [`Model::try_forward`]'s error when the input does not fit the
    /// model (possible only with run-time inner dims).
    fn forward(&self, input: &Tensor<I>) -> Tensor<O> {
        self.try_forward(input).unwrap_or_else(|e| panic!("{e}"))
    }

    /// # Panics
    /// As [`Model::forward`].
    fn forward_train(&mut self, input: &Tensor<I>) -> Tensor<O> {
        self.try_forward_train(input).unwrap_or_else(|e| panic!("{e}"))
    }

    /// # Errors
    /// [`NnError::InvalidArgument`] naming the first layer, the input's dim and both lengths
    /// when a sample of the input does not have the values the model takes (possible only
    /// with run-time inner dims), or naming a layer that gave the wrong number of values.
    fn try_forward(&self, input: &Tensor<I>) -> Result<Tensor<O>> {
        self.check_input(input)?;
        let rows = input.num_rows();
        let x = input.values();
        let (mut h, mut features): (Option<Vec<f32>>, usize) = (None, self.input_features);
        for l in &self.layers {
            features = l.output_features(features);
            let y = l.forward(h.as_deref().unwrap_or(&x), rows);
            Self::check_output(l.as_ref(), &y, rows, features)?;
            h = Some(y);
        }
        self.output(h.unwrap_or_else(|| x.into_owned()), rows)
    }

    /// # Errors
    /// As [`Model::try_forward`].
    fn try_forward_train(&mut self, input: &Tensor<I>) -> Result<Tensor<O>> {
        self.check_input(input)?;
        let rows = input.num_rows();
        let (mut h, mut features) = (input.values().into_owned(), self.input_features);
        for l in &mut self.layers {
            features = l.output_features(features);
            h = l.forward_train(h, rows);
            Self::check_output(l.as_ref(), &h, rows, features)?;
        }
        self.output(h, rows)
    }

    fn backward(&mut self, grad_output: &Tensor<O>) {
        let rows = grad_output.num_rows();
        let mut g = grad_output.values().into_owned();
        let n = self.layers.len();
        for (i, l) in self.layers.iter_mut().enumerate().rev() {
            let need = i > 0 && n > 0;
            match l.backward(&g, rows, need) {
                Some(dx) => g = dx,
                None => break,
            }
        }
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.layers.iter_mut().flat_map(|l| l.params_mut()).collect()
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }

    fn regularization_loss(&self) -> f32 {
        self.layers.iter().map(|l| l.regularization_loss()).sum()
    }

    fn apply_constraints(&mut self) -> Result<()> {
        self.layers.iter_mut().try_for_each(|l| l.apply_constraints())
    }

    fn relu_zero_fractions(&self) -> Vec<(String, f32)> {
        self.layers
            .iter()
            .filter_map(|l| l.zero_fraction().map(|z| (l.name().to_string(), z)))
            .collect()
    }
}
