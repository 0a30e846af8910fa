//! Batch normalisation over the last dim, as Keras' `BatchNormalization`: in training the batch
//! mean and (biased) variance normalise each feature and update the moving statistics
//! (`moving = momentum · moving + (1 - momentum) · batch`); in inference the moving statistics
//! are used. `γ` starts at 1, `β` at 0.

use tensor_core::Float;

use super::param::Param;

/// Parameters and statistics of one batch-normalisation layer.
#[derive(Debug, Clone)]
pub struct BatchNorm<F> {
    /// `name.gamma`, the scale (trainable).
    pub gamma: Param<F>,
    /// `name.beta`, the shift (trainable).
    pub beta: Param<F>,
    /// `name.moving_mean` (not trainable).
    pub moving_mean: Param<F>,
    /// `name.moving_variance` (not trainable).
    pub moving_variance: Param<F>,
    features: usize,
    momentum: f64,
    epsilon: f64,
}

impl<F: Float> BatchNorm<F> {
    /// A layer over `features` values per row.
    pub fn new(name: &str, features: usize, momentum: f64, epsilon: f64) -> Self {
        let p = |what: &str, v: F, trainable: bool| {
            let mut p = Param::new(format!("{name}.{what}"), vec![features], vec![v; features]);
            p.trainable = trainable;
            p
        };
        BatchNorm {
            gamma: p("gamma", F::one(), true),
            beta: p("beta", F::zero(), true),
            moving_mean: p("moving_mean", F::zero(), false),
            moving_variance: p("moving_variance", F::one(), false),
            features,
            momentum,
            epsilon,
        }
    }

    /// γ, β, moving mean, moving variance.
    pub fn params(&self) -> impl Iterator<Item = &Param<F>> {
        [&self.gamma, &self.beta, &self.moving_mean, &self.moving_variance].into_iter()
    }

    /// γ, β, moving mean, moving variance, mutably.
    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<F>> {
        [
            &mut self.gamma,
            &mut self.beta,
            &mut self.moving_mean,
            &mut self.moving_variance,
        ]
        .into_iter()
    }

    /// Sets the gradients to zero (before a backward pass).
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.grad.iter_mut().for_each(|g| *g = F::zero());
        }
    }

    /// Inference: normalises with the moving statistics.
    pub fn forward_inference(&self, x: &[F], out: &mut Vec<F>) {
        out.clear();
        out.extend_from_slice(x);
        if self.features == 0 {
            return;
        }
        let eps = F::from_f64(self.epsilon);
        for row in out.chunks_exact_mut(self.features) {
            for (j, v) in row.iter_mut().enumerate() {
                let inv = (self.moving_variance.value[j] + eps).sqrt().recip();
                *v = (*v - self.moving_mean.value[j]) * inv * self.gamma.value[j] + self.beta.value[j];
            }
        }
    }

    /// Training: normalises with the batch statistics of `rows` rows, keeps `x̂` in `xhat` and
    /// `1/σ` per feature in `inv_std` for the backward pass (per application, so a shared layer
    /// keeps each use's statistics), and updates the moving statistics.
    pub fn forward_train(
        &mut self,
        x: &[F],
        rows: usize,
        out: &mut Vec<F>,
        xhat: &mut Vec<F>,
        inv_std: &mut Vec<F>,
    ) {
        let f = self.features;
        xhat.clear();
        xhat.extend_from_slice(x);
        inv_std.clear();
        inv_std.resize(f, F::zero());
        if f == 0 || rows == 0 {
            out.clear();
            return;
        }
        let n = F::from_f64(rows as f64);
        let eps = F::from_f64(self.epsilon);
        let m = F::from_f64(self.momentum);
        for j in 0..f {
            let mean = (0..rows).fold(F::zero(), |s, r| s + x[r * f + j]) / n;
            let var = (0..rows).fold(F::zero(), |s, r| {
                let d = x[r * f + j] - mean;
                s + d * d
            }) / n;
            let inv = (var + eps).sqrt().recip();
            inv_std[j] = inv;
            for r in 0..rows {
                xhat[r * f + j] = (x[r * f + j] - mean) * inv;
            }
            let (mm, mv) = (&mut self.moving_mean.value[j], &mut self.moving_variance.value[j]);
            *mm = *mm * m + mean * (F::one() - m);
            *mv = *mv * m + var * (F::one() - m);
        }
        out.clear();
        out.extend(
            xhat.iter()
                .enumerate()
                .map(|(i, &h)| h * self.gamma.value[i % f] + self.beta.value[i % f]),
        );
    }

    /// Backward of [`BatchNorm::forward_train`]: adds ∂γ = Σ dy·x̂ and ∂β = Σ dy to the
    /// gradients, and `∂x = γ·σ⁻¹/N · (N·dy − Σ dy − x̂·Σ dy·x̂)` to `grad_in` when given.
    pub fn backward(
        &mut self,
        xhat: &[F],
        inv_std: &[F],
        grad: &[F],
        rows: usize,
        grad_in: Option<&mut [F]>,
    ) {
        let f = self.features;
        if f == 0 || rows == 0 {
            return;
        }
        let n = F::from_f64(rows as f64);
        let mut sum_dy = vec![F::zero(); f];
        let mut sum_dy_xhat = vec![F::zero(); f];
        for (g, h) in grad.chunks_exact(f).zip(xhat.chunks_exact(f)) {
            for (j, (&g, &h)) in g.iter().zip(h).enumerate() {
                sum_dy[j] = sum_dy[j] + g;
                sum_dy_xhat[j] = sum_dy_xhat[j] + g * h;
            }
        }
        let beta = self.beta.grad.iter_mut().zip(&sum_dy);
        beta.for_each(|(b, &s)| *b = *b + s);
        let gamma = self.gamma.grad.iter_mut().zip(&sum_dy_xhat);
        gamma.for_each(|(g, &s)| *g = *g + s);
        if let Some(gx) = grad_in {
            for r in 0..rows {
                for j in 0..f {
                    let i = r * f + j;
                    let k = self.gamma.value[j] * inv_std[j] / n;
                    gx[i] = gx[i] + k * (n * grad[i] - sum_dy[j] - xhat[i] * sum_dy_xhat[j]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_normalises_and_updates_moving_stats() {
        // One feature, x = [1, 3]: mean 2, biased variance 1, x̂ = [-1, 1] / sqrt(1 + eps).
        let mut bn = BatchNorm::<f64>::new("bn", 1, 0.9, 0.0);
        let (mut out, mut xhat, mut inv) = (vec![], vec![], vec![]);
        bn.forward_train(&[1.0, 3.0], 2, &mut out, &mut xhat, &mut inv);
        assert_eq!(inv, vec![1.0]);
        assert_eq!(out, vec![-1.0, 1.0]);
        // moving mean 0.9·0 + 0.1·2 = 0.2; moving variance 0.9·1 + 0.1·1 = 1.0.
        assert!((bn.moving_mean.value[0] - 0.2).abs() < 1e-12);
        assert!((bn.moving_variance.value[0] - 1.0).abs() < 1e-12);
        let mut inf = vec![];
        bn.forward_inference(&[1.2], &mut inf);
        assert!((inf[0] - 1.0).abs() < 1e-12);
        assert!(!bn.moving_mean.trainable && bn.gamma.trainable);
    }
}
