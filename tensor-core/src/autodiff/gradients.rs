//! The result of a backward pass: typed gradients looked up by the value they belong to.

use std::collections::HashMap;

use super::tape::AnyGrad;
use super::variable::Variable;
use crate::element::Float;
use crate::error::{Result, TensorError};
use crate::layout::Dims;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The gradients computed by [`crate::autodiff::GradientTape::gradient`]: one per watched value
/// and per variable read on the tape, each typed like its source.
pub struct Gradients {
    tape: u32,
    grads: HashMap<u32, AnyGrad>,
    sources: HashMap<u32, Dims>,
    variables: HashMap<u64, u32>,
}

impl core::fmt::Debug for Gradients {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gradients")
            .field("tape", &self.tape)
            .field("sources", &self.sources.len())
            .field("variables", &self.variables.len())
            .finish()
    }
}

/// Something a gradient can be asked for: a watched [`Tensor`] or a [`Variable`].
pub trait GradSource {
    /// The source's shape, which is also its gradient's.
    type Shape: Shape;
    /// The source's element type.
    type Elem: Float;
    /// The node of this source in `grads`.
    ///
    /// # Errors
    /// [`TensorError::NotRecorded`] when the source was not tracked on that tape.
    fn node_in(&self, grads: &Gradients) -> Result<u32>;
}

impl<S: Shape, E: Float> GradSource for Tensor<S, E> {
    type Shape = S;
    type Elem = E;
    fn node_in(&self, grads: &Gradients) -> Result<u32> {
        match self.node {
            Some(n) if n.tape == grads.tape => Ok(n.index),
            _ => Err(TensorError::NotRecorded {
                what: "this tensor (watch it with `tape.watch(&x)` before using it)",
            }),
        }
    }
}

impl<S: Shape, E: Float> GradSource for Variable<S, E> {
    type Shape = S;
    type Elem = E;
    fn node_in(&self, grads: &Gradients) -> Result<u32> {
        grads
            .variables
            .get(&self.id())
            .copied()
            .ok_or(TensorError::NotRecorded {
                what: "this variable (read it, trainable, while the tape records)",
            })
    }
}

impl Gradients {
    pub(crate) fn new(
        tape: u32,
        grads: HashMap<u32, AnyGrad>,
        sources: HashMap<u32, Dims>,
        variables: HashMap<u64, u32>,
    ) -> Self {
        Gradients {
            tape,
            grads,
            sources,
            variables,
        }
    }

    /// The gradient with respect to `source` (a watched tensor or a variable), typed like it:
    /// a `Tensor<(Pixels, Hidden)>` for a `Variable<(Pixels, Hidden)>`. A source the target
    /// does not depend on gets zeros.
    ///
    /// # Errors
    /// [`TensorError::NotRecorded`] when `source` was not watched (or, for a variable, read
    /// while trainable) on the tape these gradients come from; [`TensorError::NotWatched`]
    /// for an intermediate value that was recorded but not watched.
    pub fn wrt<T: GradSource>(&self, source: &T) -> Result<Tensor<T::Shape, T::Elem>> {
        let node = source.node_in(self)?;
        let dims = self.sources.get(&node).ok_or(TensorError::NotWatched)?;
        match self.grads.get(&node) {
            Some(g) => {
                g.downcast_ref::<Tensor<T::Shape, T::Elem>>()
                    .cloned()
                    .ok_or(TensorError::NotRecorded {
                        what: "a value of this type",
                    })
            }
            None => Ok(Tensor::full_dims(<T::Elem as num_traits::Zero>::zero(), dims)),
        }
    }

    /// Number of sources (watched values and variables) these gradients cover.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether no source was tracked.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}
