//! The seeded random stream of generated models (initialisation and dropout masks).

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seedable ChaCha8 stream: the same seed gives the same weights and the same dropout masks
/// on every platform.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform draw from `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        self.0.gen::<f32>()
    }

    /// Fills `out` with uniform 32-bit draws: the very words, in order, that as many
    /// [`Rng::unit`] calls would consume (`unit` is the top 24 bits of one word times 2⁻²⁴),
    /// generated a block at a time.
    pub fn fill_words(&mut self, out: &mut [u32]) {
        self.0.fill(out);
    }

    /// The ChaCha stream itself, for tensor-nn's initializers.
    pub(crate) fn chacha(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }

    /// A seed for a nested layer's own stream.
    pub fn next_seed(&mut self) -> u64 {
        self.0.gen::<u64>()
    }

    /// A uniform draw from `[-limit, limit)`.
    pub fn symmetric(&mut self, limit: f32) -> f32 {
        (self.unit() * 2.0 - 1.0) * limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xs: Vec<f32> = (0..100).map(|_| a.symmetric(0.5)).collect();
        let ys: Vec<f32> = (0..100).map(|_| b.symmetric(0.5)).collect();
        let zs: Vec<f32> = (0..100).map(|_| c.symmetric(0.5)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!(xs.iter().all(|v| (-0.5..0.5).contains(v)));
    }

    #[test]
    fn words_are_the_draws_of_unit() {
        // Odd lengths, so the block boundaries of the two streams do not line up.
        let (mut a, mut b) = (Rng::new(11), Rng::new(11));
        for len in [1, 7, 255, 1000] {
            let mut words = vec![0u32; len];
            a.fill_words(&mut words);
            for w in words {
                assert_eq!(b.unit(), (w >> 8) as f32 / 16_777_216.0);
            }
        }
    }
}
