//! tensor-nn: layers, losses, optimizers and the Keras-style training loop of Dimflow.
// No unsafe code, except the one in-place MPI all-reduce of `distributed/in_place.rs` when the
// `mpi` feature is on (the `mpi` crate's safe API has no in-place all-reduce).
#![cfg_attr(not(feature = "mpi"), forbid(unsafe_code))]
#![cfg_attr(feature = "mpi", deny(unsafe_code))]

pub mod fused;
pub mod model;

pub use model::{Model, ParamMut, ParamRef};
pub mod error;
pub mod losses;
pub mod optim;

pub use error::{NnError, Result};
pub mod activations;
pub mod constraints;
pub mod data;
pub mod distributed;
pub mod init;
pub mod io;
pub mod metrics;
pub mod non_finite;
pub mod regularizers;
pub mod sequential;
pub mod train;
