use dimflow::prelude::*;

dims! { Batch; H = 4; W = 9; C = 1; Classes = 10; }

model! {
    /// A 5×5 window cannot fit a 4-row image without padding.
    pub struct TooLarge: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 8, kernel = 5), Flatten, Dense(Classes)
    }
}

fn main() {}
