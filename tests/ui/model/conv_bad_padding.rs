use dimflow::prelude::*;

dims! { Batch; H = 8; W = 8; C = 1; Classes = 10; }

model! {
    /// Explicit padding is `((top, bottom), (left, right))`, not one pair.
    pub struct BadPadding: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 4, kernel = 3, padding = (1, 2)), Flatten, Dense(Classes)
    }
}

fn main() {}
