use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// A correct model, called with a tensor of another shape.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dense(Classes)
    }
}

fn main() {
    let model = Mlp::new(0);
    let x = Tensor::<(Batch, Hidden)>::full(0.0, &[32]);
    let _y = model.forward(&x);
}
