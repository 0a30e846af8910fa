//! Element-wise unary ops on the SIMD kernels, plus `map`-style closures.

use crate::element::{Element, Float};
use crate::kernels::UnaryOp;
use crate::shape::Shape;
use crate::storage::{buffer_filled, buffer_from_iter};
use crate::tensor::Tensor;

pub(crate) fn unary_op<S: Shape, E: Float>(op: UnaryOp, a: &Tensor<S, E>) -> Tensor<S, E> {
    let a = a.contiguous();
    let sa = a.as_slice().unwrap_or(&[]);
    let mut buf = buffer_filled(sa.len(), E::zero());
    E::unary(op, sa, &mut buf);
    Tensor::from_buffer(buf, a.dims())
}

macro_rules! unary_methods {
    ($($name:ident, $op:expr, $doc:literal;)*) => {
        impl<S: Shape, E: Float> Tensor<S, E> {
            $(
                #[doc = $doc]
                pub fn $name(&self) -> Self {
                    unary_op($op, self)
                }
            )*
        }
    };
}

unary_methods! {
    neg, UnaryOp::Neg, "Negation, element-wise.";
    abs, UnaryOp::Abs, "Absolute value, element-wise.";
    exp, UnaryOp::Exp, "Exponential, element-wise.";
    ln, UnaryOp::Ln, "Natural logarithm, element-wise.";
    sqrt, UnaryOp::Sqrt, "Square root, element-wise.";
    tanh, UnaryOp::Tanh, "Hyperbolic tangent, element-wise.";
    sigmoid, UnaryOp::Sigmoid, "Logistic sigmoid `1 / (1 + e^-x)`, element-wise.";
    relu, UnaryOp::Relu, "`max(x, 0)`, element-wise.";
    erf, UnaryOp::Erf, "The error function, element-wise.";
    sign, UnaryOp::Sign, "Sign (-1, 0 or 1; NaN stays NaN), element-wise.";
    recip, UnaryOp::Recip, "Reciprocal `1 / x`, element-wise.";
    square, UnaryOp::Square, "Square `x * x`, element-wise.";
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// Combines two tensors of the same shape element by element with a closure.
    ///
    /// # Errors
    /// [`crate::TensorError::DimMismatch`] when run-time lengths differ.
    pub fn try_zip_map<E2: Element, E3: Element>(
        &self,
        other: &Tensor<S, E2>,
        f: impl Fn(E, E2) -> E3,
    ) -> crate::Result<Tensor<S, E3>> {
        super::check_trailing("zip_map", S::NAMES, self.dims(), other.dims())?;
        let (a, b) = (self.to_vec(), other.to_vec());
        let buf = buffer_from_iter(a.into_iter().zip(b).map(|(x, y)| f(x, y)));
        Ok(Tensor::from_buffer(buf, self.dims()))
    }

    /// Combines two tensors of the same shape element by element with a closure.
    ///
    /// # Panics
    /// When run-time lengths differ; the message names the dim.
    #[track_caller]
    pub fn zip_map<E2: Element, E3: Element>(
        &self,
        other: &Tensor<S, E2>,
        f: impl Fn(E, E2) -> E3,
    ) -> Tensor<S, E3> {
        super::or_panic(self.try_zip_map(other, f))
    }
}
