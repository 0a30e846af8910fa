//! Learning-rate schedules with Keras 3's formulas, evaluated at the optimizer's step count
//! (0 for the first update).

use std::fmt::Debug;

/// A learning rate that depends on the number of updates done so far.
pub trait LearningRateSchedule: Send + Sync + Debug {
    /// The learning rate for the update after `step` earlier updates.
    fn at(&self, step: u64) -> f32;
}

/// `initial · rate^(step / decay_steps)`, with the exponent floored when `staircase` (a step decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialDecay {
    /// Learning rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps per decay period.
    pub decay_steps: u64,
    /// Factor per period.
    pub decay_rate: f32,
    /// Decay in whole periods (a staircase) rather than continuously.
    pub staircase: bool,
}

impl LearningRateSchedule for ExponentialDecay {
    fn at(&self, step: u64) -> f32 {
        let mut p = step as f32 / self.decay_steps.max(1) as f32;
        if self.staircase {
            p = p.floor();
        }
        self.initial_learning_rate * self.decay_rate.powf(p)
    }
}

/// Piecewise constant: `values[0]` while `step <= boundaries[0]`, `values[i]` while
/// `boundaries[i-1] < step <= boundaries[i]`, and the last value after the last boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct PiecewiseConstantDecay {
    boundaries: Vec<u64>,
    values: Vec<f32>,
}

impl PiecewiseConstantDecay {
    /// A schedule with `values.len() == boundaries.len() + 1`, boundaries increasing.
    ///
    /// # Errors
    /// When the lengths do not fit or the boundaries are not increasing.
    pub fn new(boundaries: Vec<u64>, values: Vec<f32>) -> crate::Result<Self> {
        if values.len() != boundaries.len() + 1 {
            return Err(crate::NnError::invalid(
                "PiecewiseConstantDecay",
                format!(
                    "{} boundaries need {} values, got {}",
                    boundaries.len(),
                    boundaries.len() + 1,
                    values.len()
                ),
            ));
        }
        if boundaries.windows(2).any(|w| w[0] >= w[1]) {
            return Err(crate::NnError::invalid(
                "PiecewiseConstantDecay",
                "boundaries must be strictly increasing",
            ));
        }
        Ok(Self { boundaries, values })
    }
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn at(&self, step: u64) -> f32 {
        let i = self.boundaries.iter().take_while(|&&b| step > b).count();
        self.values[i]
    }
}

/// Cosine decay from the initial (or, after a linear warm-up, the warm-up target) rate down to
/// `alpha` times it over `decay_steps`, then constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineDecay {
    /// Learning rate at step 0.
    pub initial_learning_rate: f32,
    /// Length of the decay.
    pub decay_steps: u64,
    /// Final rate as a fraction of the starting one.
    pub alpha: f32,
    /// Linear warm-up steps before the decay (0 for none).
    pub warmup_steps: u64,
    /// Rate reached at the end of the warm-up (`None`: no warm-up).
    pub warmup_target: Option<f32>,
}

impl CosineDecay {
    /// Cosine decay without warm-up and with `alpha = 0`.
    pub fn new(initial_learning_rate: f32, decay_steps: u64) -> Self {
        Self {
            initial_learning_rate,
            decay_steps,
            alpha: 0.0,
            warmup_steps: 0,
            warmup_target: None,
        }
    }
}

impl LearningRateSchedule for CosineDecay {
    fn at(&self, step: u64) -> f32 {
        let (start, step) = match self.warmup_target {
            Some(target) if self.warmup_steps > 0 => {
                if step < self.warmup_steps {
                    let frac = step as f32 / self.warmup_steps as f32;
                    return (target - self.initial_learning_rate) * frac + self.initial_learning_rate;
                }
                (target, step - self.warmup_steps)
            }
            _ => (self.initial_learning_rate, step),
        };
        let steps = self.decay_steps.max(1);
        let fraction = step.min(steps) as f32 / steps as f32;
        let cosine = 0.5 * (1.0 + (std::f32::consts::PI * fraction).cos());
        start * ((1.0 - self.alpha) * cosine + self.alpha)
    }
}
