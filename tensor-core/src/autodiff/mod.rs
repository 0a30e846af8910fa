//! Reverse-mode automatic differentiation: [`Variable`]s, a [`GradientTape`] that records the
//! ops run on tracked values, typed [`Gradients`], user [`CustomOp`]s and [`check_gradients`].
//!
//! Every differentiable op of [`crate::ops`] records its backward rule (written beside its
//! forward in the op's file) when a tape is recording and one of its inputs is tracked.
//! Sub-gradients at kinks: `relu`, `abs`, `sign` use 0 at 0 (`abs` and `relu` get gradient 0
//! at exactly 0); `maximum`/`minimum` and `max_scalar`/`min_scalar`/`clamp` send the whole
//! gradient to the left operand (`self`) on ties, so `clamp(lo, hi)` passes the gradient for
//! `lo <= x <= hi` inclusive (as TensorFlow's `clip_by_value`); the reductions `max`/`min`
//! share the gradient equally among tied maxima (as TensorFlow and JAX); `pow`'s gradient
//! with respect to the exponent uses `ln(a)` where `a > 0` and 0 elsewhere.
//!
//! ```
//! use tensor_core::prelude::*;
//! use tensor_core::autodiff::{GradientTape, Variable};
//! tensor_macros::dims! { crate = ::tensor_core; Batch; Features = 2; }
//!
//! let w = Variable::new("w", Tensor::<(Features,), f64>::from_vec(vec![0.5, -1.0], &[]).unwrap());
//! let x = Tensor::<(Batch, Features), f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2]).unwrap();
//! let tape = GradientTape::new();
//! // loss = sum over the batch of (x * w)^2; d loss / d w_j = sum_b 2 x_bj^2 w_j
//! let loss = x.mul(&w.read()).square().sum_to_scalar();
//! let g = tape.gradient(&loss).unwrap().wrt(&w).unwrap();
//! assert_eq!(g.to_vec(), vec![2.0 * (1.0 + 9.0) * 0.5, 2.0 * (4.0 + 16.0) * -1.0]);
//! ```

mod check;
mod custom;
mod gradients;
pub(crate) mod rules;
pub(crate) mod tape;
mod variable;

pub use check::{check_gradients, GradCheck, GradInput, GradInputs};
pub use custom::{CustomOp, CustomOp2};
pub use gradients::{GradSource, Gradients};
pub use tape::{GradientTape, NodeId};
pub use variable::Variable;
