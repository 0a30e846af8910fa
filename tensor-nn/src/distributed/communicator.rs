//! [`Communicator`]: the MPI world of this process, with the collectives data-parallel training
//! uses (sum all-reduce in place or out of place, broadcast from the chief), each behind an
//! arrival check with a timeout (see [`Communicator::set_collective_timeout`]).

use std::time::Duration;

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator as _, SimpleCommunicator};

use crate::error::{NnError, Result};

/// The environment variable [`Communicator::init`] reads the collective timeout from: a number
/// of seconds (`300`, `2.5`), or `0` for no timeout.
pub const COLLECTIVE_TIMEOUT_ENV: &str = "DIMFLOW_COLLECTIVE_TIMEOUT_SECS";

/// The collective timeout when [`COLLECTIVE_TIMEOUT_ENV`] is not set: 300 s, long enough for
/// a worker to write a checkpoint or load its data while the others wait in a collective, and
/// short enough that a job with a hung worker ends within minutes instead of never.
pub const DEFAULT_COLLECTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// The MPI world of this process. Initialises MPI when created and finalises it when dropped;
/// a process can create one, once.
///
/// It is `Send`, so a trainer holding it can move to another thread; MPI is initialised with
/// `MPI_THREAD_SERIALIZED`, which allows calls from any thread, one at a time (`&mut self` and
/// `&self` calls from one owner never overlap).
///
/// Every collective first waits, up to the collective timeout, until every worker has entered
/// it (a non-blocking barrier, polled). A worker that times out asks the others which
/// collective they are in and returns [`NnError::CollectiveTimeout`] naming the workers that
/// did not answer (stopped, hung or unreachable). After that the communicator is unusable: its
/// collectives return an error, and dropping it ends the whole MPI job with `MPI_Abort`
/// (finalising MPI would wait for the missing workers forever).
pub struct Communicator {
    /// Kept alive until the communicator is dropped (its drop calls `MPI_Finalize`).
    _universe: Universe,
    /// All-reduce in place (the default) or through a second buffer.
    in_place: bool,
    scratch: Vec<f32>,
    /// How long a collective waits for every worker to arrive (`None`: forever).
    timeout: Option<Duration>,
    /// Collectives entered so far (the census of a timeout names them by number).
    collectives: u64,
    /// The error of the collective that timed out, if one did.
    timed_out: Option<String>,
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
    /// Initialises MPI (asking for `MPI_THREAD_SERIALIZED`) and takes its world, with the
    /// collective timeout of [`COLLECTIVE_TIMEOUT_ENV`] (default
    /// [`DEFAULT_COLLECTIVE_TIMEOUT`]).
    ///
    /// # Errors
    /// When [`COLLECTIVE_TIMEOUT_ENV`] is set but is not a number of seconds (checked before
    /// MPI starts), or MPI was already initialised in this process.
    pub fn init() -> Result<Self> {
        let timeout = match std::env::var(COLLECTIVE_TIMEOUT_ENV) {
            Ok(value) => parse_timeout(&value)?,
            Err(std::env::VarError::NotPresent) => Some(DEFAULT_COLLECTIVE_TIMEOUT),
            Err(std::env::VarError::NotUnicode(value)) => {
                return Err(NnError::invalid(
                    "collective timeout",
                    format!("{COLLECTIVE_TIMEOUT_ENV}={value:?} is not a number of seconds"),
                ))
            }
        };
        let (universe, _threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| NnError::invalid("distributed", "MPI is already initialised in this process"))?;
        Ok(Self {
            _universe: universe,
            in_place: true,
            scratch: Vec::new(),
            timeout,
            collectives: 0,
            timed_out: None,
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

    /// Sets how long each collective waits for every worker to enter it before it fails with
    /// [`NnError::CollectiveTimeout`]; `None` or a zero duration: no timeout (a stalled worker
    /// then keeps the others waiting). The workers may differ in this setting: every worker
    /// runs the same arrival check whatever its timeout.
    pub fn set_collective_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout.filter(|t| !t.is_zero());
    }

    /// The collective timeout (`None`: collectives wait forever).
    pub fn collective_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Enters the next collective, `op`: waits until every worker has entered it too and
    /// returns the world to run it on.
    fn enter(&mut self, op: &'static str) -> Result<SimpleCommunicator> {
        if let Some(first) = &self.timed_out {
            return Err(NnError::invalid(
                op,
                format!("the communicator is unusable after an earlier collective timed out ({first})"),
            ));
        }
        self.collectives += 1;
        let world = self.world();
        match super::watchdog::arrive(&world, self.collectives, self.timeout) {
            Ok(()) => Ok(world),
            Err(detail) => {
                let error = NnError::CollectiveTimeout {
                    op,
                    rank: self.rank(),
                    size: self.size(),
                    timeout: self.timeout.unwrap_or_default(),
                    detail,
                };
                self.timed_out = Some(error.to_string());
                Err(error)
            }
        }
    }

    /// Replaces every entry of `buf` by its sum over the world (`MPI_Allreduce` with `MPI_SUM`).
    ///
    /// # Errors
    /// When `buf` is larger than MPI's count limit, MPI fails, or the collective times out
    /// ([`NnError::CollectiveTimeout`]; see [`Communicator::set_collective_timeout`]).
    pub fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        let world = self.enter("all-reduce")?;
        if self.in_place {
            super::in_place::all_reduce_sum_in_place(&world, buf)
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(buf);
            world.all_reduce_into(&self.scratch[..], buf, SystemOperation::sum());
            Ok(())
        }
    }

    /// Replaces every entry of `values` by its sum over the world (small buffers: logs).
    ///
    /// # Errors
    /// When the collective times out.
    pub fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        let world = self.enter("all-reduce (f64)")?;
        let send = values.to_vec();
        world.all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    /// Overwrites `buf` on every process with rank 0's.
    ///
    /// # Errors
    /// When the collective times out.
    pub fn broadcast_from_chief(&mut self, buf: &mut [f32]) -> Result<()> {
        self.enter("broadcast")?.process_at_rank(0).broadcast_into(buf);
        Ok(())
    }

    /// Overwrites `value` on every process with rank 0's.
    ///
    /// # Errors
    /// When the collective times out.
    pub fn broadcast_u64_from_chief(&mut self, value: &mut u64) -> Result<()> {
        self.enter("broadcast (u64)")?
            .process_at_rank(0)
            .broadcast_into(value);
        Ok(())
    }

    /// Ends every process of the job with `code` (`MPI_Abort`); `mpirun` reports it.
    pub fn abort(&self, code: i32) -> ! {
        self.world().abort(code)
    }

    /// Waits until every process got here.
    ///
    /// # Errors
    /// When the collective times out.
    pub fn barrier(&mut self) -> Result<()> {
        self.enter("barrier")?;
        Ok(())
    }
}

impl Drop for Communicator {
    /// After a collective timed out, ends the job with `MPI_Abort` instead of finalising MPI:
    /// `MPI_Finalize` would wait for the missing workers forever.
    fn drop(&mut self) {
        if let Some(error) = &self.timed_out {
            let line = format!(
                "dimflow: worker {} of {}: {error}; aborting the MPI job instead of finalising MPI\n",
                self.rank(),
                self.size()
            );
            write_stderr_line(&line);
            self.abort(1);
        }
    }
}

/// Writes `line` to stderr in one write: `mpirun` forwards each write of each rank as it comes,
/// so a line written in pieces can be cut by the launcher's own abort banner.
pub(crate) fn write_stderr_line(line: &str) {
    let mut err = std::io::stderr().lock();
    // Nothing more can be done if stderr is gone: the caller aborts the job anyway.
    let _ =
        std::io::Write::write_all(&mut err, line.as_bytes()).and_then(|()| std::io::Write::flush(&mut err));
}

/// A collective timeout from the text of [`COLLECTIVE_TIMEOUT_ENV`]: seconds, `0` for none.
fn parse_timeout(text: &str) -> Result<Option<Duration>> {
    let seconds = text.trim().parse::<f64>().ok();
    match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(timeout) => Ok(Some(timeout).filter(|t| !t.is_zero())),
        None => Err(NnError::invalid(
            "collective timeout",
            format!(
                "{COLLECTIVE_TIMEOUT_ENV}={text:?} is not a number of seconds (e.g. 300 or 2.5; 0 \
                 for no timeout)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_variable_is_seconds_or_zero_for_none() {
        assert_eq!(parse_timeout("3").unwrap(), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout(" 2.5 ").unwrap(), Some(Duration::from_millis(2500)));
        assert_eq!(parse_timeout("0").unwrap(), None);
        for bad in ["", "abc", "-1", "inf", "NaN", "3s"] {
            let err = parse_timeout(bad).unwrap_err().to_string();
            assert!(
                err.contains("DIMFLOW_COLLECTIVE_TIMEOUT_SECS") && err.contains("not a number of seconds"),
                "{bad:?}: {err}"
            );
        }
    }
}
