use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `Seq` is sized at run time: a dense layer cannot have that many units.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Seq] {
        Dense(Seq)
    }
}

fn main() {}
