use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 1; Classes = 10; }

model! {
    /// 28×28 → conv 3×3 → 26×26×8 = 5408 values, not the 5000 `Features` declares.
    pub struct WrongFlatten: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 8, kernel = 3), Flatten(Features = 5000), Dense(Classes)
    }
}

fn main() {}
