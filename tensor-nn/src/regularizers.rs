//! L1, L2 and L1L2 weight penalties added to the loss (Keras: `l1·Σ|w| + l2·Σw²`).
//!
//! ```
//! use tensor_nn::regularizers::Regularizer;
//! let r = Regularizer::l2(0.01);
//! assert!((r.penalty(&[1.0, -2.0]) - 0.05).abs() < 1e-7);
//! ```

/// A weight penalty `l1·Σ|w| + l2·Σw²`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Regularizer {
    /// L1 factor.
    pub l1: f32,
    /// L2 factor.
    pub l2: f32,
}

impl Regularizer {
    /// Keras' `L1(l1)` (Keras default 0.01).
    pub fn l1(l1: f32) -> Self {
        Self { l1, l2: 0.0 }
    }

    /// Keras' `L2(l2)` (Keras default 0.01).
    pub fn l2(l2: f32) -> Self {
        Self { l1: 0.0, l2 }
    }

    /// Keras' `L1L2(l1, l2)`.
    pub fn l1_l2(l1: f32, l2: f32) -> Self {
        Self { l1, l2 }
    }

    /// The penalty for weights `w`.
    pub fn penalty(&self, w: &[f32]) -> f32 {
        let (mut a, mut b) = (0.0f64, 0.0f64);
        for &x in w {
            a += f64::from(x.abs());
            b += f64::from(x) * f64::from(x);
        }
        (f64::from(self.l1) * a + f64::from(self.l2) * b) as f32
    }

    /// Adds the penalty's gradient `l1·sign(w) + 2·l2·w` to `grad`.
    pub fn add_gradient(&self, w: &[f32], grad: &mut [f32]) {
        for (g, &x) in grad.iter_mut().zip(w) {
            let sign = if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            };
            *g += self.l1 * sign + 2.0 * self.l2 * x;
        }
    }
}
