//! The batches `fit` hands to the model: every row once per epoch, whole rows, the last batch
//! shorter, while the trainer refills the previous step's batch in place.

use std::collections::BTreeMap;

use tensor_core::prelude::*;
use tensor_nn::losses::MeanSquaredError;
use tensor_nn::optim::Optimizer;
use tensor_nn::train::{Compile, FitConfig};
use tensor_nn::{Model, ParamMut, ParamRef};

tensor_macros::dims! { crate = ::tensor_core; Batch; Feat = 3; One = 1; }

/// A model with no parameters that records every training batch it sees.
#[derive(Default)]
struct Recorder {
    batches: Vec<Vec<f32>>,
}

impl Model for Recorder {
    type Input = Tensor<(Batch, Feat)>;
    type Output = Tensor<(Batch, One)>;

    fn forward(&self, input: &Self::Input) -> Self::Output {
        Tensor::zeros(&[input.dims()[0]])
    }

    fn forward_train(&mut self, input: &Self::Input) -> Self::Output {
        self.batches.push(input.to_vec());
        self.forward(input)
    }

    fn backward(&mut self, _grad_output: &Self::Output) {}

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        Vec::new()
    }

    fn params(&self) -> Vec<ParamRef<'_>> {
        Vec::new()
    }
}

#[test]
fn every_row_once_per_epoch_in_whole_rows() {
    // Row r holds (r, 100 + r, 200 + r): a torn or stale row cannot pass for a real one.
    let n = 10;
    let x = Tensor::<(Batch, Feat)>::from_fn(&[n], |i| (i[0] + 100 * i[1]) as f32);
    let y = Tensor::<(Batch, One)>::zeros(&[n]);
    let mut t = Recorder::default().compile(Optimizer::sgd(0.1), MeanSquaredError::default(), vec![]);
    let config = FitConfig {
        epochs: 3,
        batch_size: 4,
        verbose: 0,
        ..FitConfig::default()
    };
    t.fit(&x, &y, &config, None, &mut []).unwrap();
    let batches = &t.model.batches;
    assert_eq!(batches.len(), 9, "3 epochs of 4 + 4 + 2 rows");
    let mut orders = Vec::new();
    for epoch in batches.chunks(3) {
        assert_eq!(
            epoch.iter().map(|b| b.len() / 3).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        let mut seen = BTreeMap::new();
        let mut order = Vec::new();
        for row in epoch.iter().flat_map(|b| b.chunks_exact(3)) {
            assert_eq!(row[1], row[0] + 100.0, "torn row {row:?}");
            assert_eq!(row[2], row[0] + 200.0, "torn row {row:?}");
            *seen.entry(row[0] as usize).or_insert(0) += 1;
            order.push(row[0] as usize);
        }
        assert_eq!(seen.len(), n, "every row in the epoch: {order:?}");
        assert!(seen.values().all(|&c| c == 1), "a row twice: {order:?}");
        orders.push(order);
    }
    assert_ne!(orders[0], orders[1], "shuffled per epoch");
}
