use dimflow::prelude::*;

dims! { Batch; Seq; Pixels = 784; Hidden = 128; Classes = 10; Crossed = 32; Numeric = 13; One = 1; }

model! {
    /// `Dens` is a typo of `Dense`.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dens(Hidden), Relu, Dense(Classes)
    }
}

fn main() {}
