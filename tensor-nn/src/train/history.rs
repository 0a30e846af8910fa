//! What `fit` returns: each log key's value per epoch.

use std::collections::BTreeMap;

/// What `fit` recorded: one value per epoch for every log key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The epochs run (0-based).
    pub epochs: Vec<usize>,
    /// Each log key's value at the end of each epoch.
    pub history: BTreeMap<String, Vec<f32>>,
}
