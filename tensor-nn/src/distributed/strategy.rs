//! The [`Strategy`] hook of the training loop and the helpers that pack gradients into one
//! contiguous buffer. Pure Rust: available without the `mpi` feature.

use crate::error::{NnError, Result};
use crate::model::ParamMut;
use crate::train::Logs;

/// How the training loop shares work between several processes (workers) that each hold a
/// replica of the model: Keras' `tf.distribute.Strategy`, reduced to the collective operations
/// data-parallel training needs.
///
/// [`Trainer::with_strategy`](crate::train::Trainer::with_strategy) installs one. The loop then
///
/// - calls [`Strategy::broadcast_params`] when `fit` starts, so every replica starts from the
///   chief's weights;
/// - trains each worker on its own shard of the data (in-memory `fit`: the rank-th slice of
///   every global batch of `batch_size × world_size` samples; `fit_dataset`: the dataset the
///   worker passes, typically [`Dataset::shard`](crate::data::Dataset::shard)`(world, rank)`);
/// - after each `backward`, replaces every gradient by its average over the workers
///   ([`Strategy::average_gradients`]), so every worker applies the same optimizer step and the
///   weights stay identical;
/// - averages the logs (loss, metrics) over the workers, weighted by their samples
///   ([`Strategy::all_reduce_sum`]), so the progress bar, callbacks and
///   [`History`](crate::train::History) see global values and decide alike (early stopping);
/// - stops every worker when a callback of any worker asks to stop;
/// - prints progress only on the chief ([`Strategy::is_chief`]); callbacks that write files
///   (TensorBoard, checkpoints, CSV logs) should be passed to `fit` on the chief only.
///
/// Every method is a collective operation: all workers must call it, in the same order.
pub trait Strategy: Send {
    /// This worker's index, in `0..world_size()`.
    fn rank(&self) -> usize;

    /// The number of workers.
    fn world_size(&self) -> usize;

    /// Whether this worker is the chief (rank 0), the one that prints and writes files.
    fn is_chief(&self) -> bool {
        self.rank() == 0
    }

    /// Overwrites every parameter's value with the chief's.
    ///
    /// # Errors
    /// When the workers' models do not have the same parameters.
    fn broadcast_params(&mut self, params: &mut [ParamMut<'_>]) -> Result<()>;

    /// The gradients of `params`, in order and concatenated, averaged over the workers.
    ///
    /// # Errors
    /// When the communication fails.
    fn average_gradients(&mut self, params: &[ParamMut<'_>]) -> Result<&[f32]>;

    /// Replaces every entry of `values` by its sum over the workers.
    ///
    /// # Errors
    /// When the communication fails.
    fn all_reduce_sum(&mut self, values: &mut [f64]) -> Result<()>;

    /// The time spent averaging gradients so far (0 for a strategy that does not measure it).
    fn communication_time(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Called when `fit` fails on this worker, before it returns the error: the other workers
    /// may be waiting in a collective for this one, so a strategy can end the whole job here
    /// ([`MpiStrategy`](crate::distributed) aborts it). The default does nothing.
    fn on_error(&mut self, error: &NnError) {
        let _ = error;
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn world_size(&self) -> usize {
        (**self).world_size()
    }
    fn is_chief(&self) -> bool {
        (**self).is_chief()
    }
    fn broadcast_params(&mut self, params: &mut [ParamMut<'_>]) -> Result<()> {
        (**self).broadcast_params(params)
    }
    fn average_gradients(&mut self, params: &[ParamMut<'_>]) -> Result<&[f32]> {
        (**self).average_gradients(params)
    }
    fn all_reduce_sum(&mut self, values: &mut [f64]) -> Result<()> {
        (**self).all_reduce_sum(values)
    }
    fn communication_time(&self) -> std::time::Duration {
        (**self).communication_time()
    }
    fn on_error(&mut self, error: &NnError) {
        (**self).on_error(error);
    }
}

/// Replaces every value of `logs` by its average over the workers, each weighted by `weight`
/// (the samples behind this worker's values): the global value for means such as the loss or
/// an accuracy when the workers saw equal or weighted shares. Every worker must hold the same
/// keys.
///
/// # Errors
/// When the communication fails or the workers' keys differ.
pub fn average_logs(strategy: &mut dyn Strategy, logs: &mut Logs, weight: f64) -> Result<()> {
    // The last two entries check the keys (their count on every worker) and sum the weights.
    // A worker without samples contributes nothing (its metrics may be NaN).
    let mut buf: Vec<f64> = logs
        .values()
        .map(|&v| if weight > 0.0 { f64::from(v) * weight } else { 0.0 })
        .collect();
    buf.extend([logs.len() as f64, weight]);
    strategy.all_reduce_sum(&mut buf)?;
    let world = strategy.world_size() as f64;
    let total = buf[logs.len() + 1];
    if buf[logs.len()] != logs.len() as f64 * world {
        return Err(NnError::invalid(
            "distributed logs",
            "the workers log different keys (metrics or validation differ between workers)",
        ));
    }
    if total > 0.0 {
        for (v, sum) in logs.values_mut().zip(&buf) {
            *v = (sum / total) as f32;
        }
    }
    Ok(())
}

/// Whether `flag` is set on any worker (a callback asked to stop training on one of them).
///
/// # Errors
/// When the communication fails.
pub fn any_worker(strategy: &mut dyn Strategy, flag: bool) -> Result<bool> {
    let mut buf = [f64::from(u8::from(flag))];
    strategy.all_reduce_sum(&mut buf)?;
    Ok(buf[0] > 0.0)
}

/// The total number of values of `params`.
pub fn num_values(params: &[ParamMut<'_>]) -> usize {
    params.iter().map(|p| p.value.len()).sum()
}

/// Copies every parameter's gradient, in order, into `buf` (resized to fit).
pub fn pack_gradients(params: &[ParamMut<'_>], buf: &mut Vec<f32>) {
    buf.clear();
    buf.reserve(num_values(params));
    for p in params {
        buf.extend_from_slice(p.grad);
    }
}

/// Copies every parameter's value, in order, into `buf` (resized to fit).
pub fn pack_values(params: &[ParamMut<'_>], buf: &mut Vec<f32>) {
    buf.clear();
    buf.reserve(num_values(params));
    for p in params {
        buf.extend_from_slice(p.value);
    }
}

/// Copies consecutive slices of `flat` into the parameters' values (the inverse of
/// [`pack_values`]).
///
/// # Errors
/// [`NnError::Length`] when `flat` does not hold exactly the parameters' values.
pub fn unpack_values(flat: &[f32], params: &mut [ParamMut<'_>]) -> Result<()> {
    crate::error::check_len("unpack_values", "buffer", num_values(params), flat.len())?;
    let mut at = 0;
    for p in params {
        let n = p.value.len();
        p.value.copy_from_slice(&flat[at..at + n]);
        at += n;
    }
    Ok(())
}

/// The same parameters with their gradients replaced by consecutive slices of `flat` (what the
/// training loop hands the optimizer after [`Strategy::average_gradients`]).
///
/// # Errors
/// [`NnError::Length`] when `flat` does not hold exactly one gradient value per parameter value.
pub fn with_gradients<'a>(params: Vec<ParamMut<'a>>, flat: &'a [f32]) -> Result<Vec<ParamMut<'a>>> {
    let total: usize = params.iter().map(|p| p.grad.len()).sum();
    if total != flat.len() {
        return Err(NnError::Length {
            op: "with_gradients",
            what: "averaged gradients",
            expected: total,
            got: flat.len(),
        });
    }
    let mut at = 0;
    Ok(params
        .into_iter()
        .map(|p| {
            let n = p.grad.len();
            at += n;
            ParamMut {
                grad: &flat[at - n..at],
                ..p
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param<'a>(name: &'a str, value: &'a mut [f32], grad: &'a [f32]) -> ParamMut<'a> {
        ParamMut {
            name,
            shape: &[],
            value,
            grad,
            trainable: true,
        }
    }

    #[test]
    fn pack_and_rebind_gradients_round_trip() {
        let (mut v1, mut v2) = (vec![0.0; 2], vec![0.0; 3]);
        let (g1, g2) = ([1.0, 2.0], [3.0, 4.0, 5.0]);
        let params = vec![param("a", &mut v1, &g1), param("b", &mut v2, &g2)];
        let mut buf = vec![9.0; 7];
        pack_gradients(&params, &mut buf);
        assert_eq!(buf, [1.0, 2.0, 3.0, 4.0, 5.0]);
        let averaged: Vec<f32> = buf.iter().map(|g| g / 2.0).collect();
        let rebound = with_gradients(params, &averaged).unwrap();
        assert_eq!(rebound[0].grad, &[0.5, 1.0]);
        assert_eq!(rebound[1].grad, &[1.5, 2.0, 2.5]);
        assert_eq!(rebound[1].name, "b");
        assert!(with_gradients(rebound, &averaged[..4]).is_err());
    }

    #[test]
    fn pack_and_unpack_values_round_trip() {
        let (mut v1, mut v2) = (vec![1.0, 2.0], vec![3.0]);
        let mut params = vec![param("a", &mut v1, &[0.0; 2]), param("b", &mut v2, &[0.0])];
        let mut buf = Vec::new();
        pack_values(&params, &mut buf);
        assert_eq!(buf, [1.0, 2.0, 3.0]);
        unpack_values(&[7.0, 8.0, 9.0], &mut params).unwrap();
        assert_eq!(
            (&*params[0].value, &*params[1].value),
            (&[7.0, 8.0][..], &[9.0][..])
        );
        assert!(unpack_values(&[1.0], &mut params).is_err());
    }
}
