use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// A batch-norm momentum outside [0, 1].
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), BatchNorm(momentum = 1.5), Relu, Dense(Classes)
    }
}

fn main() {}
