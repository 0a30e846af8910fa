use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// Softmax over a dim the tensor does not have.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Classes), Softmax(Seq)
    }
}

fn main() {}
