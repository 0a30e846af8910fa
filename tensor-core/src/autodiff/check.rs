//! `check_gradients`: the tape's gradients against central finite differences in f64.

use super::gradients::Gradients;
use super::tape::GradientTape;
use crate::element::Float;
use crate::error::{Result, TensorError};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The inputs of a function under [`check_gradients`]: one tensor or a tuple of up to four.
pub trait GradInputs: Sized {
    /// Number of tensors.
    const COUNT: usize;
    /// Every input watched on `tape`.
    fn watch_all(&self, tape: &GradientTape) -> Self;
    /// Number of elements of input `k`.
    fn numel_of(&self, k: usize) -> usize;
    /// Element `i` of input `k`, as f64.
    fn value_at(&self, k: usize, i: usize) -> f64;
    /// A copy with element `i` of input `k` set to `v`.
    fn with_value(&self, k: usize, i: usize, v: f64) -> Self;
    /// The gradient of input `k`, as f64 in row-major order.
    ///
    /// # Errors
    /// When input `k` has no gradient in `grads`.
    fn grad_of(&self, k: usize, grads: &Gradients) -> Result<Vec<f64>>;
}

/// One tensor input of [`check_gradients`].
pub trait GradInput: Sized + Clone {
    /// Watched on `tape`.
    fn watch_one(&self, tape: &GradientTape) -> Self;
    /// Number of elements.
    fn numel_one(&self) -> usize;
    /// Element `i` as f64.
    fn value_one(&self, i: usize) -> f64;
    /// A copy with element `i` set to `v`.
    fn with_one(&self, i: usize, v: f64) -> Self;
    /// Its gradient as f64.
    ///
    /// # Errors
    /// When it has no gradient in `grads`.
    fn grad_one(&self, grads: &Gradients) -> Result<Vec<f64>>;
}

impl<S: Shape, E: Float> GradInput for Tensor<S, E> {
    fn watch_one(&self, tape: &GradientTape) -> Self {
        tape.watch(self)
    }
    fn numel_one(&self) -> usize {
        self.numel()
    }
    fn value_one(&self, i: usize) -> f64 {
        self.to_vec()[i].into()
    }
    fn with_one(&self, i: usize, v: f64) -> Self {
        let mut data = self.to_vec();
        data[i] = E::from_f64(v);
        Tensor::from_buffer(crate::storage::buffer_from_slice(&data), self.dims())
    }
    fn grad_one(&self, grads: &Gradients) -> Result<Vec<f64>> {
        Ok(grads.wrt(self)?.to_vec().into_iter().map(Into::into).collect())
    }
}

impl<S: Shape, E: Float> GradInputs for Tensor<S, E> {
    const COUNT: usize = 1;
    fn watch_all(&self, tape: &GradientTape) -> Self {
        self.watch_one(tape)
    }
    fn numel_of(&self, _k: usize) -> usize {
        self.numel_one()
    }
    fn value_at(&self, _k: usize, i: usize) -> f64 {
        self.value_one(i)
    }
    fn with_value(&self, _k: usize, i: usize, v: f64) -> Self {
        self.with_one(i, v)
    }
    fn grad_of(&self, _k: usize, grads: &Gradients) -> Result<Vec<f64>> {
        self.grad_one(grads)
    }
}

macro_rules! tuple_inputs {
    ($n:expr; $($t:ident $i:tt),*) => {
        impl<$($t: GradInput),*> GradInputs for ($($t,)*) {
            const COUNT: usize = $n;
            fn watch_all(&self, tape: &GradientTape) -> Self {
                ($(self.$i.watch_one(tape),)*)
            }
            fn numel_of(&self, k: usize) -> usize {
                match k { $($i => self.$i.numel_one(),)* _ => 0 }
            }
            fn value_at(&self, k: usize, i: usize) -> f64 {
                match k { $($i => self.$i.value_one(i),)* _ => 0.0 }
            }
            fn with_value(&self, k: usize, i: usize, v: f64) -> Self {
                ($(if k == $i { self.$i.with_one(i, v) } else { self.$i.clone() },)*)
            }
            fn grad_of(&self, k: usize, grads: &Gradients) -> Result<Vec<f64>> {
                match k { $($i => self.$i.grad_one(grads),)* _ => Ok(Vec::new()) }
            }
        }
    };
}

tuple_inputs!(1; A 0);
tuple_inputs!(2; A 0, B 1);
tuple_inputs!(3; A 0, B 1, C 2);
tuple_inputs!(4; A 0, B 1, C 2, D 3);

/// What [`check_gradients`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// Number of input elements checked.
    pub checked: usize,
    /// Largest `|analytic - numeric|`.
    pub max_abs_error: f64,
    /// Largest `|analytic - numeric| / max(1, |numeric|)`: the quantity compared with `tol`.
    pub max_scaled_error: f64,
}

/// Checks the tape's gradients of the scalar function `f` at `inputs` against central finite
/// differences `(f(x + eps) - f(x - eps)) / (2 eps)`, computed in f64, element by element of
/// every input. An element passes when `|analytic - numeric| <= tol * max(1, |numeric|)`.
///
/// Use f64 inputs for a meaningful check (with f32 the differences are rounded to f32).
///
/// # Errors
/// [`TensorError::GradientCheck`] for the first element out of tolerance (naming the input,
/// the element and both values), and any error of the tape (e.g. `f`'s result not depending
/// on the inputs through recorded ops).
///
/// ```
/// use tensor_core::prelude::*;
/// use tensor_core::autodiff::check_gradients;
/// tensor_macros::dims! { crate = ::tensor_core; N = 3; }
/// let x = Tensor::<(N,), f64>::from_vec(vec![0.3, -1.2, 2.0], &[]).unwrap();
/// let report = check_gradients(|x: &Tensor<(N,), f64>| x.tanh().mul(x).sum_to_scalar(), &x, 1e-6, 1e-7).unwrap();
/// assert_eq!(report.checked, 3);
/// ```
pub fn check_gradients<I, E, F>(f: F, inputs: &I, eps: f64, tol: f64) -> Result<GradCheck>
where
    I: GradInputs,
    E: Float,
    F: Fn(&I) -> Tensor<(), E>,
{
    let analytic = {
        let tape = GradientTape::new();
        let watched = inputs.watch_all(&tape);
        let y = f(&watched);
        let grads = tape.gradient(&y)?;
        (0..I::COUNT)
            .map(|k| watched.grad_of(k, &grads))
            .collect::<Result<Vec<_>>>()?
    };
    let eval = |x: &I| -> f64 { f(x).item().into() };
    let mut report = GradCheck {
        checked: 0,
        max_abs_error: 0.0,
        max_scaled_error: 0.0,
    };
    for (k, grad) in analytic.iter().enumerate() {
        for (i, &a) in grad.iter().enumerate().take(inputs.numel_of(k)) {
            let x0 = inputs.value_at(k, i);
            let up = eval(&inputs.with_value(k, i, x0 + eps));
            let down = eval(&inputs.with_value(k, i, x0 - eps));
            let numeric = (up - down) / (2.0 * eps);
            let abs = (a - numeric).abs();
            let scaled = abs / numeric.abs().max(1.0);
            report.checked += 1;
            report.max_abs_error = report.max_abs_error.max(abs);
            report.max_scaled_error = report.max_scaled_error.max(scaled);
            if scaled > tol || scaled.is_nan() {
                return Err(TensorError::GradientCheck {
                    input: k,
                    index: i,
                    analytic: format!("{a:e}"),
                    numeric: format!("{numeric:e}"),
                });
            }
        }
    }
    Ok(report)
}
