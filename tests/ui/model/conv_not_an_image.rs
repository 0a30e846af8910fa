use dimflow::prelude::*;

dims! { Batch; Pixels = 784; Classes = 10; }

model! {
    /// A convolution reads `[Batch, H, W, C]` images, not flat vectors.
    pub struct Flat: [Batch, Pixels] -> [Batch, Classes] {
        Conv2D(F = 8, kernel = 3), Flatten, Dense(Classes)
    }
}

fn main() {}
