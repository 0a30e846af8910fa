use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// A dropout rate outside [0, 1).
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dropout(1.5), Dense(Classes)
    }
}

fn main() {}
