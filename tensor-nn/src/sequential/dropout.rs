//! Inverted dropout: in training, zeroes each value with probability `rate` and scales the
//! rest by `1 / (1 − rate)`; the identity at inference.
//!
//! The masks come from a ChaCha stream chosen by the layer's seed and a step counter. The
//! counter is a non-trainable parameter, `{name}.seed_generator_state` (like Keras'
//! `SeedGenerator` state), so checkpoints carry it and a resumed run draws the same masks as an
//! uninterrupted one.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::layers::RuntimeLayer;
use crate::model::{ParamMut, ParamRef};

/// The step counter as four 16-bit chunks, each exact in an `f32`.
fn encode(counter: u64) -> [f32; 4] {
    std::array::from_fn(|i| ((counter >> (16 * i)) & 0xFFFF) as f32)
}

fn decode(state: &[f32; 4]) -> u64 {
    state
        .iter()
        .enumerate()
        .map(|(i, &v)| (v.clamp(0.0, 65535.0) as u64) << (16 * i))
        .sum()
}

/// Dropout with its own seeded mask stream.
#[derive(Debug, Clone)]
pub struct Dropout {
    name: String,
    state_name: String,
    rate: f32,
    seed: u64,
    state: [f32; 4],
    state_grad: [f32; 4],
    mask: Vec<f32>,
}

impl Dropout {
    /// Dropout of `rate` (in `[0, 1)`) drawing masks from `seed`.
    pub fn new(name: impl Into<String>, rate: f32, seed: u64) -> Self {
        let name = name.into();
        Self {
            state_name: format!("{name}.seed_generator_state"),
            name,
            rate: rate.clamp(0.0, 0.999_999),
            seed,
            state: encode(0),
            state_grad: [0.0; 4],
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
        let step = decode(&self.state);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(step);
        self.state = encode(step.wrapping_add(1));
        let scale = 1.0 / (1.0 - self.rate);
        let rate = f64::from(self.rate);
        self.mask = (0..x.len())
            .map(|_| if rng.gen::<f64>() < rate { 0.0 } else { scale })
            .collect();
        x.iter_mut().zip(&self.mask).for_each(|(v, m)| *v *= m);
        x
    }

    fn backward(&mut self, dy: &[f32], _rows: usize, need_input_grad: bool) -> Option<Vec<f32>> {
        need_input_grad.then(|| dy.iter().zip(&self.mask).map(|(g, m)| g * m).collect())
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        vec![ParamMut {
            name: &self.state_name,
            shape: &[4],
            value: &mut self.state,
            grad: &self.state_grad,
            trainable: false,
        }]
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        vec![ParamRef {
            name: &self.state_name,
            shape: &[4],
            value: &self.state,
        }]
    }
}
