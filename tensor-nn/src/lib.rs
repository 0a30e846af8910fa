//! tensor-nn: layers, losses, optimizers and the Keras-style training loop of Dimflow.
#![forbid(unsafe_code)]

pub mod model;

pub use model::{Model, ParamMut, ParamRef};
pub mod error;
pub mod losses;
pub mod optim;

pub use error::{NnError, Result};
pub mod activations;
pub mod constraints;
pub mod data;
pub mod init;
pub mod io;
pub mod metrics;
pub mod regularizers;
pub mod sequential;
pub mod train;
