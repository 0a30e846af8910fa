use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Hidden = 128; Code = 16; Classes = 10; }

model! {
    /// An encoder making `Code`.
    pub struct Encoder: [Batch, Pixels] -> [Batch, Code] {
        Dense(Hidden), Relu, Dense(Code)
    }
}

model! {
    /// Says the encoder makes `Hidden`: it makes `Code`.
    pub struct Outer: [Batch, Pixels] -> [Batch, Classes] {
        Encoder(Hidden), Dense(Classes)
    }
}

fn main() {}
