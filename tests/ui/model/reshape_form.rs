use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Rows = 28; Cols = 28; Classes = 10; }

model! {
    /// `Reshape` takes the new dims in brackets; `PReLU` takes no arguments.
    pub struct Mlp: [Batch, Pixels] -> [Batch, Classes] {
        Reshape(Rows, Cols), Dense(Classes), PReLU(0.25)
    }
}

fn main() {}
