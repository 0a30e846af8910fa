//! `fit` and `evaluate` on a `model!` with several inputs: the inputs travel as a tuple, and
//! shuffling keeps each sample's parts together.
use dimflow::prelude::*;
use dimflow::tensor_nn::losses::BinaryCrossentropy;
use dimflow::tensor_nn::metrics::BinaryAccuracy;
use dimflow::tensor_nn::optim::Optimizer;
use dimflow::tensor_nn::train::{Compile, FitConfig};
use dimflow::tensor_nn::Model;

dims! { Batch; Left = 2; Right = 3; One = 1; }

model! {
    /// Two inputs, one linear layer each, summed.
    pub struct TwoTowers(left: [Batch, Left], right: [Batch, Right]) -> (prob: [Batch, One]) {
        let l = left >> Dense(One);
        let r = right >> Dense(One);
        prob = add(l, r) >> Sigmoid;
    }
}

/// The model's two inputs.
type Inputs = (Tensor<(Batch, Left)>, Tensor<(Batch, Right)>);

/// Sample `i`: `left = (u, 0.5u)`, `right = (v, −v, 1)`; label 1 when `u > v`, so only a model
/// that sees each sample's two parts together can learn it.
fn data(n: usize) -> (Inputs, Tensor<(Batch, One)>) {
    let u = |i: usize| ((i * 37 % 101) as f32 / 50.0) - 1.0;
    let v = |i: usize| ((i * 53 % 97) as f32 / 48.0) - 1.0;
    let left = Tensor::from_fn(&[n], |ix| if ix[1] == 0 { u(ix[0]) } else { 0.5 * u(ix[0]) });
    let right = Tensor::from_fn(&[n], |ix| [v(ix[0]), -v(ix[0]), 1.0][ix[1]]);
    let y = Tensor::from_fn(&[n], |ix| f32::from(u(ix[0]) > v(ix[0])));
    ((left, right), y)
}

#[test]
fn fit_on_tuple_inputs_learns_a_relation_between_the_parts() {
    let (x, y) = data(400);
    let metrics: Vec<Box<dyn dimflow::tensor_nn::metrics::Metric>> =
        vec![Box::new(BinaryAccuracy::default())];
    let mut trainer =
        TwoTowers::new(5).compile(Optimizer::adam(0.05), BinaryCrossentropy::default(), metrics);
    let before = trainer.evaluate(&x, &y, 64).unwrap()["loss"];
    let config = FitConfig {
        epochs: 40,
        batch_size: 32,
        shuffle: true,
        verbose: 0,
        ..FitConfig::default()
    };
    trainer.fit(&x, &y, &config, None, &mut []).unwrap();
    let (tx, ty) = data(131);
    let logs = trainer.evaluate(&tx, &ty, 64).unwrap();
    assert!(logs["loss"] < 0.5 * before, "loss {before} -> {}", logs["loss"]);
    // Were the parts of a sample shuffled apart, the label would look random to the model.
    assert!(logs["binary_accuracy"] > 0.95, "{logs:?}");
}

#[test]
fn one_full_batch_epoch_equals_one_train_step() {
    let (x, y) = data(50);
    let make = || TwoTowers::new(9).compile(Optimizer::sgd(0.1), BinaryCrossentropy::default(), vec![]);
    let (mut a, mut b) = (make(), make());
    let config = FitConfig {
        epochs: 1,
        batch_size: 50,
        shuffle: false,
        verbose: 0,
        ..FitConfig::default()
    };
    a.fit(&x, &y, &config, None, &mut []).unwrap();
    b.train_step(&x, &y).unwrap();
    let values = |t: &dimflow::tensor_nn::train::Trainer<TwoTowers>| -> Vec<Vec<f32>> {
        t.model.params().iter().map(|p| p.value.to_vec()).collect()
    };
    assert_eq!(values(&a), values(&b));
    assert_ne!(values(&a), values(&make()));
}
