use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// The same dim twice in one shape.
    pub struct Mlp: [Batch, Pixels, Pixels] -> [Batch, Pixels, Classes] {
        Dense(Classes)
    }
}

fn main() {}
