//! `evaluate`: the loss and metrics in inference mode, over tensors or a `Dataset`.

use super::{batches, Logs, Trainer};

use crate::data::{Dataset, ErrorPolicy, Rows};
use crate::error::{NnError, Result};
use crate::metrics::{Mean, Metric};
use crate::model::Model;

impl<M: Model> Trainer<M>
where
    M::Input: Rows,
    M::Output: Rows,
{
    /// Loss and metrics over `(x, y)` in inference mode, in batches of `batch_size`. Under a
    /// strategy every worker must call it: each evaluates its share and the logs are averaged.
    ///
    /// # Errors
    /// When `x` and `y` have different numbers of samples or the loss rejects the targets.
    pub fn evaluate<Y: Rows>(&mut self, x: &M::Input, y: &Y, batch_size: usize) -> Result<Logs> {
        let n = x.num_rows();
        if y.num_rows() != n {
            return Err(NnError::invalid(
                "evaluate",
                format!("x has {n} samples but y has {}", y.num_rows()),
            ));
        }
        self.reset_metrics();
        let mut loss_mean = Mean::new("loss");
        let bs = batch_size.max(1);
        // Under a strategy each worker evaluates its contiguous share of the samples.
        let (rank, world) = self.worker();
        let (lo, hi) = (n * rank / world, n * (rank + 1) / world);
        for b in 0..batches(hi - lo, bs) {
            let idx: Vec<usize> = (lo + b * bs..(lo + (b + 1) * bs).min(hi)).collect();
            let (xb, yb) = (x.gather_rows(&idx)?, y.gather_rows(&idx)?);
            self.eval_batch(&xb, &yb, &mut loss_mean)?;
        }
        let mut logs = self.metric_logs("");
        logs.insert("loss".into(), loss_mean.result());
        self.reduce_logs(&mut logs, (hi - lo) as f64)?;
        self.reset_metrics();
        Ok(logs)
    }

    /// Loss and metrics over one pass of a [`Dataset`] of `(input, target)` batches, in
    /// inference mode: Keras' `model.evaluate(dataset)`. Under
    /// [`ErrorPolicy::Skip`] the logs also hold `skipped`,
    /// the number of elements the pipeline dropped.
    ///
    /// # Errors
    /// [`NnError::Data`] for an error of the pipeline; a dataset with no batch; targets the
    /// loss rejects.
    pub fn evaluate_dataset<Y>(&mut self, data: &Dataset<(M::Input, Y)>) -> Result<Logs>
    where
        M::Input: Send + 'static,
        Y: Rows + Send + 'static,
    {
        self.reset_metrics();
        let mut loss_mean = Mean::new("loss");
        let mut it = data.iter()?;
        let (mut seen, mut rows) = (0usize, 0usize);
        for batch in it.by_ref() {
            let (xb, yb) = batch?;
            rows += xb.num_rows();
            self.eval_batch(&xb, &yb, &mut loss_mean)?;
            seen += 1;
        }
        if seen == 0 {
            return Err(NnError::invalid("evaluate", "the dataset yielded no batch"));
        }
        let mut logs = self.metric_logs("");
        logs.insert("loss".into(), loss_mean.result());
        self.reduce_logs(&mut logs, rows as f64)?;
        if data.error_policy() == ErrorPolicy::Skip {
            logs.insert("skipped".into(), it.skipped() as f32);
        }
        self.reset_metrics();
        Ok(logs)
    }

    fn eval_batch<Y: Rows>(&mut self, xb: &M::Input, yb: &Y, loss_mean: &mut Mean) -> Result<()> {
        let rows = xb.num_rows();
        if yb.num_rows() != rows {
            return Err(NnError::invalid(
                "evaluate",
                format!("a batch has {rows} inputs but {} targets", yb.num_rows()),
            ));
        }
        let out = self.model.try_forward(xb)?;
        let pred = out.values();
        let target = yb.values();
        let l = self.loss.compute(&pred, &target, rows, None)?;
        loss_mean.update_value(l.value + self.model.regularization_loss(), rows as f32);
        for m in &mut self.metrics {
            m.update(&pred, &target, rows, None)?;
        }
        Ok(())
    }
}
