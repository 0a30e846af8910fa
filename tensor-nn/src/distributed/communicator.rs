//! [`Communicator`]: the MPI world of this process, with the collectives data-parallel training
//! uses (sum all-reduce in place or out of place, broadcast from the chief).

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator as _, SimpleCommunicator};

use crate::error::{NnError, Result};

/// The MPI world of this process. Initialises MPI when created and finalises it when dropped;
/// a process can create one, once.
///
/// It is `Send`, so a trainer holding it can move to another thread; MPI is initialised with
/// `MPI_THREAD_SERIALIZED`, which allows calls from any thread, one at a time (`&mut self` and
/// `&self` calls from one owner never overlap).
pub struct Communicator {
    /// Kept alive until the communicator is dropped (its drop calls `MPI_Finalize`).
    _universe: Universe,
    /// All-reduce in place (the default) or through a second buffer.
    in_place: bool,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Communicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Communicator")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .field("in_place", &self.in_place)
            .finish_non_exhaustive()
    }
}

impl Communicator {
    /// Initialises MPI (asking for `MPI_THREAD_SERIALIZED`) and takes its world.
    ///
    /// # Errors
    /// When MPI was already initialised in this process.
    pub fn init() -> Result<Self> {
        let (universe, _threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| NnError::invalid("distributed", "MPI is already initialised in this process"))?;
        Ok(Self {
            _universe: universe,
            in_place: true,
            scratch: Vec::new(),
        })
    }

    /// `MPI_COMM_WORLD` (a handle made on demand: the stored universe stays `Send`).
    fn world(&self) -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    /// This process's rank in the world.
    pub fn rank(&self) -> usize {
        usize::try_from(self.world().rank()).unwrap_or(0)
    }

    /// The number of processes in the world.
    pub fn size(&self) -> usize {
        usize::try_from(self.world().size()).unwrap_or(1)
    }

    /// Chooses in-place all-reduce (`true`, the default: faster and no second buffer) or
    /// out-of-place through a scratch buffer (`false`, for comparison).
    pub fn set_in_place(&mut self, in_place: bool) {
        self.in_place = in_place;
    }

    /// Whether all-reduce works in place.
    pub fn in_place(&self) -> bool {
        self.in_place
    }

    /// Replaces every entry of `buf` by its sum over the world (`MPI_Allreduce` with `MPI_SUM`).
    ///
    /// # Errors
    /// When `buf` is larger than MPI's count limit or MPI fails.
    pub fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        if self.in_place {
            super::in_place::all_reduce_sum_in_place(&self.world(), buf)
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(buf);
            self.world()
                .all_reduce_into(&self.scratch[..], buf, SystemOperation::sum());
            Ok(())
        }
    }

    /// Replaces every entry of `values` by its sum over the world (small buffers: logs).
    pub fn all_reduce_sum_f64(&self, values: &mut [f64]) {
        let send = values.to_vec();
        self.world()
            .all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    /// Overwrites `buf` on every process with rank 0's.
    pub fn broadcast_from_chief(&self, buf: &mut [f32]) {
        self.world().process_at_rank(0).broadcast_into(buf);
    }

    /// Overwrites `value` on every process with rank 0's.
    pub fn broadcast_u64_from_chief(&self, value: &mut u64) {
        self.world().process_at_rank(0).broadcast_into(value);
    }

    /// Ends every process of the job with `code` (`MPI_Abort`); `mpirun` reports it.
    pub fn abort(&self, code: i32) -> ! {
        self.world().abort(code)
    }

    /// Waits until every process got here.
    pub fn barrier(&self) {
        self.world().barrier();
    }
}
