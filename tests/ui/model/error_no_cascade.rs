use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// One mistake in the model: code that uses it reports nothing more.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dense(Classes), Sofmax
    }
}

fn main() {
    let model = Mlp::new(0);
    let x = Tensor::<(Batch, Pixels)>::full(0.0, &[32]);
    let _y: Tensor<(Batch, Classes)> = model.forward(&x);
}
