//! Seeded random tensors: uniform, normal and truncated normal, reproducible across runs and
//! platforms (ChaCha8 streams).

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::element::Float;
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::{resolve_dims, Tensor};

/// The named, seedable generator of Dimflow: ChaCha8, whose stream for a seed is the same on
/// every platform.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// A generator from a 64-bit seed.
    pub fn seed(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Access to the underlying `rand` generator.
    pub fn inner(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }

    /// A uniform f64 in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        self.0.gen::<f64>()
    }

    /// A standard normal f64.
    pub fn next_normal(&mut self) -> f64 {
        StandardNormal.sample(&mut self.0)
    }

    /// The generator's position in its stream (for checkpoints).
    pub fn word_pos(&self) -> u128 {
        self.0.get_word_pos()
    }
}

impl<S: Shape, E: Float> Tensor<S, E> {
    /// Uniform values in `[low, high)`.
    ///
    /// # Errors
    /// When `runtime` does not give the run-time lengths, or their product overflows
    /// ([`crate::TensorError::TooLarge`]).
    pub fn random_uniform(rng: &mut Rng, low: E, high: E, runtime: &[usize]) -> Result<Self> {
        let dims = resolve_dims::<S, E>("random_uniform", runtime)?;
        let (l, h): (f64, f64) = (low.into(), high.into());
        let n = dims.iter().product();
        let data = (0..n)
            .map(|_| E::from_f64(l + (h - l) * rng.next_f64()))
            .collect();
        Self::from_vec_dims(data, &dims)
    }

    /// Normal values with the given mean and standard deviation.
    ///
    /// # Errors
    /// When `runtime` does not give the run-time lengths, or their product overflows
    /// ([`crate::TensorError::TooLarge`]).
    pub fn random_normal(rng: &mut Rng, mean: E, std: E, runtime: &[usize]) -> Result<Self> {
        let dims = resolve_dims::<S, E>("random_normal", runtime)?;
        let (m, s): (f64, f64) = (mean.into(), std.into());
        let n = dims.iter().product();
        let data = (0..n).map(|_| E::from_f64(m + s * rng.next_normal())).collect();
        Self::from_vec_dims(data, &dims)
    }

    /// Normal values redrawn until within two standard deviations of the mean (Keras'
    /// `TruncatedNormal`).
    ///
    /// # Errors
    /// When `runtime` does not give the run-time lengths, or their product overflows
    /// ([`crate::TensorError::TooLarge`]).
    pub fn random_truncated_normal(rng: &mut Rng, mean: E, std: E, runtime: &[usize]) -> Result<Self> {
        let dims = resolve_dims::<S, E>("random_truncated_normal", runtime)?;
        let (m, s): (f64, f64) = (mean.into(), std.into());
        let n = dims.iter().product();
        let data = (0..n)
            .map(|_| loop {
                let z = rng.next_normal();
                if z.abs() <= 2.0 {
                    break E::from_f64(m + s * z);
                }
            })
            .collect();
        Self::from_vec_dims(data, &dims)
    }
}
