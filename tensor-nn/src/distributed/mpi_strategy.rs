//! [`MpiStrategy`]: data-parallel training over MPI, in the style of
//! `tf.distribute.MultiWorkerMirroredStrategy`.

use std::time::{Duration, Instant};

use super::communicator::{write_stderr_line, Communicator};
use super::strategy::{num_values, pack_gradients, pack_values, unpack_values, Strategy};
use crate::error::{NnError, Result};
use crate::model::ParamMut;

/// Data-parallel training on the processes of an MPI job (`mpirun -np N program`): one model
/// replica per process, gradients averaged with a sum all-reduce (in place by default) over one
/// contiguous buffer, cut into buckets of at most [`MpiStrategy::with_bucket_size`] values.
///
/// ```no_run
/// use tensor_nn::distributed::MpiStrategy;
/// let strategy = MpiStrategy::init().unwrap();
/// println!("worker {} of {}", strategy.communicator().rank(), strategy.communicator().size());
/// // trainer.with_strategy(strategy).fit(...)
/// ```
#[derive(Debug)]
pub struct MpiStrategy {
    comm: Communicator,
    grads: Vec<f32>,
    bucket: usize,
    /// Time spent packing, all-reducing and scaling gradients.
    comm_time: Duration,
    abort_on_error: bool,
}

impl MpiStrategy {
    /// Initialises MPI and wraps its world (see [`Communicator::init`]), with the collective
    /// timeout of the environment variable `DIMFLOW_COLLECTIVE_TIMEOUT_SECS` (seconds; `0`: no
    /// timeout; default 300 s,
    /// [`DEFAULT_COLLECTIVE_TIMEOUT`](crate::distributed::DEFAULT_COLLECTIVE_TIMEOUT)).
    ///
    /// # Errors
    /// When that variable is not a number of seconds, or MPI was already initialised in this
    /// process.
    pub fn init() -> Result<Self> {
        Ok(Self::new(Communicator::init()?))
    }

    /// Wraps a communicator.
    pub fn new(comm: Communicator) -> Self {
        Self {
            comm,
            grads: Vec::new(),
            bucket: usize::MAX,
            comm_time: Duration::ZERO,
            abort_on_error: true,
        }
    }

    /// All-reduces the gradients in buckets of at most `values` values (default: one bucket
    /// holding every gradient).
    pub fn with_bucket_size(mut self, values: usize) -> Self {
        self.bucket = values.max(1);
        self
    }

    /// Sets how long each collective (gradient all-reduce, log averaging, the broadcast at the
    /// start of `fit`) waits for every worker to enter it; `None` or zero: forever. Overrides
    /// `DIMFLOW_COLLECTIVE_TIMEOUT_SECS`. When it passes, `fit` fails with
    /// [`NnError::CollectiveTimeout`] naming the workers that did not answer (stopped, hung or
    /// unreachable) and, with [`MpiStrategy::with_abort_on_error`] (the default), aborts the
    /// MPI job, so the other workers end too. See [`Communicator::set_collective_timeout`].
    pub fn with_collective_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.comm.set_collective_timeout(timeout.into());
        self
    }

    /// Whether a failing `fit` aborts the whole MPI job (the default: `true`) or only returns
    /// its error on this worker.
    pub fn with_abort_on_error(mut self, abort: bool) -> Self {
        self.abort_on_error = abort;
        self
    }

    /// The communicator (rank, size, raw collectives).
    pub fn communicator(&self) -> &Communicator {
        &self.comm
    }

    /// The communicator, mutably (e.g. [`Communicator::set_in_place`]).
    pub fn communicator_mut(&mut self) -> &mut Communicator {
        &mut self.comm
    }
}

impl Strategy for MpiStrategy {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world_size(&self) -> usize {
        self.comm.size()
    }

    fn broadcast_params(&mut self, params: &mut [ParamMut<'_>]) -> Result<()> {
        // Agree on the size first: a mismatch would otherwise corrupt or hang the broadcast.
        let mut count = num_values(params) as u64;
        let mine = count;
        self.comm.broadcast_u64_from_chief(&mut count)?;
        let mut same = [f64::from(u8::from(count == mine))];
        self.comm.all_reduce_sum_f64(&mut same)?;
        if same[0] as usize != self.comm.size() {
            return Err(NnError::invalid(
                "broadcast_params",
                format!(
                    "the chief's model has {count} parameter values and this worker's has {mine} \
                     (or another worker's differs)"
                ),
            ));
        }
        let mut buf = Vec::new();
        pack_values(params, &mut buf);
        self.comm.broadcast_from_chief(&mut buf)?;
        unpack_values(&buf, params)
    }

    fn average_gradients(&mut self, params: &[ParamMut<'_>]) -> Result<&[f32]> {
        let started = Instant::now();
        pack_gradients(params, &mut self.grads);
        for chunk in self.grads.chunks_mut(self.bucket) {
            self.comm.all_reduce_sum(chunk)?;
        }
        let scale = 1.0 / self.comm.size() as f32;
        self.grads.iter_mut().for_each(|g| *g *= scale);
        self.comm_time += started.elapsed();
        Ok(&self.grads)
    }

    fn all_reduce_sum(&mut self, values: &mut [f64]) -> Result<()> {
        self.comm.all_reduce_sum_f64(values)
    }

    fn communication_time(&self) -> Duration {
        self.comm_time
    }

    /// Prints the error and aborts the MPI job (`MPI_Abort`), unless
    /// [`MpiStrategy::with_abort_on_error`] turned that off: the other workers would otherwise
    /// wait forever in the next collective.
    fn on_error(&mut self, error: &NnError) {
        if self.abort_on_error {
            let line = format!(
                "dimflow: worker {} of {}: fit failed: {error}; aborting the MPI job\n",
                self.comm.rank(),
                self.comm.size()
            );
            write_stderr_line(&line);
            self.comm.abort(1);
        }
    }
}
