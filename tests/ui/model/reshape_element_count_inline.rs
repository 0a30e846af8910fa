use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Rows = 4; Cols = 4; Classes = 10; }

model! {
    /// `Reshape` to 16 values per sample from 12: the macro multiplies the sizes it knows.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Dense(H = 12), Flatten(F = 16), Dense(Classes)
    }
}

fn main() {}
