use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// An inline dim of size zero.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(H1 = 0), Relu, Dense(Classes)
    }
}

fn main() {}
