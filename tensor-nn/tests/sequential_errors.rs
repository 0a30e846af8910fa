//! A `Sequential` given inputs that do not fit it: `try_forward` / `try_forward_train` answer
//! with an error naming the layer, the input's dim and both sizes, and `forward` panics with
//! the same message instead of deep inside a layer.

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::sequential::{Conv2dOptions, RuntimeLayer, Sequential};
use tensor_nn::{Model, NnError};

tensor_macros::dims! {
    crate = ::tensor_core;
    Batch; Features; Classes = 3; H; W; C; A; B; Out;
}

fn dense_model() -> Sequential<(Batch, Features), (Batch, Classes)> {
    Sequential::builder(4, 7)
        .dense(8, Activation::Relu)
        .dense(3, Activation::Softmax)
        .build()
        .unwrap()
}

fn invalid<T: std::fmt::Debug>(r: tensor_nn::Result<T>) -> String {
    match r {
        Err(e @ NnError::InvalidArgument { .. }) => e.to_string(),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

const DENSE_WIDTH: &str = "Sequential: invalid argument: layer `dense1` takes 4 features per sample, \
     but dimension `Features` of the input [Batch=2, Features=5] has length 5";

#[test]
fn try_forward_names_the_layer_the_dim_and_both_widths() {
    let mut model = dense_model();
    let x = Tensor::<(Batch, Features)>::full(0.5, &[2, 5]);
    assert_eq!(invalid(model.try_forward(&x)), DENSE_WIDTH);
    assert_eq!(invalid(model.try_forward_train(&x)), DENSE_WIDTH);
    // a fitting input gives what `forward` gives
    let x = Tensor::<(Batch, Features)>::full(0.5, &[2, 4]);
    let y = model.try_forward(&x).unwrap();
    assert_eq!(y.dims(), &[2, 3]);
    assert_eq!(y.to_vec(), model.forward(&x).to_vec());
    assert_eq!(model.try_forward_train(&x).unwrap().dims(), &[2, 3]);
}

#[test]
#[should_panic(expected = "layer `dense1` takes 4 features per sample, but dimension `Features`")]
fn forward_panics_with_the_same_message() {
    let x = Tensor::<(Batch, Features)>::full(0.5, &[2, 5]);
    dense_model().forward(&x);
}

#[test]
#[should_panic(expected = "layer `dense1` takes 4 features per sample, but dimension `Features`")]
fn forward_train_panics_with_the_same_message() {
    let x = Tensor::<(Batch, Features)>::full(0.5, &[2, 3]);
    dense_model().forward_train(&x);
}

#[test]
fn an_image_model_names_the_image_dim_that_differs() {
    let mut model: Sequential<(Batch, H, W, C), (Batch, Out)> = Sequential::builder_image(4, 4, 1, 3)
        .conv2d(2, (3, 3), Conv2dOptions::default())
        .flatten()
        .dense(2, Activation::Linear)
        .build()
        .unwrap();
    let x = Tensor::<(Batch, H, W, C)>::full(0.5, &[2, 4, 5, 1]);
    assert_eq!(
        invalid(model.try_forward(&x)),
        "Sequential: invalid argument: layer `conv2d1` takes 4 pixels per row, but dimension `W` \
         of the input [Batch=2, H=4, W=5, C=1] has length 5"
    );
    // the same number of values laid out as 2 × 8 is no 4 × 4 image either
    let x = Tensor::<(Batch, H, W, C)>::full(0.5, &[1, 2, 8, 1]);
    let msg = invalid(model.try_forward_train(&x));
    assert!(
        msg.contains("takes 4 rows of pixels per image, but dimension `H`"),
        "{msg}"
    );
    let x = Tensor::<(Batch, H, W, C)>::full(0.5, &[1, 4, 4, 1]);
    assert_eq!(model.try_forward(&x).unwrap().dims(), &[1, 2]);
}

#[test]
fn several_inner_dims_are_named_together() {
    let model: Sequential<(Batch, A, B), (Batch, Out)> = Sequential::builder(6, 1)
        .dense(2, Activation::Linear)
        .build()
        .unwrap();
    let x = Tensor::<(Batch, A, B)>::full(1.0, &[2, 2, 4]);
    assert_eq!(
        invalid(model.try_forward(&x)),
        "Sequential: invalid argument: layer `dense1` takes 6 values per sample, but the input \
         [Batch=2, A=2, B=4] has 8 (dimensions `A`, `B` together)"
    );
    let x = Tensor::<(Batch, A, B)>::full(1.0, &[2, 3, 2]);
    assert_eq!(model.try_forward(&x).unwrap().dims(), &[2, 2]);
}

#[test]
fn a_model_without_layers_says_so() {
    let model: Sequential<(Batch, Features), (Batch, Out)> = Sequential::builder(2, 0).build().unwrap();
    let x = Tensor::<(Batch, Features)>::full(1.0, &[1, 3]);
    let msg = invalid(model.try_forward(&x));
    assert!(
        msg.contains("the model (no layers) takes 2 features per sample"),
        "{msg}"
    );
}

/// A layer that claims `features` outputs per sample but gives one value fewer.
#[derive(Debug)]
struct Short {
    features: usize,
}

impl RuntimeLayer for Short {
    fn name(&self) -> &str {
        "short"
    }
    fn output_features(&self, _input: usize) -> usize {
        self.features
    }
    fn forward(&self, _x: &[f32], rows: usize) -> Vec<f32> {
        vec![0.0; rows * self.features - 1]
    }
    fn forward_train(&mut self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        RuntimeLayer::forward(self, &x, rows)
    }
    fn backward(&mut self, _dy: &[f32], _rows: usize, _need: bool) -> Option<Vec<f32>> {
        None
    }
}

#[test]
fn a_layer_giving_the_wrong_number_of_values_is_named() {
    let mut model: Sequential<(Batch, Features), (Batch, Out)> = Sequential::builder(4, 2)
        .layer(Box::new(Short { features: 3 }))
        .dense(2, Activation::Linear)
        .build()
        .unwrap();
    let x = Tensor::<(Batch, Features)>::full(1.0, &[2, 4]);
    let want = "Sequential: invalid argument: layer `short` gave 5 values for 2 samples, \
                expected 3 per sample";
    assert_eq!(invalid(model.try_forward(&x)), want);
    assert_eq!(invalid(model.try_forward_train(&x)), want);
}

#[test]
fn fit_evaluate_and_predict_return_the_error_instead_of_panicking() {
    use tensor_nn::losses::SparseCategoricalCrossentropy;
    use tensor_nn::optim::Optimizer;
    use tensor_nn::train::{Compile, FitConfig};

    let mut trainer = dense_model().compile(
        Optimizer::sgd(0.1),
        SparseCategoricalCrossentropy::default(),
        vec![],
    );
    let before: Vec<f32> = trainer
        .model
        .params()
        .iter()
        .flat_map(|p| p.value.to_vec())
        .collect();
    let x = Tensor::<(Batch, Features)>::full(0.5, &[6, 5]);
    let y = Tensor::<(Batch,)>::from_vec(vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0], &[6]).unwrap();
    let config = FitConfig {
        epochs: 1,
        batch_size: 4,
        verbose: 0,
        ..FitConfig::default()
    };
    assert_eq!(
        invalid(trainer.fit(&x, &y, &config, None, &mut [])),
        DENSE_WIDTH.replace("=2,", "=4,")
    );
    assert_eq!(
        invalid(trainer.evaluate(&x, &y, 4)),
        DENSE_WIDTH.replace("=2,", "=4,")
    );
    // one batch, and several batches
    assert_eq!(invalid(trainer.predict(&x, 8)), DENSE_WIDTH.replace("=2,", "=6,"));
    assert_eq!(invalid(trainer.predict(&x, 4)), DENSE_WIDTH.replace("=2,", "=4,"));
    let after: Vec<f32> = trainer
        .model
        .params()
        .iter()
        .flat_map(|p| p.value.to_vec())
        .collect();
    assert_eq!(before, after, "a failed step changes no weight");
}
