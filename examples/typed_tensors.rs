//! Typed tensors with named dimensions: run with `cargo run --release --example typed_tensors`.
//!
//! A small linear model's forward pass written with typed tensors. Every shape below is
//! checked while compiling: uncomment the last lines of `main` to see the compiler reject
//! a matmul whose inner dimensions have different names.

use dimflow::prelude::*;

dims! {
    /// Examples in a batch, sized at run time.
    Batch;
    /// Input features.
    Features = 4;
    /// Output classes.
    Classes = 3;
}

fn main() {
    let mut rng = Rng::seed(7);
    let x = Tensor::<(Batch, Features)>::random_normal(&mut rng, 0.0, 1.0, &[5]).expect("batch of 5");
    let w = Tensor::<(Features, Classes)>::random_uniform(&mut rng, -0.5, 0.5, &[]).expect("static shape");
    let b = Tensor::<(Classes,)>::from_vec(vec![0.1, 0.0, -0.1], &[]).expect("three biases");

    // (Batch, Features) x (Features, Classes) -> (Batch, Classes); the bias broadcasts by name.
    let logits: Tensor<(Batch, Classes)> = &x.matmul(&w) + &b;
    let probs = logits.softmax::<Classes, _>();
    let predicted = probs.argmax::<Classes, _>();

    println!("inputs {x:?}\n");
    println!("probabilities {probs:?}\n");
    println!("predicted classes {predicted:?}");
    println!("rows sum to {:?}", probs.sum::<Classes, _>().to_vec());

    // Run-time sizes are checked when tensors meet, with the dim named in the error:
    let other = Tensor::<(Batch, Classes)>::zeros(&[7]);
    match logits.try_add(&other) {
        Ok(_) => unreachable!("5 and 7 examples cannot be added"),
        Err(e) => println!("run-time check: {e}"),
    }

    // A compile-time check: `Classes` is not `Features`, so this does not compile:
    // let wrong = probs.matmul(&w);
    //   error[E0277]: dimension `Classes` does not match dimension `Features`
}
