//! The stages that use other threads: `map_parallel` (rayon, order preserved), `prefetch`
//! (a background producer with a bounded queue) and `interleave_parallel`.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use rayon::prelude::*;

use super::dataset::{Dataset, ItemIter};
use super::error::{DataError, Result};

/// Pass as `num_parallel_calls` to use one thread per available core.
pub const AUTOTUNE: usize = 0;

fn resolve_threads(n: usize) -> usize {
    if n == AUTOTUNE {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        n
    }
}

impl<T: Send + 'static> Dataset<T> {
    /// [`Dataset::map`] run on a rayon pool of `num_parallel_calls` threads ([`AUTOTUNE`]: one
    /// per core). Elements are taken in chunks and come out in input order.
    pub fn map_parallel<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> U + Send + Sync + 'static,
        num_parallel_calls: usize,
    ) -> Dataset<U> {
        self.try_map_parallel(move |x| Ok(f(x)), num_parallel_calls)
    }

    /// [`Dataset::try_map`] run on a rayon pool, in input order.
    pub fn try_map_parallel<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> Result<U> + Send + Sync + 'static,
        num_parallel_calls: usize,
    ) -> Dataset<U> {
        let up = Arc::clone(&self.make);
        let f: MapFn<T, U> = Arc::new(f);
        let threads = resolve_threads(num_parallel_calls).max(1);
        let pool: Arc<OnceLock<std::result::Result<Arc<rayon::ThreadPool>, String>>> =
            Arc::new(OnceLock::new());
        self.derive(move || {
            let pool = pool
                .get_or_init(|| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(|i| format!("dimflow-map-{i}"))
                        .build()
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                })
                .clone()
                .map_err(|message| DataError::Worker {
                    stage: "map_parallel",
                    message,
                })?;
            Ok(Box::new(ParMap {
                up: up()?,
                f: Arc::clone(&f),
                pool,
                out: VecDeque::new(),
                chunk: threads * 16,
                done: false,
            }) as ItemIter<U>)
        })
    }

    /// Runs the pipeline up to here on a background thread that keeps up to `buffer_size`
    /// elements ready in a bounded queue (`Dataset.prefetch`), so that producing the next
    /// elements overlaps with consuming the current one.
    pub fn prefetch(&self, buffer_size: usize) -> Dataset<T> {
        let up = Arc::clone(&self.make);
        self.derive(move || {
            let it = up()?;
            let (tx, rx) = sync_channel(buffer_size.max(1));
            let handle = std::thread::Builder::new()
                .name("dimflow-prefetch".into())
                .spawn(move || {
                    for item in it {
                        if tx.send(item).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| DataError::Worker {
                    stage: "prefetch",
                    message: e.to_string(),
                })?;
            Ok(Box::new(Prefetch {
                rx,
                handle: Some(handle),
            }) as ItemIter<T>)
        })
    }

    /// [`Dataset::interleave`] where every open inner dataset is read by its own background
    /// thread (a prefetch of `buffer_size` elements), so `cycle_length` files are read and
    /// decoded in parallel. The output order is the same as the sequential version's.
    pub fn interleave_parallel<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> Dataset<U> + Send + Sync + 'static,
        cycle_length: usize,
        block_length: usize,
        buffer_size: usize,
    ) -> Dataset<U> {
        self.interleave_with(f, cycle_length, block_length, Some(buffer_size.max(1)))
    }
}

type MapFn<T, U> = Arc<dyn Fn(T) -> Result<U> + Send + Sync>;

struct ParMap<T, U> {
    up: ItemIter<T>,
    f: MapFn<T, U>,
    pool: Arc<rayon::ThreadPool>,
    out: VecDeque<Result<U>>,
    chunk: usize,
    done: bool,
}

impl<T: Send, U: Send> Iterator for ParMap<T, U> {
    type Item = Result<U>;

    fn next(&mut self) -> Option<Result<U>> {
        if self.out.is_empty() && !self.done {
            let inputs: Vec<Result<T>> = self.up.by_ref().take(self.chunk).collect();
            if inputs.len() < self.chunk {
                self.done = true;
            }
            let f = &self.f;
            let mapped: Vec<Result<U>> = self
                .pool
                .install(|| inputs.into_par_iter().map(|r| r.and_then(|x| f(x))).collect());
            self.out.extend(mapped);
        }
        self.out.pop_front()
    }
}

struct Prefetch<T> {
    rx: Receiver<Result<T>>,
    handle: Option<JoinHandle<()>>,
}

impl<T> Iterator for Prefetch<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rx.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                // The producer is gone: either finished, or it panicked in a user function.
                let handle = self.handle.take()?;
                match handle.join() {
                    Ok(()) => None,
                    Err(payload) => {
                        let message = payload
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_string())
                            .or_else(|| payload.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panicked".to_string());
                        Some(Err(DataError::Worker {
                            stage: "prefetch",
                            message,
                        }))
                    }
                }
            }
        }
    }
}
