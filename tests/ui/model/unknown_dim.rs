use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `Pixls` is a typo: rustc names the unknown type on the user's token.
    pub struct Mlp: [Batch, Pixls] -> [Batch, Classes] {
        Dense(Hidden), Relu, Dense(Classes)
    }
}

fn main() {}
