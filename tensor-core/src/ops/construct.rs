//! Constructors: zeros, ones, arange, linspace, eye.

use crate::dim::Dim;
use crate::element::{Element, Float, Num};
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::{resolve_dims, Tensor};

impl<S: Shape, E: Num> Tensor<S, E> {
    /// All zeros; `runtime` gives the lengths of the run-time dims in order.
    ///
    /// # Panics
    /// When `runtime` does not give one non-zero length per run-time dim, or the lengths'
    /// product overflows.
    pub fn zeros(runtime: &[usize]) -> Self {
        Self::full(E::zero(), runtime)
    }

    /// All ones; `runtime` gives the lengths of the run-time dims in order.
    ///
    /// # Panics
    /// When `runtime` does not give one non-zero length per run-time dim, or the lengths'
    /// product overflows.
    pub fn ones(runtime: &[usize]) -> Self {
        Self::full(E::one(), runtime)
    }

    /// Zeros shaped like `other`.
    pub fn zeros_like<E2: Element>(other: &Tensor<S, E2>) -> Self {
        Self::from_buffer(
            crate::storage::buffer_filled(other.numel(), E::zero()),
            other.dims(),
        )
    }
}

impl<D: Dim, E: Num> Tensor<(D,), E> {
    /// `start, start + step, ...` for every position of `D` (its length from `D` or `runtime`).
    ///
    /// # Errors
    /// When `runtime` does not give `D`'s length, or gives more than one buffer can hold
    /// ([`crate::TensorError::TooLarge`]).
    pub fn arange(start: E, step: E, runtime: &[usize]) -> Result<Self> {
        let n = resolve_dims::<(D,), E>("arange", runtime)?[0];
        let mut v = start;
        let data: Vec<E> = (0..n)
            .map(|_| {
                let cur = v;
                v = v + step;
                cur
            })
            .collect();
        Self::from_vec_dims(data, &[n])
    }
}

impl<D: Dim, E: Float> Tensor<(D,), E> {
    /// Evenly spaced values from `start` to `end` inclusive, as NumPy's `linspace`.
    ///
    /// # Errors
    /// When `runtime` does not give `D`'s length, or gives more than one buffer can hold
    /// ([`crate::TensorError::TooLarge`]).
    pub fn linspace(start: E, end: E, runtime: &[usize]) -> Result<Self> {
        let n = resolve_dims::<(D,), E>("linspace", runtime)?[0];
        let (s, e): (f64, f64) = (start.into(), end.into());
        let step = if n > 1 { (e - s) / (n - 1) as f64 } else { 0.0 };
        let data = (0..n)
            .map(|i| {
                if i + 1 == n && n > 1 {
                    end
                } else {
                    E::from_f64(s + step * i as f64)
                }
            })
            .collect();
        Self::from_vec_dims(data, &[n])
    }
}

impl<A: Dim, B: Dim, E: Num> Tensor<(A, B), E> {
    /// Ones on the main diagonal, zeros elsewhere.
    ///
    /// # Errors
    /// When `runtime` does not give the run-time lengths, or their product overflows
    /// ([`crate::TensorError::TooLarge`]).
    pub fn eye(runtime: &[usize]) -> Result<Self> {
        Self::try_from_fn(runtime, |i| if i[0] == i[1] { E::one() } else { E::zero() })
    }
}
