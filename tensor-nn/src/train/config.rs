//! The options of `fit`, with Keras' defaults.

/// The options of [`Trainer::fit`](super::Trainer::fit), with Keras' defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Epoch to stop before (the count includes `initial_epoch`).
    pub epochs: usize,
    /// Samples per step (Keras default 32).
    pub batch_size: usize,
    /// Steps per epoch (default: all the data once).
    pub steps_per_epoch: Option<usize>,
    /// Fraction of the data, taken from the end before shuffling, kept for validation.
    pub validation_split: f32,
    /// Shuffle the training samples every epoch.
    pub shuffle: bool,
    /// Seed of the shuffles (each epoch's order depends only on the seed and the epoch).
    pub seed: u64,
    /// Epoch to start from (to resume).
    pub initial_epoch: usize,
    /// 0: silent, 1: progress bar, 2: one line per epoch.
    pub verbose: u8,
    /// Keras' `class_weight`: entry `c` weighs the loss and the metrics of every training sample
    /// of class `c` (the target's value for one value per sample, its arg-max for one-hot
    /// targets). Validation is not weighted, as in Keras.
    pub class_weight: Option<Vec<f32>>,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 32,
            steps_per_epoch: None,
            validation_split: 0.0,
            shuffle: true,
            seed: 0,
            initial_epoch: 0,
            verbose: 1,
            class_weight: None,
        }
    }
}
