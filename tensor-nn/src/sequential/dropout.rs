//! Inverted dropout: in training, zeroes each value with probability `rate` and scales the
//! rest by `1 / (1 − rate)`; the identity at inference.

use rand::Rng;

use super::layers::RuntimeLayer;
use crate::init::{seeded_rng, NnRng};

/// Dropout with its own seeded RNG.
#[derive(Debug, Clone)]
pub struct Dropout {
    name: String,
    rate: f32,
    rng: NnRng,
    mask: Vec<f32>,
}

impl Dropout {
    /// Dropout of `rate` (in `[0, 1)`) drawing masks from `seed`.
    pub fn new(name: impl Into<String>, rate: f32, seed: u64) -> Self {
        Self {
            name: name.into(),
            rate: rate.clamp(0.0, 0.999_999),
            rng: seeded_rng(seed),
            mask: Vec::new(),
        }
    }
}

impl RuntimeLayer for Dropout {
    fn name(&self) -> &str {
        &self.name
    }

    fn output_features(&self, input: usize) -> usize {
        input
    }

    fn forward(&self, x: &[f32], _rows: usize) -> Vec<f32> {
        x.to_vec()
    }

    fn forward_train(&mut self, mut x: Vec<f32>, _rows: usize) -> Vec<f32> {
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        let rate = f64::from(self.rate);
        self.mask = (0..x.len())
            .map(|_| if self.rng.gen::<f64>() < rate { 0.0 } else { scale })
            .collect();
        x.iter_mut().zip(&self.mask).for_each(|(v, m)| *v *= m);
        x
    }

    fn backward(&mut self, dy: &[f32], _rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        need_input_grad.then(|| dy.iter().zip(&self.mask).map(|(g, m)| g * m).collect())
    }
}
