//! Custom ops: a forward and a hand-written backward that a user supplies, recorded on the
//! tape exactly like a built-in op (the analogue of TensorFlow's custom ops with registered
//! gradients).

use super::tape::{record_binary, record_unary, without_recording};
use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A one-input op with a hand-written gradient. Apply it with [`Tensor::apply`].
///
/// The forward runs with recording paused (its internals are not recorded); the op is then
/// recorded as one node whose backward rule is [`CustomOp::backward`].
///
/// A custom `swish(x) = x * sigmoid(x)`, whose gradient `s + x s (1 - s)` (with
/// `s = sigmoid(x)`) is checked against finite differences:
///
/// ```
/// use tensor_core::prelude::*;
/// use tensor_core::autodiff::{check_gradients, CustomOp};
/// tensor_macros::dims! { crate = ::tensor_core; N = 4; }
///
/// struct Swish;
/// impl CustomOp<(N,), f64> for Swish {
///     type Output = (N,);
///     fn forward(&self, x: &Tensor<(N,), f64>) -> Tensor<(N,), f64> {
///         x.zip_map(&x.sigmoid(), |x, s| x * s)
///     }
///     fn backward(
///         &self,
///         x: &Tensor<(N,), f64>,
///         _y: &Tensor<(N,), f64>,
///         grad_y: &Tensor<(N,), f64>,
///     ) -> Tensor<(N,), f64> {
///         let s = x.sigmoid();
///         let ds = x.zip_map(&s, |x, s| s + x * s * (1.0 - s));
///         grad_y.zip_map(&ds, |g, d| g * d)
///     }
/// }
///
/// let x = Tensor::<(N,), f64>::from_vec(vec![-2.0, -0.3, 0.5, 3.0], &[]).unwrap();
/// let check = check_gradients(|x: &Tensor<(N,), f64>| x.apply(Swish).square().sum_to_scalar(), &x, 1e-6, 1e-7);
/// assert!(check.is_ok(), "{check:?}");
/// ```
pub trait CustomOp<S: Shape, E: Float>: 'static {
    /// The output shape.
    type Output: Shape;
    /// The value of the op.
    fn forward(&self, x: &Tensor<S, E>) -> Tensor<Self::Output, E>;
    /// The gradient with respect to `x`, given the input, the output `y` and the gradient
    /// `grad_y` of the final scalar with respect to `y` (a vector-Jacobian product).
    fn backward(
        &self,
        x: &Tensor<S, E>,
        y: &Tensor<Self::Output, E>,
        grad_y: &Tensor<Self::Output, E>,
    ) -> Tensor<S, E>;
}

/// A two-input op with hand-written gradients. Apply it with [`Tensor::apply2`].
pub trait CustomOp2<A: Shape, B: Shape, E: Float>: 'static {
    /// The output shape.
    type Output: Shape;
    /// The value of the op.
    fn forward(&self, a: &Tensor<A, E>, b: &Tensor<B, E>) -> Tensor<Self::Output, E>;
    /// The gradients with respect to `a` and `b`, given the inputs, the output and its gradient.
    fn backward(
        &self,
        a: &Tensor<A, E>,
        b: &Tensor<B, E>,
        y: &Tensor<Self::Output, E>,
        grad_y: &Tensor<Self::Output, E>,
    ) -> (Tensor<A, E>, Tensor<B, E>);
}

impl<S: Shape, E: Float> Tensor<S, E> {
    /// Applies a [`CustomOp`], recording it on the tape with its own backward rule.
    pub fn apply<Op: CustomOp<S, E>>(&self, op: Op) -> Tensor<Op::Output, E> {
        let y = without_recording(|| op.forward(self));
        if !self.on_tape() {
            return y;
        }
        let (x, yv) = (self.stop_gradient(), y.stop_gradient());
        record_unary(self, y, move |g| without_recording(|| op.backward(&x, &yv, g)))
    }

    /// Applies a [`CustomOp2`] to `self` and `other`, recording it on the tape.
    pub fn apply2<B: Shape, Op: CustomOp2<S, B, E>>(
        &self,
        other: &Tensor<B, E>,
        op: Op,
    ) -> Tensor<Op::Output, E> {
        let y = without_recording(|| op.forward(self, other));
        if !(self.on_tape() || other.on_tape()) {
            return y;
        }
        let (a, b, yv) = (self.stop_gradient(), other.stop_gradient(), y.stop_gradient());
        record_binary(self, other, y, move |g, _| {
            let (ga, gb) = without_recording(|| op.backward(&a, &b, &yv, g));
            (Some(ga), Some(gb))
        })
    }
}
