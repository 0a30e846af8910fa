//! `predict`: the model's outputs in batches, serially, over the thread pool or over a
//! `Dataset`.

use super::{batches, Trainer};

use crate::data::{Dataset, Rows};
use crate::error::{NnError, Result};
use crate::model::Model;

impl<M: Model> Trainer<M>
where
    M::Input: Rows,
    M::Output: Rows,
{
    /// The model's outputs for every batch of a [`Dataset`] of inputs, concatenated in order:
    /// Keras' `model.predict(dataset)`. (For a dataset of `(input, target)` pairs, `map` it to
    /// its inputs first.)
    ///
    /// # Errors
    /// [`NnError::Data`] for an error of the pipeline; a dataset with no batch.
    pub fn predict_dataset(&self, data: &Dataset<M::Input>) -> Result<M::Output>
    where
        M::Input: Send + 'static,
    {
        predict_dataset(&self.model, data)
    }

    /// The model's outputs for every sample of `x`, computed in batches of `batch_size`.
    ///
    /// # Errors
    /// When `x` has no samples.
    pub fn predict(&self, x: &M::Input, batch_size: usize) -> Result<M::Output> {
        predict(&self.model, x, batch_size)
    }
}

/// The outputs of `model` for every sample of `x`, in batches of `batch_size`.
///
/// # Errors
/// When `x` has no samples.
pub fn predict<M: Model>(model: &M, x: &M::Input, batch_size: usize) -> Result<M::Output>
where
    M::Input: Rows,
    M::Output: Rows,
{
    let n = x.num_rows();
    let bs = batch_size.max(1);
    if n <= bs {
        return model.try_forward(x);
    }
    let parts = (0..batches(n, bs))
        .map(|b| {
            let idx: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
            model.try_forward(&x.gather_rows(&idx)?)
        })
        .collect::<Result<Vec<_>>>()?;
    M::Output::concat_rows(&parts)
}

/// As [`predict`], with the batches spread over the kernels' thread pool (its size is
/// `tensor_core::kernels::num_threads()`); the result is identical to [`predict`]'s.
///
/// # Errors
/// When `x` has no samples.
pub fn predict_parallel<M>(model: &M, x: &M::Input, batch_size: usize) -> Result<M::Output>
where
    M: Model + Sync,
    M::Input: Rows + Sync + Send,
    M::Output: Rows + Send,
{
    use rayon::prelude::*;
    let n = x.num_rows();
    let bs = batch_size.max(1);
    if n <= bs {
        return model.try_forward(x);
    }
    let parts = tensor_core::kernels::threads::install(|| {
        (0..batches(n, bs))
            .into_par_iter()
            .map(|b| {
                let idx: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
                model.try_forward(&x.gather_rows(&idx)?)
            })
            .collect::<Result<Vec<_>>>()
    })?;
    M::Output::concat_rows(&parts)
}

/// The outputs of `model` for every batch of `data`, concatenated in order.
///
/// # Errors
/// [`NnError::Data`] for an error of the pipeline; a dataset with no batch.
pub fn predict_dataset<M: Model>(model: &M, data: &Dataset<M::Input>) -> Result<M::Output>
where
    M::Input: Rows + Send + 'static,
    M::Output: Rows,
{
    let parts = data
        .iter()?
        .map(|xb| model.try_forward(&xb?))
        .collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Err(NnError::invalid("predict", "the dataset yielded no batch"));
    }
    M::Output::concat_rows(&parts)
}
