use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// Units as a bare number instead of a named dim.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(128), Relu, Dense(Classes)
    }
}

fn main() {}
