//! The progress display of `fit`, in the style of Keras' `verbose=1`:
//! `Epoch 1/5`, then `469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - accuracy: 0.9012 - loss: 0.3456`.

use std::time::Instant;

use super::callbacks::{Callback, TrainState};
use super::Logs;
use crate::error::Result;

/// Keras-like progress bar (indicatif on a terminal; one line per epoch otherwise).
#[derive(Debug)]
pub struct ProgressBar {
    verbose: u8,
    bar: Option<indicatif::ProgressBar>,
    started: Option<Instant>,
    steps: usize,
    seen: usize,
}

fn format_logs(logs: &Logs) -> String {
    // Keras prints the training values first, then the validation ones, each sorted.
    let (val, train): (Vec<_>, Vec<_>) = logs
        .iter()
        .filter(|(k, _)| k.as_str() != "learning_rate")
        .partition(|(k, _)| k.starts_with("val_"));
    train
        .iter()
        .chain(val.iter())
        .map(|(k, v)| format!(" - {k}: {v:.4}"))
        .collect()
}

impl ProgressBar {
    /// `verbose` as in Keras: 0 silent, 1 bar, 2 one line per epoch.
    pub fn new(verbose: u8) -> Self {
        Self {
            verbose,
            bar: None,
            started: None,
            steps: 0,
            seen: 0,
        }
    }
}

impl Callback for ProgressBar {
    fn on_epoch_begin(&mut self, epoch: usize, state: &mut TrainState<'_>) -> Result<()> {
        if self.verbose == 0 {
            return Ok(());
        }
        println!("Epoch {}/{}", epoch + 1, state.epochs);
        // 0: unknown (the first pass over a dataset); the bar then counts steps without a total.
        self.steps = state.steps_per_epoch;
        self.seen = 0;
        self.started = Some(Instant::now());
        if self.verbose == 1 {
            let bar = if self.steps == 0 {
                indicatif::ProgressBar::no_length()
            } else {
                indicatif::ProgressBar::new(self.steps as u64)
            };
            let style =
                indicatif::ProgressStyle::with_template("{pos:>5}/{len} {bar:20} {elapsed} (ETA {eta}){msg}")
                    .map(|s| s.progress_chars("━━ "))
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            self.bar = Some(bar);
        }
        Ok(())
    }

    fn on_train_batch_end(&mut self, step: usize, logs: &Logs, _state: &mut TrainState<'_>) -> Result<()> {
        self.seen = step + 1;
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64 + 1);
            if step.is_multiple_of(10) || step + 1 == self.steps {
                bar.set_message(format_logs(logs));
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, _state: &mut TrainState<'_>) -> Result<()> {
        if self.verbose == 0 {
            return Ok(());
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let secs = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let per_step = secs * 1000.0 / self.seen.max(1) as f64;
        println!(
            "{s}/{s} {bar} {secs:.0}s {per_step:.0}ms/step{logs}",
            s = self.seen,
            bar = "━".repeat(20),
            logs = format_logs(logs)
        );
        Ok(())
    }
}
