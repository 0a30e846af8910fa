use dimflow::prelude::*;

dims! { Batch; H = 28; W = 28; C = 1; Classes = 10; }

model! {
    /// A 3×3 valid convolution over 28×28 makes 26×26, not 27×26.
    pub struct WrongSize: [Batch, H, W, C] -> [Batch, Classes] {
        Conv2D(F = 8, kernel = 3, out = [H1 = 27, W1 = 26]), Flatten, Dense(Classes)
    }
}

fn main() {}
