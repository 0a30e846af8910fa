use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// The input's features are sized at run time: the kernel cannot be sized.
    pub struct Mlp: [Batch, Seq] -> [Batch, Classes] {
        Dense(Classes)
    }
}

fn main() {}
