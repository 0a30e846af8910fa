//! What the `model!` gradient tests share: the finite-difference check of every parameter.
// Each test crate uses only some of these.
#![allow(dead_code)]

use dimflow::tensor_nn::fused::Param;
use test_support::uniform as noise;

/// Checks every parameter gradient of `model` against central differences of
/// `Σ w ⊙ forward_train(model)`. `run` does one training forward and returns the flattened
/// outputs; `back` runs `backward` with the given output gradients (flattened, same order);
/// `params` lists the parameters. Returns the largest error relative to
/// `1 + max(|fd|, |backward|)` (each must be at most 1e-6).
pub fn check<M: Clone>(
    model: &M,
    run: impl Fn(&mut M) -> Vec<f64>,
    back: impl Fn(&mut M, &[f64]),
    params: impl Fn(&mut M) -> Vec<&mut Param<f64>>,
) -> f64 {
    check_with_penalty(model, run, back, params, |_| 0.0)
}

/// As [`check`], with `penalty(model)` (read after the training forward pass) added to the loss.
pub fn check_with_penalty<M: Clone>(
    model: &M,
    run: impl Fn(&mut M) -> Vec<f64>,
    back: impl Fn(&mut M, &[f64]),
    params: impl Fn(&mut M) -> Vec<&mut Param<f64>>,
    penalty: impl Fn(&M) -> f64,
) -> f64 {
    // Move away from the zero-bias initial point, where a row of zeros after ReLU/dropout puts a
    // later kink (ReLU, leaky ReLU at exactly 0) under the finite difference.
    let mut model = model.clone();
    for (i, p) in params(&mut model).into_iter().enumerate() {
        if p.name.ends_with(".bias") || p.name.ends_with(".alpha") {
            p.value = noise(1000 + i as u64, p.value.len())
                .iter()
                .map(|v| 0.5 * v)
                .collect();
        }
    }
    let model = &model;
    let mut m = model.clone();
    // Gradients left by an earlier step must be cleared or overwritten by `backward`, never
    // added to.
    for p in params(&mut m) {
        p.grad.iter_mut().for_each(|g| *g = 7.0);
    }
    let y = run(&mut m);
    let w = noise(99, y.len());
    back(&mut m, &w);
    let analytic: Vec<(String, Vec<f64>)> = params(&mut m)
        .into_iter()
        .map(|p| (p.name.clone(), p.grad.clone()))
        .collect();
    let loss = |m: &M| -> f64 {
        let mut c = m.clone();
        let y: f64 = run(&mut c).iter().zip(&w).map(|(y, w)| y * w).sum();
        y + penalty(&c)
    };
    let h = 1e-6;
    let mut checked = 0;
    let mut worst = 0.0f64;
    for (pi, (name, grad)) in analytic.iter().enumerate() {
        for (j, &g) in grad.iter().enumerate() {
            let mut plus = model.clone();
            params(&mut plus)[pi].value[j] += h;
            let mut minus = model.clone();
            params(&mut minus)[pi].value[j] -= h;
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
            let scale = 1.0 + fd.abs().max(g.abs());
            let tol = 1e-6 * scale;
            worst = worst.max((fd - g).abs() / scale);
            assert!(
                (fd - g).abs() <= tol,
                "{name}[{j}]: backward {g} vs finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
    worst
}
