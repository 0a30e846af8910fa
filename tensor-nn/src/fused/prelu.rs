//! PReLU with a learned slope per feature of the last dim, as Keras' `PReLU` with
//! `shared_axes` over every dim but the last: `y = x` for `x > 0`, `y = α_j · x` otherwise;
//! `α` starts at zero (Keras' default `alpha_initializer="zeros"`).

use tensor_core::Float;

use super::param::Param;

/// The slopes of one PReLU layer.
#[derive(Debug, Clone)]
pub struct PRelu<F> {
    /// `name.alpha`, `[features]`.
    pub alpha: Param<F>,
    features: usize,
}

impl<F: Float> PRelu<F> {
    /// A layer over `features` values per row, with zero slopes.
    pub fn new(name: &str, features: usize) -> Self {
        PRelu {
            alpha: Param::new(format!("{name}.alpha"), vec![features], vec![F::zero(); features]),
            features,
        }
    }

    /// Sets the gradient of `α` to zero (before a backward pass).
    pub fn zero_grad(&mut self) {
        self.alpha.grad.iter_mut().for_each(|g| *g = F::zero());
    }

    /// The slopes.
    pub fn params(&self) -> impl Iterator<Item = &Param<F>> {
        core::iter::once(&self.alpha)
    }

    /// The slopes, mutably.
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<F>> {
        core::iter::once(&mut self.alpha)
    }

    /// `out = prelu(x)`, row by row (`out` is resized, no allocation once it has held this many
    /// values).
    pub fn forward(&self, x: &[F], out: &mut Vec<F>) {
        out.clear();
        if self.features == 0 {
            return;
        }
        for row in x.chunks_exact(self.features) {
            out.extend(row.iter().zip(&self.alpha.value).map(
                |(&v, &a)| {
                    if v > F::zero() {
                        v
                    } else {
                        a * v
                    }
                },
            ));
        }
    }

    /// Backward pass of [`PRelu::forward`] given `∂L/∂y` in `grad`: adds `∂L/∂α_j = Σ g·min(x, 0)`
    /// to the slopes' gradient and, when given, `∂L/∂x = g` (`x > 0`) or `α_j·g` to `grad_in`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn backward(&mut self, x: &[F], grad: &[F], grad_in: Option<&mut [F]>) {
        assert_eq!(x.len(), grad.len(), "prelu backward: length mismatch");
        if self.features == 0 {
            return;
        }
        for (row, g) in x
            .chunks_exact(self.features)
            .zip(grad.chunks_exact(self.features))
        {
            for ((s, &v), &g) in self.alpha.grad.iter_mut().zip(row).zip(g) {
                if v <= F::zero() {
                    *s = *s + g * v;
                }
            }
        }
        if let Some(gx) = grad_in {
            assert_eq!(gx.len(), grad.len(), "prelu backward: length mismatch");
            for ((gx, g), row) in gx
                .chunks_exact_mut(self.features)
                .zip(grad.chunks_exact(self.features))
                .zip(x.chunks_exact(self.features))
            {
                for (((d, &g), &v), &a) in gx.iter_mut().zip(g).zip(row).zip(&self.alpha.value) {
                    *d = *d + if v > F::zero() { g } else { a * g };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_by_hand() {
        // α = [0.5, -1]; x = [[2, -2], [-4, 3]] → y = [[2, 2], [-2, 3]].
        let mut p = PRelu::<f64>::new("prelu1", 2);
        assert_eq!(p.alpha.name, "prelu1.alpha");
        assert_eq!(p.alpha.value, [0.0, 0.0]);
        p.alpha.value = vec![0.5, -1.0];
        let x = [2.0, -2.0, -4.0, 3.0];
        let mut y = Vec::new();
        p.forward(&x, &mut y);
        assert_eq!(y, [2.0, 2.0, -2.0, 3.0]);
        // g = [[1, 2], [3, 4]]: ∂α = [3·(-4), 2·(-2)] = [-12, -4];
        // ∂x = [[1, -1·2], [0.5·3, 4]] = [[1, -2], [1.5, 4]].
        let mut gx = vec![0.0; 4];
        p.backward(&x, &[1.0, 2.0, 3.0, 4.0], Some(&mut gx));
        assert_eq!(p.alpha.grad, [-12.0, -4.0]);
        assert_eq!(gx, [1.0, -2.0, 1.5, 4.0]);
    }
}
