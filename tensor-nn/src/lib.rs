//! tensor-nn: layers, losses, optimizers and the Keras-style training loop of Dimflow.
#![forbid(unsafe_code)]

pub mod fused;
pub mod model;

pub use model::{Model, ParamMut, ParamRef};
