use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// The last layer produces `Hidden`, the declared output is `Classes`.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu
    }
}

fn main() {}
