//! Batch normalisation and embeddings in the run-time `Sequential`: gradients against central
//! finite differences, moving statistics and lookups against hand-derived values.

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::losses::{Loss, MeanSquaredError};
use tensor_nn::sequential::Sequential;
use tensor_nn::Model;

tensor_macros::dims! { crate = ::tensor_core; Batch; In = 3; Ids = 2; Out = 2; One = 1; Looked = 6; }

/// Training-mode MSE of `model` on `(x, y)`: batch norm normalises with the batch's statistics.
fn train_loss<I: Shape>(
    model: &mut Sequential<I, (Batch, Out)>,
    x: &Tensor<I>,
    y: &[f32],
) -> (f64, Vec<f32>) {
    let out = model.forward_train(x);
    let rows = out.dims()[0];
    let l = MeanSquaredError::default()
        .compute(out.as_slice().unwrap(), y, rows, None)
        .unwrap();
    (f64::from(l.value), l.grad)
}

/// Checks every trainable parameter's gradient against central differences of `train_loss`.
fn check_gradients<I: Shape>(
    model: &mut Sequential<I, (Batch, Out)>,
    x: &Tensor<I>,
    y: &[f32],
) -> Vec<String> {
    let (_, grad) = train_loss(model, x, y);
    let dims = [x.dims()[0], 2];
    model.backward(&Tensor::from_vec_dims(grad, &dims).unwrap());
    let analytic: Vec<(String, bool, Vec<f32>)> = model
        .params_mut()
        .iter()
        .map(|p| (p.name.to_string(), p.trainable, p.grad.to_vec()))
        .collect();
    for (pi, (name, trainable, grad)) in analytic.iter().enumerate() {
        if !trainable {
            continue;
        }
        for (i, &g) in grad.iter().enumerate() {
            let h = 1e-2f32;
            let mut at = |d: f32| {
                model.params_mut()[pi].value[i] += d;
                let v = train_loss(model, x, y).0;
                model.params_mut()[pi].value[i] -= d;
                v
            };
            let num = (at(h) - at(-h)) / (2.0 * f64::from(h));
            assert!(
                (f64::from(g) - num).abs() < 2e-3 + 1e-2 * num.abs(),
                "{name}[{i}]: {g} vs numeric {num}"
            );
        }
    }
    analytic.into_iter().map(|a| a.0).collect()
}

#[test]
fn batch_norm_gradients_match_finite_differences() {
    let mut model = Sequential::builder(3, 5)
        .dense(4, Activation::Tanh)
        .batch_norm()
        .dense(2, Activation::Linear)
        .build::<(Batch, In), (Batch, Out)>()
        .unwrap();
    let x = Tensor::<(Batch, In)>::from_fn(&[5], |i| ((i[0] * 3 + i[1]) as f32 * 0.61).sin());
    let y: Vec<f32> = (0..10).map(|i| (i as f32 * 0.4).cos()).collect();
    let names = check_gradients(&mut model, &x, &y);
    assert_eq!(
        names,
        [
            "dense1.kernel",
            "dense1.bias",
            "batch_normalization1.gamma",
            "batch_normalization1.beta",
            "batch_normalization1.moving_mean",
            "batch_normalization1.moving_variance",
            "dense2.kernel",
            "dense2.bias"
        ]
    );
}

#[test]
fn batch_norm_uses_batch_statistics_in_training_and_moving_ones_in_inference() {
    let mut model = Sequential::builder(1, 0)
        .batch_norm_with(0.9, 0.0)
        .build::<(Batch, One), (Batch, One)>()
        .unwrap();
    // x = [1, 3]: batch mean 2, biased variance 1, so the training output is [-1, 1].
    let x = Tensor::<(Batch, One)>::from_vec(vec![1.0, 3.0], &[2]).unwrap();
    assert_eq!(model.forward_train(&x).to_vec(), vec![-1.0, 1.0]);
    // Moving mean 0.9·0 + 0.1·2 = 0.2, moving variance 0.9·1 + 0.1·1 = 1: inference maps
    // 1.2 to (1.2 − 0.2) / 1 = 1.
    let one = Tensor::<(Batch, One)>::from_vec(vec![1.2], &[1]).unwrap();
    assert!((model.forward(&one).to_vec()[0] - 1.0).abs() < 1e-6);
}

#[test]
fn embedding_looks_up_rows_and_scatters_their_gradients() {
    let mut model = Sequential::builder(2, 3)
        .embedding(4, 3)
        .dense(2, Activation::Linear)
        .build::<(Batch, Ids), (Batch, Out)>()
        .unwrap();
    // Table row r = [r, 10 + r, 20 + r].
    let table: Vec<f32> = (0..4)
        .flat_map(|r| [r as f32, 10.0 + r as f32, 20.0 + r as f32])
        .collect();
    model.params_mut()[0].value.copy_from_slice(&table);
    // Ids 2 and 0, then 3 and 9 (out of the vocabulary: a zero row).
    let ids = Tensor::<(Batch, Ids)>::from_vec(vec![2.0, 0.0, 3.0, 9.0], &[2]).unwrap();
    let seq = Sequential::builder(2, 3)
        .embedding(4, 3)
        .build::<(Batch, Ids), (Batch, Out)>();
    assert!(seq.is_err(), "2 ids × 3 values are 6 features, not 2");
    let emb_only = {
        let mut m = Sequential::builder(2, 3)
            .embedding(4, 3)
            .build::<(Batch, Ids), (Batch, Looked)>()
            .unwrap();
        m.params_mut()[0].value.copy_from_slice(&table);
        m.forward(&ids).to_vec()
    };
    assert_eq!(
        emb_only,
        vec![2., 12., 22., 0., 10., 20., 3., 13., 23., 0., 0., 0.]
    );
    let y = [0.5, -0.5, 1.0, 0.0];
    let names = check_gradients(&mut model, &ids, &y);
    assert_eq!(names, ["embedding1.embeddings", "dense1.kernel", "dense1.bias"]);
    // Row 1 was never looked up: no gradient.
    assert!(model.params_mut()[0].grad[3..6].iter().all(|&g| g == 0.0));
}

tensor_macros::dims! { crate = ::tensor_core; H = 2; W = 3; C = 2; Flat = 12; }

#[test]
fn batch_norm_on_images_normalises_each_channel_over_batch_and_pixels() {
    let mut model = Sequential::builder_image(2, 3, 2, 1)
        .batch_norm_with(0.99, 0.0)
        .flatten()
        .build::<(Batch, H, W, C), (Batch, Flat)>()
        .unwrap();
    let x = Tensor::<(Batch, H, W, C)>::from_fn(&[3], |i| {
        // Channel 1 is channel 0 scaled by 5 and shifted by 7: normalised, they are equal.
        let v = ((i[0] * 6 + i[1] * 3 + i[2]) as f32 * 0.77).sin();
        if i[3] == 0 {
            v
        } else {
            5.0 * v + 7.0
        }
    });
    let y = model.forward_train(&x).to_vec();
    for c in 0..2 {
        let vals: Vec<f32> = y.iter().skip(c).step_by(2).copied().collect();
        let mean = vals.iter().sum::<f32>() / 18.0;
        let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 18.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "channel {c}: {mean} {var}"
        );
    }
    for pair in y.chunks(2) {
        assert!((pair[0] - pair[1]).abs() < 1e-4, "{pair:?}");
    }
    assert_eq!(model.params()[0].shape, &[2], "one gamma per channel");
    let mut model = Sequential::builder_image(2, 3, 2, 4)
        .batch_norm()
        .flatten()
        .dense(2, Activation::Linear)
        .build::<(Batch, H, W, C), (Batch, Out)>()
        .unwrap();
    let t: Vec<f32> = (0..6).map(|i| (i as f32 * 0.3).cos()).collect();
    check_gradients(&mut model, &x, &t);
}
