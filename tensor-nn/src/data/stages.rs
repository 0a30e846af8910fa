//! The sequential stages of a [`Dataset`]: map, filter, take, skip, shard, repeat, batch,
//! shuffle, flat_map and interleave.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::dataset::{next_epoch, Dataset, ItemIter};
use super::error::{DataError, Result};
use super::rng::SplitMix64;

/// How many times [`Dataset::repeat`] goes over its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// A fixed number of passes.
    Count(usize),
    /// Without end (stops only if an epoch of the input is empty).
    Forever,
}

impl From<usize> for Repeat {
    fn from(n: usize) -> Self {
        Repeat::Count(n)
    }
}

/// The most elements a stage reserves room for up front (a huge batch size must not abort).
pub(crate) const CAPACITY_HINT: usize = 4096;

fn argument(op: &'static str, message: &str) -> DataError {
    DataError::Argument {
        op,
        message: message.to_string(),
    }
}

impl<T: Send + 'static> Dataset<T> {
    /// Applies `f` to every element (`Dataset.map`). See [`Dataset::map_parallel`] for the
    /// rayon version.
    pub fn map<U: Send + 'static>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Dataset<U> {
        let up = Arc::clone(&self.make);
        let f = Arc::new(f);
        self.derive(move || {
            let f = Arc::clone(&f);
            Ok(Box::new(up()?.map(move |r| r.map(|x| f(x)))) as ItemIter<U>)
        })
    }

    /// Applies a fallible `f` to every element; its errors become elements of the stream and
    /// meet the pipeline's error policy.
    pub fn try_map<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> Result<U> + Send + Sync + 'static,
    ) -> Dataset<U> {
        let up = Arc::clone(&self.make);
        let f = Arc::new(f);
        self.derive(move || {
            let f = Arc::clone(&f);
            Ok(Box::new(up()?.map(move |r| r.and_then(|x| f(x)))) as ItemIter<U>)
        })
    }

    /// Keeps the elements for which `pred` is true (errors pass through).
    pub fn filter(&self, pred: impl Fn(&T) -> bool + Send + Sync + 'static) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        let pred = Arc::new(pred);
        self.derive(move || {
            let pred = Arc::clone(&pred);
            Ok(Box::new(up()?.filter(move |r| r.as_ref().map_or(true, |x| pred(x)))) as ItemIter<T>)
        })
    }

    /// The first `n` elements (errors pass through and are not counted).
    pub fn take(&self, n: usize) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        self.derive(move || {
            let mut left = n;
            let mut it = up()?;
            Ok(Box::new(std::iter::from_fn(move || {
                if left == 0 {
                    return None;
                }
                let item = it.next()?;
                if item.is_ok() {
                    left -= 1;
                }
                Some(item)
            })) as ItemIter<T>)
        })
    }

    /// All but the first `n` elements (errors pass through and are not counted).
    pub fn skip(&self, n: usize) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        self.derive(move || {
            let mut left = n;
            Ok(Box::new(up()?.filter(move |item| {
                if left > 0 && item.is_ok() {
                    left -= 1;
                    false
                } else {
                    true
                }
            })) as ItemIter<T>)
        })
    }

    /// Every `num_shards`-th element starting at `index` (`Dataset.shard`), for splitting a
    /// pipeline between workers. Positions count errors too, so each error reaches one worker.
    pub fn shard(&self, num_shards: usize, index: usize) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        self.derive(move || {
            if num_shards == 0 || index >= num_shards {
                return Err(DataError::Argument {
                    op: "shard",
                    message: format!("index {index} must be below num_shards {num_shards}"),
                });
            }
            Ok(Box::new(up()?.skip(index).step_by(num_shards)) as ItemIter<T>)
        })
    }

    /// Goes over the input several times, or forever; each pass is a new epoch of the input
    /// (files re-opened, shuffles redrawn).
    pub fn repeat(&self, count: impl Into<Repeat>) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        let count = count.into();
        self.derive(move || {
            let up = Arc::clone(&up);
            let mut pass = 0usize;
            let mut current: Option<ItemIter<T>> = None;
            let mut yielded_this_pass = false;
            let mut stopped = false;
            Ok(Box::new(std::iter::from_fn(move || loop {
                if stopped {
                    return None;
                }
                if current.is_none() {
                    if let Repeat::Count(n) = count {
                        if pass >= n {
                            return None;
                        }
                    }
                    pass += 1;
                    yielded_this_pass = false;
                    match up() {
                        Ok(it) => current = Some(it),
                        Err(e) => {
                            // A source that cannot start would fail on every pass: stop.
                            stopped = true;
                            return Some(Err(e));
                        }
                    }
                }
                match current.as_mut().and_then(Iterator::next) {
                    Some(item) => {
                        yielded_this_pass = true;
                        return Some(item);
                    }
                    None => {
                        current = None;
                        if !yielded_this_pass && count == Repeat::Forever {
                            return None;
                        }
                    }
                }
            })) as ItemIter<T>)
        })
    }

    /// Groups consecutive elements into vectors of `size` (`Dataset.batch`); the last, shorter
    /// one is dropped when `drop_remainder`. An error is passed on at once and the batch keeps
    /// filling, so under [`ErrorPolicy::Skip`](super::ErrorPolicy::Skip) only the bad element is lost.
    pub fn batch(&self, size: usize, drop_remainder: bool) -> Dataset<Vec<T>> {
        let up = Arc::clone(&self.make);
        self.derive(move || {
            if size == 0 {
                return Err(argument("batch", "batch size must be positive"));
            }
            let mut it = up()?;
            let mut done = false;
            let mut buf: Vec<T> = Vec::with_capacity(size.min(CAPACITY_HINT));
            Ok(Box::new(std::iter::from_fn(move || {
                if done {
                    return None;
                }
                while buf.len() < size {
                    match it.next() {
                        Some(Ok(x)) => buf.push(x),
                        // The partial batch stays in `buf` and keeps filling on the next call.
                        Some(Err(e)) => return Some(Err(e)),
                        None => {
                            done = true;
                            break;
                        }
                    }
                }
                if buf.is_empty() || (drop_remainder && buf.len() < size) {
                    return None;
                }
                Some(Ok(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(size.min(CAPACITY_HINT)),
                )))
            })) as ItemIter<Vec<T>>)
        })
    }

    /// Shuffles with a buffer of `buffer_size` elements (`Dataset.shuffle`): a buffer as large
    /// as the dataset gives a uniform permutation. With `reshuffle_each_iteration` every epoch
    /// draws a new order (seeded by `seed` and the epoch number), otherwise all epochs share one.
    /// The epoch number counts the stage's epochs from 0, or is the one given to
    /// [`Dataset::iter_epoch`].
    pub fn shuffle(&self, buffer_size: usize, seed: u64, reshuffle_each_iteration: bool) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        let epoch = Arc::new(AtomicU64::new(0));
        self.derive(move || {
            if buffer_size == 0 {
                return Err(argument("shuffle", "buffer size must be positive"));
            }
            let e = next_epoch(&epoch);
            let epoch_seed = if reshuffle_each_iteration {
                SplitMix64::new(seed ^ e.wrapping_mul(0xA076_1D64_78BD_642F)).next_u64()
            } else {
                SplitMix64::new(seed).next_u64()
            };
            let mut rng = SplitMix64::new(epoch_seed);
            let mut it = up()?;
            let mut buf: Vec<T> = Vec::with_capacity(buffer_size.min(1 << 16));
            let mut pending_err: VecDeque<DataError> = VecDeque::new();
            let mut exhausted = false;
            Ok(Box::new(std::iter::from_fn(move || {
                while !exhausted && buf.len() < buffer_size {
                    match it.next() {
                        Some(Ok(x)) => buf.push(x),
                        Some(Err(e)) => pending_err.push_back(e),
                        None => exhausted = true,
                    }
                }
                if let Some(e) = pending_err.pop_front() {
                    return Some(Err(e));
                }
                if buf.is_empty() {
                    return None;
                }
                let i = rng.below(buf.len());
                Some(Ok(buf.swap_remove(i)))
            })) as ItemIter<T>)
        })
    }

    /// Maps every element to a dataset and concatenates them (`Dataset.flat_map`).
    pub fn flat_map<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> Dataset<U> + Send + Sync + 'static,
    ) -> Dataset<U> {
        self.interleave(f, 1, 1)
    }

    /// Maps every element to a dataset and interleaves them (`Dataset.interleave`): up to
    /// `cycle_length` inner datasets are open at once and `block_length` consecutive elements
    /// are taken from each in turn; an exhausted one is replaced by the next input when its
    /// turn comes round again. The order is
    /// deterministic. See [`Dataset::interleave_parallel`] for reading the inner datasets on
    /// background threads.
    pub fn interleave<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> Dataset<U> + Send + Sync + 'static,
        cycle_length: usize,
        block_length: usize,
    ) -> Dataset<U> {
        self.interleave_with(f, cycle_length, block_length, None)
    }

    pub(crate) fn interleave_with<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> Dataset<U> + Send + Sync + 'static,
        cycle_length: usize,
        block_length: usize,
        prefetch: Option<usize>,
    ) -> Dataset<U> {
        let up = Arc::clone(&self.make);
        let f = Arc::new(f);
        self.derive(move || {
            if cycle_length == 0 || block_length == 0 {
                return Err(argument("interleave", "cycle and block lengths must be positive"));
            }
            let f = Arc::clone(&f);
            let open: Box<dyn Fn(T) -> Result<ItemIter<U>> + Send> = Box::new(move |x| {
                let inner = f(x);
                match prefetch {
                    Some(n) => (inner.prefetch(n).make)(),
                    None => (inner.make)(),
                }
            });
            Ok(Box::new(Interleave {
                inputs: up()?,
                open,
                slots: (0..cycle_length).map(|_| None).collect(),
                pos: 0,
                in_block: 0,
                block_length,
                active: 0,
                inputs_done: false,
            }) as ItemIter<U>)
        })
    }
}

struct Interleave<T, U> {
    inputs: ItemIter<T>,
    open: Box<dyn Fn(T) -> Result<ItemIter<U>> + Send>,
    slots: Vec<Option<ItemIter<U>>>,
    pos: usize,
    in_block: usize,
    block_length: usize,
    active: usize,
    inputs_done: bool,
}

impl<T, U> Interleave<T, U> {
    fn advance(&mut self) {
        self.pos = (self.pos + 1) % self.slots.len();
        self.in_block = 0;
    }
}

impl<T, U> Iterator for Interleave<T, U> {
    type Item = Result<U>;

    fn next(&mut self) -> Option<Result<U>> {
        loop {
            if self.active == 0 && self.inputs_done {
                return None;
            }
            if self.slots[self.pos].is_none() {
                if !self.inputs_done {
                    match self.inputs.next() {
                        None => self.inputs_done = true,
                        Some(Err(e)) => return Some(Err(e)),
                        Some(Ok(x)) => match (self.open)(x) {
                            Ok(it) => {
                                self.slots[self.pos] = Some(it);
                                self.active += 1;
                            }
                            Err(e) => return Some(Err(e)),
                        },
                    }
                }
                if self.slots[self.pos].is_none() {
                    self.advance();
                    continue;
                }
            }
            let slot = self.slots[self.pos].as_mut()?;
            match slot.next() {
                Some(item) => {
                    self.in_block += 1;
                    if self.in_block >= self.block_length {
                        self.advance();
                    }
                    return Some(item);
                }
                None => {
                    self.slots[self.pos] = None;
                    self.active -= 1;
                    // As tf.data: the cycle moves on; the slot is refilled when its turn comes.
                    self.advance();
                }
            }
        }
    }
}
