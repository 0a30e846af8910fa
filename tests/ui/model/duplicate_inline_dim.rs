use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `H1` declared inline twice.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(H1 = 64), Relu, Dense(H1 = 32), Relu, Dense(Classes)
    }
}

fn main() {}
