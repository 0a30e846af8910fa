use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Code = 16; Classes = 10; }

model! {
    /// An encoder of `Pixels`.
    pub struct Encoder: [Batch, Pixels] -> [Batch, Code] {
        Dense(Hidden), Relu, Dense(Code)
    }
}

model! {
    /// Applies the encoder to `Hidden` features: it reads `Pixels`.
    pub struct Outer: [Batch, Pixels] -> [Batch, Classes] {
        Dense(Hidden), Relu, Encoder(Code), Dense(Classes)
    }
}

fn main() {}
