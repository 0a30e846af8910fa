//! `FitConfig::class_weight`: Keras' per-class sample weights in `fit`.

use tensor_core::prelude::*;
use tensor_nn::activations::Activation;
use tensor_nn::optim::Optimizer;
use tensor_nn::train::{FitConfig, Trainer};

mod common;
use common::{blobs as blobs_at, classifier, weight_bits as bits, Batch, Feat, Net};

/// The blobs of these tests: overlapping (spread 0.9).
fn blobs(n: usize) -> (Tensor<(Batch, Feat)>, Tensor<(Batch,)>) {
    blobs_at(n, 0.9, 0.0)
}

/// 2 → 8 tanh → 3, plain SGD at `lr`, seed 9.
fn net(lr: f32) -> Trainer<Net> {
    classifier(9, 8, Activation::Tanh, Optimizer::sgd(lr))
}

fn cfg(epochs: usize, batch_size: usize, class_weight: Option<Vec<f32>>) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        verbose: 0,
        seed: 4,
        class_weight,
        ..FitConfig::default()
    }
}

#[test]
fn a_uniform_class_weight_of_two_is_sgd_with_twice_the_learning_rate() {
    // Loss (sum over batch size) = Σ w·ce / n: w = 2 doubles every gradient exactly (a power of
    // two), and 0.05 · 2g = 0.1 · g exactly in f32, so the weights agree bit for bit.
    let (x, y) = blobs(48);
    let mut a = net(0.05);
    let ha = a
        .fit(&x, &y, &cfg(4, 16, Some(vec![2.0; 3])), None, &mut [])
        .unwrap();
    let mut b = net(0.1);
    let hb = b.fit(&x, &y, &cfg(4, 16, None), None, &mut []).unwrap();
    assert_eq!(bits(&a), bits(&b));
    for (la, lb) in ha.history["loss"].iter().zip(&hb.history["loss"]) {
        assert_eq!(*la, 2.0 * lb);
    }
    // Weighted accuracy with equal weights is the plain accuracy.
    for (aa, ab) in ha.history["sparse_categorical_accuracy"]
        .iter()
        .zip(&hb.history["sparse_categorical_accuracy"])
    {
        assert!((aa - ab).abs() < 1e-6, "{aa} vs {ab}");
    }
}

#[test]
fn class_weight_weighs_the_first_step_loss_per_class() {
    // One step over all 30 samples: the logged loss is the initial model's
    // Σ_i w[y_i] · (logsumexp(z_i) − z_i[y_i]) / 30, computed here by hand from its logits.
    let (x, y) = blobs(30);
    let w = [1.0f32, 0.0, 0.5];
    let mut t = net(0.1);
    let logits = t.predict(&x, 30).unwrap().to_vec();
    let labels = y.to_vec();
    let mut expected = 0.0f64;
    for (i, &label) in labels.iter().enumerate() {
        let z: Vec<f64> = logits[3 * i..3 * i + 3].iter().map(|&v| f64::from(v)).collect();
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        expected += f64::from(w[label as usize]) * (lse - z[label as usize]);
    }
    expected /= 30.0;
    let h = t
        .fit(&x, &y, &cfg(1, 30, Some(w.to_vec())), None, &mut [])
        .unwrap();
    let got = f64::from(h.history["loss"][0]);
    assert!(
        (got - expected).abs() <= 1e-5 * expected.abs(),
        "{got} vs {expected}"
    );
}

#[test]
fn a_class_outside_class_weight_is_an_error() {
    let (x, y) = blobs(9);
    let mut t = net(0.1);
    let err = t
        .fit(&x, &y, &cfg(1, 9, Some(vec![1.0, 1.0])), None, &mut [])
        .unwrap_err();
    assert!(err.to_string().contains("class 2"), "{err}");
}

#[test]
fn sample_weights_follow_their_samples_through_the_shuffle() {
    // Per-sample weights equal to w[class] are the class weights: same shuffled batches, same
    // weights per sample, so bit-identical parameters and histories.
    let (x, y) = blobs(48);
    let w = [0.5f32, 2.0, 1.0];
    let per_sample: Vec<f32> = y.to_vec().iter().map(|&c| w[c as usize]).collect();
    let mut a = net(0.1);
    let ha = a
        .fit_weighted(&x, &y, &per_sample, &cfg(3, 16, None), None, &mut [])
        .unwrap();
    let mut b = net(0.1);
    let hb = b
        .fit(&x, &y, &cfg(3, 16, Some(w.to_vec())), None, &mut [])
        .unwrap();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(ha, hb);
    // Both at once multiply: sample weights w[class] with class weights w[class] are the class
    // weights w[class]² (exact here: 0.25, 4, 1).
    let mut c = net(0.1);
    c.fit_weighted(&x, &y, &per_sample, &cfg(3, 16, Some(w.to_vec())), None, &mut [])
        .unwrap();
    let mut d = net(0.1);
    d.fit(&x, &y, &cfg(3, 16, Some(vec![0.25, 4.0, 1.0])), None, &mut [])
        .unwrap();
    assert_eq!(bits(&c), bits(&d));
    // One weight per sample or an error.
    assert!(t_err(&x, &y));
}

fn t_err(x: &Tensor<(Batch, Feat)>, y: &Tensor<(Batch,)>) -> bool {
    let mut t = net(0.1);
    t.fit_weighted(x, y, &[1.0; 5], &cfg(1, 16, None), None, &mut [])
        .is_err()
}
