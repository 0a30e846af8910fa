//! `Variable<S, E>`: a named, trainable tensor that optimizers update in place.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::tape::{with_current, Node, NodeId};
use crate::element::Float;
use crate::error::Result;
use crate::layout::Dims;
use crate::shape::Shape;
use crate::tensor::Tensor;

static NEXT_VARIABLE: AtomicU64 = AtomicU64::new(1);

/// A named tensor that training updates in place: the analogue of `tf.Variable` ([`Tensor`]
/// stays the immutable value type, like `tf.constant`).
///
/// Reading a trainable variable with [`Variable::read`] while a
/// [`crate::autodiff::GradientTape`] records tracks it automatically, so
/// [`crate::autodiff::Gradients::wrt`] gives its gradient, typed like the variable.
///
/// ```
/// use tensor_core::prelude::*;
/// use tensor_core::autodiff::{GradientTape, Variable};
/// tensor_macros::dims! { crate = ::tensor_core; In = 2; Out = 1; }
///
/// let mut w = Variable::new("w", Tensor::<(In, Out), f64>::from_vec(vec![1.0, -1.0], &[]).unwrap());
/// let x = Tensor::<(Out, In), f64>::from_vec(vec![3.0, 4.0], &[]).unwrap();
/// let tape = GradientTape::new();
/// let y = x.matmul(&w.read()).sum_to_scalar(); // 3 w0 + 4 w1
/// let g: Tensor<(In, Out), f64> = tape.gradient(&y).unwrap().wrt(&w).unwrap();
/// assert_eq!(g.to_vec(), vec![3.0, 4.0]);
/// w.assign_sub(&g.mul_scalar(0.5)).unwrap(); // one step of gradient descent
/// assert_eq!(w.value().to_vec(), vec![-0.5, -3.0]);
/// ```
pub struct Variable<S: Shape, E: Float = f32> {
    name: String,
    trainable: bool,
    id: u64,
    version: u64,
    value: Tensor<S, E>,
}

impl<S: Shape, E: Float> core::fmt::Debug for Variable<S, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Variable")
            .field("name", &self.name)
            .field("trainable", &self.trainable)
            .field("dims", &self.value.dims())
            .finish()
    }
}

impl<S: Shape, E: Float> Variable<S, E> {
    /// A trainable variable holding `value`.
    pub fn new(name: impl Into<String>, value: Tensor<S, E>) -> Self {
        let mut value = value.contiguous();
        value.node = None;
        Variable {
            name: name.into(),
            trainable: true,
            id: NEXT_VARIABLE.fetch_add(1, Ordering::Relaxed),
            version: 0,
            value,
        }
    }

    /// A variable that tapes do not track (e.g. running statistics).
    pub fn non_trainable(name: impl Into<String>, value: Tensor<S, E>) -> Self {
        let mut v = Self::new(name, value);
        v.trainable = false;
        v
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether tapes track reads of this variable.
    pub fn trainable(&self) -> bool {
        self.trainable
    }

    /// Turns tracking of this variable on or off.
    pub fn set_trainable(&mut self, trainable: bool) {
        self.trainable = trainable;
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The run-time lengths of every dimension.
    pub fn dims(&self) -> &[usize] {
        self.value.dims()
    }

    /// The current value; tracked by the recording tape when the variable is trainable (the
    /// same node for every read of one version on one tape).
    pub fn read(&self) -> Tensor<S, E> {
        let mut out = self.value.clone();
        if !self.trainable {
            return out;
        }
        out.node = with_current(|tape| {
            if let Some(&(index, version)) = tape.variables.get(&self.id) {
                if version == self.version {
                    return NodeId { tape: tape.id, index };
                }
            }
            let index = tape.nodes.len() as u32;
            tape.nodes.push(Node {
                parents: smallvec::SmallVec::new(),
                backward: None,
                accumulate: super::tape::accumulate::<S, E>,
                kept_dims: Some(Dims::from_slice(self.value.dims())),
            });
            tape.variables.insert(self.id, (index, self.version));
            NodeId { tape: tape.id, index }
        });
        out
    }

    /// The current value; the same as [`Variable::read`].
    pub fn value(&self) -> Tensor<S, E> {
        self.read()
    }

    /// Replaces the value.
    ///
    /// # Errors
    /// [`crate::TensorError::DimMismatch`] when `value` has other lengths.
    pub fn assign(&mut self, value: &Tensor<S, E>) -> Result<()> {
        crate::ops::check_trailing("assign", S::NAMES, self.value.dims(), value.dims())?;
        let mut v = value.contiguous();
        v.node = None;
        self.value = v;
        self.version += 1;
        Ok(())
    }

    /// Subtracts `delta` in place (the step of gradient descent).
    ///
    /// # Errors
    /// [`crate::TensorError::DimMismatch`] when `delta` has other lengths.
    pub fn assign_sub(&mut self, delta: &Tensor<S, E>) -> Result<()> {
        crate::ops::check_trailing("assign_sub", S::NAMES, self.value.dims(), delta.dims())?;
        let d = delta.contiguous();
        let d = d.as_slice().unwrap_or(&[]);
        self.update(|v| {
            for (x, y) in v.iter_mut().zip(d) {
                *x = *x - *y;
            }
        });
        Ok(())
    }

    /// Adds `delta` in place.
    ///
    /// # Errors
    /// [`crate::TensorError::DimMismatch`] when `delta` has other lengths.
    pub fn assign_add(&mut self, delta: &Tensor<S, E>) -> Result<()> {
        crate::ops::check_trailing("assign_add", S::NAMES, self.value.dims(), delta.dims())?;
        let d = delta.contiguous();
        let d = d.as_slice().unwrap_or(&[]);
        self.update(|v| {
            for (x, y) in v.iter_mut().zip(d) {
                *x = *x + *y;
            }
        });
        Ok(())
    }

    /// Updates the elements in place (row-major). The storage is copied first only when
    /// another tensor still shares it (e.g. a tape holding the old value).
    pub fn update(&mut self, f: impl FnOnce(&mut [E])) {
        let buf = Arc::make_mut(&mut self.value.storage);
        f(&mut buf[..]);
        self.version += 1;
    }
}
