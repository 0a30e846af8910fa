use dimflow::prelude::*;

dims! { Batch; Rows = 28; Cols = 28; Pixels = 700; Classes = 10; }

model! {
    /// `Pixels` (700) cannot hold a 28×28 image (784 values).
    pub struct Mlp: [Batch, Rows, Cols] -> [Batch, Classes] {
        Flatten(Pixels), Dense(Classes)
    }
}

fn main() {}
