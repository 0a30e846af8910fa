//! Options of generated dense and convolution layers: initializers, weight and activity
//! regularizers, and weight constraints. They reuse tensor-nn's [`Initializer`], [`Regularizer`] and
//! [`constraints`](crate::constraints); the penalties are computed here over any float type so
//! that the f64 instantiation the gradient tests check runs the same code.

use tensor_core::Float;

use crate::constraints::{Constraint, MaxNorm, NonNeg, UnitNorm};
use crate::error::Result;
use crate::init::Initializer;
use crate::regularizers::Regularizer;

use super::param::Param;
use super::rng::Rng;

/// A constraint applied to a weight after every optimizer update (Keras' `kernel_constraint`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightConstraint {
    /// [`MaxNorm`] with this largest norm, over axis 0 (each unit's incoming weights).
    MaxNorm(f32),
    /// [`NonNeg`].
    NonNeg,
    /// [`UnitNorm`] over axis 0.
    UnitNorm,
}

impl WeightConstraint {
    /// Projects `value` (lengths `shape`) in place.
    ///
    /// # Errors
    /// When `value` does not hold `shape`'s element count.
    pub fn apply(&self, value: &mut [f32], shape: &[usize]) -> Result<()> {
        match *self {
            WeightConstraint::MaxNorm(max_value) => MaxNorm { max_value, axis: 0 }.apply(value, shape),
            WeightConstraint::NonNeg => NonNeg.apply(value, shape),
            WeightConstraint::UnitNorm => UnitNorm { axis: 0 }.apply(value, shape),
        }
    }
}

/// Everything a `model!` dense or convolution layer may set besides its units (filters), bias,
/// activation and geometry.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DenseOptions {
    /// Kernel initializer (`None`: Glorot uniform, drawn as [`super::Dense::new`] and
    /// [`super::Conv2D::new`] do).
    pub kernel_initializer: Option<Initializer>,
    /// Bias initializer (`None`: zeros).
    pub bias_initializer: Option<Initializer>,
    /// Penalty on the kernel.
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    pub bias_regularizer: Option<Regularizer>,
    /// Penalty on the layer's output, divided by the batch size (Keras 3).
    pub activity_regularizer: Option<Regularizer>,
    /// Projection of the kernel after each update.
    pub kernel_constraint: Option<WeightConstraint>,
    /// Projection of the bias after each update.
    pub bias_constraint: Option<WeightConstraint>,
}

impl DenseOptions {
    /// The kernel and bias penalties (0 without regularizers).
    pub fn weight_penalty<F: Float>(&self, kernel: &Param<F>, bias: Option<&Param<F>>) -> f64 {
        let k = self
            .kernel_regularizer
            .map_or(0.0, |r| penalty(&r, &kernel.value));
        let b = match (&self.bias_regularizer, bias) {
            (Some(r), Some(b)) => penalty(r, &b.value),
            _ => 0.0,
        };
        k + b
    }

    /// Adds the gradients of [`DenseOptions::weight_penalty`] to the parameters' gradients.
    pub fn add_weight_penalty_gradients<F: Float>(&self, kernel: &mut Param<F>, bias: Option<&mut Param<F>>) {
        if let Some(r) = self.kernel_regularizer {
            add_penalty_gradient(&r, &kernel.value, 1.0, &mut kernel.grad);
        }
        if let (Some(r), Some(b)) = (self.bias_regularizer, bias) {
            add_penalty_gradient(&r, &b.value, 1.0, &mut b.grad);
        }
    }

    /// The activity penalty of a layer output `out`, divided by the batch size (Keras 3
    /// normalises by the output's first dim).
    pub fn activity_penalty<F: Float>(&self, out: &[F], batch: usize) -> f64 {
        self.activity_regularizer
            .map_or(0.0, |r| penalty(&r, out) / batch.max(1) as f64)
    }

    /// Adds the gradient of [`DenseOptions::activity_penalty`] to `grad` (∂L/∂out).
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn add_activity_penalty_gradient<F: Float>(&self, out: &[F], grad: &mut [F], batch: usize) {
        if let Some(r) = self.activity_regularizer {
            add_penalty_gradient(&r, out, 1.0 / batch.max(1) as f64, grad);
        }
    }

    /// Projects the kernel and the bias with their constraints. Norms are taken over axis 0
    /// of `kernel_shape`: a kernel `[inputs, units]` is constrained per unit, and a
    /// convolution passes `[kh · kw · in_c, filters]` so that each filter is (Keras'
    /// `axis = [0, 1, 2]`).
    ///
    /// # Errors
    /// When a parameter does not hold its shape's element count.
    pub fn constrain(
        &self,
        kernel: &mut Param<f32>,
        kernel_shape: &[usize],
        bias: Option<&mut Param<f32>>,
    ) -> Result<()> {
        if let Some(c) = self.kernel_constraint {
            c.apply(&mut kernel.value, kernel_shape)?;
        }
        if let (Some(c), Some(b)) = (self.bias_constraint, bias) {
            c.apply(&mut b.value, &b.shape)?;
        }
        Ok(())
    }

    /// Initial kernel values of `shape` (`[inputs, units]` or `[kh, kw, in_c, filters]`):
    /// drawn by the kernel initializer, or Glorot uniform (limit `sqrt(6 / (fan_in +
    /// fan_out))`, Keras' fans, drawn in f32 so that f32 and f64 models from one seed hold
    /// the same values).
    pub(crate) fn kernel_values<F: Float>(&self, shape: &[usize], rng: &mut Rng) -> Vec<F> {
        match self.kernel_initializer {
            None | Some(Initializer::GlorotUniform) => {
                let n = shape.len();
                let receptive: usize = shape[..n.saturating_sub(2)].iter().product();
                let fan_in = receptive * shape.get(n.wrapping_sub(2)).copied().unwrap_or(1);
                let fan_out = receptive * shape.last().copied().unwrap_or(1);
                let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
                (0..shape.iter().product::<usize>())
                    .map(|_| F::from_f64(f64::from(rng.symmetric(limit))))
                    .collect()
            }
            Some(init) => sample(init, shape, rng),
        }
    }

    /// Initial bias values (`units` of them): the bias initializer's, or zeros.
    pub(crate) fn bias_values<F: Float>(&self, units: usize, rng: &mut Rng) -> Vec<F> {
        match self.bias_initializer {
            None => vec![F::zero(); units],
            Some(init) => sample(init, &[units], rng),
        }
    }
}

/// `shape`'s values drawn by `init` (in f32, as every generated model draws them).
pub(crate) fn sample<F: Float>(init: Initializer, shape: &[usize], rng: &mut Rng) -> Vec<F> {
    init.sample(shape, rng.chacha())
        .into_iter()
        .map(|v| F::from_f64(f64::from(v)))
        .collect()
}

/// `l1·Σ|w| + l2·Σw²` (the formula of [`Regularizer::penalty`], over any float type).
pub fn penalty<F: Float>(r: &Regularizer, w: &[F]) -> f64 {
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for &x in w {
        let x: f64 = x.into();
        a += x.abs();
        b += x * x;
    }
    f64::from(r.l1) * a + f64::from(r.l2) * b
}

/// Adds `scale · (l1·sign(w) + 2·l2·w)` to `grad` (the gradient of `scale ·` [`penalty`]).
///
/// # Panics
/// If the slices differ in length.
pub fn add_penalty_gradient<F: Float>(r: &Regularizer, w: &[F], scale: f64, grad: &mut [F]) {
    assert_eq!(w.len(), grad.len(), "add_penalty_gradient: length mismatch");
    let (l1, l2) = (f64::from(r.l1) * scale, 2.0 * f64::from(r.l2) * scale);
    for (g, &x) in grad.iter_mut().zip(w) {
        let v: f64 = x.into();
        let sign = if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        };
        *g = *g + F::from_f64(l1 * sign + l2 * v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_matches_the_f32_regularizer_and_its_gradient() {
        let r = Regularizer::l1_l2(0.1, 0.01);
        let w = [1.0f32, -2.0, 0.0];
        // 0.1·3 + 0.01·5 = 0.35.
        assert!((penalty(&r, &w) - 0.35).abs() < 1e-7);
        assert!((penalty(&r, &w) as f32 - r.penalty(&w)).abs() < 1e-7);
        let mut g = [0.0f32; 3];
        add_penalty_gradient(&r, &w, 1.0, &mut g);
        let mut want = [0.0f32; 3];
        r.add_gradient(&w, &mut want);
        assert_eq!(g, want);
    }

    #[test]
    fn constraints_project() {
        let mut w = vec![3.0f32, 4.0, -1.0, 0.0];
        // Columns of a [2, 2] kernel: (3, -1) and (4, 0); MaxNorm(2) scales the first to norm 2
        // and the second (norm 4) to 2.
        WeightConstraint::MaxNorm(2.0).apply(&mut w, &[2, 2]).unwrap();
        let n0 = (w[0] * w[0] + w[2] * w[2]).sqrt();
        let n1 = (w[1] * w[1] + w[3] * w[3]).sqrt();
        assert!((n0 - 2.0).abs() < 1e-5 && (n1 - 2.0).abs() < 1e-5);
        WeightConstraint::NonNeg.apply(&mut w, &[2, 2]).unwrap();
        assert!(w.iter().all(|&v| v >= 0.0));
    }
}
