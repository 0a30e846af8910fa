//! Run: `cargo run --release --example curve_fit`
//!
//! Fits the parameters of `y = a exp(-b x) + c` to 200 noisy samples (seeded, so the run is
//! reproducible) with a gradient tape and plain gradient descent on the mean squared error,
//! printing the loss as it falls and the recovered parameters.
use dimflow::prelude::*;

dimflow::dims! {
    /// The samples.
    Sample;
}

type Samples = Tensor<(Sample,), f64>;

/// The model `a exp(-b x) + c`, with rank-0 parameters broadcast over the samples.
fn model(x: &Samples, a: &Tensor<(), f64>, b: &Tensor<(), f64>, c: &Tensor<(), f64>) -> Samples {
    x.mul(&b.neg()).exp().mul(a).add(c)
}

fn main() {
    let (true_a, true_b, true_c) = (2.5, 1.3, 0.5);
    let n = 200;
    let mut rng = Rng::seed(7);
    let x = Samples::linspace(0.0, 4.0, &[n]).expect("n > 0");
    let noise = Samples::random_normal(&mut rng, 0.0, 0.02, &[n]).expect("n > 0");
    let scalar = |v: f64| Tensor::<(), f64>::scalar(v);
    let y = model(&x, &scalar(true_a), &scalar(true_b), &scalar(true_c)) + &noise;

    let mut a = Variable::new("a", scalar(1.0));
    let mut b = Variable::new("b", scalar(0.5));
    let mut c = Variable::new("c", scalar(0.0));
    let lr = 0.5;
    let mut last = f64::INFINITY;
    for step in 0..=300 {
        let tape = GradientTape::new();
        let loss = (model(&x, &a.read(), &b.read(), &c.read()) - &y)
            .square()
            .mean_to_scalar();
        let grads = tape.gradient(&loss).expect("the loss is a recorded scalar");
        for v in [&mut a, &mut b, &mut c] {
            let g = grads.wrt(&*v).expect("every parameter was read on the tape");
            v.assign_sub(&g.mul_scalar(lr)).expect("same shape");
        }
        last = loss.item();
        if step % 20 == 0 {
            println!("step {step:>5}: loss {last:.6}");
        }
    }
    let (fa, fb, fc) = (a.value().item(), b.value().item(), c.value().item());
    println!(
        "recovered a = {fa:.4} (true {true_a}), b = {fb:.4} (true {true_b}), c = {fc:.4} (true {true_c})"
    );
    println!("final loss {last:.6} (noise variance {:.6})", 0.02f64 * 0.02);
    assert!((fa - true_a).abs() < 0.05 && (fb - true_b).abs() < 0.05 && (fc - true_c).abs() < 0.05);
}
