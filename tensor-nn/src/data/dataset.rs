//! The [`Dataset`] recipe, its per-epoch iterator and the in-memory sources.

use std::sync::{Arc, Mutex};

use tensor_core::{Element, Shape, Tensor};

use super::error::{DataError, Result};

/// A boxed iterator over the elements of one epoch; errors travel as items.
pub(crate) type ItemIter<T> = Box<dyn Iterator<Item = Result<T>> + Send>;

/// Makes a fresh iterator for one epoch.
pub(crate) type Maker<T> = dyn Fn() -> Result<ItemIter<T>> + Send + Sync;

thread_local! {
    /// The epoch [`Dataset::iter_epoch`] is starting, read by the stages built meanwhile.
    static ITER_EPOCH: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The epoch that `counter` (a stage's count of the epochs it started) says starts now,
/// advancing it: the one [`Dataset::iter_epoch`] names, else the counter's next value.
pub(crate) fn next_epoch(counter: &std::sync::atomic::AtomicU64) -> u64 {
    use std::sync::atomic::Ordering;
    match ITER_EPOCH.with(std::cell::Cell::get) {
        Some(e) => {
            counter.store(e.wrapping_add(1), Ordering::Relaxed);
            e
        }
        None => counter.fetch_add(1, Ordering::Relaxed),
    }
}

/// What a pipeline does with an error (a malformed row, a missing file, a failing `try_map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// The epoch stops at the first error, which the iterator yields (the default).
    #[default]
    Fail,
    /// Elements that fail are dropped and counted; the count of each epoch is in
    /// [`DatasetIter::skipped`] and [`Dataset::skipped_per_epoch`].
    Skip,
}

/// A lazy, composable input pipeline in the style of `tf.data`.
///
/// A `Dataset` is a cheap-to-clone recipe: nothing is read until [`Dataset::iter`] starts an
/// epoch, and every call to `iter` starts a new one (re-opening files, reshuffling). Stages such
/// as [`map`](Dataset::map), [`shuffle`](Dataset::shuffle), [`batch`](Dataset::batch) and
/// [`prefetch`](Dataset::prefetch) each return a new recipe.
///
/// Errors are elements too: a malformed row becomes an `Err` at its place in the stream, passes
/// through the later stages untouched (a batch keeps filling after it) and meets the pipeline's
/// [`ErrorPolicy`] at the end.
///
/// ```
/// use tensor_nn::data::Dataset;
/// let ds = Dataset::range(0, 10).filter(|x| x % 2 == 0).map(|x| x * 10).batch(2, false);
/// let batches: Vec<Vec<i64>> = ds.iter().unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!(batches, vec![vec![0, 20], vec![40, 60], vec![80]]);
/// ```
pub struct Dataset<T> {
    pub(crate) make: Arc<Maker<T>>,
    pub(crate) policy: ErrorPolicy,
    pub(crate) log: Arc<Mutex<Vec<usize>>>,
}

impl<T> Clone for Dataset<T> {
    fn clone(&self) -> Self {
        Self {
            make: Arc::clone(&self.make),
            policy: self.policy,
            log: Arc::clone(&self.log),
        }
    }
}

impl<T> std::fmt::Debug for Dataset<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("item", &std::any::type_name::<T>())
            .field("policy", &self.policy)
            .finish()
    }
}

impl<T: Send + 'static> Dataset<T> {
    /// A dataset whose epochs come from `make`; the building block of every source and stage.
    pub fn from_maker(
        make: impl Fn() -> Result<Box<dyn Iterator<Item = Result<T>> + Send>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            make: Arc::new(make),
            policy: ErrorPolicy::Fail,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A new stage downstream of `self`: keeps the error policy, with its own per-epoch log
    /// (so two pipelines branching from one source count their epochs separately).
    pub(crate) fn derive<U: Send + 'static>(
        &self,
        make: impl Fn() -> Result<ItemIter<U>> + Send + Sync + 'static,
    ) -> Dataset<U> {
        Dataset {
            make: Arc::new(make),
            policy: self.policy,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A dataset of the items that `f` returns, called afresh for every epoch (a generator).
    pub fn from_generator<I>(f: impl Fn() -> I + Send + Sync + 'static) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::from_maker(move || Ok(Box::new(f().into_iter().map(Ok)) as ItemIter<T>))
    }

    /// Starts an epoch. Under [`ErrorPolicy::Fail`] the first error is yielded and ends the epoch;
    /// under [`ErrorPolicy::Skip`] failing elements are dropped and counted.
    ///
    /// # Errors
    /// When a source cannot start (a missing file, a bad argument of a stage).
    pub fn iter(&self) -> Result<DatasetIter<T>> {
        Ok(DatasetIter {
            inner: Some((self.make)()?),
            policy: self.policy,
            skipped: 0,
            first_skipped: None,
            log: Arc::clone(&self.log),
            logged: false,
        })
    }

    /// Starts epoch `epoch` (0-based) explicitly: every [`shuffle`](Dataset::shuffle) stage
    /// draws the order of that epoch, as the `epoch + 1`-th [`Dataset::iter`] of a fresh
    /// recipe would, and later `iter` calls count on from `epoch + 1`. This is how a resumed
    /// `fit_dataset` reshuffles at epoch `e` exactly as the uninterrupted run did.
    ///
    /// The number reaches the stages built when the epoch starts; a `shuffle` below a
    /// [`repeat`](Dataset::repeat) is rebuilt for each pass of the repeat, and those later
    /// builds count on from `epoch + 1` as with `iter`.
    ///
    /// # Errors
    /// As [`Dataset::iter`].
    pub fn iter_epoch(&self, epoch: u64) -> Result<DatasetIter<T>> {
        let previous = ITER_EPOCH.with(|e| e.replace(Some(epoch)));
        let result = self.iter();
        ITER_EPOCH.with(|e| e.set(previous));
        result
    }

    /// The same pipeline with another error policy.
    pub fn with_error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Shorthand for `with_error_policy(ErrorPolicy::Skip)`: drop and count failing elements.
    pub fn skip_errors(self) -> Self {
        self.with_error_policy(ErrorPolicy::Skip)
    }

    /// The pipeline's error policy.
    pub fn error_policy(&self) -> ErrorPolicy {
        self.policy
    }

    /// The number of elements skipped in each finished epoch, in order (always zeros under
    /// [`ErrorPolicy::Fail`]). An epoch is recorded when its iterator ends or is dropped.
    pub fn skipped_per_epoch(&self) -> Vec<usize> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Collects one epoch into a vector.
    ///
    /// # Errors
    /// The first error of the epoch under [`ErrorPolicy::Fail`].
    pub fn collect_vec(&self) -> Result<Vec<T>> {
        self.iter()?.collect()
    }
}

impl<T: Clone + Send + Sync + 'static> Dataset<T> {
    /// A dataset over the given elements (`from_tensor_slices` for a vector of rows).
    pub fn from_vec(items: Vec<T>) -> Self {
        let items = Arc::new(items);
        Self::from_maker(move || {
            let items = Arc::clone(&items);
            Ok(Box::new((0..items.len()).map(move |i| Ok(items[i].clone()))) as ItemIter<T>)
        })
    }

    /// A dataset with the single element `value` (`tf.data.Dataset.from_tensors`).
    pub fn from_tensors(value: T) -> Self {
        Self::from_vec(vec![value])
    }
}

impl Dataset<i64> {
    /// The integers `start..end` (`tf.data.Dataset.range`).
    pub fn range(start: i64, end: i64) -> Self {
        Self::from_generator(move || start..end)
    }
}

/// Values that can be sliced along their first dimension into dataset elements: tensors and
/// tuples of tensors here; a named struct of tensors implements it from its fields' slices
/// (see `tensor-nn/tests/data_named_slices.rs`), its `Item` a struct of rows.
pub trait TensorSlices {
    /// One slice: the row's values, row-major.
    type Item: Clone + Send + Sync + 'static;
    /// Splits along the first dimension.
    ///
    /// # Errors
    /// [`DataError::Length`] when the parts of a tuple disagree on the number of rows.
    fn into_slices(self) -> Result<Vec<Self::Item>>;
}

fn tensor_rows<S: Shape, E: Element>(t: &Tensor<S, E>) -> Vec<Vec<E>> {
    let data = t.to_vec();
    let rows = t.dims().first().copied().unwrap_or(1).max(1);
    let width = data.len() / rows;
    if width == 0 {
        return vec![Vec::new(); rows];
    }
    data.chunks(width).map(<[E]>::to_vec).collect()
}

impl<S: Shape, E: Element> TensorSlices for Tensor<S, E> {
    type Item = Vec<E>;
    fn into_slices(self) -> Result<Vec<Vec<E>>> {
        Ok(tensor_rows(&self))
    }
}

impl<S1: Shape, E1: Element, S2: Shape, E2: Element> TensorSlices for (Tensor<S1, E1>, Tensor<S2, E2>) {
    type Item = (Vec<E1>, Vec<E2>);
    fn into_slices(self) -> Result<Vec<Self::Item>> {
        let (a, b) = (tensor_rows(&self.0), tensor_rows(&self.1));
        if a.len() != b.len() {
            return Err(DataError::Length {
                op: "from_tensor_slices",
                expected: a.len(),
                got: b.len(),
            });
        }
        Ok(a.into_iter().zip(b).collect())
    }
}

impl<S1: Shape, E1: Element, S2: Shape, E2: Element, S3: Shape, E3: Element> TensorSlices
    for (Tensor<S1, E1>, Tensor<S2, E2>, Tensor<S3, E3>)
{
    type Item = (Vec<E1>, Vec<E2>, Vec<E3>);
    fn into_slices(self) -> Result<Vec<Self::Item>> {
        let (a, b, c) = (tensor_rows(&self.0), tensor_rows(&self.1), tensor_rows(&self.2));
        if a.len() != b.len() || a.len() != c.len() {
            return Err(DataError::Length {
                op: "from_tensor_slices",
                expected: a.len(),
                got: if a.len() != b.len() { b.len() } else { c.len() },
            });
        }
        Ok(a.into_iter().zip(b).zip(c).map(|((a, b), c)| (a, b, c)).collect())
    }
}

/// Slices a tensor, or a tuple of tensors with the same number of rows, along the first
/// dimension: each element is one row (`tf.data.Dataset.from_tensor_slices`). Turn a batch of
/// rows back into a typed tensor with [`stack_rows`].
///
/// # Errors
/// [`DataError::Length`] when the tensors of a tuple have different numbers of rows.
///
/// ```
/// use tensor_core::Tensor;
/// use tensor_nn::data::from_tensor_slices;
/// tensor_macros::dims! { crate = ::tensor_core; Batch; F = 2; }
/// let x = Tensor::<(Batch, F)>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3]).unwrap();
/// let y = Tensor::<(Batch,)>::from_vec(vec![0., 1., 0.], &[3]).unwrap();
/// let rows = from_tensor_slices((x, y)).unwrap().collect_vec().unwrap();
/// assert_eq!(rows[1], (vec![3., 4.], vec![1.]));
/// ```
pub fn from_tensor_slices<T: TensorSlices>(value: T) -> Result<Dataset<T::Item>> {
    Ok(Dataset::from_vec(value.into_slices()?))
}

/// Stacks a batch of rows into a typed tensor whose first dimension is the batch: the shape's
/// dims are `[rows.len(), row_len]`, or `[rows.len()]` for a rank-1 shape with rows of one value.
///
/// # Errors
/// [`DataError::Length`] for ragged rows, [`DataError::Tensor`] when the lengths do not fit `S`.
///
/// ```
/// use tensor_core::Tensor;
/// use tensor_nn::data::stack_rows;
/// tensor_macros::dims! { crate = ::tensor_core; Batch; F = 2; }
/// let t: Tensor<(Batch, F)> = stack_rows(&[vec![1., 2.], vec![3., 4.]]).unwrap();
/// assert_eq!(t.dims(), &[2, 2]);
/// ```
pub fn stack_rows<S: Shape, E: Element>(rows: &[Vec<E>]) -> Result<Tensor<S, E>> {
    let width = rows.first().map_or(0, Vec::len);
    let mut data = Vec::with_capacity(rows.len() * width);
    for row in rows {
        if row.len() != width {
            return Err(DataError::Length {
                op: "stack_rows",
                expected: width,
                got: row.len(),
            });
        }
        data.extend_from_slice(row);
    }
    let dims: Vec<usize> = if S::RANK == 1 && width == 1 {
        vec![rows.len()]
    } else {
        vec![rows.len(), width]
    };
    Ok(Tensor::<S, E>::from_vec_dims(data, &dims)?)
}

/// The iterator over one epoch of a [`Dataset`], applying its [`ErrorPolicy`].
pub struct DatasetIter<T> {
    inner: Option<ItemIter<T>>,
    policy: ErrorPolicy,
    skipped: usize,
    first_skipped: Option<DataError>,
    log: Arc<Mutex<Vec<usize>>>,
    logged: bool,
}

impl<T> std::fmt::Debug for DatasetIter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetIter")
            .field("policy", &self.policy)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl<T> DatasetIter<T> {
    /// The number of elements skipped so far in this epoch under [`ErrorPolicy::Skip`].
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The first error skipped in this epoch, for a report.
    pub fn first_skipped(&self) -> Option<&DataError> {
        self.first_skipped.as_ref()
    }

    fn finish(&mut self) {
        self.inner = None;
        if !self.logged {
            self.logged = true;
            if let Ok(mut log) = self.log.lock() {
                log.push(self.skipped);
            }
        }
    }
}

impl<T> Iterator for DatasetIter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            let item = match self.inner.as_mut()?.next() {
                Some(item) => item,
                None => {
                    self.finish();
                    return None;
                }
            };
            match (item, self.policy) {
                (Ok(v), _) => return Some(Ok(v)),
                (Err(e), ErrorPolicy::Fail) => {
                    self.finish();
                    return Some(Err(e));
                }
                (Err(e), ErrorPolicy::Skip) => {
                    self.skipped += 1;
                    if self.first_skipped.is_none() {
                        self.first_skipped = Some(e);
                    }
                }
            }
        }
    }
}

impl<T> Drop for DatasetIter<T> {
    fn drop(&mut self) {
        self.finish();
    }
}
