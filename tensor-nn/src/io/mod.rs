//! Reading datasets and saving weights: IDX files (MNIST's format), safetensors weights and
//! checkpoints, atomic file writes.

pub mod atomic;
pub mod idx;
pub mod safetensors;
