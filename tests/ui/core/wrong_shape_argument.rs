use dimflow::prelude::*;

dims! { Batch; A = 16; B = 16; }

fn takes_b(_x: &Tensor<(Batch, B)>) {}

fn main() {
    let a = Tensor::<(Batch, A)>::zeros(&[8]);
    takes_b(&a);
}
