//! The one unsafe call of tensor-nn: an in-place `MPI_Allreduce`, which the `mpi` crate's safe
//! API does not offer. `MPI_IN_PLACE` comes from a C shim (`in_place.c`, compiled with `mpicc`
//! by the build script) because its value differs between MPI implementations.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::raw::c_int;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;

use crate::error::{NnError, Result};

extern "C" {
    /// `MPI_IN_PLACE` of the linked MPI library (in `in_place.c`).
    fn dimflow_mpi_in_place() -> *mut c_void;
}

/// Replaces every entry of `buf` by its sum over the processes of `comm`, without a second
/// buffer.
///
/// # Errors
/// When `buf` has more than `i32::MAX` entries or MPI reports an error (with the default error
/// handler, MPI aborts the job instead).
pub(crate) fn all_reduce_sum_in_place(comm: &SimpleCommunicator, buf: &mut [f32]) -> Result<()> {
    let count = c_int::try_from(buf.len()).map_err(|_| {
        NnError::invalid(
            "all_reduce",
            format!("{} values exceed MPI's count limit", buf.len()),
        )
    })?;
    // SAFETY: `dimflow_mpi_in_place` only returns the MPI_IN_PLACE constant. `buf` is a valid,
    // exclusively borrowed buffer of `count` f32 values, described by the f32 datatype; with
    // MPI_IN_PLACE as the send buffer MPI reads and writes only `buf`, and the call is
    // blocking, so MPI keeps no pointer into it after returning. `comm` is a live communicator.
    let rc = unsafe {
        mpi::ffi::MPI_Allreduce(
            dimflow_mpi_in_place().cast_const(),
            buf.as_mut_ptr().cast::<c_void>(),
            count,
            f32::equivalent_datatype().as_raw(),
            SystemOperation::sum().as_raw(),
            comm.as_raw(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(NnError::invalid(
            "all_reduce",
            format!("MPI_Allreduce failed with code {rc}"),
        ))
    }
}
