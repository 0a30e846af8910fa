use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// A regularizer with a negative factor.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden, kernel_regularizer = L2(-0.01)), Dense(Classes)
    }
}

fn main() {}
