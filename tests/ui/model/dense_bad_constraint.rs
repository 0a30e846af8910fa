use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Classes = 10; }

model! {
    /// A constraint that does not exist, and a bias option on a layer without bias.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden, kernel_constraint = MinMax(1.0)), Dense(Classes, use_bias = false, bias_constraint = NonNeg)
    }
}

fn main() {}
