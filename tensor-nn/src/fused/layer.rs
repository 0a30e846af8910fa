//! The layer trait of `model!`: what a type needs so that a model can apply it to the last dim
//! of a tensor, `x >> MyLayer(Out)`. Every model declared with `model!` whose input and output
//! are `[Batch, In]` and `[Batch, Out]` implements it, so models nest; hand-written layers
//! implement it too (see the example on [`FusedLayer`]).

use tensor_core::{Dim, Element, Float, Shape, Tensor};

use super::param::Param;

/// A layer that maps rows of `InFeatures` values to rows of `OutFeatures` values, with its own
/// parameters and a fused backward pass. The leading dims of the tensor it is applied to are
/// flattened into `rows`.
///
/// A `model!` applying `x >> Layer(Out)` checks at compile time that `x`'s last dim is
/// `InFeatures` and that `Out` is `OutFeatures` (messages naming both dims). One application per
/// layer value: the layer keeps the buffers of its last training forward pass.
///
/// ```
/// use tensor_core::Float;
/// use tensor_nn::fused::{prefix_names, FusedLayer, Param};
///
/// tensor_macros::dims! { crate = ::tensor_core; Pixels = 4; }
///
/// /// `y = x ⊙ s`: a learned scale per feature.
/// #[derive(Debug, Clone)]
/// pub struct Scale<F> {
///     s: Param<F>,
///     x: Vec<F>,
/// }
///
/// impl<F: Float> FusedLayer<F> for Scale<F> {
///     type InFeatures = Pixels;
///     type OutFeatures = Pixels;
///     fn build(_seed: u64) -> Self {
///         Scale { s: Param::new("scale".into(), vec![4], vec![F::one(); 4]), x: Vec::new() }
///     }
///     fn forward_rows(&self, x: &[F], _rows: usize, out: &mut Vec<F>) {
///         out.clear();
///         out.extend(x.chunks_exact(4).flat_map(|r| r.iter().zip(&self.s.value).map(|(&a, &b)| a * b)));
///     }
///     fn forward_train_rows(&mut self, x: &[F], rows: usize, out: &mut Vec<F>) {
///         self.x.clear();
///         self.x.extend_from_slice(x);
///         self.forward_rows(x, rows, out);
///     }
///     fn backward_rows(&mut self, grad: &[F], _rows: usize, grad_in: Option<&mut [F]>) {
///         for (g, x) in grad.chunks_exact(4).zip(self.x.chunks_exact(4)) {
///             for j in 0..4 {
///                 self.s.grad[j] = self.s.grad[j] + g[j] * x[j];
///             }
///         }
///         if let Some(gi) = grad_in {
///             for (k, d) in gi.iter_mut().enumerate() {
///                 *d = *d + grad[k] * self.s.value[k % 4];
///             }
///         }
///     }
///     fn layer_params(&self) -> Vec<&Param<F>> { vec![&self.s] }
///     fn layer_params_mut(&mut self) -> Vec<&mut Param<F>> { vec![&mut self.s] }
/// }
///
/// // In a model: `model! { struct Net: [Batch, Pixels] -> [Batch, Classes] { Scale(Pixels), Dense(Classes) } }`
/// // names its parameter `scale1.scale` and calls these methods; by hand:
/// let mut l = Scale::<f64>::build(0);
/// prefix_names(&mut l, "scale1");
/// assert_eq!(l.layer_params()[0].name, "scale1.scale");
/// let mut y = Vec::new();
/// l.forward_train_rows(&[1.0, 2.0, 3.0, 4.0], 1, &mut y);
/// l.zero_grad();
/// let mut gx = vec![0.0; 4];
/// l.backward_rows(&[1.0; 4], 1, Some(&mut gx));
/// // ∂L/∂s = x, ∂L/∂x = s = 1.
/// assert_eq!(l.layer_params()[0].grad, [1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(gx, [1.0; 4]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a layer `model!` can apply",
    label = "used as a layer here",
    note = "declare it with `model!` (`[Batch, In] -> [Batch, Out]`), or implement `tensor_nn::fused::FusedLayer` for it"
)]
pub trait FusedLayer<F: Float>: Clone + core::fmt::Debug {
    /// The last dim of the tensors it reads.
    type InFeatures: Dim;
    /// The last dim of the tensors it makes.
    type OutFeatures: Dim;

    /// A new layer whose random parameters are drawn from `seed`.
    fn build(seed: u64) -> Self;

    /// Inference over `rows` rows of `x` into `out` (resized).
    fn forward_rows(&self, x: &[F], rows: usize, out: &mut Vec<F>);

    /// Training forward pass, keeping what [`FusedLayer::backward_rows`] needs.
    fn forward_train_rows(&mut self, x: &[F], rows: usize, out: &mut Vec<F>);

    /// Backward pass of the last `forward_train_rows`, given `∂L/∂out`: **adds** the parameters'
    /// gradients (zeroed by [`FusedLayer::zero_grad`] before) and, when given, `∂L/∂x` into
    /// `grad_in`.
    fn backward_rows(&mut self, grad: &[F], rows: usize, grad_in: Option<&mut [F]>);

    /// Every parameter.
    fn layer_params(&self) -> Vec<&Param<F>>;

    /// Every parameter, mutably, in the order of `layer_params`.
    fn layer_params_mut(&mut self) -> Vec<&mut Param<F>>;

    /// Sets every parameter's gradient to zero.
    fn zero_grad(&mut self) {
        for p in self.layer_params_mut() {
            p.grad.iter_mut().for_each(|g| *g = F::zero());
        }
    }

    /// Penalty added to the loss by the layer's regularizers (0 by default).
    fn layer_regularization_loss(&self) -> f64 {
        0.0
    }
}

/// Prefixes every parameter name of `layer` with `prefix.` (`encoder.dense1.kernel`).
pub fn prefix_names<F: Float, L: FusedLayer<F>>(layer: &mut L, prefix: &str) {
    for p in layer.layer_params_mut() {
        p.name = format!("{prefix}.{}", p.name);
    }
}

/// `rows` rows of `data` as a tensor of shape `S` (`[rows, cols]`), for a nested model.
///
/// # Panics
/// If `data` does not hold `rows` rows of `S`'s last dim, or `S`'s first dim is static and not
/// `rows` long.
pub fn rows_tensor<S: Shape, F: Element>(data: &[F], rows: usize) -> Tensor<S, F> {
    let cols = data.len().checked_div(rows).unwrap_or(0);
    match Tensor::from_vec_dims(data.to_vec(), &[rows, cols]) {
        Ok(t) => t,
        Err(e) => panic!("model!: a nested model got rows of the wrong size: {e}"),
    }
}
