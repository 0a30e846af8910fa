//! Where `fit` takes its batches from: in-memory tensors shuffled per epoch, or passes of a
//! `Dataset`.

use rand::seq::SliceRandom;

use crate::data::{Dataset, DatasetIter, ErrorPolicy, Rows};
use crate::error::{NnError, Result};
use crate::init::seeded_rng;

use super::TrainPosition;

/// Where the batches of each training epoch come from: in-memory tensors or a [`Dataset`].
pub(super) trait BatchSource<X, Y> {
    /// Steps of the coming epoch when known, else 0.
    fn steps_hint(&self) -> usize;
    /// Starts an epoch.
    fn begin_epoch(&mut self, epoch: usize) -> Result<()>;
    /// Starts epoch `at.epoch` where an interrupted run stood at `at` (`at.step` steps of it
    /// done): the batches of those steps are not drawn again.
    fn resume_epoch(&mut self, at: &TrainPosition) -> Result<()>;
    /// The data's part of the position after the last batch: (the number of the next pass
    /// of a dataset, the batches taken from the open pass if one is open).
    fn data_position(&self) -> (u64, Option<usize>) {
        (0, None)
    }
    /// The next batch of the epoch, or `None` at its end.
    fn next_batch(&mut self) -> Result<Option<(X, Y)>>;
    /// The sample weights of the batch `next_batch` last returned, if the source has any.
    fn batch_weights(&self) -> Option<Vec<f32>> {
        None
    }
    /// Ends the epoch: for a source that counts them, the elements skipped in the epoch and
    /// the first error skipped.
    fn end_epoch(&mut self) -> Option<(usize, Option<String>)>;
    /// Hands back a batch the trainer is done with, so that the source can refill its memory
    /// for the next one instead of allocating (the default drops it).
    fn recycle(&mut self, batch: (X, Y)) {
        drop(batch);
    }
}

/// `fit`'s in-memory source: the first `n_train` rows of `x` and `y`, shuffled per epoch.
pub(super) struct MemorySource<'a, X, Y> {
    pub(super) x: &'a X,
    pub(super) y: &'a Y,
    pub(super) n_train: usize,
    pub(super) batch_size: usize,
    pub(super) steps: usize,
    pub(super) shuffle: bool,
    pub(super) seed: u64,
    pub(super) order: Vec<usize>,
    pub(super) step: usize,
    pub(super) sample_weight: Option<&'a [f32]>,
    /// The rows of the last batch.
    pub(super) last: Vec<usize>,
    /// This worker's slice of each global batch of `batch_size × world` samples.
    pub(super) rank: usize,
    pub(super) world: usize,
    /// The batch last handed back by the trainer, refilled in place by `next_batch`.
    pub(super) spare: Option<(X, Y)>,
}

impl<X: Rows, Y: Rows> BatchSource<X, Y> for MemorySource<'_, X, Y> {
    fn steps_hint(&self) -> usize {
        self.steps
    }

    fn begin_epoch(&mut self, epoch: usize) -> Result<()> {
        self.order = (0..self.n_train).collect();
        if self.shuffle {
            let mut rng = seeded_rng(self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            self.order.shuffle(&mut rng);
        }
        self.step = 0;
        Ok(())
    }

    fn resume_epoch(&mut self, at: &TrainPosition) -> Result<()> {
        if at.step > self.steps {
            return Err(NnError::invalid(
                "fit",
                format!(
                    "the restored position is step {} of epoch {}, but an epoch has {} steps here",
                    at.step, at.epoch, self.steps
                ),
            ));
        }
        self.begin_epoch(at.epoch)?;
        // The order depends only on the seed and the epoch: skipping the steps draws nothing.
        self.step = at.step;
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<(X, Y)>> {
        if self.step >= self.steps {
            return Ok(None);
        }
        let lo = (self.step * self.world + self.rank) * self.batch_size;
        let hi = (lo + self.batch_size).min(self.n_train);
        let idx = &self.order[lo..hi];
        self.step += 1;
        self.last.clear();
        self.last.extend_from_slice(idx);
        match self.spare.take() {
            Some((mut xb, mut yb)) => {
                self.x.gather_rows_into(idx, &mut xb)?;
                self.y.gather_rows_into(idx, &mut yb)?;
                Ok(Some((xb, yb)))
            }
            None => Ok(Some((self.x.gather_rows(idx)?, self.y.gather_rows(idx)?))),
        }
    }

    fn recycle(&mut self, batch: (X, Y)) {
        self.spare = Some(batch);
    }

    fn batch_weights(&self) -> Option<Vec<f32>> {
        self.sample_weight
            .map(|w| self.last.iter().map(|&i| w[i]).collect())
    }

    fn end_epoch(&mut self) -> Option<(usize, Option<String>)> {
        None
    }
}

/// `fit_dataset`'s source: passes of a [`Dataset`], cut to `limit` steps per epoch if set.
pub(super) struct DatasetSource<'a, T> {
    pub(super) ds: &'a Dataset<T>,
    pub(super) limit: Option<usize>,
    pub(super) iter: Option<DatasetIter<T>>,
    /// Whether `iter` has yielded nothing yet.
    pub(super) fresh: bool,
    pub(super) step: usize,
    /// Batches of the last finished epoch (the progress bar's length once known).
    pub(super) last_steps: usize,
    /// `iter.skipped()` when the epoch began.
    pub(super) skipped_at_begin: usize,
    /// Skip count and first skipped error of a pass that ended during this epoch.
    pub(super) ended: Option<(usize, Option<String>)>,
    /// The sample weights of the last batch, for datasets of `(x, y, weights)`.
    pub(super) weights: Option<Vec<f32>>,
    /// The epoch number ([`Dataset::iter_epoch`]) of the next pass to start.
    pub(super) next_pass: u64,
    /// Batches taken from the open pass.
    pub(super) pass_batches: usize,
}

/// An element of a dataset given to `fit_dataset`: a batch of inputs and targets, and for
/// `(x, y, weights)` one weight per sample.
pub trait FitBatch<X, Y> {
    /// The inputs, the targets and the sample weights if any.
    fn into_parts(self) -> (X, Y, Option<Vec<f32>>);
}

impl<X, Y> FitBatch<X, Y> for (X, Y) {
    fn into_parts(self) -> (X, Y, Option<Vec<f32>>) {
        (self.0, self.1, None)
    }
}

impl<X, Y> FitBatch<X, Y> for (X, Y, Vec<f32>) {
    fn into_parts(self) -> (X, Y, Option<Vec<f32>>) {
        (self.0, self.1, Some(self.2))
    }
}

impl<T: Send + 'static> DatasetSource<'_, T> {
    fn start_pass(&mut self) -> Result<()> {
        self.iter = Some(self.ds.iter_epoch(self.next_pass)?);
        self.next_pass += 1;
        self.pass_batches = 0;
        self.fresh = true;
        self.skipped_at_begin = 0;
        Ok(())
    }

    /// Closes the current pass, keeping what it skipped during this epoch.
    fn close_pass(&mut self) {
        if let Some(it) = self.iter.take() {
            let prev = self.ended.take().map_or(0, |(c, _)| c);
            let first = it.first_skipped().map(ToString::to_string);
            self.ended = Some((prev + it.skipped() - self.skipped_at_begin, first));
        }
    }
}

impl<X: Rows, Y: Rows, T: FitBatch<X, Y> + Send + 'static> BatchSource<X, Y> for DatasetSource<'_, T> {
    fn steps_hint(&self) -> usize {
        self.limit.unwrap_or(self.last_steps)
    }

    fn batch_weights(&self) -> Option<Vec<f32>> {
        self.weights.clone()
    }

    fn begin_epoch(&mut self, epoch: usize) -> Result<()> {
        self.step = 0;
        self.ended = None;
        match &self.iter {
            Some(it) if self.limit.is_some() => {
                self.skipped_at_begin = it.skipped();
                Ok(())
            }
            _ => {
                // One pass per epoch: pass `e` is epoch `e`, whichever run or process makes it.
                if self.limit.is_none() {
                    self.next_pass = epoch as u64;
                }
                self.start_pass()
            }
        }
    }

    fn resume_epoch(&mut self, at: &TrainPosition) -> Result<()> {
        if self.limit.is_some_and(|k| at.step > k) {
            return Err(NnError::invalid(
                "fit",
                format!(
                    "the restored position is step {} of epoch {}, but steps_per_epoch is {}",
                    at.step,
                    at.epoch,
                    self.limit.unwrap_or(0)
                ),
            ));
        }
        self.iter = None;
        self.next_pass = at.next_pass;
        let Some(taken) = at.pass_batches else {
            // No pass was open: the epoch starts the next one.
            self.begin_epoch(at.epoch)?;
            self.step = at.step;
            return Ok(());
        };
        // Reopen the pass the interrupted run had open and take the batches it took.
        let pass = at.next_pass.saturating_sub(1);
        let mut it = self.ds.iter_epoch(pass)?;
        for i in 0..taken {
            match it.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(NnError::invalid(
                        "fit",
                        format!(
                            "the restored position is batch {taken} of pass {pass}, but the \
                             dataset ends after {i} batches"
                        ),
                    ))
                }
            }
        }
        self.skipped_at_begin = it.skipped();
        self.iter = Some(it);
        self.next_pass = pass + 1;
        self.pass_batches = taken;
        self.fresh = taken == 0;
        self.step = at.step;
        self.ended = None;
        Ok(())
    }

    fn data_position(&self) -> (u64, Option<usize>) {
        (self.next_pass, self.iter.as_ref().map(|_| self.pass_batches))
    }

    fn next_batch(&mut self) -> Result<Option<(X, Y)>> {
        if self.limit.is_some_and(|k| self.step >= k) {
            return Ok(None);
        }
        loop {
            let Some(it) = self.iter.as_mut() else {
                return Ok(None);
            };
            match it.next() {
                Some(Ok(batch)) => {
                    let (x, y, w) = batch.into_parts();
                    if x.num_rows() != y.num_rows() {
                        return Err(NnError::invalid(
                            "fit",
                            format!("a batch has {} inputs but {} targets", x.num_rows(), y.num_rows()),
                        ));
                    }
                    if let Some(w) = &w {
                        crate::error::check_len("fit", "sample weights of a batch", x.num_rows(), w.len())?;
                    }
                    self.weights = w;
                    self.fresh = false;
                    self.step += 1;
                    self.pass_batches += 1;
                    return Ok(Some((x, y)));
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    let was_fresh = self.fresh;
                    self.close_pass();
                    if was_fresh {
                        return Err(NnError::invalid("fit", "the dataset yielded no batch"));
                    }
                    // An iterator kept from the previous epoch that ran out exactly at its end:
                    // this epoch starts a new pass.
                    if self.step == 0 {
                        self.start_pass()?;
                        continue;
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn end_epoch(&mut self) -> Option<(usize, Option<String>)> {
        self.last_steps = self.step;
        if self.limit.is_none() {
            self.close_pass();
        }
        let mut out = self.ended.take().unwrap_or((0, None));
        if let Some(it) = &self.iter {
            out.0 += it.skipped() - self.skipped_at_begin;
            if out.1.is_none() {
                out.1 = it.first_skipped().map(ToString::to_string);
            }
        }
        (self.ds.error_policy() == ErrorPolicy::Skip).then_some(out)
    }
}
