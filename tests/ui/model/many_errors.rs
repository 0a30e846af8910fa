use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// Three mistakes, reported together.
    pub struct Mlp: [Batch, Batch, Pixels] -> [Batch, Batch, Classes] {
        Dense(Hidden), Relo, Dropout(-0.5), Dense(Classes)
    }
}

fn main() {}
