//! Options of generated dense layers: initializers, weight and activity regularizers, and
//! weight constraints. They reuse tensor-nn's [`Initializer`], [`Regularizer`] and
//! [`constraints`](crate::constraints); the penalties are computed here over any float type so
//! that the f64 instantiation the gradient tests check runs the same code.

use tensor_core::Float;

use crate::constraints::{Constraint, MaxNorm, NonNeg, UnitNorm};
use crate::error::Result;
use crate::init::Initializer;
use crate::regularizers::Regularizer;

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

/// Everything a `model!` dense layer may set besides its units, bias and activation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DenseOptions {
    /// Kernel initializer (`None`: Glorot uniform, drawn as [`super::Dense::new`] does).
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
