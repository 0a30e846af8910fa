use dimflow::prelude::*;

dims! { Batch; H = 27; W = 28; C = 1; Classes = 10; }

model! {
    /// `H` (27, from `dims!`) is odd: a 2×2 pooling with stride 2 drops its last row.
    pub struct Untiled: [Batch, H, W, C] -> [Batch, Classes] {
        MaxPool2D(2, exact = true), Flatten, Dense(Classes)
    }
}

fn main() {}
