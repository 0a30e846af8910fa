//! Smoke test of a sequential `model!`.
use dimflow::prelude::*;
use dimflow::tensor_nn::Model;

dims! { Batch; Pixels = 6; Hidden = 5; Classes = 3; }

model! {
    /// A small sequential classifier.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dropout(0.2), Dense(Classes)
    }
}

#[test]
fn runs() {
    let m = Mlp::new(1);
    let x = Tensor::<(Batch, Pixels)>::from_fn(&[4], |i| (i[0] * 6 + i[1]) as f32 * 0.1);
    let y = m.forward(&x);
    assert_eq!(y.dims(), &[4, 3]);
    let mut m = m;
    let y = m.forward_train(&x);
    let g = y.map(|_| 1.0);
    Model::backward(&mut m, &g);
    assert_eq!(m.params().len(), 4);
}
