//! Weight initializers with Keras 3's formulas, drawing from a seeded ChaCha RNG so the same
//! seed always gives the same weights.
//!
//! ```
//! use tensor_nn::init::{Initializer, seeded_rng};
//! let mut rng = seeded_rng(42);
//! let w = Initializer::GlorotUniform.sample(&[784, 128], &mut rng);
//! let limit = (6.0f32 / (784.0 + 128.0)).sqrt();
//! assert!(w.iter().all(|x| x.abs() <= limit));
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The RNG every initializer, dropout mask and shuffle in tensor-nn draws from.
pub type NnRng = ChaCha8Rng;

/// A ChaCha RNG from a seed.
pub fn seeded_rng(seed: u64) -> NnRng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `stddev` of a standard normal truncated to ±2 (Keras' correction constant).
const TRUNCATED_STDDEV: f32 = 0.879_625_7;

/// How a parameter's initial values are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Initializer {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// All the same value.
    Constant(f32),
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
    /// Truncated normal with stddev `sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// Uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
    /// Truncated normal with stddev `sqrt(2 / fan_in)`.
    HeNormal,
    /// Uniform in `±sqrt(3 / fan_in)`.
    LecunUniform,
    /// Truncated normal with stddev `sqrt(1 / fan_in)`.
    LecunNormal,
    /// Normal with this mean and stddev, values further than 2 stddev redrawn.
    TruncatedNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation (before truncation).
        stddev: f32,
    },
    /// Uniform in `[min, max)`.
    RandomUniform {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// Normal with this mean and stddev.
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
}

/// Keras' `compute_fans`: `(fan_in, fan_out)` of a kernel shape.
pub fn fans(shape: &[usize]) -> (f32, f32) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f32, *n as f32),
        [a, b] => (*a as f32, *b as f32),
        _ => {
            let r = shape.len();
            let receptive: usize = shape[..r - 2].iter().product();
            (
                (shape[r - 2] * receptive) as f32,
                (shape[r - 1] * receptive) as f32,
            )
        }
    }
}

fn truncated(rng: &mut NnRng, mean: f32, stddev: f32) -> f32 {
    loop {
        let z: f32 = rng.sample(StandardNormal);
        if z.abs() <= 2.0 {
            return mean + stddev * z;
        }
    }
}

impl Initializer {
    /// `numel(shape)` values, row-major.
    pub fn sample(&self, shape: &[usize], rng: &mut NnRng) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let (fan_in, fan_out) = fans(shape);
        let uniform = |rng: &mut NnRng, limit: f32| -> Vec<f32> {
            (0..n).map(|_| rng.gen_range(-limit..=limit)).collect()
        };
        let trunc = |rng: &mut NnRng, var: f32| -> Vec<f32> {
            let sd = var.sqrt() / TRUNCATED_STDDEV;
            (0..n).map(|_| truncated(rng, 0.0, sd)).collect()
        };
        let avg = (fan_in + fan_out) / 2.0;
        match *self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(c) => vec![c; n],
            Initializer::GlorotUniform => uniform(rng, (3.0 / avg).sqrt()),
            Initializer::GlorotNormal => trunc(rng, 1.0 / avg),
            Initializer::HeUniform => uniform(rng, (6.0 / fan_in).sqrt()),
            Initializer::HeNormal => trunc(rng, 2.0 / fan_in),
            Initializer::LecunUniform => uniform(rng, (3.0 / fan_in).sqrt()),
            Initializer::LecunNormal => trunc(rng, 1.0 / fan_in),
            Initializer::TruncatedNormal { mean, stddev } => {
                (0..n).map(|_| truncated(rng, mean, stddev)).collect()
            }
            Initializer::RandomUniform { min, max } => (0..n)
                .map(|_| if max > min { rng.gen_range(min..max) } else { min })
                .collect(),
            Initializer::RandomNormal { mean, stddev } => (0..n)
                .map(|_| mean + stddev * rng.sample::<f32, _>(StandardNormal))
                .collect(),
        }
    }
}
