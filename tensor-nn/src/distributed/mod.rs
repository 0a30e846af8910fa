//! Data-parallel training across processes: the [`Strategy`] hook of the training loop (pure
//! Rust, always available) and, with the `mpi` cargo feature, its MPI implementation
//! [`MpiStrategy`] over a [`Communicator`]. See `docs/distributed.md`.

#[cfg(feature = "mpi")]
mod communicator;
#[cfg(feature = "mpi")]
mod in_place;
#[cfg(feature = "mpi")]
mod mpi_strategy;
pub mod strategy;
#[cfg(feature = "mpi")]
mod watchdog;

#[cfg(feature = "mpi")]
pub use communicator::{Communicator, COLLECTIVE_TIMEOUT_ENV, DEFAULT_COLLECTIVE_TIMEOUT};
#[cfg(feature = "mpi")]
pub use mpi_strategy::MpiStrategy;
pub use strategy::Strategy;
